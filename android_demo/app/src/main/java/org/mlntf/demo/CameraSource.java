package org.mlntf.demo;

import android.content.Context;
import android.graphics.ImageFormat;
import android.graphics.SurfaceTexture;
import android.hardware.camera2.CameraAccessException;
import android.hardware.camera2.CameraCaptureSession;
import android.hardware.camera2.CameraCharacteristics;
import android.hardware.camera2.CameraDevice;
import android.hardware.camera2.CameraManager;
import android.hardware.camera2.CaptureRequest;
import android.hardware.camera2.params.StreamConfigurationMap;
import android.media.Image;
import android.media.ImageReader;
import android.os.Handler;
import android.util.Size;
import android.view.Surface;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.mlntf.decoder.RgbImage;
import org.mlntf.decoder.StatusText;
import org.mlntf.decoder.Yuv420;

/**
 * The framework's Camera2 (no CameraX): the back camera (else the front one) streams a
 * TextureView preview and YUV_420_888 frames to an ImageReader; each frame is converted to
 * RGB ({@link Yuv420}), turned upright (sensor orientation; front cameras mirrored, as their
 * preview is) and handed to the listener on the camera thread.
 */
final class CameraSource {
    /** Frame and error callbacks, on the camera thread. */
    interface Listener {
        void onFrame(RgbImage upright, double timeMs);

        void onError(String message);
    }

    static final Size TARGET = new Size(640, 480); // 4:3, the model inputs' aspect

    private final CameraManager manager;
    private final Handler handler;
    private final Listener listener;
    private CameraDevice device;
    private CameraCaptureSession session;
    private ImageReader reader;
    private Surface previewSurface;
    private int rotation;
    private boolean mirror;
    private Size size;
    private byte[] y = new byte[0];
    private byte[] u = new byte[0];
    private byte[] v = new byte[0];

    CameraSource(Context context, Handler handler, Listener listener) {
        this.manager = (CameraManager) context.getSystemService(Context.CAMERA_SERVICE);
        this.handler = handler;
        this.listener = listener;
    }

    /** The upright frame's size (width x height) once started; null before. */
    Size uprightSize() {
        if (size == null) {
            return null;
        }
        return rotation % 180 == 0 ? size : new Size(size.getHeight(), size.getWidth());
    }

    /** Opens the camera and streams into {@code preview}; errors reach the listener. Needs the permission. */
    void start(SurfaceTexture preview) {
        try {
            String id = pickCamera();
            if (id == null) {
                listener.onError(StatusText.noCamera());
                return;
            }
            CameraCharacteristics c = manager.getCameraCharacteristics(id);
            Integer orientation = c.get(CameraCharacteristics.SENSOR_ORIENTATION);
            Integer facing = c.get(CameraCharacteristics.LENS_FACING);
            rotation = orientation == null ? 0 : orientation; // the activity is portrait-only: display rotation 0
            mirror = facing != null && facing == CameraCharacteristics.LENS_FACING_FRONT;
            StreamConfigurationMap map = c.get(CameraCharacteristics.SCALER_STREAM_CONFIGURATION_MAP);
            size = closest(map.getOutputSizes(ImageFormat.YUV_420_888), TARGET);
            preview.setDefaultBufferSize(size.getWidth(), size.getHeight());
            previewSurface = new Surface(preview);
            reader = ImageReader.newInstance(size.getWidth(), size.getHeight(), ImageFormat.YUV_420_888, 2);
            reader.setOnImageAvailableListener(new ImageReader.OnImageAvailableListener() {
                @Override
                public void onImageAvailable(ImageReader r) {
                    deliver(r);
                }
            }, handler);
            manager.openCamera(id, new CameraDevice.StateCallback() {
                @Override
                public void onOpened(CameraDevice camera) {
                    device = camera;
                    startSession();
                }

                @Override
                public void onDisconnected(CameraDevice camera) {
                    camera.close();
                    device = null;
                }

                @Override
                public void onError(CameraDevice camera, int error) {
                    camera.close();
                    device = null;
                    listener.onError(StatusText.cameraFailed("camera error " + error));
                }
            }, handler);
        } catch (CameraAccessException | SecurityException | IllegalArgumentException e) {
            listener.onError(StatusText.cameraFailed(e.getMessage()));
        }
    }

    private String pickCamera() throws CameraAccessException {
        String front = null;
        for (String id : manager.getCameraIdList()) {
            Integer facing = manager.getCameraCharacteristics(id).get(CameraCharacteristics.LENS_FACING);
            if (facing != null && facing == CameraCharacteristics.LENS_FACING_BACK) {
                return id;
            }
            if (front == null) {
                front = id;
            }
        }
        return front;
    }

    /** The 4:3 size nearest {@code target} in pixels, else the nearest of any aspect. */
    static Size closest(Size[] sizes, Size target) {
        Size best = null;
        long bestCost = Long.MAX_VALUE;
        for (Size s : sizes) {
            boolean fourThirds = s.getWidth() * 3 == s.getHeight() * 4;
            long cost = Math.abs((long) s.getWidth() * s.getHeight() - (long) target.getWidth() * target.getHeight())
                    + (fourThirds ? 0 : 1L << 40);
            if (cost < bestCost) {
                best = s;
                bestCost = cost;
            }
        }
        if (best == null) {
            throw new IllegalArgumentException("the camera offers no YUV_420_888 sizes");
        }
        return best;
    }

    @SuppressWarnings("deprecation") // createCaptureSession(List, ...) is the API 24 form (minSdk)
    private void startSession() {
        try {
            final CaptureRequest.Builder request = device.createCaptureRequest(CameraDevice.TEMPLATE_PREVIEW);
            request.addTarget(previewSurface);
            request.addTarget(reader.getSurface());
            device.createCaptureSession(Arrays.asList(previewSurface, reader.getSurface()),
                    new CameraCaptureSession.StateCallback() {
                        @Override
                        public void onConfigured(CameraCaptureSession s) {
                            if (device == null) {
                                return;
                            }
                            session = s;
                            try {
                                s.setRepeatingRequest(request.build(), null, handler);
                            } catch (CameraAccessException | IllegalStateException e) {
                                listener.onError(StatusText.cameraFailed(e.getMessage()));
                            }
                        }

                        @Override
                        public void onConfigureFailed(CameraCaptureSession s) {
                            listener.onError(StatusText.cameraFailed("the capture session could not be configured"));
                        }
                    }, handler);
        } catch (CameraAccessException | IllegalStateException e) {
            listener.onError(StatusText.cameraFailed(e.getMessage()));
        }
    }

    private void deliver(ImageReader r) {
        Image image = r.acquireLatestImage();
        if (image == null) {
            return;
        }
        try {
            Image.Plane[] planes = image.getPlanes();
            y = copy(planes[0].getBuffer(), y);
            u = copy(planes[1].getBuffer(), u);
            v = copy(planes[2].getBuffer(), v);
            RgbImage rgb = Yuv420.toRgb(
                    new Yuv420.Plane(y, 0, planes[0].getRowStride(), planes[0].getPixelStride()),
                    new Yuv420.Plane(u, 0, planes[1].getRowStride(), planes[1].getPixelStride()),
                    new Yuv420.Plane(v, 0, planes[2].getRowStride(), planes[2].getPixelStride()),
                    image.getHeight(), image.getWidth());
            // the capture time (ns) is the tracker's clock: IDs and smoothing follow real time steps
            listener.onFrame(rgb.upright(rotation, mirror), image.getTimestamp() / 1e6);
        } finally {
            image.close();
        }
    }

    private static byte[] copy(ByteBuffer buffer, byte[] reuse) {
        buffer.rewind();
        byte[] out = reuse.length == buffer.remaining() ? reuse : new byte[buffer.remaining()];
        buffer.get(out);
        return out;
    }

    /** Closes the session, the camera and the reader; safe to call twice. */
    void stop() {
        if (session != null) {
            session.close();
            session = null;
        }
        if (device != null) {
            device.close();
            device = null;
        }
        if (reader != null) {
            reader.close();
            reader = null;
        }
        if (previewSurface != null) {
            previewSurface.release();
            previewSurface = null;
        }
    }
}

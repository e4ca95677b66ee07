package org.mlntf.demo;

import android.Manifest;
import android.app.Activity;
import android.content.pm.PackageManager;
import android.graphics.Matrix;
import android.graphics.SurfaceTexture;
import android.os.Bundle;
import android.os.Handler;
import android.os.HandlerThread;
import android.os.SystemClock;
import android.util.Log;
import android.util.Size;
import android.view.TextureView;
import android.widget.TextView;
import java.io.FileNotFoundException;
import java.io.IOException;
import org.mlntf.decoder.FramePipeline;
import org.mlntf.decoder.Overlay;
import org.mlntf.decoder.PoseModel;
import org.mlntf.decoder.RgbImage;
import org.mlntf.decoder.StatusText;

/**
 * Camera2 preview -> TFLite model -> plain-Java decoder and tracker -> skeleton overlay, with
 * the backend (GPU delegate or XNNPACK CPU), FPS and per-stage latency on screen. A plain
 * framework Activity (no androidx); all pose logic is org.mlntf.decoder ({@link FramePipeline}),
 * tested on the JVM against the Python reference.
 */
public class MainActivity extends Activity implements CameraSource.Listener {
    static final String MODEL_ASSET = "mln.tflite";
    private static final String TAG = "MlnDemo";
    private static final int PERMISSION_REQUEST = 1;

    private TextureView preview;
    private OverlayView overlay;
    private TextView stats;
    private HandlerThread thread;
    Handler handler; // (tests wait on it) model loading, camera callbacks and frames: one background thread
    private CameraSource camera;
    private FramePipeline pipeline; // used on the background thread only
    private volatile boolean permitted; // read on the background thread
    private volatile String modelStatus; // what loading the model gave; null while it loads
    private double fps;
    private double preMs;
    private double modelMs;
    private double decodeMs;
    private long lastFrame;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_main);
        preview = (TextureView) findViewById(R.id.preview);
        overlay = (OverlayView) findViewById(R.id.overlay);
        stats = (TextView) findViewById(R.id.stats);
        thread = new HandlerThread("mln-camera");
        thread.start();
        handler = new Handler(thread.getLooper());
        camera = new CameraSource(this, handler, this);
        permitted = checkSelfPermission(Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED;
        handler.post(new Runnable() {
            @Override
            public void run() {
                loadModel();
            }
        });
        preview.setSurfaceTextureListener(new TextureView.SurfaceTextureListener() {
            @Override
            public void onSurfaceTextureAvailable(SurfaceTexture texture, int width, int height) {
                startCamera();
            }

            @Override
            public void onSurfaceTextureSizeChanged(SurfaceTexture texture, int width, int height) {
                fitPreview();
            }

            @Override
            public boolean onSurfaceTextureDestroyed(SurfaceTexture texture) {
                return true;
            }

            @Override
            public void onSurfaceTextureUpdated(SurfaceTexture texture) {
            }
        });
        if (!permitted) {
            requestPermissions(new String[] {Manifest.permission.CAMERA}, PERMISSION_REQUEST);
        }
    }

    @Override
    public void onRequestPermissionsResult(int requestCode, String[] permissions, int[] results) {
        super.onRequestPermissionsResult(requestCode, permissions, results);
        if (requestCode != PERMISSION_REQUEST) {
            return;
        }
        permitted = results.length > 0 && results[0] == PackageManager.PERMISSION_GRANTED;
        if (permitted) {
            startCamera();
        } else {
            stats.setText(status());
        }
    }

    @Override
    protected void onResume() {
        super.onResume();
        startCamera();
    }

    @Override
    protected void onPause() {
        handler.post(new Runnable() {
            @Override
            public void run() {
                camera.stop();
            }
        });
        super.onPause();
    }

    /** Starts the camera once the permission is granted and the preview surface exists. */
    private void startCamera() {
        final SurfaceTexture texture = preview.getSurfaceTexture();
        if (!permitted || texture == null) {
            return;
        }
        handler.post(new Runnable() {
            @Override
            public void run() {
                camera.stop();
                camera.start(texture);
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        fitPreview();
                    }
                });
            }
        });
    }

    /** The preview fills the view, centred, without stretching: the overlay maps keypoints the same way. */
    private void fitPreview() {
        Size frame = camera.uprightSize();
        int vw = preview.getWidth(), vh = preview.getHeight();
        if (frame == null || vw == 0 || vh == 0) {
            return;
        }
        Overlay.FillCenter fill = new Overlay.FillCenter(frame.getWidth(), frame.getHeight(), vw, vh);
        Matrix m = new Matrix(); // the TextureView stretches the upright buffer to the view; undo, then fill
        m.setScale(frame.getWidth() * fill.scale / vw, frame.getHeight() * fill.scale / vh, vw / 2f, vh / 2f);
        preview.setTransform(m);
    }

    /** The network the frames go through: the APK's asset on TFLite (tests replay Python's maps instead). */
    protected PoseModel openModel() throws IOException {
        return new LiteRtModel(this, MODEL_ASSET);
    }

    private void loadModel() {
        String text;
        try {
            PoseModel model = openModel();
            pipeline = new FramePipeline(model);
            text = MODEL_ASSET + " " + model.inputHeight() + "x" + model.inputWidth() + "\n" + model.backend()
                    + "\nwaiting for frames…";
        } catch (FileNotFoundException e) {
            text = StatusText.modelMissing(MODEL_ASSET);
        } catch (Exception | LinkageError e) { // LinkageError: no TFLite native library for this CPU
            Log.e(TAG, "model load failed", e);
            text = StatusText.modelUnusable(MODEL_ASSET, String.valueOf(e.getMessage()));
        }
        modelStatus = text;
        show(status());
    }

    @Override
    public void onFrame(RgbImage upright, double timeMs) {
        if (pipeline == null) {
            return; // the label says why (no model, or an unusable one)
        }
        try {
            FramePipeline.Result r = pipeline.process(upright, timeMs);
            overlay.show(Overlay.of(r.poses, r.ids, r.frameWidth, r.frameHeight, overlay.getWidth(),
                    overlay.getHeight()));
            long now = SystemClock.elapsedRealtime();
            if (lastFrame > 0) {
                double instant = 1000.0 / Math.max(1, now - lastFrame);
                fps = fps == 0 ? instant : 0.9 * fps + 0.1 * instant; // smoothed over ~10 frames
            }
            lastFrame = now;
            preMs = smooth(preMs, r.preprocessMs);
            modelMs = smooth(modelMs, r.modelMs);
            decodeMs = smooth(decodeMs, r.decodeMs);
            show(StatusText.running(MODEL_ASSET, pipeline.model(), fps, r.poses.size(), modelMs, decodeMs, preMs));
        } catch (RuntimeException e) {
            Log.e(TAG, "frame failed", e);
            show("Frame failed: " + e.getMessage());
        }
    }

    @Override
    public void onError(String message) {
        Log.e(TAG, message);
        show(message);
    }

    /** The label before frames arrive: the model's state, and a denied permission (either may come first). */
    private String status() {
        String model = modelStatus != null ? modelStatus : getString(R.string.loading);
        return permitted ? model : model + "\n" + StatusText.permissionDenied();
    }

    private void show(final String text) {
        runOnUiThread(new Runnable() {
            @Override
            public void run() {
                stats.setText(text);
            }
        });
    }

    private static double smooth(double average, double value) {
        return average == 0 ? value : 0.9 * average + 0.1 * value;
    }

    @Override
    protected void onDestroy() {
        handler.post(new Runnable() {
            @Override
            public void run() {
                camera.stop();
                if (pipeline != null) {
                    pipeline.model().close();
                    pipeline = null;
                }
            }
        });
        thread.quitSafely();
        super.onDestroy();
    }
}

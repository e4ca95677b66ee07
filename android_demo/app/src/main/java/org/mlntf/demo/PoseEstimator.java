package org.mlntf.demo;

import android.content.Context;
import android.content.res.AssetFileDescriptor;
import android.os.SystemClock;
import java.io.Closeable;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.mlntf.decoder.Poses;
import org.mlntf.decoder.Postprocess;
import org.mlntf.decoder.PostprocessConfig;
import org.mlntf.decoder.Preprocess;
import org.mlntf.decoder.RgbImage;
import org.mlntf.decoder.Skeleton;
import org.mlntf.decoder.Tracker;
import org.mlntf.decoder.Transform;
import org.tensorflow.lite.DataType;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.Tensor;
import org.tensorflow.lite.gpu.CompatibilityList;
import org.tensorflow.lite.gpu.GpuDelegate;

/**
 * The only Android-specific inference code: the LiteRT interpreter (GPU delegate when the
 * device supports it and the model runs on it, else XNNPACK on the CPU) between the plain-Java
 * {@link Preprocess} and {@link Postprocess} of org.mlntf.decoder.
 *
 * <p>Model contract (mln_tf/export/tflite.py): signature {@code serving_default}, one input
 * (1, H, W, 3) already normalised (pixel / 256 - 0.5; float32, or int8/uint8 with
 * quantisation parameters), outputs {@code heatmaps} (1, H/8, W/8, 19) and {@code pafs}
 * (1, H/8, W/8, 38). H and W are read from the model.
 */
final class PoseEstimator implements Closeable {
    static final int CPU_THREADS = 4;
    private static final String SIGNATURE = "serving_default";

    /** One frame's people (in frame pixels, smoothed), their track IDs, and where the time went. */
    static final class Result {
        final Poses poses;
        final int[] ids;
        final int frameWidth;
        final int frameHeight;
        final double preprocessMs;
        final double modelMs;
        final double decodeMs;

        Result(Poses poses, int[] ids, int frameWidth, int frameHeight, double preprocessMs, double modelMs,
               double decodeMs) {
            this.poses = poses;
            this.ids = ids;
            this.frameWidth = frameWidth;
            this.frameHeight = frameHeight;
            this.preprocessMs = preprocessMs;
            this.modelMs = modelMs;
            this.decodeMs = decodeMs;
        }
    }

    /** People keep their IDs across camera frames, keypoints smoothed (as mln_tf.tracking). */
    private final Tracker tracker = new Tracker();
    private final Interpreter interpreter;
    private final GpuDelegate gpu;
    /** What runs the model, for the on-screen label. */
    final String backend;
    final int inputHeight;
    final int inputWidth;
    private final int mapHeight;
    private final int mapWidth;
    private final String signature;
    private final String inputName;
    private final String heatmapsName;
    private final String pafsName;
    private final Tensor input;
    private final Tensor heatmapsTensor;
    private final Tensor pafsTensor;
    private final ByteBuffer inputBuffer;
    private final ByteBuffer heatmapsBuffer;
    private final ByteBuffer pafsBuffer;
    private final float[] inputFloats;
    private final float[] heatmaps;
    private final float[] pafs;

    PoseEstimator(Context context, String assetName) throws IOException {
        MappedByteBuffer model = mapAsset(context, assetName);
        GpuDelegate delegate = null;
        Interpreter interp = null;
        String label;
        CompatibilityList compat = new CompatibilityList();
        try {
            if (compat.isDelegateSupportedOnThisDevice()) {
                delegate = new GpuDelegate(compat.getBestOptionsForThisDevice());
                try {
                    interp = new Interpreter(model, new Interpreter.Options().addDelegate(delegate));
                    label = "GPU delegate";
                } catch (RuntimeException e) { // an op the GPU delegate cannot run
                    delegate.close();
                    delegate = null;
                    label = "CPU XNNPACK x" + CPU_THREADS + " (GPU delegate failed: " + e.getMessage() + ")";
                }
            } else {
                label = "CPU XNNPACK x" + CPU_THREADS + " (GPU delegate not supported on this device)";
            }
        } finally {
            compat.close();
        }
        if (interp == null) {
            interp = new Interpreter(model,
                    new Interpreter.Options().setUseXNNPACK(true).setNumThreads(CPU_THREADS));
        }
        interpreter = interp;
        gpu = delegate;
        backend = label;

        String[] keys = interpreter.getSignatureKeys();
        signature = Arrays.asList(keys).contains(SIGNATURE) ? SIGNATURE : (keys.length > 0 ? keys[0] : null);
        if (signature != null) {
            String[] inputs = interpreter.getSignatureInputs(signature);
            if (inputs.length != 1) {
                throw new IOException("model signature " + signature + " must have one image input, has "
                        + inputs.length);
            }
            inputName = inputs[0];
            heatmapsName = "heatmaps";
            pafsName = "pafs";
            input = interpreter.getInputTensorFromSignature(inputName, signature);
            heatmapsTensor = interpreter.getOutputTensorFromSignature(heatmapsName, signature);
            pafsTensor = interpreter.getOutputTensorFromSignature(pafsName, signature);
        } else { // no signature: find the outputs by their channel count
            inputName = heatmapsName = pafsName = null;
            input = interpreter.getInputTensor(0);
            Tensor h = null, p = null;
            for (int i = 0; i < interpreter.getOutputTensorCount(); i++) {
                Tensor t = interpreter.getOutputTensor(i);
                int channels = t.shape()[t.shape().length - 1];
                if (channels == Skeleton.NUM_HEATMAPS) {
                    h = t;
                } else if (channels == Skeleton.NUM_PAFS) {
                    p = t;
                }
            }
            if (h == null || p == null) {
                throw new IOException("model has no 19-channel heatmaps and 38-channel pafs outputs");
            }
            heatmapsTensor = h;
            pafsTensor = p;
        }
        int[] in = input.shape();
        if (in.length != 4 || in[0] != 1 || in[3] != 3 || in[1] <= 0 || in[2] <= 0) {
            throw new IOException("model input must be (1, H, W, 3) with a fixed size, got " + Arrays.toString(in)
                    + ": export with a fixed input size");
        }
        inputHeight = in[1];
        inputWidth = in[2];
        int[] hm = heatmapsTensor.shape();
        int[] pf = pafsTensor.shape();
        int stride = PostprocessConfig.DEFAULT.stride;
        if (hm.length != 4 || hm[1] != inputHeight / stride || hm[2] != inputWidth / stride
                || hm[3] != Skeleton.NUM_HEATMAPS || pf.length != 4 || pf[1] != hm[1] || pf[2] != hm[2]
                || pf[3] != Skeleton.NUM_PAFS) {
            throw new IOException("model outputs must be heatmaps (1, H/8, W/8, 19) and pafs (1, H/8, W/8, 38), got "
                    + Arrays.toString(hm) + " and " + Arrays.toString(pf));
        }
        mapHeight = hm[1];
        mapWidth = hm[2];
        inputFloats = new float[inputHeight * inputWidth * 3];
        heatmaps = new float[mapHeight * mapWidth * Skeleton.NUM_HEATMAPS];
        pafs = new float[mapHeight * mapWidth * Skeleton.NUM_PAFS];
        inputBuffer = ByteBuffer.allocateDirect(input.numBytes()).order(ByteOrder.nativeOrder());
        heatmapsBuffer = ByteBuffer.allocateDirect(heatmapsTensor.numBytes()).order(ByteOrder.nativeOrder());
        pafsBuffer = ByteBuffer.allocateDirect(pafsTensor.numBytes()).order(ByteOrder.nativeOrder());
    }

    private static MappedByteBuffer mapAsset(Context context, String name) throws IOException {
        try (AssetFileDescriptor fd = context.getAssets().openFd(name);
             FileInputStream in = new FileInputStream(fd.getFileDescriptor())) {
            return in.getChannel().map(FileChannel.MapMode.READ_ONLY, fd.getStartOffset(), fd.getDeclaredLength());
        }
    }

    /** Letterbox the upright frame into the model input, run the model, decode: people in frame pixels. */
    Result estimate(RgbImage frame, double timeMs) {
        long t0 = SystemClock.elapsedRealtimeNanos();
        Transform transform = Preprocess.letterboxInto(frame, inputHeight, inputWidth, inputFloats);
        write(inputFloats, input, inputBuffer);
        long t1 = SystemClock.elapsedRealtimeNanos();
        heatmapsBuffer.rewind();
        pafsBuffer.rewind();
        if (signature != null) {
            Map<String, Object> inputs = new HashMap<>();
            inputs.put(inputName, inputBuffer);
            Map<String, Object> outputs = new HashMap<>();
            outputs.put(heatmapsName, heatmapsBuffer);
            outputs.put(pafsName, pafsBuffer);
            interpreter.runSignature(inputs, outputs, signature);
        } else {
            Map<Integer, Object> outputs = new HashMap<>();
            outputs.put(heatmapsTensor.index(), heatmapsBuffer);
            outputs.put(pafsTensor.index(), pafsBuffer);
            interpreter.runForMultipleInputsOutputs(new Object[] {inputBuffer}, outputs);
        }
        long t2 = SystemClock.elapsedRealtimeNanos();
        read(heatmapsBuffer, heatmapsTensor, heatmaps);
        read(pafsBuffer, pafsTensor, pafs);
        Poses poses = Postprocess.postprocess(heatmaps, Skeleton.NUM_HEATMAPS, pafs, mapHeight, mapWidth, transform,
                PostprocessConfig.DEFAULT);
        Tracker.Tracked tracked = tracker.update(poses, timeMs);
        Poses smoothed = new Poses(tracked.keypoints, poses.scores());
        long t3 = SystemClock.elapsedRealtimeNanos();
        return new Result(smoothed, tracked.ids, frame.width, frame.height, (t1 - t0) / 1e6, (t2 - t1) / 1e6,
                (t3 - t2) / 1e6);
    }

    /** float32 input as is; int8/uint8 inputs quantised with the tensor's scale and zero point. */
    private static void write(float[] values, Tensor tensor, ByteBuffer buffer) {
        buffer.rewind();
        DataType type = tensor.dataType();
        if (type == DataType.FLOAT32) {
            buffer.asFloatBuffer().put(values);
            return;
        }
        float scale = tensor.quantizationParams().getScale();
        int zero = tensor.quantizationParams().getZeroPoint();
        int lo = type == DataType.UINT8 ? 0 : -128, hi = type == DataType.UINT8 ? 255 : 127;
        if (type != DataType.UINT8 && type != DataType.INT8) {
            throw new IllegalStateException("unsupported model input type " + type);
        }
        for (float v : values) {
            int q = Math.round(v / scale) + zero;
            buffer.put((byte) Math.max(lo, Math.min(hi, q)));
        }
        buffer.rewind();
    }

    /** float32 outputs as is; int8/uint8 outputs dequantised. */
    private static void read(ByteBuffer buffer, Tensor tensor, float[] out) {
        buffer.rewind();
        DataType type = tensor.dataType();
        if (type == DataType.FLOAT32) {
            buffer.asFloatBuffer().get(out);
            return;
        }
        float scale = tensor.quantizationParams().getScale();
        int zero = tensor.quantizationParams().getZeroPoint();
        for (int i = 0; i < out.length; i++) {
            int q = type == DataType.UINT8 ? buffer.get() & 0xff : buffer.get();
            out[i] = (q - zero) * scale;
        }
    }

    @Override
    public void close() {
        interpreter.close();
        if (gpu != null) {
            gpu.close();
        }
    }
}

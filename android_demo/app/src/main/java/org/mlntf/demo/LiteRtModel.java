package org.mlntf.demo;

import android.content.Context;
import android.content.res.AssetFileDescriptor;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.mlntf.decoder.PoseModel;
import org.mlntf.decoder.PostprocessConfig;
import org.mlntf.decoder.Skeleton;
import org.mlntf.decoder.StatusText;
import org.tensorflow.lite.DataType;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.Tensor;
import org.tensorflow.lite.gpu.CompatibilityList;
import org.tensorflow.lite.gpu.GpuDelegate;

/**
 * The exported .tflite on the phone: the TFLite interpreter with the GPU delegate when the
 * device supports it and the model runs on it, else XNNPACK on the CPU; the only
 * Android-specific inference code (everything else is org.mlntf.decoder, tested on the JVM).
 *
 * <p>Model contract (mln_tf/export/tflite.py): signature {@code serving_default}, one input
 * (1, H, W, 3) already normalised (float32, or int8/uint8 with quantisation parameters),
 * outputs {@code heatmaps} (1, H/8, W/8, 19) and {@code pafs} (1, H/8, W/8, 38).
 */
final class LiteRtModel implements PoseModel {
    static final int CPU_THREADS = 4;
    private static final String SIGNATURE = "serving_default";

    private final Interpreter interpreter;
    private final GpuDelegate gpu;
    private final String backend;
    private final int inputHeight;
    private final int inputWidth;
    private final String signature;
    private final String inputName;
    private final Tensor input;
    private final Tensor heatmapsTensor;
    private final Tensor pafsTensor;
    private final ByteBuffer inputBuffer;
    private final ByteBuffer heatmapsBuffer;
    private final ByteBuffer pafsBuffer;

    /** Loads {@code assetName} from the APK (memory-mapped: the build stores .tflite uncompressed). */
    LiteRtModel(Context context, String assetName) throws IOException {
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
                    label = StatusText.cpuBackend(CPU_THREADS, "failed: " + e.getMessage());
                }
            } else {
                label = StatusText.cpuBackend(CPU_THREADS, "not supported on this device");
            }
        } finally {
            compat.close();
        }
        if (interp == null) {
            interp = new Interpreter(model, new Interpreter.Options().setUseXNNPACK(true).setNumThreads(CPU_THREADS));
        }
        interpreter = interp;
        gpu = delegate;
        backend = label;
        try {
            String[] keys = interpreter.getSignatureKeys();
            signature = Arrays.asList(keys).contains(SIGNATURE) ? SIGNATURE : (keys.length > 0 ? keys[0] : null);
            if (signature != null) {
                String[] inputs = interpreter.getSignatureInputs(signature);
                if (inputs.length != 1) {
                    throw new IOException("signature " + signature + " must have one image input, has " + inputs.length);
                }
                inputName = inputs[0];
                input = interpreter.getInputTensorFromSignature(inputName, signature);
                heatmapsTensor = interpreter.getOutputTensorFromSignature("heatmaps", signature);
                pafsTensor = interpreter.getOutputTensorFromSignature("pafs", signature);
            } else { // no signature: find the outputs by their channel count
                inputName = null;
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
                    throw new IOException("the model has no 19-channel heatmaps and 38-channel pafs outputs");
                }
                heatmapsTensor = h;
                pafsTensor = p;
            }
            int[] in = input.shape();
            if (in.length != 4 || in[0] != 1 || in[3] != 3 || in[1] <= 0 || in[2] <= 0) {
                throw new IOException("the model input must be (1, H, W, 3) with a fixed size, got "
                        + Arrays.toString(in) + ": export it with a fixed --input");
            }
            checkType(input);
            checkType(heatmapsTensor);
            checkType(pafsTensor);
            inputHeight = in[1];
            inputWidth = in[2];
            int[] hm = heatmapsTensor.shape();
            int[] pf = pafsTensor.shape();
            int stride = PostprocessConfig.DEFAULT.stride;
            if (hm.length != 4 || hm[1] != inputHeight / stride || hm[2] != inputWidth / stride
                    || hm[3] != Skeleton.NUM_HEATMAPS || pf.length != 4 || pf[1] != hm[1] || pf[2] != hm[2]
                    || pf[3] != Skeleton.NUM_PAFS) {
                throw new IOException("the model outputs must be heatmaps (1, H/8, W/8, 19) and pafs (1, H/8, W/8, 38),"
                        + " got " + Arrays.toString(hm) + " and " + Arrays.toString(pf));
            }
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
        inputBuffer = ByteBuffer.allocateDirect(input.numBytes()).order(ByteOrder.nativeOrder());
        heatmapsBuffer = ByteBuffer.allocateDirect(heatmapsTensor.numBytes()).order(ByteOrder.nativeOrder());
        pafsBuffer = ByteBuffer.allocateDirect(pafsTensor.numBytes()).order(ByteOrder.nativeOrder());
    }

    private static void checkType(Tensor t) throws IOException {
        DataType type = t.dataType();
        if (type != DataType.FLOAT32 && type != DataType.INT8 && type != DataType.UINT8) {
            throw new IOException("tensor " + t.name() + " is " + type + "; the app takes float32, int8 or uint8");
        }
    }

    private static MappedByteBuffer mapAsset(Context context, String name) throws IOException {
        try (AssetFileDescriptor fd = context.getAssets().openFd(name);
             FileInputStream in = new FileInputStream(fd.getFileDescriptor())) {
            return in.getChannel().map(FileChannel.MapMode.READ_ONLY, fd.getStartOffset(), fd.getDeclaredLength());
        }
    }

    @Override
    public int inputHeight() {
        return inputHeight;
    }

    @Override
    public int inputWidth() {
        return inputWidth;
    }

    @Override
    public String backend() {
        return backend;
    }

    @Override
    public void run(float[] values, float[] heatmaps, float[] pafs) {
        write(values, input, inputBuffer);
        heatmapsBuffer.rewind();
        pafsBuffer.rewind();
        if (signature != null) {
            Map<String, Object> inputs = new HashMap<>();
            inputs.put(inputName, inputBuffer);
            Map<String, Object> outputs = new HashMap<>();
            outputs.put("heatmaps", heatmapsBuffer);
            outputs.put("pafs", pafsBuffer);
            interpreter.runSignature(inputs, outputs, signature);
        } else {
            Map<Integer, Object> outputs = new HashMap<>();
            outputs.put(heatmapsTensor.index(), heatmapsBuffer);
            outputs.put(pafsTensor.index(), pafsBuffer);
            interpreter.runForMultipleInputsOutputs(new Object[] {inputBuffer}, outputs);
        }
        read(heatmapsBuffer, heatmapsTensor, heatmaps);
        read(pafsBuffer, pafsTensor, pafs);
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

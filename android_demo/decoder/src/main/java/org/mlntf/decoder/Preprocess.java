package org.mlntf.decoder;

/**
 * RGB image to network input, as {@code mln_tf.inference.preprocess}: resize keeping the
 * aspect ratio (INTER_AREA when shrinking, INTER_CUBIC when enlarging, see {@link Resize}),
 * pad bottom/right with grey (pixel 128, i.e. 0 after normalisation) and normalise
 * {@code pixel / 256 - 0.5} into float32, HWC.
 *
 * <p>Two layouts, as in Python: {@link #toHeight} resizes to a height and pads the width to a
 * multiple of the stride; {@link #letterbox} fits the image inside a fixed input size (a
 * .tflite model) and pads to exactly that size.
 */
public final class Preprocess {
    /** mln_tf.inference.DEFAULT_INPUT_HEIGHT. */
    public static final int DEFAULT_INPUT_HEIGHT = 368;
    /** Paper 3.2: pixel / 256 - 0.5. */
    public static final float PIXEL_SCALE = 1.0f / 256.0f;
    public static final float PIXEL_OFFSET = -0.5f;

    private Preprocess() {
    }

    /** A network input (h, w, 3) float32 HWC and the geometry to map results back. */
    public static final class Result {
        public final float[] input;
        public final int height;
        public final int width;
        public final Transform transform;

        Result(float[] input, int height, int width, Transform transform) {
            this.input = input;
            this.height = height;
            this.width = width;
            this.transform = transform;
        }
    }

    /** preprocess(image, input_height): height {@code inputHeight}, width padded to the stride. */
    public static Result toHeight(RgbImage image, int inputHeight, int stride, Resize.CubicMode mode) {
        Transform t = planToHeight(image.height, image.width, inputHeight, stride);
        float[] out = new float[t.inputH * t.inputW * 3];
        fill(image, t, out, mode);
        return new Result(out, t.inputH, t.inputW, t);
    }

    /** With stride 8 and the IPP model for enlarging (the server's result on x86-64). */
    public static Result toHeight(RgbImage image, int inputHeight) {
        return toHeight(image, inputHeight, PostprocessConfig.DEFAULT_STRIDE, Resize.CubicMode.IPP_FLOAT);
    }

    /** preprocess(image, input_hw=(inputH, inputW)): letterbox into a fixed input size. */
    public static Result letterbox(RgbImage image, int inputH, int inputW, int stride, Resize.CubicMode mode) {
        Transform t = planLetterbox(image.height, image.width, inputH, inputW, stride);
        float[] out = new float[t.inputH * t.inputW * 3];
        fill(image, t, out, mode);
        return new Result(out, t.inputH, t.inputW, t);
    }

    /** With stride 8 and the IPP model for enlarging. */
    public static Result letterbox(RgbImage image, int inputH, int inputW) {
        return letterbox(image, inputH, inputW, PostprocessConfig.DEFAULT_STRIDE, Resize.CubicMode.IPP_FLOAT);
    }

    /**
     * Letterbox into a caller-owned buffer of {@code inputH * inputW * 3} floats (reused frame
     * after frame on the phone, e.g. the interpreter's input array); returns the transform.
     */
    public static Transform letterboxInto(RgbImage image, int inputH, int inputW, float[] out) {
        Transform t = planLetterbox(image.height, image.width, inputH, inputW, PostprocessConfig.DEFAULT_STRIDE);
        if (out.length != inputH * inputW * 3) {
            throw new IllegalArgumentException("output buffer must hold " + inputH + "x" + inputW + "x3 floats, got "
                    + out.length);
        }
        fill(image, t, out, Resize.CubicMode.IPP_FLOAT);
        return t;
    }

    /** The geometry of preprocess(image, input_height) for an image of h x w. */
    public static Transform planToHeight(int h, int w, int inputHeight, int stride) {
        checkImage(h, w);
        if (stride < 1) {
            throw new IllegalArgumentException("stride must be >= 1, got " + stride);
        }
        if (inputHeight < stride) {
            throw new IllegalArgumentException("input_height must be >= " + stride + ", got " + inputHeight);
        }
        double s = (double) inputHeight / h;
        int ch = inputHeight;
        int cw = Math.max(1, (int) Math.rint(w * s));
        int ph = ceilTo(ch, stride);
        int pw = ceilTo(cw, stride);
        return new Transform(h, w, ph, pw, (double) cw / w, (double) ch / h, ch, cw);
    }

    /** The geometry of preprocess(image, input_hw=(inputH, inputW)) for an image of h x w. */
    public static Transform planLetterbox(int h, int w, int inputH, int inputW, int stride) {
        checkImage(h, w);
        if (inputH <= 0 || inputW <= 0) {
            throw new IllegalArgumentException("image size must be positive, got " + inputH + "x" + inputW);
        }
        if (stride < 1 || inputH % stride != 0 || inputW % stride != 0) {
            throw new IllegalArgumentException("input_hw (" + inputH + ", " + inputW + ") must be multiples of "
                    + stride);
        }
        double s = Math.min((double) inputH / h, (double) inputW / w);
        int ch = Math.min(inputH, Math.max(1, (int) Math.rint(h * s)));
        int cw = Math.min(inputW, Math.max(1, (int) Math.rint(w * s)));
        return new Transform(h, w, inputH, inputW, (double) cw / w, (double) ch / h, ch, cw);
    }

    /** The uint8 content the network sees (before normalisation and padding): the resize alone. */
    public static byte[] resizeContent(RgbImage image, Transform t, Resize.CubicMode mode) {
        if (t.contentH < image.height) {
            return Resize.areaU8(image.pixels, image.height, image.width, 3, t.contentH, t.contentW);
        }
        return Resize.cubicU8(image.pixels, image.height, image.width, 3, t.contentH, t.contentW, mode);
    }

    private static void fill(RgbImage image, Transform t, float[] out, Resize.CubicMode mode) {
        if (image.height != t.imageH || image.width != t.imageW) {
            throw new IllegalArgumentException("transform is for a " + t.imageH + "x" + t.imageW + " image, got "
                    + image.height + "x" + image.width);
        }
        byte[] content = resizeContent(image, t, mode);
        java.util.Arrays.fill(out, 0f); // grey padding: pixel 128 -> 0
        int rowLen = t.contentW * 3;
        for (int y = 0; y < t.contentH; y++) {
            int s = y * rowLen;
            int d = y * t.inputW * 3;
            for (int i = 0; i < rowLen; i++) {
                out[d + i] = (float) (content[s + i] & 0xff) * PIXEL_SCALE + PIXEL_OFFSET;
            }
        }
    }

    private static void checkImage(int h, int w) {
        if (h < 1 || w < 1) {
            throw new IllegalArgumentException("image size must be positive, got " + h + "x" + w);
        }
    }

    private static int ceilTo(int v, int m) {
        return ((v + m - 1) / m) * m;
    }
}

package org.mlntf.decoder;

/**
 * The image resizes that {@code mln_tf} gets from {@code cv2.resize}, reimplemented so that the
 * phone sees the pixels the server sees.
 *
 * <ul>
 * <li>{@link #areaU8} - INTER_AREA shrinking of uint8 images: OpenCV's own algorithm
 * (integer-factor fast path with its rounding, general area-weight tables in float);
 * bit-exact with opencv-python 5.0 (IPP does not handle INTER_AREA).</li>
 * <li>{@link #cubicU8} - INTER_CUBIC enlarging of uint8 images. opencv-python on x86-64 hands
 * 1/3/4-channel uint8 cubic resizes to Intel IPP, whose arithmetic is not published.
 * {@link CubicMode#IPP_FLOAT} models it (Keys kernel a = -0.75, float32 separable passes,
 * round half to even): never more than one grey level off, on about 0.001% of values at
 * ordinary scale factors (values within 1e-4 of a .5 tie), 0.1% at an exact 3x and more at
 * extreme (&gt; 10x) enlargements. {@link CubicMode#OPENCV_FIXED_POINT} is
 * OpenCV's own 11-bit fixed-point code path (what cv2 computes without IPP, e.g. on ARM
 * builds or after {@code cv2.ipp.setUseIPP(False)}), bit-exact.</li>
 * <li>{@link #cubicF32} - INTER_CUBIC of float32 maps with any channel count (postprocess's
 * optional upsampling): OpenCV's float path, bit-exact (IPP does not take 19/38 channels).</li>
 * </ul>
 *
 * Images are interleaved, row-major: channel c of pixel (y, x) at {@code (y * w + x) * cn + c}.
 */
public final class Resize {
    private Resize() {
    }

    /** Which arithmetic INTER_CUBIC on uint8 follows; see the class comment. */
    public enum CubicMode {
        /** Model of opencv-python's IPP path on x86-64 (the reference platform of the tests). */
        IPP_FLOAT,
        /** OpenCV's own fixed-point path (cv2 without IPP). */
        OPENCV_FIXED_POINT
    }

    private static final double DBL_EPSILON = 2.220446049250313e-16;
    private static final int COEF_BITS = 11;
    private static final int COEF_SCALE = 1 << COEF_BITS;

    private static void checkSizes(int srcLength, int h, int w, int cn, int dh, int dw) {
        if (h < 1 || w < 1 || dh < 1 || dw < 1 || cn < 1) {
            throw new IllegalArgumentException("resize sizes must be positive, got " + h + "x" + w + "x" + cn
                    + " -> " + dh + "x" + dw);
        }
        if (srcLength != h * w * cn) {
            throw new IllegalArgumentException("image must hold " + h + "x" + w + "x" + cn + " values, got "
                    + srcLength);
        }
    }

    private static int clamp(int i, int n) {
        return i < 0 ? 0 : (i >= n ? n - 1 : i);
    }

    private static int saturateU8(double v) {
        long r = (long) Math.rint(v); // cvRound: nearest, ties to even
        return r < 0 ? 0 : (r > 255 ? 255 : (int) r);
    }

    // ------------------------------------------------------------------ INTER_AREA, uint8

    /** cv2.resize(..., INTER_AREA) for shrinking (dh &lt;= h and dw &lt;= w). */
    public static byte[] areaU8(byte[] src, int h, int w, int cn, int dh, int dw) {
        checkSizes(src.length, h, w, cn, dh, dw);
        if (dh == h && dw == w) {
            return src.clone();
        }
        double scaleX = 1.0 / ((double) dw / w);
        double scaleY = 1.0 / ((double) dh / h);
        if (scaleX < 1 || scaleY < 1) {
            throw new IllegalArgumentException("areaU8 only shrinks; got " + h + "x" + w + " -> " + dh + "x" + dw);
        }
        int iscaleX = (int) Math.rint(scaleX);
        int iscaleY = (int) Math.rint(scaleY);
        if (Math.abs(scaleX - iscaleX) < DBL_EPSILON && Math.abs(scaleY - iscaleY) < DBL_EPSILON) {
            return areaFast(src, h, w, cn, dh, dw, iscaleX, iscaleY);
        }
        return areaGeneral(src, h, w, cn, dh, dw, scaleX, scaleY);
    }

    private static byte[] areaFast(byte[] src, int h, int w, int cn, int dh, int dw, int sx, int sy) {
        byte[] dst = new byte[dh * dw * cn];
        int area = sx * sy;
        float inv = 1f / area;
        boolean shift = sx == 2 && sy == 2 && (cn == 1 || cn == 3 || cn == 4);
        for (int dy = 0; dy < dh; dy++) {
            int sy0 = dy * sy;
            for (int dx = 0; dx < dw; dx++) {
                for (int c = 0; c < cn; c++) {
                    int sum = 0;
                    for (int yy = 0; yy < sy; yy++) {
                        int row = (sy0 + yy) * w;
                        for (int xx = 0; xx < sx; xx++) {
                            sum += src[(row + dx * sx + xx) * cn + c] & 0xff;
                        }
                    }
                    int v = shift ? (sum + 2) >> 2 : saturateU8((float) sum * inv);
                    dst[(dy * dw + dx) * cn + c] = (byte) v;
                }
            }
        }
        return dst;
    }

    /** OpenCV's computeResizeAreaTab: (destination, source, weight) triples along one axis. */
    private static final class AreaTab {
        int[] di;
        int[] si;
        float[] alpha;
        int size;

        AreaTab(int capacity) {
            di = new int[capacity];
            si = new int[capacity];
            alpha = new float[capacity];
        }

        void add(int d, int s, float a) {
            di[size] = d;
            si[size] = s;
            alpha[size] = a;
            size++;
        }
    }

    private static AreaTab areaTab(int ssize, int dsize, double scale) {
        AreaTab tab = new AreaTab(ssize * 2 + 2);
        for (int dx = 0; dx < dsize; dx++) {
            double fsx1 = dx * scale;
            double fsx2 = fsx1 + scale;
            double cellWidth = Math.min(scale, ssize - fsx1);
            int sx1 = (int) Math.ceil(fsx1);
            int sx2 = (int) Math.floor(fsx2);
            sx2 = Math.min(sx2, ssize - 1);
            sx1 = Math.min(sx1, sx2);
            if (sx1 - fsx1 > 1e-3) {
                tab.add(dx, sx1 - 1, (float) ((sx1 - fsx1) / cellWidth));
            }
            for (int sx = sx1; sx < sx2; sx++) {
                tab.add(dx, sx, (float) (1.0 / cellWidth));
            }
            if (fsx2 - sx2 > 1e-3) {
                tab.add(dx, sx2, (float) (Math.min(Math.min(fsx2 - sx2, 1.0), cellWidth) / cellWidth));
            }
        }
        return tab;
    }

    private static byte[] areaGeneral(byte[] src, int h, int w, int cn, int dh, int dw, double scaleX,
                                      double scaleY) {
        AreaTab xtab = areaTab(w, dw, scaleX);
        AreaTab ytab = areaTab(h, dh, scaleY);
        int width = dw * cn;
        float[] buf = new float[width]; // horizontal pass of source row bufRow
        int bufRow = -1;
        float[] sum = new float[width];
        byte[] dst = new byte[dh * width];
        int j = 0;
        for (int dy = 0; dy < dh; dy++) {
            java.util.Arrays.fill(sum, 0f);
            for (; j < ytab.size && ytab.di[j] == dy; j++) {
                float beta = ytab.alpha[j];
                int sy = ytab.si[j];
                if (sy != bufRow) { // a row shared by two destination rows is weighted once
                    int srow = sy * w * cn;
                    java.util.Arrays.fill(buf, 0f);
                    for (int k = 0; k < xtab.size; k++) {
                        int s = srow + xtab.si[k] * cn;
                        int d = xtab.di[k] * cn;
                        float alpha = xtab.alpha[k];
                        for (int c = 0; c < cn; c++) {
                            buf[d + c] = buf[d + c] + (float) (src[s + c] & 0xff) * alpha;
                        }
                    }
                    bufRow = sy;
                }
                for (int x = 0; x < width; x++) {
                    sum[x] += beta * buf[x];
                }
            }
            for (int x = 0; x < width; x++) {
                dst[dy * width + x] = (byte) saturateU8(sum[x]);
            }
        }
        return dst;
    }

    // ------------------------------------------------------------------ INTER_CUBIC

    /** OpenCV's interpolateCubic: Keys kernel, a = -0.75, all in float32. */
    private static void cubicCoeffs(float x, float[] c, int off) {
        final float a = -0.75f;
        c[off] = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a;
        c[off + 1] = ((a + 2) * x - (a + 3)) * x * x + 1;
        c[off + 2] = ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1;
        c[off + 3] = 1.f - c[off] - c[off + 1] - c[off + 2];
    }

    /** OpenCV's source offsets and cubic weights along one axis (resize's coefficient loop). */
    private static int[] cubicOffsets(int ssize, int dsize, float[] coeffs) {
        double inv = (double) dsize / ssize;
        double scale = 1.0 / inv;
        int[] ofs = new int[dsize];
        for (int d = 0; d < dsize; d++) {
            float f = (float) ((d + 0.5) * scale - 0.5);
            int s = (int) Math.floor(f);
            f -= s;
            ofs[d] = s;
            cubicCoeffs(f, coeffs, d * 4);
        }
        return ofs;
    }

    /** cv2.resize(..., INTER_CUBIC) of a float32 image with any channel count (OpenCV's float path). */
    public static float[] cubicF32(float[] src, int h, int w, int cn, int dh, int dw) {
        checkSizes(src.length, h, w, cn, dh, dw);
        if (dh == h && dw == w) {
            return src.clone();
        }
        float[] alpha = new float[dw * 4];
        float[] beta = new float[dh * 4];
        int[] xofs = cubicOffsets(w, dw, alpha);
        int[] yofs = cubicOffsets(h, dh, beta);
        int width = dw * cn;
        float[] rows = new float[h * width]; // horizontal pass of every source row
        for (int y = 0; y < h; y++) {
            int srow = y * w * cn;
            int drow = y * width;
            for (int dx = 0; dx < dw; dx++) {
                int sx = xofs[dx];
                int x0 = clamp(sx - 1, w), x1 = clamp(sx, w), x2 = clamp(sx + 1, w), x3 = clamp(sx + 2, w);
                float a0 = alpha[dx * 4], a1 = alpha[dx * 4 + 1], a2 = alpha[dx * 4 + 2], a3 = alpha[dx * 4 + 3];
                for (int c = 0; c < cn; c++) {
                    rows[drow + dx * cn + c] = src[srow + x0 * cn + c] * a0 + src[srow + x1 * cn + c] * a1
                            + src[srow + x2 * cn + c] * a2 + src[srow + x3 * cn + c] * a3;
                }
            }
        }
        float[] dst = new float[dh * width];
        int simd = width - width % 4; // OpenCV's 4-lane SIMD body (x86 SSE baseline); scalar tail after it
        for (int dy = 0; dy < dh; dy++) {
            int sy = yofs[dy];
            int r0 = clamp(sy - 1, h) * width, r1 = clamp(sy, h) * width;
            int r2 = clamp(sy + 1, h) * width, r3 = clamp(sy + 2, h) * width;
            float b0 = beta[dy * 4], b1 = beta[dy * 4 + 1], b2 = beta[dy * 4 + 2], b3 = beta[dy * 4 + 3];
            int o = dy * width;
            for (int x = 0; x < simd; x++) {
                dst[o + x] = rows[r0 + x] * b0 + (rows[r1 + x] * b1 + (rows[r2 + x] * b2 + rows[r3 + x] * b3));
            }
            for (int x = simd; x < width; x++) {
                dst[o + x] = rows[r0 + x] * b0 + rows[r1 + x] * b1 + rows[r2 + x] * b2 + rows[r3 + x] * b3;
            }
        }
        return dst;
    }

    /** cv2.resize(..., INTER_CUBIC) of a uint8 image; see {@link CubicMode}. */
    public static byte[] cubicU8(byte[] src, int h, int w, int cn, int dh, int dw, CubicMode mode) {
        checkSizes(src.length, h, w, cn, dh, dw);
        if (dh == h && dw == w) {
            return src.clone();
        }
        return mode == CubicMode.OPENCV_FIXED_POINT ? cubicU8Fixed(src, h, w, cn, dh, dw)
                : cubicU8Float(src, h, w, cn, dh, dw);
    }

    private static byte[] cubicU8Fixed(byte[] src, int h, int w, int cn, int dh, int dw) {
        float[] alpha = new float[dw * 4];
        float[] beta = new float[dh * 4];
        int[] xofs = cubicOffsets(w, dw, alpha);
        int[] yofs = cubicOffsets(h, dh, beta);
        int[] ia = new int[alpha.length];
        int[] ib = new int[beta.length];
        for (int i = 0; i < ia.length; i++) {
            ia[i] = saturateShort(alpha[i] * COEF_SCALE);
        }
        for (int i = 0; i < ib.length; i++) {
            ib[i] = saturateShort(beta[i] * COEF_SCALE);
        }
        int width = dw * cn;
        int[] rows = new int[h * width];
        for (int y = 0; y < h; y++) {
            int srow = y * w * cn;
            int drow = y * width;
            for (int dx = 0; dx < dw; dx++) {
                int sx = xofs[dx];
                int x0 = clamp(sx - 1, w), x1 = clamp(sx, w), x2 = clamp(sx + 1, w), x3 = clamp(sx + 2, w);
                int a0 = ia[dx * 4], a1 = ia[dx * 4 + 1], a2 = ia[dx * 4 + 2], a3 = ia[dx * 4 + 3];
                for (int c = 0; c < cn; c++) {
                    rows[drow + dx * cn + c] = (src[srow + x0 * cn + c] & 0xff) * a0
                            + (src[srow + x1 * cn + c] & 0xff) * a1 + (src[srow + x2 * cn + c] & 0xff) * a2
                            + (src[srow + x3 * cn + c] & 0xff) * a3;
                }
            }
        }
        byte[] dst = new byte[dh * width];
        final float scale = 1.f / (COEF_SCALE * COEF_SCALE);
        int simd = width - width % 8; // OpenCV's SIMD body (8 values a step, float math); integer tail
        for (int dy = 0; dy < dh; dy++) {
            int sy = yofs[dy];
            int r0 = clamp(sy - 1, h) * width, r1 = clamp(sy, h) * width;
            int r2 = clamp(sy + 1, h) * width, r3 = clamp(sy + 2, h) * width;
            int b0 = ib[dy * 4], b1 = ib[dy * 4 + 1], b2 = ib[dy * 4 + 2], b3 = ib[dy * 4 + 3];
            float f0 = b0 * scale, f1 = b1 * scale, f2 = b2 * scale, f3 = b3 * scale;
            int o = dy * width;
            for (int x = 0; x < simd; x++) {
                float v = (float) rows[r0 + x] * f0 + ((float) rows[r1 + x] * f1
                        + ((float) rows[r2 + x] * f2 + (float) rows[r3 + x] * f3));
                dst[o + x] = (byte) saturateU8(v);
            }
            for (int x = simd; x < width; x++) {
                long v = (long) rows[r0 + x] * b0 + (long) rows[r1 + x] * b1 + (long) rows[r2 + x] * b2
                        + (long) rows[r3 + x] * b3;
                long r = (v + (1L << (2 * COEF_BITS - 1))) >> (2 * COEF_BITS);
                dst[o + x] = (byte) (r < 0 ? 0 : (r > 255 ? 255 : r));
            }
        }
        return dst;
    }

    private static int saturateShort(float v) {
        long r = (long) Math.rint(v);
        return (int) (r < Short.MIN_VALUE ? Short.MIN_VALUE : (r > Short.MAX_VALUE ? Short.MAX_VALUE : r));
    }

    /** Keys cubic weights (a = -0.75) in float64, rounded to float32: the IPP model's kernel. */
    private static int[] keysOffsets(int ssize, int dsize, float[] coeffs) {
        double scale = (double) ssize / dsize;
        int[] ofs = new int[dsize];
        for (int d = 0; d < dsize; d++) {
            double f = (d + 0.5) * scale - 0.5;
            int s = (int) Math.floor(f);
            double t = f - s;
            ofs[d] = s;
            coeffs[d * 4] = (float) keys(t + 1);
            coeffs[d * 4 + 1] = (float) keys(t);
            coeffs[d * 4 + 2] = (float) keys(1 - t);
            coeffs[d * 4 + 3] = (float) keys(2 - t);
        }
        return ofs;
    }

    private static double keys(double x) {
        final double a = -0.75;
        x = Math.abs(x);
        if (x < 1) {
            return ((a + 2) * x - (a + 3)) * x * x + 1;
        }
        if (x < 2) {
            return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
        }
        return 0;
    }

    private static byte[] cubicU8Float(byte[] src, int h, int w, int cn, int dh, int dw) {
        float[] alpha = new float[dw * 4];
        float[] beta = new float[dh * 4];
        int[] xofs = keysOffsets(w, dw, alpha);
        int[] yofs = keysOffsets(h, dh, beta);
        int width = dw * cn;
        float[] rows = new float[h * width];
        for (int y = 0; y < h; y++) {
            int srow = y * w * cn;
            int drow = y * width;
            for (int dx = 0; dx < dw; dx++) {
                int sx = xofs[dx];
                int x0 = clamp(sx - 1, w), x1 = clamp(sx, w), x2 = clamp(sx + 1, w), x3 = clamp(sx + 2, w);
                float a0 = alpha[dx * 4], a1 = alpha[dx * 4 + 1], a2 = alpha[dx * 4 + 2], a3 = alpha[dx * 4 + 3];
                for (int c = 0; c < cn; c++) {
                    rows[drow + dx * cn + c] = (float) (src[srow + x0 * cn + c] & 0xff) * a0
                            + (float) (src[srow + x1 * cn + c] & 0xff) * a1
                            + (float) (src[srow + x2 * cn + c] & 0xff) * a2
                            + (float) (src[srow + x3 * cn + c] & 0xff) * a3;
                }
            }
        }
        byte[] dst = new byte[dh * width];
        for (int dy = 0; dy < dh; dy++) {
            int sy = yofs[dy];
            int r0 = clamp(sy - 1, h) * width, r1 = clamp(sy, h) * width;
            int r2 = clamp(sy + 1, h) * width, r3 = clamp(sy + 2, h) * width;
            float b0 = beta[dy * 4], b1 = beta[dy * 4 + 1], b2 = beta[dy * 4 + 2], b3 = beta[dy * 4 + 3];
            int o = dy * width;
            for (int x = 0; x < width; x++) {
                float v = rows[r0 + x] * b0 + rows[r1 + x] * b1 + rows[r2 + x] * b2 + rows[r3 + x] * b3;
                dst[o + x] = (byte) saturateU8(v);
            }
        }
        return dst;
    }
}

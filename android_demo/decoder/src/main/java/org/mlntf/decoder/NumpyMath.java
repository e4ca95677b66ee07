package org.mlntf.decoder;

/**
 * The few operations whose rounding must follow NumPy's exactly for bit-level parity with
 * mln_tf.grouping: pairwise summation (NumPy's {@code sum}/{@code mean} along a contiguous
 * axis), {@code linspace}, and float32 {@code hypot}.
 */
final class NumpyMath {
    private static final int PW_BLOCKSIZE = 128; // numpy/_core/src/umath/loops_utils.h.src

    private NumpyMath() {
    }

    /** NumPy's float32 pairwise sum of {@code a[off .. off+n)} (float accumulators). */
    static float pairwiseSum(float[] a, int off, int n) {
        if (n < 8) {
            float res = 0f;
            for (int i = 0; i < n; i++) {
                res += a[off + i];
            }
            return res;
        }
        if (n <= PW_BLOCKSIZE) {
            float r0 = a[off], r1 = a[off + 1], r2 = a[off + 2], r3 = a[off + 3];
            float r4 = a[off + 4], r5 = a[off + 5], r6 = a[off + 6], r7 = a[off + 7];
            int i;
            for (i = 8; i < n - (n % 8); i += 8) {
                int p = off + i;
                r0 += a[p];
                r1 += a[p + 1];
                r2 += a[p + 2];
                r3 += a[p + 3];
                r4 += a[p + 4];
                r5 += a[p + 5];
                r6 += a[p + 6];
                r7 += a[p + 7];
            }
            float res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
            for (; i < n; i++) {
                res += a[off + i];
            }
            return res;
        }
        int n2 = n / 2;
        n2 -= n2 % 8;
        return pairwiseSum(a, off, n2) + pairwiseSum(a, off + n2, n - n2);
    }

    /** NumPy's float64 pairwise sum of {@code a[off .. off+n)}. */
    static double pairwiseSum(double[] a, int off, int n) {
        if (n < 8) {
            double res = 0.0;
            for (int i = 0; i < n; i++) {
                res += a[off + i];
            }
            return res;
        }
        if (n <= PW_BLOCKSIZE) {
            double r0 = a[off], r1 = a[off + 1], r2 = a[off + 2], r3 = a[off + 3];
            double r4 = a[off + 4], r5 = a[off + 5], r6 = a[off + 6], r7 = a[off + 7];
            int i;
            for (i = 8; i < n - (n % 8); i += 8) {
                int p = off + i;
                r0 += a[p];
                r1 += a[p + 1];
                r2 += a[p + 2];
                r3 += a[p + 3];
                r4 += a[p + 4];
                r5 += a[p + 5];
                r6 += a[p + 6];
                r7 += a[p + 7];
            }
            double res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
            for (; i < n; i++) {
                res += a[off + i];
            }
            return res;
        }
        int n2 = n / 2;
        n2 -= n2 % 8;
        return pairwiseSum(a, off, n2) + pairwiseSum(a, off + n2, n - n2);
    }

    /**
     * {@code np.linspace(0.0, 1.0, n, dtype=np.float32)}: computed in float64 as
     * {@code i * (1.0 / (n - 1))}, last sample set to 1, then rounded to float32.
     */
    static float[] linspace01(int n) {
        float[] t = new float[n];
        double step = 1.0 / (n - 1);
        for (int i = 0; i < n; i++) {
            double v = i;
            v *= step;
            v += 0.0;
            t[i] = (float) v;
        }
        t[n - 1] = 1f;
        return t;
    }

    /** {@code np.hypot} on float32 (glibc hypotf): sqrt of the float64 sum of squares, rounded once. */
    static float hypot(float dx, float dy) {
        double x = dx;
        double y = dy;
        return (float) Math.sqrt(x * x + y * y);
    }
}

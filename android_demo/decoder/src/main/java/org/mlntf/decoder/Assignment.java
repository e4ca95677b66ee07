package org.mlntf.decoder;

import java.util.Arrays;

/**
 * Minimum-cost assignment (the Hungarian method with potentials, shortest augmenting paths), the
 * role of {@code scipy.optimize.linear_sum_assignment} in mln_tf.tracking; web_demo/src/tracking.js
 * has the same code.
 */
public final class Assignment {
    private Assignment() {
    }

    /** Pairs {row, col} of a rows x cols row-major cost matrix, min(rows, cols) of them, rows ascending. */
    public static int[][] solve(double[] cost, int rows, int cols) {
        boolean transpose = rows > cols;
        int n = transpose ? cols : rows;
        int m = transpose ? rows : cols;
        double[] u = new double[n + 1];
        double[] v = new double[m + 1];
        int[] p = new int[m + 1];
        int[] way = new int[m + 1];
        double[] minv = new double[m + 1];
        boolean[] used = new boolean[m + 1];
        for (int i = 1; i <= n; i++) {
            p[0] = i;
            int j0 = 0;
            Arrays.fill(minv, Double.POSITIVE_INFINITY);
            Arrays.fill(used, false);
            do {
                used[j0] = true;
                int i0 = p[j0];
                double delta = Double.POSITIVE_INFINITY;
                int j1 = 0;
                for (int j = 1; j <= m; j++) {
                    if (used[j]) {
                        continue;
                    }
                    double c = transpose ? cost[(j - 1) * cols + (i0 - 1)] : cost[(i0 - 1) * cols + (j - 1)];
                    double cur = c - u[i0] - v[j];
                    if (cur < minv[j]) {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if (minv[j] < delta) {
                        delta = minv[j];
                        j1 = j;
                    }
                }
                for (int j = 0; j <= m; j++) {
                    if (used[j]) {
                        u[p[j]] += delta;
                        v[j] -= delta;
                    } else {
                        minv[j] -= delta;
                    }
                }
                j0 = j1;
            } while (p[j0] != 0);
            do {
                int j1 = way[j0];
                p[j0] = p[j1];
                j0 = j1;
            } while (j0 != 0);
        }
        int[][] pairs = new int[n][];
        int k = 0;
        for (int j = 1; j <= m; j++) {
            if (p[j] != 0) {
                pairs[k++] = transpose ? new int[] {j - 1, p[j] - 1} : new int[] {p[j] - 1, j - 1};
            }
        }
        Arrays.sort(pairs, 0, k, BY_FIRST);
        return Arrays.copyOf(pairs, k);
    }

    /** Pairs by their first index (a class, not a lambda: the Android build's dx does not desugar lambdas). */
    private static final java.util.Comparator<int[]> BY_FIRST = new java.util.Comparator<int[]>() {
        @Override
        public int compare(int[] a, int[] b) {
            return Integer.compare(a[0], b[0]);
        }
    };
}

package org.mlntf.decoder;

/** Stable merge sort of index arrays by primitive keys (NumPy's stable sorts, without boxing). */
final class StableSort {
    private StableSort() {
    }

    /** Orders {@code idx} so that {@code key[idx[i]]} is descending; equal keys keep their order. */
    static void byKeyDescending(int[] idx, int from, int to, float[] key) {
        int n = to - from;
        if (n < 2) {
            return;
        }
        int[] tmp = new int[n];
        mergeSort(idx, from, to, key, tmp);
    }

    private static void mergeSort(int[] a, int lo, int hi, float[] key, int[] tmp) {
        if (hi - lo < 12) { // insertion sort: stable, moves only past strictly smaller keys
            for (int i = lo + 1; i < hi; i++) {
                int v = a[i];
                float k = key[v];
                int j = i - 1;
                while (j >= lo && key[a[j]] < k) {
                    a[j + 1] = a[j];
                    j--;
                }
                a[j + 1] = v;
            }
            return;
        }
        int mid = (lo + hi) >>> 1;
        mergeSort(a, lo, mid, key, tmp);
        mergeSort(a, mid, hi, key, tmp);
        if (!(key[a[mid - 1]] < key[a[mid]])) {
            return; // already in order
        }
        int i = lo, j = mid, k = 0;
        while (i < mid && j < hi) {
            // take from the right only when strictly greater: keeps equal keys in input order
            if (key[a[j]] > key[a[i]]) {
                tmp[k++] = a[j++];
            } else {
                tmp[k++] = a[i++];
            }
        }
        while (i < mid) {
            tmp[k++] = a[i++];
        }
        while (j < hi) {
            tmp[k++] = a[j++];
        }
        System.arraycopy(tmp, 0, a, lo, k);
    }
}

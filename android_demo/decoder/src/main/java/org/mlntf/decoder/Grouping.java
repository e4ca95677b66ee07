package org.mlntf.decoder;

import java.util.Arrays;

/**
 * Joint grouping (paper section 2.4), a line-by-line port of {@code mln_tf/grouping.py}:
 * 3x3 maxima of lightly smoothed heatmaps, thresholded and scored on the raw heatmaps,
 * parabola-refined on the smoothed ones, eq. 6 pair scoring with bilinear PAF samples, greedy per-limb matching and merging
 * into people, ranked by mean score times the square root of their extent.
 *
 * <p>Arithmetic follows NumPy's: float32 where NumPy computes in float32 (in the same order),
 * float64 where NumPy promotes (bilinear sampling, person scores, the kernel), so the same
 * maps give the same people; the golden-vector tests check this against Python.
 *
 * <p>Maps are flat float arrays in HWC order (as the network's (1, h, w, C) output): value
 * of channel c at pixel (y, x) is {@code maps[(y * w + x) * C + c]}.
 */
public final class Grouping {
    private Grouping() {
    }

    /** Candidate joints of all parts, part-major then raster order (mln_tf.grouping.Peaks). */
    public static final class Peaks {
        public final int[] part;
        public final float[] x;
        public final float[] y;
        /** Raw (unsmoothed) heatmap value at the peak pixel. */
        public final float[] score;

        Peaks(int[] part, float[] x, float[] y, float[] score) {
            this.part = part;
            this.x = x;
            this.y = y;
            this.score = score;
        }

        public int size() {
            return part.length;
        }
    }

    /** Candidate connections that pass eq. 6's criteria (mln_tf.grouping.Connections). */
    public static final class Connections {
        public final int[] limb;
        public final int[] a;
        public final int[] b;
        public final float[] score;

        Connections(int[] limb, int[] a, int[] b, float[] score) {
            this.limb = limb;
            this.a = a;
            this.b = b;
            this.score = score;
        }

        public int size() {
            return limb.length;
        }
    }

    /** Map values are clipped to [-MAP_LIMIT, MAP_LIMIT] before grouping (mln_tf.grouping.MAP_LIMIT). */
    public static final float MAP_LIMIT = 1e6f;

    /** Heatmaps (h, w, 18 or 19) and PAFs (h, w, 38) -> people in the maps' pixel coordinates. */
    public static Poses groupPeople(float[] heatmaps, int heatmapChannels, float[] pafs, int h, int w,
                                    GroupingConfig config) {
        checkMaps(heatmaps, heatmapChannels, pafs, h, w);
        float[] hm = clipped(heatmaps);
        float[] pf = clipped(pafs);
        Peaks peaks = findPeaks(hm, heatmapChannels, h, w, config);
        return assemble(peaks, scorePairs(peaks, pf, h, w, config), config);
    }

    /** The maps clipped to +-MAP_LIMIT (a network's maps are O(1); absurd values cannot overflow). */
    static float[] clipped(float[] maps) {
        for (float v : maps) {
            if (v > MAP_LIMIT || v < -MAP_LIMIT) {
                float[] out = maps.clone();
                for (int i = 0; i < out.length; i++) {
                    out[i] = out[i] > MAP_LIMIT ? MAP_LIMIT : (out[i] < -MAP_LIMIT ? -MAP_LIMIT : out[i]);
                }
                return out;
            }
        }
        return maps;
    }

    static void checkMaps(float[] heatmaps, int heatmapChannels, float[] pafs, int h, int w) {
        if (h < 1 || w < 1) {
            throw new IllegalArgumentException("maps must be at least 1x1, got " + h + "x" + w);
        }
        if (heatmapChannels != Skeleton.NUM_PARTS && heatmapChannels != Skeleton.NUM_HEATMAPS) {
            throw new IllegalArgumentException("heatmaps must have 18 or 19 channels, got " + heatmapChannels);
        }
        if (heatmaps.length != h * w * heatmapChannels) {
            throw new IllegalArgumentException("heatmaps must hold " + h + "x" + w + "x" + heatmapChannels
                    + " values, got " + heatmaps.length);
        }
        if (pafs.length != h * w * Skeleton.NUM_PAFS) {
            throw new IllegalArgumentException("pafs must be (h, w, 38) matching heatmaps " + h + "x" + w
                    + ", got " + pafs.length + " values");
        }
        if (!allFinite(heatmaps) || !allFinite(pafs)) {
            throw new IllegalArgumentException("heatmaps/pafs contain NaN or infinity");
        }
    }

    private static boolean allFinite(float[] values) {
        int maxExponent = 0; // all-ones exponent bits = infinity or NaN
        for (float v : values) {
            maxExponent = Math.max(maxExponent, Float.floatToRawIntBits(v) & 0x7f800000);
        }
        return maxExponent != 0x7f800000;
    }

    /** Normalised 1-D Gaussian taps of radius ceil(3 sigma), computed in float64, rounded to float32. */
    public static float[] gaussianKernel(double sigma) {
        int radius = (int) Math.ceil(3.0 * sigma);
        int n = 2 * radius + 1;
        double[] taps = new double[n];
        for (int i = 0; i < n; i++) {
            double v = (i - radius) / sigma;
            taps[i] = StrictMath.exp(-0.5 * (v * v));
        }
        double sum = NumpyMath.pairwiseSum(taps, 0, n);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) (taps[i] / sum);
        }
        return out;
    }

    /**
     * The first {@code parts} channels of HWC {@code maps}, blurred by a separable Gaussian
     * (x pass then y pass, edges replicated, float32 accumulation of {@code taps[i] * shifted}
     * for i = 0..2r, as mln_tf.grouping.smooth), returned as HWC (h, w, parts).
     */
    public static float[] smoothParts(float[] maps, int h, int w, int channels, int parts, double sigma) {
        float[] out = new float[h * w * parts];
        for (int p = 0, q = 0; p < h * w; p++, q += parts) {
            System.arraycopy(maps, p * channels, out, q, parts);
        }
        if (!(sigma > 0)) {
            return out;
        }
        float[] taps = gaussianKernel(sigma);
        int r = taps.length / 2;
        int n = taps.length;
        int rowLen = w * parts;
        float[] line = new float[(w + 2 * r) * parts];
        float[] acc = new float[rowLen];
        float[] tmp = new float[h * rowLen];
        // Loops run tap-outer and over whole rows (pixels x parts, contiguous) so the JIT can
        // vectorise them; per value the arithmetic is still taps[0] * v0, then += taps[i] * vi
        // for i = 1..2r in order, as NumPy computes it.
        for (int y = 0; y < h; y++) { // x pass
            int row = y * rowLen;
            for (int i = 0; i < r; i++) {
                System.arraycopy(out, row, line, i * parts, parts);
                System.arraycopy(out, row + rowLen - parts, line, (r + w + i) * parts, parts);
            }
            System.arraycopy(out, row, line, r * parts, rowLen);
            float t0 = taps[0];
            for (int x = 0; x < rowLen; x++) {
                acc[x] = t0 * line[x];
            }
            for (int i = 1; i < n; i++) {
                float t = taps[i];
                int shift = i * parts;
                for (int x = 0; x < rowLen; x++) {
                    acc[x] += t * line[x + shift];
                }
            }
            System.arraycopy(acc, 0, tmp, row, rowLen);
        }
        for (int y = 0; y < h; y++) { // y pass
            float t0 = taps[0];
            int src = clamp(y - r, h) * rowLen;
            for (int x = 0; x < rowLen; x++) {
                acc[x] = t0 * tmp[src + x];
            }
            for (int i = 1; i < n; i++) {
                float t = taps[i];
                int s = clamp(y - r + i, h) * rowLen;
                for (int x = 0; x < rowLen; x++) {
                    acc[x] += t * tmp[s + x];
                }
            }
            System.arraycopy(acc, 0, out, y * rowLen, rowLen);
        }
        return out;
    }

    private static int clamp(int i, int n) {
        return i < 0 ? 0 : (i >= n ? n - 1 : i);
    }

    /** Step 1: 3x3 maxima of the smoothed 18 part channels whose raw value passes the threshold. */
    public static Peaks findPeaks(float[] heatmaps, int channels, int h, int w, GroupingConfig config) {
        final int parts = Skeleton.NUM_PARTS;
        float[] raw = smoothParts(heatmaps, h, w, channels, parts, 0.0); // (h, w, parts), unsmoothed
        float[] hm = smoothParts(heatmaps, h, w, channels, parts, config.smoothSigma); // (h, w, parts)
        float threshold = (float) config.peakThreshold;
        final int dx = parts, dy = w * parts; // neighbour offsets in the HWC layout
        IntList found = new IntList(); // index (y * w + x) * parts + part, part-major then raster
        int[] partStart = new int[parts + 1];
        for (int p = 0; p < parts; p++) {
            partStart[p] = found.size;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int i = (y * w + x) * parts + p;
                    if (!(raw[i] > threshold)) {
                        continue;
                    }
                    // 3x3 maximum of the smoothed map; ties: >= the four neighbours before the
                    // pixel in raster order, > the four after it, so a plateau gives one peak
                    float v = hm[i];
                    boolean top = y > 0, bottom = y < h - 1, left = x > 0, right = x < w - 1;
                    if (top && (left && !(v >= hm[i - dy - dx]) || !(v >= hm[i - dy])
                            || right && !(v >= hm[i - dy + dx]))) {
                        continue;
                    }
                    if (left && !(v >= hm[i - dx])) {
                        continue;
                    }
                    if (right && !(v > hm[i + dx])) {
                        continue;
                    }
                    if (bottom && (left && !(v > hm[i + dy - dx]) || !(v > hm[i + dy])
                            || right && !(v > hm[i + dy + dx]))) {
                        continue;
                    }
                    found.add(i);
                }
            }
        }
        partStart[parts] = found.size;
        int[] keep = found.toArray();
        boolean capped = false;
        for (int p = 0; p < parts; p++) {
            capped |= partStart[p + 1] - partStart[p] > config.maxPeaks;
        }
        if (capped) { // at most maxPeaks per part: the strongest (raw value), ties by raster order
            IntList limited = new IntList();
            for (int p = 0; p < parts; p++) {
                int from = partStart[p], to = partStart[p + 1];
                if (to - from <= config.maxPeaks) {
                    for (int k = from; k < to; k++) {
                        limited.add(keep[k]);
                    }
                    continue;
                }
                int[] order = Arrays.copyOfRange(keep, from, to);
                StableSort.byKeyDescending(order, 0, order.length, raw);
                int[] best = Arrays.copyOf(order, config.maxPeaks);
                Arrays.sort(best); // back to raster order (same part)
                for (int v : best) {
                    limited.add(v);
                }
            }
            keep = limited.toArray();
        }
        int kept = keep.length;
        int[] part = new int[kept];
        float[] px = new float[kept];
        float[] py = new float[kept];
        float[] score = new float[kept];
        for (int k = 0; k < kept; k++) {
            int i = keep[k];
            int p = i % parts;
            int pixel = i / parts;
            int y = pixel / w;
            int x = pixel % w;
            float centre = hm[i];
            float fx = (float) x;
            float fy = (float) y;
            if (config.refinePeaks) { // the fit reads the smoothed map: less jitter from map noise
                float left = x > 0 ? hm[i - dx] : Float.NEGATIVE_INFINITY;
                float right = x < w - 1 ? hm[i + dx] : Float.NEGATIVE_INFINITY;
                float up = y > 0 ? hm[i - dy] : Float.NEGATIVE_INFINITY;
                float down = y < h - 1 ? hm[i + dy] : Float.NEGATIVE_INFINITY;
                fx = fx + parabolaOffset(left, centre, right);
                fy = fy + parabolaOffset(up, centre, down);
            }
            part[k] = p;
            px[k] = fx;
            py[k] = fy;
            score[k] = raw[i]; // the raw value, as in grouping.py
        }
        return new Peaks(part, px, py, score);
    }

    /** Vertex of the parabola through (-1, before), (0, centre), (1, after), clipped to [-0.5, 0.5]. */
    static float parabolaOffset(float before, float centre, float after) {
        boolean valid = !Float.isInfinite(before) && !Float.isNaN(before)
                && !Float.isInfinite(after) && !Float.isNaN(after);
        float b = valid ? before : centre;
        float a = valid ? after : centre;
        float curvature = b - 2f * centre + a;
        float offset = curvature < 0 ? 0.5f * (b - a) / curvature : 0f;
        return offset < -0.5f ? -0.5f : (offset > 0.5f ? 0.5f : offset);
    }

    /** Step 2: eq. 6 for every candidate pair of every limb; keeps pairs that pass the criteria. */
    public static Connections scorePairs(Peaks peaks, float[] pafs, int h, int w, GroupingConfig config) {
        final int c = Skeleton.NUM_PAFS;
        int n = peaks.size();
        int[] starts = new int[Skeleton.NUM_PARTS + 1];
        for (int p = 0, k = 0; p <= Skeleton.NUM_PARTS; p++) {
            while (k < n && peaks.part[k] < p) {
                k++;
            }
            starts[p] = k;
        }
        int samples = config.samples;
        float[] t = NumpyMath.linspace01(samples);
        float[] proj = new float[samples];
        float pafThreshold = (float) config.pafThreshold;
        float prior = (float) (config.distancePrior * h);
        IntList limbs = new IntList(), as = new IntList(), bs = new IntList();
        FloatList scores = new FloatList();
        for (int k = 0; k < Skeleton.NUM_LIMBS; k++) {
            int pa = Skeleton.limbA(k), pb = Skeleton.limbB(k);
            int chx = Skeleton.pafX(k), chy = Skeleton.pafY(k);
            for (int a = starts[pa]; a < starts[pa + 1]; a++) {
                for (int b = starts[pb]; b < starts[pb + 1]; b++) {
                    float dx = peaks.x[b] - peaks.x[a];
                    float dy = peaks.y[b] - peaks.y[a];
                    float length = NumpyMath.hypot(dx, dy);
                    if (!(length > 1e-6f)) {
                        continue;
                    }
                    float ux = dx / length;
                    float uy = dy / length;
                    int above = 0;
                    for (int i = 0; i < samples; i++) {
                        float sx = peaks.x[a] + t[i] * dx;
                        float sy = peaks.y[a] + t[i] * dy;
                        float vx = bilinear(pafs, h, w, c, sx, sy, chx);
                        float vy = bilinear(pafs, h, w, c, sx, sy, chy);
                        float pr = vx * ux + vy * uy;
                        proj[i] = pr;
                        if (pr > pafThreshold) {
                            above++;
                        }
                    }
                    float score = (float) ((double) NumpyMath.pairwiseSum(proj, 0, samples) / samples);
                    if (config.distancePrior > 0) {
                        score = score + Math.min(0f, prior / length - 1f);
                    }
                    double fraction = (double) above / samples;
                    if (fraction >= config.minFraction && score > 0) {
                        limbs.add(k);
                        as.add(a);
                        bs.add(b);
                        scores.add(score);
                    }
                }
            }
        }
        return new Connections(limbs.toArray(), as.toArray(), bs.toArray(), scores.toArray());
    }

    /** Bilinear sample of channel {@code ch} of HWC maps at float (x, y), edges clamped; float64 inside. */
    static float bilinear(float[] maps, int h, int w, int c, float x, float y, int ch) {
        float xc = x < 0f ? 0f : (x > w - 1f ? w - 1f : x);
        float yc = y < 0f ? 0f : (y > h - 1f ? h - 1f : y);
        int x0 = w > 1 ? Math.min((int) Math.floor(xc), w - 2) : 0;
        int y0 = h > 1 ? Math.min((int) Math.floor(yc), h - 2) : 0;
        double fx = (double) xc - x0;
        double fy = (double) yc - y0;
        int x1 = Math.min(x0 + 1, w - 1);
        int y1 = Math.min(y0 + 1, h - 1);
        double top = (double) maps[(y0 * w + x0) * c + ch] * (1 - fx) + (double) maps[(y0 * w + x1) * c + ch] * fx;
        double bottom = (double) maps[(y1 * w + x0) * c + ch] * (1 - fx) + (double) maps[(y1 * w + x1) * c + ch] * fx;
        return (float) (top * (1 - fy) + bottom * fy);
    }

    /** Step 3: greedy matching per limb and merging into people (CMU's rules). */
    public static Poses assemble(Peaks peaks, Connections conns, GroupingConfig config) {
        int m = conns.size();
        if (m == 0) {
            return Poses.empty();
        }
        // Per limb, best connection first; stable, so equal scores keep candidate order.
        int[] order = new int[m];
        for (int i = 0; i < m; i++) {
            order[i] = i;
        }
        sortByLimbThenScore(order, conns);
        final int parts = Skeleton.NUM_PARTS;
        final int newPersonLimbs = Skeleton.NUM_LIMBS - 2; // shoulder -> ear limbs never start a person
        int n = peaks.size();
        int[] owner = new int[n];
        Arrays.fill(owner, -1);
        int[] usedA = new int[n];
        int[] usedB = new int[n];
        Arrays.fill(usedA, -1);
        Arrays.fill(usedB, -1);
        int[][] peopleParts = new int[Math.max(4, m)][];
        double[] peopleScore = new double[peopleParts.length];
        int[] peopleCount = new int[peopleParts.length];
        boolean[] merged = new boolean[peopleParts.length];
        int people = 0;
        for (int oi = 0; oi < m; oi++) {
            int j = order[oi];
            int k = conns.limb[j];
            int a = conns.a[j];
            int b = conns.b[j];
            double s = conns.score[j];
            if (usedA[a] == k || usedB[b] == k) {
                continue;
            }
            usedA[a] = k;
            usedB[b] = k;
            int partA = Skeleton.limbA(k), partB = Skeleton.limbB(k);
            int pa = owner[a], pb = owner[b];
            if (pa < 0 && pb < 0) {
                if (k < newPersonLimbs) {
                    int[] ids = new int[parts];
                    Arrays.fill(ids, -1);
                    ids[partA] = a;
                    ids[partB] = b;
                    peopleParts[people] = ids;
                    peopleScore[people] = (double) peaks.score[a] + (double) peaks.score[b] + s;
                    peopleCount[people] = 2;
                    owner[a] = people;
                    owner[b] = people;
                    people++;
                }
            } else if (pa >= 0 && pb >= 0) {
                if (pa != pb) {
                    int[] p1 = peopleParts[pa], p2 = peopleParts[pb];
                    boolean disjoint = true;
                    for (int q = 0; q < parts; q++) {
                        if (p1[q] >= 0 && p2[q] >= 0) {
                            disjoint = false;
                            break;
                        }
                    }
                    if (disjoint) {
                        for (int q = 0; q < parts; q++) {
                            if (p2[q] >= 0) {
                                p1[q] = p2[q];
                                owner[p2[q]] = pa;
                            }
                        }
                        peopleScore[pa] += peopleScore[pb] + s;
                        peopleCount[pa] += peopleCount[pb];
                        merged[pb] = true;
                    }
                }
            } else {
                int person, freePart, freePeak;
                if (pa >= 0) {
                    person = pa;
                    freePart = partB;
                    freePeak = b;
                } else {
                    person = pb;
                    freePart = partA;
                    freePeak = a;
                }
                int[] p = peopleParts[person];
                if (p[freePart] < 0) {
                    p[freePart] = freePeak;
                    peopleScore[person] += (double) peaks.score[freePeak] + s;
                    peopleCount[person] += 1;
                    owner[freePeak] = person;
                }
            }
        }
        IntList kept = new IntList();
        for (int p = 0; p < people; p++) {
            if (!merged[p] && peopleCount[p] >= config.minParts
                    && peopleScore[p] / peopleCount[p] >= config.minMeanScore) {
                kept.add(p);
            }
        }
        if (kept.size == 0) {
            return Poses.empty();
        }
        int count = kept.size;
        float[] meanScore = new float[count]; // the ranking score: mean x sqrt(extent)
        for (int i = 0; i < count; i++) {
            int p = kept.get(i);
            meanScore[i] = (float) (peopleScore[p] / peopleCount[p] * sizeFactor(peaks, peopleParts[p]));
        }
        int[] rank = new int[count];
        for (int i = 0; i < count; i++) {
            rank[i] = i;
        }
        StableSort.byKeyDescending(rank, 0, count, meanScore);
        float[] keypoints = new float[count * parts * 3];
        float[] scores = new float[count];
        for (int r = 0; r < count; r++) {
            int i = rank[r];
            int[] ids = peopleParts[kept.get(i)];
            scores[r] = meanScore[i];
            for (int q = 0; q < parts; q++) {
                int peak = ids[q];
                if (peak >= 0) {
                    int o = (r * parts + q) * 3;
                    keypoints[o] = peaks.x[peak];
                    keypoints[o + 1] = peaks.y[peak];
                    keypoints[o + 2] = peaks.score[peak];
                }
            }
        }
        return new Poses(keypoints, scores);
    }

    /** sqrt of the person's extent, sqrt((x_max - x_min + 1) * (y_max - y_min + 1)) in map pixels; float64. */
    static double sizeFactor(Peaks peaks, int[] ids) {
        double minX = Double.POSITIVE_INFINITY, maxX = Double.NEGATIVE_INFINITY;
        double minY = Double.POSITIVE_INFINITY, maxY = Double.NEGATIVE_INFINITY;
        for (int peak : ids) {
            if (peak >= 0) {
                double x = peaks.x[peak], y = peaks.y[peak];
                minX = Math.min(minX, x);
                maxX = Math.max(maxX, x);
                minY = Math.min(minY, y);
                maxY = Math.max(maxY, y);
            }
        }
        return Math.sqrt(Math.sqrt((maxX - minX + 1.0) * (maxY - minY + 1.0)));
    }

    private static void sortByLimbThenScore(int[] order, Connections conns) {
        // stable by limb (counting sort keeps input order), then stable by score within each limb
        int m = order.length;
        int[] counts = new int[Skeleton.NUM_LIMBS + 1];
        for (int i = 0; i < m; i++) {
            counts[conns.limb[i] + 1]++;
        }
        for (int k = 0; k < Skeleton.NUM_LIMBS; k++) {
            counts[k + 1] += counts[k];
        }
        int[] starts = counts.clone();
        for (int i = 0; i < m; i++) {
            order[counts[conns.limb[i]]++] = i;
        }
        for (int k = 0; k < Skeleton.NUM_LIMBS; k++) {
            StableSort.byKeyDescending(order, starts[k], starts[k + 1], conns.score);
        }
    }

    /** Growable int array (no boxing on the phone). */
    static final class IntList {
        int[] data = new int[16];
        int size;

        void add(int v) {
            if (size == data.length) {
                data = Arrays.copyOf(data, size * 2);
            }
            data[size++] = v;
        }

        int get(int i) {
            return data[i];
        }

        int[] toArray() {
            return Arrays.copyOf(data, size);
        }
    }

    /** Growable float array. */
    static final class FloatList {
        float[] data = new float[16];
        int size;

        void add(float v) {
            if (size == data.length) {
                data = Arrays.copyOf(data, size * 2);
            }
            data[size++] = v;
        }

        float[] toArray() {
            return Arrays.copyOf(data, size);
        }
    }
}

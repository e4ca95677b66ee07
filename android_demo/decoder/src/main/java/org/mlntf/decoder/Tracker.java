package org.mlntf.decoder;

import java.util.ArrayList;
import java.util.List;

/**
 * People keep their identity across frames, and their keypoints stop shaking: a line-by-line port of
 * {@code mln_tf.tracking.PoseTracker}, held to it by the golden sequences of
 * android_demo/tools/tracking_golden.py (TrackingParityTest). The steps, in Python's order:
 * parts are present when finite (as float) with score &gt; partThreshold and |x|, |y| &lt;= {@link #MAX_COORD_PX};
 * a time stamp that does not increase (or lies beyond {@link #MAX_TIME_MS}) is the previous one plus
 * {@link #MIN_STEP_MS}, and a shorter step counts as that step in the velocity; tracks unseen for more than maxAgeMs end (IDs are
 * never given again); each track is looked for where its velocity carries it and where it was
 * last seen, by COCO's OKS on 18 parts with an area growing with the time unseen; all pairs are
 * assigned at once (Hungarian); matched tracks run a One Euro filter per part and axis in the
 * frame moving with the person, speeds in person sizes; people left over with enough parts start
 * tracks (at maxTracks the longest-unseen unmatched track makes room, else ID -1). All arithmetic
 * is double, as NumPy's; output keypoints are float, like {@link Poses}.
 */
public final class Tracker {
    public static final double MIN_STEP_MS = 1.0;
    /** Time stamps beyond +-this (ms) are taken as not increasing (mln_tf.tracking.MAX_TIME_MS). */
    public static final double MAX_TIME_MS = 1e15;
    /** A part further out than this (pixels) is missing (mln_tf.tracking.MAX_COORD_PX). */
    public static final double MAX_COORD_PX = 1e9;
    public static final double NO_MATCH_COST = 1e6;
    public static final double AREA_HALF_LIFE_S = 1.0;
    /** COCO's OKS sigmas in OpenPose-18 order (mln_tf.skeleton.OKS_SIGMAS; the neck as the shoulders). */
    private static final double[] OKS_SIGMAS = {0.026, 0.079, 0.079, 0.072, 0.062, 0.079, 0.072, 0.062, 0.107,
        0.087, 0.089, 0.107, 0.087, 0.089, 0.025, 0.025, 0.035, 0.035};
    private static final double EPS = Math.ulp(1.0); // np.spacing(1)
    private static final int N = Skeleton.NUM_PARTS;
    private static final double[] VAR = new double[N];

    static {
        for (int j = 0; j < N; j++) {
            VAR[j] = (2.0 * OKS_SIGMAS[j]) * (2.0 * OKS_SIGMAS[j]);
        }
    }

    /** One frame's people with their track IDs (-1: untracked) and (smoothed) keypoints, input order. */
    public static final class Tracked {
        public final int[] ids;
        /** (P, 18, 3) flattened (x, y, score), float like {@link Poses}. */
        public final float[] keypoints;

        Tracked(int[] ids, float[] keypoints) {
            this.ids = ids;
            this.keypoints = keypoints;
        }

        public int size() {
            return ids.length;
        }
    }

    private static final class Track {
        final int id;
        double lastMs;
        double area;
        double vx;
        double vy;
        final double[] raw = new double[2 * N];
        final double[] xy = new double[2 * N];
        final double[] dxy = new double[2 * N];
        final double[] partMs = new double[N];
        final boolean[] known = new boolean[N];
        final boolean[] present = new boolean[N];

        Track(int id, double t, double[] pxy, int off, boolean[] pres, int poff, double area) {
            this.id = id;
            this.lastMs = t;
            this.area = area;
            for (int j = 0; j < N; j++) {
                if (!pres[poff + j]) {
                    continue;
                }
                raw[2 * j] = xy[2 * j] = pxy[off + 2 * j];
                raw[2 * j + 1] = xy[2 * j + 1] = pxy[off + 2 * j + 1];
                partMs[j] = t;
                known[j] = true;
                present[j] = true;
            }
        }
    }

    private final TrackerConfig config;
    private final List<Track> tracks = new ArrayList<>();
    private int nextId;
    private double timeMs = Double.NaN;
    private boolean started;

    public Tracker() {
        this(TrackerConfig.DEFAULT);
    }

    public Tracker(TrackerConfig config) {
        this.config = config;
    }

    /** The next ID to be given (= IDs given so far). */
    public int nextId() {
        return nextId;
    }

    /** Live tracks. */
    public int size() {
        return tracks.size();
    }

    /** The decoder's people at {@code tMs} (e.g. the camera frame's time stamp in ms). */
    public Tracked update(Poses poses, double tMs) {
        float[] kp = poses.keypoints();
        double[] d = new double[kp.length];
        for (int i = 0; i < kp.length; i++) {
            d[i] = kp[i];
        }
        return update(d, poses.size(), tMs);
    }

    /** {@code count} people's keypoints ((P, 18, 3) flattened; NaN parts are missing) at {@code tMs}. */
    public Tracked update(double[] keypoints, int count, double tMs) {
        final TrackerConfig cfg = config;
        if (count < 0 || keypoints.length != count * N * 3) {
            throw new IllegalArgumentException("keypoints must hold people x 18 x 3 values, got " + keypoints.length
                    + " for " + count + " people");
        }
        double[] xy = new double[count * N * 2];
        boolean[] present = new boolean[count * N];
        float[] out = new float[count * N * 3];
        int[] partsOf = new int[count];
        for (int p = 0; p < count; p++) {
            for (int j = 0; j < N; j++) {
                int k = (p * N + j) * 3;
                double x = keypoints[k];
                double y = keypoints[k + 1];
                double s = keypoints[k + 2];
                boolean finite = isFinite((float) x) && isFinite((float) y) && isFinite((float) s)
                        && Math.abs(x) <= MAX_COORD_PX && Math.abs(y) <= MAX_COORD_PX;
                if (finite) {
                    xy[(p * N + j) * 2] = x;
                    xy[(p * N + j) * 2 + 1] = y;
                }
                if (finite && s > cfg.partThreshold) {
                    present[p * N + j] = true;
                    partsOf[p]++;
                    out[k] = (float) x;
                    out[k + 1] = (float) y;
                    out[k + 2] = (float) s;
                }
            }
        }
        final double t = time(tMs);

        // 2. tracks that ended
        // (a loop, not removeIf with a lambda: the Android build's dx dexer does not desugar lambdas)
        for (java.util.Iterator<Track> it = tracks.iterator(); it.hasNext(); ) {
            if (t - it.next().lastMs > cfg.maxAgeMs) {
                it.remove();
            }
        }

        // 3-5. predict, compare, assign
        int nTracks = tracks.size();
        int[][] pairs = new int[0][];
        if (nTracks > 0 && count > 0) {
            double[] agreement = new double[nTracks * count];
            boolean[] allowed = new boolean[nTracks * count];
            double[] predicted = new double[2 * N];
            double[] res = new double[3];
            boolean any = false;
            for (int i = 0; i < nTracks; i++) {
                Track tr = tracks.get(i);
                double gap = t - tr.lastMs;
                for (int j = 0; j < N; j++) {
                    predicted[2 * j] = tr.xy[2 * j] + tr.vx * gap;
                    predicted[2 * j + 1] = tr.xy[2 * j + 1] + tr.vy * gap;
                }
                double g = 1.0 + cfg.searchGrowth * gap / 1000.0;
                double area = tr.area * (g * g);
                for (int p = 0; p < count; p++) {
                    oks(predicted, tr.known, area, xy, p * N * 2, present, p * N, partsOf[p], res);
                    double s1 = res[0];
                    int shared = (int) res[1];
                    double a1 = res[2];
                    oks(tr.xy, tr.known, area, xy, p * N * 2, present, p * N, partsOf[p], res);
                    double s = Math.max(s1, res[0]);
                    int needed = Math.max(Math.min(cfg.minSharedParts, partsOf[p]), 1);
                    agreement[i * count + p] = Math.max(a1, res[2]);
                    if (shared >= needed && s >= cfg.minSimilarity) {
                        allowed[i * count + p] = true;
                        any = true;
                    }
                }
            }
            if (any) {
                double[] cost = new double[nTracks * count];
                for (int k = 0; k < cost.length; k++) {
                    // the most allowed pairs, then the most agreeing parts in all
                    cost[k] = allowed[k] ? N - agreement[k] : NO_MATCH_COST;
                }
                List<int[]> kept = new ArrayList<>();
                for (int[] pair : Assignment.solve(cost, nTracks, count)) {
                    if (allowed[pair[0] * count + pair[1]]) {
                        kept.add(pair);
                    }
                }
                pairs = kept.toArray(new int[0][]);
            }
        }

        int[] ids = new int[count];
        java.util.Arrays.fill(ids, -1);
        List<Boolean> used = new ArrayList<>();
        for (int i = 0; i < nTracks; i++) {
            used.add(Boolean.FALSE);
        }
        for (int[] pair : pairs) {
            Track tr = tracks.get(pair[0]);
            int c = pair[1];
            follow(tr, xy, c * N * 2, present, c * N, t);
            ids[c] = tr.id;
            used.set(pair[0], Boolean.TRUE);
            if (cfg.smoothing != null) {
                for (int j = 0; j < N; j++) {
                    if (present[c * N + j]) {
                        out[(c * N + j) * 3] = (float) tr.xy[2 * j];
                        out[(c * N + j) * 3 + 1] = (float) tr.xy[2 * j + 1];
                    }
                }
            }
        }

        // 7. new tracks
        for (int p = 0; p < count; p++) {
            if (ids[p] >= 0 || partsOf[p] < cfg.minSharedParts) {
                continue;
            }
            if (tracks.size() >= cfg.maxTracks) {
                int oldest = -1;
                for (int i = 0; i < tracks.size(); i++) {
                    if (!used.get(i) && (oldest < 0 || tracks.get(i).lastMs < tracks.get(oldest).lastMs)) {
                        oldest = i;
                    }
                }
                if (oldest < 0) {
                    continue;
                }
                tracks.remove(oldest);
                used.remove(oldest);
            }
            tracks.add(new Track(nextId, t, xy, p * N * 2, present, p * N,
                    boxArea(xy, p * N * 2, present, p * N)));
            ids[p] = nextId++;
            used.add(Boolean.TRUE);
        }
        return new Tracked(ids, out);
    }

    private double time(double tMs) {
        double t = Math.abs(tMs) <= MAX_TIME_MS ? tMs : Double.NaN; // NaN, infinite or absurd: no real step
        if (started && !(t > timeMs)) { // repeats, goes back, or NaN
            t = timeMs + MIN_STEP_MS;
        } else if (!started && !isFinite(t)) {
            t = 0.0;
        }
        started = true;
        timeMs = t;
        return t;
    }

    private void follow(Track tr, double[] xy, int off, boolean[] present, int poff, double t) {
        TrackerConfig.Smoothing sm = config.smoothing != null ? config.smoothing : TrackerConfig.Smoothing.DEFAULT;
        // track velocity (for prediction) from the parts seen both now and at the last sighting
        double gapMs = t - tr.lastMs;
        double mx = 0.0;
        double my = 0.0;
        int n = 0;
        for (int j = 0; j < N; j++) {
            if (present[poff + j] && tr.present[j]) {
                mx += xy[off + 2 * j] - tr.raw[2 * j];
                my += xy[off + 2 * j + 1] - tr.raw[2 * j + 1];
                n++;
            }
        }
        if (n > 0) {
            double av = smoothingAlpha(config.velocityCutoff, gapMs / 1000.0);
            double stepMs = Math.max(gapMs, MIN_STEP_MS);
            tr.vx += av * (mx / n / stepMs - tr.vx);
            tr.vy += av * (my / n / stepMs - tr.vy);
        }
        // area: this sighting's box, shrinking at most by AREA_HALF_LIFE_S
        double shrunk = tr.area * Math.pow(0.5, gapMs / 1000.0 / AREA_HALF_LIFE_S);
        tr.area = Math.max(boxArea(xy, off, present, poff), shrunk);
        double size = Math.max(Math.sqrt(tr.area), 1.0);
        // One Euro per part and axis in the frame moving with the person; parts new to the track start fresh
        for (int j = 0; j < N; j++) {
            if (!present[poff + j]) {
                continue;
            }
            if (tr.present[j]) {
                double dt = Math.max((t - tr.partMs[j]) / 1000.0, MIN_STEP_MS / 1000.0);
                double aD = smoothingAlpha(sm.dCutoff, dt);
                for (int a = 0; a < 2; a++) {
                    int k = 2 * j + a;
                    double z = xy[off + k];
                    double pred = tr.xy[k] + (a == 0 ? tr.vx : tr.vy) * (1000.0 * dt);
                    double dx = tr.dxy[k] + aD * ((z - pred) / dt - tr.dxy[k]);
                    double speed = Math.min(Math.abs(dx) / size, sm.maxSpeed);
                    double alpha = smoothingAlpha(sm.minCutoff + sm.beta * speed, dt);
                    tr.xy[k] = pred + alpha * (z - pred);
                    tr.dxy[k] = dx;
                }
            } else {
                tr.xy[2 * j] = xy[off + 2 * j];
                tr.xy[2 * j + 1] = xy[off + 2 * j + 1];
                tr.dxy[2 * j] = 0.0;
                tr.dxy[2 * j + 1] = 0.0;
            }
            tr.raw[2 * j] = xy[off + 2 * j];
            tr.raw[2 * j + 1] = xy[off + 2 * j + 1];
            tr.partMs[j] = t;
            tr.known[j] = true;
        }
        for (int j = 0; j < N; j++) {
            tr.present[j] = present[poff + j];
        }
        tr.lastMs = t;
    }

    /** The exponential smoothing factor of a first-order low-pass at {@code cutoff} Hz over {@code dtS} s. */
    public static double smoothingAlpha(double cutoff, double dtS) {
        double tau = 1.0 / (2.0 * Math.PI * cutoff);
        return 1.0 / (1.0 + tau / dtS);
    }

    /** The sigma of part {@code j} in COCO's OKS (OpenPose-18 order). */
    public static double oksSigma(int j) {
        return OKS_SIGMAS[j];
    }

    static double boxArea(double[] xy, int off, boolean[] present, int poff) {
        double x0 = Double.POSITIVE_INFINITY;
        double y0 = Double.POSITIVE_INFINITY;
        double x1 = Double.NEGATIVE_INFINITY;
        double y1 = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < N; j++) {
            if (!present[poff + j]) {
                continue;
            }
            double x = xy[off + 2 * j];
            double y = xy[off + 2 * j + 1];
            x0 = Math.min(x0, x);
            x1 = Math.max(x1, x);
            y0 = Math.min(y0, y);
            y1 = Math.max(y1, y);
        }
        return isFinite(x0) ? (x1 - x0) * (y1 - y0) : 0.0;
    }

    /**
     * {OKS, shared part count, sum of the shared parts' terms} of a track's parts at {@code pos} vs one person of
     * {@code parts} parts; the OKS is the mean over the person's parts (a part the track never saw counts 0).
     */
    private static void oks(double[] pos, boolean[] known, double area, double[] xy, int off, boolean[] present,
                            int poff, int parts, double[] result) {
        double a = Math.max(area, EPS);
        double total = 0.0;
        int count = 0;
        for (int j = 0; j < N; j++) {
            if (!(known[j] && present[poff + j])) {
                continue;
            }
            double dx = pos[2 * j] - xy[off + 2 * j];
            double dy = pos[2 * j + 1] - xy[off + 2 * j + 1];
            total += Math.exp(-(dx * dx + dy * dy) * (1.0 / (2.0 * VAR[j] * a)));
            count++;
        }
        result[0] = total / Math.max(parts, 1);
        result[1] = count;
        result[2] = total;
    }

    private static boolean isFinite(double v) {
        return !Double.isNaN(v) && !Double.isInfinite(v);
    }
}

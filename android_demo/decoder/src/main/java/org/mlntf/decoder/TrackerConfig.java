package org.mlntf.decoder;

/**
 * Tracker parameters, the same fields and defaults as {@code mln_tf.tracking.TrackerConfig} and
 * {@code SmoothingConfig} (chosen on the synthetic sequences of benchmarks/tracking_quality.py).
 * Immutable; {@code smoothing == null} keeps the detector's keypoints (IDs only).
 */
public final class TrackerConfig {
    /** One Euro parameters (mln_tf.tracking.SmoothingConfig). */
    public static final class Smoothing {
        public static final Smoothing DEFAULT = new Smoothing(1.0, 2.0, 1.0, 4.0);

        public final double minCutoff;
        public final double beta;
        public final double dCutoff;
        public final double maxSpeed;

        /** All fields, in the order of the Python dataclass; validated like Python's. */
        public Smoothing(double minCutoff, double beta, double dCutoff, double maxSpeed) {
            positive("minCutoff", minCutoff);
            positive("dCutoff", dCutoff);
            positive("maxSpeed", maxSpeed);
            if (!(beta >= 0 && !Double.isInfinite(beta))) {
                throw new IllegalArgumentException("smoothing beta must be >= 0, got " + beta);
            }
            this.minCutoff = minCutoff;
            this.beta = beta;
            this.dCutoff = dCutoff;
            this.maxSpeed = maxSpeed;
        }

        private static void positive(String name, double v) {
            if (!(v > 0 && !Double.isInfinite(v))) {
                throw new IllegalArgumentException("smoothing " + name + " must be a positive number, got " + v);
            }
        }
    }

    /** The Python defaults (checked against Python by the golden-sequence tests). */
    public static final TrackerConfig DEFAULT = new TrackerConfig(0.2, 3, 0.0, 1500.0, 64, 4.0, 2.0,
            Smoothing.DEFAULT);

    public final double minSimilarity;
    public final int minSharedParts;
    public final double partThreshold;
    public final double maxAgeMs;
    public final int maxTracks;
    public final double velocityCutoff;
    public final double searchGrowth;
    public final Smoothing smoothing;

    /** All fields, in the order of the Python dataclass; validated like Python's. */
    public TrackerConfig(double minSimilarity, int minSharedParts, double partThreshold, double maxAgeMs,
                         int maxTracks, double velocityCutoff, double searchGrowth, Smoothing smoothing) {
        if (!(minSimilarity >= 0 && minSimilarity <= 1)) {
            throw new IllegalArgumentException("minSimilarity must be in [0, 1], got " + minSimilarity);
        }
        if (minSharedParts < 1 || minSharedParts > Skeleton.NUM_PARTS) {
            throw new IllegalArgumentException("minSharedParts must be 1..18, got " + minSharedParts);
        }
        if (Double.isNaN(partThreshold) || Double.isInfinite(partThreshold)) {
            throw new IllegalArgumentException("partThreshold must be finite");
        }
        if (!(maxAgeMs >= 0 && !Double.isInfinite(maxAgeMs))) {
            throw new IllegalArgumentException("maxAgeMs must be >= 0, got " + maxAgeMs);
        }
        if (maxTracks < 1) {
            throw new IllegalArgumentException("maxTracks must be positive, got " + maxTracks);
        }
        if (!(velocityCutoff > 0 && !Double.isInfinite(velocityCutoff))) {
            throw new IllegalArgumentException("velocityCutoff must be positive, got " + velocityCutoff);
        }
        if (!(searchGrowth >= 0 && !Double.isInfinite(searchGrowth))) {
            throw new IllegalArgumentException("searchGrowth must be >= 0, got " + searchGrowth);
        }
        this.minSimilarity = minSimilarity;
        this.minSharedParts = minSharedParts;
        this.partThreshold = partThreshold;
        this.maxAgeMs = maxAgeMs;
        this.maxTracks = maxTracks;
        this.velocityCutoff = velocityCutoff;
        this.searchGrowth = searchGrowth;
        this.smoothing = smoothing;
    }

    /** A copy without smoothing (IDs only). */
    public TrackerConfig withoutSmoothing() {
        return new TrackerConfig(minSimilarity, minSharedParts, partThreshold, maxAgeMs, maxTracks, velocityCutoff,
                searchGrowth, null);
    }
}

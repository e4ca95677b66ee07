package org.mlntf.decoder;

/**
 * Decoder parameters, the same fields and defaults as {@code mln_tf.grouping.GroupingConfig}
 * (chosen on the 40 real-map images of data/peers). Immutable; {@code with...} methods return copies.
 */
public final class GroupingConfig {
    /** The Python defaults (checked against Python by the golden-vector tests). */
    /** The largest smoothSigma in map pixels (mln_tf.grouping.MAX_SMOOTH_SIGMA). */
    public static final double MAX_SMOOTH_SIGMA = 100.0;
    public static final GroupingConfig DEFAULT = new GroupingConfig(0.05, 0.5, true, 64, 10, 0.05, 0.8, 0.5, 3, 0.4);

    public final double peakThreshold;
    public final double smoothSigma;
    public final boolean refinePeaks;
    public final int maxPeaks;
    public final int samples;
    public final double pafThreshold;
    public final double minFraction;
    public final double distancePrior;
    public final int minParts;
    public final double minMeanScore;

    /** All fields, in the order of the Python dataclass; validated like Python's. */
    public GroupingConfig(double peakThreshold, double smoothSigma, boolean refinePeaks, int maxPeaks,
                          int samples, double pafThreshold, double minFraction, double distancePrior,
                          int minParts, double minMeanScore) {
        if (!(peakThreshold >= 0)) { // a part's score is its peak's value: > 0 must mean present
            throw new IllegalArgumentException("peakThreshold must be >= 0");
        }
        if (samples < 2) {
            throw new IllegalArgumentException("samples (D of eq. 6) must be >= 2");
        }
        if (maxPeaks < 1 || minParts < 1) {
            throw new IllegalArgumentException("maxPeaks and minParts must be >= 1");
        }
        if (!(smoothSigma >= 0 && smoothSigma <= MAX_SMOOTH_SIGMA)) { // its kernel has 6 sigma + 1 taps
            throw new IllegalArgumentException("smoothSigma must be in [0, 100] map pixels (0 disables smoothing)");
        }
        if (!(minFraction >= 0.0 && minFraction <= 1.0)) {
            throw new IllegalArgumentException("minFraction must be in [0, 1]");
        }
        this.peakThreshold = peakThreshold;
        this.smoothSigma = smoothSigma;
        this.refinePeaks = refinePeaks;
        this.maxPeaks = maxPeaks;
        this.samples = samples;
        this.pafThreshold = pafThreshold;
        this.minFraction = minFraction;
        this.distancePrior = distancePrior;
        this.minParts = minParts;
        this.minMeanScore = minMeanScore;
    }

    public GroupingConfig withPeakThreshold(double v) {
        return new GroupingConfig(v, smoothSigma, refinePeaks, maxPeaks, samples, pafThreshold, minFraction,
                distancePrior, minParts, minMeanScore);
    }

    public GroupingConfig withSmoothSigma(double v) {
        return new GroupingConfig(peakThreshold, v, refinePeaks, maxPeaks, samples, pafThreshold, minFraction,
                distancePrior, minParts, minMeanScore);
    }

    public GroupingConfig withRefinePeaks(boolean v) {
        return new GroupingConfig(peakThreshold, smoothSigma, v, maxPeaks, samples, pafThreshold, minFraction,
                distancePrior, minParts, minMeanScore);
    }

    public GroupingConfig withMaxPeaks(int v) {
        return new GroupingConfig(peakThreshold, smoothSigma, refinePeaks, v, samples, pafThreshold, minFraction,
                distancePrior, minParts, minMeanScore);
    }

    public GroupingConfig withSamples(int v) {
        return new GroupingConfig(peakThreshold, smoothSigma, refinePeaks, maxPeaks, v, pafThreshold, minFraction,
                distancePrior, minParts, minMeanScore);
    }

    public GroupingConfig withPafThreshold(double v) {
        return new GroupingConfig(peakThreshold, smoothSigma, refinePeaks, maxPeaks, samples, v, minFraction,
                distancePrior, minParts, minMeanScore);
    }

    public GroupingConfig withMinFraction(double v) {
        return new GroupingConfig(peakThreshold, smoothSigma, refinePeaks, maxPeaks, samples, pafThreshold, v,
                distancePrior, minParts, minMeanScore);
    }

    public GroupingConfig withDistancePrior(double v) {
        return new GroupingConfig(peakThreshold, smoothSigma, refinePeaks, maxPeaks, samples, pafThreshold,
                minFraction, v, minParts, minMeanScore);
    }

    public GroupingConfig withMinParts(int v) {
        return new GroupingConfig(peakThreshold, smoothSigma, refinePeaks, maxPeaks, samples, pafThreshold,
                minFraction, distancePrior, v, minMeanScore);
    }

    public GroupingConfig withMinMeanScore(double v) {
        return new GroupingConfig(peakThreshold, smoothSigma, refinePeaks, maxPeaks, samples, pafThreshold,
                minFraction, distancePrior, minParts, v);
    }

    @Override
    public String toString() {
        return "GroupingConfig(peakThreshold=" + peakThreshold + ", smoothSigma=" + smoothSigma
                + ", refinePeaks=" + refinePeaks + ", maxPeaks=" + maxPeaks + ", samples=" + samples
                + ", pafThreshold=" + pafThreshold + ", minFraction=" + minFraction
                + ", distancePrior=" + distancePrior + ", minParts=" + minParts
                + ", minMeanScore=" + minMeanScore + ")";
    }
}

package org.mlntf.decoder;

import java.util.Locale;

/** Largest differences seen against Python over a test run, printed once at the end. */
final class Parity {
    static double keypointPx;
    static double keypointScore;
    static double personScore;
    static double peakXY;
    static double connectionScore;
    static double upsampled;
    static double resizeF32;
    static int people;
    static int decodeCases;
    static int exactPreprocess;
    static int exactPreprocessTotal;
    static long ippValues;
    static long ippDiffering;
    static double ippMaxDiff;
    static double trackingPx;
    static int trackingCases;
    static int trackingFrames;
    static int trackingPeople;
    static int framePathFrames;
    static int framePathPeople;
    static int framePathPoints;
    static double framePathKeypointPx;
    static double framePathViewPx;
    static int yuvCases;

    private Parity() {
    }

    static synchronized String summary() {
        return String.format(Locale.ROOT,
                "decoder parity over %d cases, %d people: max |keypoint - python| %s px, part score %s, "
                        + "person score %s; peaks x/y %s, connection score %s, upsampled maps %s; "
                        + "float resize %s%n"
                        + "preprocess: %d/%d cases bit-exact; IPP cubic model: %d of %d values differ, max %s "
                        + "(normalised input; 1/256 = one grey level)%n"
                        + "tracking parity over %d cases, %d frames, %d people: IDs identical, "
                        + "max |keypoint - python| %s px%n"
                        + "frame path (YUV -> RGB -> preprocess -> replayed LiteRT maps -> decoder -> tracker -> "
                        + "overlay) over %d frames, %d people, %d drawn points: RGB and input identical, IDs identical, "
                        + "max |keypoint - python| %s px, drawn points %s px; YUV cases bit-exact: %d",
                decodeCases, people, g(keypointPx), g(keypointScore), g(personScore), g(peakXY),
                g(connectionScore), g(upsampled), g(resizeF32), exactPreprocess, exactPreprocessTotal, ippDiffering,
                ippValues, g(ippMaxDiff), trackingCases, trackingFrames, trackingPeople, g(trackingPx), framePathFrames, framePathPeople,
                framePathPoints, g(framePathKeypointPx), g(framePathViewPx), yuvCases);
    }

    private static String g(double v) {
        return v == 0 ? "0" : String.format(Locale.ROOT, "%.3g", v);
    }
}

package org.mlntf.decoder;

/**
 * People found in one image, as {@code mln_tf.grouping.Poses}: for person {@code p} and
 * OpenPose-18 part {@code j}, (x, y, score) at {@code keypoints[(p * 18 + j) * 3 + 0..2]};
 * score 0 means the part is missing. {@code scores[p]} is the person's mean score, highest first.
 */
public final class Poses {
    private static final Poses EMPTY = new Poses(new float[0], new float[0]);

    private final float[] keypoints;
    private final float[] scores;

    /** Wraps arrays (not copied): keypoints has {@code scores.length * 18 * 3} values. */
    public Poses(float[] keypoints, float[] scores) {
        if (keypoints.length != scores.length * Skeleton.NUM_PARTS * 3) {
            throw new IllegalArgumentException("keypoints must hold " + scores.length + " x 18 x 3 values, got "
                    + keypoints.length);
        }
        this.keypoints = keypoints;
        this.scores = scores;
    }

    public static Poses empty() {
        return EMPTY;
    }

    /** Number of people. */
    public int size() {
        return scores.length;
    }

    public float x(int person, int part) {
        return keypoints[(person * Skeleton.NUM_PARTS + part) * 3];
    }

    public float y(int person, int part) {
        return keypoints[(person * Skeleton.NUM_PARTS + part) * 3 + 1];
    }

    /** The part's heatmap score; 0 when the part is missing. */
    public float partScore(int person, int part) {
        return keypoints[(person * Skeleton.NUM_PARTS + part) * 3 + 2];
    }

    /** Whether the part was found (score &gt; 0, the convention of mln_tf.inference.postprocess). */
    public boolean present(int person, int part) {
        return partScore(person, part) > 0;
    }

    public float score(int person) {
        return scores[person];
    }

    /** A copy of all keypoints, (P, 18, 3) flattened. */
    public float[] keypoints() {
        return keypoints.clone();
    }

    /** A copy of the person scores. */
    public float[] scores() {
        return scores.clone();
    }

    float[] keypointsArray() {
        return keypoints;
    }
}

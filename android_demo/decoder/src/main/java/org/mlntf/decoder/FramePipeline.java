package org.mlntf.decoder;

/**
 * The app's whole per-frame path, on any JVM: an upright camera frame -> letterbox into the
 * model input ({@link Preprocess}, as {@code mln_tf.inference.preprocess}) -> {@link PoseModel}
 * -> {@link Postprocess} (as {@code mln_tf.inference.postprocess}) -> {@link Tracker} (as
 * {@code mln_tf.tracking.PoseTracker}): people in frame pixels with IDs, smoothed.
 * Not thread-safe: one frame at a time (the app's analysis thread).
 */
public final class FramePipeline {
    /** One frame's people (frame pixels, smoothed), their track IDs, and where the time went. */
    public static final class Result {
        public final Poses poses;
        public final int[] ids;
        public final int frameWidth;
        public final int frameHeight;
        public final double preprocessMs;
        public final double modelMs;
        public final double decodeMs;

        Result(Poses poses, int[] ids, int frameWidth, int frameHeight, double preprocessMs, double modelMs,
               double decodeMs) {
            this.poses = poses;
            this.ids = ids;
            this.frameWidth = frameWidth;
            this.frameHeight = frameHeight;
            this.preprocessMs = preprocessMs;
            this.modelMs = modelMs;
            this.decodeMs = decodeMs;
        }
    }

    private final PoseModel model;
    private final PostprocessConfig config;
    private final Tracker tracker;
    private final int mapHeight;
    private final int mapWidth;
    private final float[] input;
    private final float[] heatmaps;
    private final float[] pafs;

    /** The app's settings: the server's decoder defaults and tracker defaults. */
    public FramePipeline(PoseModel model) {
        this(model, PostprocessConfig.DEFAULT, TrackerConfig.DEFAULT);
    }

    public FramePipeline(PoseModel model, PostprocessConfig config, TrackerConfig tracking) {
        int h = model.inputHeight(), w = model.inputWidth();
        if (h < config.stride || w < config.stride || h % config.stride != 0 || w % config.stride != 0) {
            throw new IllegalArgumentException("model input " + h + "x" + w + " must be positive multiples of the "
                    + "stride " + config.stride);
        }
        this.model = model;
        this.config = config;
        this.tracker = new Tracker(tracking);
        mapHeight = h / config.stride;
        mapWidth = w / config.stride;
        input = new float[h * w * 3];
        heatmaps = new float[mapHeight * mapWidth * Skeleton.NUM_HEATMAPS];
        pafs = new float[mapHeight * mapWidth * Skeleton.NUM_PAFS];
    }

    public PoseModel model() {
        return model;
    }

    /** The people in {@code frame} (upright: already rotated and mirrored), captured at {@code timeMs}. */
    public Result process(RgbImage frame, double timeMs) {
        long t0 = System.nanoTime();
        Transform transform = Preprocess.letterboxInto(frame, model.inputHeight(), model.inputWidth(), input);
        long t1 = System.nanoTime();
        model.run(input, heatmaps, pafs);
        long t2 = System.nanoTime();
        Poses poses = Postprocess.postprocess(heatmaps, Skeleton.NUM_HEATMAPS, pafs, mapHeight, mapWidth, transform,
                config);
        Tracker.Tracked tracked = tracker.update(poses, timeMs);
        Poses smoothed = new Poses(tracked.keypoints, poses.scores());
        long t3 = System.nanoTime();
        return new Result(smoothed, tracked.ids, frame.width, frame.height, (t1 - t0) / 1e6, (t2 - t1) / 1e6,
                (t3 - t2) / 1e6);
    }
}

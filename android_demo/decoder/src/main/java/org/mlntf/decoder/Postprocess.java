package org.mlntf.decoder;

/**
 * One image's maps to people in original-image pixels, as
 * {@code mln_tf.inference.postprocess}: crop the maps to the part covering the image
 * (padding dropped), optionally upsample them (bicubic, as cv2.resize), group, and map every
 * keypoint back through the stride and the {@link Transform}. Missing parts stay (0, 0, 0).
 */
public final class Postprocess {
    private Postprocess() {
    }

    /**
     * @param heatmaps HWC (h, w, heatmapChannels) with 18 or 19 channels (the network output)
     * @param pafs     HWC (h, w, 38)
     */
    public static Poses postprocess(float[] heatmaps, int heatmapChannels, float[] pafs, int h, int w,
                                    Transform transform, PostprocessConfig config) {
        if (config == null) {
            config = PostprocessConfig.DEFAULT;
        }
        GroupingMaps g = groupingMaps(heatmaps, heatmapChannels, pafs, h, w, transform, config);
        Poses poses = Grouping.groupPeople(g.heatmaps, heatmapChannels, g.pafs, g.height, g.width, config.grouping);
        if (poses.size() == 0) {
            return poses;
        }
        int s = config.stride;
        float[] kp = poses.keypoints();
        float f = (float) config.upsample;
        for (int i = 0; i < kp.length; i += 3) {
            if (kp[i + 2] > 0) {
                float mx = (kp[i] + 0.5f) / f - 0.5f;
                float my = (kp[i + 1] + 0.5f) / f - 0.5f;
                kp[i] = transform.inputToImageX(Coords.mapToInput(mx, s));
                kp[i + 1] = transform.inputToImageY(Coords.mapToInput(my, s));
            } else {
                kp[i] = 0f;
                kp[i + 1] = 0f;
            }
        }
        return new Poses(kp, poses.scores());
    }

    /** The maps grouping runs on: cropped to the image content, upsampled if configured. */
    static final class GroupingMaps {
        final float[] heatmaps;
        final float[] pafs;
        final int height;
        final int width;

        GroupingMaps(float[] heatmaps, float[] pafs, int height, int width) {
            this.heatmaps = heatmaps;
            this.pafs = pafs;
            this.height = height;
            this.width = width;
        }
    }

    static GroupingMaps groupingMaps(float[] heatmaps, int heatmapChannels, float[] pafs, int h, int w,
                                     Transform transform, PostprocessConfig config) {
        if (h < 1 || w < 1 || heatmapChannels < 1 || heatmaps.length != h * w * heatmapChannels) {
            throw new IllegalArgumentException("expected one image's heatmaps (" + h + ", " + w + ", "
                    + heatmapChannels + "), got " + heatmaps.length + " values");
        }
        if (pafs.length == 0 || pafs.length % (h * w) != 0) {
            throw new IllegalArgumentException("expected one image's pafs (" + h + ", " + w + ", 38), got "
                    + pafs.length + " values");
        }
        int pafChannels = pafs.length / (h * w);
        int s = config.stride;
        int expH = transform.inputH / s, expW = transform.inputW / s;
        if (h != expH || w != expW) {
            throw new IllegalArgumentException("maps are " + h + "x" + w + " but the transform's input ("
                    + transform.inputH + ", " + transform.inputW + ") at stride " + s + " gives " + expH + "x"
                    + expW);
        }
        int rows = Math.min(h, ceilDiv(transform.contentH, s));
        int cols = Math.min(w, ceilDiv(transform.contentW, s));
        float[] hm = crop(heatmaps, h, w, heatmapChannels, rows, cols);
        float[] pf = crop(pafs, h, w, pafChannels, rows, cols);
        int f = config.upsample;
        if (f == 1) {
            return new GroupingMaps(hm, pf, rows, cols);
        }
        return new GroupingMaps(Resize.cubicF32(hm, rows, cols, heatmapChannels, rows * f, cols * f),
                Resize.cubicF32(pf, rows, cols, pafChannels, rows * f, cols * f), rows * f, cols * f);
    }

    /** With the default configuration. */
    public static Poses postprocess(float[] heatmaps, int heatmapChannels, float[] pafs, int h, int w,
                                    Transform transform) {
        return postprocess(heatmaps, heatmapChannels, pafs, h, w, transform, PostprocessConfig.DEFAULT);
    }

    private static int ceilDiv(int a, int b) {
        return -Math.floorDiv(-a, b);
    }

    private static float[] crop(float[] maps, int h, int w, int c, int rows, int cols) {
        if (rows == h && cols == w) {
            return maps;
        }
        float[] out = new float[rows * cols * c];
        for (int y = 0; y < rows; y++) {
            System.arraycopy(maps, y * w * c, out, y * cols * c, cols * c);
        }
        return out;
    }
}

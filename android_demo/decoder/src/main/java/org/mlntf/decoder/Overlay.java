package org.mlntf.decoder;

/**
 * What the app draws over the preview, as plain numbers: each person's limbs
 * ({@link Skeleton#drawnLimbs()}) and keypoints in view pixels, coloured by track ID with
 * {@code mln_tf.draw.person_colour}'s hues, as {@code mln_tf.draw.draw_poses} colours them (by person
 * without IDs; people over the tracker's cap, ID -1, grey).
 * The preview shows the upright frame scaled to fill the view and centred ({@link FillCenter}),
 * so keypoints in frame pixels map to the view the same way.
 */
public final class Overlay {
    /** mln_tf.draw.UNTRACKED, opaque ARGB. */
    public static final int UNTRACKED = 0xff000000 | (160 << 16) | (160 << 8) | 160;

    /** Lines: (x0, y0, x1, y1) per line in view pixels, {@code lineColours[i]} ARGB. */
    public final float[] lines;
    public final int[] lineColours;
    /** Dots: (x, y) per keypoint in view pixels, {@code dotColours[i]} ARGB. */
    public final float[] dots;
    public final int[] dotColours;
    public final float strokeWidth;
    public final float dotRadius;

    private Overlay(float[] lines, int[] lineColours, float[] dots, int[] dotColours, float strokeWidth) {
        this.lines = lines;
        this.lineColours = lineColours;
        this.dots = dots;
        this.dotColours = dotColours;
        this.strokeWidth = strokeWidth;
        this.dotRadius = strokeWidth * 1.3f;
    }

    /** Frame pixels -> view pixels: scale to cover the view, centred (TextureView/ImageView CENTER_CROP). */
    public static final class FillCenter {
        public final float scale;
        public final float dx;
        public final float dy;

        public FillCenter(int frameWidth, int frameHeight, int viewWidth, int viewHeight) {
            if (frameWidth < 1 || frameHeight < 1 || viewWidth < 1 || viewHeight < 1) {
                throw new IllegalArgumentException("frame " + frameWidth + "x" + frameHeight + " and view "
                        + viewWidth + "x" + viewHeight + " must be positive (width x height)");
            }
            scale = Math.max(viewWidth / (float) frameWidth, viewHeight / (float) frameHeight);
            dx = (viewWidth - frameWidth * scale) / 2f;
            dy = (viewHeight - frameHeight * scale) / 2f;
        }

        public float x(float frameX) {
            return dx + frameX * scale;
        }

        public float y(float frameY) {
            return dy + frameY * scale;
        }
    }

    /** The overlay of {@code poses} (frame pixels; {@code ids} per person, or null) on a view. */
    public static Overlay of(Poses poses, int[] ids, int frameWidth, int frameHeight, int viewWidth, int viewHeight) {
        if (ids != null && ids.length != poses.size()) {
            throw new IllegalArgumentException(poses.size() + " people but " + ids.length + " IDs");
        }
        FillCenter view = new FillCenter(frameWidth, frameHeight, viewWidth, viewHeight);
        int[] drawn = Skeleton.drawnLimbs();
        int nLines = 0, nDots = 0;
        for (int p = 0; p < poses.size(); p++) {
            for (int k : drawn) {
                if (poses.present(p, Skeleton.limbA(k)) && poses.present(p, Skeleton.limbB(k))) {
                    nLines++;
                }
            }
            for (int j = 0; j < Skeleton.NUM_PARTS; j++) {
                if (poses.present(p, j)) {
                    nDots++;
                }
            }
        }
        float[] lines = new float[nLines * 4];
        int[] lineColours = new int[nLines];
        float[] dots = new float[nDots * 2];
        int[] dotColours = new int[nDots];
        int l = 0, d = 0;
        for (int p = 0; p < poses.size(); p++) {
            int colour = ids == null ? personColour(p) : (ids[p] < 0 ? UNTRACKED : personColour(ids[p]));
            for (int k : drawn) {
                int a = Skeleton.limbA(k), b = Skeleton.limbB(k);
                if (poses.present(p, a) && poses.present(p, b)) {
                    lines[l * 4] = view.x(poses.x(p, a));
                    lines[l * 4 + 1] = view.y(poses.y(p, a));
                    lines[l * 4 + 2] = view.x(poses.x(p, b));
                    lines[l * 4 + 3] = view.y(poses.y(p, b));
                    lineColours[l++] = colour;
                }
            }
            for (int j = 0; j < Skeleton.NUM_PARTS; j++) {
                if (poses.present(p, j)) {
                    dots[d * 2] = view.x(poses.x(p, j));
                    dots[d * 2 + 1] = view.y(poses.y(p, j));
                    dotColours[d++] = colour;
                }
            }
        }
        return new Overlay(lines, lineColours, dots, dotColours, Math.max(3f, viewWidth / 180f));
    }

    /** Opaque ARGB of person/track {@code index}: mln_tf.draw.person_colour (colorsys HSV, 0.85, 1). */
    public static int personColour(int index) {
        double h = (index * 0.618033988749895) % 1.0;
        double s = 0.85, v = 1.0;
        // colorsys.hsv_to_rgb, step for step
        int i = (int) (h * 6.0);
        double f = (h * 6.0) - i;
        double p = v * (1.0 - s), q = v * (1.0 - s * f), t = v * (1.0 - s * (1.0 - f));
        double r, g, b;
        switch (i % 6) {
            case 0: r = v; g = t; b = p; break;
            case 1: r = q; g = v; b = p; break;
            case 2: r = p; g = v; b = t; break;
            case 3: r = p; g = q; b = v; break;
            case 4: r = t; g = p; b = v; break;
            default: r = v; g = p; b = q; break;
        }
        return 0xff000000 | ((int) (r * 255) << 16) | ((int) (g * 255) << 8) | (int) (b * 255);
    }
}

package org.mlntf.decoder;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.Test;

/**
 * Fuzzing the decoder and the tracker with a fixed seed, as benchmarks/fuzz.py does the Python ones:
 * arbitrary maps, transforms, configs and frames (NaN, infinity, huge values, wrong sizes, time going
 * back or beyond MAX_TIME_MS). Each call returns a valid result or throws an IllegalArgumentException
 * with a message; a well-formed input (right sizes, finite maps) must not throw at all. Anything else
 * (another exception, NaN out, a wrong size) fails. -Dmlntf.fuzzScale=100 runs 100x the cases.
 */
public class FuzzTest {
    private static final int SCALE = Integer.getInteger("mlntf.fuzzScale", 1);
    private static final double[] SPECIAL = {0, -0.0, 1, -1, 0.5, 1e-30, 1e30, -1e30, 1e300, -1e300, 1.7e308,
        Double.MIN_VALUE, Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY};
    private static final int N = Skeleton.NUM_PARTS;

    private final Random rand = new Random(1);

    private int integer(int lo, int hi) {
        return lo + rand.nextInt(hi - lo + 1);
    }

    /** Mostly in [lo, hi], sometimes extreme (NaN and infinities only when allowed). */
    private double num(double lo, double hi, double special, boolean nonfinite) {
        if (rand.nextDouble() >= special) {
            return lo + (hi - lo) * rand.nextDouble();
        }
        return SPECIAL[rand.nextInt(nonfinite ? SPECIAL.length : SPECIAL.length - 3)];
    }

    private static void documented(RuntimeException e, String what) {
        if (!(e instanceof IllegalArgumentException)) {
            throw new AssertionError(what + ": threw " + e, e);
        }
        assertTrue(what + ": an exception without a message", e.getMessage() != null && !e.getMessage().isEmpty());
    }

    private void drawPeople(float[] hm, int hmC, float[] pf, int h, int w) {
        for (int p = integer(1, 3); p > 0; p--) {
            double[] xs = new double[N];
            double[] ys = new double[N];
            for (int j = 0; j < N; j++) {
                xs[j] = num(-1, w, 0, false);
                ys[j] = num(-1, h, 0, false);
                int x = (int) Math.round(xs[j]);
                int y = (int) Math.round(ys[j]);
                if (rand.nextDouble() < 0.8 && x >= 0 && x < w && y >= 0 && y < h) {
                    hm[(y * w + x) * hmC + j] = (float) (0.5 + 0.5 * rand.nextDouble());
                }
            }
            for (int k = 0; k < Skeleton.NUM_LIMBS; k++) {
                double dx = xs[Skeleton.limbB(k)] - xs[Skeleton.limbA(k)];
                double dy = ys[Skeleton.limbB(k)] - ys[Skeleton.limbA(k)];
                double len = Math.hypot(dx, dy);
                if (!(len > 0)) {
                    continue;
                }
                for (int s = 0; s <= 10; s++) {
                    int x = (int) Math.round(xs[Skeleton.limbA(k)] + dx * s / 10);
                    int y = (int) Math.round(ys[Skeleton.limbA(k)] + dy * s / 10);
                    if (x >= 0 && x < w && y >= 0 && y < h) {
                        pf[(y * w + x) * 38 + Skeleton.pafX(k)] = (float) (dx / len);
                        pf[(y * w + x) * 38 + Skeleton.pafY(k)] = (float) (dy / len);
                    }
                }
            }
        }
    }

    @Test
    public void postprocessGivesPeopleOrAnIllegalArgument() {
        int people = 0;
        int errors = 0;
        for (int c = 0; c < 2000 * SCALE; c++) {
            String what = "case " + c;
            int h = integer(1, 8);
            int w = integer(1, 8);
            int stride = rand.nextDouble() < 0.75 ? 8 : integer(0, 16);
            PostprocessConfig config;
            try {
                GroupingConfig grouping = rand.nextDouble() < 0.75 ? GroupingConfig.DEFAULT : new GroupingConfig(
                        num(-0.1, 1, 0.05, true), num(-0.5, 2, 0.05, false), rand.nextBoolean(), integer(0, 70),
                        integer(0, 20), num(-0.5, 1, 0.05, true), num(-0.1, 1.1, 0.05, true), num(-1, 2, 0.05, true),
                        integer(0, 19), num(-1, 2, 0.05, true));
                config = new PostprocessConfig(grouping, integer(0, 3), stride);
            } catch (RuntimeException e) {
                documented(e, what + ": config");
                errors++;
                continue;
            }
            boolean consistent = rand.nextDouble() < 0.8;
            Transform transform;
            try {
                if (consistent) {
                    int inputH = h * stride;
                    int inputW = w * stride;
                    int contentH = integer(1, inputH);
                    int contentW = integer(1, inputW);
                    int imageH = integer(1, 2000);
                    int imageW = integer(1, 2000);
                    transform = new Transform(imageH, imageW, inputH, inputW, (double) contentW / imageW,
                            (double) contentH / imageH, contentH, contentW);
                } else {
                    transform = new Transform(integer(-2, 100), integer(-2, 100), integer(-2, 100), integer(-2, 100),
                            num(0, 4, 0.3, true), num(0, 4, 0.3, true), integer(-2, 100), integer(-2, 100));
                }
            } catch (RuntimeException e) {
                assertFalse(what + ": a consistent transform threw " + e, consistent);
                documented(e, what + ": transform");
                errors++;
                continue;
            }
            int hmC = rand.nextDouble() < 0.9 ? 19 : new int[] {18, 17, 20}[rand.nextInt(3)];
            int pfC = rand.nextDouble() < 0.9 ? 38 : new int[] {19, 36, 40}[rand.nextInt(3)];
            float[] hm = new float[h * w * hmC];
            float[] pf = new float[h * w * pfC];
            if (rand.nextDouble() < 0.5 && pfC == 38 && hmC >= 18) {
                drawPeople(hm, hmC, pf, h, w);
            } else {
                for (float[] maps : new float[][] {hm, pf}) {
                    for (int i = 0; i < maps.length; i++) {
                        maps[i] = (float) num(-1, 2, 0.01, false);
                    }
                }
            }
            for (int k = integer(0, 3); k > 0; k--) {
                float[] maps = rand.nextBoolean() ? hm : pf;
                maps[rand.nextInt(maps.length)] = (float) num(-1e6, 1e6, 0.8, true);
            }
            // postprocess reads the maps over the image only (the padding is cropped): finite there
            int rows = Math.min(h, -Math.floorDiv(-transform.contentH, stride));
            int cols = Math.min(w, -Math.floorDiv(-transform.contentW, stride));
            boolean finite = true;
            for (int y = 0; y < rows; y++) {
                for (int i = y * w * hmC; i < (y * w + cols) * hmC; i++) {
                    finite &= Float.isFinite(hm[i]);
                }
                for (int i = y * w * pfC; i < (y * w + cols) * pfC; i++) {
                    finite &= Float.isFinite(pf[i]);
                }
            }
            boolean wellFormed = finite && (hmC == 18 || hmC == 19) && pfC == 38 && h == transform.inputH / stride
                    && w == transform.inputW / stride;
            Poses poses;
            try {
                poses = Postprocess.postprocess(hm, hmC, pf, h, w, transform, config);
            } catch (RuntimeException e) {
                assertFalse(what + ": well-formed maps threw " + e, wellFormed);
                documented(e, what);
                errors++;
                continue;
            }
            assertTrue(what + ": malformed maps gave " + poses.size() + " people", wellFormed);
            float[] kp = poses.keypoints();
            assertEquals(what, poses.size() * N * 3, kp.length);
            assertEquals(what, poses.size(), poses.scores().length);
            for (int p = 0; p < poses.size(); p++) {
                assertTrue(what + ": a score not finite", Float.isFinite(poses.score(p)));
                int parts = 0;
                for (int j = 0; j < N; j++) {
                    assertTrue(what + ": a keypoint not finite", Float.isFinite(poses.x(p, j))
                            && Float.isFinite(poses.y(p, j)) && Float.isFinite(poses.partScore(p, j)));
                    if (poses.partScore(p, j) > 0) {
                        parts++;
                    } else {
                        assertTrue(what + ": a missing part not at 0", poses.x(p, j) == 0 && poses.y(p, j) == 0);
                    }
                }
                assertTrue(what + ": a person of " + parts + " parts", parts >= config.grouping.minParts);
            }
            people += poses.size();
        }
        assertTrue("people " + people + ", errors " + errors, people > 0 && errors > 0);
    }

    @Test
    public void trackerKeepsIdsAndFiniteKeypointsOrThrowsAnIllegalArgument() {
        int tracked = 0;
        for (int c = 0; c < 600 * SCALE; c++) {
            String what = "case " + c;
            Tracker tracker;
            TrackerConfig config;
            try {
                config = rand.nextDouble() < 0.75 ? TrackerConfig.DEFAULT : new TrackerConfig(
                        num(0, 1, 0.05, true), integer(0, 19), num(-1, 1, 0.05, true), num(0, 5000, 0.05, true),
                        integer(0, 8), num(0, 20, 0.05, true), num(0, 10, 0.05, true),
                        rand.nextBoolean() ? null : new TrackerConfig.Smoothing(num(0, 10, 0.05, true),
                                num(0, 10, 0.05, true), num(0, 10, 0.05, true), num(0, 10, 0.05, true)));
                tracker = new Tracker(config);
            } catch (RuntimeException e) {
                documented(e, what + ": config");
                continue;
            }
            int n = integer(0, 5);
            double[][] base = new double[n][2];
            for (double[] b : base) {
                b[0] = num(0, 640, 0.02, false);
                b[1] = num(0, 480, 0.02, false);
            }
            double[][] shape = new double[N][2];
            for (double[] s : shape) {
                s[0] = num(-60, 60, 0.02, false);
                s[1] = num(-60, 60, 0.02, false);
            }
            double t = num(-1e3, 1e6, 0.05, true);
            for (int frame = integer(1, 8); frame > 0; frame--) {
                double[] kp = new double[n * N * 3];
                double drift = rand.nextDouble() * 20;
                for (int p = 0; p < n; p++) {
                    for (int j = 0; j < N; j++) {
                        int k = (p * N + j) * 3;
                        kp[k] = base[p][0] + shape[j][0] + drift;
                        kp[k + 1] = base[p][1] + shape[j][1] + drift;
                        kp[k + 2] = rand.nextDouble();
                    }
                }
                for (int k = n > 0 ? integer(0, 4) : 0; k > 0; k--) {
                    kp[rand.nextInt(kp.length)] = num(-1e6, 1e6, 0.7, true);
                }
                boolean wrong = rand.nextDouble() < 0.1;
                double step = num(-50, 200, 0.2, true);
                t = Double.isFinite(step) ? t + step : step;
                Tracker.Tracked out;
                try {
                    out = tracker.update(wrong ? java.util.Arrays.copyOf(kp, Math.max(0, kp.length - 3)) : kp, n, t);
                } catch (RuntimeException e) {
                    assertTrue(what + ": a well-formed frame threw " + e, wrong && n > 0);
                    documented(e, what);
                    continue;
                }
                assertTrue(what + ": a short keypoints array was taken", !wrong || n == 0);
                assertEquals(what, n, out.ids.length);
                assertEquals(what, n * N * 3, out.keypoints.length);
                Set<Integer> ids = new HashSet<>();
                for (int id : out.ids) {
                    if (id >= 0) {
                        assertTrue(what + ": an ID twice", ids.add(id));
                    }
                }
                for (int i = 0; i < kp.length; i += 3) {
                    if (!Float.isFinite(out.keypoints[i]) || !Float.isFinite(out.keypoints[i + 1])
                            || !Float.isFinite(out.keypoints[i + 2])) {
                        fail(what + ": non-finite keypoints out at t=" + t);
                    }
                    boolean present = Float.isFinite((float) kp[i]) && Float.isFinite((float) kp[i + 1])
                            && Float.isFinite((float) kp[i + 2]) && Math.abs(kp[i]) <= Tracker.MAX_COORD_PX
                            && Math.abs(kp[i + 1]) <= Tracker.MAX_COORD_PX
                            && kp[i + 2] > config.partThreshold;
                    if (!present) {
                        assertTrue(what + ": a missing part not at 0", out.keypoints[i] == 0 && out.keypoints[i + 2] == 0);
                    }
                }
                tracked += ids.size();
            }
        }
        assertTrue(tracked > 0);
    }
}

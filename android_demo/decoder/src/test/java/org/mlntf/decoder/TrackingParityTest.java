package org.mlntf.decoder;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.Test;

/** Same frames -> same IDs and smoothed keypoints as mln_tf.tracking.PoseTracker on every golden sequence. */
public class TrackingParityTest {
    @SuppressWarnings("unchecked")
    private static Map<String, Object> golden() throws IOException {
        File file = new File(Golden.get().dir, "tracking.json");
        String text = new String(Files.readAllBytes(file.toPath()), StandardCharsets.UTF_8);
        Map<String, Object> g = (Map<String, Object>) Json.parse(text);
        assertEquals("tracking golden format", 1, ((Number) g.get("format")).intValue());
        return g;
    }

    private static double num(Object v) {
        return v == null ? Double.NaN : ((Number) v).doubleValue();
    }

    @SuppressWarnings("unchecked")
    static TrackerConfig config(Map<String, Object> c) {
        Map<String, Object> s = (Map<String, Object>) c.get("smoothing");
        TrackerConfig.Smoothing smoothing = s == null ? null : new TrackerConfig.Smoothing(
                Golden.num(s, "min_cutoff"), Golden.num(s, "beta"), Golden.num(s, "d_cutoff"),
                Golden.num(s, "max_speed"));
        return new TrackerConfig(Golden.num(c, "min_similarity"), Golden.integer(c, "min_shared_parts"),
                Golden.num(c, "part_threshold"), Golden.num(c, "max_age_ms"), Golden.integer(c, "max_tracks"),
                Golden.num(c, "velocity_cutoff"), Golden.num(c, "search_growth"), smoothing);
    }

    @Test
    @SuppressWarnings("unchecked")
    public void defaultsAndConstantsArePythons() throws IOException {
        Map<String, Object> ref = Golden.obj(golden(), "reference");
        TrackerConfig want = config(Golden.obj(ref, "tracker_defaults"));
        TrackerConfig have = TrackerConfig.DEFAULT;
        assertEquals(want.minSimilarity, have.minSimilarity, 0);
        assertEquals(want.minSharedParts, have.minSharedParts);
        assertEquals(want.partThreshold, have.partThreshold, 0);
        assertEquals(want.maxAgeMs, have.maxAgeMs, 0);
        assertEquals(want.maxTracks, have.maxTracks);
        assertEquals(want.velocityCutoff, have.velocityCutoff, 0);
        assertEquals(want.searchGrowth, have.searchGrowth, 0);
        assertEquals(want.smoothing.minCutoff, have.smoothing.minCutoff, 0);
        assertEquals(want.smoothing.beta, have.smoothing.beta, 0);
        assertEquals(want.smoothing.dCutoff, have.smoothing.dCutoff, 0);
        assertEquals(want.smoothing.maxSpeed, have.smoothing.maxSpeed, 0);
        double[] sigmas = Golden.doubles(ref, "oks_sigmas");
        for (int j = 0; j < sigmas.length; j++) {
            assertEquals(sigmas[j], Tracker.oksSigma(j), 0);
        }
        assertEquals(Golden.num(ref, "min_step_ms"), Tracker.MIN_STEP_MS, 0);
        assertEquals(Golden.num(ref, "no_match_cost"), Tracker.NO_MATCH_COST, 0);
        assertEquals(Golden.num(ref, "area_half_life_s"), Tracker.AREA_HALF_LIFE_S, 0);
    }

    @Test
    @SuppressWarnings("unchecked")
    public void everyGoldenSequence() throws IOException {
        List<Object> cases = Golden.list(golden(), "cases");
        assertTrue(cases.size() >= 7);
        for (Object o : cases) {
            Map<String, Object> c = (Map<String, Object>) o;
            String name = (String) c.get("name");
            Tracker tracker = new Tracker(config(Golden.obj(c, "config")));
            int k = 0;
            for (Object fo : Golden.list(c, "frames")) {
                Map<String, Object> f = (Map<String, Object>) fo;
                List<Object> people = Golden.list(f, "keypoints");
                double[] kp = new double[people.size() * 54];
                for (int p = 0; p < people.size(); p++) {
                    List<Object> values = (List<Object>) people.get(p);
                    for (int i = 0; i < 54; i++) {
                        kp[p * 54 + i] = num(values.get(i));
                    }
                }
                Tracker.Tracked got = tracker.update(kp, people.size(), num(f.get("t")));
                assertArrayEquals(name + " frame " + k + ": IDs", Golden.ints(f, "ids"), got.ids);
                List<Object> out = Golden.list(f, "out");
                double worst = 0;
                for (int p = 0; p < out.size(); p++) {
                    List<Object> values = (List<Object>) out.get(p);
                    for (int i = 0; i < 54; i++) {
                        worst = Math.max(worst, Math.abs(got.keypoints[p * 54 + i] - num(values.get(i))));
                    }
                }
                if (worst > 1e-5) {
                    fail(name + " frame " + k + ": keypoints differ by " + worst);
                }
                Parity.trackingPx = Math.max(Parity.trackingPx, worst);
                Parity.trackingFrames++;
                Parity.trackingPeople += people.size();
                k++;
            }
            assertEquals(name + ": IDs given", Golden.integer(c, "tracks"), tracker.nextId());
            Parity.trackingCases++;
        }
    }

    @Test
    public void assignmentIsOptimalOnSmallMatrices() {
        Random rng = new Random(1);
        for (int trial = 0; trial < 300; trial++) {
            int rows = 1 + rng.nextInt(5);
            int cols = 1 + rng.nextInt(5);
            double[] cost = new double[rows * cols];
            for (int i = 0; i < cost.length; i++) {
                cost[i] = rng.nextDouble() < 0.3 ? Tracker.NO_MATCH_COST : rng.nextDouble();
            }
            int[][] pairs = Assignment.solve(cost, rows, cols);
            assertEquals(Math.min(rows, cols), pairs.length);
            double total = 0;
            for (int[] p : pairs) {
                total += cost[p[0] * cols + p[1]];
            }
            assertEquals("trial " + trial, best(cost, rows, cols, 0, new boolean[cols], 0), total, 1e-6);
        }
    }

    private static double best(double[] cost, int rows, int cols, int r, boolean[] taken, int skipped) {
        if (r == rows) {
            return 0;
        }
        double b = Double.POSITIVE_INFINITY;
        if (rows - cols > skipped) { // more rows than columns: a row may stay unassigned
            b = best(cost, rows, cols, r + 1, taken, skipped + 1);
        }
        for (int c = 0; c < cols; c++) {
            if (!taken[c]) {
                taken[c] = true;
                b = Math.min(b, cost[r * cols + c] + best(cost, rows, cols, r + 1, taken, skipped));
                taken[c] = false;
            }
        }
        return b;
    }

    @Test
    public void badInputIsOneClearError() {
        try {
            new Tracker().update(new double[10], 1, 0);
            fail("wrong length accepted");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage().contains("people x 18 x 3"));
        }
        try {
            new TrackerConfig.Smoothing(0, 1, 1, 1);
            fail("min cutoff 0 accepted");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage().contains("minCutoff"));
        }
        assertEquals(0, new Tracker().update(Poses.empty(), 0).size());
    }
}

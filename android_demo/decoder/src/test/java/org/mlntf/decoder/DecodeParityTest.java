package org.mlntf.decoder;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.Parameterized;
import org.junit.runners.Parameterized.Parameters;

/**
 * Same maps -> same people as mln_tf.inference.postprocess: same count, keypoints within
 * 1e-3 px, scores within 1e-5 (the parity bar); intermediate peaks and connections too.
 */
@RunWith(Parameterized.class)
public class DecodeParityTest {
    static final double KEYPOINT_PX = 1e-3;
    static final double SCORE = 1e-5;

    @Parameters(name = "{0}")
    public static Collection<Object[]> cases() throws IOException {
        List<Object[]> out = new ArrayList<>();
        for (Map<String, Object> c : Golden.get().cases("decode")) {
            out.add(new Object[] {c.get("name"), c});
        }
        return out;
    }

    private final String name;
    private final Map<String, Object> c;

    public DecodeParityTest(String name, Map<String, Object> c) {
        this.name = name;
        this.c = c;
    }

    @Test
    public void samePeopleAsPython() throws IOException {
        Golden golden = Golden.get();
        Map<String, Npy> expected = golden.load((String) c.get("file"));
        Map<String, Npy> maps = c.containsKey("maps_file") ? golden.loadFromRoot((String) c.get("maps_file")) : expected;
        float[] hm = maps.get("heatmaps").floats();
        float[] pf = maps.get("pafs").floats();
        int[] hw = Golden.ints(c, "maps_hw");
        int channels = Golden.integer(c, "heatmap_channels");
        assertArrayEquals(new int[] {hw[0], hw[1], channels}, maps.get("heatmaps").shape);
        Transform t = Golden.transform(c);
        PostprocessConfig config = Golden.postprocess(c);

        // Step by step first: a mismatch is easier to read here than in the final people.
        Postprocess.GroupingMaps g = Postprocess.groupingMaps(hm, channels, pf, hw[0], hw[1], t, config);
        assertArrayEquals(name + ": grouping map size", Golden.ints(c, "group_hw"), new int[] {g.height, g.width});
        if (config.upsample > 1) {
            checkSamples("hm", g.heatmaps, expected);
            checkSamples("pf", g.pafs, expected);
        }
        Grouping.Peaks peaks = Grouping.findPeaks(g.heatmaps, channels, g.height, g.width, config.grouping);
        assertArrayEquals(name + ": peak parts", expected.get("peaks_part").ints(), peaks.part);
        double peakDiff = Math.max(maxDiff(expected.get("peaks_x").floats(), peaks.x),
                maxDiff(expected.get("peaks_y").floats(), peaks.y));
        assertTrue(name + ": peak x/y differ by " + peakDiff, peakDiff <= 1e-4);
        assertTrue(name + ": peak scores", maxDiff(expected.get("peaks_score").floats(), peaks.score) <= SCORE);
        Grouping.Connections conns = Grouping.scorePairs(peaks, g.pafs, g.height, g.width, config.grouping);
        assertArrayEquals(name + ": connection limbs", expected.get("conn_limb").ints(), conns.limb);
        assertArrayEquals(name + ": connection a", expected.get("conn_a").ints(), conns.a);
        assertArrayEquals(name + ": connection b", expected.get("conn_b").ints(), conns.b);
        double connDiff = maxDiff(expected.get("conn_score").floats(), conns.score);
        assertTrue(name + ": connection scores differ by " + connDiff, connDiff <= SCORE);

        Poses poses = Postprocess.postprocess(hm, channels, pf, hw[0], hw[1], t, config);
        float[] kp = expected.get("keypoints").floats();
        float[] scores = expected.get("scores").floats();
        assertEquals(name + ": number of people", scores.length, poses.size());
        assertEquals(Golden.integer(c, "people"), poses.size());
        float[] got = poses.keypoints();
        double px = 0, partScore = 0;
        for (int i = 0; i < kp.length; i += 3) {
            assertEquals(name + ": part presence at " + i / 3, kp[i + 2] > 0, got[i + 2] > 0);
            px = Math.max(px, Math.max(Math.abs(kp[i] - got[i]), Math.abs(kp[i + 1] - got[i + 1])));
            partScore = Math.max(partScore, Math.abs(kp[i + 2] - got[i + 2]));
        }
        double personScore = maxDiff(scores, poses.scores());
        assertTrue(name + ": keypoints differ by " + px + " px", px <= KEYPOINT_PX);
        assertTrue(name + ": part scores differ by " + partScore, partScore <= SCORE);
        assertTrue(name + ": person scores differ by " + personScore, personScore <= SCORE);
        synchronized (Parity.class) {
            Parity.decodeCases++;
            Parity.people += poses.size();
            Parity.keypointPx = Math.max(Parity.keypointPx, px);
            Parity.keypointScore = Math.max(Parity.keypointScore, partScore);
            Parity.personScore = Math.max(Parity.personScore, personScore);
            Parity.peakXY = Math.max(Parity.peakXY, peakDiff);
            Parity.connectionScore = Math.max(Parity.connectionScore, connDiff);
        }
    }

    private void checkSamples(String key, float[] maps, Map<String, Npy> expected) {
        long[] idx = expected.get("upsampled_" + key + "_index").longs();
        float[] want = expected.get("upsampled_" + key + "_value").floats();
        double d = 0;
        for (int i = 0; i < idx.length; i++) {
            d = Math.max(d, Math.abs(maps[(int) idx[i]] - want[i]));
        }
        assertTrue(name + ": upsampled " + key + " differs by " + d, d <= 1e-6);
        synchronized (Parity.class) {
            Parity.upsampled = Math.max(Parity.upsampled, d);
        }
    }

    static double maxDiff(float[] want, float[] got) {
        assertEquals("array length", want.length, got.length);
        double d = 0;
        for (int i = 0; i < want.length; i++) {
            d = Math.max(d, Math.abs((double) want[i] - got[i]));
        }
        return d;
    }
}

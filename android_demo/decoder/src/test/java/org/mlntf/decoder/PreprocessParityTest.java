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
 * Same image -> same network input as mln_tf.inference.preprocess. Bit-exact for INTER_AREA
 * (shrinking), for copies and for cv2's own fixed-point INTER_CUBIC (cases run with IPP off).
 * cv2's default INTER_CUBIC on x86-64 runs in Intel IPP; our float model of it must stay
 * within one grey level (1/256 of the normalised input) on at most 0.1% of the values.
 */
@RunWith(Parameterized.class)
public class PreprocessParityTest {
    static final double IPP_MAX_DIFF = 1.0 / 256 + 1e-7;
    static final double IPP_MAX_SHARE = 1e-3;
    private static Map<String, Npy> images;

    @Parameters(name = "{0}")
    public static Collection<Object[]> cases() throws IOException {
        List<Object[]> out = new ArrayList<>();
        for (Map<String, Object> c : Golden.get().cases("preprocess")) {
            out.add(new Object[] {c.get("name"), c});
        }
        return out;
    }

    private final String name;
    private final Map<String, Object> c;

    public PreprocessParityTest(String name, Map<String, Object> c) {
        this.name = name;
        this.c = c;
    }

    private static synchronized Npy image(String key) throws IOException {
        if (images == null) {
            images = Golden.get().load("images.npz");
        }
        return images.get(key);
    }

    static RgbImage toRgb(Npy img) {
        int[] s = img.shape;
        byte[] px = img.bytes();
        if (s.length == 2) {
            return RgbImage.fromGray(px, s[0], s[1]);
        }
        if (s[2] == 4) {
            return RgbImage.fromRgba(px, 0, s[0], s[1], s[1] * 4, 4);
        }
        return new RgbImage(px, s[0], s[1]);
    }

    @Test
    public void sameInputAsPython() throws IOException {
        RgbImage img = toRgb(image((String) c.get("image")));
        boolean ipp = (Boolean) c.get("ipp");
        Resize.CubicMode mode = ipp ? Resize.CubicMode.IPP_FLOAT : Resize.CubicMode.OPENCV_FIXED_POINT;
        Preprocess.Result r;
        if (c.containsKey("input_hw")) {
            int[] hw = Golden.ints(c, "input_hw");
            r = Preprocess.letterbox(img, hw[0], hw[1], 8, mode);
        } else {
            r = Preprocess.toHeight(img, Golden.integer(c, "input_height"), 8, mode);
        }
        Transform want = Golden.transform(c);
        Transform got = r.transform;
        assertArrayEquals(name + ": transform sizes",
                new int[] {want.imageH, want.imageW, want.inputH, want.inputW, want.contentH, want.contentW},
                new int[] {got.imageH, got.imageW, got.inputH, got.inputW, got.contentH, got.contentW});
        assertEquals(name + ": scale x", want.scaleX, got.scaleX, 0.0);
        assertEquals(name + ": scale y", want.scaleY, got.scaleY, 0.0);
        byte[] levels = Golden.get().load((String) c.get("file")).get("levels").bytes();
        assertEquals(levels.length, r.input.length);
        long differing = 0;
        double max = 0;
        for (int i = 0; i < levels.length; i++) {
            float x = (levels[i] & 0xff) * Preprocess.PIXEL_SCALE + Preprocess.PIXEL_OFFSET;
            double d = Math.abs(x - r.input[i]);
            if (d > 0) {
                differing++;
                max = Math.max(max, d);
            }
        }
        boolean ippCubic = ipp && "cubic".equals(c.get("interpolation")) && got.contentH != img.height;
        synchronized (Parity.class) {
            if (ippCubic) {
                Parity.ippValues += levels.length;
                Parity.ippDiffering += differing;
                Parity.ippMaxDiff = Math.max(Parity.ippMaxDiff, max);
            }
            Parity.exactPreprocessTotal++;
            if (differing == 0) {
                Parity.exactPreprocess++;
            }
        }
        if (ippCubic) {
            assertTrue(name + ": differs by " + max, max <= IPP_MAX_DIFF);
            assertTrue(name + ": " + differing + " of " + levels.length + " values differ",
                    differing <= IPP_MAX_SHARE * levels.length);
        } else {
            assertEquals(name + ": values differing from Python (max " + max + ")", 0, differing);
        }
    }
}

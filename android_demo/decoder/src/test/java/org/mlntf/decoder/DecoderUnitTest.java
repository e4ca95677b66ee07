package org.mlntf.decoder;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import org.junit.Test;

/** Behaviour that has no Python counterpart to compare with: camera conversions, errors. */
public class DecoderUnitTest {
    private static RgbImage numbered(int h, int w) {
        byte[] px = new byte[h * w * 3];
        for (int i = 0; i < h * w; i++) {
            px[i * 3] = (byte) i;
            px[i * 3 + 1] = (byte) (i + 100);
            px[i * 3 + 2] = (byte) (i + 200);
        }
        return new RgbImage(px, h, w);
    }

    private static int red(RgbImage img, int y, int x) {
        return img.pixels[(y * img.width + x) * 3] & 0xff;
    }

    @Test
    public void rotationsAreClockwiseAndInvertible() {
        RgbImage img = numbered(2, 3); // red = index: row 0 = 0 1 2, row 1 = 3 4 5
        RgbImage r90 = img.rotate(90);
        assertEquals(3, r90.height);
        assertEquals(2, r90.width);
        assertEquals(3, red(r90, 0, 0)); // bottom-left comes to the top-left
        assertEquals(0, red(r90, 0, 1));
        assertEquals(5, red(r90, 2, 0));
        assertEquals(5, red(img.rotate(180), 0, 0));
        assertEquals(2, red(img.rotate(270), 0, 0));
        assertArrayEquals(img.pixels, img.rotate(90).rotate(270).pixels);
        assertArrayEquals(img.pixels, img.rotate(-90).rotate(450).pixels);
        assertArrayEquals(img.pixels, img.mirror().mirror().pixels);
        assertEquals(2, red(img.mirror(), 0, 0));
        try {
            img.rotate(45);
            fail();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage().contains("multiple of 90"));
        }
    }

    @Test
    public void rgbaWithRowPaddingDropsAlpha() {
        int h = 2, w = 2, stride = 12; // 4 bytes of row padding
        byte[] rgba = new byte[h * stride];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int o = y * stride + x * 4;
                rgba[o] = (byte) (10 * y + x);
                rgba[o + 1] = 1;
                rgba[o + 2] = 2;
                rgba[o + 3] = (byte) 255;
            }
        }
        RgbImage img = RgbImage.fromRgba(rgba, 0, h, w, stride, 4);
        assertArrayEquals(new byte[] {0, 1, 2, 1, 1, 2, 10, 1, 2, 11, 1, 2}, img.pixels);
        RgbImage argb = RgbImage.fromArgb(new int[] {0xff102030, 0x00405060}, 1, 2);
        assertArrayEquals(new byte[] {0x10, 0x20, 0x30, 0x40, 0x50, 0x60}, argb.pixels);
        try {
            RgbImage.fromRgba(new byte[10], 0, 2, 2, 8, 4);
            fail();
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage().contains("too small"));
        }
    }

    @Test
    public void badMapsAreClearErrors() {
        float[] hm = new float[4 * 4 * 19];
        float[] pf = new float[4 * 4 * 38];
        expect("18 or 19", () -> Grouping.groupPeople(new float[4 * 4 * 17], 17, pf, 4, 4, GroupingConfig.DEFAULT));
        expect("pafs", () -> Grouping.groupPeople(hm, 19, new float[4 * 5 * 38], 4, 4, GroupingConfig.DEFAULT));
        float[] bad = hm.clone();
        bad[3] = Float.NaN;
        expect("NaN", () -> Grouping.groupPeople(bad, 19, pf, 4, 4, GroupingConfig.DEFAULT));
        Transform t = Transform.fromResize(40, 40, 40, 40); // 5x5 maps expected
        expect("at stride 8 gives 5x5", () -> Postprocess.postprocess(hm, 19, pf, 4, 4, t));
        expect("samples", () -> GroupingConfig.DEFAULT.withSamples(1));
        expect("minFraction", () -> GroupingConfig.DEFAULT.withMinFraction(1.5));
        expect("multiples of 8", () -> Preprocess.planLetterbox(10, 10, 100, 96, 8));
        expect("input_height must be >= 8", () -> Preprocess.planToHeight(10, 10, 4, 8));
        expect("needs 12 bytes", () -> new RgbImage(new byte[11], 2, 2));
        expect("only shrinks", () -> Resize.areaU8(new byte[12], 2, 2, 3, 4, 4));
    }

    @Test
    public void emptyMapsGiveNoPeople() {
        float[] hm = new float[10 * 12 * 19];
        float[] pf = new float[10 * 12 * 38];
        Poses p = Postprocess.postprocess(hm, 19, pf, 10, 12, Transform.fromResize(80, 96, 80, 96));
        assertEquals(0, p.size());
        assertEquals(0, p.keypoints().length);
    }

    @Test
    public void stableSortKeepsTiesInOrder() {
        float[] key = {0.5f, 0.9f, 0.5f, 0.1f, 0.9f, 0.5f, 0f, -0f, 0.5f, 0.3f, 0.5f, 0.9f, 0.2f, 0.5f};
        int[] idx = new int[key.length];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = i;
        }
        StableSort.byKeyDescending(idx, 0, idx.length, key);
        assertArrayEquals(new int[] {1, 4, 11, 0, 2, 5, 8, 10, 13, 9, 12, 3, 6, 7}, idx);
    }

    @Test
    public void halfFloatDecodingIsExact() {
        assertEquals(1.0f, Npy.halfToFloat((short) 0x3c00), 0f);
        assertEquals(-2.0f, Npy.halfToFloat((short) 0xc000), 0f);
        assertEquals(65504f, Npy.halfToFloat((short) 0x7bff), 0f);
        assertEquals((float) Math.pow(2, -24), Npy.halfToFloat((short) 0x0001), 0f);
        assertEquals(0.333251953125f, Npy.halfToFloat((short) 0x3555), 0f);
        assertTrue(Float.isInfinite(Npy.halfToFloat((short) 0x7c00)));
    }

    @Test
    public void letterboxIntoReusesTheBuffer() {
        RgbImage img = numbered(30, 40);
        float[] buf = new float[16 * 24 * 3];
        java.util.Arrays.fill(buf, 7f);
        Transform t = Preprocess.letterboxInto(img, 16, 24, buf);
        Preprocess.Result r = Preprocess.letterbox(img, 16, 24);
        assertArrayEquals(r.input, buf, 0f);
        assertEquals(16, t.contentH); // s = min(16/30, 24/40): height-bound, width 40 * 8/15 -> 21
        assertEquals(21, t.contentW);
        assertEquals(0f, buf[(15 * 24 + 23) * 3], 0f); // padding is grey (0 after normalisation)
    }

    private interface Body {
        void run();
    }

    private static void expect(String fragment, Body body) {
        try {
            body.run();
        } catch (IllegalArgumentException e) {
            assertTrue("message '" + e.getMessage() + "' should mention '" + fragment + "'",
                    e.getMessage().contains(fragment));
            return;
        }
        fail("expected an IllegalArgumentException mentioning '" + fragment + "'");
    }
}

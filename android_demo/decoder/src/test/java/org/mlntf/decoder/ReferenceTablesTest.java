package org.mlntf.decoder;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * Everything the Java side copies from Python (generated or not) matches the values the
 * golden writer exported: skeleton tables, config defaults, constants, Gaussian taps, and
 * the float32 resize used for upsampling.
 */
public class ReferenceTablesTest {
    @Test
    public void skeletonMatchesPython() throws IOException {
        Map<String, Object> sk = Golden.obj(Golden.get().reference(), "skeleton");
        List<Object> parts = Golden.list(sk, "parts");
        assertEquals(parts.size(), Skeleton.NUM_PARTS);
        for (int j = 0; j < parts.size(); j++) {
            assertEquals(parts.get(j), Skeleton.partName(j));
        }
        List<Object> limbs = Golden.list(sk, "limbs");
        List<Object> channels = Golden.list(sk, "paf_channels");
        assertEquals(limbs.size(), Skeleton.NUM_LIMBS);
        assertEquals(2 * limbs.size(), Skeleton.NUM_PAFS);
        assertEquals(parts.size() + 1, Skeleton.NUM_HEATMAPS);
        for (int k = 0; k < limbs.size(); k++) {
            List<?> l = (List<?>) limbs.get(k);
            List<?> ch = (List<?>) channels.get(k);
            assertEquals(((Number) l.get(0)).intValue(), Skeleton.limbA(k));
            assertEquals(((Number) l.get(1)).intValue(), Skeleton.limbB(k));
            assertEquals(((Number) ch.get(0)).intValue(), Skeleton.pafX(k));
            assertEquals(((Number) ch.get(1)).intValue(), Skeleton.pafY(k));
        }
        assertArrayEquals(Golden.ints(sk, "drawn_limbs"), Skeleton.drawnLimbs());
    }

    @Test
    public void defaultsMatchPython() throws IOException {
        Map<String, Object> ref = Golden.get().reference();
        GroupingConfig py = Golden.grouping(Golden.obj(ref, "grouping_defaults"));
        assertEquals(py.toString(), GroupingConfig.DEFAULT.toString());
        Map<String, Object> post = Golden.obj(ref, "postprocess_defaults");
        assertEquals(Golden.integer(post, "upsample"), PostprocessConfig.DEFAULT.upsample);
        assertEquals(Golden.integer(post, "stride"), PostprocessConfig.DEFAULT.stride);
        assertEquals(Golden.integer(ref, "default_input_height"), Preprocess.DEFAULT_INPUT_HEIGHT);
        assertEquals(Golden.num(ref, "pixel_scale"), Preprocess.PIXEL_SCALE, 0.0);
        assertEquals(Golden.num(ref, "pixel_offset"), Preprocess.PIXEL_OFFSET, 0.0);
    }

    @Test
    public void gaussianTapsAreBitExact() throws IOException {
        for (Object o : Golden.list(Golden.get().reference(), "gaussian_kernels")) {
            @SuppressWarnings("unchecked")
            Map<String, Object> k = (Map<String, Object>) o;
            double[] want = Golden.doubles(k, "taps");
            float[] got = Grouping.gaussianKernel(Golden.num(k, "sigma"));
            assertEquals(want.length, got.length);
            for (int i = 0; i < got.length; i++) {
                assertEquals("sigma " + k.get("sigma") + " tap " + i, (float) want[i], got[i], 0f);
            }
        }
    }

    @Test
    public void floatCubicResizeIsBitExact() throws IOException {
        Golden golden = Golden.get();
        for (Map<String, Object> c : golden.cases("resize_f32")) {
            Map<String, Npy> d = golden.load((String) c.get("file"));
            Npy src = d.get("src");
            int[] dst = Golden.ints(c, "dst_hw");
            float[] got = Resize.cubicF32(src.floats(), src.shape[0], src.shape[1], src.shape[2], dst[0], dst[1]);
            double diff = DecodeParityTest.maxDiff(d.get("dst").floats(), got);
            synchronized (Parity.class) {
                Parity.resizeF32 = Math.max(Parity.resizeF32, diff);
            }
            assertEquals(c.get("name") + "", 0.0, diff, 0.0);
        }
    }
}

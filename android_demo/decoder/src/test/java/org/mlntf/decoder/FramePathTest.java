package org.mlntf.decoder;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.util.Map;
import java.util.zip.CRC32;
import org.junit.Test;
import org.mlntf.decoder.GoldenFrames.ReplayModel;

/**
 * The app's whole frame path on the JVM against Python (android_demo/tools/write_frame_golden.py):
 * YUV_420_888 camera planes -> {@link Yuv420} -> upright -> {@link FramePipeline} (preprocess,
 * a model replaying the maps Python's LiteRT computed for the APK's .tflite, decoder, tracker)
 * -> {@link Overlay}: the same RGB, network input, people, IDs, keypoints and drawn points.
 */
public class FramePathTest {
    private static Map<String, Object> index;

    private static synchronized void load() throws IOException {
        index = GoldenFrames.index();
    }

    private static Npy array(String name) {
        return GoldenFrames.array(name);
    }

    @Test
    @SuppressWarnings("unchecked")
    public void cameraFramesGiveThePeopleIdsAndOverlayOfPython() throws IOException {
        load();
        int[] inputHw = Golden.ints(index, "input_hw");
        int[] view = Golden.ints(index, "view_wh");
        int frames = 0, people = 0, points = 0;
        double worstKeypoint = 0, worstView = 0;
        for (Object o : Golden.list(index, "sequences")) {
            Map<String, Object> seq = (Map<String, Object>) o;
            String name = (String) seq.get("name");
            ReplayModel model = new ReplayModel(inputHw[0], inputHw[1]);
            FramePipeline pipeline = new FramePipeline(model); // the app's settings
            for (GoldenFrames.Frame golden : GoldenFrames.frames(name)) {
                String key = golden.key;
                Map<String, Object> frame = golden.fields;
                RgbImage rgb = golden.upright;
                CRC32 crc = new CRC32();
                crc.update(rgb.pixels);
                assertEquals(key + ": upright RGB (crc32) equals OpenCV's", ((Number) frame.get("rgb_crc32")).longValue(),
                        crc.getValue());
                golden.replayOn(model);
                FramePipeline.Result r = pipeline.process(rgb, golden.timeMs);
                int want = Golden.integer(frame, "people");
                assertEquals(key + ": people", want, r.poses.size());
                assertArrayEquals(key + ": track IDs", array(key + "_ids").ints(), r.ids);
                assertArrayEquals(key + ": person scores", array(key + "_scores").floats(), r.poses.scores(), 1e-6f);
                float[] kp = r.poses.keypoints(), wantKp = array(key + "_keypoints").floats();
                assertEquals(key + ": keypoint count", wantKp.length, kp.length);
                for (int i = 0; i < kp.length; i++) {
                    double d = Math.abs(kp[i] - wantKp[i]);
                    worstKeypoint = Math.max(worstKeypoint, d);
                    assertTrue(key + ": keypoint value " + i + " " + kp[i] + " vs Python " + wantKp[i], d <= 1e-3);
                }
                Overlay overlay = Overlay.of(r.poses, r.ids, r.frameWidth, r.frameHeight, view[0], view[1]);
                assertArrayEquals(key + ": line colours", array(key + "_line_colours").ints(), overlay.lineColours);
                assertArrayEquals(key + ": dot colours", array(key + "_dot_colours").ints(), overlay.dotColours);
                worstView = Math.max(worstView, maxDiff(key + ": lines", array(key + "_lines").floats(), overlay.lines));
                worstView = Math.max(worstView, maxDiff(key + ": dots", array(key + "_dots").floats(), overlay.dots));
                frames++;
                people += want;
                points += overlay.dotColours.length;
            }
            assertEquals(name + ": the model ran once per frame", Golden.list(seq, "frames").size(), model.runs);
        }
        assertTrue("the golden frames must hold people (a path that finds nobody proves nothing)", people >= 10);
        Parity.framePathFrames = frames;
        Parity.framePathPeople = people;
        Parity.framePathPoints = points;
        Parity.framePathKeypointPx = worstKeypoint;
        Parity.framePathViewPx = worstView;
    }

    private static double maxDiff(String what, float[] want, float[] have) {
        assertEquals(what + ": count", want.length, have.length);
        double worst = 0;
        for (int i = 0; i < want.length; i++) {
            double d = Math.abs(want[i] - have[i]);
            assertTrue(what + " value " + i + ": " + have[i] + " vs Python " + want[i], d <= 1e-2);
            worst = Math.max(worst, d);
        }
        return worst;
    }

    @Test
    @SuppressWarnings("unchecked")
    public void yuvPlanesConvertLikeOpenCv() throws IOException {
        load();
        int cases = 0;
        for (Object o : Golden.list(index, "yuv_cases")) {
            Map<String, Object> c = (Map<String, Object>) o;
            String name = (String) c.get("name");
            int row = Golden.integer(c, "uv_row"), px = Golden.integer(c, "uv_pixel");
            RgbImage rgb = Yuv420.toRgb(new Yuv420.Plane(array(name + "_y").bytes(), 0, Golden.integer(c, "y_row"), 1),
                    new Yuv420.Plane(array(name + "_u").bytes(), 0, row, px),
                    new Yuv420.Plane(array(name + "_v").bytes(), 0, row, px),
                    Golden.integer(c, "height"), Golden.integer(c, "width"))
                    .upright(Golden.integer(c, "rotation"), (Boolean) c.get("mirror"));
            Npy want = array(name + "_rgb");
            assertEquals(name + ": height", want.shape[0], rgb.height);
            assertEquals(name + ": width", want.shape[1], rgb.width);
            assertArrayEquals(name + ": RGB bytes", want.bytes(), rgb.pixels);
            cases++;
        }
        assertTrue("YUV cases", cases >= 6);
        Parity.yuvCases = cases;
    }

    @Test
    public void planesThatAreTooSmallAreRefusedWithTheirSizes() {
        byte[] y = new byte[4 * 4], uv = new byte[2 * 2];
        try {
            Yuv420.toRgb(new Yuv420.Plane(y, 0, 4, 1), new Yuv420.Plane(uv, 0, 2, 1), new Yuv420.Plane(uv, 0, 2, 1), 6, 4);
            throw new AssertionError("a 6-row frame from a 4-row Y plane was accepted");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("Y plane of 16 bytes is too small"));
        }
        try {
            new Yuv420.Plane(y, -1, 4, 1);
            throw new AssertionError("a negative offset was accepted");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("offset -1"));
        }
    }

    @Test
    public void personColoursArePythons() {
        // mln_tf.draw.person_colour(0..3) and UNTRACKED, as RGB
        int[][] rgb = {{255, 38, 38}, {38, 101, 255}, {164, 255, 38}, {255, 38, 227}};
        for (int i = 0; i < rgb.length; i++) {
            int c = Overlay.personColour(i);
            assertEquals("alpha", 0xff, c >>> 24);
            assertArrayEquals("colour of person " + i, rgb[i], new int[] {(c >> 16) & 0xff, (c >> 8) & 0xff, c & 0xff});
        }
        assertEquals(0xffa0a0a0, Overlay.UNTRACKED);
    }

    @Test
    public void fillCenterCoversTheViewAndRefusesEmptySizes() {
        Overlay.FillCenter f = new Overlay.FillCenter(360, 480, 1080, 1920); // a tall view: height decides
        assertEquals(4f, f.scale, 0);
        assertEquals(-180f, f.dx, 0);
        assertEquals(0f, f.dy, 0);
        try {
            new Overlay.FillCenter(0, 480, 1080, 1920);
            throw new AssertionError("an empty frame was accepted");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("must be positive"));
        }
    }

    @Test
    public void theAppSaysWhatIsWrong() {
        assertTrue(StatusText.permissionDenied().contains("Camera permission denied"));
        assertTrue(StatusText.noCamera().contains("No camera"));
        assertTrue(StatusText.modelMissing("mln.tflite").contains("make android-model"));
        assertTrue(StatusText.modelMissing("mln.tflite").contains("assets/mln.tflite"));
        assertEquals("CPU XNNPACK x4 (GPU delegate not supported on this device)",
                StatusText.cpuBackend(4, "not supported on this device"));
        ReplayModel m = new ReplayModel(256, 320);
        String running = StatusText.running("mln.tflite", m, 14.25, 3, 40.0, 2.0, 1.5);
        assertEquals("mln.tflite 256x320\nreplay of Python LiteRT maps\n14.3 FPS  3 people\n"
                + "model 40.0 ms  decoder 2.0 ms  pre 1.5 ms", running);
    }

    @Test
    public void aModelWhoseInputIsNotAMultipleOfTheStrideIsRefused() {
        try {
            new FramePipeline(new ReplayModel(250, 320));
            throw new AssertionError("a 250x320 input was accepted");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("250x320"));
        }
    }

}

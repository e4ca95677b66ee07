package org.mlntf.decoder;

import static org.junit.Assert.assertEquals;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * The golden camera frames written by android_demo/tools/write_frame_golden.py (YUV_420_888
 * planes of real bundled photos, and the maps Python's LiteRT computed for the APK's .tflite on
 * them), and a {@link PoseModel} that replays those maps: the JVM frame-path test and the app's
 * Robolectric test run the app's code on them. Public for the app's tests (another package).
 */
public final class GoldenFrames {
    static final String RELATIVE = "android_demo/decoder/src/test/resources/frames";
    private static Map<String, Object> index;
    private static Map<String, Npy> arrays;

    private GoldenFrames() {
    }

    /** One camera frame of a sequence, with Python's answers for it. */
    public static final class Frame {
        public final String key;
        /** The frame upright (rotated, mirrored), converted from its YUV planes by {@link Yuv420}. */
        public final RgbImage upright;
        public final double timeMs;
        /** People Python found on it. */
        public final int people;
        final Map<String, Object> fields;

        Frame(String key, RgbImage upright, double timeMs, int people, Map<String, Object> fields) {
            this.key = key;
            this.upright = upright;
            this.timeMs = timeMs;
            this.people = people;
            this.fields = fields;
        }

        /** The colour of each point Python's overlay draws on this frame (one per present keypoint, by track ID). */
        public int[] dotColours() {
            return array(key + "_dot_colours").ints();
        }

        /** Readies {@code model} to replay this frame's maps (checking it is given Python's input). */
        public void replayOn(ReplayModel model) {
            model.next(array(key + "_heatmaps").floats(), array(key + "_pafs").floats(),
                    ((Number) fields.get("input_crc32")).longValue());
        }
    }

    @SuppressWarnings("unchecked")
    static synchronized Map<String, Object> index() throws IOException {
        if (index == null) {
            File dir = new File(Golden.get().root, RELATIVE);
            String text = new String(Files.readAllBytes(new File(dir, "frames.json").toPath()), StandardCharsets.UTF_8);
            Map<String, Object> parsed = (Map<String, Object>) Json.parse(text);
            assertEquals("frame golden format", 1, Golden.integer(parsed, "format"));
            arrays = Npy.loadNpz(new File(dir, "frames.npz"));
            index = parsed;
        }
        return index;
    }

    static Npy array(String name) {
        Npy a = arrays.get(name);
        if (a == null) {
            throw new IllegalStateException("frames.npz has no " + name);
        }
        return a;
    }

    /** The model input (height, width) the frames were computed at. */
    public static int[] inputHw() throws IOException {
        return Golden.ints(index(), "input_hw");
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> sequences() throws IOException {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object o : Golden.list(index(), "sequences")) {
            out.add((Map<String, Object>) o);
        }
        return out;
    }

    /** The name of every sequence, in file order. */
    public static List<String> sequenceNames() throws IOException {
        List<String> out = new ArrayList<>();
        for (Map<String, Object> seq : sequences()) {
            out.add((String) seq.get("name"));
        }
        return out;
    }

    /** The frames of the sequence {@code name}, converted from YUV and turned upright as the camera thread does. */
    @SuppressWarnings("unchecked")
    public static List<Frame> frames(String name) throws IOException {
        for (Map<String, Object> seq : sequences()) {
            if (!name.equals(seq.get("name"))) {
                continue;
            }
            int[] sensor = Golden.ints(seq, "sensor_hw");
            int yRow = Golden.integer(seq, "y_row"), uvRow = Golden.integer(seq, "uv_row");
            int uvPixel = Golden.integer(seq, "uv_pixel");
            List<Frame> out = new ArrayList<>();
            for (Object f : Golden.list(seq, "frames")) {
                Map<String, Object> frame = (Map<String, Object>) f;
                String key = (String) frame.get("key");
                RgbImage rgb = Yuv420.toRgb(new Yuv420.Plane(array(key + "_y").bytes(), 0, yRow, 1),
                        new Yuv420.Plane(array(key + "_u").bytes(), 0, uvRow, uvPixel),
                        new Yuv420.Plane(array(key + "_v").bytes(), 0, uvRow, uvPixel),
                        sensor[0], sensor[1]).upright(Golden.integer(seq, "rotation"), (Boolean) seq.get("mirror"));
                out.add(new Frame(key, rgb, Golden.num(frame, "time_ms"), Golden.integer(frame, "people"), frame));
            }
            return out;
        }
        throw new IllegalArgumentException("frames.json has no sequence " + name);
    }

    /** Replays Python's maps for one frame at a time, after checking it was given Python's network input. */
    public static final class ReplayModel implements PoseModel {
        private final int height;
        private final int width;
        private float[] heatmaps;
        private float[] pafs;
        private long inputCrc;
        public int runs;
        public boolean closed;

        public ReplayModel(int height, int width) {
            this.height = height;
            this.width = width;
        }

        void next(float[] heatmaps, float[] pafs, long inputCrc) {
            this.heatmaps = heatmaps;
            this.pafs = pafs;
            this.inputCrc = inputCrc;
        }

        @Override
        public int inputHeight() {
            return height;
        }

        @Override
        public int inputWidth() {
            return width;
        }

        @Override
        public String backend() {
            return "replay of Python LiteRT maps";
        }

        @Override
        public void run(float[] input, float[] outHeatmaps, float[] outPafs) {
            if (heatmaps == null) {
                throw new IllegalStateException("no frame to replay: call Frame.replayOn first");
            }
            assertEquals("network input size", height * width * 3, input.length);
            byte[] levels = new byte[input.length];
            for (int i = 0; i < input.length; i++) { // x = level / 256 - 0.5 exactly
                float level = (input[i] + 0.5f) * 256f;
                assertEquals("input value " + i + " is a grey level", Math.rint(level), level, 0);
                levels[i] = (byte) (int) level;
            }
            CRC32 crc = new CRC32();
            crc.update(levels);
            assertEquals("network input (crc32 of its grey levels) equals Python's preprocess", inputCrc, crc.getValue());
            System.arraycopy(heatmaps, 0, outHeatmaps, 0, outHeatmaps.length);
            System.arraycopy(pafs, 0, outPafs, 0, outPafs.length);
            runs++;
        }

        @Override
        public void close() {
            closed = true;
        }
    }
}

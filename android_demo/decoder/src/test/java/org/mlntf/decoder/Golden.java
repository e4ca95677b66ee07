package org.mlntf.decoder;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The golden vectors written by android_demo/tools/write_golden.py. The folder is found from
 * the system property {@code mlntf.golden} or, by default, relative to the repository root
 * (searched upward from the working directory), so both `make java-test` and Gradle find it.
 */
final class Golden {
    static final String RELATIVE = "android_demo/decoder/src/test/resources/golden";
    private static Golden instance;

    final File root;
    final File dir;
    final Map<String, Object> index;

    private Golden(File root, File dir) throws IOException {
        this.root = root;
        this.dir = dir;
        String text = new String(Files.readAllBytes(new File(dir, "index.json").toPath()), StandardCharsets.UTF_8);
        @SuppressWarnings("unchecked")
        Map<String, Object> parsed = (Map<String, Object>) Json.parse(text);
        this.index = parsed;
        Number format = (Number) index.get("format");
        if (format == null || format.intValue() != 1) {
            throw new IllegalStateException("golden index format " + format + " is not supported");
        }
    }

    static synchronized Golden get() throws IOException {
        if (instance == null) {
            File root = findRoot();
            String prop = System.getProperty("mlntf.golden");
            File dir = prop != null ? new File(prop) : new File(root, RELATIVE);
            if (!new File(dir, "index.json").isFile()) {
                throw new IllegalStateException("golden vectors not found in " + dir
                        + ": run python android_demo/tools/write_golden.py");
            }
            instance = new Golden(root, dir);
        }
        return instance;
    }

    private static File findRoot() throws IOException {
        String prop = System.getProperty("mlntf.root");
        if (prop != null) {
            return new File(prop).getCanonicalFile();
        }
        File d = new File(".").getCanonicalFile();
        while (d != null) {
            if (new File(d, RELATIVE + "/index.json").isFile()) {
                return d;
            }
            d = d.getParentFile();
        }
        throw new IllegalStateException("cannot find the repository root (with " + RELATIVE
                + ") above the working directory; set -Dmlntf.root=...");
    }

    @SuppressWarnings("unchecked")
    List<Map<String, Object>> cases(String kind) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Object c : (List<Object>) index.get("cases")) {
            Map<String, Object> m = (Map<String, Object>) c;
            if (kind.equals(m.get("kind"))) {
                out.add(m);
            }
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    Map<String, Object> reference() {
        return (Map<String, Object>) index.get("reference");
    }

    Map<String, Npy> load(String relative) throws IOException {
        return Npy.loadNpz(new File(dir, relative));
    }

    Map<String, Npy> loadFromRoot(String relative) throws IOException {
        return Npy.loadNpz(new File(root, relative));
    }

    // ---- small JSON helpers

    @SuppressWarnings("unchecked")
    static Map<String, Object> obj(Map<String, Object> m, String key) {
        return (Map<String, Object>) m.get(key);
    }

    @SuppressWarnings("unchecked")
    static List<Object> list(Map<String, Object> m, String key) {
        return (List<Object>) m.get(key);
    }

    static double num(Map<String, Object> m, String key) {
        return ((Number) m.get(key)).doubleValue();
    }

    static int integer(Map<String, Object> m, String key) {
        return ((Number) m.get(key)).intValue();
    }

    static int[] ints(Map<String, Object> m, String key) {
        List<Object> l = list(m, key);
        int[] out = new int[l.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((Number) l.get(i)).intValue();
        }
        return out;
    }

    static double[] doubles(Map<String, Object> m, String key) {
        List<Object> l = list(m, key);
        double[] out = new double[l.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((Number) l.get(i)).doubleValue();
        }
        return out;
    }

    static Transform transform(Map<String, Object> c) {
        Map<String, Object> t = obj(c, "transform");
        int[] image = ints(t, "image_hw"), input = ints(t, "input_hw"), content = ints(t, "content_hw");
        double[] scale = doubles(t, "scale");
        return new Transform(image[0], image[1], input[0], input[1], scale[0], scale[1], content[0], content[1]);
    }

    static GroupingConfig grouping(Map<String, Object> g) {
        return new GroupingConfig(num(g, "peak_threshold"), num(g, "smooth_sigma"),
                (Boolean) g.get("refine_peaks"), integer(g, "max_peaks"), integer(g, "samples"),
                num(g, "paf_threshold"), num(g, "min_fraction"), num(g, "distance_prior"),
                integer(g, "min_parts"), num(g, "min_mean_score"));
    }

    static PostprocessConfig postprocess(Map<String, Object> c) {
        Map<String, Object> cfg = obj(c, "config");
        return new PostprocessConfig(grouping(obj(cfg, "grouping")), integer(cfg, "upsample"), integer(cfg, "stride"));
    }
}

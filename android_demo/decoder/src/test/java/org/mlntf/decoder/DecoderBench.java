package org.mlntf.decoder;

import java.io.File;
import java.io.IOException;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;

/**
 * Times the Java decoder on the bundled real network maps (run by
 * benchmarks/java_decoder_speed.py, which times NumPy on the same maps in the same run).
 *
 * <pre>java -cp ... org.mlntf.decoder.DecoderBench ROOT RUNS [IMAGE_NPZ INPUT_H INPUT_W]</pre>
 *
 * Prints one "RESULT" line per (config, maps): name, people, median/p10/p90 ms, first call ms.
 */
public final class DecoderBench {
    private DecoderBench() {
    }

    public static void main(String[] args) throws IOException {
        File root = new File(args[0]);
        int runs = Integer.parseInt(args[1]);
        File[] files = new File(root, "data/peers/tfpose_mobilenet_thin/maps").listFiles((d, n) -> n.endsWith(".npz"));
        if (files == null || files.length == 0) {
            throw new IllegalStateException("no maps in data/peers/tfpose_mobilenet_thin/maps under " + root);
        }
        Arrays.sort(files);
        PostprocessConfig[] configs = {PostprocessConfig.DEFAULT,
                new PostprocessConfig(GroupingConfig.DEFAULT.withSmoothSigma(3.0), 4, 8)};
        String[] names = {"native", "up4"};
        for (int ci = 0; ci < configs.length; ci++) {
            PostprocessConfig config = configs[ci];
            for (File f : files) {
                Map<String, Npy> d = Npy.loadNpz(f);
                float[] hm = d.get("heatmaps").floats();
                float[] pf = d.get("pafs").floats();
                int[] shape = d.get("heatmaps").shape;
                int[] image = d.get("image_hw").ints();
                int[] input = d.get("input_hw").ints();
                Transform t = Transform.fromResize(image[0], image[1], input[0], input[1]);
                long t0 = System.nanoTime();
                Poses poses = Postprocess.postprocess(hm, shape[2], pf, shape[0], shape[1], t, config);
                double first = (System.nanoTime() - t0) / 1e6;
                int n = config.upsample > 1 ? Math.max(10, runs / 10) : runs; // upsampled decoding is ~50x slower
                double[] ms = time(n, () -> Postprocess.postprocess(hm, shape[2], pf, shape[0], shape[1], t, config));
                String stem = f.getName().replace(".npz", "");
                System.out.println(String.format(Locale.ROOT, "RESULT %s %s %d %.4f %.4f %.4f %.4f", names[ci], stem,
                        poses.size(), ms[0], ms[1], ms[2], first));
            }
        }
        if (args.length >= 5) {
            Map<String, Npy> d = Npy.loadNpz(new File(args[2]));
            Npy img = d.get("image");
            RgbImage rgb = new RgbImage(img.bytes(), img.shape[0], img.shape[1]);
            int ih = Integer.parseInt(args[3]), iw = Integer.parseInt(args[4]);
            float[] buf = new float[ih * iw * 3];
            long t0 = System.nanoTime();
            Preprocess.letterboxInto(rgb, ih, iw, buf);
            double first = (System.nanoTime() - t0) / 1e6;
            double[] ms = time(Math.max(10, runs / 4), () -> Preprocess.letterboxInto(rgb, ih, iw, buf));
            System.out.println(String.format(Locale.ROOT, "RESULT preprocess %dx%d->%dx%d 0 %.4f %.4f %.4f %.4f",
                    rgb.height, rgb.width, ih, iw, ms[0], ms[1], ms[2], first));
        }
    }

    private interface Body {
        Object run();
    }

    /** Median, 10th and 90th percentile of {@code runs} calls, after as many warm-up calls (JIT). */
    private static double[] time(int runs, Body body) {
        Object sink = null;
        for (int i = 0; i < runs; i++) {
            sink = body.run();
        }
        double[] ms = new double[runs];
        for (int i = 0; i < runs; i++) {
            long t0 = System.nanoTime();
            sink = body.run();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        if (sink == null) {
            throw new IllegalStateException("no result");
        }
        Arrays.sort(ms);
        return new double[] {ms[runs / 2], ms[runs / 10], ms[(runs * 9) / 10]};
    }
}

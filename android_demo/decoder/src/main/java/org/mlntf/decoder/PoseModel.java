package org.mlntf.decoder;

import java.io.Closeable;

/**
 * A network with the export CLI's contract: a fixed (1, H, W, 3) input, already normalised
 * (pixel / 256 - 0.5), to heatmaps (H/8, W/8, 19) and PAFs (H/8, W/8, 38), all row-major
 * float32. The app runs it with LiteRT; tests replay maps Python's LiteRT wrote.
 */
public interface PoseModel extends Closeable {
    /** The network input's height in pixels. */
    int inputHeight();

    /** The network input's width in pixels. */
    int inputWidth();

    /** What runs the network, for the on-screen label (e.g. "GPU delegate"). */
    String backend();

    /** {@code input} (H * W * 3) to {@code heatmaps} (H/8 * W/8 * 19) and {@code pafs} (H/8 * W/8 * 38). */
    void run(float[] input, float[] heatmaps, float[] pafs);

    @Override
    void close();
}

package org.mlntf.decoder;

/**
 * Pixel-centre convention of {@code mln_tf.coords}: map pixel j of stride s is centred on
 * input coordinate {@code s*j + (s - 1) / 2}.
 */
public final class Coords {
    private Coords() {
    }

    /** Map-pixel coordinate -> input-image pixel coordinate (float32, as NumPy). */
    public static float mapToInput(float v, int stride) {
        return v * (float) stride + (float) ((stride - 1) / 2.0);
    }

    /** Input-image pixel coordinate -> map-pixel coordinate. */
    public static float inputToMap(float v, int stride) {
        return (v - (float) ((stride - 1) / 2.0)) / (float) stride;
    }
}

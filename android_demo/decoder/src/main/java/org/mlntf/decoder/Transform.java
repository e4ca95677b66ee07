package org.mlntf.decoder;

/**
 * Geometry between an original image and the network input made from it, as
 * {@code mln_tf.inference.Transform}: the image ({@code imageH x imageW}) was resized by
 * (scaleX, scaleY) to {@code contentH x contentW} and padded at the bottom and right to
 * {@code inputH x inputW}. Pixel-index convention: a resize by s maps input coordinate u
 * to image coordinate (u + 0.5) / s - 0.5.
 */
public final class Transform {
    public final int imageH;
    public final int imageW;
    public final int inputH;
    public final int inputW;
    /** content width / image width (Python float: kept in double, used as float32 like NumPy). */
    public final double scaleX;
    public final double scaleY;
    public final int contentH;
    public final int contentW;

    public Transform(int imageH, int imageW, int inputH, int inputW, double scaleX, double scaleY,
                     int contentH, int contentW) {
        if (imageH <= 0 || imageW <= 0 || inputH <= 0 || inputW <= 0 || contentH <= 0 || contentW <= 0) {
            throw new IllegalArgumentException("image, input and content sizes must be positive, got image "
                    + imageH + "x" + imageW + ", input " + inputH + "x" + inputW + ", content " + contentH + "x"
                    + contentW);
        }
        if (!(scaleX > 0) || !(scaleY > 0)) {
            throw new IllegalArgumentException("scales must be positive, got " + scaleX + ", " + scaleY);
        }
        this.imageH = imageH;
        this.imageW = imageW;
        this.inputH = inputH;
        this.inputW = inputW;
        this.scaleX = scaleX;
        this.scaleY = scaleY;
        this.contentH = contentH;
        this.contentW = contentW;
    }

    /** A plain resize of the whole image to the input size, no padding (Transform.from_resize). */
    public static Transform fromResize(int imageH, int imageW, int inputH, int inputW) {
        if (imageH <= 0 || imageW <= 0 || inputH <= 0 || inputW <= 0) {
            throw new IllegalArgumentException("image size must be positive, got " + imageH + "x" + imageW
                    + " -> " + inputH + "x" + inputW);
        }
        return new Transform(imageH, imageW, inputH, inputW, (double) inputW / imageW, (double) inputH / imageH,
                inputH, inputW);
    }

    /** Input-pixel x -> original-image pixel x. */
    public float inputToImageX(float x) {
        return (x + 0.5f) / (float) scaleX - 0.5f;
    }

    /** Input-pixel y -> original-image pixel y. */
    public float inputToImageY(float y) {
        return (y + 0.5f) / (float) scaleY - 0.5f;
    }

    /** Original-image pixel x -> input-pixel x. */
    public float imageToInputX(float x) {
        return (x + 0.5f) * (float) scaleX - 0.5f;
    }

    /** Original-image pixel y -> input-pixel y. */
    public float imageToInputY(float y) {
        return (y + 0.5f) * (float) scaleY - 0.5f;
    }

    @Override
    public String toString() {
        return "Transform(image=" + imageH + "x" + imageW + ", input=" + inputH + "x" + inputW + ", scale=("
                + scaleX + ", " + scaleY + "), content=" + contentH + "x" + contentW + ")";
    }
}

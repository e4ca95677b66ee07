package org.mlntf.decoder;

/**
 * A uint8 RGB image, interleaved and row-major (what {@code mln_tf.inference.as_rgb} returns),
 * with the conversions a camera pipeline needs: RGBA/ARGB/gray input (alpha dropped, gray
 * replicated, as as_rgb does), rotation by the camera's rotation degrees, mirroring.
 */
public final class RgbImage {
    public final byte[] pixels;
    public final int height;
    public final int width;

    /** Wraps {@code height * width * 3} RGB bytes (not copied). */
    public RgbImage(byte[] rgb, int height, int width) {
        if (height < 1 || width < 1) {
            throw new IllegalArgumentException("image size must be positive, got " + height + "x" + width);
        }
        if (rgb == null || rgb.length != height * width * 3) {
            throw new IllegalArgumentException("an RGB image of " + height + "x" + width + " needs "
                    + height * width * 3 + " bytes, got " + (rgb == null ? "null" : rgb.length));
        }
        this.pixels = rgb;
        this.height = height;
        this.width = width;
    }

    /**
     * From 4-byte R, G, B, A pixels with arbitrary strides (e.g. a CameraX RGBA_8888 plane:
     * {@code rowStride} bytes per row, {@code pixelStride} = 4); alpha is dropped.
     */
    public static RgbImage fromRgba(byte[] rgba, int offset, int height, int width, int rowStride,
                                    int pixelStride) {
        if (height < 1 || width < 1 || pixelStride < 4 || rowStride < width * pixelStride) {
            throw new IllegalArgumentException("bad RGBA layout: " + height + "x" + width + ", row stride "
                    + rowStride + ", pixel stride " + pixelStride);
        }
        long last = (long) offset + (long) (height - 1) * rowStride + (long) (width - 1) * pixelStride + 3;
        if (offset < 0 || last >= rgba.length) {
            throw new IllegalArgumentException("RGBA buffer of " + rgba.length + " bytes is too small for "
                    + height + "x" + width + " with row stride " + rowStride);
        }
        byte[] rgb = new byte[height * width * 3];
        for (int y = 0; y < height; y++) {
            int s = offset + y * rowStride;
            int d = y * width * 3;
            for (int x = 0; x < width; x++, s += pixelStride, d += 3) {
                rgb[d] = rgba[s];
                rgb[d + 1] = rgba[s + 1];
                rgb[d + 2] = rgba[s + 2];
            }
        }
        return new RgbImage(rgb, height, width);
    }

    /** From packed ARGB ints (android.graphics.Bitmap#getPixels); alpha is dropped. */
    public static RgbImage fromArgb(int[] argb, int height, int width) {
        if (height < 1 || width < 1 || argb.length != height * width) {
            throw new IllegalArgumentException("ARGB pixels of " + height + "x" + width + " need "
                    + height * width + " ints, got " + argb.length);
        }
        byte[] rgb = new byte[height * width * 3];
        for (int i = 0; i < argb.length; i++) {
            int p = argb[i];
            rgb[i * 3] = (byte) (p >> 16);
            rgb[i * 3 + 1] = (byte) (p >> 8);
            rgb[i * 3 + 2] = (byte) p;
        }
        return new RgbImage(rgb, height, width);
    }

    /** From one gray byte per pixel, replicated to three channels. */
    public static RgbImage fromGray(byte[] gray, int height, int width) {
        if (height < 1 || width < 1 || gray.length != height * width) {
            throw new IllegalArgumentException("gray pixels of " + height + "x" + width + " need "
                    + height * width + " bytes, got " + gray.length);
        }
        byte[] rgb = new byte[height * width * 3];
        for (int i = 0; i < gray.length; i++) {
            rgb[i * 3] = gray[i];
            rgb[i * 3 + 1] = gray[i];
            rgb[i * 3 + 2] = gray[i];
        }
        return new RgbImage(rgb, height, width);
    }

    /** This image rotated clockwise by 0, 90, 180 or 270 degrees (CameraX rotationDegrees). */
    public RgbImage rotate(int degrees) {
        int d = ((degrees % 360) + 360) % 360;
        if (d == 0) {
            return this;
        }
        if (d % 90 != 0) {
            throw new IllegalArgumentException("rotation must be a multiple of 90 degrees, got " + degrees);
        }
        int oh = d == 180 ? height : width;
        int ow = d == 180 ? width : height;
        byte[] out = new byte[pixels.length];
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int ny, nx;
                if (d == 90) {
                    ny = x;
                    nx = height - 1 - y;
                } else if (d == 180) {
                    ny = height - 1 - y;
                    nx = width - 1 - x;
                } else {
                    ny = width - 1 - x;
                    nx = y;
                }
                int s = (y * width + x) * 3;
                int t = (ny * ow + nx) * 3;
                out[t] = pixels[s];
                out[t + 1] = pixels[s + 1];
                out[t + 2] = pixels[s + 2];
            }
        }
        return new RgbImage(out, oh, ow);
    }

    /**
     * A camera frame made upright: rotated clockwise by the sensor's orientation, then mirrored
     * for a front camera (whose preview is a mirror image).
     */
    public RgbImage upright(int rotationDegrees, boolean mirror) {
        RgbImage rotated = rotate(rotationDegrees);
        return mirror ? rotated.mirror() : rotated;
    }

    /** This image mirrored left-right (front cameras). */
    public RgbImage mirror() {
        byte[] out = new byte[pixels.length];
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int s = (y * width + x) * 3;
                int t = (y * width + width - 1 - x) * 3;
                out[t] = pixels[s];
                out[t + 1] = pixels[s + 1];
                out[t + 2] = pixels[s + 2];
            }
        }
        return new RgbImage(out, height, width);
    }
}

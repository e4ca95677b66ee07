package org.mlntf.decoder;

/**
 * Camera frames in Android's YUV_420_888 (three planes, any row and pixel strides: planar
 * I420, semi-planar NV21/NV12) to RGB, with OpenCV's arithmetic ({@code cv2.cvtColor(...,
 * COLOR_YUV2RGB_I420)}: BT.601 video range, 20-bit fixed point, each 2x2 block sharing one
 * chroma sample), so the app's frames equal what Python computes from the same bytes.
 */
public final class Yuv420 {
    // OpenCV's ITU-R BT.601 coefficients (modules/imgproc/src/color_yuv.simd.hpp), scaled by 2^20.
    private static final int SHIFT = 20;
    private static final int HALF = 1 << (SHIFT - 1);
    private static final int CY = 1220542;
    private static final int CUB = 2116026;
    private static final int CUG = -409993;
    private static final int CVG = -852492;
    private static final int CVR = 1673527;

    private Yuv420() {
    }

    /** One plane: its bytes from {@code offset}, {@code rowStride} bytes per row, {@code pixelStride} per sample. */
    public static final class Plane {
        final byte[] data;
        final int offset;
        final int rowStride;
        final int pixelStride;

        public Plane(byte[] data, int offset, int rowStride, int pixelStride) {
            if (data == null || offset < 0 || rowStride < 1 || pixelStride < 1) {
                throw new IllegalArgumentException("bad plane: offset " + offset + ", row stride " + rowStride
                        + ", pixel stride " + pixelStride);
            }
            this.data = data;
            this.offset = offset;
            this.rowStride = rowStride;
            this.pixelStride = pixelStride;
        }

        void check(String name, int rows, int cols) {
            if (rowStride < (cols - 1) * pixelStride + 1) {
                throw new IllegalArgumentException(name + " plane row stride " + rowStride + " is shorter than "
                        + cols + " samples of stride " + pixelStride);
            }
            long last = (long) offset + (long) (rows - 1) * rowStride + (long) (cols - 1) * pixelStride;
            if (last >= data.length) {
                throw new IllegalArgumentException(name + " plane of " + data.length + " bytes is too small for "
                        + rows + "x" + cols + " samples (row stride " + rowStride + ", pixel stride " + pixelStride
                        + ")");
            }
        }
    }

    /** The {@code height x width} frame as RGB (chroma planes hold ceil(h/2) x ceil(w/2) samples). */
    public static RgbImage toRgb(Plane y, Plane u, Plane v, int height, int width) {
        if (height < 1 || width < 1) {
            throw new IllegalArgumentException("frame size must be positive, got " + height + "x" + width);
        }
        int ch = (height + 1) / 2, cw = (width + 1) / 2;
        y.check("Y", height, width);
        u.check("U", ch, cw);
        v.check("V", ch, cw);
        byte[] rgb = new byte[height * width * 3];
        for (int row = 0; row < height; row++) {
            int ys = y.offset + row * y.rowStride;
            int us = u.offset + (row >> 1) * u.rowStride;
            int vs = v.offset + (row >> 1) * v.rowStride;
            int d = row * width * 3;
            for (int col = 0; col < width; col++, d += 3) {
                int luma = Math.max(0, (y.data[ys + col * y.pixelStride] & 0xff) - 16) * CY;
                int cu = (u.data[us + (col >> 1) * u.pixelStride] & 0xff) - 128;
                int cv = (v.data[vs + (col >> 1) * v.pixelStride] & 0xff) - 128;
                rgb[d] = clamp((luma + HALF + CVR * cv) >> SHIFT);
                rgb[d + 1] = clamp((luma + HALF + CVG * cv + CUG * cu) >> SHIFT);
                rgb[d + 2] = clamp((luma + HALF + CUB * cu) >> SHIFT);
            }
        }
        return new RgbImage(rgb, height, width);
    }

    private static byte clamp(int value) {
        return (byte) (value < 0 ? 0 : (value > 255 ? 255 : value));
    }
}

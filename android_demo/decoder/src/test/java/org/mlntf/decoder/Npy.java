package org.mlntf.decoder;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/** Minimal reader of NumPy .npy arrays and .npz archives (C order, little-endian numbers). */
final class Npy {
    final String dtype; // e.g. "<f4", "<f2", "<i8", "|u1"
    final int[] shape;
    final ByteBuffer data;

    private Npy(String dtype, int[] shape, ByteBuffer data) {
        this.dtype = dtype;
        this.shape = shape;
        this.data = data;
    }

    int size() {
        int n = 1;
        for (int s : shape) {
            n *= s;
        }
        return n;
    }

    /** Values as float32 (float16 and float32 exactly; float64 rounded). */
    float[] floats() {
        int n = size();
        float[] out = new float[n];
        switch (dtype) {
            case "<f4":
                data.asFloatBuffer().get(out);
                return out;
            case "<f2":
                for (int i = 0; i < n; i++) {
                    out[i] = halfToFloat(data.getShort(i * 2));
                }
                return out;
            case "<f8":
                for (int i = 0; i < n; i++) {
                    out[i] = (float) data.getDouble(i * 8);
                }
                return out;
            default:
                throw new IllegalStateException("not a float array: " + dtype);
        }
    }

    long[] longs() {
        int n = size();
        long[] out = new long[n];
        for (int i = 0; i < n; i++) {
            switch (dtype) {
                case "<i8":
                    out[i] = data.getLong(i * 8);
                    break;
                case "<i4":
                    out[i] = data.getInt(i * 4);
                    break;
                case "|u1":
                    out[i] = data.get(i) & 0xff;
                    break;
                default:
                    throw new IllegalStateException("not an integer array: " + dtype);
            }
        }
        return out;
    }

    int[] ints() {
        long[] l = longs();
        int[] out = new int[l.length];
        for (int i = 0; i < l.length; i++) {
            out[i] = (int) l[i];
        }
        return out;
    }

    byte[] bytes() {
        if (!dtype.equals("|u1")) {
            throw new IllegalStateException("not a uint8 array: " + dtype);
        }
        byte[] out = new byte[size()];
        data.duplicate().get(out);
        return out;
    }

    /** IEEE half -> float, exact. */
    static float halfToFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits >>> 15) << 31;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) {
            float v = mant * (1f / (1 << 24)); // subnormal: mant * 2^-24, exact
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    private static final Pattern DESCR = Pattern.compile("'descr':\\s*'([^']+)'");
    private static final Pattern ORDER = Pattern.compile("'fortran_order':\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape':\\s*\\(([^)]*)\\)");

    static Npy parse(byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < 10 || (bytes[0] & 0xff) != 0x93 || bytes[1] != 'N' || bytes[2] != 'U') {
            throw new IllegalArgumentException("not an .npy array");
        }
        int major = bytes[6];
        int headerLen;
        int start;
        if (major == 1) {
            headerLen = b.getShort(8) & 0xffff;
            start = 10;
        } else {
            headerLen = b.getInt(8);
            start = 12;
        }
        String header = new String(bytes, start, headerLen, StandardCharsets.ISO_8859_1);
        Matcher d = DESCR.matcher(header), o = ORDER.matcher(header), s = SHAPE.matcher(header);
        if (!d.find() || !o.find() || !s.find()) {
            throw new IllegalArgumentException("bad .npy header: " + header);
        }
        if (o.group(1).equals("True")) {
            throw new IllegalArgumentException("Fortran-order arrays are not supported");
        }
        String dims = s.group(1).trim();
        int[] shape;
        if (dims.isEmpty()) {
            shape = new int[0];
        } else {
            String[] parts = dims.split(",");
            int count = 0;
            for (String p : parts) {
                if (!p.trim().isEmpty()) {
                    count++;
                }
            }
            shape = new int[count];
            int i = 0;
            for (String p : parts) {
                if (!p.trim().isEmpty()) {
                    shape[i++] = Integer.parseInt(p.trim());
                }
            }
        }
        ByteBuffer data = ByteBuffer.wrap(bytes, start + headerLen, bytes.length - start - headerLen).slice()
                .order(ByteOrder.LITTLE_ENDIAN);
        return new Npy(d.group(1), shape, data);
    }

    /** All arrays of an .npz archive, by name (without ".npy"). */
    static Map<String, Npy> loadNpz(File file) throws IOException {
        Map<String, Npy> out = new LinkedHashMap<>();
        try (ZipFile zip = new ZipFile(file)) {
            Enumeration<? extends ZipEntry> entries = zip.entries();
            while (entries.hasMoreElements()) {
                ZipEntry e = entries.nextElement();
                String name = e.getName();
                if (!name.endsWith(".npy")) {
                    continue;
                }
                try (InputStream in = zip.getInputStream(e)) {
                    out.put(name.substring(0, name.length() - 4), parse(readAll(in)));
                }
            }
        }
        return out;
    }

    private static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[1 << 16];
        int n;
        while ((n = in.read(buf)) > 0) {
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }
}

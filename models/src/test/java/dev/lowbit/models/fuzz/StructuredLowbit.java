package dev.lowbit.models.fuzz;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.io.Json;
import dev.lowbit.format.io.internal.ContainerPlanes;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * Structure-aware inputs for the lowbit container. Byte mutations of a lowbit file almost always break a
 * CRC-32C and stop at the checksum, so an input that starts with {@link #MAGIC} is not a file but a recipe:
 * the bytes after it choose, for one or two tensors, a format, a shape (including 0 rows or columns and
 * partial groups), an outlier count, plane contents (hostile floats: NaN, infinities, denormals, the F16
 * maximum; hostile indices: negative, past the end, decreasing row pointers) and sometimes a descriptor
 * that disagrees with its planes. The file is then written with correct checksums, so the reader's checks
 * after the checksum (shapes, CSR structure) and the dequantization of what it accepts are reached.
 */
final class StructuredLowbit {
    private StructuredLowbit() {
    }

    static final byte[] MAGIC = "LBFZ".getBytes(StandardCharsets.US_ASCII);

    private static final List<QuantFormat> FORMATS = List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1,
            QuantFormat.grouped(2, 32, false, ScaleType.F16), QuantFormat.grouped(3, 64, true, ScaleType.F32),
            QuantFormat.grouped(4, 128, false, ScaleType.F32), QuantFormat.grouped(8, QuantFormat.ROW, true, ScaleType.F16),
            QuantFormat.grouped(4, QuantFormat.ROW, false, ScaleType.F16), QuantFormat.codebook4(32, ScaleType.F16),
            QuantFormat.codebook4(QuantFormat.ROW, ScaleType.F32));
    private static final int[] COLS = {0, 1, 7, 31, 32, 33, 64, 96, 100, 128, 130, 256};
    private static final float[] FLOATS = {0f, -0f, 1f, -1f, 0.5f, Float.NaN, Float.POSITIVE_INFINITY,
            Float.NEGATIVE_INFINITY, 1e-40f, Float.MIN_VALUE, Float.MIN_NORMAL, 65504f, -65504f, 1e38f, -3.4e38f, 1e-8f};

    static boolean is(byte[] input) {
        return input.length >= MAGIC.length && Arrays.equals(input, 0, MAGIC.length, MAGIC, 0, MAGIC.length);
    }

    /** Reads the recipe after the magic; past its end every byte reads as 0. */
    private static final class Recipe {
        private final byte[] b;
        private int at = MAGIC.length;

        Recipe(byte[] b) {
            this.b = b;
        }

        int u8() {
            return at < b.length ? b[at++] & 0xFF : 0;
        }

        int u16() {
            return u8() | u8() << 8;
        }

        int i32() {
            return u16() | u16() << 16;
        }
    }

    /** The lowbit file the recipe in {@code input} describes. */
    static byte[] build(byte[] input) {
        Recipe r = new Recipe(input);
        int tensors = 1 + r.u8() % 2;
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put(ContainerPlanes.VERSION_KEY, ContainerPlanes.VERSION);
        Map<String, Object> header = new LinkedHashMap<>();
        List<byte[]> planes = new ArrayList<>();
        long offset = 0;
        for (int t = 0; t < tensors; t++) {
            String name = "t" + t;
            QuantFormat f = FORMATS.get(r.u8() % FORMATS.size());
            int rows = r.u8() % 5;
            int cols = COLS[r.u8() % COLS.length];
            long nnz = r.u8() % 5 - 1;
            int lie = r.u8();
            List<ContainerPlanes.Spec> specs = ContainerPlanes.expected(f, rows, cols, nnz);
            Map<String, Object> crcs = new LinkedHashMap<>();
            for (ContainerPlanes.Spec s : specs) {
                byte[] bytes = plane(r, s, rows, cols, nnz);
                planes.add(bytes);
                CRC32C crc = new CRC32C();
                crc.update(bytes);
                crcs.put(s.part(), ContainerPlanes.hex(crc));
                Map<String, Object> e = new LinkedHashMap<>();
                e.put("dtype", s.dtype());
                e.put("shape", s.shape());
                e.put("data_offsets", List.of(offset, offset + bytes.length));
                header.put(name + "." + s.part(), e);
                offset += bytes.length;
            }
            Map<String, Object> desc = new LinkedHashMap<>();
            // Mostly the truth; sometimes a descriptor that disagrees with the planes it names.
            desc.put("format", (lie & 0x70) == 0x10 ? FORMATS.get(r.u8() % FORMATS.size()).name() : f.name());
            desc.put("rows", (lie & 0x70) == 0x20 ? (long) r.i32() & 0xFFFFFFFFL : rows);
            desc.put("cols", (lie & 0x70) == 0x30 ? (long) r.i32() & 0xFFFFFFFFL : cols);
            if (nnz >= 0 || (lie & 0x70) == 0x40) {
                desc.put("nnz", (lie & 0x70) == 0x40 ? r.u8() : nnz);
            }
            desc.put("crc32c", crcs);
            meta.put(ContainerPlanes.PREFIX + name, Json.write(desc));
        }
        meta.put(ContainerPlanes.METADATA_CRC_KEY, ContainerPlanes.metadataCrc(meta));
        Map<String, Object> all = new LinkedHashMap<>();
        all.put(ContainerPlanes.METADATA, meta);
        all.putAll(header);
        byte[] json = Json.write(all).getBytes(StandardCharsets.UTF_8);
        long padded = (8L + json.length + 63) / 64 * 64 - 8;
        ByteBuffer out = ByteBuffer.allocate((int) (8 + padded + offset)).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded).put(json);
        while (out.position() < 8 + padded) {
            out.put((byte) ' ');
        }
        for (byte[] p : planes) {
            out.put(p);
        }
        return out.array();
    }

    private static byte[] plane(Recipe r, ContainerPlanes.Spec s, int rows, int cols, long nnz) {
        long n = ContainerPlanes.DTYPE_BYTES.get(s.dtype());
        for (long d : s.shape()) {
            n *= d;
        }
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(n)).order(ByteOrder.LITTLE_ENDIAN);
        int mode = r.u8() % 4;
        switch (s.dtype()) {
            case "F16", "F32" -> {
                boolean half = s.dtype().equals("F16");
                int w = half ? 2 : 4;
                for (int i = 0; i < n / w; i++) {
                    // mode 0: ordinary values; otherwise each element from the hostile table.
                    float v = mode == 0 ? (float) (r.u8() - 128) / 16 : FLOATS[r.u8() % FLOATS.length];
                    if (mode == 0 && s.part().equals(ContainerPlanes.LEVELS)) {
                        v = i / 8f - 1 + r.u8() / 4096f; // ordinary levels increase strictly
                    }
                    if (half) {
                        b.putShort(Float.floatToFloat16(v));
                    } else {
                        b.putFloat(v);
                    }
                }
            }
            case "I32" -> {
                // Row pointers: a valid non-decreasing run unless the recipe says otherwise.
                boolean rowPtr = s.part().equals(ContainerPlanes.ROW_PTR);
                int[] hostile = {0, 1, -1, cols - 1, cols, rows, (int) nnz, Integer.MAX_VALUE, Integer.MIN_VALUE};
                int run = 0;
                for (int i = 0; i < n / 4; i++) {
                    int v;
                    if (mode != 0) {
                        v = hostile[r.u8() % hostile.length];
                    } else if (rowPtr) {
                        v = i == n / 4 - 1 ? (int) nnz : Math.min(run += r.u8() % 2, (int) nnz);
                        v = i == 0 ? 0 : v;
                    } else {
                        v = Math.max(0, Math.min(i, cols - 1)); // increasing within any row
                    }
                    b.putInt(v);
                }
            }
            default -> {
                for (int i = 0; i < n; i++) {
                    b.put((byte) r.u8());
                }
            }
        }
        return b.array();
    }
}

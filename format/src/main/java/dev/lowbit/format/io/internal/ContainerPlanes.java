package dev.lowbit.format.io.internal;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.format.io.Json;
import dev.lowbit.format.io.Names;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.CRC32C;

/**
 * What the lowbit container's writer and reader agree on: plane names, dtypes, shapes, metadata keys and
 * checksums. Shared with the models module's safetensors files, which store quantized tensors the same
 * way; exported to that module only, not an API.
 */
public final class ContainerPlanes {
    private ContainerPlanes() {
    }

    public static final String METADATA = "__metadata__";
    public static final String PREFIX = "lowbit.";
    public static final String VERSION_KEY = PREFIX + "version";
    public static final String VERSION = "1";
    /**
     * CRC-32C of the whole {@code __metadata__} object (this entry left out, keys sorted, compact JSON).
     * Plane checksums cannot see the header, and a damaged {@code cols} or format name can describe the
     * same bytes differently (Q4_0 3x37 and 3x33 have the same blocks), so the header needs its own.
     */
    public static final String METADATA_CRC_KEY = PREFIX + "metadata_crc32c";

    public static final String DATA = "data";
    public static final String SCALES = "scales";
    public static final String ZEROS = "zeros";
    public static final String LEVELS = "levels";
    public static final String ROW_PTR = "outliers.row_ptr";
    public static final String COL_IDX = "outliers.col_idx";
    public static final String VALUES = "outliers.values";

    /** The largest slice of a plane written at once (its heap staging is smaller still). */
    public static final long CHUNK = 1L << 30;

    /** The safetensors dtypes and their widths in bytes. */
    public static final Map<String, Integer> DTYPE_BYTES = Map.ofEntries(
            Map.entry("BOOL", 1), Map.entry("U8", 1), Map.entry("I8", 1), Map.entry("F8_E5M2", 1),
            Map.entry("F8_E4M3", 1), Map.entry("I16", 2), Map.entry("U16", 2), Map.entry("F16", 2),
            Map.entry("BF16", 2), Map.entry("I32", 4), Map.entry("U32", 4), Map.entry("F32", 4),
            Map.entry("I64", 8), Map.entry("U64", 8), Map.entry("F64", 8));

    /**
     * Why a quantized tensor called {@code name} cannot be written, or null: its longest plane name,
     * {@code <name>.outliers.row_ptr}, must stay within {@link Names#MAX_BYTES}, which readers enforce.
     */
    public static String nameTooLong(String name) {
        long n = Names.utf8Length(name);
        long longest = n + 1 + ROW_PTR.length();
        if (longest <= Names.MAX_BYTES) {
            return null;
        }
        return "quantized tensor name " + Names.start(name) + " of " + n + " bytes is too long: its plane names, up to "
                + longest + " bytes, would pass the " + Names.MAX_BYTES + "-byte limit";
    }

    /** One plane as the header describes it; {@code part} is the name after {@code "<tensor>."}. */
    public record Spec(String part, String dtype, List<Long> shape) {
    }

    /**
     * The planes a tensor of this format and shape has, in file order.
     *
     * @param nnz the number of outliers, or -1 for none
     */
    public static List<Spec> expected(QuantFormat f, int rows, int cols, long nnz) {
        String st = f.scaleType() == ScaleType.F16 ? "F16" : "F32";
        List<Long> groups = List.of((long) rows, (long) f.groupsPerRow(cols));
        List<Spec> out = new ArrayList<>();
        out.add(new Spec(DATA, "U8", List.of((long) rows, f.rowBytes(cols))));
        if (!f.isGgml()) {
            out.add(new Spec(SCALES, st, groups));
        }
        if (f.hasZeroPlane()) {
            out.add(new Spec(ZEROS, st, groups));
        }
        if (f.hasLevels()) {
            out.add(new Spec(LEVELS, "F32", List.of(16L)));
        }
        if (nnz >= 0) {
            out.add(new Spec(ROW_PTR, "I32", List.of(rows + 1L)));
            out.add(new Spec(COL_IDX, "I32", List.of(nnz)));
            out.add(new Spec(VALUES, "F32", List.of(nnz)));
        }
        return out;
    }

    public static String hex(CRC32C crc) {
        return HexFormat.of().toHexDigits((int) crc.getValue());
    }

    /**
     * CRC-32C of a segment of any size, taken over heap copies made by {@link MappedInput#read}: the
     * CRC-32C intrinsic cannot survive a mapped page that vanishes, the guarded copy can.
     *
     * @throws dev.lowbit.format.io.MappedInputException if {@code s} is a view of a file that shrank while mapped
     */
    public static String crc32c(MemorySegment s) throws IOException {
        CRC32C crc = new CRC32C();
        MappedInput.read(s, (buf, n) -> crc.update(buf, 0, n));
        return hex(crc);
    }

    /** The checksum stored under {@link #METADATA_CRC_KEY}. */
    public static String metadataCrc(Map<String, ?> metadata) {
        Map<String, Object> sorted = new TreeMap<>(metadata);
        sorted.remove(METADATA_CRC_KEY);
        CRC32C crc = new CRC32C();
        crc.update(Json.write(sorted).getBytes(java.nio.charset.StandardCharsets.UTF_8));
        return hex(crc);
    }

    /**
     * Writes {@code seg} at {@code position} in slices of at most {@code chunk} bytes (and at most
     * {@link MappedInput#CHUNK}), feeding the same bytes to {@code crc} so that the checksum describes exactly
     * what reached the file. Each slice is first copied to the heap by {@link MappedInput}, so a mapped
     * input that shrinks underneath is a {@link dev.lowbit.format.io.MappedInputException}, not a crash.
     */
    public static void write(FileChannel ch, long position, MemorySegment seg, CRC32C crc, long chunk) throws IOException {
        int step = (int) Math.min(Math.min(chunk, MappedInput.CHUNK), Math.max(seg.byteSize(), 1));
        byte[] stage = new byte[step];
        MemorySegment st = MemorySegment.ofArray(stage);
        for (long off = 0; off < seg.byteSize(); off += step) {
            int n = (int) Math.min(step, seg.byteSize() - off);
            MappedInput.copy(seg, off, st, 0, n);
            crc.update(stage, 0, n);
            ByteBuffer b = ByteBuffer.wrap(stage, 0, n);
            long at = position + off;
            while (b.hasRemaining()) {
                at += ch.write(b, at);
            }
        }
    }

    /** The tensor's planes in the order of {@link #expected}. */
    public static List<MemorySegment> segments(QuantizedTensor t) {
        List<MemorySegment> out = new ArrayList<>();
        out.add(t.data());
        if (t.scales() != null) {
            out.add(t.scales());
        }
        if (t.zeros() != null) {
            out.add(t.zeros());
        }
        if (t.format().hasLevels()) {
            MemorySegment lv = MemorySegment.ofArray(new byte[64]);
            MemorySegment.copy(t.levels(), 0, lv, Layouts.F32, 0, 16);
            out.add(lv);
        }
        SparseOutliers o = t.outliers();
        if (o != null) {
            out.add(o.rowPtrPlane());
            out.add(o.colIdxPlane());
            out.add(o.valuesPlane());
        }
        return out;
    }

    /**
     * A tensor over planes given in the order of {@link #expected}.
     *
     * @throws IllegalArgumentException if the planes do not make a valid tensor (levels, CSR)
     */
    public static QuantizedTensor tensor(QuantFormat f, int rows, int cols, boolean outliers, List<MemorySegment> s) {
        int i = 0;
        MemorySegment data = s.get(i++);
        MemorySegment scales = f.isGgml() ? null : s.get(i++);
        MemorySegment zeros = f.hasZeroPlane() ? s.get(i++) : null;
        float[] levels = f.hasLevels() ? s.get(i++).toArray(Layouts.F32) : null;
        QuantizedTensor t = QuantizedTensor.of(f, rows, cols, data, scales, zeros, levels);
        return outliers ? t.withOutliers(SparseOutliers.of(rows, cols, s.get(i), s.get(i + 1), s.get(i + 2))) : t;
    }
}

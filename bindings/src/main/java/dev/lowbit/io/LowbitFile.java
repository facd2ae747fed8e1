package dev.lowbit.io;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * Quantized tensors in a safetensors container: an 8-byte little-endian header length, a JSON header
 * naming each plane ({@code <tensor>.data}, {@code .scales}, {@code .zeros}, {@code .levels},
 * {@code .outliers.row_ptr}, {@code .outliers.col_idx}, {@code .outliers.values}) with its dtype, shape
 * and byte range, then the planes back to back. The header's {@code __metadata__} holds, per tensor,
 * {@code lowbit.<tensor>}: its format, shape and the CRC-32C of every plane. The header is padded with
 * spaces so that the planes start on a 64-byte boundary.
 *
 * <p>Writes go to a temporary file in the same directory that is then renamed, so an interrupted
 * write leaves no partial file. Reads map the file and return tensors over slices of the mapping, with
 * no copy; every length, offset and checksum is checked first.
 */
public final class LowbitFile {
    /** The largest header a reader accepts. */
    static final long MAX_HEADER = 100L << 20;
    private static final int ALIGN = 64;
    private static final String META = "__metadata__";
    private static final String PREFIX = "lowbit.";
    /** The CRC-32C of the user's metadata, so that a damaged header cannot hand back altered strings. */
    private static final String USER_CRC = PREFIX + "metadata_crc32c";

    private static String userCrc(Map<String, String> user) {
        CRC32C c = new CRC32C();
        c.update(Json.write(user).getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().toHexDigits((int) c.getValue());
    }

    private LowbitFile() {
    }

    /** Tensors and free-form metadata read from a file. */
    public record Contents(Map<String, QuantizedTensor> tensors, Map<String, String> metadata) {
    }

    private record Plane(String name, String dtype, List<Long> shape, MemorySegment bytes) {
    }

    public static void write(Path path, Map<String, QuantizedTensor> tensors) throws IOException {
        write(path, tensors, Map.of());
    }

    /**
     * Writes {@code tensors} (in the map's iteration order) and {@code metadata} (keys must not start
     * with {@code lowbit.}) to {@code path}, replacing it atomically.
     */
    public static void write(Path path, Map<String, QuantizedTensor> tensors, Map<String, String> metadata)
            throws IOException {
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put(PREFIX + "version", "1");
        Map<String, String> user = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : metadata.entrySet()) {
            if (e.getKey().startsWith(PREFIX) || e.getValue() == null) {
                throw new IllegalArgumentException("metadata key '" + e.getKey()
                        + "' is reserved or has no value (keys starting with lowbit. are lowbit's own)");
            }
            user.put(e.getKey(), e.getValue());
        }
        meta.put(USER_CRC, userCrc(user));
        meta.putAll(user);
        List<Plane> planes = new ArrayList<>();
        try (Arena scratch = Arena.ofConfined()) {
            for (Map.Entry<String, QuantizedTensor> e : tensors.entrySet()) {
                String name = e.getKey();
                if (name == null || name.isEmpty() || name.equals(META)) {
                    throw new IllegalArgumentException("tensor name '" + name + "' is empty or reserved");
                }
                List<Plane> own = planesOf(name, e.getValue(), scratch);
                Map<String, Object> crc = new LinkedHashMap<>();
                for (Plane p : own) {
                    crc.put(p.name.substring(name.length() + 1), crc32c(p.bytes));
                }
                Map<String, Object> desc = new LinkedHashMap<>();
                QuantizedTensor t = e.getValue();
                desc.put("format", t.format().name());
                desc.put("rows", (long) t.rows());
                desc.put("cols", (long) t.cols());
                desc.put("nnz", t.outliers() == null ? -1L : (long) t.outliers().nnz());
                desc.put("crc32c", crc);
                meta.put(PREFIX + name, Json.write(desc));
                planes.addAll(own);
            }
            Map<String, Object> header = new LinkedHashMap<>();
            header.put(META, meta);
            long at = 0;
            for (Plane p : planes) {
                Map<String, Object> d = new LinkedHashMap<>();
                d.put("dtype", p.dtype);
                d.put("shape", p.shape);
                d.put("data_offsets", List.of(at, at + p.bytes.byteSize()));
                if (header.put(p.name, d) != null) {
                    throw new IllegalArgumentException("two planes are named '" + p.name + "'; rename a tensor");
                }
                at += p.bytes.byteSize();
            }
            byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
            int padded = (8 + json.length + ALIGN - 1) / ALIGN * ALIGN - 8;
            ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(padded).put(json);
            while (head.hasRemaining()) {
                head.put((byte) ' ');
            }
            head.flip();
            writeAtomically(path, head, planes);
        }
    }

    private static List<Plane> planesOf(String name, QuantizedTensor t, Arena scratch) {
        QuantFormat f = t.format();
        long rows = t.rows();
        long gpr = f.groupsPerRow(t.cols());
        String scaleType = f.scaleType() == ScaleType.F16 ? "F16" : "F32";
        List<Plane> out = new ArrayList<>();
        out.add(new Plane(name + ".data", "U8", List.of(rows, f.rowBytes(t.cols())), t.data()));
        if (t.scales() != null) {
            out.add(new Plane(name + ".scales", scaleType, List.of(rows, gpr), t.scales()));
        }
        if (t.zeros() != null) {
            out.add(new Plane(name + ".zeros", scaleType, List.of(rows, gpr), t.zeros()));
        }
        if (f.kind() == QuantFormat.Kind.CODEBOOK4) {
            MemorySegment lv = scratch.allocate(64);
            MemorySegment.copy(t.levels(), 0, lv, Layouts.F32, 0, 16);
            out.add(new Plane(name + ".levels", "F32", List.of(16L), lv));
        }
        SparseOutliers o = t.outliers();
        if (o != null) {
            out.add(new Plane(name + ".outliers.row_ptr", "I32", List.of(rows + 1), o.rowPtrPlane()));
            out.add(new Plane(name + ".outliers.col_idx", "I32", List.of((long) o.nnz()), o.colIdxPlane()));
            out.add(new Plane(name + ".outliers.values", "F32", List.of((long) o.nnz()), o.valuesPlane()));
        }
        return out;
    }

    private static void writeAtomically(Path path, ByteBuffer head, List<Plane> planes) throws IOException {
        Path abs = path.toAbsolutePath();
        Path dir = abs.getParent();
        Path tmp = Files.createTempFile(dir, abs.getFileName().toString(), ".tmp");
        boolean done = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                writeFully(ch, head);
                for (Plane p : planes) {
                    // asByteBuffer holds at most 2 GiB: larger planes go out in slices.
                    for (long off = 0; off < p.bytes.byteSize(); off += 1L << 30) {
                        long n = Math.min(1L << 30, p.bytes.byteSize() - off);
                        writeFully(ch, p.bytes.asSlice(off, n).asByteBuffer());
                    }
                }
                ch.force(true);
            }
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            done = true;
        } finally {
            if (!done) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    private static String crc32c(MemorySegment s) {
        CRC32C c = new CRC32C();
        for (long off = 0; off < s.byteSize(); off += 1L << 30) {
            c.update(s.asSlice(off, Math.min(1L << 30, s.byteSize() - off)).asByteBuffer());
        }
        return HexFormat.of().toHexDigits((int) c.getValue());
    }

    /** Maps {@code path} and returns its tensors; see {@link #open}. */
    public static Map<String, QuantizedTensor> map(Path path, Arena arena) throws IOException {
        return open(path, arena).tensors();
    }

    /**
     * Maps {@code path} read-only into {@code arena} and returns its tensors, whose planes are slices of
     * the mapping, and its metadata (without lowbit's own keys).
     *
     * @throws CorruptFileException when anything in the file is inconsistent
     */
    public static Contents open(Path path, Arena arena) throws IOException {
        MemorySegment file;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new CorruptFileException(path, "file is " + size + " bytes, shorter than the 8-byte header length");
            }
            file = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        }
        return new Reader(path, file).read();
    }

    /** Checks one mapped file; every failure names the file, the field and the value. */
    private static final class Reader {
        private final Path path;
        private final MemorySegment file;
        private final java.util.Set<String> claimed = new java.util.HashSet<>();
        private MemorySegment buffer;

        Reader(Path path, MemorySegment file) {
            this.path = path;
            this.file = file;
        }

        private CorruptFileException bad(String message) {
            return new CorruptFileException(path, message);
        }

        Contents read() throws CorruptFileException {
            long n = file.get(Layouts.I64, 0);
            if (n < 2 || n > MAX_HEADER || n > file.byteSize() - 8) {
                throw bad("header length " + n + " does not fit a file of " + file.byteSize() + " bytes (at most "
                        + MAX_HEADER + ")");
            }
            buffer = file.asSlice(8 + n);
            Map<String, Object> header = header(n);
            Map<String, String> meta = metadata(header.remove(META));
            Map<String, Plane> planes = planes(header);
            if (!"1".equals(meta.get(PREFIX + "version"))) {
                throw bad("not a lowbit file: metadata lowbit.version is " + meta.get(PREFIX + "version") + ", expected 1");
            }
            Map<String, QuantizedTensor> tensors = new LinkedHashMap<>();
            Map<String, String> user = new LinkedHashMap<>();
            for (Map.Entry<String, String> e : meta.entrySet()) {
                String k = e.getKey();
                if (!k.startsWith(PREFIX)) {
                    user.put(k, e.getValue());
                } else if (!k.equals(PREFIX + "version") && !k.equals(USER_CRC)) {
                    String name = k.substring(PREFIX.length());
                    tensors.put(name, tensor(name, e.getValue(), planes));
                }
            }
            if (!userCrc(user).equals(meta.get(USER_CRC))) {
                throw bad("metadata has CRC-32C " + userCrc(user) + ", the header says " + meta.get(USER_CRC));
            }
            planes.keySet().removeAll(claimed);
            if (!planes.isEmpty()) {
                throw bad("planes " + planes.keySet() + " belong to no lowbit tensor");
            }
            return new Contents(java.util.Collections.unmodifiableMap(tensors), java.util.Collections.unmodifiableMap(user));
        }

        private Map<String, Object> header(long n) throws CorruptFileException {
            byte[] raw = file.asSlice(8, n).toArray(Layouts.U8);
            String text;
            try {
                text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(raw)).toString();
            } catch (CharacterCodingException e) {
                throw bad("header is not UTF-8");
            }
            Object v;
            try {
                v = Json.parse(text);
            } catch (IllegalArgumentException e) {
                throw bad("header is not valid JSON: " + e.getMessage());
            }
            if (!(v instanceof Map<?, ?> m)) {
                throw bad("header is not a JSON object");
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> map = (Map<String, Object>) m;
            return new LinkedHashMap<>(map);
        }

        private Map<String, String> metadata(Object v) throws CorruptFileException {
            if (!(v instanceof Map<?, ?> m)) {
                throw bad("header has no __metadata__ object");
            }
            Map<String, String> out = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!(e.getValue() instanceof String s)) {
                    throw bad("metadata value of '" + e.getKey() + "' is not a string");
                }
                out.put((String) e.getKey(), s);
            }
            return out;
        }

        /** Every entry is a plane; together they must tile the byte buffer exactly. */
        private Map<String, Plane> planes(Map<String, Object> header) throws CorruptFileException {
            Map<String, Plane> out = new LinkedHashMap<>();
            List<long[]> ranges = new ArrayList<>();
            for (Map.Entry<String, Object> e : header.entrySet()) {
                String name = e.getKey();
                if (!(e.getValue() instanceof Map<?, ?> d)) {
                    throw bad("plane '" + name + "' is not a JSON object");
                }
                if (!(d.get("dtype") instanceof String dtype)) {
                    throw bad("plane '" + name + "' has no dtype");
                }
                long width = switch (dtype) {
                    case "U8", "I8", "BOOL" -> 1;
                    case "F16", "BF16", "I16", "U16" -> 2;
                    case "F32", "I32", "U32" -> 4;
                    case "F64", "I64", "U64" -> 8;
                    default -> throw bad("plane '" + name + "' has unknown dtype '" + dtype + "'");
                };
                List<Long> shape = longs(name, "shape", d.get("shape"), -1);
                List<Long> offsets = longs(name, "data_offsets", d.get("data_offsets"), 2);
                long bytes = width;
                try {
                    for (long s : shape) {
                        bytes = Math.multiplyExact(bytes, s);
                    }
                } catch (ArithmeticException ex) {
                    throw bad("plane '" + name + "' shape " + shape + " overflows");
                }
                long b = offsets.get(0);
                long end = offsets.get(1);
                if (b > end || end > buffer.byteSize() || end - b != bytes) {
                    throw bad("plane '" + name + "' data_offsets " + offsets + " do not hold " + bytes + " bytes of "
                            + dtype + " " + shape + " within the " + buffer.byteSize() + "-byte buffer");
                }
                ranges.add(new long[] {b, end});
                out.put(name, new Plane(name, dtype, shape, buffer.asSlice(b, bytes)));
            }
            ranges.sort(Comparator.<long[]>comparingLong(r -> r[0]).thenComparingLong(r -> r[1]));
            long at = 0;
            for (long[] r : ranges) {
                if (r[0] != at) {
                    throw bad("planes leave a " + (r[0] > at ? "hole" : "overlap") + " at buffer offset " + Math.min(at, r[0]));
                }
                at = r[1];
            }
            if (at != buffer.byteSize()) {
                throw bad("planes cover " + at + " of the " + buffer.byteSize() + " bytes after the header");
            }
            return out;
        }

        private List<Long> longs(String plane, String field, Object v, int want) throws CorruptFileException {
            if (!(v instanceof List<?> l) || (want >= 0 && l.size() != want)) {
                throw bad("plane '" + plane + "' " + field + " is not an array" + (want >= 0 ? " of " + want : ""));
            }
            List<Long> out = new ArrayList<>();
            for (Object o : l) {
                if (!(o instanceof Long x) || x < 0) {
                    throw bad("plane '" + plane + "' " + field + " holds " + o + ", not a non-negative integer");
                }
                out.add(x);
            }
            return out;
        }

        private QuantizedTensor tensor(String name, String descText, Map<String, Plane> planes)
                throws CorruptFileException {
            Map<?, ?> desc;
            QuantFormat f;
            int rows;
            int cols;
            long nnz;
            Map<?, ?> crc;
            try {
                desc = (Map<?, ?>) Json.parse(descText);
                f = QuantFormat.parse((String) desc.get("format"));
                rows = Math.toIntExact((Long) desc.get("rows"));
                cols = Math.toIntExact((Long) desc.get("cols"));
                nnz = (Long) desc.get("nnz");
                crc = (Map<?, ?>) desc.get("crc32c");
            } catch (RuntimeException e) { // ClassCast, NullPointer, Arithmetic, IllegalArgument
                throw bad("metadata of tensor '" + name + "' is malformed: " + descText);
            }
            if (rows < 0 || cols < 0 || crc == null) {
                throw bad("tensor '" + name + "' has shape " + rows + "x" + cols + " or no checksums");
            }
            String st = f.scaleType() == ScaleType.F16 ? "F16" : "F32";
            long gpr = f.groupsPerRow(cols);
            MemorySegment data = plane(name, "data", "U8", List.of((long) rows, f.rowBytes(cols)), planes, crc);
            MemorySegment scales = f.isGgml() ? null : plane(name, "scales", st, List.of((long) rows, gpr), planes, crc);
            MemorySegment zeros = f.hasZeroPlane() ? plane(name, "zeros", st, List.of((long) rows, gpr), planes, crc) : null;
            float[] levels = null;
            if (f.kind() == QuantFormat.Kind.CODEBOOK4) {
                levels = plane(name, "levels", "F32", List.of(16L), planes, crc).toArray(Layouts.F32);
            }
            try {
                QuantizedTensor t = QuantizedTensor.of(f, rows, cols, data, scales, zeros, levels);
                if (nnz >= 0) {
                    MemorySegment rp = plane(name, "outliers.row_ptr", "I32", List.of(rows + 1L), planes, crc);
                    MemorySegment ci = plane(name, "outliers.col_idx", "I32", List.of(nnz), planes, crc);
                    MemorySegment va = plane(name, "outliers.values", "F32", List.of(nnz), planes, crc);
                    t = t.withOutliers(SparseOutliers.of(rows, cols, rp, ci, va));
                }
                return t;
            } catch (IllegalArgumentException e) {
                throw new CorruptFileException(path, "tensor '" + name + "': " + e.getMessage(), e);
            }
        }

        private MemorySegment plane(String tensor, String part, String dtype, List<Long> shape, Map<String, Plane> planes,
                                    Map<?, ?> crc) throws CorruptFileException {
            String name = tensor + "." + part;
            Plane p = planes.get(name);
            if (p == null) {
                throw bad("tensor '" + tensor + "' has no plane '" + name + "'");
            }
            claimed.add(name);
            if (!p.dtype.equals(dtype) || !p.shape.equals(shape)) {
                throw bad("plane '" + name + "' is " + p.dtype + " " + p.shape + ", expected " + dtype + " " + shape);
            }
            Object want = crc.get(part);
            String have = crc32c(p.bytes);
            if (!have.equals(want)) {
                throw bad("plane '" + name + "' has CRC-32C " + have + ", the header says " + want);
            }
            return p.bytes;
        }
    }
}

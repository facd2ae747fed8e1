package dev.lowbit.models;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.io.CorruptFileException;
import dev.lowbit.io.Json;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.text.ParseException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.zip.CRC32C;

/**
 * safetensors files: an 8-byte little-endian header length {@code N}, {@code N} bytes of UTF-8 JSON (one
 * entry {@code {"dtype", "shape", "data_offsets"}} per tensor and an optional {@code __metadata__} object of
 * strings), then the tensor bytes, which the entries tile exactly.
 *
 * <p>Dense tensors are F32, F16 or BF16. lowbit's quantized tensors are stored as the planes of its own
 * container ({@code docs/formats.md}, "safetensors"): {@code <name>.data} (U8), {@code <name>.scales},
 * {@code <name>.zeros} (F16/F32), {@code <name>.levels} (F32), {@code <name>.outliers.*} (I32/F32), with
 * the format, shape and a CRC-32C per plane in {@code __metadata__["lowbit.<name>"]}. A file holding only
 * quantized tensors is therefore also a file that {@code dev.lowbit.io.LowbitFile} reads.
 *
 * <p>The reader trusts no header: every offset must lie inside the file and match its dtype and shape,
 * the entries must tile the data with no hole or overlap, and lowbit's planes must match their checksums.
 * Entries of other dtypes (I64 position ids, for example) are listed by name but not read.
 */
public final class Safetensors {
    private Safetensors() {
    }

    /** The largest header accepted, so that a damaged length cannot make the reader allocate gigabytes. */
    static final long MAX_HEADER = 100L << 20;
    static final String METADATA = "__metadata__";
    static final String PREFIX = "lowbit.";
    static final String VERSION_KEY = PREFIX + "version";
    static final String METADATA_CRC_KEY = PREFIX + "metadata_crc32c";
    private static final int ALIGN = 64;
    private static final Set<String> ENTRY_FIELDS = Set.of("dtype", "shape", "data_offsets");
    private static final Set<String> DESCRIPTOR_FIELDS = Set.of("format", "rows", "cols", "nnz", "crc32c");
    private static final Map<String, Integer> DTYPE_BYTES = Map.ofEntries(
            Map.entry("BOOL", 1), Map.entry("U8", 1), Map.entry("I8", 1), Map.entry("F8_E5M2", 1),
            Map.entry("F8_E4M3", 1), Map.entry("I16", 2), Map.entry("U16", 2), Map.entry("F16", 2),
            Map.entry("BF16", 2), Map.entry("I32", 4), Map.entry("U32", 4), Map.entry("F32", 4),
            Map.entry("I64", 8), Map.entry("U64", 8), Map.entry("F64", 8));

    /**
     * What a file holds.
     *
     * @param dense       F32, F16 and BF16 tensors, in file order
     * @param quantized   lowbit quantized tensors, in file order
     * @param unsupported entries of other dtypes, name to dtype
     * @param metadata    the caller's metadata, without lowbit's own {@code lowbit.} keys
     */
    public record Contents(Map<String, DenseTensor> dense, Map<String, QuantizedTensor> quantized,
                           Map<String, String> unsupported, Map<String, String> metadata) {
    }

    // ---------------------------------------------------------------- writing

    private record Entry(String key, String dtype, List<Long> shape, MemorySegment bytes) {
    }

    /**
     * Writes {@code dense}, then {@code quantized}, each in map order, with {@code metadata}, replacing
     * any file at {@code path} atomically.
     *
     * @throws IllegalArgumentException if two entries would have the same name, a metadata key starts with
     *                                  {@code lowbit.}, or a name is empty
     */
    public static void write(Path path, Map<String, DenseTensor> dense, Map<String, QuantizedTensor> quantized,
                             Map<String, String> metadata) throws IOException {
        List<Entry> entries = new ArrayList<>();
        Set<String> keys = new HashSet<>();
        for (Map.Entry<String, DenseTensor> e : dense.entrySet()) {
            DenseTensor t = e.getValue();
            List<Long> shape = new ArrayList<>();
            for (long d : t.shape()) {
                shape.add(d);
            }
            entries.add(new Entry(e.getKey(), t.dtype().name(), shape, t.bytes()));
        }
        Map<String, Object> meta = new LinkedHashMap<>();
        if (!quantized.isEmpty()) {
            meta.put(VERSION_KEY, "1");
        }
        for (Map.Entry<String, QuantizedTensor> e : quantized.entrySet()) {
            String name = e.getKey();
            QuantizedTensor t = e.getValue();
            if (name.isEmpty() || (PREFIX + name).equals(VERSION_KEY) || (PREFIX + name).equals(METADATA_CRC_KEY)) {
                throw new IllegalArgumentException("quantized tensor name '" + name + "' is empty or reserved");
            }
            long nnz = t.outliers() == null ? -1 : t.outliers().nnz();
            List<QuantizedPlanes.Spec> specs = QuantizedPlanes.specs(t.format(), t.rows(), t.cols(), nnz);
            List<MemorySegment> segs = QuantizedPlanes.segments(t);
            Map<String, Object> crcs = new LinkedHashMap<>();
            for (int i = 0; i < specs.size(); i++) {
                QuantizedPlanes.Spec s = specs.get(i);
                entries.add(new Entry(name + "." + s.part(), s.dtype(), s.shape(), segs.get(i)));
                crcs.put(s.part(), crc32c(segs.get(i)));
            }
            Map<String, Object> desc = new LinkedHashMap<>();
            desc.put("format", t.format().name());
            desc.put("rows", t.rows());
            desc.put("cols", t.cols());
            if (nnz >= 0) {
                desc.put("nnz", nnz);
            }
            desc.put("crc32c", crcs);
            meta.put(PREFIX + name, Json.write(desc));
        }
        for (Map.Entry<String, String> e : metadata.entrySet()) {
            if (e.getKey().startsWith(PREFIX)) {
                throw new IllegalArgumentException("metadata key '" + e.getKey() + "' is reserved: keys starting with "
                        + PREFIX + " are lowbit's own");
            }
            meta.put(e.getKey(), e.getValue());
        }
        if (!quantized.isEmpty()) {
            meta.put(METADATA_CRC_KEY, metadataCrc(meta));
        }
        Map<String, Object> header = new LinkedHashMap<>();
        if (!meta.isEmpty()) {
            header.put(METADATA, meta);
        }
        long at = 0;
        for (Entry e : entries) {
            if (e.key.isEmpty() || e.key.equals(METADATA) || !keys.add(e.key)) {
                throw new IllegalArgumentException("tensor name '" + e.key + "' is empty, reserved or used twice");
            }
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("dtype", e.dtype);
            d.put("shape", e.shape);
            d.put("data_offsets", List.of(at, at + e.bytes.byteSize()));
            header.put(e.key, d);
            at += e.bytes.byteSize();
        }
        byte[] json = utf8(Json.write(header));
        // Spaces after the JSON are allowed and put the data on a 64-byte boundary.
        long padded = (8L + json.length + ALIGN - 1) / ALIGN * ALIGN - 8;
        if (padded > MAX_HEADER) {
            throw new IllegalArgumentException("the header would be " + padded + " bytes, more than " + MAX_HEADER);
        }
        ByteBuffer head = ByteBuffer.allocate((int) (8 + padded)).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        AtomicFiles.write(path, ch -> {
            AtomicFiles.append(ch, MemorySegment.ofArray(head.array()));
            for (Entry e : entries) {
                AtomicFiles.append(ch, e.bytes);
            }
        });
    }

    private static byte[] utf8(String s) {
        try {
            ByteBuffer b = StandardCharsets.UTF_8.newEncoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).encode(java.nio.CharBuffer.wrap(s));
            byte[] out = new byte[b.remaining()];
            b.get(out);
            return out;
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("a tensor name or metadata string is not valid Unicode", e);
        }
    }

    static String crc32c(MemorySegment s) {
        CRC32C crc = new CRC32C();
        byte[] stage = new byte[(int) Math.min(s.byteSize(), 1 << 20)];
        for (long off = 0; off < s.byteSize(); off += stage.length) {
            int n = (int) Math.min(stage.length, s.byteSize() - off);
            MemorySegment.copy(s, off, MemorySegment.ofArray(stage), 0, n);
            crc.update(stage, 0, n);
        }
        return HexFormat.of().toHexDigits((int) crc.getValue());
    }

    /** CRC-32C of the compact JSON of the metadata with sorted keys, its own entry left out (as LowbitFile). */
    static String metadataCrc(Map<String, ?> metadata) {
        Map<String, Object> sorted = new TreeMap<>(metadata);
        sorted.remove(METADATA_CRC_KEY);
        CRC32C crc = new CRC32C();
        crc.update(Json.write(sorted).getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().toHexDigits((int) crc.getValue());
    }

    // ---------------------------------------------------------------- reading

    private record Range(String key, String dtype, List<Long> shape, long begin, long end) {
    }

    private record Layout(String name, QuantFormat format, int rows, int cols, boolean outliers, List<Range> planes,
                          Map<String, String> crcs) {
    }

    /**
     * Maps {@code path} into {@code arena} and returns its tensors, read-only views of the mapping valid
     * while the arena is alive. Nothing is left mapped in {@code arena} when the file is refused.
     *
     * @throws CorruptFileException if anything in the file is inconsistent
     */
    public static Contents read(Path path, Arena arena) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            Reader r = new Reader(path, ch.size());
            r.parse(r.header(ch));
            try (Arena scratch = Arena.ofConfined()) {
                r.build(ch.map(FileChannel.MapMode.READ_ONLY, 0, r.size, scratch), true);
            }
            return r.build(ch.map(FileChannel.MapMode.READ_ONLY, 0, r.size, arena), false);
        }
    }

    private static final class Reader {
        private final Path path;
        private final long size;
        private long bufferStart;
        private final Map<String, String> user = new LinkedHashMap<>();
        private final List<Layout> layouts = new ArrayList<>();
        private final Map<String, Range> dense = new LinkedHashMap<>();
        private final Map<String, String> unsupported = new LinkedHashMap<>();

        Reader(Path path, long size) {
            this.path = path;
            this.size = size;
        }

        private CorruptFileException bad(String message) {
            return new CorruptFileException(path, message);
        }

        String header(FileChannel ch) throws IOException {
            if (size < 8) {
                throw bad("file is " + size + " bytes, shorter than the 8-byte header length");
            }
            long n = read(ch, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (n < 0 || n > MAX_HEADER || n > size - 8) {
                throw bad("header length " + Long.toUnsignedString(n) + " does not fit: the file is " + size
                        + " bytes and a header may be at most " + MAX_HEADER);
            }
            bufferStart = 8 + n;
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(read(ch, 8, (int) n)).toString();
            } catch (CharacterCodingException e) {
                throw bad("header is not valid UTF-8");
            }
        }

        private ByteBuffer read(FileChannel ch, long at, int n) throws IOException {
            ByteBuffer b = ByteBuffer.allocate(n);
            while (b.hasRemaining()) {
                if (ch.read(b, at + b.position()) < 0) {
                    throw bad("file ended at byte " + (at + b.position()) + " while reading the header");
                }
            }
            return b.flip();
        }

        private Object json(String text, String what) throws CorruptFileException {
            try {
                return Json.parse(text);
            } catch (ParseException e) {
                throw bad(what + " is not valid JSON: " + e.getMessage());
            }
        }

        private Map<?, ?> object(Object v, String what) throws CorruptFileException {
            if (!(v instanceof Map<?, ?> m)) {
                throw bad(what + " is " + (v == null ? "missing" : v) + ", not a JSON object");
            }
            return m;
        }

        private long integer(Object v, String what, long max) throws CorruptFileException {
            if (!(v instanceof Long x) || x < 0 || x > max) {
                throw bad(what + " is " + v + ", not an integer in [0, " + max + "]");
            }
            return x;
        }

        private List<Long> integers(Object v, String what, int count) throws CorruptFileException {
            if (!(v instanceof List<?> l) || (count >= 0 && l.size() != count)) {
                throw bad(what + " is " + v + ", not an array" + (count >= 0 ? " of " + count + " integers" : " of integers"));
            }
            List<Long> out = new ArrayList<>();
            for (Object o : l) {
                out.add(integer(o, what, Long.MAX_VALUE));
            }
            return out;
        }

        void parse(String text) throws CorruptFileException {
            Map<?, ?> header = object(json(text, "header"), "header");
            Map<String, String> meta = new LinkedHashMap<>();
            if (header.containsKey(METADATA)) {
                for (Map.Entry<?, ?> e : object(header.get(METADATA), METADATA).entrySet()) {
                    if (!(e.getValue() instanceof String s)) {
                        throw bad("metadata '" + e.getKey() + "' is " + e.getValue() + ", not a string");
                    }
                    meta.put((String) e.getKey(), s);
                }
            }
            Map<String, Range> entries = entries(header);
            boolean lowbit = meta.keySet().stream().anyMatch(k -> k.startsWith(PREFIX));
            if (lowbit) {
                if (!"1".equals(meta.get(VERSION_KEY))) {
                    throw bad("metadata " + VERSION_KEY + " is " + meta.get(VERSION_KEY) + ", not 1");
                }
                String crc = metadataCrc(meta);
                if (!crc.equals(meta.get(METADATA_CRC_KEY))) {
                    throw bad("metadata has CRC-32C " + crc + " but " + METADATA_CRC_KEY + " says " + meta.get(METADATA_CRC_KEY));
                }
            }
            for (Map.Entry<String, String> e : meta.entrySet()) {
                String k = e.getKey();
                if (!k.startsWith(PREFIX)) {
                    user.put(k, e.getValue());
                } else if (!k.equals(VERSION_KEY) && !k.equals(METADATA_CRC_KEY)) {
                    layouts.add(layout(k.substring(PREFIX.length()), e.getValue(), entries));
                }
            }
            layouts.sort(Comparator.comparingLong(l -> l.planes.getFirst().begin));
            for (Range r : entries.values()) {
                if (r.dtype.equals("F32") || r.dtype.equals("F16") || r.dtype.equals("BF16")) {
                    dense.put(r.key, r);
                } else {
                    unsupported.put(r.key, r.dtype);
                }
            }
        }

        /** Every entry but the metadata, each checked, then checked together for tiling the data exactly. */
        private Map<String, Range> entries(Map<?, ?> header) throws CorruptFileException {
            long bufferSize = size - bufferStart;
            Map<String, Range> out = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : header.entrySet()) {
                String key = (String) e.getKey();
                if (key.equals(METADATA)) {
                    continue;
                }
                String where = "tensor '" + key + "'";
                Map<?, ?> d = object(e.getValue(), where);
                if (!ENTRY_FIELDS.equals(d.keySet())) {
                    throw bad(where + " has fields " + d.keySet() + ", expected " + ENTRY_FIELDS);
                }
                Integer width = d.get("dtype") instanceof String s ? DTYPE_BYTES.get(s) : null;
                if (width == null) {
                    throw bad(where + " has unknown dtype " + d.get("dtype"));
                }
                List<Long> shape = integers(d.get("shape"), where + " shape", -1);
                List<Long> offsets = integers(d.get("data_offsets"), where + " data_offsets", 2);
                long bytes = width;
                for (long dim : shape) {
                    if (dim != 0 && bytes > Long.MAX_VALUE / dim) {
                        throw bad(where + " shape " + shape + " overflows a 64-bit byte count");
                    }
                    bytes *= dim;
                }
                long begin = offsets.get(0);
                long end = offsets.get(1);
                if (begin > end || end > bufferSize) {
                    throw bad(where + " data_offsets " + offsets + " are not a range within the " + bufferSize
                            + "-byte data");
                }
                if (end - begin != bytes) {
                    throw bad(where + " data_offsets " + offsets + " hold " + (end - begin) + " bytes, but "
                            + d.get("dtype") + " " + shape + " needs " + bytes);
                }
                out.put(key, new Range(key, (String) d.get("dtype"), shape, begin, end));
            }
            List<Range> sorted = new ArrayList<>(out.values());
            sorted.sort(Comparator.comparingLong(Range::begin).thenComparingLong(Range::end));
            long at = 0;
            String after = "the start of the data";
            for (Range r : sorted) {
                if (r.begin != at) {
                    throw bad("tensor '" + r.key + "' starts at data offset " + r.begin + " but " + after + " ends at " + at
                            + (r.begin > at ? ": a hole" : ": an overlap"));
                }
                at = r.end;
                after = "tensor '" + r.key + "'";
            }
            if (at != bufferSize) {
                throw bad("tensors cover " + at + " bytes but the data after the header has " + bufferSize);
            }
            return out;
        }

        private Layout layout(String name, String text, Map<String, Range> entries) throws CorruptFileException {
            String where = "metadata " + PREFIX + name;
            Map<?, ?> d = object(json(text, where), where);
            if (!DESCRIPTOR_FIELDS.containsAll(d.keySet())) {
                throw bad(where + " has fields " + d.keySet() + ", expected some of " + DESCRIPTOR_FIELDS);
            }
            QuantFormat f;
            try {
                f = QuantFormat.parse(d.get("format") instanceof String s ? s : String.valueOf(d.get("format")));
            } catch (IllegalArgumentException e) {
                throw bad(where + " format: " + e.getMessage());
            }
            int rows = (int) integer(d.get("rows"), where + " rows", Integer.MAX_VALUE);
            int cols = (int) integer(d.get("cols"), where + " cols", Integer.MAX_VALUE);
            long nnz = d.containsKey("nnz") ? integer(d.get("nnz"), where + " nnz", Integer.MAX_VALUE) : -1;
            Map<String, String> crcs = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : object(d.get("crc32c"), where + " crc32c").entrySet()) {
                if (!(e.getValue() instanceof String s) || !s.matches("[0-9a-f]{8}")) {
                    throw bad(where + " crc32c of '" + e.getKey() + "' is " + e.getValue() + ", not 8 lowercase hex digits");
                }
                crcs.put((String) e.getKey(), s);
            }
            List<QuantizedPlanes.Spec> specs = QuantizedPlanes.specs(f, rows, cols, nnz);
            List<String> parts = specs.stream().map(QuantizedPlanes.Spec::part).toList();
            if (!crcs.keySet().equals(Set.copyOf(parts))) {
                throw bad(where + " has checksums for " + crcs.keySet() + " but a " + f + " tensor has planes " + parts);
            }
            List<Range> planes = new ArrayList<>();
            for (QuantizedPlanes.Spec s : specs) {
                String key = name + "." + s.part();
                Range r = entries.remove(key);
                if (r == null) {
                    throw bad("plane '" + key + "' of quantized tensor '" + name + "' is missing");
                }
                if (!r.dtype.equals(s.dtype()) || !r.shape.equals(s.shape())) {
                    throw bad("plane '" + key + "' is " + r.dtype + " " + r.shape + " but a " + rows + "x" + cols + " " + f
                            + " tensor needs " + s.dtype() + " " + s.shape());
                }
                planes.add(r);
            }
            return new Layout(name, f, rows, cols, nnz >= 0, planes, crcs);
        }

        Contents build(MemorySegment file, boolean verify) throws CorruptFileException {
            Map<String, DenseTensor> d = new LinkedHashMap<>();
            for (Range r : dense.values()) {
                long[] shape = r.shape.stream().mapToLong(Long::longValue).toArray();
                d.put(r.key, new DenseTensor(r.key, DType.valueOf(r.dtype), shape,
                        file.asSlice(bufferStart + r.begin, r.end - r.begin)));
            }
            Map<String, QuantizedTensor> q = new LinkedHashMap<>();
            for (Layout l : layouts) {
                List<MemorySegment> segs = new ArrayList<>();
                for (Range p : l.planes) {
                    MemorySegment seg = file.asSlice(bufferStart + p.begin, p.end - p.begin);
                    String part = p.key.substring(l.name.length() + 1);
                    if (verify) {
                        String crc = crc32c(seg);
                        if (!crc.equals(l.crcs.get(part))) {
                            throw bad("plane '" + p.key + "' has CRC-32C " + crc + " but the header says " + l.crcs.get(part));
                        }
                    }
                    segs.add(seg);
                }
                try {
                    q.put(l.name, QuantizedPlanes.tensor(l.format, l.rows, l.cols, l.outliers, segs));
                } catch (IllegalArgumentException e) {
                    throw new CorruptFileException(path, "quantized tensor '" + l.name + "': " + e.getMessage(), e);
                }
            }
            return new Contents(Collections.unmodifiableMap(d), Collections.unmodifiableMap(q),
                    Collections.unmodifiableMap(unsupported), Collections.unmodifiableMap(user));
        }
    }
}

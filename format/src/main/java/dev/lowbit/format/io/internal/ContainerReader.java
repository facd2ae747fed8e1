package dev.lowbit.format.io.internal;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.io.CorruptFileException;
import dev.lowbit.format.io.Json;
import dev.lowbit.format.io.Names;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.text.ParseException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads the header of a safetensors file and the lowbit tensors it describes, trusting nothing in it:
 * every length, offset, shape and checksum is checked before a tensor is built, and every inconsistency
 * becomes a {@link CorruptFileException} naming the field. The lowbit container reads with
 * {@code lowbitOnly} set (every entry must belong to a lowbit tensor); the models module's safetensors
 * reader reads without it and takes the other entries as dense tensors.
 */
public final class ContainerReader {
    /** The largest header accepted, so that a damaged length cannot make the reader allocate gigabytes. */
    public static final long MAX_HEADER = 100L << 20;

    /** The fields of a header entry, in the order messages list them. */
    private static final List<String> ENTRY_FIELDS = List.of("dtype", "shape", "data_offsets");
    /** The fields a tensor descriptor may have, in the order messages list them. */
    private static final List<String> DESCRIPTOR_FIELDS = List.of("format", "rows", "cols", "nnz", "crc32c");

    /** A header entry: a byte range of the buffer, already checked against its dtype and shape. */
    public record Entry(String key, String dtype, List<Long> shape, long begin, long end) {
    }

    /** A tensor as the header describes it; {@code planes} follow {@link ContainerPlanes#expected}. */
    private record Layout(String name, QuantFormat format, int rows, int cols, boolean outliers, List<Entry> planes,
                          Map<String, String> crcs) {
    }

    private final Path path;
    private final long size;
    private final boolean lowbitOnly;
    private long bufferStart;
    private final List<Layout> layouts = new ArrayList<>();
    private final Map<String, String> user = new LinkedHashMap<>();
    private final List<Entry> others = new ArrayList<>();

    private ContainerReader(Path path, long size, boolean lowbitOnly) {
        this.path = path;
        this.size = size;
        this.lowbitOnly = lowbitOnly;
    }

    /**
     * Reads and checks the header of the file open in {@code ch}.
     *
     * @param lowbitOnly whether the file must be a lowbit container: {@code lowbit.version} present and
     *                   every entry a plane of a lowbit tensor
     */
    public static ContainerReader read(FileChannel ch, Path path, boolean lowbitOnly) throws IOException {
        ContainerReader r = new ContainerReader(path, ch.size(), lowbitOnly);
        r.parse(r.readHeader(ch));
        return r;
    }

    /** The file's size in bytes. */
    public long size() {
        return size;
    }

    /** Where the data after the header starts; entry offsets count from here. */
    public long bufferStart() {
        return bufferStart;
    }

    /** The caller's metadata, without lowbit's own {@code lowbit.} keys. */
    public Map<String, String> userMetadata() {
        return Collections.unmodifiableMap(user);
    }

    /** The entries that belong to no lowbit tensor, in header order (empty when {@code lowbitOnly}). */
    public List<Entry> others() {
        return Collections.unmodifiableList(others);
    }

    private CorruptFileException bad(String message) {
        return new CorruptFileException(path, message);
    }

    private String readHeader(FileChannel ch) throws IOException {
        if (size < 8) {
            throw bad("truncated: expected at least 8 bytes, file has " + size
                    + " (it is shorter than the 8-byte header length)");
        }
        long n = read(ch, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        // n is unsigned on disk: a negative long is a length of 2^63 or more.
        if (n < 0 || n > MAX_HEADER) {
            throw bad("header length " + Long.toUnsignedString(n) + " does not fit: the file is " + size
                    + " bytes and a header may be at most " + MAX_HEADER);
        }
        if (n > size - 8) {
            throw bad("truncated: expected " + (8 + n) + " bytes, file has " + size + " (the header length " + n
                    + " does not fit)");
        }
        bufferStart = 8 + n;
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(read(ch, 8, (int) n)).toString();
        } catch (CharacterCodingException e) {
            throw bad("header is not valid UTF-8 (" + e + ")");
        }
    }

    private ByteBuffer read(FileChannel ch, long at, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) {
            if (ch.read(b, at + b.position()) < 0) {
                throw bad("truncated: expected " + (at + n) + " bytes, file has " + (at + b.position())
                        + " (it shrank while its header was read)");
            }
        }
        return b.flip();
    }

    private void parse(String text) throws CorruptFileException {
        Map<?, ?> header = object(parseJson(text, "header"), "header");
        Map<String, String> meta = new LinkedHashMap<>();
        Object metadata = header.get(ContainerPlanes.METADATA);
        if (metadata == null && !lowbitOnly) {
            metadata = Map.of();
        }
        for (Map.Entry<?, ?> e : object(metadata, "header field " + ContainerPlanes.METADATA).entrySet()) {
            name("metadata key", (String) e.getKey());
            if (!(e.getValue() instanceof String s)) {
                throw bad("metadata '" + e.getKey() + "' is " + e.getValue() + ", not a string");
            }
            meta.put((String) e.getKey(), s);
        }
        Map<String, Entry> entries = entries(header);
        boolean lowbit = lowbitOnly || meta.keySet().stream().anyMatch(k -> k.startsWith(ContainerPlanes.PREFIX));
        if (!lowbit) {
            user.putAll(meta);
            others.addAll(entries.values());
            return;
        }
        if (!ContainerPlanes.VERSION.equals(meta.get(ContainerPlanes.VERSION_KEY))) {
            throw bad("metadata " + ContainerPlanes.VERSION_KEY + " is " + meta.get(ContainerPlanes.VERSION_KEY) + ", not "
                    + ContainerPlanes.VERSION + ": not a lowbit file, or a newer version");
        }
        String crc = ContainerPlanes.metadataCrc(meta);
        if (!crc.equals(meta.get(ContainerPlanes.METADATA_CRC_KEY))) {
            throw bad("metadata has CRC-32C " + crc + " but " + ContainerPlanes.METADATA_CRC_KEY + " says "
                    + meta.get(ContainerPlanes.METADATA_CRC_KEY));
        }
        for (Map.Entry<String, String> e : meta.entrySet()) {
            String k = e.getKey();
            if (!k.startsWith(ContainerPlanes.PREFIX)) {
                user.put(k, e.getValue());
            } else if (!k.equals(ContainerPlanes.VERSION_KEY) && !k.equals(ContainerPlanes.METADATA_CRC_KEY)) {
                layouts.add(layout(k.substring(ContainerPlanes.PREFIX.length()), e.getValue(), entries));
            }
        }
        if (lowbitOnly && !entries.isEmpty()) {
            throw bad("header entries " + entries.keySet() + " belong to no lowbit tensor");
        }
        others.addAll(entries.values());
        // The map's order is the write order, which is the order of the data planes in the buffer.
        layouts.sort(Comparator.comparingLong(l -> l.planes.getFirst().begin));
    }

    private Object parseJson(String text, String what) throws CorruptFileException {
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

    /** Refuses a name or key longer than {@link Names#MAX_BYTES}. */
    private void name(String what, String name) throws CorruptFileException {
        String problem = Names.tooLong(what, name);
        if (problem != null) {
            throw bad(problem);
        }
    }

    /** What {@code fields} lack and have beyond {@code allowed}, in {@code allowed}'s order then the file's. */
    private static String fieldProblem(Set<?> fields, List<String> required, List<String> allowed) {
        List<String> missing = required.stream().filter(f -> !fields.contains(f)).toList();
        List<Object> unknown = fields.stream().filter(f -> !allowed.contains(f)).map(f -> (Object) f).toList();
        if (missing.isEmpty() && unknown.isEmpty()) {
            return null;
        }
        String out = "";
        if (!missing.isEmpty()) {
            out = "lacks " + (missing.size() == 1 ? "field " : "fields ") + missing;
        }
        if (!unknown.isEmpty()) {
            out += (out.isEmpty() ? "has " : " and has ") + (unknown.size() == 1 ? "unknown field " : "unknown fields ")
                    + unknown;
        }
        return out + "; " + (required.equals(allowed) ? "an entry has the fields " + required
                : "a descriptor may have the fields " + allowed);
    }

    /** Every entry but the metadata, checked on its own and then for tiling the buffer exactly. */
    private Map<String, Entry> entries(Map<?, ?> header) throws CorruptFileException {
        long bufferSize = size - bufferStart;
        Map<String, Entry> out = new LinkedHashMap<>();
        Map<String, Long> needs = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : header.entrySet()) {
            String key = (String) e.getKey();
            if (key.equals(ContainerPlanes.METADATA)) {
                continue;
            }
            name("tensor name", key);
            String where = "plane '" + key + "'";
            Map<?, ?> d = object(e.getValue(), where);
            String fields = fieldProblem(d.keySet(), ENTRY_FIELDS, ENTRY_FIELDS);
            if (fields != null) {
                throw bad(where + " " + fields);
            }
            Integer width = d.get("dtype") instanceof String s ? ContainerPlanes.DTYPE_BYTES.get(s) : null;
            if (width == null) {
                throw bad(where + " has unknown dtype " + d.get("dtype") + "; safetensors dtypes are "
                        + ContainerPlanes.DTYPE_BYTES.keySet().stream().sorted().toList());
            }
            List<Long> shape = integers(d.get("shape"), where + " shape", -1);
            List<Long> offsets = integers(d.get("data_offsets"), where + " data_offsets", 2);
            long bytes = width;
            try {
                for (long dim : shape) {
                    bytes = Math.multiplyExact(bytes, dim);
                }
            } catch (ArithmeticException x) {
                throw bad(where + " shape " + shape + " of " + d.get("dtype") + " overflows a 64-bit byte count");
            }
            long begin = offsets.get(0);
            long end = offsets.get(1);
            if (begin > end) {
                throw bad(where + " data_offsets " + offsets + " are not a range: the start is after the end");
            }
            out.put(key, new Entry(key, (String) d.get("dtype"), shape, begin, end));
            needs.put(key, bytes);
        }
        // The end furthest out first: in a cut-off file every later check would fail for that reason.
        Entry last = out.values().stream().max(Comparator.comparingLong(Entry::end)).orElse(null);
        if (last != null && last.end > bufferSize) {
            // bufferStart + end < 2^64, so the unsigned sum is exact.
            throw bad("truncated: expected " + Long.toUnsignedString(bufferStart + last.end) + " bytes, file has " + size
                    + " (plane '" + last.key + "' data_offsets [" + last.begin + ", " + last.end
                    + "] end beyond the " + bufferSize + "-byte buffer)");
        }
        for (Entry p : out.values()) {
            long bytes = needs.get(p.key);
            if (p.end - p.begin != bytes) {
                throw bad("plane '" + p.key + "' data_offsets " + List.of(p.begin, p.end) + " hold " + (p.end - p.begin)
                        + " bytes, but " + p.dtype + " " + p.shape + " needs " + bytes);
            }
        }
        List<Entry> sorted = new ArrayList<>(out.values());
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long at = 0;
        String after = "the start of the buffer";
        for (Entry p : sorted) {
            if (p.begin != at) {
                throw bad("plane '" + p.key + "' starts at buffer offset " + p.begin + " but " + after + " ends at " + at
                        + (p.begin > at ? ": a hole" : ": an overlap"));
            }
            at = p.end;
            after = "plane '" + p.key + "'";
        }
        if (at != bufferSize) {
            throw bad("planes cover " + at + " bytes but the buffer after the header has " + bufferSize);
        }
        return out;
    }

    private List<Long> integers(Object v, String what, int count) throws CorruptFileException {
        if (!(v instanceof List<?> l) || (count >= 0 && l.size() != count)) {
            throw bad(what + " is " + v + ", not an array" + (count >= 0 ? " of " + count + " integers" : ""));
        }
        List<Long> out = new ArrayList<>();
        for (Object o : l) {
            out.add(integer(o, what, Long.MAX_VALUE));
        }
        return out;
    }

    /** Reads a {@code lowbit.<name>} descriptor and takes its planes out of {@code entries}. */
    private Layout layout(String name, String text, Map<String, Entry> entries) throws CorruptFileException {
        String where = "metadata " + ContainerPlanes.PREFIX + name;
        Map<?, ?> d = object(parseJson(text, where), where);
        // A missing field is reported by its own check below, with the value it lacks.
        String fields = fieldProblem(d.keySet(), List.of(), DESCRIPTOR_FIELDS);
        if (fields != null) {
            throw bad(where + " " + fields);
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
        List<ContainerPlanes.Spec> specs = ContainerPlanes.expected(f, rows, cols, nnz);
        List<String> parts = specs.stream().map(ContainerPlanes.Spec::part).toList();
        if (!crcs.keySet().equals(Set.copyOf(parts))) {
            throw bad(where + " has checksums for " + crcs.keySet() + " but a " + f + " tensor"
                    + (nnz >= 0 ? " with outliers" : "") + " has planes " + parts);
        }
        List<Entry> planes = new ArrayList<>();
        for (ContainerPlanes.Spec s : specs) {
            String key = name + "." + s.part();
            Entry p = entries.remove(key);
            if (p == null) {
                throw bad("plane '" + key + "' of tensor '" + name + "' is missing");
            }
            if (!p.dtype.equals(s.dtype()) || !p.shape.equals(s.shape())) {
                throw bad("plane '" + key + "' is " + p.dtype + " " + p.shape + " but a " + rows + "x" + cols + " " + f
                        + " tensor needs " + s.dtype() + " " + s.shape());
            }
            planes.add(p);
        }
        return new Layout(name, f, rows, cols, nnz >= 0, planes, crcs);
    }

    /**
     * Builds the lowbit tensors over {@code file} (a mapping of the whole file), in file order, first
     * checking each plane's checksum when {@code verify} is set.
     */
    public Map<String, QuantizedTensor> tensors(MemorySegment file, boolean verify) throws IOException {
        Map<String, QuantizedTensor> out = new LinkedHashMap<>();
        for (Layout l : layouts) {
            List<MemorySegment> s = new ArrayList<>();
            for (Entry p : l.planes) {
                MemorySegment seg = file.asSlice(bufferStart + p.begin, p.end - p.begin);
                String part = p.key.substring(l.name.length() + 1);
                String crc = verify ? ContainerPlanes.crc32c(seg) : null;
                if (verify && !crc.equals(l.crcs.get(part))) {
                    throw bad("plane '" + p.key + "' has CRC-32C " + crc + " but the header says " + l.crcs.get(part));
                }
                s.add(seg);
            }
            out.put(l.name, tensor(l, s));
        }
        return Collections.unmodifiableMap(out);
    }

    private QuantizedTensor tensor(Layout l, List<MemorySegment> s) throws IOException {
        try {
            return ContainerPlanes.tensor(l.format, l.rows, l.cols, l.outliers, s);
        } catch (IllegalArgumentException e) {
            throw new CorruptFileException(path, "tensor '" + l.name + "': " + e.getMessage(), e);
        } catch (InternalError e) {
            // The levels and the outliers' CSR are read from the mapping to be checked.
            if (MappedInput.isFault(e)) {
                throw MappedInput.changed(path, size, e);
            }
            throw e;
        }
    }
}

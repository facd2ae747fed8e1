package dev.lowbit.models;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.io.CorruptFileException;
import dev.lowbit.format.io.Names;
import dev.lowbit.format.io.internal.AtomicWrite;
import dev.lowbit.format.io.internal.MappedInput;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * GGUF files (version 3, little-endian), as ggml's {@code docs/gguf.md} defines them: the magic
 * {@code GGUF}, a uint32 version, uint64 tensor and metadata counts, the metadata key-value pairs, one
 * info per tensor (name, uint32 dim count, uint64 dims with {@code ne[0]} first, uint32 ggml type, uint64
 * offset), zero padding to the alignment ({@code general.alignment}, a UINT32, default 32), then the tensor
 * data, each tensor at its offset from the start of the data and padded to the alignment.
 *
 * <p>Tensors are of the plain types F64, F32, F16, BF16, I64, I32, I16 and I8 (read and written byte for
 * byte as {@link DenseTensor}s) or the block types Q4_0, Q4_1 and Q8_0. The writer lays out what ggml's own
 * reader demands: tensor names of 1 to 63 bytes, at most 4 dims, whole blocks per row, offsets in order
 * with no gaps beyond the padding. The reader checks the same, metadata keys of at most
 * {@link Names#MAX_BYTES} bytes, and every count, length and offset against the file size in exact 64-bit
 * arithmetic before anything is mapped for the caller, so a damaged file is a {@link CorruptFileException}
 * naming the file and the field. A cut-off file says {@code truncated: expected N bytes, file has M}.
 */
public final class GgufFile {
    private GgufFile() {
    }

    static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
    static final int VERSION = 3;
    public static final int DEFAULT_ALIGNMENT = 32;
    public static final String ALIGNMENT_KEY = "general.alignment";

    /**
     * What a GGUF file holds.
     *
     * @param version   the file's version (2 or 3; both have this layout)
     * @param alignment the data alignment in bytes
     * @param metadata  the key-value pairs in file order, {@code general.alignment} included when present
     * @param tensors   the tensors in file order
     */
    public record Contents(int version, int alignment, Map<String, GgufValue> metadata, Map<String, GgufTensor> tensors) {
    }

    // ---------------------------------------------------------------- writing

    /**
     * Writes {@code tensors} (in list order) and {@code metadata} (in map order) to {@code path} as GGUF
     * version 3, replacing any file there atomically. The alignment is {@code general.alignment} when the
     * metadata has it (a UINT32 power of two) and 32 otherwise.
     *
     * @throws IllegalArgumentException for duplicate tensor names, a bad alignment, or an empty key
     */
    public static void write(Path path, Map<String, GgufValue> metadata, List<GgufTensor> tensors) throws IOException {
        List<TensorInfo> infos = new ArrayList<>();
        for (GgufTensor t : tensors) {
            infos.add(new TensorInfo(t.name(), t.type(), t.dims()));
        }
        write(path, metadata, infos, w -> {
            for (GgufTensor t : tensors) {
                w.tensor(t.name(), t.data());
            }
        });
    }

    /**
     * A tensor's entry in the header: name, type and dims ({@code ne[0]} first), known before its bytes are.
     *
     * @throws IllegalArgumentException for what ggml's reader would refuse (see {@link GgufTensor})
     */
    public record TensorInfo(String name, GgmlType type, long[] dims) {
        public TensorInfo {
            java.util.Objects.requireNonNull(name, "name");
            java.util.Objects.requireNonNull(type, "type");
            dims = dims.clone();
            String problem = GgufTensor.check(name, type, dims);
            if (problem != null) {
                throw new IllegalArgumentException(problem);
            }
        }

        @Override
        public long[] dims() {
            return dims.clone();
        }

        /** The bytes of its data (whole blocks per row). */
        public long bytes() {
            return GgufTensor.bytes(type, dims);
        }
    }

    /** What writes the tensors' bytes, in the order of their infos, through {@link Writer#tensor}. */
    public interface Body {
        void write(Writer w) throws IOException;
    }

    /**
     * Writes a GGUF file whose tensors are produced one at a time: the header with every info in {@code infos}
     * first (offsets follow from the types and dims), then {@code body} hands each tensor's bytes to the
     * {@link Writer} in the same order, each padded to the alignment as it is written, so that no more than
     * one tensor need be in memory. The file is written to a temporary file beside {@code path} and renamed
     * when complete; if {@code body} throws, or does not write every tensor, no file is left. The bytes are
     * those of {@link #write(Path, Map, List)} with the same tensors.
     *
     * @throws IllegalArgumentException for duplicate tensor names, a bad alignment, or an empty key
     * @throws IllegalStateException    when {@code body} writes fewer tensors than {@code infos} names
     */
    public static void write(Path path, Map<String, GgufValue> metadata, List<TensorInfo> infos, Body body)
            throws IOException {
        int alignment = alignment(metadata);
        byte[] header = header(metadata, infos, alignment);
        long headerPad = pad(header.length, alignment) - header.length;
        List<TensorInfo> order = List.copyOf(infos);
        AtomicWrite.write(path, ch -> {
            AtomicWrite.append(ch, MemorySegment.ofArray(header));
            AtomicWrite.zeros(ch, headerPad);
            Writer w = new Writer(ch, order, alignment);
            body.write(w);
            if (w.next != order.size()) {
                throw new IllegalStateException(order.size() - w.next + " of " + order.size() + " tensors were not "
                        + "written, the first '" + order.get(w.next).name() + "'");
            }
        });
    }

    /** Takes each tensor's bytes in the order of the infos and appends them, padded, to the file. */
    public static final class Writer {
        private final FileChannel ch;
        private final List<TensorInfo> infos;
        private final int alignment;
        private int next;

        private Writer(FileChannel ch, List<TensorInfo> infos, int alignment) {
            this.ch = ch;
            this.infos = infos;
            this.alignment = alignment;
        }

        /**
         * Appends the bytes of the next tensor, {@code name}, and its padding.
         *
         * @throws IllegalArgumentException when {@code name} is not the next tensor of the header, or {@code data}
         *                                  is not exactly its bytes
         */
        public void tensor(String name, MemorySegment data) throws IOException {
            if (next == infos.size()) {
                throw new IllegalArgumentException("tensor '" + name + "' is not in the header: all " + infos.size()
                        + " tensors are written");
            }
            TensorInfo i = infos.get(next);
            if (!i.name().equals(name)) {
                throw new IllegalArgumentException("tensor '" + name + "' written where the header has '" + i.name() + "'");
            }
            if (data.byteSize() != i.bytes()) {
                throw new IllegalArgumentException("tensor '" + name + "' is " + i.type() + " " + java.util.Arrays.toString(
                        i.dims()) + ", which needs " + i.bytes() + " bytes, got " + data.byteSize());
            }
            AtomicWrite.append(ch, data);
            AtomicWrite.zeros(ch, pad(data.byteSize(), alignment) - data.byteSize());
            next++;
        }

        /** How many tensors are written so far. */
        public int written() {
            return next;
        }
    }

    private static int alignment(Map<String, GgufValue> metadata) {
        GgufValue a = metadata.get(ALIGNMENT_KEY);
        if (a == null) {
            return DEFAULT_ALIGNMENT;
        }
        if (a.type() != GgufValue.Type.UINT32 || !powerOfTwo((Integer) a.value())) {
            throw new IllegalArgumentException(ALIGNMENT_KEY + " must be a UINT32 power of two, got " + a);
        }
        return (Integer) a.value();
    }

    /** The magic, version, counts, metadata and tensor infos, unpadded. */
    private static byte[] header(Map<String, GgufValue> metadata, List<TensorInfo> infos, int alignment) {
        Sink h = new Sink();
        h.u32(MAGIC).u32(VERSION).u64(infos.size()).u64(metadata.size());
        for (Map.Entry<String, GgufValue> e : metadata.entrySet()) {
            if (e.getKey().isEmpty()) {
                throw new IllegalArgumentException("a metadata key is empty");
            }
            String tooLong = Names.tooLong("metadata key", e.getKey());
            if (tooLong != null) {
                throw new IllegalArgumentException(tooLong);
            }
            h.string(e.getKey());
            h.u32(e.getValue().type().id());
            h.value(e.getValue());
        }
        Set<String> names = new HashSet<>();
        long offset = 0;
        for (TensorInfo t : infos) {
            if (!names.add(t.name())) {
                throw new IllegalArgumentException("two tensors are named '" + t.name() + "'");
            }
            long[] dims = t.dims();
            h.string(t.name()).u32(dims.length);
            for (long d : dims) {
                h.u64(d);
            }
            h.u32(t.type().id()).u64(offset);
            offset += pad(t.bytes(), alignment);
        }
        return h.bytes();
    }

    private static boolean powerOfTwo(long v) {
        return v > 0 && (v & (v - 1)) == 0;
    }

    private static long pad(long n, long alignment) {
        return (n + alignment - 1) / alignment * alignment;
    }

    /** A little-endian byte sink for the header. */
    private static final class Sink {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();
        private final ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

        private Sink put(int n) {
            out.write(b.array(), 0, n);
            b.clear();
            return this;
        }

        Sink u8(byte v) {
            b.put(v);
            return put(1);
        }

        Sink u16(short v) {
            b.putShort(v);
            return put(2);
        }

        Sink u32(int v) {
            b.putInt(v);
            return put(4);
        }

        Sink u64(long v) {
            b.putLong(v);
            return put(8);
        }

        Sink string(String s) {
            byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
            u64(bytes.length);
            out.write(bytes, 0, bytes.length);
            return this;
        }

        void value(GgufValue v) {
            if (v.type() == GgufValue.Type.ARRAY) {
                List<?> l = (List<?>) v.value();
                u32(v.elementType().id()).u64(l.size());
                for (Object o : l) {
                    scalar(v.elementType(), o);
                }
            } else {
                scalar(v.type(), v.value());
            }
        }

        private void scalar(GgufValue.Type type, Object o) {
            switch (type) {
                case UINT8, INT8 -> u8((Byte) o);
                case UINT16, INT16 -> u16((Short) o);
                case UINT32, INT32 -> u32((Integer) o);
                case UINT64, INT64 -> u64((Long) o);
                case FLOAT32 -> u32(Float.floatToRawIntBits((Float) o));
                case FLOAT64 -> u64(Double.doubleToRawLongBits((Double) o));
                case BOOL -> u8((byte) ((Boolean) o ? 1 : 0));
                case STRING -> string((String) o);
                case ARRAY -> throw new IllegalArgumentException("arrays of arrays are not supported");
            }
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }

    // ---------------------------------------------------------------- reading

    /**
     * Maps {@code path} into {@code arena} and returns its metadata and tensors; the tensors are read-only
     * views of the mapping, valid while the arena is alive. Nothing is mapped in {@code arena} when the
     * file is refused.
     *
     * @throws CorruptFileException if anything in the file is inconsistent or of a type lowbit does not read
     * @throws dev.lowbit.format.io.MappedInputException if another process shrinks the file while it is read
     */
    public static Contents read(Path path, Arena arena) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            Parsed p;
            try (Arena scratch = Arena.ofConfined()) {
                p = new Reader(path, MappedInput.map(ch, path, size, scratch)).parse();
            } catch (InternalError e) {
                // The header is parsed from the mapping: a page cut off underneath faults.
                if (MappedInput.isFault(e)) {
                    throw MappedInput.changed(path, size, e);
                }
                throw e;
            }
            MemorySegment file = MappedInput.map(ch, path, size, arena);
            Map<String, GgufTensor> tensors = new LinkedHashMap<>();
            for (Info i : p.infos) {
                tensors.put(i.name, new GgufTensor(i.name, i.type, i.dims, file.asSlice(p.dataStart + i.offset, i.bytes)));
            }
            return new Contents(p.version, p.alignment, p.metadata, Collections.unmodifiableMap(tensors));
        }
    }

    private record Info(String name, GgmlType type, long[] dims, long offset, long bytes) {
    }

    private record Parsed(int version, int alignment, Map<String, GgufValue> metadata, List<Info> infos, long dataStart) {
    }

    private static final class Reader {
        private static final ValueLayout.OfInt U32 = Layouts.I32;
        private static final ValueLayout.OfLong U64 = Layouts.I64;
        private final Path path;
        private final MemorySegment file;
        private long pos;

        Reader(Path path, MemorySegment file) {
            this.path = path;
            this.file = file;
        }

        private CorruptFileException bad(String message) {
            return new CorruptFileException(path, message);
        }

        private void need(long n, String what) throws CorruptFileException {
            if (n < 0 || n > file.byteSize() - pos) {
                // pos < 2^63 and n < 2^64 as unsigned: the sum needs more than a long.
                String expected = java.math.BigInteger.valueOf(pos).add(new java.math.BigInteger(Long.toUnsignedString(n)))
                        .toString();
                throw bad("truncated: expected " + expected + " bytes, file has " + file.byteSize() + " (" + what
                        + " needs " + Long.toUnsignedString(n) + " bytes at offset " + pos + ")");
            }
        }

        /** Refuses a count of {@code count} items of at least {@code each} bytes that cannot fit after {@code pos}. */
        private void fits(long count, int each, String what) throws CorruptFileException {
            if (count < 0 || count > (file.byteSize() - pos) / each) {
                java.math.BigInteger least = new java.math.BigInteger(Long.toUnsignedString(count))
                        .multiply(java.math.BigInteger.valueOf(each)).add(java.math.BigInteger.valueOf(pos));
                throw bad("truncated: expected at least " + least + " bytes, file has " + file.byteSize() + " (the "
                        + what + " " + Long.toUnsignedString(count) + " needs at least " + each + " bytes each after offset "
                        + pos + ")");
            }
        }

        private int u32(String what) throws CorruptFileException {
            need(4, what);
            int v = file.get(U32, pos);
            pos += 4;
            return v;
        }

        private long u64(String what) throws CorruptFileException {
            need(8, what);
            long v = file.get(U64, pos);
            pos += 8;
            return v;
        }

        private String string(String what) throws CorruptFileException {
            return string(what, Long.MAX_VALUE);
        }

        /** A string of at most {@code max} bytes; a longer one is refused before it is read. */
        private String string(String what, long max) throws CorruptFileException {
            long n = u64(what + " length");
            // A length past the end is a cut-off (or damaged) file before it is a long name.
            need(n, what);
            if (n > max) {
                String start = new String(file.asSlice(pos, Math.min(40, n)).toArray(ValueLayout.JAVA_BYTE),
                        StandardCharsets.UTF_8);
                throw bad(Names.tooLong(what, n, start));
            }
            if (n > Integer.MAX_VALUE - 8) {
                throw bad(what + " is " + n + " bytes long, more than a string holds");
            }
            byte[] bytes = file.asSlice(pos, n).toArray(ValueLayout.JAVA_BYTE);
            pos += n;
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
            } catch (CharacterCodingException e) {
                throw bad(what + " is not valid UTF-8");
            }
        }

        Parsed parse() throws CorruptFileException {
            int magic = u32("the magic");
            if (magic != MAGIC) {
                throw bad("does not start with the GGUF magic (found 0x" + Integer.toHexString(magic) + ")");
            }
            int version = u32("the version");
            if (version != 2 && version != 3) {
                throw bad("GGUF version " + Integer.toUnsignedString(version) + " is not supported (lowbit reads 2 and 3;"
                        + " a big-endian file shows a huge version)");
            }
            long tensorCount = u64("the tensor count");
            long kvCount = u64("the metadata count");
            // Each pair takes at least 13 bytes and each tensor info at least 28: bound the counts by the file.
            fits(kvCount, 13, "metadata count");
            fits(tensorCount, 28, "tensor count");
            Map<String, GgufValue> meta = new LinkedHashMap<>();
            for (long i = 0; i < kvCount; i++) {
                String key = string("metadata key #" + i, Names.MAX_BYTES);
                if (key.isEmpty()) {
                    throw bad("metadata key #" + i + " is empty");
                }
                String where = "metadata '" + key + "'";
                GgufValue.Type type = type(u32(where + " type"), where);
                GgufValue v = value(type, where);
                if (meta.putIfAbsent(key, v) != null) {
                    throw bad("metadata key '" + key + "' appears twice");
                }
            }
            int alignment = DEFAULT_ALIGNMENT;
            GgufValue a = meta.get(ALIGNMENT_KEY);
            if (a != null) {
                // As a signed int: 2^31, a UINT32 power of two, is taken as damage rather than a 2 GiB alignment.
                if (a.type() != GgufValue.Type.UINT32 || !powerOfTwo((Integer) a.value())) {
                    throw bad(ALIGNMENT_KEY + " is " + a.type() + " " + (a.value() instanceof Integer i
                            ? Integer.toUnsignedString(i) : a.value()) + ", not a UINT32 power of two up to 2^30");
                }
                alignment = (Integer) a.value();
            }
            List<Info> infos = new ArrayList<>();
            Set<String> names = new HashSet<>();
            long expected = 0;
            for (long i = 0; i < tensorCount; i++) {
                String name = string("tensor #" + i + " name", Names.MAX_BYTES);
                String where = "tensor '" + name + "'";
                if (!names.add(name)) {
                    throw bad("two tensors are named '" + name + "'");
                }
                int nDims = u32(where + " dim count");
                if (nDims < 1 || nDims > GgufTensor.MAX_DIMS) {
                    throw bad(where + " has " + Integer.toUnsignedString(nDims) + " dims; ggml takes 1 to " + GgufTensor.MAX_DIMS);
                }
                long[] dims = new long[nDims];
                for (int d = 0; d < nDims; d++) {
                    dims[d] = u64(where + " dim " + d);
                }
                int typeId = u32(where + " type");
                GgmlType type = GgmlType.ofId(typeId);
                if (type == null) {
                    throw bad(where + " has ggml type " + Integer.toUnsignedString(typeId)
                            + ", unsupported: lowbit reads " + GgmlType.supported());
                }
                String problem = GgufTensor.check(name, type, dims);
                if (problem != null) {
                    throw bad(problem);
                }
                long offset = u64(where + " offset");
                if (offset != expected) {
                    throw bad(where + " data offset is " + Long.toUnsignedString(offset) + " but should be " + expected
                            + " (tensors follow each other in order, each padded to " + alignment + " bytes)");
                }
                long bytes = GgufTensor.bytes(type, dims);
                infos.add(new Info(name, type, dims, offset, bytes));
                long next;
                try {
                    next = Math.addExact(offset, Math.addExact(bytes, alignment - 1) / alignment * alignment);
                } catch (ArithmeticException e) {
                    throw bad(where + " of " + bytes + " bytes makes the data section overflow a 64-bit offset");
                }
                // The data section lies inside the file: bound every offset by its size before going on.
                if (next > file.byteSize()) {
                    throw bad("truncated: expected at least " + next + " bytes, file has " + file.byteSize() + " (" + where
                            + " data would end at offset " + next + " of the data section)");
                }
                expected = next;
            }
            long dataStart = pad(pos, alignment);
            long size = file.byteSize();
            if (dataStart > size && tensorCount > 0) {
                throw bad("truncated: expected " + dataStart + " bytes, file has " + size + " (the tensor data would start"
                        + " at byte " + dataStart + ")");
            }
            for (long p = pos; p < Math.min(dataStart, size); p++) {
                if (file.get(ValueLayout.JAVA_BYTE, p) != 0) {
                    throw bad("byte " + p + " in the padding before the tensor data is not zero");
                }
            }
            if (!infos.isEmpty()) {
                // dataStart <= size and expected <= size: no overflow.
                long end = dataStart + expected;
                // ggml pads the last tensor too, and its reader loads the padded size.
                if (size < end) {
                    Info last = infos.getLast();
                    throw bad("truncated: expected " + end + " bytes, file has " + size + " (tensor '" + last.name
                            + "' ends at byte " + (dataStart + last.offset + last.bytes) + ", padded to " + alignment
                            + " bytes)");
                }
                if (size > end) {
                    throw bad("the file is " + size + " bytes but its tensors, each padded to " + alignment
                            + " bytes, end at " + end + ": bytes after the last tensor");
                }
            } else if (size > dataStart) {
                throw bad("the file has " + (size - dataStart) + " bytes after a header that names no tensors");
            }
            return new Parsed(version, alignment, Collections.unmodifiableMap(meta), infos, dataStart);
        }

        private GgufValue.Type type(int id, String where) throws CorruptFileException {
            GgufValue.Type t = GgufValue.Type.ofId(id & 0xFFFFFFFFL);
            if (t == null) {
                throw bad(where + " has unknown value type " + Integer.toUnsignedString(id));
            }
            return t;
        }

        private GgufValue value(GgufValue.Type type, String where) throws CorruptFileException {
            if (type != GgufValue.Type.ARRAY) {
                return new GgufValue(type, null, scalar(type, where));
            }
            GgufValue.Type elem = type(u32(where + " array type"), where);
            if (elem == GgufValue.Type.ARRAY) {
                throw bad(where + " is an array of arrays, which lowbit (like llama.cpp) does not read");
            }
            long n = u64(where + " array length");
            // A string takes at least its 8-byte length: bound n before allocating anything.
            long min = elem.bytes > 0 ? elem.bytes : 8;
            if (n < 0 || n > (file.byteSize() - pos) / min) {
                throw bad(where + " claims " + Long.toUnsignedString(n) + " elements of " + elem
                        + " but only " + (file.byteSize() - pos) + " bytes remain");
            }
            List<Object> out = new ArrayList<>((int) Math.min(n, 1 << 16));
            for (long i = 0; i < n; i++) {
                out.add(scalar(elem, where + "[" + i + "]"));
            }
            return new GgufValue(type, elem, out);
        }

        private Object scalar(GgufValue.Type type, String where) throws CorruptFileException {
            if (type == GgufValue.Type.STRING) {
                return string(where);
            }
            need(type.bytes, where);
            long at = pos;
            pos += type.bytes;
            return switch (type) {
                case UINT8, INT8 -> file.get(ValueLayout.JAVA_BYTE, at);
                case UINT16, INT16 -> file.get(Layouts.F16, at);
                case UINT32, INT32 -> file.get(U32, at);
                case UINT64, INT64 -> file.get(U64, at);
                case FLOAT32 -> file.get(Layouts.F32, at);
                case FLOAT64 -> Double.longBitsToDouble(file.get(U64, at));
                case BOOL -> {
                    byte b = file.get(ValueLayout.JAVA_BYTE, at);
                    if (b != 0 && b != 1) {
                        throw bad(where + " is a BOOL of value " + b + ", not 0 or 1");
                    }
                    yield b == 1;
                }
                default -> throw new IllegalStateException(type.toString());
            };
        }
    }
}

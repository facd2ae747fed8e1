package dev.lowbit.models;

import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.io.CorruptFileException;
import dev.lowbit.format.io.Json;
import dev.lowbit.format.io.Names;
import dev.lowbit.format.io.internal.AtomicWrite;
import dev.lowbit.format.io.internal.ContainerPlanes;
import dev.lowbit.format.io.internal.ContainerReader;
import dev.lowbit.format.io.internal.MappedInput;

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
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * safetensors files: an 8-byte little-endian header length {@code N}, {@code N} bytes of UTF-8 JSON (one
 * entry {@code {"dtype", "shape", "data_offsets"}} per tensor and an optional {@code __metadata__} object of
 * strings), then the tensor bytes, which the entries tile exactly.
 *
 * <p>Dense tensors are of any safetensors dtype ({@link DType}): the float types lowbit quantizes (F32, F16,
 * BF16) and the others (I64 position ids, U8 or BOOL masks, F64, FP8...), which are read and written back
 * byte for byte. lowbit's quantized tensors are stored as the planes of its own
 * container ({@code docs/formats.md}, "safetensors"): {@code <name>.data} (U8), {@code <name>.scales},
 * {@code <name>.zeros} (F16/F32), {@code <name>.levels} (F32), {@code <name>.outliers.*} (I32/F32), with
 * the format, shape and a CRC-32C per plane in {@code __metadata__["lowbit.<name>"]}. A file holding only
 * quantized tensors is therefore also a file that {@code dev.lowbit.format.io.LowbitFile} reads.
 *
 * <p>The reader trusts no header: every offset must lie inside the file and match its dtype and shape (in
 * exact 64-bit arithmetic), the entries must tile the data with no hole or overlap, names and metadata keys
 * are at most {@link Names#MAX_BYTES} bytes, and lowbit's planes must match their checksums. A refusal is
 * a {@link CorruptFileException} naming the file; a cut-off file says
 * {@code truncated: expected N bytes, file has M}.
 */
public final class Safetensors {
    private Safetensors() {
    }

    private static final String METADATA = ContainerPlanes.METADATA;
    private static final String PREFIX = ContainerPlanes.PREFIX;
    private static final String VERSION_KEY = ContainerPlanes.VERSION_KEY;
    private static final String METADATA_CRC_KEY = ContainerPlanes.METADATA_CRC_KEY;
    private static final int ALIGN = 64;

    /**
     * What a file holds.
     *
     * @param dense       the dense tensors of every dtype, in file order ({@link DType#quantizable()} tells the
     *                    float types lowbit quantizes)
     * @param quantized   lowbit quantized tensors, in file order
     * @param unsupported always empty: every safetensors dtype is read into {@code dense}, and an unknown
     *                    dtype makes the file refused
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
     *                                  {@code lowbit.}, or a name is empty or longer than
     *                                  {@link Names#MAX_BYTES} bytes
     * @throws dev.lowbit.format.io.MappedInputException if a tensor is a view of a mapped file that changed while
     *                                  it was copied
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
            meta.put(VERSION_KEY, ContainerPlanes.VERSION);
        }
        for (Map.Entry<String, QuantizedTensor> e : quantized.entrySet()) {
            String name = e.getKey();
            QuantizedTensor t = e.getValue();
            if (name.isEmpty() || (PREFIX + name).equals(VERSION_KEY) || (PREFIX + name).equals(METADATA_CRC_KEY)) {
                throw new IllegalArgumentException("quantized tensor name '" + name + "' is empty or reserved");
            }
            String tooLong = ContainerPlanes.nameTooLong(name);
            if (tooLong != null) {
                throw new IllegalArgumentException(tooLong);
            }
            long nnz = t.outliers() == null ? -1 : t.outliers().nnz();
            List<ContainerPlanes.Spec> specs = ContainerPlanes.expected(t.format(), t.rows(), t.cols(), nnz);
            List<MemorySegment> segs = ContainerPlanes.segments(t);
            Map<String, Object> crcs = new LinkedHashMap<>();
            for (int i = 0; i < specs.size(); i++) {
                ContainerPlanes.Spec s = specs.get(i);
                entries.add(new Entry(name + "." + s.part(), s.dtype(), s.shape(), segs.get(i)));
                crcs.put(s.part(), ContainerPlanes.crc32c(segs.get(i)));
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
            String tooLong = Names.tooLong("metadata key", e.getKey());
            if (tooLong != null) {
                throw new IllegalArgumentException(tooLong);
            }
            if (e.getKey().startsWith(PREFIX)) {
                throw new IllegalArgumentException("metadata key '" + e.getKey() + "' is reserved: keys starting with "
                        + PREFIX + " are lowbit's own");
            }
            meta.put(e.getKey(), e.getValue());
        }
        if (!quantized.isEmpty()) {
            meta.put(METADATA_CRC_KEY, ContainerPlanes.metadataCrc(meta));
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
            String tooLong = Names.tooLong("tensor name", e.key);
            if (tooLong != null) {
                throw new IllegalArgumentException(tooLong);
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
        if (padded > ContainerReader.MAX_HEADER) {
            throw new IllegalArgumentException("the header would be " + padded + " bytes, more than " + ContainerReader.MAX_HEADER);
        }
        ByteBuffer head = ByteBuffer.allocate((int) (8 + padded)).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        AtomicWrite.write(path, ch -> {
            AtomicWrite.append(ch, MemorySegment.ofArray(head.array()));
            for (Entry e : entries) {
                AtomicWrite.append(ch, e.bytes);
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

    // ---------------------------------------------------------------- reading

    /**
     * Maps {@code path} into {@code arena} and returns its tensors, read-only views of the mapping valid
     * while the arena is alive. Nothing is left mapped in {@code arena} when the file is refused.
     *
     * @throws CorruptFileException if anything in the file is inconsistent
     * @throws dev.lowbit.format.io.MappedInputException if another process shrinks the file while it is read
     */
    public static Contents read(Path path, Arena arena) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            ContainerReader r = ContainerReader.read(ch, path, false);
            // Checksums and CSR checks run over a private mapping first, so that a corrupt file leaves
            // nothing mapped in the caller's arena.
            try (Arena scratch = Arena.ofConfined()) {
                r.tensors(MappedInput.map(ch, path, r.size(), scratch), true);
            }
            MemorySegment file = MappedInput.map(ch, path, r.size(), arena);
            Map<String, QuantizedTensor> quantized = r.tensors(file, false);
            Map<String, DenseTensor> dense = new LinkedHashMap<>();
            for (ContainerReader.Entry e : r.others()) {
                // The container reader knows the same dtypes and has checked the bytes against the shape.
                DType dtype = DType.ofSafetensors(e.dtype());
                long[] shape = e.shape().stream().mapToLong(Long::longValue).toArray();
                dense.put(e.key(), new DenseTensor(e.key(), dtype, shape,
                        file.asSlice(r.bufferStart() + e.begin(), e.end() - e.begin())));
            }
            return new Contents(Collections.unmodifiableMap(dense), quantized, Map.of(), r.userMetadata());
        }
    }
}

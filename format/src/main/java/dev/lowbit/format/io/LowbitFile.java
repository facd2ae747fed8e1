package dev.lowbit.format.io;

import dev.lowbit.format.QuantizedTensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;

/**
 * Files of quantized tensors, in the safetensors container: an 8-byte little-endian header length
 * {@code N}, {@code N} bytes of UTF-8 JSON padded with spaces so that the planes start on a 64-byte
 * boundary, then the planes back to back with no gaps.
 *
 * <p>The header has one entry per plane, {@code "<tensor>.<plane>": {"dtype", "shape", "data_offsets"}},
 * where the plane is {@code data} (U8 {@code [rows, rowBytes]}), {@code scales} and {@code zeros} (F16 or
 * F32 {@code [rows, groupsPerRow]}), {@code levels} (F32 {@code [16]}), {@code outliers.row_ptr} (I32
 * {@code [rows+1]}), {@code outliers.col_idx} (I32 {@code [nnz]}) and {@code outliers.values} (F32
 * {@code [nnz]}). Its {@code __metadata__} holds {@code "lowbit.version": "1"}; per tensor,
 * {@code "lowbit.<tensor>"}, a JSON string {@code {"format", "rows", "cols", "nnz" (with outliers only),
 * "crc32c": {plane: 8 hex digits}}}; {@code "lowbit.metadata_crc32c"}, the CRC-32C of the compact JSON of
 * the whole metadata object with keys sorted and this entry left out; and the caller's own strings.
 *
 * <p>Writes go to a temporary file in the target's directory, are synced, then renamed over the target,
 * so a reader never sees a partial file. Reads map the file and hand back tensors over slices of the
 * mapping, with no copy, after checking every length, offset, shape and checksum; checking reads the
 * whole file once. The file must not be modified in place while it is mapped.
 */
public final class LowbitFile {
    private LowbitFile() {
    }

    /**
     * What a file holds.
     *
     * @param tensors  the tensors, in file order; their planes are read-only views of the mapping
     * @param metadata the caller's metadata, without lowbit's own {@code lowbit.} keys
     */
    public record Contents(Map<String, QuantizedTensor> tensors, Map<String, String> metadata) {
    }

    /** Writes {@code tensors}, in the map's iteration order, with no metadata of the caller's. */
    public static void write(Path path, Map<String, QuantizedTensor> tensors) throws IOException {
        write(path, tensors, Map.of());
    }

    /**
     * Writes {@code tensors}, in the map's iteration order, and {@code metadata} to {@code path},
     * atomically replacing any file there. On failure no temporary file is left and the old file is
     * untouched.
     *
     * @throws IllegalArgumentException if a metadata key starts with {@code lowbit.}, a tensor name is
     *                                  empty or one of lowbit's own keys ({@code version},
     *                                  {@code metadata_crc32c}), or a string is not valid Unicode
     * @throws IllegalStateException    if a plane's arena is closed
     */
    public static void write(Path path, Map<String, QuantizedTensor> tensors, Map<String, String> metadata)
            throws IOException {
        new LowbitWriter(tensors, metadata).write(path);
    }

    /**
     * Maps {@code path} into {@code arena} and returns its tensors, in file order.
     *
     * @throws CorruptFileException if anything in the file is inconsistent
     */
    public static Map<String, QuantizedTensor> map(Path path, Arena arena) throws IOException {
        return open(path, arena).tensors();
    }

    /**
     * Maps {@code path} into {@code arena} and returns its tensors and the caller's metadata. The mapping
     * lives as long as the arena; nothing is left mapped in it when the file is refused.
     *
     * @throws CorruptFileException if anything in the file is inconsistent
     */
    public static Contents open(Path path, Arena arena) throws IOException {
        return LowbitReader.open(path, arena);
    }
}

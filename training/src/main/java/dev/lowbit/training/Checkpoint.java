package dev.lowbit.training;

import dev.lowbit.format.io.CorruptFileException;
import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.Safetensors;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * Training checkpoints in lowbit's safetensors container: every tensor F32 under its own name (network
 * parameters with their shapes, running statistics, quantizer parameters, optimizer state, bit-width state), and
 * string metadata. Each tensor's CRC-32C is recorded in the metadata ({@code training.crc32c}, a JSON object),
 * so that a damaged file is refused by name rather than resumed from. Writes replace the file atomically.
 */
public final class Checkpoint {
    /** The metadata key of the tensors' checksums. */
    public static final String CRC_KEY = "training.crc32c";

    private Checkpoint() {
    }

    /** A tensor to write: its shape and values. */
    public record Tensor(long[] shape, float[] values) {
        public static Tensor of(float[] values) {
            return new Tensor(new long[] {values.length}, values);
        }
    }

    /** What a checkpoint holds: tensors as floats, by name in file order, and the metadata. */
    public record Contents(Map<String, float[]> tensors, Map<String, String> metadata) {
    }

    public static void write(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        Map<String, DenseTensor> dense = new LinkedHashMap<>();
        Map<String, Object> crcs = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            float[] v = e.getValue().values();
            dense.put(e.getKey(), DenseTensor.ofFloats(e.getKey(), e.getValue().shape(), v));
            crcs.put(e.getKey(), crc(v));
        }
        Map<String, String> meta = new LinkedHashMap<>(metadata);
        meta.put(CRC_KEY, dev.lowbit.format.io.Json.write(crcs));
        Path dir = path.toAbsolutePath().getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        Safetensors.write(path, dense, Map.of(), meta);
    }

    /**
     * Reads a checkpoint, checking every tensor against its recorded checksum.
     *
     * @throws NoSuchFileException if there is no file
     * @throws CorruptFileException if the container is damaged, a checksum is missing or does not match, or a
     *                              tensor is not F32
     */
    public static Contents read(Path path) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Safetensors.Contents c = Safetensors.read(path, arena);
            String crcJson = c.metadata().get(CRC_KEY);
            if (crcJson == null) {
                throw new CorruptFileException(path, "not a lowbit training checkpoint: no " + CRC_KEY + " in its metadata");
            }
            Map<?, ?> crcs;
            try {
                crcs = (Map<?, ?>) dev.lowbit.format.io.Json.parse(crcJson);
            } catch (java.text.ParseException | ClassCastException ex) {
                throw new CorruptFileException(path, "its " + CRC_KEY + " metadata is not a JSON object");
            }
            Map<String, float[]> tensors = new LinkedHashMap<>();
            for (Map.Entry<String, DenseTensor> e : c.dense().entrySet()) {
                DenseTensor t = e.getValue();
                if (!t.dtype().name().equals("F32")) {
                    throw new CorruptFileException(path, "tensor '" + e.getKey() + "' is " + t.dtype().name() + ", checkpoints hold F32");
                }
                float[] v = t.toFloats();
                Object want = crcs.get(e.getKey());
                if (want == null) {
                    throw new CorruptFileException(path, "tensor '" + e.getKey() + "' has no recorded checksum");
                }
                if (!want.equals(crc(v))) {
                    throw new CorruptFileException(path, "tensor '" + e.getKey() + "' fails its checksum (recorded "
                            + want + ", read " + crc(v) + "): the file is damaged");
                }
                tensors.put(e.getKey(), v);
            }
            if (crcs.size() != tensors.size()) {
                throw new CorruptFileException(path, "the checksums name " + crcs.size() + " tensors but the file holds "
                        + tensors.size());
            }
            Map<String, String> meta = new LinkedHashMap<>(c.metadata());
            meta.remove(CRC_KEY);
            return new Contents(tensors, meta);
        }
    }

    static String crc(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(v);
        CRC32C c = new CRC32C();
        c.update(b);
        return HexFormat.of().toHexDigits((int) c.getValue());
    }
}

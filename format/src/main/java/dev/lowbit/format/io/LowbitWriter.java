package dev.lowbit.format.io;

import dev.lowbit.format.io.internal.AtomicWrite;
import dev.lowbit.format.io.internal.ContainerPlanes;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.zip.CRC32C;

/** Lays out and writes one file; see {@link LowbitFile}. */
final class LowbitWriter {
    private static final int ALIGN = 64;
    private static final String NO_CRC = "00000000";

    private record Plane(String tensor, ContainerPlanes.Spec spec, MemorySegment bytes) {
        String key() {
            return tensor + "." + spec.part();
        }
    }

    private final Map<String, QuantizedTensor> tensors;
    private final Map<String, String> user;
    private final List<Plane> planes = new ArrayList<>();

    LowbitWriter(Map<String, QuantizedTensor> tensors, Map<String, String> metadata) {
        this.tensors = new LinkedHashMap<>(tensors);
        this.user = new LinkedHashMap<>(metadata);
        for (Map.Entry<String, String> e : user.entrySet()) {
            Objects.requireNonNull(e.getKey(), "metadata key");
            Objects.requireNonNull(e.getValue(), "value of metadata key " + e.getKey());
            String tooLong = Names.tooLong("metadata key", e.getKey());
            if (tooLong != null) {
                throw new IllegalArgumentException(tooLong);
            }
            if (e.getKey().startsWith(ContainerPlanes.PREFIX)) {
                throw new IllegalArgumentException("metadata key '" + e.getKey() + "' is reserved: keys starting with "
                        + ContainerPlanes.PREFIX + " are lowbit's own");
            }
        }
        java.util.Set<String> keys = new java.util.HashSet<>();
        for (Map.Entry<String, QuantizedTensor> e : this.tensors.entrySet()) {
            String name = Objects.requireNonNull(e.getKey(), "tensor name");
            QuantizedTensor t = Objects.requireNonNull(e.getValue(), "tensor " + name);
            String key = ContainerPlanes.PREFIX + name;
            if (name.isEmpty() || key.equals(ContainerPlanes.VERSION_KEY) || key.equals(ContainerPlanes.METADATA_CRC_KEY)) {
                throw new IllegalArgumentException("tensor name '" + name + "' is empty or reserved");
            }
            String tooLong = ContainerPlanes.nameTooLong(name);
            if (tooLong != null) {
                throw new IllegalArgumentException(tooLong);
            }
            List<MemorySegment> segs = ContainerPlanes.segments(t);
            List<ContainerPlanes.Spec> specs = ContainerPlanes.expected(t.format(), t.rows(), t.cols(),
                    t.outliers() == null ? -1 : t.outliers().nnz());
            for (int i = 0; i < specs.size(); i++) {
                Plane p = new Plane(name, specs.get(i), segs.get(i));
                if (!keys.add(p.key())) {
                    throw new IllegalArgumentException("two planes would be named '" + p.key() + "'");
                }
                planes.add(p);
            }
        }
    }


    /** The JSON header, unpadded; {@code crcs} holds one checksum per plane (placeholders give the same length). */
    private byte[] header(List<String> crcs) {
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put(ContainerPlanes.VERSION_KEY, ContainerPlanes.VERSION);
        int i = 0;
        for (Map.Entry<String, QuantizedTensor> e : tensors.entrySet()) {
            QuantizedTensor t = e.getValue();
            Map<String, Object> crc = new LinkedHashMap<>();
            for (; i < planes.size() && planes.get(i).tensor.equals(e.getKey()); i++) {
                crc.put(planes.get(i).spec.part(), crcs.get(i));
            }
            Map<String, Object> desc = new LinkedHashMap<>();
            desc.put("format", t.format().name());
            desc.put("rows", t.rows());
            desc.put("cols", t.cols());
            if (t.outliers() != null) {
                desc.put("nnz", t.outliers().nnz());
            }
            desc.put("crc32c", crc);
            meta.put(ContainerPlanes.PREFIX + e.getKey(), Json.write(desc));
        }
        meta.putAll(user);
        meta.put(ContainerPlanes.METADATA_CRC_KEY, ContainerPlanes.metadataCrc(meta));
        Map<String, Object> header = new LinkedHashMap<>();
        header.put(ContainerPlanes.METADATA, meta);
        long at = 0;
        for (Plane p : planes) {
            long end = at + p.bytes.byteSize();
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("dtype", p.spec.dtype());
            entry.put("shape", p.spec.shape());
            entry.put("data_offsets", List.of(at, end));
            header.put(p.key(), entry);
            at = end;
        }
        try {
            ByteBuffer b = StandardCharsets.UTF_8.newEncoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).encode(CharBuffer.wrap(Json.write(header)));
            byte[] out = new byte[b.remaining()];
            b.get(out);
            return out;
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("a tensor name or metadata string is not valid Unicode", e);
        }
    }

    void write(Path path) throws IOException {
        List<String> crcs = new ArrayList<>(java.util.Collections.nCopies(planes.size(), NO_CRC));
        byte[] draft = header(crcs);
        // Spaces after the JSON are allowed by safetensors and put the first plane on a 64-byte boundary.
        long padded = (8L + draft.length + ALIGN - 1) / ALIGN * ALIGN - 8;
        if (padded > LowbitReader.MAX_HEADER) {
            throw new IllegalArgumentException("the header would be " + padded + " bytes, more than "
                    + LowbitReader.MAX_HEADER);
        }
        AtomicWrite.write(path, ch -> {
            // Planes first, so that each checksum is taken over the very bytes written, in one pass.
            long at = 8 + padded;
            for (int i = 0; i < planes.size(); i++) {
                CRC32C crc = new CRC32C();
                ContainerPlanes.write(ch, at, planes.get(i).bytes, crc, ContainerPlanes.CHUNK);
                crcs.set(i, ContainerPlanes.hex(crc));
                at += planes.get(i).bytes.byteSize();
            }
            byte[] json = header(crcs);
            if (json.length != draft.length) {
                throw new IllegalStateException("header length changed from " + draft.length + " to " + json.length);
            }
            ByteBuffer head = ByteBuffer.allocate((int) (8 + padded)).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(padded).put(json);
            while (head.hasRemaining()) {
                head.put((byte) ' ');
            }
            ContainerPlanes.write(ch, 0, MemorySegment.ofBuffer(head.flip()), new CRC32C(), ContainerPlanes.CHUNK);
        });
    }
}

package dev.lowbit.models;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.format.io.CorruptFileException;
import dev.lowbit.format.io.LowbitFile;
import dev.lowbit.kernels.QuantOps;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsTest {
    @TempDir
    Path dir;

    private static DenseTensor half(String name, DType type, long[] shape, Random r) {
        int n = (int) DenseTensor.elements(shape);
        byte[] b = new byte[2 * n];
        r.nextBytes(b);
        return new DenseTensor(name, type, shape, MemorySegment.ofArray(b));
    }

    private static Map<String, DenseTensor> dense() {
        Random r = new Random(3);
        Map<String, DenseTensor> m = new LinkedHashMap<>();
        m.put("emb.weight", DenseTensor.ofFloats("emb.weight", new long[]{4, 8}, TestData.gaussian(r, 32)));
        m.put("h", half("h", DType.F16, new long[]{3, 5}, r));
        m.put("b", half("b", DType.BF16, new long[]{7}, r));
        m.put("scalar", DenseTensor.ofFloats("scalar", new long[]{}, new float[]{2.5f}));
        m.put("empty", DenseTensor.ofFloats("empty", new long[]{0, 3}, new float[0]));
        return m;
    }

    private static Map<String, QuantizedTensor> quantized(Arena arena) {
        Random r = new Random(4);
        QuantOps ops = QuantOps.get();
        Map<String, QuantizedTensor> m = new LinkedHashMap<>();
        int rows = 3;
        int cols = 70;
        for (QuantFormat f : List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1,
                QuantFormat.grouped(3, 64, false, ScaleType.F16), QuantFormat.grouped(4, QuantFormat.ROW, true, ScaleType.F32),
                QuantFormat.codebook4(32, ScaleType.F16))) {
            m.put("layer." + f.name(), ops.quantize(f, TestData.gaussian(r, rows * cols), rows, cols, arena));
        }
        QuantizedTensor base = m.get("layer.q4_0");
        m.put("with_outliers", base.withOutliers(SparseOutliers.of(rows, cols, new int[]{0, 2, 2, 3},
                new int[]{1, 69, 0}, new float[]{9f, -7f, 11f}, arena)));
        return m;
    }

    private static void assertSame(QuantizedTensor a, QuantizedTensor b) {
        assertEquals(a.format(), b.format());
        assertEquals(a.rows(), b.rows());
        assertEquals(a.cols(), b.cols());
        assertEquals(-1, a.data().mismatch(b.data()));
        if (a.scales() != null) {
            assertEquals(-1, a.scales().mismatch(b.scales()));
        }
        if (a.zeros() != null) {
            assertEquals(-1, a.zeros().mismatch(b.zeros()));
        }
        assertArrayEquals(a.levels(), b.levels());
        assertEquals(a.outliers() == null, b.outliers() == null);
        if (a.outliers() != null) {
            assertEquals(-1, a.outliers().valuesPlane().mismatch(b.outliers().valuesPlane()));
            assertEquals(-1, a.outliers().colIdxPlane().mismatch(b.outliers().colIdxPlane()));
        }
    }

    @Test
    void roundTripIsBitIdentical() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Path a = dir.resolve("a.safetensors");
            Path b = dir.resolve("b.safetensors");
            Map<String, DenseTensor> d = dense();
            Map<String, QuantizedTensor> q = quantized(arena);
            Safetensors.write(a, d, q, Map.of("note", "hello \u00e9"));
            Safetensors.Contents c = Safetensors.read(a, arena);
            assertEquals(List.copyOf(d.keySet()), List.copyOf(c.dense().keySet()));
            for (DenseTensor t : d.values()) {
                DenseTensor back = c.dense().get(t.name());
                assertEquals(t.dtype(), back.dtype());
                assertArrayEquals(t.shape(), back.shape());
                assertEquals(-1, t.bytes().mismatch(back.bytes()), t.name());
            }
            assertEquals(List.copyOf(q.keySet()), List.copyOf(c.quantized().keySet()));
            q.forEach((k, v) -> assertSame(v, c.quantized().get(k)));
            assertEquals(Map.of("note", "hello \u00e9"), c.metadata());
            assertEquals(Map.of(), c.unsupported());
            Safetensors.write(b, c.dense(), c.quantized(), c.metadata());
            assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b));
        }
    }

    @Test
    void quantizedOnlyFilesAreLowbitFiles() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Map<String, QuantizedTensor> q = quantized(arena);
            Path ours = dir.resolve("ours.safetensors");
            Safetensors.write(ours, Map.of(), q, Map.of("k", "v"));
            LowbitFile.Contents lc = LowbitFile.open(ours, arena);
            q.forEach((k, v) -> assertSame(v, lc.tensors().get(k)));
            assertEquals(Map.of("k", "v"), lc.metadata());
            Path theirs = dir.resolve("theirs.lowbit");
            LowbitFile.write(theirs, q, Map.of("k", "v"));
            Safetensors.Contents c = Safetensors.read(theirs, arena);
            q.forEach((k, v) -> assertSame(v, c.quantized().get(k)));
            assertArrayEquals(Files.readAllBytes(theirs), Files.readAllBytes(ours));
        }
    }

    /** A hand-made file: header JSON then data. */
    private Path file(String json, byte[] data) throws IOException {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        Path p = dir.resolve("hand.safetensors");
        Files.write(p, b.array());
        return p;
    }

    private void refused(Path p, String... words) {
        try (Arena arena = Arena.ofConfined()) {
            CorruptFileException e = assertThrows(CorruptFileException.class, () -> Safetensors.read(p, arena));
            for (String w : words) {
                assertTrue(e.getMessage().contains(w), "'" + e.getMessage() + "' should mention '" + w + "'");
            }
        }
    }

    @Test
    void readsOtherWritersFilesWithEveryDtype() throws IOException {
        Path p = file("{\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"__metadata__\":{\"format\":\"pt\"}}",
                new byte[]{0, 0, (byte) 0x80, 0x3F, 0, 0, 0, (byte) 0xC0, 1, 0, 0, 0, 0, 0, 0, 0});
        try (Arena arena = Arena.ofConfined()) {
            Safetensors.Contents c = Safetensors.read(p, arena);
            assertArrayEquals(new float[]{1f, -2f}, c.dense().get("w").toFloats());
            DenseTensor ids = c.dense().get("ids");
            assertEquals(DType.I64, ids.dtype());
            assertArrayEquals(new long[]{1}, ids.shape());
            assertEquals(1L, ids.bytes().get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0));
            assertEquals(List.of("ids", "w"), List.copyOf(c.dense().keySet()));
            assertEquals(Map.of(), c.unsupported());
            assertEquals(Map.of("format", "pt"), c.metadata());
            IllegalStateException e = assertThrows(IllegalStateException.class, ids::toFloats);
            assertEquals("tensor 'ids' is I64, which does not convert to floats: only F32, F16 and BF16 tensors do"
                    + " (the others are kept as they are)", e.getMessage());
        }
    }

    /** A tensor of {@code n} seeded random elements of {@code type}. */
    private static DenseTensor random(String name, DType type, long[] shape, Random r) {
        byte[] b = new byte[(int) DenseTensor.elements(shape) * type.bytes()];
        r.nextBytes(b);
        if (type == DType.BOOL) {
            for (int i = 0; i < b.length; i++) {
                b[i] &= 1;
            }
        }
        return new DenseTensor(name, type, shape, MemorySegment.ofArray(b));
    }

    /** Position ids (I64), a mask (U8) and every other dtype are read and written back byte for byte. */
    @Test
    void everyDtypePassesThroughByteForByte() throws IOException {
        long seed = new Random().nextLong();
        Random r = new Random(seed);
        Map<String, DenseTensor> in = new LinkedHashMap<>();
        in.put("embeddings.position_ids", random("embeddings.position_ids", DType.I64, new long[]{1, 512}, r));
        in.put("mask", random("mask", DType.U8, new long[]{3, 7}, r));
        for (DType t : DType.values()) {
            in.put("all." + t, random("all." + t, t, new long[]{5, 3}, r));
        }
        Path a = dir.resolve("a.safetensors");
        Path b = dir.resolve("b.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            Safetensors.write(a, in, Map.of(), Map.of());
            Safetensors.Contents c = Safetensors.read(a, arena);
            assertEquals(List.copyOf(in.keySet()), List.copyOf(c.dense().keySet()), "seed " + seed);
            for (DenseTensor t : in.values()) {
                DenseTensor back = c.dense().get(t.name());
                assertEquals(t.dtype(), back.dtype(), t.name());
                assertArrayEquals(t.shape(), back.shape(), t.name());
                assertEquals(-1, t.bytes().mismatch(back.bytes()), "seed " + seed + ", " + t.name());
            }
            assertEquals(Map.of(), c.unsupported());
            Safetensors.write(b, c.dense(), c.quantized(), c.metadata());
        }
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b), "seed " + seed);
        // The header names each dtype as safetensors does.
        String header = new String(Files.readAllBytes(a), 8, 4000, StandardCharsets.UTF_8);
        assertTrue(header.contains("\"embeddings.position_ids\":{\"dtype\":\"I64\",\"shape\":[1,512]"), header);
        assertTrue(header.contains("\"mask\":{\"dtype\":\"U8\""), header);
        assertTrue(header.contains("\"all.F8_E4M3\":{\"dtype\":\"F8_E4M3\""), header);
    }

    /** The models module's dtypes and the container's table agree on every name and width. */
    @Test
    void dtypesMatchTheContainersTable() {
        assertEquals(dev.lowbit.format.io.internal.ContainerPlanes.DTYPE_BYTES.keySet(),
                java.util.Arrays.stream(DType.values()).map(DType::name).collect(java.util.stream.Collectors.toSet()));
        for (DType t : DType.values()) {
            assertEquals(dev.lowbit.format.io.internal.ContainerPlanes.DTYPE_BYTES.get(t.name()), t.bytes(), t.name());
            assertEquals(t, DType.ofSafetensors(t.name()));
            assertEquals(t == DType.F32 || t == DType.F16 || t == DType.BF16, t.quantizable(), t.name());
        }
        assertEquals(null, DType.ofSafetensors("Q4"));
    }

    @Test
    void truncationSaysHowManyBytesAreMissing() throws IOException {
        byte[] good;
        try (Arena arena = Arena.ofConfined()) {
            Path p = dir.resolve("t.safetensors");
            Safetensors.write(p, Map.of("b", DenseTensor.ofFloats("b", new long[]{100}, new float[100])), Map.of(), Map.of());
            good = Files.readAllBytes(p);
        }
        long headerEnd = 8 + ByteBuffer.wrap(good).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        Path bad = dir.resolve("bad.safetensors");
        Files.write(bad, java.util.Arrays.copyOf(good, good.length - 10));
        try (Arena arena = Arena.ofConfined()) {
            CorruptFileException e = assertThrows(CorruptFileException.class, () -> Safetensors.read(bad, arena));
            assertEquals(bad + ": truncated: expected " + good.length + " bytes, file has " + (good.length - 10)
                    + " (plane 'b' data_offsets [0, 400] end beyond the 390-byte buffer)", e.getMessage());
            Files.write(bad, java.util.Arrays.copyOf(good, 20));
            e = assertThrows(CorruptFileException.class, () -> Safetensors.read(bad, arena));
            assertEquals(bad + ": truncated: expected " + headerEnd + " bytes, file has 20 (the header length "
                    + (headerEnd - 8) + " does not fit)", e.getMessage());
        }
    }

    /** The fields an entry lacks are listed in the order safetensors defines them, the same in every run. */
    @Test
    void missingFieldsAreListedInAFixedOrder() throws IOException {
        Path p = file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", new byte[8]);
        try (Arena arena = Arena.ofConfined()) {
            CorruptFileException e = assertThrows(CorruptFileException.class, () -> Safetensors.read(p, arena));
            assertEquals(p + ": plane 'w' lacks field [data_offsets]; an entry has the fields [dtype, shape,"
                    + " data_offsets]", e.getMessage());
        }
        Path q = file("{\"w\":{\"x\":1}}", new byte[0]);
        try (Arena arena = Arena.ofConfined()) {
            CorruptFileException e = assertThrows(CorruptFileException.class, () -> Safetensors.read(q, arena));
            assertEquals(q + ": plane 'w' lacks fields [dtype, shape, data_offsets] and has unknown field [x]; an entry"
                    + " has the fields [dtype, shape, data_offsets]", e.getMessage());
        }
    }

    @Test
    void shapesThatOverflowNameTheFile() throws IOException {
        Path p = file("{\"w\":{\"dtype\":\"I64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,0]}}", new byte[0]);
        try (Arena arena = Arena.ofConfined()) {
            CorruptFileException e = assertThrows(CorruptFileException.class, () -> Safetensors.read(p, arena));
            assertEquals(p + ": plane 'w' shape [2305843009213693952] of I64 overflows a 64-bit byte count", e.getMessage());
        }
    }

    @Test
    void namesAndKeysOfMoreThan4096BytesAreRefused() throws IOException {
        String name = "a".repeat(4097);
        Path p = file("{\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]);
        try (Arena arena = Arena.ofConfined()) {
            CorruptFileException e = assertThrows(CorruptFileException.class, () -> Safetensors.read(p, arena));
            assertEquals(p + ": tensor name of 4097 bytes is longer than the 4096-byte limit (it starts '" + "a".repeat(40)
                    + "...')", e.getMessage());
        }
        Path q = file("{\"__metadata__\":{\"" + "\\n".repeat(5000) + "\":\"v\"},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]);
        try (Arena arena = Arena.ofConfined()) {
            CorruptFileException e = assertThrows(CorruptFileException.class, () -> Safetensors.read(q, arena));
            assertEquals(q + ": metadata key of 5000 bytes is longer than the 4096-byte limit (it starts '"
                    + "\\u000a".repeat(40) + "...')", e.getMessage());
            assertTrue(!e.getMessage().contains("\n"), "one line");
        }
        // A name of exactly 4096 bytes is read.
        String most = "\u4e2d".repeat(1365) + "a";
        Path ok = dir.resolve("ok.safetensors");
        Safetensors.write(ok, Map.of(most, DenseTensor.ofFloats(most, new long[]{1}, new float[]{3f})), Map.of(),
                Map.of("k".repeat(4096), "v"));
        try (Arena arena = Arena.ofConfined()) {
            assertArrayEquals(new float[]{3f}, Safetensors.read(ok, arena).dense().get(most).toFloats());
        }
        // The writer refuses what the reader would.
        DenseTensor t = DenseTensor.ofFloats(name, new long[]{1}, new float[1]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Safetensors.write(dir.resolve("w.safetensors"), Map.of(name, t), Map.of(), Map.of()));
        assertTrue(e.getMessage().startsWith("tensor name of 4097 bytes is longer than the 4096-byte limit"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Safetensors.write(dir.resolve("w.safetensors"), Map.of(),
                Map.of(), Map.of(name, "v")));
        assertTrue(e.getMessage().startsWith("metadata key of 4097 bytes"), e.getMessage());
        assertTrue(!Files.exists(dir.resolve("w.safetensors")));
    }

    @Test
    void malformedHeadersAreNamed() throws IOException {
        byte[] eight = new byte[8];
        String w = "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
        refused(file("{" + w + "}", new byte[4]), "'w'", "[0, 8]", "4-byte buffer");
        refused(file("{" + w + "}", new byte[12]), "cover 8 bytes", "12");
        refused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", eight), "'w'", "needs 12");
        refused(file("{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", eight), "'w'", "unknown dtype Q4");
        refused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", eight), "'w' shape");
        refused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", eight), "'w'", "not a range");
        refused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"v\":{\"dtype\":\"F32\",\"shape\":[1],"
                + "\"data_offsets\":[4,8]}}", eight), "overlap");
        refused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", eight), "'w'", "a hole");
        refused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", eight), "overflows");
        refused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", eight), "'w'", "fields");
        refused(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", eight), "not valid JSON");
        refused(file("{\"__metadata__\":{\"a\":1}," + w + "}", eight), "metadata 'a'", "not a string");
        refused(file("[1]", new byte[0]), "not a JSON object");
        ByteBuffer huge = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-5L);
        Path p = dir.resolve("huge.safetensors");
        Files.write(p, huge.array());
        refused(p, "header length 18446744073709551611");
        Files.write(p, new byte[5]);
        refused(p, "shorter than the 8-byte header length");
    }

    @Test
    void damagedQuantizedTensorsAreRefused() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Path p = dir.resolve("q.safetensors");
            Safetensors.write(p, Map.of(), Map.of("w", quantized(arena).get("layer.q4_1")), Map.of());
            byte[] good = Files.readAllBytes(p);
            byte[] b = good.clone();
            b[b.length - 1] ^= 1;
            Files.write(p, b);
            refused(p, "plane 'w.data'", "CRC-32C");
            String text = new String(good, StandardCharsets.ISO_8859_1);
            Files.write(p, text.replace("\\\"rows\\\":3", "\\\"rows\\\":2").getBytes(StandardCharsets.ISO_8859_1));
            refused(p, "metadata has CRC-32C");
            Files.write(p, text.replace("\"w.data\"", "\"w.dat_\"").getBytes(StandardCharsets.ISO_8859_1));
            refused(p, "plane 'w.data'", "missing");
        }
    }

    @Test
    void everyTruncationIsRefusedAndCorruptionNeverCrashes() throws IOException {
        byte[] good;
        try (Arena arena = Arena.ofConfined()) {
            Path p = dir.resolve("t.safetensors");
            Map<String, QuantizedTensor> q = Map.of("w", quantized(arena).get("layer.q8_0"));
            Safetensors.write(p, Map.of("b", DenseTensor.ofFloats("b", new long[]{2}, new float[]{1, 2})), q, Map.of());
            good = Files.readAllBytes(p);
        }
        Path bad = dir.resolve("bad.safetensors");
        for (int n = 0; n < good.length; n++) {
            Files.write(bad, java.util.Arrays.copyOf(good, n));
            refused(bad);
        }
        long seed = new Random().nextLong();
        Random r = new Random(seed);
        for (int i = 0; i < 2000; i++) {
            byte[] b = good.clone();
            b[r.nextInt(b.length)] = (byte) r.nextInt(256);
            Files.write(bad, b);
            try (Arena arena = Arena.ofConfined()) {
                Safetensors.Contents c = Safetensors.read(bad, arena);
                for (DenseTensor t : c.dense().values()) {
                    assertEquals(t.elements() * t.dtype().bytes(), t.bytes().byteSize());
                }
            } catch (CorruptFileException expected) {
                // a clear refusal
            } catch (RuntimeException | Error e) {
                throw new AssertionError("seed " + seed + ", case " + i + ": " + e, e);
            }
        }
    }

    @Test
    void writerRefusesCollisionsAndReservedKeys() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Path p = dir.resolve("w.safetensors");
            QuantizedTensor q = quantized(arena).get("layer.q8_0");
            DenseTensor clash = DenseTensor.ofFloats("w.data", new long[]{1}, new float[1]);
            assertThrows(IllegalArgumentException.class, () -> Safetensors.write(p, Map.of("w.data", clash),
                    Map.of("w", q), Map.of()));
            assertThrows(IllegalArgumentException.class, () -> Safetensors.write(p, Map.of(), Map.of(),
                    Map.of("lowbit.x", "y")));
            assertEquals(List.of(), Files.list(dir).toList(), "a refused write leaves no file");
        }
    }
}

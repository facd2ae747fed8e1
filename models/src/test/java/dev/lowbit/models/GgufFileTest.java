package dev.lowbit.models;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.io.CorruptFileException;
import dev.lowbit.kernels.QuantOps;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GgufFileTest {
    @TempDir
    Path dir;

    private static Map<String, GgufValue> metadata() {
        Map<String, GgufValue> m = new LinkedHashMap<>();
        m.put("general.architecture", GgufValue.string("lowbit-test"));
        m.put("general.name", GgufValue.string("unicode: \u00e9\u4e2d\ud83d\ude00"));
        m.put("t.u8", GgufValue.uint8((byte) 0xFE));
        m.put("t.i8", GgufValue.int8((byte) -3));
        m.put("t.u16", GgufValue.uint16((short) 0xFFFE));
        m.put("t.i16", GgufValue.int16((short) -300));
        m.put("t.u32", GgufValue.uint32(0xFFFFFFF0));
        m.put("t.i32", GgufValue.int32(-70000));
        m.put("t.f32", GgufValue.float32(Float.intBitsToFloat(0x7FC00123)));
        m.put("t.bool", GgufValue.bool(true));
        m.put("t.u64", GgufValue.uint64(-2L));
        m.put("t.i64", GgufValue.int64(Long.MIN_VALUE));
        m.put("t.f64", GgufValue.float64(-0.0));
        m.put("t.strings", GgufValue.array(GgufValue.Type.STRING, List.of("a", "", "<s>")));
        m.put("t.floats", GgufValue.array(GgufValue.Type.FLOAT32, List.of(1f, -2f)));
        m.put("t.bools", GgufValue.array(GgufValue.Type.BOOL, List.of(true, false)));
        m.put("t.empty", GgufValue.array(GgufValue.Type.INT64, List.of()));
        return m;
    }

    private static List<GgufTensor> tensors(Arena arena) {
        Random r = new Random(5);
        QuantOps ops = QuantOps.get();
        List<GgufTensor> out = new ArrayList<>();
        int rows = 5;
        int cols = 96;
        for (QuantFormat f : List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1)) {
            QuantizedTensor q = ops.quantize(f, TestData.gaussian(r, rows * cols), rows, cols, arena);
            out.add(GgufTensor.of("blk.0." + f.name() + ".weight", q));
        }
        out.add(GgufTensor.of(DenseTensor.ofFloats("norm.weight", new long[]{7}, TestData.gaussian(r, 7))));
        float[] h = TestData.gaussian(r, 6 * 32);
        MemorySegment f16 = MemorySegment.ofArray(new byte[h.length * 2]);
        for (int i = 0; i < h.length; i++) {
            f16.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i, Float.floatToFloat16(h[i]));
        }
        out.add(GgufTensor.of(new DenseTensor("emb.weight", DType.F16, new long[]{2, 3, 32}, f16)));
        return out;
    }

    @Test
    void roundTripIsBitIdentical() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Path a = dir.resolve("a.gguf");
            Path b = dir.resolve("b.gguf");
            Map<String, GgufValue> meta = metadata();
            List<GgufTensor> ts = tensors(arena);
            GgufFile.write(a, meta, ts);
            GgufFile.Contents c = GgufFile.read(a, arena);
            assertEquals(3, c.version());
            assertEquals(32, c.alignment());
            assertEquals(meta, c.metadata());
            assertEquals(ts.size(), c.tensors().size());
            for (GgufTensor t : ts) {
                GgufTensor back = c.tensors().get(t.name());
                assertEquals(t.type(), back.type());
                assertArrayEquals(t.dims(), back.dims());
                assertEquals(-1, t.data().mismatch(back.data()), t.name());
            }
            GgufFile.write(b, c.metadata(), List.copyOf(c.tensors().values()));
            assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b));
            assertEquals("rw-r--r--", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(a)),
                    "a new file is not left private to its owner as the temporary file was");
            // Quantized tensors come back as the same lowbit tensors.
            QuantizedTensor q = c.tensors().get("blk.0.q4_1.weight").toQuantized();
            assertEquals(QuantFormat.Q4_1, q.format());
            assertEquals(5, q.rows());
            assertEquals(96, q.cols());
            assertArrayEquals(new long[]{2, 3, 32}, c.tensors().get("emb.weight").toDense().shape());
        }
    }

    @Test
    void layoutFollowsTheSpec() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Path p = dir.resolve("s.gguf");
            QuantizedTensor q = QuantOps.get().quantize(QuantFormat.Q8_0, TestData.gaussian(new Random(1), 64), 2, 32, arena);
            Map<String, GgufValue> meta = new LinkedHashMap<>();
            meta.put(GgufFile.ALIGNMENT_KEY, GgufValue.uint32(64));
            GgufFile.write(p, meta, List.of(GgufTensor.of("w", q), GgufTensor.of(DenseTensor.ofFloats("b", new long[]{3},
                    new float[]{1, 2, 3}))));
            ByteBuffer f = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals("GGUF", new String(f.array(), 0, 4, java.nio.charset.StandardCharsets.US_ASCII));
            f.position(4);
            assertEquals(3, f.getInt());
            assertEquals(2, f.getLong()); // tensors
            assertEquals(1, f.getLong()); // key-value pairs
            assertEquals(17, f.getLong());
            f.position(f.position() + 17);
            assertEquals(4, f.getInt()); // UINT32
            assertEquals(64, f.getInt());
            assertEquals(1, f.getLong());
            assertEquals('w', f.get());
            assertEquals(2, f.getInt()); // dims
            assertEquals(32, f.getLong()); // ne[0] = cols
            assertEquals(2, f.getLong()); // ne[1] = rows
            assertEquals(8, f.getInt()); // GGML_TYPE_Q8_0
            assertEquals(0, f.getLong());
            assertEquals(1, f.getLong());
            assertEquals('b', f.get());
            assertEquals(1, f.getInt());
            assertEquals(3, f.getLong());
            assertEquals(0, f.getInt()); // GGML_TYPE_F32
            assertEquals(128, f.getLong()); // 68 bytes of Q8_0 padded to 64
            int dataStart = (f.position() + 63) / 64 * 64;
            assertEquals(dataStart + 128 + 64, f.capacity());
            assertEquals(-1, q.data().mismatch(MemorySegment.ofArray(f.array()).asSlice(dataStart, 68)));
            assertEquals(1f, f.getFloat(dataStart + 128));
        }
    }

    private Path written(Arena arena) throws IOException {
        Path p = dir.resolve("good.gguf");
        Map<String, GgufValue> meta = new LinkedHashMap<>();
        meta.put("general.architecture", GgufValue.string("x"));
        meta.put("t.list", GgufValue.array(GgufValue.Type.UINT16, List.of((short) 1, (short) 2)));
        QuantizedTensor q = QuantOps.get().quantize(QuantFormat.Q4_0, TestData.gaussian(new Random(2), 64), 2, 32, arena);
        GgufFile.write(p, meta, List.of(GgufTensor.of("w", q), GgufTensor.of(DenseTensor.ofFloats("b", new long[]{2},
                new float[]{1, 2}))));
        return p;
    }

    private Path withBytes(byte[] bytes) throws IOException {
        Path p = dir.resolve("bad.gguf");
        Files.write(p, bytes);
        return p;
    }

    private void refused(byte[] bytes, String... words) throws IOException {
        Path p = withBytes(bytes);
        try (Arena arena = Arena.ofConfined()) {
            CorruptFileException e = assertThrows(CorruptFileException.class, () -> GgufFile.read(p, arena));
            for (String w : words) {
                assertTrue(e.getMessage().contains(w), "'" + e.getMessage() + "' should mention '" + w + "'");
            }
        }
    }

    @Test
    void everyTruncationIsRefused() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            byte[] good = Files.readAllBytes(written(arena));
            for (int n = 0; n < good.length; n++) {
                refused(java.util.Arrays.copyOf(good, n));
            }
        }
    }

    @Test
    void corruptBytesGiveAnExceptionOrConsistentTensors() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            byte[] good = Files.readAllBytes(written(arena));
            long seed = new Random().nextLong();
            Random r = new Random(seed);
            for (int i = 0; i < 3000; i++) {
                byte[] bad = good.clone();
                bad[r.nextInt(bad.length)] = (byte) r.nextInt(256);
                Path p = withBytes(bad);
                try (Arena a = Arena.ofConfined()) {
                    GgufFile.Contents c = GgufFile.read(p, a);
                    for (GgufTensor t : c.tensors().values()) {
                        assertEquals(GgufTensor.bytes(t.type(), t.dims()), t.data().byteSize());
                    }
                } catch (CorruptFileException expected) {
                    // a clear refusal
                } catch (RuntimeException | Error e) {
                    throw new AssertionError("seed " + seed + ", case " + i + ": " + e, e);
                }
            }
        }
    }

    /** Offsets in the file written by {@link #written}: after the magic, version and two counts. */
    @Test
    void malformedFieldsAreNamed() throws IOException {
        byte[] good;
        try (Arena arena = Arena.ofConfined()) {
            good = Files.readAllBytes(written(arena));
        }
        ByteBuffer g = ByteBuffer.wrap(good).order(ByteOrder.LITTLE_ENDIAN);
        byte[] b = good.clone();
        b[0] = 'X';
        refused(b, "magic");
        b = good.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(4, 4);
        refused(b, "version 4");
        b = good.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(8, 1L << 40);
        refused(b, "tensor count");
        b = good.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(16, -1L);
        refused(b, "metadata count", "18446744073709551615");
        // The first key's length.
        b = good.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(24, 1L << 50);
        refused(b, "metadata key #0", "needs 1125899906842624 bytes");
        int firstType = 24 + 8 + "general.architecture".length();
        b = good.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(firstType, 13);
        refused(b, "'general.architecture'", "unknown value type 13");
        // The array: key, type ARRAY, element type, count.
        int second = firstType + 4 + 8 + 1;
        int count = second + 8 + "t.list".length() + 4 + 4;
        assertEquals(2, g.getLong(count));
        b = good.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(count, 1L << 62);
        refused(b, "'t.list'", "4611686018427387904 elements");
        b = good.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(count - 4, 9);
        refused(b, "array of arrays");
        // Tensor 'w': name, n_dims, ne[0], ne[1], type, offset.
        int w = count + 8 + 4 + 8;
        assertEquals('w', good[w]);
        b = good.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(w + 1, 5);
        refused(b, "'w'", "5 dims");
        b = good.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(w + 5, 33);
        refused(b, "'w'", "33 elements", "block");
        b = good.clone();
        // Four rows of Q4_0 (72 bytes) no longer fit before 'b' at 64. (Three rows, 54 bytes, would: GGUF has
        // no checksums, so a dimension that stays inside the padding cannot be told from the real one.)
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(w + 13, 4);
        refused(b, "'b'", "offset is 64", "should be 96");
        b = good.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(w + 13, 1L << 40);
        refused(b, "offset");
        b = good.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(w + 21, 16); // IQ2_XXS
        refused(b, "'w'", "ggml type 16", "unsupported");
        b = good.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(w + 21, 12); // Q4_K: rows of 32 are no super-block
        refused(b, "'w'", "Q4_K", "256-element block");
        b = good.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(w + 25, 32);
        refused(b, "'w'", "offset is 32", "should be 0");
        // Tensor 'b' follows at the padded offset of 36 bytes of Q4_0.
        int bt = w + 33 + 8;
        assertEquals('b', good[bt]);
        b = good.clone();
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(bt + 1 + 4 + 8 + 4, 36);
        refused(b, "'b'", "offset is 36", "should be 64");
        b = good.clone();
        b[bt] = 'w';
        refused(b, "two tensors", "'w'");
        byte[] longer = java.util.Arrays.copyOf(good, good.length + 32);
        refused(longer, "bytes after the last tensor");
    }

    /**
     * An F32 tensor of 2^62 + 8 elements needs 2^64 + 32 bytes, which wraps to 32 in 64-bit arithmetic: the
     * reader must refuse it rather than take it for the 8-element tensor whose bytes follow.
     */
    @Test
    void byteCountsThatWrapPast64BitsAreRefused() throws IOException {
        Path p = dir.resolve("wrap.gguf");
        GgufFile.write(p, Map.of(), List.of(GgufTensor.of(DenseTensor.ofFloats("b", new long[]{8}, new float[8]))));
        byte[] b = Files.readAllBytes(p);
        // Header: magic, version, two counts (24 bytes), then 'b': name length and name, n_dims, ne[0].
        int ne0 = 24 + 8 + 1 + 4;
        assertEquals(8, ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(ne0));
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(ne0, (1L << 62) + 8);
        refused(b, "bad.gguf: ", "tensor 'b'", "[4611686018427387912]", "overflow");
        // The constructor and the writer refuse the same dims.
        String problem = GgufTensor.check("b", GgmlType.F32, new long[]{(1L << 62) + 8});
        assertTrue(problem != null && problem.contains("overflow"), problem);
        assertEquals(-1, GgufTensor.bytes(GgmlType.F32, new long[]{(1L << 62) + 8}));
        assertEquals(-1, GgufTensor.bytes(GgmlType.F32, new long[]{4, 1L << 61}));
    }

    /** Token-type tables (I32) and the other plain ggml types are read and written back byte for byte. */
    @Test
    void plainTypesPassThroughByteForByte() throws IOException {
        long seed = new Random().nextLong();
        Random r = new Random(seed);
        List<GgufTensor> in = new ArrayList<>();
        for (GgmlType t : GgmlType.values()) {
            if (t.dtype() == null) {
                continue;
            }
            byte[] b = new byte[2 * 3 * t.blockBytes()];
            r.nextBytes(b);
            in.add(GgufTensor.of(new DenseTensor("plain." + t, t.dtype(), new long[]{2, 3}, MemorySegment.ofArray(b))));
        }
        assertEquals(8, in.size());
        Path a = dir.resolve("a.gguf");
        Path b = dir.resolve("b.gguf");
        GgufFile.write(a, Map.of(), in);
        try (Arena arena = Arena.ofConfined()) {
            GgufFile.Contents c = GgufFile.read(a, arena);
            for (GgufTensor t : in) {
                GgufTensor back = c.tensors().get(t.name());
                assertEquals(t.type(), back.type());
                assertArrayEquals(new long[]{3, 2}, back.dims());
                assertEquals(-1, t.data().mismatch(back.data()), "seed " + seed + ", " + t.name());
                DenseTensor d = back.toDense();
                assertEquals(t.type().dtype(), d.dtype());
                assertArrayEquals(new long[]{2, 3}, d.shape());
            }
            DenseTensor ids = c.tensors().get("plain.I32").toDense();
            assertEquals(DType.I32, ids.dtype());
            IllegalStateException e = assertThrows(IllegalStateException.class, ids::toFloats);
            assertTrue(e.getMessage().startsWith("tensor 'plain.I32' is I32, which does not convert to floats"), e.getMessage());
            e = assertThrows(IllegalStateException.class, () -> c.tensors().get("plain.I32").toQuantized());
            assertEquals("tensor 'plain.I32' is I32, not a quantized type; use toDense()", e.getMessage());
            // Through a dense tensor and back: the same file.
            List<GgufTensor> again = new ArrayList<>();
            for (GgufTensor t : c.tensors().values()) {
                again.add(GgufTensor.of(t.toDense()));
            }
            GgufFile.write(b, c.metadata(), again);
        }
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b), "seed " + seed);
        // ggml's ids.
        assertEquals(26, GgmlType.I32.id());
        assertEquals(30, GgmlType.BF16.id());
        assertEquals(GgmlType.I32, GgmlType.ofId(26));
        DenseTensor u8 = new DenseTensor("mask", DType.U8, new long[]{4}, MemorySegment.ofArray(new byte[4]));
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> GgufTensor.of(u8));
        assertEquals("tensor 'mask' is U8, which GGUF cannot hold: its plain types are F64, F32, F16, BF16, I64, I32,"
                + " I16 and I8", x.getMessage());
    }

    /** The block types are the format table's ggml kinds: ids, block sizes and formats both ways. */
    @Test
    void blockTypesAreTheFormatTablesGgmlKinds() {
        assertEquals(GgmlType.Q4_0, GgmlType.of(QuantFormat.Q4_0));
        assertEquals(GgmlType.Q4_1, GgmlType.of(QuantFormat.Q4_1));
        assertEquals(GgmlType.Q8_0, GgmlType.of(QuantFormat.Q8_0));
        assertEquals(null, GgmlType.of(QuantFormat.grouped(4, 32, true, ScaleType.F16)));
        assertEquals(null, GgmlType.of(QuantFormat.codebook4(32, ScaleType.F16)));
        int blockTypes = 0;
        for (GgmlType t : GgmlType.values()) {
            QuantFormat f = t.format();
            assertEquals(t.dtype() == null, f != null, t.toString());
            if (f == null) {
                continue;
            }
            blockTypes++;
            assertEquals(t.name(), f.kind().name());
            assertEquals(t.id(), f.kind().ggmlType());
            assertEquals(t.blockBytes(), f.blockBytes());
            assertEquals(t.blockElements(), f.groupSize());
            assertEquals(t, GgmlType.of(f));
        }
        assertEquals(12, blockTypes);
        for (QuantFormat.Kind k : QuantFormat.Kind.values()) {
            if (k.ggmlType() != QuantFormat.NONE) {
                assertEquals(QuantFormat.ggml(k), GgmlType.ofId(k.ggmlType()).format(), k.toString());
            }
        }
    }

    @Test
    void truncationSaysHowManyBytesAreMissing() throws IOException {
        byte[] good;
        try (Arena arena = Arena.ofConfined()) {
            good = Files.readAllBytes(written(arena));
        }
        Path p = withBytes(java.util.Arrays.copyOf(good, good.length - 40));
        try (Arena arena = Arena.ofConfined()) {
            CorruptFileException e = assertThrows(CorruptFileException.class, () -> GgufFile.read(p, arena));
            assertTrue(e.getMessage().startsWith(p + ": truncated: expected " + good.length + " bytes, file has "
                    + (good.length - 40) + " (tensor 'b' ends at byte "), e.getMessage());
        }
        // Cut inside the header: the field being read says what it needed. At 87: the count of 't.list'.
        Path q = withBytes(java.util.Arrays.copyOf(good, 90));
        try (Arena arena = Arena.ofConfined()) {
            CorruptFileException e = assertThrows(CorruptFileException.class, () -> GgufFile.read(q, arena));
            assertEquals(q + ": truncated: expected 95 bytes, file has 90 (metadata 't.list' array length needs 8 bytes"
                    + " at offset 87)", e.getMessage());
        }
        // Too short for the counts it states.
        Path r = withBytes(java.util.Arrays.copyOf(good, 30));
        try (Arena arena = Arena.ofConfined()) {
            CorruptFileException e = assertThrows(CorruptFileException.class, () -> GgufFile.read(r, arena));
            assertEquals(r + ": truncated: expected at least 50 bytes, file has 30 (the metadata count 2 needs at least"
                    + " 13 bytes each after offset 24)", e.getMessage());
        }
    }

    @Test
    void namesAndKeysOfMoreThan4096BytesAreRefused() throws IOException {
        String key = "k".repeat(4097);
        Path p = dir.resolve("keys.gguf");
        IllegalArgumentException w = assertThrows(IllegalArgumentException.class,
                () -> GgufFile.write(p, Map.of(key, GgufValue.uint8((byte) 1)), List.of()));
        assertTrue(w.getMessage().startsWith("metadata key of 4097 bytes is longer than the 4096-byte limit"), w.getMessage());
        // A key of exactly 4096 bytes is written and read; one byte more in the file is refused.
        GgufFile.write(p, Map.of(key.substring(1), GgufValue.uint8((byte) 1)), List.of());
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(java.util.Set.of(key.substring(1)), GgufFile.read(p, arena).metadata().keySet());
        }
        byte[] b = Files.readAllBytes(p);
        ByteBuffer bb = ByteBuffer.allocate(b.length + 1).order(ByteOrder.LITTLE_ENDIAN);
        bb.put(b, 0, 24).putLong(4097).put((byte) 'k').put(b, 32, b.length - 32);
        refused(bb.array(), "bad.gguf: metadata key #0 of 4097 bytes is longer than the 4096-byte limit (it starts '"
                + "k".repeat(40) + "...')");
        // A tensor name: ggml takes 63 bytes, but a name past the limit is refused before it is read.
        try (Arena arena = Arena.ofConfined()) {
            GgufFile.write(p, Map.of(), List.of(GgufTensor.of(DenseTensor.ofFloats("t", new long[]{1}, new float[1]))));
        }
        b = Files.readAllBytes(p);
        byte[] big = new byte[b.length + 5000];
        ByteBuffer g = ByteBuffer.wrap(big).order(ByteOrder.LITTLE_ENDIAN);
        g.put(b, 0, 24).putLong(5001).put("t".repeat(5001).getBytes(java.nio.charset.StandardCharsets.US_ASCII))
                .put(b, 33, b.length - 33);
        refused(big, "bad.gguf: tensor #0 name of 5001 bytes is longer than the 4096-byte limit");
    }

    @Test
    void writerRefusesWhatGgmlCannotLoad() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor partial = QuantOps.get().quantize(QuantFormat.Q8_0, new float[40], 1, 40, arena);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GgufTensor.of("w", partial));
            assertTrue(e.getMessage().contains("not a multiple"), e.getMessage());
            QuantizedTensor grouped = QuantOps.get().quantize(QuantFormat.grouped(4, 32, true, dev.lowbit.format.ScaleType.F16),
                    new float[64], 2, 32, arena);
            assertThrows(IllegalArgumentException.class, () -> GgufTensor.of("g", grouped));
            assertThrows(IllegalArgumentException.class, () -> GgufTensor.of(DenseTensor.ofFloats("x".repeat(64),
                    new long[]{1}, new float[1])));
            DenseTensor t = DenseTensor.ofFloats("t", new long[]{1}, new float[1]);
            Path p = dir.resolve("dup.gguf");
            assertThrows(IllegalArgumentException.class, () -> GgufFile.write(p, Map.of(),
                    List.of(GgufTensor.of(t), GgufTensor.of(t))));
            assertThrows(IllegalArgumentException.class, () -> GgufFile.write(p,
                    Map.of(GgufFile.ALIGNMENT_KEY, GgufValue.uint32(48)), List.of()));
            assertEquals(List.of(), Files.list(dir).toList(), "a refused write leaves no file");
        }
    }
}

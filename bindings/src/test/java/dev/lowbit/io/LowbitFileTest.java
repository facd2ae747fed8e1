package dev.lowbit.io;

import dev.lowbit.format.Codebooks;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class LowbitFileTest {
    @TempDir
    Path dir;

    static List<QuantFormat> formats() {
        List<QuantFormat> out = new ArrayList<>(List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1));
        for (int bits : new int[] {2, 3, 4, 8}) {
            for (int g : new int[] {32, 64, 128, QuantFormat.ROW}) {
                for (ScaleType t : ScaleType.values()) {
                    out.add(QuantFormat.grouped(bits, g, true, t));
                    out.add(QuantFormat.grouped(bits, g, false, t));
                }
            }
        }
        for (ScaleType t : ScaleType.values()) {
            out.add(QuantFormat.codebook4(64, t));
            out.add(QuantFormat.codebook4(QuantFormat.ROW, t));
        }
        return out;
    }

    /** A tensor of random codes and parameters, packed by the reference. */
    static QuantizedTensor random(QuantFormat f, int rows, int cols, long seed, Arena arena) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] codes = new int[rows * cols];
        int lo = f.kind() == QuantFormat.Kind.Q8_0 ? -128 : 0;
        int hi = f.kind() == QuantFormat.Kind.Q8_0 ? 127 : f.maxCode();
        for (int i = 0; i < codes.length; i++) {
            codes[i] = lo + r.nextInt(hi - lo + 1);
        }
        int groups = rows * f.groupsPerRow(cols);
        float[] scales = new float[groups];
        boolean zeros = f.kind() == QuantFormat.Kind.Q4_1 || f.hasZeroPlane();
        float[] z = zeros ? new float[groups] : null;
        for (int g = 0; g < groups; g++) {
            scales[g] = f.scaleType().round((float) r.nextGaussian());
            if (zeros) {
                z[g] = f.scaleType().round(r.nextInt(16));
            }
        }
        return Reference.pack(f, rows, cols, codes, scales, z,
                f.kind() == QuantFormat.Kind.CODEBOOK4 ? Codebooks.nf4() : null, arena);
    }

    static SparseOutliers someOutliers(int rows, int cols, Arena arena) {
        int[] rowPtr = new int[rows + 1];
        List<Integer> c = new ArrayList<>();
        List<Float> v = new ArrayList<>();
        for (int r = 0; r < rows; r++) {
            for (int k = r % 3; k < cols; k += 7) {
                c.add(k);
                v.add(r * 100f + k);
            }
            rowPtr[r + 1] = c.size();
        }
        float[] vals = new float[v.size()];
        for (int i = 0; i < vals.length; i++) {
            vals[i] = v.get(i);
        }
        return SparseOutliers.of(rows, cols, rowPtr, c.stream().mapToInt(Integer::intValue).toArray(), vals, arena);
    }

    static void assertSame(QuantizedTensor a, QuantizedTensor b) {
        assertEquals(a.format(), b.format());
        assertEquals(a.rows(), b.rows());
        assertEquals(a.cols(), b.cols());
        assertEquals(-1, a.data().mismatch(b.data()), "data");
        assertEquals(a.scales() == null, b.scales() == null);
        if (a.scales() != null) {
            assertEquals(-1, a.scales().mismatch(b.scales()), "scales");
        }
        assertEquals(a.zeros() == null, b.zeros() == null);
        if (a.zeros() != null) {
            assertEquals(-1, a.zeros().mismatch(b.zeros()), "zeros");
        }
        assertArrayEquals(a.levels(), b.levels());
        assertEquals(a.outliers() == null, b.outliers() == null);
        if (a.outliers() != null) {
            assertEquals(-1, a.outliers().rowPtrPlane().mismatch(b.outliers().rowPtrPlane()));
            assertEquals(-1, a.outliers().colIdxPlane().mismatch(b.outliers().colIdxPlane()));
            assertEquals(-1, a.outliers().valuesPlane().mismatch(b.outliers().valuesPlane()));
        }
    }

    @ParameterizedTest
    @MethodSource("formats")
    void roundTrip(QuantFormat f) throws IOException {
        Path file = dir.resolve("t.lowbit");
        try (Arena arena = Arena.ofConfined()) {
            Map<String, QuantizedTensor> in = new LinkedHashMap<>();
            in.put("odd", random(f, 3, 37, 1, arena));
            in.put("one", random(f, 1, 1, 2, arena));
            in.put("empty", random(f, 0, 5, 3, arena));
            in.put("with.outliers", random(f, 4, 70, 4, arena).withOutliers(someOutliers(4, 70, arena)));
            in.put("no outliers yet", random(f, 2, 9, 5, arena).withOutliers(SparseOutliers.of(2, 9, new int[3],
                    new int[0], new float[0], arena)));
            LowbitFile.write(file, in, Map.of("source", "unit test \"quoted\" ü"));
            assertEquals(0, (Files.size(file) - 8 - headerLength(file)) % 1, "size");
            assertEquals(0, (8 + headerLength(file)) % 64, "planes start on a 64-byte boundary");
            LowbitFile.Contents c = LowbitFile.open(file, arena);
            assertEquals(List.copyOf(in.keySet()), List.copyOf(c.tensors().keySet()));
            for (String k : in.keySet()) {
                assertSame(in.get(k), c.tensors().get(k));
            }
            assertEquals(Map.of("source", "unit test \"quoted\" ü"), c.metadata());
            assertTrue(c.tensors().get("odd").data().isMapped(), "planes are views of the mapping");
        }
    }

    static long headerLength(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        return ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    private Path sample(Arena arena) throws IOException {
        Path file = dir.resolve("sample.lowbit");
        Map<String, QuantizedTensor> in = new LinkedHashMap<>();
        in.put("a", random(QuantFormat.grouped(4, 64, false, ScaleType.F16), 5, 130, 7, arena)
                .withOutliers(someOutliers(5, 130, arena)));
        in.put("b", random(QuantFormat.Q4_0, 2, 64, 8, arena));
        in.put("c", random(QuantFormat.codebook4(32, ScaleType.F32), 3, 40, 9, arena));
        LowbitFile.write(file, in, Map.of("source", "lowbit tests", "license", "Apache-2.0"));
        return file;
    }

    private void expectCorrupt(byte[] bytes, String why) throws IOException {
        Path f = dir.resolve("bad.lowbit");
        Files.write(f, bytes);
        try (Arena arena = Arena.ofConfined()) {
            CorruptFileException e = assertThrows(CorruptFileException.class, () -> LowbitFile.open(f, arena), why);
            assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
        }
    }

    @Test
    void truncatedFilesAreRefused() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            byte[] whole = Files.readAllBytes(sample(arena));
            int headerEnd = (int) (8 + headerLength(dir.resolve("sample.lowbit")));
            for (int len = 0; len < headerEnd + 2; len++) {
                expectCorrupt(Arrays.copyOf(whole, len), "truncated to " + len);
            }
            for (int len = headerEnd + 2; len < whole.length; len += 37) {
                expectCorrupt(Arrays.copyOf(whole, len), "truncated to " + len);
            }
            expectCorrupt(Arrays.copyOf(whole, whole.length - 1), "one byte short");
            byte[] longer = Arrays.copyOf(whole, whole.length + 1);
            expectCorrupt(longer, "one stray byte at the end");
        }
    }

    @Test
    void headerLengthBeyondTheFile() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            byte[] whole = Files.readAllBytes(sample(arena));
            for (long n : new long[] {whole.length, Long.MAX_VALUE, -1, 0, LowbitFile.MAX_HEADER + 1}) {
                byte[] b = whole.clone();
                ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, n);
                expectCorrupt(b, "header length " + n);
            }
        }
    }

    @Test
    void everyFlippedHeaderByteIsCaughtOrHarmless() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Path file = sample(arena);
            byte[] whole = Files.readAllBytes(file);
            LowbitFile.Contents good = LowbitFile.open(file, arena);
            int headerEnd = (int) (8 + headerLength(file));
            Path f = dir.resolve("flip.lowbit");
            int caught = 0;
            for (int i = 8; i < headerEnd; i++) {
                byte[] b = whole.clone();
                b[i] ^= 0x01;
                Files.write(f, b);
                try {
                    LowbitFile.Contents t = LowbitFile.open(f, arena);
                    // A flip that still parses (a space of the padding turned into another blank) must give
                    // back the very same tensors and metadata.
                    assertEquals(good.tensors().keySet(), t.tensors().keySet(), "flip at " + i);
                    for (String k : good.tensors().keySet()) {
                        assertSame(good.tensors().get(k), t.tensors().get(k));
                    }
                    assertEquals(good.metadata(), t.metadata(), "flip at " + i);
                } catch (CorruptFileException e) {
                    caught++;
                } catch (RuntimeException e) {
                    fail("flip at " + i + " escaped as " + e, e);
                }
            }
            assertTrue(caught > (headerEnd - 8) / 2, "most header flips are detected: " + caught);
        }
    }

    @Test
    void everyPlaneIsChecksummed() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Path file = sample(arena);
            byte[] whole = Files.readAllBytes(file);
            int headerEnd = (int) (8 + headerLength(file));
            for (int i = headerEnd; i < whole.length; i += 13) {
                byte[] b = whole.clone();
                b[i] ^= (byte) 0x80;
                expectCorrupt(b, "flipped data byte " + i);
            }
        }
    }

    /** A file with a hand-written header over {@code data} bytes of buffer. */
    private byte[] handMade(String json, int data) {
        byte[] j = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + j.length + data).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(j.length).put(j);
        return b.array();
    }

    @Test
    void malformedHeaders() throws IOException {
        String meta = "\"__metadata__\":{\"lowbit.version\":\"1\"}";
        expectCorrupt(handMade("{" + meta + ",\"x\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                + "\"y\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}", 6), "overlap");
        expectCorrupt(handMade("{" + meta + ",\"x\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                + "\"y\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[6,10]}}", 10), "hole");
        expectCorrupt(handMade("{" + meta + ",\"x\":{\"dtype\":\"Q9\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4),
                "unknown dtype");
        expectCorrupt(handMade("{" + meta + ",\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4),
                "shape does not match the byte range");
        expectCorrupt(handMade("{" + meta + ",\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4),
                "negative shape");
        expectCorrupt(handMade("{" + meta + ",\"x\":{\"dtype\":\"U8\",\"shape\":[4611686018427387904,4],"
                + "\"data_offsets\":[0,4]}}", 4), "shape overflows");
        expectCorrupt(handMade("{" + meta + ",\"x\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                + "\"x\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]}}", 4), "duplicate key");
        expectCorrupt(handMade("{\"__metadata__\":{\"lowbit.version\":\"2\"}}", 0), "unknown version");
        expectCorrupt(handMade("{" + meta + "} trailing", 0), "trailing text");
        expectCorrupt(handMade("[1,2]", 0), "not an object");
        expectCorrupt(handMade("{" + meta.replace("}", ",\"lowbit.t\":\"{\\\"format\\\":\\\"q4_0\\\",\\\"rows\\\":1,"
                + "\\\"cols\\\":32,\\\"nnz\\\":-1,\\\"crc32c\\\":{}}\"}"), 0), "tensor without planes");
        expectCorrupt(handMade("{" + meta.replace("}", ",\"lowbit.t\":\"{\\\"format\\\":\\\"q5_k\\\"}\"}"), 0),
                "unknown format");
        byte[] deep = handMade("{\"a\":[[[[[[[[[[1]]]]]]]]]]}", 0);
        expectCorrupt(deep, "too deep");
        byte[] notUtf8 = handMade("{\"__metadata__\":{\"x\":\"\u00e9\"}}", 0);
        notUtf8[notUtf8.length - 4] = (byte) 0xC3; // lone lead byte
        notUtf8[notUtf8.length - 3] = (byte) 0x28;
        expectCorrupt(notUtf8, "not UTF-8");
    }

    @Test
    void planeOfTheWrongShapeForItsFormat() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Path file = sample(arena);
            String whole = new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1);
            // "b" is Q4_0 2x64: data is U8 [2, 36]; claim [4, 18] (same byte count) instead.
            String changed = whole.replace("\"b.data\":{\"dtype\":\"U8\",\"shape\":[2,36]", "\"b.data\":{\"dtype\":\"U8\",\"shape\":[4,18]");
            assertFalse(changed.equals(whole));
            expectCorrupt(changed.getBytes(StandardCharsets.ISO_8859_1), "wrong shape");
        }
    }

    @Test
    void failedWriteLeavesNothingBehind() throws IOException {
        Path target = dir.resolve("kept.lowbit");
        try (Arena arena = Arena.ofConfined()) {
            LowbitFile.write(target, Map.of("x", random(QuantFormat.Q8_0, 2, 32, 1, arena)));
        }
        byte[] before = Files.readAllBytes(target);
        Arena closed = Arena.ofConfined();
        QuantizedTensor dead = random(QuantFormat.Q8_0, 2, 32, 2, closed);
        closed.close();
        assertThrows(IllegalStateException.class, () -> LowbitFile.write(target, Map.of("x", dead)));
        assertArrayEquals(before, Files.readAllBytes(target), "the old file is untouched");
        try (var files = Files.list(dir)) {
            assertEquals(List.of(target), files.toList(), "no temporary file is left");
        }
        assertThrows(IOException.class, () -> LowbitFile.write(dir.resolve("missing/dir/x.lowbit"), Map.of()));
        assertThrows(IllegalArgumentException.class, () -> LowbitFile.write(dir.resolve("m.lowbit"), Map.of(),
                Map.of("lowbit.version", "9")));
    }

    @Test
    void emptyFileRoundTrips() throws IOException {
        Path f = dir.resolve("empty.lowbit");
        LowbitFile.write(f, Map.of());
        try (Arena arena = Arena.ofConfined()) {
            LowbitFile.Contents c = LowbitFile.open(f, arena);
            assertTrue(c.tensors().isEmpty());
            assertTrue(c.metadata().isEmpty());
            assertNull(c.tensors().get("x"));
        }
    }

    @Test
    void planesAreNotCopied() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Path file = sample(arena);
            QuantizedTensor a = LowbitFile.map(file, arena).get("a");
            MemorySegment d = a.data();
            assertTrue(d.isMapped());
            assertTrue(d.isReadOnly());
        }
    }
}

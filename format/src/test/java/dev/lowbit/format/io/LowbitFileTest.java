package dev.lowbit.format.io;

import dev.lowbit.format.io.internal.ContainerPlanes;

import dev.lowbit.format.Codebooks;
import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.text.ParseException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LowbitFileTest {
    @TempDir
    Path dir;

    static List<QuantFormat> formats() {
        List<QuantFormat> out = new ArrayList<>(List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1));
        int[] groups = {32, 64, 128, QuantFormat.ROW};
        for (ScaleType t : ScaleType.values()) {
            for (int g : groups) {
                for (int bits : new int[] {2, 3, 4, 8}) {
                    out.add(QuantFormat.grouped(bits, g, true, t));
                    out.add(QuantFormat.grouped(bits, g, false, t));
                }
                out.add(QuantFormat.codebook4(g, t));
            }
        }
        return out;
    }

    /** A tensor of seeded random codes and parameters, packed by the reference. */
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
        boolean hasZeros = f.kind() == QuantFormat.Kind.Q4_1 || f.hasZeroPlane();
        float[] zeros = hasZeros ? new float[groups] : null;
        for (int g = 0; g < groups; g++) {
            scales[g] = f.scaleType().round((float) r.nextGaussian());
            if (hasZeros) {
                zeros[g] = f.scaleType().round((float) (r.nextDouble() * f.maxCode()));
            }
        }
        return Reference.pack(f, rows, cols, codes, scales, zeros,
                f.kind() == QuantFormat.Kind.CODEBOOK4 ? Codebooks.nf4() : null, arena);
    }

    /** Seeded random outliers: each entry is an outlier with probability 1/5. */
    static SparseOutliers outliers(int rows, int cols, long seed, Arena arena) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] rowPtr = new int[rows + 1];
        List<Integer> idx = new ArrayList<>();
        List<Float> val = new ArrayList<>();
        for (int row = 0; row < rows; row++) {
            for (int c = 0; c < cols; c++) {
                if (r.nextInt(5) == 0) {
                    idx.add(c);
                    val.add((float) r.nextGaussian() * 100);
                }
            }
            rowPtr[row + 1] = idx.size();
        }
        float[] v = new float[val.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = val.get(i);
        }
        return SparseOutliers.of(rows, cols, rowPtr, idx.stream().mapToInt(Integer::intValue).toArray(), v, arena);
    }

    static void assertSameTensor(QuantizedTensor a, QuantizedTensor b, String what) {
        assertEquals(a.format(), b.format(), what);
        assertEquals(a.rows(), b.rows(), what);
        assertEquals(a.cols(), b.cols(), what);
        assertSamePlane(a.data(), b.data(), what + " data");
        assertSamePlane(a.scales(), b.scales(), what + " scales");
        assertSamePlane(a.zeros(), b.zeros(), what + " zeros");
        assertArrayEquals(a.levels(), b.levels(), what + " levels");
        assertEquals(a.outliers() == null, b.outliers() == null, what + " outliers");
        if (a.outliers() != null) {
            assertEquals(a.outliers().nnz(), b.outliers().nnz(), what + " nnz");
            assertSamePlane(a.outliers().rowPtrPlane(), b.outliers().rowPtrPlane(), what + " row_ptr");
            assertSamePlane(a.outliers().colIdxPlane(), b.outliers().colIdxPlane(), what + " col_idx");
            assertSamePlane(a.outliers().valuesPlane(), b.outliers().valuesPlane(), what + " values");
        }
    }

    static void assertSamePlane(MemorySegment a, MemorySegment b, String what) {
        assertEquals(a == null, b == null, what);
        if (a != null) {
            assertEquals(a.byteSize(), b.byteSize(), what);
            assertEquals(-1, a.mismatch(b), what);
        }
    }

    static void assertSameContents(LowbitFile.Contents a, LowbitFile.Contents b, String what) {
        assertEquals(List.copyOf(a.tensors().keySet()), List.copyOf(b.tensors().keySet()), what);
        for (String k : a.tensors().keySet()) {
            assertSameTensor(a.tensors().get(k), b.tensors().get(k), what + ": " + k);
        }
        assertEquals(a.metadata(), b.metadata(), what);
    }

    static long headerLength(byte[] file) {
        return ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    @ParameterizedTest
    @MethodSource("formats")
    void everyFormatRoundTrips(QuantFormat f) throws IOException {
        Path file = dir.resolve("t.lowbit");
        int[][] shapes = {{3, 37}, {1, 1}, {0, 5}, {2, 130}, {4, 0}};
        try (Arena arena = Arena.ofConfined()) {
            Map<String, QuantizedTensor> in = new LinkedHashMap<>();
            long seed = f.hashCode();
            for (int[] s : shapes) {
                String name = s[0] + "x" + s[1];
                in.put(name, random(f, s[0], s[1], seed++, arena));
                in.put(name + ".outliers", random(f, s[0], s[1], seed++, arena)
                        .withOutliers(outliers(s[0], s[1], seed++, arena)));
            }
            Map<String, String> meta = Map.of("source", "unit test \"quoted\" \u00fc\n", "", "empty key");
            LowbitFile.write(file, in, meta);
            byte[] bytes = Files.readAllBytes(file);
            assertEquals(0, (8 + headerLength(bytes)) % 64, "planes start on a 64-byte boundary");

            LowbitFile.Contents c = LowbitFile.open(file, arena);
            assertEquals(List.copyOf(in.keySet()), List.copyOf(c.tensors().keySet()), "file order is map order");
            for (String k : in.keySet()) {
                assertSameTensor(in.get(k), c.tensors().get(k), k);
                MemorySegment d = c.tensors().get(k).data();
                assertTrue(d.isMapped() && d.isReadOnly(), "planes are read-only views of the mapping");
            }
            assertEquals(meta, c.metadata());
            assertEquals(c.tensors().keySet(), LowbitFile.map(file, arena).keySet());
        }
    }

    /** The header is plain safetensors: the names, dtypes and shapes other tools will see. */
    @Test
    void headerIsSafetensors() throws IOException, ParseException {
        Path file = dir.resolve("h.lowbit");
        try (Arena arena = Arena.ofConfined()) {
            Map<String, QuantizedTensor> in = new LinkedHashMap<>();
            in.put("w", random(QuantFormat.grouped(3, 64, false, ScaleType.F16), 3, 100, 1, arena)
                    .withOutliers(outliers(3, 100, 2, arena)));
            in.put("q", random(QuantFormat.Q4_0, 2, 40, 3, arena));
            in.put("c", random(QuantFormat.codebook4(QuantFormat.ROW, ScaleType.F32), 2, 7, 4, arena));
            LowbitFile.write(file, in, Map.of("k", "v"));
            byte[] bytes = Files.readAllBytes(file);
            int n = (int) headerLength(bytes);
            String text = new String(bytes, 8, n, StandardCharsets.UTF_8);
            assertEquals('{', text.charAt(0));
            assertTrue(text.substring(text.stripTrailing().length()).chars().allMatch(c -> c == ' '),
                    "padding is trailing spaces only");
            Map<?, ?> h = (Map<?, ?>) Json.parse(text);
            Map<?, ?> meta = (Map<?, ?>) h.get("__metadata__");
            assertEquals("1", meta.get("lowbit.version"));
            assertEquals("v", meta.get("k"));
            Map<?, ?> w = (Map<?, ?>) Json.parse((String) meta.get("lowbit.w"));
            assertEquals("int3_asym_g64_f16", w.get("format"));
            assertEquals(3L, w.get("rows"));
            assertEquals(100L, w.get("cols"));
            assertEquals(ContainerPlanes.crc32c(in.get("w").data()), ((Map<?, ?>) w.get("crc32c")).get("data"));
            String[][] want = {
                {"w.data", "U8", "[3, 38]"}, {"w.scales", "F16", "[3, 2]"}, {"w.zeros", "F16", "[3, 2]"},
                {"w.outliers.row_ptr", "I32", "[4]"},
                {"w.outliers.col_idx", "I32", "[" + in.get("w").outliers().nnz() + "]"},
                {"w.outliers.values", "F32", "[" + in.get("w").outliers().nnz() + "]"},
                {"q.data", "U8", "[2, 36]"}, {"c.data", "U8", "[2, 4]"}, {"c.scales", "F32", "[2, 1]"},
                {"c.levels", "F32", "[16]"},
            };
            long at = 0;
            for (String[] p : want) {
                Map<?, ?> e = (Map<?, ?>) h.get(p[0]);
                assertEquals(p[1], e.get("dtype"), p[0]);
                assertEquals(p[2], e.get("shape").toString(), p[0]);
                List<?> off = (List<?>) e.get("data_offsets");
                assertEquals(at, off.get(0), p[0] + " follows the previous plane");
                at = (Long) off.get(1);
            }
            assertEquals(want.length + 1, h.size());
            assertEquals(bytes.length, 8 + n + at, "the planes fill the rest of the file");
        }
    }

    @Test
    void namesWithDotsDoNotCollide() throws IOException {
        Path file = dir.resolve("dots.lowbit");
        try (Arena arena = Arena.ofConfined()) {
            Map<String, QuantizedTensor> in = new LinkedHashMap<>();
            QuantFormat f = QuantFormat.grouped(4, 32, true, ScaleType.F32);
            in.put("z", random(f, 2, 40, 1, arena).withOutliers(outliers(2, 40, 2, arena)));
            in.put("z.outliers", random(f, 2, 40, 3, arena).withOutliers(outliers(2, 40, 4, arena)));
            in.put("a", random(f, 0, 3, 5, arena));
            in.put("z.outliers.values", random(f, 1, 3, 6, arena));
            in.put("\u00e9t\u00e9 \"\\/\u0001", random(f, 1, 3, 7, arena));
            LowbitFile.write(file, in);
            Map<String, QuantizedTensor> out = LowbitFile.map(file, arena);
            assertEquals(List.copyOf(in.keySet()), List.copyOf(out.keySet()));
            for (String k : in.keySet()) {
                assertSameTensor(in.get(k), out.get(k), k);
            }
        }
    }

    @Test
    void emptyFileRoundTrips() throws IOException {
        Path f = dir.resolve("empty.lowbit");
        LowbitFile.write(f, Map.of());
        assertEquals(0, Files.size(f) % 64);
        try (Arena arena = Arena.ofConfined()) {
            LowbitFile.Contents c = LowbitFile.open(f, arena);
            assertTrue(c.tensors().isEmpty());
            assertTrue(c.metadata().isEmpty());
        }
    }

    @Test
    void rewritingReplacesTheFile() throws IOException {
        Path f = dir.resolve("twice.lowbit");
        try (Arena arena = Arena.ofConfined()) {
            LowbitFile.write(f, Map.of("a", random(QuantFormat.Q8_0, 2, 64, 1, arena)));
            QuantizedTensor b = random(QuantFormat.Q4_1, 1, 33, 2, arena);
            LowbitFile.write(f, Map.of("b", b));
            Map<String, QuantizedTensor> out = LowbitFile.map(f, arena);
            assertEquals(List.of("b"), List.copyOf(out.keySet()));
            assertSameTensor(b, out.get("b"), "b");
        }
        try (var files = Files.list(dir)) {
            assertEquals(List.of(f), files.toList());
        }
    }

    /** Slices smaller than a plane, and heap segments with no ByteBuffer view, write the same bytes. */
    @ParameterizedTest
    @ValueSource(longs = {1, 7, 64, 1000, ContainerPlanes.CHUNK})
    void planesAreWrittenInSlices(long chunk) throws IOException {
        float[] values = new float[250];
        SplittableRandom r = new SplittableRandom(chunk);
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) r.nextGaussian();
        }
        byte[] want = new byte[values.length * 4];
        ByteBuffer.wrap(want).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(values);
        CRC32C direct = new CRC32C();
        direct.update(want);
        Path f = dir.resolve("slices.bin");
        try (Arena arena = Arena.ofConfined();
             FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            MemorySegment nat = arena.allocate(want.length);
            MemorySegment.copy(want, 0, nat, ValueLayout.JAVA_BYTE, 0, want.length);
            CRC32C c1 = new CRC32C();
            ContainerPlanes.write(ch, 3, nat, c1, chunk);
            CRC32C c2 = new CRC32C();
            ContainerPlanes.write(ch, 3 + want.length, MemorySegment.ofArray(values), c2, chunk);
            assertEquals(direct.getValue(), c1.getValue());
            assertEquals(direct.getValue(), c2.getValue());
            assertEquals(ContainerPlanes.hex(direct), ContainerPlanes.crc32c(nat));
        }
        byte[] got = Files.readAllBytes(f);
        assertArrayEquals(want, Arrays.copyOfRange(got, 3, 3 + want.length));
        // Floats in a heap segment are in native order; the file is little-endian only where native is.
        if (ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
            assertArrayEquals(want, Arrays.copyOfRange(got, 3 + want.length, got.length));
        }
    }

    // ---- writing ----

    @Test
    void failedWriteLeavesNothingBehind() throws IOException {
        Path target = dir.resolve("kept.lowbit");
        try (Arena arena = Arena.ofConfined()) {
            LowbitFile.write(target, Map.of("x", random(QuantFormat.Q8_0, 2, 32, 1, arena)));
        }
        byte[] before = Files.readAllBytes(target);

        Arena closed = Arena.ofConfined();
        Map<String, QuantizedTensor> dead = new LinkedHashMap<>();
        dead.put("big", random(QuantFormat.Q8_0, 64, 256, 2, Arena.ofAuto()));
        dead.put("gone", random(QuantFormat.Q8_0, 2, 32, 3, closed));
        closed.close();
        assertThrows(IllegalStateException.class, () -> LowbitFile.write(target, dead));
        assertThrows(IOException.class, () -> LowbitFile.write(dir.resolve("missing/x.lowbit"), Map.of()));
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor t = random(QuantFormat.Q4_0, 1, 32, 4, arena);
            for (String name : new String[] {"", "version", "metadata_crc32c", "bad\ud800"}) {
                assertThrows(IllegalArgumentException.class, () -> LowbitFile.write(target, Map.of(name, t)), name);
            }
            assertThrows(IllegalArgumentException.class,
                    () -> LowbitFile.write(target, Map.of("t", t), Map.of("lowbit.version", "9")));
        }

        assertArrayEquals(before, Files.readAllBytes(target), "the old file is untouched");
        try (var files = Files.list(dir)) {
            assertEquals(List.of(target), files.toList(), "no temporary file is left");
        }
    }

    @Test
    void mappedTensorsStayValidWhileTheArenaLives() throws IOException {
        Path f = dir.resolve("life.lowbit");
        QuantizedTensor read;
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor t = random(QuantFormat.grouped(8, QuantFormat.ROW, false, ScaleType.F32), 2, 3, 1, arena);
            LowbitFile.write(f, Map.of("t", t));
            read = LowbitFile.map(f, arena).get("t");
            // The file is replaced by rename, so rewriting does not disturb an existing mapping.
            LowbitFile.write(f, Map.of("t", random(QuantFormat.Q8_0, 1, 1, 2, arena)));
            assertSameTensor(t, read, "t");
            assertEquals(t.scales().get(Layouts.F32, 4), read.scales().get(Layouts.F32, 4));
        }
        assertThrows(IllegalStateException.class, () -> read.data().get(ValueLayout.JAVA_BYTE, 0));
    }
}

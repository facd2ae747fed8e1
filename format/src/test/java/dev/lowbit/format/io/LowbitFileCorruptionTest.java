package dev.lowbit.format.io;

import dev.lowbit.format.io.internal.ContainerPlanes;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
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
import java.util.function.Consumer;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The lowbit container refuses every damaged file with one line that names it: truncation, bad lengths,
 * flipped header bits, planes that fail their checksums, and hand-edited headers whose checksums are
 * recomputed so that the intended check is the one that fires.
 */
class LowbitFileCorruptionTest {
    @TempDir
    Path dir;

    // ---- corruption ----

    /** Three tensors with outliers, a codebook and user metadata: every kind of plane. */
    private byte[] sample() throws IOException {
        Path file = dir.resolve("sample.lowbit");
        try (Arena arena = Arena.ofConfined()) {
            Map<String, QuantizedTensor> in = new LinkedHashMap<>();
            in.put("a", LowbitFileTest.random(QuantFormat.grouped(4, 64, false, ScaleType.F16), 5, 130, 7, arena)
                    .withOutliers(LowbitFileTest.outliers(5, 130, 8, arena)));
            in.put("b", LowbitFileTest.random(QuantFormat.Q4_0, 3, 37, 9, arena));
            in.put("c", LowbitFileTest.random(QuantFormat.codebook4(32, ScaleType.F32), 3, 40, 10, arena));
            in.put("d", LowbitFileTest.random(QuantFormat.grouped(2, 32, true, ScaleType.F16), 0, 5, 11, arena));
            LowbitFile.write(file, in, Map.of("source", "lowbit tests", "license", "Apache-2.0"));
        }
        return Files.readAllBytes(file);
    }

    private CorruptFileException expectCorrupt(byte[] bytes, String why, String... inMessage) throws IOException {
        Path f = dir.resolve("bad.lowbit");
        Files.write(f, bytes);
        try (Arena arena = Arena.ofConfined()) {
            CorruptFileException e = assertThrows(CorruptFileException.class, () -> LowbitFile.open(f, arena), why);
            assertTrue(e.getMessage().startsWith(f + ": "), e.getMessage());
            for (String s : inMessage) {
                assertTrue(e.getMessage().contains(s), why + ": '" + s + "' not in: " + e.getMessage());
            }
            return e;
        }
    }

    @Test
    void truncatedFilesAreRefused() throws IOException {
        byte[] whole = sample();
        int headerEnd = (int) (8 + LowbitFileTest.headerLength(whole));
        for (int len = 0; len <= headerEnd; len++) {
            expectCorrupt(Arrays.copyOf(whole, len), "truncated to " + len);
        }
        for (int len = headerEnd + 1; len < whole.length; len += 29) {
            expectCorrupt(Arrays.copyOf(whole, len), "truncated to " + len, "buffer");
        }
        expectCorrupt(Arrays.copyOf(whole, whole.length - 1), "one byte short");
        expectCorrupt(Arrays.copyOf(whole, whole.length + 1), "a stray byte at the end", "cover");
    }

    /** A cut-off file says how long it should be and how long it is, in one line naming the file. */
    @Test
    void truncationSaysHowManyBytesAreMissing() throws IOException {
        byte[] whole = sample();
        int headerEnd = (int) (8 + LowbitFileTest.headerLength(whole));
        Path f = dir.resolve("bad.lowbit");
        for (int len : new int[] {0, 7}) {
            assertEquals(f + ": truncated: expected at least 8 bytes, file has " + len
                    + " (it is shorter than the 8-byte header length)",
                    expectCorrupt(Arrays.copyOf(whole, len), "cut to " + len).getMessage());
        }
        for (int len : new int[] {8, headerEnd / 2, headerEnd - 1}) {
            assertEquals(f + ": truncated: expected " + headerEnd + " bytes, file has " + len + " (the header length "
                    + LowbitFileTest.headerLength(whole) + " does not fit)", expectCorrupt(Arrays.copyOf(whole, len), "cut to " + len).getMessage());
        }
        for (int len : new int[] {headerEnd, headerEnd + 1, (headerEnd + whole.length) / 2, whole.length - 1}) {
            String m = expectCorrupt(Arrays.copyOf(whole, len), "cut to " + len).getMessage();
            String want = f + ": truncated: expected " + whole.length + " bytes, file has " + len + " (plane '";
            assertTrue(m.startsWith(want) && m.endsWith("-byte buffer)") && !m.contains("\n"), m);
        }
    }

    private CorruptFileException corrupt(Consumer<Parts> edit) throws Exception {
        Parts p = parts();
        edit.accept(p);
        p.fixChecksums();
        return expectCorrupt(p.bytes(), "edited");
    }

    /** Missing and unknown fields are listed in one fixed order, the same in every run. */
    @Test
    void fieldsAreListedInAFixedOrder() throws Exception {
        Path f = dir.resolve("bad.lowbit");
        assertEquals(f + ": plane 'b.data' lacks fields [shape, data_offsets]; an entry has the fields [dtype, shape,"
                + " data_offsets]", corrupt(p -> {
                    p.entry("b.data").remove("data_offsets");
                    p.entry("b.data").remove("shape");
                }).getMessage());
        assertEquals(f + ": plane 'b.data' lacks field [data_offsets]; an entry has the fields [dtype, shape,"
                + " data_offsets]", corrupt(p -> p.entry("b.data").remove("data_offsets")).getMessage());
        assertEquals(f + ": plane 'b.data' lacks field [dtype] and has unknown fields [zz, aa]; an entry has the"
                + " fields [dtype, shape, data_offsets]", corrupt(p -> {
                    p.entry("b.data").remove("dtype");
                    p.entry("b.data").put("zz", 1L);
                    p.entry("b.data").put("aa", 2L);
                }).getMessage());
        assertEquals(f + ": metadata lowbit.b has unknown fields [zz, aa]; a descriptor may have the fields [format,"
                + " rows, cols, nnz, crc32c]", corrupt(p -> p.editDescriptor("b", d -> {
                    d.put("zz", 1L);
                    d.put("aa", 2L);
                })).getMessage());
    }

    /** Names and metadata keys of more than 4,096 bytes are refused on both sides. */
    @Test
    void namesHaveABoundedLength() throws Exception {
        Path f = dir.resolve("bad.lowbit");
        String key = "k".repeat(4097);
        assertEquals(f + ": metadata key of 4097 bytes is longer than the 4096-byte limit (it starts '"
                + "k".repeat(40) + "...')", corrupt(p -> p.meta().put(key, "v")).getMessage());
        String plane = "\u00e9".repeat(2500);
        assertEquals(f + ": tensor name of 5000 bytes is longer than the 4096-byte limit (it starts '"
                + "\u00e9".repeat(40) + "...')", corrupt(p -> p.header.put(plane, new LinkedHashMap<>(Map.of(
                        "dtype", "U8", "shape", List.of(0L), "data_offsets", List.of(0L, 0L))))).getMessage());
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor t = LowbitFileTest.random(QuantFormat.Q4_0, 1, 32, 4, arena);
            Path target = dir.resolve("names.lowbit");
            // The longest plane name, <name>.outliers.row_ptr, adds 17 bytes.
            String longest = "n".repeat(4096 - 17);
            LowbitFile.write(target, Map.of(longest, t));
            assertEquals(List.of(longest), List.copyOf(LowbitFile.map(target, arena).keySet()));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> LowbitFile.write(target, Map.of(longest + "n", t)));
            assertEquals("quantized tensor name '" + "n".repeat(40) + "...' of 4080 bytes is too long: its plane names,"
                    + " up to 4097 bytes, would pass the 4096-byte limit", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> LowbitFile.write(target, Map.of("t", t), Map.of(key, "v")));
            assertTrue(e.getMessage().startsWith("metadata key of 4097 bytes is longer than the 4096-byte limit"),
                    e.getMessage());
        }
    }

    /**
     * A file mapped by {@link LowbitFile#map}, then cut short by someone else, then written elsewhere: the
     * write ends in one line naming the input (before, the checksum of the mapped plane died of SIGBUS).
     */
    @Test
    void rewritingAFileThatShrankNamesIt() throws IOException {
        Path in = dir.resolve("in.lowbit");
        try (Arena arena = Arena.ofConfined()) {
            LowbitFile.write(in, Map.of("w", LowbitFileTest.random(QuantFormat.Q8_0, 512, 1024, 5, arena)));
        }
        long was = Files.size(in);
        try (Arena arena = Arena.ofConfined()) {
            Map<String, QuantizedTensor> t = LowbitFile.map(in, arena);
            try (FileChannel ch = FileChannel.open(in, StandardOpenOption.WRITE)) {
                ch.truncate(100);
            }
            Path out = dir.resolve("out.lowbit");
            MappedInputException e = assertThrows(MappedInputException.class, () -> LowbitFile.write(out, t));
            assertEquals(in + ": the file changed while being read (it is now 100 bytes, was " + was + ")", e.getMessage());
            assertEquals(in, e.file());
            try (var files = Files.list(dir)) {
                assertEquals(List.of(in), files.toList(), "no output and no temporary file");
            }
        }
    }

    @Test
    void headerLengthThatDoesNotFit() throws IOException {
        byte[] whole = sample();
        for (long n : new long[] {whole.length - 7, whole.length, Long.MAX_VALUE, -1, LowbitReader.MAX_HEADER + 1}) {
            byte[] b = whole.clone();
            ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, n);
            expectCorrupt(b, "header length " + n, "header length " + Long.toUnsignedString(n));
        }
        for (long n : new long[] {0, 1, LowbitFileTest.headerLength(whole) - 1, LowbitFileTest.headerLength(whole) + 1}) {
            byte[] b = whole.clone();
            ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, n);
            expectCorrupt(b, "header length " + n);
        }
    }

    /** Every single-bit flip in the header is refused, or (a blank turned into another) changes nothing. */
    @Test
    void everyFlippedHeaderBitIsCaughtOrHarmless() throws IOException {
        byte[] whole = sample();
        Path f = dir.resolve("flip.lowbit");
        Files.write(f, whole);
        int headerEnd = (int) (8 + LowbitFileTest.headerLength(whole));
        int harmless = 0;
        try (Arena arena = Arena.ofConfined()) {
            LowbitFile.Contents good = LowbitFile.open(f, arena);
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                for (int i = 0; i < headerEnd; i++) {
                    for (int bit = 0; bit < 8; bit++) {
                        ch.write(ByteBuffer.wrap(new byte[] {(byte) (whole[i] ^ (1 << bit))}), i);
                        try (Arena a = Arena.ofConfined()) {
                            LowbitFileTest.assertSameContents(good, LowbitFile.open(f, a), "flip of bit " + bit + " at " + i);
                            harmless++;
                        } catch (CorruptFileException e) {
                            assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
                        } catch (RuntimeException e) {
                            fail("flip of bit " + bit + " at byte " + i + " escaped as " + e, e);
                        }
                        ch.write(ByteBuffer.wrap(new byte[] {whole[i]}), i);
                    }
                }
            }
        }
        assertTrue(harmless < headerEnd, "only blanks may flip harmlessly, but " + harmless + " flips did");
    }

    @Test
    void everyPlaneIsChecksummed() throws IOException, ParseException {
        byte[] whole = sample();
        int start = (int) (8 + LowbitFileTest.headerLength(whole));
        Map<?, ?> h = (Map<?, ?>) Json.parse(new String(whole, 8, start - 8, StandardCharsets.UTF_8));
        int planes = 0;
        for (Map.Entry<?, ?> e : h.entrySet()) {
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            List<?> off = (List<?>) ((Map<?, ?>) e.getValue()).get("data_offsets");
            long begin = (Long) off.get(0);
            long end = (Long) off.get(1);
            if (begin == end) {
                continue;
            }
            planes++;
            for (long at : new long[] {begin, (begin + end) / 2, end - 1}) {
                byte[] b = whole.clone();
                b[(int) (start + at)] ^= 0x10;
                expectCorrupt(b, "flipped byte " + at + " of " + e.getKey(), "'" + e.getKey() + "'", "CRC-32C");
            }
        }
        assertEquals(10, planes);
    }

    // ---- hand-edited headers, with checksums recomputed so that the intended check is the one that fires ----

    /** A mutable copy of a parsed JSON value. */
    static Object mutable(Object v) {
        if (v instanceof Map<?, ?> m) {
            Map<String, Object> out = new LinkedHashMap<>();
            m.forEach((k, x) -> out.put((String) k, mutable(x)));
            return out;
        }
        if (v instanceof List<?> l) {
            return new ArrayList<>(l.stream().map(LowbitFileCorruptionTest::mutable).toList());
        }
        return v;
    }

    /** The sample file as a mutable header and its buffer. */
    static final class Parts {
        final Map<String, Object> header;
        byte[] buffer;
        /** Leave the plane checksums in the descriptors as the edit made them. */
        boolean keepPlaneCrcs;

        Parts(Map<String, Object> header, byte[] buffer) {
            this.header = header;
            this.buffer = buffer;
        }

        @SuppressWarnings("unchecked")
        Map<String, Object> entry(String key) {
            return (Map<String, Object>) header.get(key);
        }

        @SuppressWarnings("unchecked")
        Map<String, Object> meta() {
            return (Map<String, Object>) header.get("__metadata__");
        }

        @SuppressWarnings("unchecked")
        void editDescriptor(String tensor, Consumer<Map<String, Object>> edit) {
            try {
                Map<String, Object> d = (Map<String, Object>) mutable(Json.parse((String) meta().get("lowbit." + tensor)));
                edit.accept(d);
                meta().put("lowbit." + tensor, Json.write(d));
            } catch (ParseException e) {
                throw new AssertionError(e);
            }
        }

        /** Recomputes the plane checksums of every well-formed descriptor, then the metadata checksum. */
        @SuppressWarnings("unchecked")
        void fixChecksums() {
            if (!(header.get("__metadata__") instanceof Map)) {
                return;
            }
            for (String k : List.copyOf(meta().keySet())) {
                String tensor = k.substring(k.startsWith("lowbit.") ? 7 : 0);
                if (keepPlaneCrcs || !k.startsWith("lowbit.") || tensor.equals("version")
                        || tensor.equals("metadata_crc32c") || !(meta().get(k) instanceof String s)
                        || !s.startsWith("{") || !s.contains("\"crc32c\":{")) {
                    continue;
                }
                editDescriptor(tensor, d -> ((Map<String, Object>) d.get("crc32c")).replaceAll((part, old) -> {
                    Map<String, Object> e = entry(tensor + "." + part);
                    if (e == null || !(e.get("data_offsets") instanceof List<?> o) || o.size() != 2) {
                        return old;
                    }
                    List<?> off = (List<?>) e.get("data_offsets");
                    int begin = Math.clamp((Long) off.get(0), 0, buffer.length);
                    int end = Math.clamp((Long) off.get(1), 0, buffer.length);
                    CRC32C c = new CRC32C();
                    c.update(buffer, begin, Math.max(0, end - begin));
                    return ContainerPlanes.hex(c);
                }));
            }
            meta().put("lowbit.metadata_crc32c", ContainerPlanes.metadataCrc(meta()));
        }

        byte[] bytes() {
            return assemble(Json.write(header), buffer);
        }
    }

    static byte[] assemble(String json, byte[] buffer) {
        byte[] j = json.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + j.length + buffer.length).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(j.length).put(j).put(buffer).array();
    }

    @SuppressWarnings("unchecked")
    private Parts parts() throws IOException, ParseException {
        byte[] whole = sample();
        int start = (int) (8 + LowbitFileTest.headerLength(whole));
        Map<String, Object> h = (Map<String, Object>) mutable(
                Json.parse(new String(whole, 8, start - 8, StandardCharsets.UTF_8)));
        return new Parts(h, Arrays.copyOfRange(whole, start, whole.length));
    }

    private void expectCorrupt(Consumer<Parts> edit, String why, String... inMessage) throws Exception {
        Parts p = parts();
        edit.accept(p);
        p.fixChecksums();
        expectCorrupt(p.bytes(), why, inMessage);
    }

    @Test
    void reassembledSampleIsAccepted() throws Exception {
        Parts p = parts();
        p.fixChecksums();
        Path f = dir.resolve("again.lowbit");
        Files.write(f, p.bytes());
        Files.write(dir.resolve("sample2.lowbit"), sample());
        try (Arena arena = Arena.ofConfined()) {
            LowbitFileTest.assertSameContents(LowbitFile.open(dir.resolve("sample2.lowbit"), arena), LowbitFile.open(f, arena),
                    "the test's own reassembly changes nothing");
        }
    }

    @Test
    void planesThatDoNotTileTheBuffer() throws Exception {
        // b.data is 3 rows of 2 Q4_0 blocks; move it one byte back over a's last plane.
        expectCorrupt(p -> p.entry("b.data").put("data_offsets", shifted(p.entry("b.data"), -1)), "overlap",
                "b.data", "overlap");
        expectCorrupt(p -> {
            for (String k : p.header.keySet()) {
                if (!k.startsWith("a.") && !k.equals("__metadata__")) {
                    p.entry(k).put("data_offsets", shifted(p.entry(k), 4));
                }
            }
            p.buffer = Arrays.copyOf(p.buffer, p.buffer.length + 4);
        }, "hole", "b.data", "hole");
        expectCorrupt(p -> p.entry("c.levels").put("data_offsets", List.of(10L, 5L)), "reversed range",
                "c.levels", "[10, 5]");
        expectCorrupt(p -> p.entry("c.levels").put("data_offsets", shifted(p.entry("c.levels"), 1)),
                "beyond the buffer", "c.levels");
        expectCorrupt(p -> p.entry("c.levels").put("data_offsets", List.of(-64L, 0L)), "negative offset",
                "c.levels", "-64");
        expectCorrupt(p -> p.entry("c.levels").put("data_offsets", List.of(0L)), "one offset", "c.levels");
    }

    private static List<Long> shifted(Map<String, Object> entry, long by) {
        List<?> off = (List<?>) entry.get("data_offsets");
        return List.of((Long) off.get(0) + by, (Long) off.get(1) + by);
    }

    @Test
    void badDtypesAndShapes() throws Exception {
        expectCorrupt(p -> p.entry("b.data").put("dtype", "U9"), "unknown dtype", "b.data", "U9");
        expectCorrupt(p -> p.entry("b.data").put("dtype", 8L), "dtype not a string", "b.data", "8");
        expectCorrupt(p -> p.entry("b.data").put("dtype", "I8"), "a known dtype, but the wrong one", "b.data", "I8");
        expectCorrupt(p -> p.entry("b.data").put("shape", List.of(6L, 18L)), "same bytes, wrong shape", "b.data",
                "[6, 18]", "[3, 36]");
        expectCorrupt(p -> p.entry("b.data").put("shape", List.of(3L, 35L)), "shape and range disagree", "b.data",
                "105");
        expectCorrupt(p -> p.entry("b.data").put("shape", List.of(-3L, -36L)), "negative shape", "b.data", "-3");
        expectCorrupt(p -> p.entry("b.data").put("shape", List.of(1L << 62, 4L)), "shape overflows", "b.data",
                "overflow");
        expectCorrupt(p -> p.entry("b.data").put("shape", "[3, 36]"), "shape not an array", "b.data");
        expectCorrupt(p -> p.entry("b.data").put("extra", 1L), "unknown field", "b.data", "extra");
        expectCorrupt(p -> p.entry("c.levels").put("shape", List.of(2L, 8L)), "levels of the wrong shape",
                "c.levels", "[2, 8]");
    }

    @Test
    void badDescriptors() throws Exception {
        expectCorrupt(p -> p.editDescriptor("b", d -> d.put("format", "q9_k")), "unknown format", "lowbit.b", "q9_k");
        expectCorrupt(p -> p.editDescriptor("b", d -> d.put("format", "q4_1")), "another format, same planes",
                "b.data", "q4_1");
        expectCorrupt(p -> p.editDescriptor("b", d -> d.put("rows", -3L)), "negative rows", "lowbit.b rows", "-3");
        expectCorrupt(p -> p.editDescriptor("b", d -> d.put("rows", 1L << 31)), "rows beyond int", "lowbit.b rows");
        expectCorrupt(p -> p.editDescriptor("b", d -> d.remove("cols")), "no cols", "lowbit.b cols", "null");
        expectCorrupt(p -> p.editDescriptor("b", d -> d.put("note", "x")), "unknown field", "lowbit.b", "note");
        expectCorrupt(p -> p.editDescriptor("b", d -> d.put("crc32c", "x")), "crc32c not an object",
                "lowbit.b crc32c");
        expectCorrupt(p -> p.editDescriptor("a", d -> d.remove("nnz")), "outliers not announced", "lowbit.a",
                "outliers.row_ptr");
        expectCorrupt(p -> p.editDescriptor("a", d -> d.put("nnz", 3L)), "nnz that disagrees", "a.outliers.col_idx",
                "[3]");
        expectCorrupt(p -> {
            p.editDescriptor("b", d -> d.put("crc32c", new LinkedHashMap<>(Map.of("data", "ABCDEF01"))));
            p.keepPlaneCrcs = true;
        }, "checksum in capitals", "lowbit.b", "ABCDEF01");
        expectCorrupt(p -> {
            p.editDescriptor("b", d -> d.put("crc32c", new LinkedHashMap<>(Map.of("data", "abcdef01"))));
            p.keepPlaneCrcs = true;
        }, "wrong plane checksum", "b.data", "abcdef01");
        expectCorrupt(p -> p.meta().put("lowbit.b", "not json"), "descriptor not JSON", "lowbit.b", "JSON");
        expectCorrupt(p -> p.meta().put("lowbit.b", "[1]"), "descriptor not an object", "lowbit.b");
        expectCorrupt(p -> p.meta().put("lowbit.b", 5L), "descriptor not a string", "lowbit.b");
    }

    @Test
    void planesAndTensorsMustMatch() throws Exception {
        // d is 0x5: its planes are empty, so dropping or adding one keeps the buffer tiled.
        expectCorrupt(p -> p.header.remove("d.scales"), "missing plane", "d.scales", "missing");
        expectCorrupt(p -> {
            Map<String, Object> e = new LinkedHashMap<>(p.entry("d.scales"));
            p.header.put("d.zeros", e);
        }, "stray plane", "d.zeros", "no lowbit tensor");
        expectCorrupt(p -> p.meta().remove("lowbit.d"), "tensor without descriptor", "d.data", "no lowbit tensor");
        expectCorrupt(p -> p.meta().put("lowbit.e", p.meta().get("lowbit.d")), "descriptor without planes", "e.data");
    }

    @Test
    void badMetadata() throws Exception {
        expectCorrupt(p -> p.meta().put("lowbit.version", "2"), "newer version", "lowbit.version", "2");
        expectCorrupt(p -> p.meta().remove("lowbit.version"), "no version", "lowbit.version", "null");
        expectCorrupt(p -> p.meta().put("source", 3L), "value not a string", "source", "3");
        expectCorrupt(p -> p.header.remove("__metadata__"), "no metadata", "__metadata__", "missing");
        expectCorrupt(p -> p.header.put("__metadata__", List.of()), "metadata not an object", "__metadata__");
        // Without recomputing the metadata checksum, an edited string is caught.
        Parts p = parts();
        p.meta().put("license", "MIT");
        expectCorrupt(p.bytes(), "edited user metadata", "lowbit.metadata_crc32c");
        p = parts();
        p.editDescriptor("b", d -> d.put("cols", 33L));
        expectCorrupt(p.bytes(), "cols that fit the same blocks", "lowbit.metadata_crc32c");
        p = parts();
        p.meta().remove("lowbit.metadata_crc32c");
        expectCorrupt(p.bytes(), "no metadata checksum", "lowbit.metadata_crc32c", "null");
    }

    @Test
    void checksummedButInvalidContents() throws Exception {
        // a has outliers: row_ptr starts at the first byte of its plane; make row_ptr[1] huge.
        expectCorrupt(p -> {
            long at = (Long) ((List<?>) p.entry("a.outliers.row_ptr").get("data_offsets")).get(0);
            ByteBuffer.wrap(p.buffer).order(ByteOrder.LITTLE_ENDIAN).putInt((int) at + 4, 1 << 30);
        }, "CSR out of order", "tensor 'a'", "rowPtr[1]");
        expectCorrupt(p -> {
            long at = (Long) ((List<?>) p.entry("c.levels").get("data_offsets")).get(0);
            ByteBuffer.wrap(p.buffer).order(ByteOrder.LITTLE_ENDIAN).putFloat((int) at + 4, -5f);
        }, "levels not increasing", "tensor 'c'", "level 1");
        expectCorrupt(p -> {
            long at = (Long) ((List<?>) p.entry("a.outliers.values").get("data_offsets")).get(0);
            ByteBuffer.wrap(p.buffer).order(ByteOrder.LITTLE_ENDIAN).putFloat((int) at, Float.NaN);
        }, "NaN outlier", "tensor 'a'", "NaN");
    }

    @Test
    void malformedJson() throws IOException {
        String meta = "\"__metadata__\":{\"lowbit.version\":\"1\"}";
        expectCorrupt(assemble("{" + meta + ",\"x\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
                + "\"x\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", new byte[0]), "duplicate key",
                "duplicate key \"x\"");
        expectCorrupt(assemble("{" + meta + "} x", new byte[0]), "trailing text", "trailing");
        expectCorrupt(assemble("{" + meta + "}}", new byte[0]), "trailing brace", "trailing");
        expectCorrupt(assemble("[1,2]", new byte[0]), "not an object", "header");
        expectCorrupt(assemble("", new byte[0]), "empty header", "JSON");
        expectCorrupt(assemble("{\"a\":[[[[[[[[1]]]]]]]]}", new byte[0]), "too deep", "deeper than 8");
        expectCorrupt(assemble("{\"a\":99999999999999999999}", new byte[0]), "overflow", "overflows");
        expectCorrupt(assemble("{\"a\":1.5}", new byte[0]), "fraction", "integers");
        expectCorrupt(assemble("{\"a\":\"\\x\"}", new byte[0]), "bad escape", "escape");
        byte[] notUtf8 = assemble("{\"a\":\"??\"}", new byte[0]);
        notUtf8[notUtf8.length - 4] = (byte) 0xC3;
        notUtf8[notUtf8.length - 3] = (byte) 0x28;
        expectCorrupt(notUtf8, "not UTF-8", "UTF-8");
    }
}

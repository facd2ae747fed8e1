package dev.lowbit.cli;

import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.GgufFile;
import dev.lowbit.models.GgufTensor;
import dev.lowbit.models.GgmlType;
import dev.lowbit.models.Safetensors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.lowbit.cli.CommandsTest.lowbit;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code lowbit quantize}'s output: never an input, never an existing file without {@code --force}, never
 * a folder, FIFO or device; every tensor of the input accounted for; one meaning per {@code --method} in
 * both output formats; GGUF metadata and block fall-backs.
 */
class QuantizeOutputTest {
    @TempDir
    static Path dir;
    private static Path model;
    private static byte[] modelBytes;

    /**
     * Two seeded Gaussian matrices (one with rows of 100, not whole blocks of 32), a bias and a 4-D
     * convolution weight.
     */
    @BeforeAll
    static void model() throws Exception {
        Random rnd = new Random(7);
        Map<String, DenseTensor> dense = new LinkedHashMap<>();
        dense.put("blk.0.weight", DenseTensor.ofFloats("blk.0.weight", new long[]{16, 128}, CommandsTest.gaussian(rnd, 16 * 128)));
        dense.put("blk.0.bias", DenseTensor.ofFloats("blk.0.bias", new long[]{16}, CommandsTest.gaussian(rnd, 16)));
        dense.put("conv.weight", DenseTensor.ofFloats("conv.weight", new long[]{8, 4, 3, 3}, CommandsTest.gaussian(rnd, 8 * 36)));
        dense.put("blk.1.weight", DenseTensor.ofFloats("blk.1.weight", new long[]{8, 100}, CommandsTest.gaussian(rnd, 800)));
        model = dir.resolve("model.safetensors");
        Safetensors.write(model, dense, Map.of(), Map.of());
        modelBytes = Files.readAllBytes(model);
    }

    private static void oneLine(CommandsTest.Ran r, String... words) {
        String e = r.err().strip();
        String last = e.lines().reduce((a, b) -> b).orElse("");
        assertTrue(last.startsWith("lowbit quantize: "), r.err());
        for (String w : words) {
            assertTrue(last.contains(w), "'" + w + "' in: " + r.err());
        }
        assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), r.err());
    }

    private void inputUnchanged() throws Exception {
        assertArrayEquals(modelBytes, Files.readAllBytes(model), "the input model is untouched");
    }

    /** The input reached through a symbolic or hard link, /proc/self/root, or a linked folder is still the input. */
    @Test
    void theInputIsNeverTheOutput() throws Exception {
        Path link = dir.resolve("link.safetensors");
        Files.deleteIfExists(link);
        Files.createSymbolicLink(link, model);
        Path hard = dir.resolve("hard.safetensors");
        Files.deleteIfExists(hard);
        Files.createLink(hard, model);
        Path linkedDir = dir.resolve("linked-dir");
        Files.deleteIfExists(linkedDir);
        Files.createSymbolicLink(linkedDir, dir);
        List<List<String>> cases = List.of(
                List.of("--model", link.toString(), "--out", model.toString()),
                List.of("--model", model.toString(), "--out", link.toString()),
                List.of("--model", model.toString(), "--out", hard.toString()),
                List.of("--model", hard.toString(), "--out", model.toString()),
                List.of("--model", model.toString(), "--out", "/proc/self/root" + model.toAbsolutePath()),
                List.of("--model", model.toString(), "--out", linkedDir.resolve("model.safetensors").toString()),
                List.of("--model", model.toString(), "--out", dir.resolve("x/../model.safetensors").toString()));
        Files.createDirectories(dir.resolve("x"));
        for (List<String> c : cases) {
            for (boolean force : new boolean[]{false, true}) {
                List<String> args = new java.util.ArrayList<>(List.of("quantize"));
                args.addAll(c);
                if (force) {
                    args.add("--force");
                }
                CommandsTest.Ran r = lowbit(args.toArray(String[]::new));
                assertEquals(1, r.status(), args + ": " + r.err());
                oneLine(r, "same file as the input");
                inputUnchanged();
            }
        }
    }

    @Test
    void anExistingOutputNeedsForce() throws Exception {
        Path out = dir.resolve("existing.safetensors");
        Files.writeString(out, "keep me");
        CommandsTest.Ran r = lowbit("quantize", "--model", model.toString(), "--out", out.toString());
        assertEquals(1, r.status(), r.err());
        oneLine(r, out.toString(), "exists", "--force");
        assertEquals("keep me", Files.readString(out));
        r = lowbit("quantize", "--model", model.toString(), "--out", out.toString(), "--force");
        assertEquals(0, r.status(), r.err());
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(2, Safetensors.read(out, arena).quantized().size());
        }
    }

    /** A folder, a FIFO or a device is never replaced by a regular file. */
    @Test
    void specialFilesAreRefused() throws Exception {
        Path fifo = dir.resolve("fifo.safetensors");
        Process mk = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
        assertEquals(0, mk.waitFor());
        Path device = dir.resolve("device.safetensors");
        Files.createSymbolicLink(device, Path.of("/dev/null"));
        Path folder = Files.createDirectories(dir.resolve("folder.safetensors"));
        for (Path out : List.of(fifo, device, folder)) {
            for (boolean force : new boolean[]{false, true}) {
                CommandsTest.Ran r = force
                        ? lowbit("quantize", "--model", model.toString(), "--out", out.toString(), "--force")
                        : lowbit("quantize", "--model", model.toString(), "--out", out.toString());
                assertEquals(1, r.status(), out + ": " + r.err());
                oneLine(r, out.toString(), "not a regular file");
            }
        }
        assertTrue(Files.isDirectory(folder));
        assertTrue(Files.isSymbolicLink(device) && Files.isSameFile(device, Path.of("/dev/null")));
        assertEquals("p", Files.getAttribute(fifo, "unix:mode") instanceof Integer m && (m & 0170000) == 0010000 ? "p" : "-");
        // The same kinds given as --model are named as what they are.
        CommandsTest.Ran r = lowbit("quantize", "--model", folder.toString(), "--out", dir.resolve("y.safetensors").toString());
        assertEquals(1, r.status(), r.err());
        oneLine(r, "is a folder");
        r = lowbit("quantize", "--model", fifo.toString(), "--out", dir.resolve("y.safetensors").toString());
        assertEquals(1, r.status(), r.err());
        oneLine(r, "not a regular file");
    }

    /** A folder that takes no new file is found before the work: no progress line, no output. */
    @Test
    void anUnwritableFolderIsFoundFirst() {
        CommandsTest.Ran r = lowbit("quantize", "--model", model.toString(), "--out", "/proc/lowbit-out.safetensors");
        assertEquals(1, r.status(), r.err());
        oneLine(r, "/proc", "does not take new files");
        assertFalse(r.err().contains("done in"), "nothing was quantized: " + r.err());
    }

    /** The summary counts every tensor; --verbose names each with what became of it. */
    @Test
    void everyTensorIsAccountedFor() throws Exception {
        Path out = dir.resolve("all.safetensors");
        CommandsTest.Ran r = lowbit("quantize", "--model", model.toString(), "--out", out.toString(), "--verbose",
                "--layers", "blk\\.");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("quantized 2, kept as they were 2 (not 2-D 2); " + Files.size(model) + " bytes in, "
                + Files.size(out) + " out"), r.out());
        assertTrue(r.out().contains("kept       conv.weight (not 2-D)"), r.out());
        assertTrue(r.out().contains("kept       blk.0.bias (not 2-D)"), r.out());
        assertTrue(r.out().contains("quantized  blk.1.weight [8 x 100]"), r.out());
        r = lowbit("quantize", "--model", model.toString(), "--out", out.toString(), "--force", "--layers", "blk\\.0");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("quantized 1, kept as they were 3 (not 2-D 2, not selected by --layers 1)"), r.out());
        try (Arena arena = Arena.ofConfined()) {
            Safetensors.Contents in = Safetensors.read(model, arena);
            Safetensors.Contents c = Safetensors.read(out, arena);
            for (String kept : List.of("blk.0.bias", "conv.weight", "blk.1.weight")) {
                DenseTensor a = in.dense().get(kept);
                DenseTensor b = c.dense().get(kept);
                assertArrayEquals(a.shape(), b.shape(), kept);
                assertEquals(-1, a.bytes().mismatch(b.bytes()), kept + " is copied byte for byte");
            }
        }
    }

    /** Tensors that are not float (I64 ids, a U8 mask, a BOOL flag) come out byte for byte, in their dtype. */
    @Test
    void nonFloatTensorsComeOutByteIdentical() throws Exception {
        Random rnd = new Random(5);
        byte[] ids = new byte[8 * 12];
        rnd.nextBytes(ids);
        byte[] mask = new byte[7];
        rnd.nextBytes(mask);
        Map<String, DenseTensor> dense = new LinkedHashMap<>();
        dense.put("position_ids", new DenseTensor("position_ids", dev.lowbit.models.DType.I64, new long[]{1, 12},
                java.lang.foreign.MemorySegment.ofArray(ids)));
        dense.put("w", DenseTensor.ofFloats("w", new long[]{4, 64}, CommandsTest.gaussian(rnd, 256)));
        dense.put("mask", new DenseTensor("mask", dev.lowbit.models.DType.U8, new long[]{7},
                java.lang.foreign.MemorySegment.ofArray(mask)));
        Path in = dir.resolve("ints.safetensors");
        Safetensors.write(in, dense, Map.of(), Map.of());
        Path out = dir.resolve("ints-out.safetensors");
        CommandsTest.Ran r = lowbit("quantize", "--model", in.toString(), "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("quantized 1, kept as they were 2 (not float 2)"), r.out());
        try (Arena arena = Arena.ofConfined()) {
            Safetensors.Contents c = Safetensors.read(out, arena);
            assertEquals(dev.lowbit.models.DType.I64, c.dense().get("position_ids").dtype());
            assertArrayEquals(new long[]{1, 12}, c.dense().get("position_ids").shape());
            assertArrayEquals(ids, c.dense().get("position_ids").bytes().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
            assertArrayEquals(mask, c.dense().get("mask").bytes().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        }
        // GGUF has I64 but no U8: refused before the work, naming the tensor.
        Path gguf = dir.resolve("ints-out.gguf");
        r = lowbit("quantize", "--model", in.toString(), "--out", gguf.toString(), "--method", "q8_0");
        assertEquals(1, r.status(), r.err());
        oneLine(r, "tensor 'mask'", "U8", "GGUF");
        assertFalse(r.err().contains("done in"), r.err());
    }

    /**
     * An ONNX initializer of a type lowbit cannot copy (STRING) is never dropped in silence: the file is refused,
     * naming it, and nothing is written.
     */
    @Test
    void anOnnxInitializerThatCannotBeCopiedIsRefused() throws Exception {
        java.io.ByteArrayOutputStream tensor = new java.io.ByteArrayOutputStream();
        com.google.protobuf.CodedOutputStream t = com.google.protobuf.CodedOutputStream.newInstance(tensor);
        t.writeInt64(1, 1);
        t.writeInt32(2, 8); // STRING
        t.writeByteArray(6, "hello".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        t.writeString(8, "labels");
        t.flush();
        java.io.ByteArrayOutputStream graph = new java.io.ByteArrayOutputStream();
        com.google.protobuf.CodedOutputStream g = com.google.protobuf.CodedOutputStream.newInstance(graph);
        g.writeString(2, "g");
        g.writeByteArray(5, tensor.toByteArray());
        g.flush();
        java.io.ByteArrayOutputStream model = new java.io.ByteArrayOutputStream();
        com.google.protobuf.CodedOutputStream m = com.google.protobuf.CodedOutputStream.newInstance(model);
        m.writeInt64(1, 8);
        m.writeByteArray(7, graph.toByteArray());
        m.flush();
        Path in = dir.resolve("strings.onnx");
        Files.write(in, model.toByteArray());
        Path out = dir.resolve("strings.safetensors");
        CommandsTest.Ran r = lowbit("quantize", "--model", in.toString(), "--out", out.toString());
        assertEquals(1, r.status(), r.err());
        oneLine(r, "initializer 'labels'", "STRING", "nothing was written");
        assertFalse(Files.exists(out));
    }

    /** The built-in model's INT64 position ids survive ONNX to safetensors. */
    @Test
    void onnxIntegerInitializersAreKept() throws Exception {
        Path out = dir.resolve("minilm-ids.safetensors");
        CommandsTest.Ran r = lowbit("quantize", "--model", "minilm", "--out", out.toString(), "--layers", "MatMul_812$");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("not float 1"), r.out());
        try (Arena arena = Arena.ofConfined()) {
            DenseTensor ids = Safetensors.read(out, arena).dense().get("embeddings.position_ids");
            DenseTensor want = dev.lowbit.models.BuiltinModels.miniLm().initializer("embeddings.position_ids");
            assertEquals(dev.lowbit.models.DType.I64, ids.dtype());
            assertEquals(-1, want.bytes().mismatch(ids.bytes()));
        }
    }

    /**
     * GGUF takes no partial block: a matrix with rows of 100 stays F32 and is listed; the file carries the
     * metadata GGUF readers check.
     */
    @Test
    void ggufKeepsPartialBlocksAndHasGeneralMetadata() throws Exception {
        Path out = dir.resolve("blocks.gguf");
        CommandsTest.Ran r = lowbit("quantize", "--model", model.toString(), "--out", out.toString(), "--method", "q4_0",
                "--verbose");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("quantized 1, kept as they were 3 (not 2-D 2, row not a multiple of the group 1)"), r.out());
        assertTrue(r.out().contains("kept       blk.1.weight (row not a multiple of the group)"), r.out());
        try (Arena arena = Arena.ofConfined()) {
            GgufFile.Contents c = GgufFile.read(out, arena);
            assertEquals(GgmlType.Q4_0, c.tensors().get("blk.0.weight").type());
            GgufTensor kept = c.tensors().get("blk.1.weight");
            assertEquals(GgmlType.F32, kept.type());
            Safetensors.Contents in = Safetensors.read(model, arena);
            assertEquals(-1, in.dense().get("blk.1.weight").bytes().mismatch(kept.data()));
            assertEquals("model", c.metadata().get("general.name").value());
            assertEquals(2, c.metadata().get("general.quantization_version").value());
            assertEquals(2, c.metadata().get("general.file_type").value(), "LLAMA_FTYPE_MOSTLY_Q4_0");
            assertFalse(c.metadata().containsKey("general.architecture"), "not a model lowbit recognises");
        }
    }

    /**
     * Each method that GGUF holds writes the same values to both formats: the tensors of the .gguf and
     * the .safetensors output dequantize to the same floats, bit for bit.
     */
    @ParameterizedTest
    @CsvSource({"rtn-sym, 4", "rtn-sym, 8", "q4_0, 4", "q4_1, 4", "q8_0, 8"})
    void oneMethodOneGridInEveryFormat(String method, int bits) throws Exception {
        Path st = dir.resolve("same-" + method + bits + ".safetensors");
        Path gg = dir.resolve("same-" + method + bits + ".gguf");
        for (Path out : List.of(st, gg)) {
            CommandsTest.Ran r = lowbit("quantize", "--model", model.toString(), "--out", out.toString(), "--method",
                    method, "--bits", Integer.toString(bits), "--group", "32", "--layers", "blk\\.0");
            assertEquals(0, r.status(), out + ": " + r.err());
        }
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor a = Safetensors.read(st, arena).quantized().get("blk.0.weight");
            QuantizedTensor b = GgufFile.read(gg, arena).tensors().get("blk.0.weight").toQuantized();
            float[] x = new float[16 * 128];
            float[] y = new float[16 * 128];
            QuantOps.get().dequantize(a, x);
            QuantOps.get().dequantize(b, y);
            for (int i = 0; i < x.length; i++) {
                assertEquals(Float.floatToRawIntBits(x[i]), Float.floatToRawIntBits(y[i]), method + " element " + i);
            }
            if (method.equals("rtn-sym") && bits == 4) {
                // The narrow grid: no element takes code 0 (-8 steps), which ggml's own Q4_0 rule uses.
                float[] q40 = new float[x.length];
                QuantOps.get().dequantize(QuantOps.get().quantize(dev.lowbit.format.QuantFormat.Q4_0,
                        Safetensors.read(model, arena).dense().get("blk.0.weight").toFloats(), 16, 128, arena), q40);
                assertFalse(java.util.Arrays.equals(q40, x), "rtn-sym and q4_0 are different grids");
            }
        }
    }

    /** Methods whose grid ggml's blocks cannot hold exactly are refused for GGUF, in one line, before any work. */
    @ParameterizedTest
    @ValueSource(strings = {"rtn", "mse", "hqq", "easyquant", "nupes", "nf4"})
    void ggufRefusesWhatItCannotHold(String method) throws Exception {
        Path out = dir.resolve("refused-" + method + ".gguf");
        CommandsTest.Ran r = lowbit("quantize", "--model", model.toString(), "--out", out.toString(), "--method", method);
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().lines().findFirst().orElse("").contains(method) && r.err().contains(".safetensors"), r.err());
        assertFalse(r.err().contains("done in"), r.err());
        assertFalse(Files.exists(out));
    }

    /** NaN and infinities: refused with the tensor, row and column, or clamped with --non-finite clamp. */
    @Test
    void nonFiniteWeightsNameTheTensorAndTheOption() throws Exception {
        float[] w = CommandsTest.gaussian(new Random(3), 4 * 64);
        w[64 + 5] = Float.NaN;
        w[3 * 64 + 1] = Float.NEGATIVE_INFINITY;
        Path in = dir.resolve("nan.safetensors");
        Safetensors.write(in, Map.of("w", DenseTensor.ofFloats("w", new long[]{4, 64}, w)), Map.of(), Map.of());
        Path out = dir.resolve("nan-out.safetensors");
        CommandsTest.Ran r = lowbit("quantize", "--model", in.toString(), "--out", out.toString());
        assertEquals(1, r.status(), r.err());
        oneLine(r, "tensor 'w'", "nan at row 1, column 5", "--non-finite clamp");
        assertFalse(Files.exists(out));
        r = lowbit("quantize", "--model", in.toString(), "--out", out.toString(), "--non-finite", "clamp");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("2 non-finite values clamped"), r.out());
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor q = Safetensors.read(out, arena).quantized().get("w");
            float[] back = new float[w.length];
            QuantOps.get().dequantize(q, back);
            for (float v : back) {
                assertTrue(Float.isFinite(v));
            }
            float largest = 0;
            for (int c = 0; c < 64; c++) {
                if (c != 1) {
                    largest = Math.max(largest, Math.abs(w[3 * 64 + c]));
                }
            }
            assertEquals(-largest, back[3 * 64 + 1], largest / 7, "-Inf becomes the row's largest finite magnitude");
        }
    }

    /** Weights beyond what fp16 scales hold: the message names the tensor and the option that stores F32 scales. */
    @Test
    void scalesBeyondF16NameTheOption() throws Exception {
        float[] w = CommandsTest.gaussian(new Random(4), 2 * 64);
        for (int i = 0; i < w.length; i++) {
            w[i] *= 1e9f;
        }
        Path in = dir.resolve("huge.safetensors");
        Safetensors.write(in, Map.of("big", DenseTensor.ofFloats("big", new long[]{2, 64}, w)), Map.of(), Map.of());
        Path out = dir.resolve("huge-out.safetensors");
        CommandsTest.Ran r = lowbit("quantize", "--model", in.toString(), "--out", out.toString(), "--method", "rtn-sym");
        assertEquals(1, r.status(), r.err());
        oneLine(r, "tensor 'big'", "--scales f32");
        r = lowbit("quantize", "--model", in.toString(), "--out", out.toString(), "--method", "rtn-sym", "--scales", "f32");
        assertEquals(0, r.status(), r.err());
        try (Arena arena = Arena.ofConfined()) {
            assertEquals("int4_sym_g64_f32", Safetensors.read(out, arena).quantized().get("big").format().name());
        }
    }
}

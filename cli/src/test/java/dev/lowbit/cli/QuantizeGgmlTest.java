package dev.lowbit.cli;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.GgmlType;
import dev.lowbit.models.GgufFile;
import dev.lowbit.models.GgufRecipe;
import dev.lowbit.models.GgufTensor;
import dev.lowbit.models.Safetensors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static dev.lowbit.cli.CommandsTest.lowbit;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code lowbit quantize} to ggml's Q5_0, Q5_1, IQ4_NL, Q2_K-Q6_K and llama.cpp's Q4_K_M and Q5_K_M: every tensor is
 * the bytes {@link QuantOps#quantize} writes for the format the recipe gives it, in both file types; rows that no
 * block tiles are kept; the streamed GGUF file is {@link GgufFile#write}'s, and a failed run leaves no file.
 */
class QuantizeGgmlTest {
    static final List<String> METHODS = List.of("q5_0", "q5_1", "iq4_nl", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k",
            "q4_k_m", "q5_k_m");

    @TempDir
    static Path dir;
    private static Path model;
    private static Map<String, DenseTensor> dense;

    /**
     * Eight layers of LLaMA-named value and FFN-down projections (rows of 256 and 512), a matrix of rows of 96
     * (whole blocks of 32, not of 256), one of rows of 40 (no block), BERT's position embeddings, a norm (1-D), an
     * F16 and a BF16 matrix, and the output projection. Seed 11.
     */
    @BeforeAll
    static void model() throws Exception {
        Random rnd = new Random(11);
        dense = new LinkedHashMap<>();
        for (int l = 0; l < 8; l++) {
            put(rnd, "blk." + l + ".attn_v.weight", 4, 256);
            put(rnd, "blk." + l + ".ffn_down.weight", 2, 512);
        }
        put(rnd, "odd.weight", 3, 96);
        put(rnd, "tiny.weight", 2, 40);
        put(rnd, "embeddings.position_embeddings.weight", 4, 256);
        dense.put("output_norm.weight", DenseTensor.ofFloats("output_norm.weight", new long[]{256},
                CommandsTest.gaussian(rnd, 256)));
        DenseTensor f32 = DenseTensor.ofFloats("half.weight", new long[]{2, 256}, CommandsTest.gaussian(rnd, 512));
        dense.put("half.weight", convert(f32, dev.lowbit.models.DType.F16));
        DenseTensor b32 = DenseTensor.ofFloats("brain.weight", new long[]{2, 256}, CommandsTest.gaussian(rnd, 512));
        dense.put("brain.weight", convert(b32, dev.lowbit.models.DType.BF16));
        put(rnd, "output.weight", 8, 256);
        model = dir.resolve("llama.safetensors");
        Safetensors.write(model, dense, Map.of(), Map.of());
    }

    private static void put(Random rnd, String name, int rows, int cols) {
        float[] v = CommandsTest.gaussian(rnd, rows * cols);
        for (int i = 0; i < v.length; i++) {
            v[i] *= 0.02f * (1 + i % 7);
        }
        dense.put(name, DenseTensor.ofFloats(name, new long[]{rows, cols}, v));
    }

    /** {@code t} in a 16-bit float type, rounded to nearest even (its own values then read back exactly). */
    private static DenseTensor convert(DenseTensor t, dev.lowbit.models.DType type) {
        float[] v = t.toFloats();
        short[] h = new short[v.length];
        for (int i = 0; i < v.length; i++) {
            h[i] = type == dev.lowbit.models.DType.F16 ? Float.floatToFloat16(v[i])
                    : (short) ((Float.floatToRawIntBits(v[i]) + 0x7FFF + ((Float.floatToRawIntBits(v[i]) >>> 16) & 1)) >>> 16);
        }
        return new DenseTensor(t.name(), type, t.shape(), MemorySegment.ofArray(h));
    }

    private static GgufRecipe recipe(String method) {
        return switch (method) {
            case "q4_k_m" -> GgufRecipe.Q4_K_M;
            case "q5_k_m" -> GgufRecipe.Q5_K_M;
            default -> GgufRecipe.single(QuantFormat.parse(method));
        };
    }

    /** The format each 2-D float tensor of {@link #dense} should get, null for kept. */
    private static Map<String, QuantFormat> expected(String method) {
        GgufRecipe r = recipe(method);
        List<GgufRecipe.Tensor> ts = new ArrayList<>();
        for (DenseTensor d : dense.values()) {
            if (d.rank() == 2) {
                ts.add(new GgufRecipe.Tensor(d.name(), new long[]{d.shape()[1], d.shape()[0]}));
            }
        }
        if (r.mixture()) {
            return r.plan(ts);
        }
        Map<String, QuantFormat> out = new LinkedHashMap<>();
        ts.forEach(t -> out.put(t.name(), GgufRecipe.fallback(r.base(), t.dims()[0])));
        return out;
    }

    /**
     * Every method in both file types: each matrix is the bytes of {@link QuantOps#quantize} in the format of the
     * recipe (fallbacks and mixture rules included); the rest is kept byte for byte; GGUF's file type is the
     * recipe's; the streamed GGUF is the file {@link GgufFile#write} makes of the same tensors.
     */
    @ParameterizedTest
    @ValueSource(strings = {"q5_0", "q5_1", "iq4_nl", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "q4_k_m", "q5_k_m"})
    void everyTensorIsTheFormatOfTheRecipe(String method) throws Exception {
        Map<String, QuantFormat> want = expected(method);
        if (method.equals("q4_k_m")) {
            // llama.cpp's use_more_bits over 8 layers: layers 0, 3, 6 and 7 in Q6_K; the output in Q6_K.
            for (int l = 0; l < 8; l++) {
                QuantFormat f = l == 0 || l == 3 || l == 6 || l == 7 ? QuantFormat.Q6_K : QuantFormat.Q4_K;
                assertEquals(f, want.get("blk." + l + ".attn_v.weight"), "layer " + l);
                assertEquals(f, want.get("blk." + l + ".ffn_down.weight"), "layer " + l);
            }
            assertEquals(QuantFormat.Q6_K, want.get("output.weight"));
            assertEquals(QuantFormat.Q5_0, want.get("odd.weight"));
            assertNull(want.get("embeddings.position_embeddings.weight"));
        }
        assertNull(want.get("tiny.weight"), "rows of 40: no ggml block tiles them");
        for (String ext : List.of("safetensors", "gguf")) {
            Path out = dir.resolve(method + "." + ext);
            CommandsTest.Ran r = lowbit("quantize", "--model", model.toString(), "--out", out.toString(), "--method",
                    method, "--verbose", "--force");
            assertEquals(0, r.status(), method + " " + ext + ": " + r.err());
            long quantized = want.values().stream().filter(f -> f != null).count();
            assertTrue(r.out().contains("quantized " + quantized + ", kept as they were"), r.out());
            assertTrue(r.out().contains("kept       tiny.weight (row not a multiple of the group)"), r.out());
            for (Map.Entry<String, QuantFormat> e : want.entrySet()) {
                if (e.getValue() != null) {
                    assertTrue(r.out().contains("quantized  " + e.getKey() + " ["), e.getKey() + ": " + r.out());
                    assertTrue(r.out().lines().anyMatch(l -> l.startsWith("quantized  " + e.getKey() + " [")
                            && l.contains("] " + e.getValue().name() + ",")), e.getKey() + " " + e.getValue() + ": " + r.out());
                }
            }
            String summary = r.out().lines().filter(l -> l.startsWith(out + ": ")).findFirst().orElseThrow();
            for (QuantFormat f : want.values()) {
                if (f != null) {
                    assertTrue(summary.contains(f.name()), f + " in " + summary);
                }
            }
            if (recipe(method).mixture()) {
                assertTrue(r.out().contains("kept       embeddings.position_embeddings.weight (not quantized by "
                        + "llama.cpp's rules)"), r.out());
            }
            try (Arena arena = Arena.ofConfined()) {
                Map<String, QuantizedTensor> got = new LinkedHashMap<>();
                Map<String, MemorySegment> keptBytes = new LinkedHashMap<>();
                if (ext.equals("gguf")) {
                    GgufFile.Contents c = GgufFile.read(out, arena);
                    assertEquals(recipe(method).fileType(), c.metadata().get("general.file_type").value(), method);
                    for (GgufTensor t : c.tensors().values()) {
                        if (t.type().format() != null) {
                            got.put(t.name(), t.toQuantized());
                        } else {
                            keptBytes.put(t.name(), t.data());
                        }
                    }
                    // The streamed file is byte for byte what the one-shot writer makes of the same tensors.
                    Path again = dir.resolve(method + "-again.gguf");
                    GgufFile.write(again, c.metadata(), List.copyOf(c.tensors().values()));
                    assertArrayEquals(Files.readAllBytes(out), Files.readAllBytes(again), method);
                } else {
                    Safetensors.Contents c = Safetensors.read(out, arena);
                    got.putAll(c.quantized());
                    c.dense().forEach((k, v) -> keptBytes.put(k, v.bytes()));
                }
                for (DenseTensor d : dense.values()) {
                    QuantFormat f = d.rank() == 2 ? want.get(d.name()) : null;
                    String what = method + " " + ext + " " + d.name();
                    if (f == null) {
                        assertNotNull(keptBytes.get(d.name()), what);
                        assertEquals(-1, d.bytes().mismatch(keptBytes.get(d.name())), what + " is kept byte for byte");
                        continue;
                    }
                    QuantizedTensor q = got.get(d.name());
                    assertNotNull(q, what);
                    assertEquals(f, q.format(), what);
                    int rows = (int) d.shape()[0];
                    int cols = (int) d.shape()[1];
                    QuantizedTensor ref = QuantOps.get().quantize(f, d.toFloats(), rows, cols, arena);
                    assertEquals(-1, ref.data().mismatch(q.data()), what + ": QuantOps.quantize's bytes");
                }
            }
        }
    }

    /**
     * The built-in MiniLM (ONNX MatMul weights, transposed) to each method, both types: QuantOps.quantize's bytes.
     * The first layer's six matrices: rows of 384 (the fallback of the K-quants) and of 1536 (whole super-blocks).
     */
    @Test
    void theBuiltInMiniLmInEveryMethod() throws Exception {
        String layers = "MatMul_(787|788|791|797|798|799)$";
        Weights w = Weights.miniLm(java.util.regex.Pattern.compile(layers));
        assertEquals(6, w.matrices().size());
        for (String method : METHODS) {
            GgufRecipe recipe = recipe(method);
            for (String ext : List.of("gguf", "safetensors")) {
                Path out = dir.resolve("minilm-" + method + "." + ext);
                CommandsTest.Ran r = lowbit("quantize", "--model", "minilm", "--out", out.toString(), "--method", method,
                        "--layers", layers);
                assertEquals(0, r.status(), method + " " + ext + ": " + r.err());
                assertTrue(r.out().contains("quantized " + w.matrices().size() + ", "), r.out());
                try (Arena arena = Arena.ofConfined()) {
                    Map<String, QuantizedTensor> got = new LinkedHashMap<>();
                    if (ext.equals("gguf")) {
                        GgufFile.Contents c = GgufFile.read(out, arena);
                        assertEquals(recipe.fileType(), c.metadata().get("general.file_type").value(), method);
                        assertEquals("bert", c.metadata().get("general.architecture").value());
                        c.tensors().forEach((k, v) -> {
                            if (v.type().format() != null) {
                                got.put(k, v.toQuantized());
                            }
                        });
                    } else {
                        got.putAll(Safetensors.read(out, arena).quantized());
                    }
                    for (Weights.Matrix m : w.matrices()) {
                        // MiniLM's rows (384 and 1536 wide) are whole blocks of 32 but 384 not of 256: the fallback.
                        QuantFormat f = GgufRecipe.fallback(recipe.base(), m.cols());
                        QuantizedTensor q = got.get(m.name());
                        assertNotNull(q, m.name());
                        assertEquals(f, q.format(), method + " " + m.name());
                        QuantizedTensor ref = QuantOps.get().quantize(f, m.values(), m.rows(), m.cols(), arena);
                        assertEquals(-1, ref.data().mismatch(q.data()), method + " " + ext + " " + m.name());
                    }
                }
            }
        }
    }

    /** A mixture's formats, a width or group it does not take, and f32 scales are refused before any work. */
    @Test
    void optionsTheBlocksFixAreRefused() {
        Path out = dir.resolve("refused.gguf");
        CommandsTest.Ran r = lowbit("quantize", "--model", model.toString(), "--out", out.toString(), "--method", "q4_k",
                "--group", "64");
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().contains("q4_k has blocks of 256: drop --group"), r.err());
        r = lowbit("quantize", "--model", model.toString(), "--out", out.toString(), "--method", "q5_0", "--bits", "4");
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().contains("q5_0 is 5-bit: drop --bits"), r.err());
        r = lowbit("quantize", "--model", model.toString(), "--out", out.toString(), "--method", "q4_k_m", "--scales", "f32");
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().contains("q4_k_m stores fp16 scales"), r.err());
        assertFalse(Files.exists(out));
    }

    /**
     * A NaN in the last matrix stops the run after earlier matrices are already written to the GGUF file: no output
     * and no temporary file is left; with --non-finite clamp it is counted.
     */
    @Test
    void aFailedStreamedWriteLeavesNoFile() throws Exception {
        Random rnd = new Random(12);
        Map<String, DenseTensor> d = new LinkedHashMap<>();
        d.put("a.weight", DenseTensor.ofFloats("a.weight", new long[]{4, 256}, CommandsTest.gaussian(rnd, 1024)));
        float[] bad = CommandsTest.gaussian(rnd, 1024);
        bad[3 * 256 + 7] = Float.NaN;
        d.put("b.weight", DenseTensor.ofFloats("b.weight", new long[]{4, 256}, bad));
        Path sub = Files.createDirectories(dir.resolve("failing"));
        Path in = sub.resolve("nan.safetensors");
        Safetensors.write(in, d, Map.of(), Map.of());
        Path out = sub.resolve("nan.gguf");
        CommandsTest.Ran r = lowbit("quantize", "--model", in.toString(), "--out", out.toString(), "--method", "q4_k_m");
        assertEquals(1, r.status(), r.err());
        assertTrue(r.err().contains("tensor 'b.weight' has nan at row 3, column 7"), r.err());
        assertFalse(r.err().contains("tensor 'b.weight': tensor"), r.err());
        try (Stream<Path> left = Files.list(sub)) {
            assertEquals(List.of(in), left.toList(), "no output and no temporary file");
        }
        r = lowbit("quantize", "--model", in.toString(), "--out", out.toString(), "--method", "q4_k_m",
                "--non-finite", "clamp");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("1 non-finite values clamped"), r.out());
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(GgmlType.Q4_K, GgufFile.read(out, arena).tensors().get("b.weight").type(),
                    "a matrix of no special role gets the mixture's base type");
        }
    }
}

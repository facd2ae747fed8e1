package dev.lowbit.models.bert;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.models.BuiltinModels;
import dev.lowbit.models.GgmlType;
import dev.lowbit.models.GgufFile;
import dev.lowbit.models.GgufRecipe;
import dev.lowbit.models.GgufTensor;
import dev.lowbit.models.GgufValue;
import dev.lowbit.testkit.Llama;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * all-MiniLM-L6-v2 as llama.cpp's BERT GGUF ({@link LlamaCppBert}), in F32, Q8_0 and Q4_K_M: llama.cpp itself
 * ({@link Llama}, the npm package's {@code libllama}) loads each file, tokenizes 200 Europarl sentences with the
 * file's vocabulary and embeds them (mean pooling). The F32 file's tokens are lowbit's WordPiece ids and its
 * embeddings reach a cosine of at least 0.9999 to lowbit's fp32 encoder on every sentence; the quantized files'
 * cosines are printed beside lowbit's own W8A8 and W4A8 paths on the same sentences.
 */
class LlamaCppMiniLmTest {
    private static final int SENTENCES = 200;
    private static final String NAME = "all-MiniLM-L6-v2";
    private static BertWeights weights;
    private static String tokenizerJson;
    private static List<String> sentences;
    private static List<int[]> seqs;
    private static float[][] fp32;

    @BeforeAll
    static void load() {
        tokenizerJson = BuiltinModels.miniLmTokenizerJson();
        WordPieceTokenizer tok = WordPieceTokenizer.fromJson(tokenizerJson);
        weights = BertWeights.fromOnnx(BuiltinModels.miniLm(), 12);
        sentences = Sentences.english(SENTENCES);
        seqs = new ArrayList<>();
        for (String s : sentences) {
            seqs.add(tok.encode(s));
        }
    }

    private static float[][] fp32() {
        if (fp32 == null) {
            try (BertEncoder enc = BertEncoder.fp32(weights, 2)) {
                fp32 = EmbeddingEvaluation.encodeAll(SentenceEncoder.of("fp32", enc), seqs, 32);
            }
        }
        return fp32;
    }

    @Test
    void namesShapesAndVocabularyAreLlamaCpps(@TempDir Path dir) throws IOException {
        LlamaCppBert.Gguf g = LlamaCppBert.f32(weights, tokenizerJson, NAME);
        assertEquals(5 + 6 * 16, g.tensors().size());
        Map<String, GgufTensor> byName = new LinkedHashMap<>();
        g.tensors().forEach(t -> byName.put(t.name(), t));
        assertArrayEquals(new long[]{384, 30522}, byName.get("token_embd.weight").dims());
        assertArrayEquals(new long[]{384, 512}, byName.get("position_embd.weight").dims());
        assertArrayEquals(new long[]{384, 2}, byName.get("token_types.weight").dims());
        assertArrayEquals(new long[]{384}, byName.get("token_embd_norm.bias").dims());
        assertArrayEquals(new long[]{384, 384}, byName.get("blk.5.attn_v.weight").dims());
        assertArrayEquals(new long[]{384, 1536}, byName.get("blk.0.ffn_up.weight").dims());
        assertArrayEquals(new long[]{1536}, byName.get("blk.0.ffn_up.bias").dims());
        assertArrayEquals(new long[]{1536, 384}, byName.get("blk.0.ffn_down.weight").dims());
        assertArrayEquals(new long[]{384}, byName.get("blk.3.layer_output_norm.weight").dims());
        assertArrayEquals(new long[]{384}, byName.get("blk.3.attn_output_norm.bias").dims());
        // ne[0] is the input width: row o of attn_q is the ONNX weight's column o
        float[] q = weights.layers()[0].query().weight();
        GgufTensor tq = byName.get("blk.0.attn_q.weight");
        assertEquals(q[3 * 384 + 7], tq.data().getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, 7L * 384 + 3));

        Map<String, GgufValue> m = g.metadata();
        assertEquals("bert", m.get("general.architecture").value());
        assertEquals(false, m.get("bert.attention.causal").value());
        assertEquals(1, m.get("bert.pooling_type").value());
        assertEquals(512, m.get("bert.context_length").value());
        assertEquals(1536, m.get("bert.feed_forward_length").value());
        assertEquals(1e-12f, m.get("bert.attention.layer_norm_epsilon").value());
        List<?> tokens = (List<?>) m.get("tokenizer.ggml.tokens").value();
        List<?> types = (List<?>) m.get("tokenizer.ggml.token_type").value();
        WordPieceTokenizer tok = WordPieceTokenizer.fromJson(tokenizerJson);
        assertEquals(30522, tokens.size());
        assertEquals("[CLS]", tokens.get(101));
        assertEquals(3, types.get(101));
        assertEquals(101, m.get("tokenizer.ggml.cls_token_id").value());
        assertEquals(102, m.get("tokenizer.ggml.seperator_token_id").value());
        assertEquals(100, m.get("tokenizer.ggml.unknown_token_id").value());
        assertEquals(0, m.get("tokenizer.ggml.padding_token_id").value());
        assertEquals(103, m.get("tokenizer.ggml.mask_token_id").value());
        int the = -1;
        int ing = -1;
        for (int i = 0; i < tok.vocabSize(); i++) {
            if (tok.token(i).equals("the")) {
                the = i;
            } else if (tok.token(i).equals("##ing")) {
                ing = i;
            }
        }
        assertEquals("\u2581the", tokens.get(the));
        assertEquals("ing", tokens.get(ing));
        assertEquals(1, types.get(the));

        Path f = dir.resolve("minilm-f32.gguf");
        g.write(f);
        try (Arena a = Arena.ofConfined()) {
            GgufFile.Contents c = GgufFile.read(f, a);
            assertEquals(g.metadata(), c.metadata());
            assertEquals(byName.keySet(), c.tensors().keySet());
        }
    }

    @Test
    void q4KmFollowsLlamaCppsRules() {
        try (Arena a = Arena.ofConfined()) {
            LlamaCppBert.Gguf g = LlamaCppBert.quantized(weights, tokenizerJson, NAME, GgufRecipe.Q4_K_M,
                    QuantOps.get(), a);
            Map<String, GgmlType> types = new LinkedHashMap<>();
            Map<GgmlType, Integer> counts = new TreeMap<>();
            for (GgufTensor t : g.tensors()) {
                types.put(t.name(), t.type());
                counts.merge(t.type(), 1, Integer::sum);
            }
            // no output tensor: token_embd takes Q6_K, which 384-wide rows fall back from to Q8_0; Q4_K falls back to
            // Q5_0 on the 384-wide matrices; attn_v and ffn_down of layers 2 and 5 (use_more_bits of 6) take Q6_K
            assertEquals(GgmlType.Q8_0, types.get("token_embd.weight"));
            assertEquals(GgmlType.F32, types.get("position_embd.weight"));
            assertEquals(GgmlType.F32, types.get("token_types.weight"));
            assertEquals(GgmlType.F32, types.get("blk.0.attn_q.bias"));
            assertEquals(GgmlType.Q5_0, types.get("blk.0.attn_q.weight"));
            assertEquals(GgmlType.Q5_0, types.get("blk.0.attn_v.weight"));
            assertEquals(GgmlType.Q8_0, types.get("blk.2.attn_v.weight"));
            assertEquals(GgmlType.Q4_K, types.get("blk.0.ffn_down.weight"));
            assertEquals(GgmlType.Q6_K, types.get("blk.5.ffn_down.weight"));
            assertEquals(GgmlType.Q5_0, types.get("blk.4.ffn_up.weight"));
            assertEquals(Map.of(GgmlType.F32, 64, GgmlType.Q5_0, 28, GgmlType.Q8_0, 3, GgmlType.Q4_K, 4, GgmlType.Q6_K, 2),
                    counts);
            assertEquals(15, g.metadata().get("general.file_type").value());
        }
    }

    /** llama.cpp's embeddings of every sentence from {@code file}, its tokens checked against lowbit's. */
    private static float[][] llamaCpp(Path file, String label) {
        Llama llama = Llama.get();
        float[][] out = new float[SENTENCES][];
        try (Llama.Model model = llama.load(file, 2048, 32, 2, Llama.POOLING_MEAN)) {
            assertEquals(384, model.embeddingLength());
            assertEquals(Llama.POOLING_MEAN, model.pooling());
            List<int[]> batch = new ArrayList<>();
            int tokens = 0;
            int first = 0;
            for (int i = 0; i <= SENTENCES; i++) {
                int[] ids = i < SENTENCES ? model.tokenize(sentences.get(i)) : null;
                if (ids != null) {
                    assertArrayEquals(seqs.get(i), ids, label + ": llama.cpp's tokens of sentence " + i + " '"
                            + sentences.get(i) + "'");
                }
                if (ids == null || batch.size() == 32 || tokens + ids.length > 2048) {
                    float[][] e = model.embed(batch);
                    for (int j = 0; j < e.length; j++) {
                        out[first + j] = e[j];
                    }
                    first += batch.size();
                    batch.clear();
                    tokens = 0;
                }
                if (ids != null) {
                    batch.add(ids);
                    tokens += ids.length;
                }
            }
        }
        assertEquals(SENTENCES, Arrays.stream(out).filter(e -> e != null).count());
        return out;
    }

    private static EmbeddingEvaluation.Fidelity lowbit(BertQuantization q) {
        try (BertEncoder enc = BertQuantizer.quantize(weights, q, 2)) {
            EmbeddingEvaluation.Fidelity f = EmbeddingEvaluation.fidelity(fp32(),
                    EmbeddingEvaluation.encodeAll(SentenceEncoder.of(q.toString(), enc), seqs, 32));
            System.out.println("lowbit " + enc.description() + " vs lowbit fp32: " + f);
            return f;
        }
    }

    private static void assumeLlama() {
        String why = Llama.unavailable();
        Assumptions.assumeTrue(why == null, () -> "skipped: " + why);
    }

    @Test
    void f32FileEmbedsAsLowbitsFp32(@TempDir Path dir) throws IOException {
        assumeLlama();
        Path f = dir.resolve("minilm-f32.gguf");
        LlamaCppBert.f32(weights, tokenizerJson, NAME).write(f);
        float[][] got = llamaCpp(f, "F32");
        float[][] want = fp32();
        double min = 1;
        for (int i = 0; i < SENTENCES; i++) {
            double c = EmbeddingEvaluation.cosine(want[i], got[i]);
            assertTrue(c >= 0.9999, "sentence " + i + " '" + sentences.get(i) + "': cosine " + c);
            min = Math.min(min, c);
        }
        System.out.println("llama.cpp " + Llama.COMMIT + " F32 GGUF (" + Files.size(f) + " bytes) vs lowbit fp32: "
                + EmbeddingEvaluation.fidelity(want, got) + String.format(Locale.ROOT, " (min %.9f)", min));
    }

    @Test
    void quantizedFilesBesideLowbitsIntegerPaths(@TempDir Path dir) throws IOException {
        assumeLlama();
        Map<String, EmbeddingEvaluation.Fidelity> llama = new LinkedHashMap<>();
        for (GgufRecipe r : List.of(GgufRecipe.single(QuantFormat.Q8_0), GgufRecipe.Q4_K_M)) {
            Path f = dir.resolve("minilm-" + r.name() + ".gguf");
            try (Arena a = Arena.ofConfined()) {
                LlamaCppBert.quantized(weights, tokenizerJson, NAME, r, QuantOps.get(), a).write(f);
            }
            EmbeddingEvaluation.Fidelity fid = EmbeddingEvaluation.fidelity(fp32(), llamaCpp(f, r.name()));
            System.out.println("llama.cpp " + Llama.COMMIT + " " + r.name().toUpperCase(Locale.ROOT) + " GGUF ("
                    + Files.size(f) + " bytes) vs lowbit fp32: " + fid);
            llama.put(r.name(), fid);
        }
        EmbeddingEvaluation.Fidelity w8a8 = lowbit(new BertQuantization(BertQuantization.RTN_SYM, 8, 32));
        // Q8_0 weights and Q8_0 activations: the arithmetic of ggml's Q8_0 matmuls
        EmbeddingEvaluation.Fidelity w8a8q8 = lowbit(new BertQuantization(BertQuantization.RTN_SYM, 8, 32,
                ActivationFormat.Q8_0, false));
        EmbeddingEvaluation.Fidelity w4a8 = lowbit(new BertQuantization("mse", 4, 32));
        EmbeddingEvaluation.Fidelity q8 = llama.get("q8_0");
        EmbeddingEvaluation.Fidelity q4km = llama.get("q4_k_m");
        // Measured: Q8_0 mean 0.999576, min 0.998853; Q4_K_M mean 0.990772, min 0.980818; lowbit W8A8 (per-token
        // activations) mean 0.997130, with Q8_0 activations 0.999572; W4A8 mse g32 mean 0.971451 (the bound of
        // QuantizedForwardTest).
        assertTrue(q8.mean() >= 0.999 && q8.min() >= 0.998, "llama.cpp Q8_0: " + q8);
        assertTrue(q4km.mean() >= 0.985 && q4km.min() >= 0.97, "llama.cpp Q4_K_M: " + q4km);
        assertTrue(w8a8.mean() >= 0.995 && w8a8q8.mean() >= 0.999, "lowbit W8A8: " + w8a8 + "; " + w8a8q8);
        assertTrue(w4a8.mean() >= 0.968, "lowbit W4A8: " + w4a8);
    }
}

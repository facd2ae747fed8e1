package dev.lowbit.models.bert;

import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.models.BuiltinModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The quantized forward pass against ONNX Runtime on 300 Europarl sentences: cosine similarity of the sentence
 * embeddings to ORT's fp32 ones, beside ORT's own int8 model (all-minilm-l6-v2-q, ORT's dynamic quantization).
 */
class QuantizedForwardTest {
    private static final int SENTENCES = 300;
    private static BertWeights weights;
    private static List<int[]> seqs;
    private static float[][] ortFp32;
    private static EmbeddingEvaluation.Fidelity ortInt8;

    @BeforeAll
    static void load() {
        WordPieceTokenizer tok = WordPieceTokenizer.fromJson(BuiltinModels.miniLmTokenizerJson());
        weights = BertWeights.fromOnnx(BuiltinModels.miniLm(), 12);
        seqs = new ArrayList<>();
        for (String s : Sentences.english(SENTENCES)) {
            seqs.add(tok.encode(s));
        }
        try (OrtEncoder fp32 = new OrtEncoder("ort-fp32", BuiltinModels.MINILM_RESOURCE, 2);
             OrtEncoder int8 = new OrtEncoder("ort-int8", "all-minilm-l6-v2-q.onnx", 2)) {
            ortFp32 = EmbeddingEvaluation.encodeAll(fp32, seqs, 32);
            ortInt8 = EmbeddingEvaluation.fidelity(ortFp32, EmbeddingEvaluation.encodeAll(int8, seqs, 32));
        }
        System.out.println("ORT int8 vs ORT fp32: " + ortInt8);
    }

    private static EmbeddingEvaluation.Fidelity fidelity(BertQuantization q) {
        try (BertEncoder enc = BertQuantizer.quantize(weights, q, 2)) {
            EmbeddingEvaluation.Fidelity f = EmbeddingEvaluation.fidelity(ortFp32,
                    EmbeddingEvaluation.encodeAll(SentenceEncoder.of(q.toString(), enc), seqs, 32));
            System.out.println(enc.description() + " vs ORT fp32: " + f);
            return f;
        }
    }

    private static void atLeastOrtInt8(EmbeddingEvaluation.Fidelity f, String what) {
        assertTrue(f.mean() >= ortInt8.mean(), what + ": mean " + f.mean() + " below ORT int8's " + ortInt8.mean());
        assertTrue(f.p1() >= ortInt8.p1(), what + ": p1 " + f.p1() + " below ORT int8's " + ortInt8.p1());
    }

    @Test
    void w8a8OnInterleavedQ8_0AtLeastOrtInt8() {
        // Symmetric 8-bit groups of 32 are Q8_0 blocks, run on the row-interleaved kernels.
        atLeastOrtInt8(fidelity(new BertQuantization(BertQuantization.RTN_SYM, 8, 32)), "rtn-sym W8A8 g32");
    }

    @Test
    void w8a8OnRowScaledInt8AtLeastOrtInt8() {
        // Symmetric 8-bit rows with one scale each run on the i8_rowx16 kernels (int32 sums over whole rows).
        BertQuantization q = new BertQuantization(BertQuantization.RTN_SYM, 8, 0);
        try (BertEncoder enc = BertQuantizer.quantize(weights, q, 1)) {
            assertTrue(enc.description().contains("i8_rowx16"), enc.description());
        }
        atLeastOrtInt8(fidelity(q), "rtn-sym W8A8 per-row");
    }

    @Test
    void w8a8OnGroupedPlanesAtLeastOrtInt8() {
        atLeastOrtInt8(fidelity(new BertQuantization("rtn", 8, 64)), "rtn W8A8 g64");
    }

    @Test
    void integerOnlyW8a8AtLeastOrtInt8() {
        atLeastOrtInt8(fidelity(new BertQuantization("rtn", 8, 32, ActivationFormat.PER_TOKEN_INT8, true)),
                "rtn W8A8 g32 integer-only");
    }

    @Test
    void w4a8() {
        // The W4A8 target is a mean of 0.98; lowbit's best data-free method reaches 0.971 (docs/inference.md).
        // This bound keeps what is reached from slipping.
        EmbeddingEvaluation.Fidelity f = fidelity(new BertQuantization("mse", 4, 32));
        assertTrue(f.mean() >= 0.968 && f.p1() >= 0.94, "mse W4A8 g32: " + f);
    }

    @Test
    void w4a8Gptq() {
        // GPTQ with the default settings, calibrated on 64 Europarl sentences after the first 2,000 (disjoint from
        // the 300 evaluated here). Measured: mean 0.987317 to 0.987344, p1 0.971930 to 0.973564 (mse, data-free:
        // 0.971451); the W4A8 target is a mean of 0.98. lowbit eval's default of 256 sentences gives 0.9894 on
        // 2,000. The spread: the calibration pass is fp32, whose Vector API lane reductions can differ in the last
        // bits before and after C2 compiles them, and which tests ran before this one changes that.
        GptqCalibration cal = GptqCalibration.europarl(WordPieceTokenizer.fromJson(BuiltinModels.miniLmTokenizerJson()),
                GptqCalibration.DEFAULT_FIRST, 64, GptqCalibration.DEFAULT_OPTIONS, GptqCalibration.DEFAULT_SEQUENTIAL);
        BertQuantization q = new BertQuantization(BertQuantization.GPTQ, 4, 32);
        EmbeddingEvaluation.Fidelity f;
        try (BertEncoder enc = BertQuantizer.quantize(weights, q, 2, cal)) {
            f = EmbeddingEvaluation.fidelity(ortFp32, EmbeddingEvaluation.encodeAll(SentenceEncoder.of(q.toString(), enc),
                    seqs, 32));
            System.out.println(enc.description() + ", calibrated on " + cal.describe() + ", vs ORT fp32: " + f);
        }
        assertTrue(f.mean() >= 0.986 && f.p1() >= 0.97, "gptq W4A8 g32: " + f);
    }

    @Test
    void threadsGiveTheSameEmbeddings() {
        BertQuantization q = new BertQuantization("rtn", 4, 64);
        List<int[]> few = seqs.subList(0, 40);
        try (BertEncoder one = BertQuantizer.quantize(weights, q, 1); BertEncoder two = BertQuantizer.quantize(weights, q, 2)) {
            float[][] a = EmbeddingEvaluation.encodeAll(SentenceEncoder.of("1", one), few, 16);
            float[][] b = EmbeddingEvaluation.encodeAll(SentenceEncoder.of("2", two), few, 16);
            // The integer matmuls are bit-exact whatever the split; the fp32 parts may differ in the last bits
            // between the JIT's tiers (the Vector API's reductions run in another order before C2 compiles them).
            for (int i = 0; i < a.length; i++) {
                assertArrayEquals(a[i], b[i], 2e-6f, "sentence " + i);
            }
        }
    }

    @Test
    void methodsWithoutAnIntegerKernelAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BertQuantizer.quantize(weights, new BertQuantization("nf4", 4, 64), 1));
        assertTrue(e.getMessage().contains("codebook"), e.getMessage());
    }
}

package dev.lowbit.models.bert;

import dev.lowbit.models.BuiltinModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The fp32 forward pass against ONNX Runtime on the same ONNX file, on real sentences. */
class Fp32ForwardTest {
    private static WordPieceTokenizer tokenizer;
    private static BertWeights weights;
    private static OrtEncoder ort;

    @BeforeAll
    static void load() {
        tokenizer = WordPieceTokenizer.fromJson(BuiltinModels.miniLmTokenizerJson());
        weights = BertWeights.fromOnnx(BuiltinModels.miniLm(), 12);
        ort = new OrtEncoder("ort-fp32", BuiltinModels.MINILM_RESOURCE, 1);
    }

    @AfterAll
    static void close() {
        ort.close();
    }

    static double cosine(float[] a, float[] b) {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.length; i++) {
            ab += (double) a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += (double) b[i] * b[i];
        }
        return ab / Math.sqrt(aa * bb);
    }

    @Test
    void readsSixLayersOfMiniLm() {
        assertEquals(6, weights.layers().length);
        assertEquals(384, weights.hidden());
        assertEquals(1536, weights.ffn());
        assertEquals(30522, weights.vocab());
        assertEquals(512, weights.maxPositions());
    }

    @Test
    void lastHiddenStateAndEmbeddingsMatchOnnxRuntime() {
        List<int[]> batch = new ArrayList<>();
        for (String s : Sentences.english(24)) {
            batch.add(tokenizer.encode(s));
        }
        for (int threads : new int[]{1, 2}) {
            try (BertEncoder enc = BertEncoder.fp32(weights, threads)) {
                float[] h = enc.lastHiddenState(batch);
                float[][][] ref = ort.hidden(batch);
                double maxDiff = 0;
                int t = 0;
                for (int s = 0; s < batch.size(); s++) {
                    for (int p = 0; p < batch.get(s).length; p++, t++) {
                        for (int j = 0; j < 384; j++) {
                            maxDiff = Math.max(maxDiff, Math.abs(h[t * 384 + j] - ref[s][p][j]));
                        }
                    }
                }
                float[][] e = enc.encode(batch);
                float[][] r = ort.encode(batch);
                double min = 1;
                for (int s = 0; s < batch.size(); s++) {
                    min = Math.min(min, cosine(e[s], r[s]));
                }
                System.out.printf("fp32 (%s, %d threads) vs ORT fp32 on %d sentences: max |hidden diff| %.3g, min cosine %.9f%n",
                        enc.description(), threads, batch.size(), maxDiff, min);
                assertTrue(maxDiff < 2e-3, "last hidden state differs from ORT's by " + maxDiff);
                assertTrue(min >= 0.99999, "min cosine " + min);
            }
        }
    }
}

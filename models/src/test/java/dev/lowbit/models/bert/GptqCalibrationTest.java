package dev.lowbit.models.bert;

import dev.lowbit.algorithms.Gptq;
import dev.lowbit.models.BuiltinModels;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** GPTQ's calibration: real sentences disjoint from the evaluated ones, and Hessians that are the inputs' Gram. */
class GptqCalibrationTest {

    @Test
    void defaultCalibrationSentencesAreNotEvaluated() {
        List<String> all = EnglishSentences.europarl(GptqCalibration.DEFAULT_FIRST + GptqCalibration.DEFAULT_SENTENCES);
        Set<String> evaluated = new HashSet<>(all.subList(0, GptqCalibration.DEFAULT_FIRST));
        for (String s : all.subList(GptqCalibration.DEFAULT_FIRST, all.size())) {
            assertFalse(evaluated.contains(s), s);
        }
        WordPieceTokenizer tok = WordPieceTokenizer.fromJson(BuiltinModels.miniLmTokenizerJson());
        GptqCalibration c = GptqCalibration.europarl(tok, 2000, 8, Gptq.Options.DEFAULT, false);
        assertEquals(8, c.sequences().size());
        assertTrue(c.describe().startsWith("8 sentences ("), c.describe());
        assertThrows(IllegalArgumentException.class, () -> new GptqCalibration(List.of(), "none", Gptq.Options.DEFAULT, false));
    }

    @Test
    void observedHessianIsTwiceTheMeanGramOfTheInputs() {
        BertWeights w = BertWeights.fromOnnx(BuiltinModels.miniLm(), 12);
        int in = 384;
        SplittableRandom rnd = new SplittableRandom(3);
        try (BertEncoder enc = BertEncoder.fp32(w, 2)) {
            Linear inner = enc.linear(0, 1);
            GptqHessians.Observed o = new GptqHessians.Observed(inner, enc);
            double[] ref = new double[in * in];
            int total = 0;
            for (int batch : new int[] {37, 5, 64}) {
                float[] x = new float[batch * in];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) (rnd.nextDouble() * 2 - 1) * (i % in == 7 ? 20 : 1);
                }
                float[] y = new float[batch * inner.out()];
                float[] yRef = new float[batch * inner.out()];
                o.apply(x, batch, y);
                inner.apply(x, batch, yRef);
                assertEquals(java.util.Arrays.toString(yRef), java.util.Arrays.toString(y), "the layer's own output");
                for (int t = 0; t < batch; t++) {
                    for (int a = 0; a < in; a++) {
                        for (int b = 0; b < in; b++) {
                            ref[a * in + b] += (double) x[t * in + a] * x[t * in + b];
                        }
                    }
                }
                total += batch;
            }
            double[] h = o.hessian();
            for (int i = 0; i < h.length; i++) {
                double r = 2 * ref[i] / total;
                assertEquals(r, h[i], 1e-5 * (Math.abs(r) + 1), "entry " + i);
                assertEquals(h[i], h[(i % in) * in + i / in], 0.0, "symmetric at " + i);
            }
        }
    }
}

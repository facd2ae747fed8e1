package dev.lowbit.models;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.testkit.Ggml;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every matrix of all-MiniLM-L6-v2 (its 36 linear weights and 3 embedding tables, 11.7M values in the largest) in
 * Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and IQ4_NL, and every matrix whose rows are whole K-quant super-blocks (the 1536-wide
 * ones) in Q2_K, Q3_K, Q4_K, Q5_K and Q6_K: lowbit's quantizer (the kernels this machine runs) writes the bytes that
 * the real ggml's {@code ggml_quantize_chunk} writes ({@link Ggml}), block for block.
 */
class MiniLmGgmlParityTest {

    private static final Object[][] FORMATS = {{QuantFormat.Q8_0, Ggml.Type.Q8_0}, {QuantFormat.Q4_0, Ggml.Type.Q4_0},
        {QuantFormat.Q4_1, Ggml.Type.Q4_1}, {QuantFormat.Q5_0, Ggml.Type.Q5_0}, {QuantFormat.Q5_1, Ggml.Type.Q5_1},
        {QuantFormat.IQ4_NL, Ggml.Type.IQ4_NL}, {QuantFormat.Q2_K, Ggml.Type.Q2_K}, {QuantFormat.Q3_K, Ggml.Type.Q3_K},
        {QuantFormat.Q4_K, Ggml.Type.Q4_K}, {QuantFormat.Q5_K, Ggml.Type.Q5_K}, {QuantFormat.Q6_K, Ggml.Type.Q6_K}};

    @Test
    void everyMatrixGivesGgmlsBytes() {
        String why = Ggml.unavailable();
        Assumptions.assumeTrue(why == null, () -> "skipped: " + why);
        Ggml g = Ggml.get();
        Map<String, DenseTensor> matrices = BuiltinModels.miniLm().matrices();
        assertEquals(39, matrices.size());
        QuantOps ops = QuantOps.get();
        Map<QuantFormat, Long> blocks = new LinkedHashMap<>();
        Map<QuantFormat, Integer> checked = new LinkedHashMap<>();
        for (DenseTensor t : matrices.values()) {
            int rows = (int) t.shape()[0];
            int cols = (int) t.shape()[1];
            float[] x = t.toFloats();
            for (Object[] f : FORMATS) {
                QuantFormat format = (QuantFormat) f[0];
                if (!format.fitsRow(cols)) {
                    continue;
                }
                byte[] want = g.quantize((Ggml.Type) f[1], x, rows, cols);
                byte[] got;
                try (Arena a = Arena.ofConfined()) {
                    got = ops.quantize(format, x, rows, cols, a).data().toArray(ValueLayout.JAVA_BYTE);
                }
                assertEquals(want.length, got.length, t.name() + " " + format);
                for (int i = 0; i < want.length; i++) {
                    if (want[i] != got[i]) {
                        fail(t.name() + " " + format + ": byte " + i + " is " + got[i] + ", ggml wrote " + want[i]);
                    }
                }
                blocks.merge(format, (long) (want.length / format.blockBytes()), Long::sum);
                checked.merge(format, 1, Integer::sum);
            }
        }
        for (Object[] f : FORMATS) {
            QuantFormat format = (QuantFormat) f[0];
            // the K-quants take the six 1536-wide matrices; every other format all 39
            assertEquals(format.kind().blockElements() == 256 ? 6 : 39, checked.getOrDefault(format, 0),
                    format + ": matrices checked");
        }
        System.out.println("MiniLM: ggml blocks by format, each ggml's bytes: " + blocks + "; matrices: " + checked);
    }
}

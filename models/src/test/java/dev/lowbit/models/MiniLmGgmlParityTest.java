package dev.lowbit.models;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.testkit.Ggml;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every matrix of all-MiniLM-L6-v2 (its 36 linear weights and 3 embedding tables, 11.7M values in the largest) in
 * Q8_0, Q4_0 and Q4_1: lowbit's quantizer (the kernels this machine runs) writes the bytes that the real ggml's
 * {@code ggml_quantize_chunk} writes ({@link Ggml}), block for block.
 */
class MiniLmGgmlParityTest {

    @Test
    void everyMatrixGivesGgmlsBytes() {
        String why = Ggml.unavailable();
        Assumptions.assumeTrue(why == null, () -> "skipped: " + why);
        Ggml g = Ggml.get();
        Map<String, DenseTensor> matrices = BuiltinModels.miniLm().matrices();
        assertEquals(39, matrices.size());
        QuantOps ops = QuantOps.get();
        long blocks = 0;
        for (DenseTensor t : matrices.values()) {
            int rows = (int) t.shape()[0];
            int cols = (int) t.shape()[1];
            float[] x = t.toFloats();
            for (Object[] f : new Object[][] {{QuantFormat.Q8_0, Ggml.Type.Q8_0}, {QuantFormat.Q4_0, Ggml.Type.Q4_0},
                {QuantFormat.Q4_1, Ggml.Type.Q4_1}}) {
                QuantFormat format = (QuantFormat) f[0];
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
                blocks += want.length / format.blockBytes();
            }
        }
        System.out.println("MiniLM: " + blocks + " ggml blocks of 39 matrices in Q8_0, Q4_0 and Q4_1, each ggml's bytes");
    }
}

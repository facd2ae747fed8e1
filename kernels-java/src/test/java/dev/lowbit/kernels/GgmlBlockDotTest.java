package dev.lowbit.kernels;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.testkit.Ggml;
import dev.lowbit.testkit.GgmlMatmul;
import dev.lowbit.testkit.Inputs;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The integer products of the ggml blocks beyond Q8_0, Q4_0 and Q4_1 (Q5_0, Q5_1, IQ4_NL, the K-quants Q2_K to Q6_K)
 * against the real ggml ({@link Ggml}): on weights that {@code ggml_quantize_chunk} wrote and activations that the
 * CPU library's {@code from_float} quantized (Q8_0, or Q8_K for the K-quants), lowbit's GEMV, ggml's {@code vec_dot}
 * and ggml's one-node {@code mul_mat} graph lie within {@code (k/32 + 8)·2^-24} of the sum of the terms' magnitudes
 * from the exact sum of the dequantized weights times the dequantized activations, computed in double.
 */
class GgmlBlockDotTest {

    @BeforeAll
    static void ggml() {
        String why = Ggml.unavailable();
        Assumptions.assumeTrue(why == null, () -> "skipped: " + why);
    }

    record Case(QuantFormat format, Ggml.Type type) {
        @Override
        public String toString() {
            return format.name();
        }
    }

    static Stream<Case> formats() {
        return Stream.of(new Case(QuantFormat.Q5_0, Ggml.Type.Q5_0), new Case(QuantFormat.Q5_1, Ggml.Type.Q5_1),
                new Case(QuantFormat.IQ4_NL, Ggml.Type.IQ4_NL), new Case(QuantFormat.Q2_K, Ggml.Type.Q2_K),
                new Case(QuantFormat.Q3_K, Ggml.Type.Q3_K), new Case(QuantFormat.Q4_K, Ggml.Type.Q4_K),
                new Case(QuantFormat.Q5_K, Ggml.Type.Q5_K), new Case(QuantFormat.Q6_K, Ggml.Type.Q6_K));
    }

    /** The activations lowbit takes, from ggml's bytes of {@code type} (Q8_0 or Q8_K) for one token. */
    static QuantizedActivations activations(Ggml.Type type, byte[] xb, int k) {
        byte[] codes = new byte[QuantizedActivations.paddedK(k)];
        if (type == Ggml.Type.Q8_K) {
            float[] scales = new float[k / 256];
            MemorySegment s = MemorySegment.ofArray(xb);
            for (int b = 0; b < k / 256; b++) {
                scales[b] = s.get(dev.lowbit.format.Layouts.F32, 292L * b);
                System.arraycopy(xb, 292 * b + 4, codes, 256 * b, 256);
            }
            return new QuantizedActivations(ActivationFormat.Q8_K, 1, k, codes, scales);
        }
        float[] scales = new float[k / 32];
        for (int b = 0; b < k / 32; b++) {
            scales[b] = Float.float16ToFloat((short) ((xb[34 * b] & 0xFF) | (xb[34 * b + 1] << 8)));
            System.arraycopy(xb, 34 * b + 2, codes, 32 * b, 32);
        }
        return new QuantizedActivations(ActivationFormat.Q8_0, 1, k, codes, scales);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("formats")
    void vecDotMulMatAndLowbitsGemvAgree(Case c) {
        Ggml g = Ggml.get();
        int rows = 8;
        int k = 4096;
        boolean kQuant = c.format.groupSize() == 256;
        Ggml.Type act = kQuant ? Ggml.Type.Q8_K : Ggml.Type.Q8_0;
        // ggml gives Q5_1 Q8_1 activations (with their sums); lowbit gives it Q8_0's and sums them itself.
        boolean ggmlSame = g.vecDotType(c.type) == act.id;
        assertEquals(c.type != Ggml.Type.Q5_1, ggmlSame, c + ": ggml's activation type");
        float[] w = Inputs.gaussian(21, rows * k);
        float[] xf = Inputs.gaussian(22, k);
        byte[] wb = g.quantize(c.type, w, rows, k);
        byte[] xb = g.fromFloat(act, xf);
        QuantizedActivations x = activations(act, xb, k);
        int rowBytes = (int) g.rowSize(c.type, k);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment data = a.allocate(wb.length, 64);
            data.copyFrom(MemorySegment.ofArray(wb));
            QuantizedTensor t = QuantizedTensor.of(c.format, rows, k, data, null, null, null);
            float[] viaGraph = null;
            if (ggmlSame) {
                try (GgmlMatmul mm = new GgmlMatmul(g, c.type, wb, rows, k, 1, 2)) {
                    viaGraph = mm.run(xf); // ggml quantizes xf itself, by the same from_float
                }
            }
            float[] y = new float[rows];
            MatmulOps.get().gemm(PackedWeights.of(t), x, y);
            int sg = c.format.scaleGroupLength(k);
            for (int r = 0; r < rows; r++) {
                double exact = 0;
                double mag = 0;
                for (int col = 0; col < k; col++) {
                    double term = (double) Reference.value(c.format, Reference.code(t, r, col),
                            Reference.scale(t, r, col / sg), Reference.zero(t, r, col / sg), null)
                            * x.codes()[col] * x.scale(0, col / 32);
                    exact += term;
                    mag += Math.abs(term);
                }
                double bound = (k / 32 + 8) * 0x1p-24 * mag;
                String where = c + " row " + r;
                if (ggmlSame) {
                    float theirs = g.vecDot(c.type, Arrays.copyOfRange(wb, r * rowBytes, (r + 1) * rowBytes), xb, k);
                    assertEquals(exact, theirs, bound, where + ": ggml's vec_dot");
                    assertEquals(exact, viaGraph[r], bound, where + ": ggml's mul_mat");
                }
                assertEquals(exact, y[r], bound, where + ": lowbit's GEMV");
            }
            // lowbit quantizes the activations to ggml's bytes: the same products.
            float[] viaOps = new float[rows];
            MatmulOps.get().gemm(PackedWeights.of(t), xf, 1, viaOps,
                    kQuant ? ActivationFormat.Q8_K : ActivationFormat.Q8_0);
            for (int r = 0; r < rows; r++) {
                assertEquals(y[r], viaOps[r], 0f, c + " row " + r + ": lowbit's own quantized activations");
            }
        }
    }

    /** K-quant weights take Q8_K activations only, and Q8_K activations K-quant weights only; each says so. */
    @Test
    void activationsMustFitTheWeights() {
        try (Arena a = Arena.ofConfined()) {
            QuantizedTensor q4k = QuantOpsHolder.zeros(QuantFormat.Q4_K, 2, 256, a);
            QuantizedTensor q40 = QuantOpsHolder.zeros(QuantFormat.Q4_0, 2, 256, a);
            float[] x = new float[256];
            float[] y = new float[2];
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> MatmulOps.get().gemm(PackedWeights.of(q4k), x, 1, y, ActivationFormat.Q8_0));
            assertEquals("q4_k weights take Q8_K activations, not Q8_0", e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> MatmulOps.get().gemm(PackedWeights.of(q40), x, 1, y, ActivationFormat.Q8_K));
            assertTrue(e.getMessage().startsWith("Q8_K activations go with K-quant weights (Q2_K to Q6_K), not q4_0"),
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> MatmulOps.get().quantizeActivations(new float[300], 1, 300, ActivationFormat.Q8_K));
            assertEquals("Q8_K activations hold whole super-blocks of 256, got k=300", e.getMessage());
        }
    }

    /** Zero-filled tensors of a format, for argument checks. */
    static final class QuantOpsHolder {
        static QuantizedTensor zeros(QuantFormat f, int rows, int cols, Arena a) {
            long bytes = rows * f.rowBytes(cols);
            return QuantizedTensor.of(f, rows, cols, a.allocate(bytes, 64), null, null, null);
        }
    }
}

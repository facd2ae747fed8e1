package dev.lowbit.kernels;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.testkit.Ggml;
import dev.lowbit.testkit.GgmlMatmul;
import dev.lowbit.testkit.Inputs;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * lowbit's ggml blocks against the real ggml ({@link Ggml}, the prebuilt libraries of {@value Ggml#PACKAGE}):
 * {@code ggml_quantize_chunk} and lowbit's quantizers (the scalar reference, the Vector API and the kernels this machine runs;
 * {@code QuantizeImplementationsTest} holds every native tier to the reference)
 * give the same bytes, and ggml's {@code dequantize_row_*} and lowbit's dequantization of those bytes the same
 * floats, on seeded
 * rows with the edges of a block: all zeros, one outlier, ±about the largest magnitude
 * whose fp16 scale (or Q4_1's minimum) the format can store, constant
 * and one-sided blocks, ties, and magnitudes across fp16's range.
 */
class GgmlParityTest {
    private static final int COLS = 256;

    @BeforeAll
    static void ggml() {
        String why = Ggml.unavailable();
        Assumptions.assumeTrue(why == null, () -> "skipped: " + why);
    }

    /** {@code big}: about the largest magnitude whose block the format can store (its fp16 scale or minimum). */
    record Case(QuantFormat format, Ggml.Type type, float big) {
        @Override
        public String toString() {
            return format.name();
        }
    }

    static Stream<Case> formats() {
        return Stream.of(new Case(QuantFormat.Q8_0, Ggml.Type.Q8_0, 8e6f), new Case(QuantFormat.Q4_0, Ggml.Type.Q4_0,
                5e5f), new Case(QuantFormat.Q4_1, Ggml.Type.Q4_1, 65000f));
    }

    /** Named inputs of {@code rows x COLS} values, the largest magnitude {@code big}. */
    static List<Object[]> inputs(float big) {
        List<Object[]> out = new ArrayList<>();
        out.add(new Object[] {"gaussian", Inputs.gaussian(1, 16 * COLS), 16});
        out.add(new Object[] {"tricky", Inputs.tricky(2, 12 * COLS), 12});
        out.add(new Object[] {"signed zeros", Inputs.trickyWithSignedZeros(3, 14 * COLS), 14});
        out.add(new Object[] {"magnitudes", Inputs.magnitudes(4, 50 * 32 * 8), 50});
        SplittableRandom r = new SplittableRandom(5);
        float[] edges = new float[16 * COLS];
        for (int i = 0; i < edges.length; i++) {
            int block = i / 32;
            edges[i] = switch (block % 9) {
                case 0 -> 0f;                                                   // all zeros
                case 1 -> i % 32 == 7 ? 1000f : (float) r.nextGaussian() * 1e-3f; // one outlier
                case 2 -> i % 32 == 0 ? -big : (float) r.nextGaussian() * big / 10;  // −max first
                case 3 -> i % 32 == 31 ? big : (float) r.nextGaussian() * big / 10;  // +max last
                case 4 -> i % 2 == 0 ? big : -big;                                  // ±max, +max first
                case 5 -> -3f;                                                  // constant, negative
                case 6 -> (i % 32) - 16f;                                       // a ramp through 0
                case 7 -> (float) r.nextGaussian() * 0.02f;                              // small
                default -> i % 32 == 1 ? -1e-40f : 1e-40f; // subnormal: d rounds to fp16 0, 1/d overflows
            };
        }
        out.add(new Object[] {"block edges", edges, 16});
        return out;
    }

    static Stream<QuantOps> implementations() {
        List<QuantOps> out = new ArrayList<>();
        out.add(new QuantOps(KernelProvider.scalar(), ThreadPool.callerThread()));
        out.add(new QuantOps(KernelProvider.kernels(), ThreadPool.callerThread()));
        if (KernelProvider.vectorUnavailable() == null) {
            out.add(new QuantOps(KernelProvider.vector(), ThreadPool.callerThread()));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("formats")
    void quantizeGivesGgmlsBytes(Case c) {
        Ggml g = Ggml.get();
        for (Object[] in : inputs(c.big)) {
            float[] x = (float[]) in[1];
            int rows = (int) in[2];
            int cols = x.length / rows;
            byte[] want = g.quantize(c.type, x, rows, cols);
            implementations().forEach(ops -> {
                try (Arena a = Arena.ofConfined()) {
                    QuantizedTensor t = ops.quantize(c.format, x, rows, cols, a);
                    byte[] got = t.data().toArray(ValueLayout.JAVA_BYTE);
                    assertEquals(want.length, got.length, in[0] + ": bytes");
                    for (int i = 0; i < want.length; i++) {
                        if (want[i] != got[i]) {
                            long block = i / g.rowSize(c.type, 32);
                            fail(in[0] + " with " + ops.kernels().name() + ": byte " + i + " (block " + block
                                    + ") is " + got[i] + ", ggml wrote " + want[i]);
                        }
                    }
                }
            });
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("formats")
    void dequantizeGivesGgmlsFloats(Case c) {
        Ggml g = Ggml.get();
        for (Object[] in : inputs(c.big)) {
            float[] x = (float[]) in[1];
            int rows = (int) in[2];
            int cols = x.length / rows;
            byte[] blocks = g.quantize(c.type, x, rows, cols);
            float[] want = g.dequantize(c.type, blocks, x.length);
            implementations().forEach(ops -> {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment data = a.allocate(blocks.length, 64);
                    data.copyFrom(MemorySegment.ofArray(blocks));
                    QuantizedTensor t = QuantizedTensor.of(c.format, rows, cols, data, null, null, null);
                    float[] got = new float[x.length];
                    ops.dequantize(t, got);
                    assertArrayEquals(want, got, in[0] + " with " + ops.kernels().name());
                }
            });
        }
    }

    /**
     * ggml's {@code vec_dot} and lowbit's integer GEMV on the same bytes: the weights as {@code ggml_quantize_chunk}
     * wrote them, the activation as the CPU library's {@code from_float} quantized it to Q8_0. Both sum exact int32
     * block products in fp32 in their own order, so each must lie within {@code (k/32 + 8)·2^-24} of the sum of
     * the terms' magnitudes from the exact sum, computed in double. So must ggml's one-node {@code mul_mat} graph
     * ({@link GgmlMatmul}, which the peer benchmarks time), which quantizes the same fp32 activation itself.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("formats")
    void vecDotAndLowbitsGemvAgree(Case c) {
        Ggml g = Ggml.get();
        Assumptions.assumeTrue(g.vecDotType(c.type) == Ggml.Type.Q8_0.id,
                () -> "skipped: ggml's vec_dot for " + c.type + " takes other activations than Q8_0");
        int rows = 8;
        int k = 4096;
        float[] w = Inputs.gaussian(11, rows * k);
        float[] xf = Inputs.gaussian(12, k);
        byte[] wb = g.quantize(c.type, w, rows, k);
        byte[] xb = g.fromFloat(Ggml.Type.Q8_0, xf);
        int blocks = k / 32;
        int pk = QuantizedActivations.paddedK(k);
        byte[] codes = new byte[pk];
        float[] scales = new float[blocks];
        for (int b = 0; b < blocks; b++) {
            scales[b] = Float.float16ToFloat((short) ((xb[34 * b] & 0xFF) | (xb[34 * b + 1] << 8)));
            System.arraycopy(xb, 34 * b + 2, codes, 32 * b, 32);
        }
        QuantizedActivations x = new QuantizedActivations(ActivationFormat.Q8_0, 1, k, codes, scales);
        int rowBytes = (int) g.rowSize(c.type, k);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment data = a.allocate(wb.length, 64);
            data.copyFrom(MemorySegment.ofArray(wb));
            QuantizedTensor t = QuantizedTensor.of(c.format, rows, k, data, null, null, null);
            float[] viaGraph;
            try (GgmlMatmul mm = new GgmlMatmul(g, c.type, wb, rows, k, 1, 2)) {
                viaGraph = mm.run(xf); // the peer benchmarks' path: ggml quantizes xf itself, by its from_float
            }
            float[] y = new float[rows];
            new MatmulOps(KernelProvider.matmul(), KernelProvider.kernels(), ThreadPool.callerThread())
                    .gemm(PackedWeights.of(t), x, y);
            for (int r = 0; r < rows; r++) {
                double exact = 0;
                double mag = 0;
                for (int col = 0; col < k; col++) {
                    double term = (double) Reference.value(c.format, Reference.code(t, r, col),
                            Reference.scale(t, r, col / 32), Reference.zero(t, r, col / 32), null)
                            * codes[col] * scales[col / 32];
                    exact += term;
                    mag += Math.abs(term);
                }
                double bound = (blocks + 8) * 0x1p-24 * mag;
                float theirs = g.vecDot(c.type, java.util.Arrays.copyOfRange(wb, r * rowBytes, (r + 1) * rowBytes), xb,
                        k);
                assertEquals(exact, theirs, bound, c + " row " + r + ": ggml's vec_dot");
                assertEquals(exact, viaGraph[r], bound, c + " row " + r + ": ggml's mul_mat");
                assertEquals(exact, y[r], bound, c + " row " + r + ": lowbit's GEMV ("
                        + KernelProvider.matmul().name() + ")");
            }
        }
    }
}

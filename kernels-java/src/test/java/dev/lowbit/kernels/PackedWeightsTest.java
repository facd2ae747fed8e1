package dev.lowbit.kernels;

import dev.lowbit.format.InterleavedTensor;
import dev.lowbit.format.Int8RowTensor;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.impl.WeightRows;
import dev.lowbit.testkit.Inputs;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The layout {@link PackedWeights#pack} picks for each implementation and each kind of tensor, and that the product on
 * the packed weights is the product on the plain tensor: bit for bit on the integer path (for {@code i8_rowx16}, its
 * own reference's bits, which sum whole rows), within the reordering bound on the weight-only path.
 */
class PackedWeightsTest {
    private static final int ROWS = 13;
    private static final int K = 96;

    /** What {@code pack} should give: the layout's class and its name. */
    private record Want(Class<? extends PackedWeights> type, String layout) {
    }

    /** A kind of tensor and the layout each implementation should get for it, by activations. */
    private record Case(String what, QuantizedTensor t, Want nativeAny, Want javaAny, Want perToken) {
    }

    private static final Want Q8_ROWS = new Want(PackedWeights.Rows.class, "q8_0");
    private static final Want Q4_ROWS = new Want(PackedWeights.Rows.class, "q4_0");
    private static final Want Q8_X8 = new Want(PackedWeights.Interleaved.class, "q8_0x8");
    private static final Want Q4_X8 = new Want(PackedWeights.Interleaved.class, "q4_0x8");
    private static final Want I8_ROWS = new Want(PackedWeights.Int8Rows.class, Int8RowTensor.LAYOUT_NAME);

    private static Want rows(QuantFormat f) {
        return new Want(PackedWeights.Rows.class, f.name());
    }

    private static List<Case> cases(Arena arena) {
        List<Case> out = new ArrayList<>();
        QuantFormat g8 = QuantFormat.grouped(8, 32, true, ScaleType.F16);
        QuantFormat g4 = QuantFormat.grouped(4, 32, true, ScaleType.F16);
        QuantFormat g4f32 = QuantFormat.grouped(4, 32, true, ScaleType.F32);
        QuantFormat g4asym = QuantFormat.grouped(4, 64, false, ScaleType.F16);
        QuantFormat g8row = QuantFormat.grouped(8, QuantFormat.ROW, true, ScaleType.F16);
        QuantFormat g8rowF32 = QuantFormat.grouped(8, QuantFormat.ROW, true, ScaleType.F32);
        QuantFormat g8rowAsym = QuantFormat.grouped(8, QuantFormat.ROW, false, ScaleType.F16);
        // Grouped symmetric g32 fp16: Q8_0/Q4_0 blocks, interleaved for native only (with outliers too).
        out.add(new Case("g8 sym g32 f16", w(g8, false, arena), Q8_X8, Q8_ROWS, null));
        out.add(new Case("g4 sym g32 f16", w(g4, false, arena), Q4_X8, Q4_ROWS, null));
        out.add(new Case("g4 sym g32 f16 + outliers", w(g4, true, arena), Q4_X8, Q4_ROWS, null));
        // ggml's own blocks: interleaved for native only.
        out.add(new Case("q8_0", w(QuantFormat.Q8_0, false, arena), Q8_X8, Q8_ROWS, null));
        out.add(new Case("q4_0 + outliers", w(QuantFormat.Q4_0, true, arena), Q4_X8, Q4_ROWS, null));
        // Nothing to repack: plain rows everywhere.
        out.add(new Case("q4_1", w(QuantFormat.Q4_1, false, arena), rows(QuantFormat.Q4_1), rows(QuantFormat.Q4_1), null));
        out.add(new Case("g4 sym g32 f32", w(g4f32, false, arena), rows(g4f32), rows(g4f32), null));
        out.add(new Case("g4 asym g64", w(g4asym, false, arena), rows(g4asym), rows(g4asym), null));
        out.add(new Case("g8 asym row", w(g8rowAsym, false, arena), rows(g8rowAsym), rows(g8rowAsym), null));
        // Symmetric int8 with one scale per row: i8_rowx16 with per-token activations, on every implementation.
        out.add(new Case("g8 sym row f16", w(g8row, false, arena), rows(g8row), rows(g8row), I8_ROWS));
        out.add(new Case("g8 sym row f32", w(g8rowF32, false, arena), rows(g8rowF32), rows(g8rowF32), I8_ROWS));
        out.add(new Case("g8 sym row + outliers", w(g8row, true, arena), rows(g8row), rows(g8row), null));
        return out;
    }

    private static QuantizedTensor w(QuantFormat f, boolean outliers, Arena arena) {
        return MatmulTest.weights(f, ROWS, K, f.hashCode() + (outliers ? 1 : 0), outliers, arena);
    }

    private static MatmulKernels kernels(String impl) {
        MatmulKernels m = switch (impl) {
            case "scalar" -> KernelProvider.scalarMatmul();
            case "vector" -> KernelProvider.vectorMatmul();
            case "native" -> KernelProvider.nativeMatmul();
            default -> throw new IllegalArgumentException(impl);
        };
        Assumptions.assumeTrue(m != null, () -> "skipped: " + (impl.equals("native") ? KernelProvider.nativeUnavailable()
                : KernelProvider.vectorUnavailable()));
        return m;
    }

    private static Want want(Case c, String impl, ActivationFormat af) {
        if (af == ActivationFormat.PER_TOKEN_INT8 && c.perToken() != null) {
            return c.perToken();
        }
        return impl.equals("native") ? c.nativeAny() : c.javaAny();
    }

    @ParameterizedTest
    @ValueSource(strings = {"scalar", "vector", "native"})
    void layoutForEachKindOfTensor(String impl) {
        MatmulKernels m = kernels(impl);
        try (Arena arena = Arena.ofShared()) {
            for (Case c : cases(arena)) {
                for (ActivationFormat af : new ActivationFormat[] {null, ActivationFormat.Q8_0,
                        ActivationFormat.PER_TOKEN_INT8}) {
                    PackedWeights p = PackedWeights.pack(c.t(), af, m, arena);
                    Want want = want(c, impl, af);
                    String what = impl + " " + c.what() + " " + af;
                    assertEquals(want.type(), p.getClass(), what);
                    assertEquals(want.layout(), p.layoutName(), what);
                    assertEquals(c.t().rows(), p.rows(), what);
                    assertEquals(c.t().cols(), p.cols(), what);
                    if (p instanceof PackedWeights.Rows(QuantizedTensor t) && t.format().equals(c.t().format())) {
                        assertSame(c.t(), t, what + ": plain rows are the tensor itself");
                    }
                }
            }
        }
    }

    /** The Java kernels never get the interleaved layout, which they would unpack at every call. */
    @ParameterizedTest
    @ValueSource(strings = {"scalar", "vector"})
    void javaKernelsKeepPlainRows(String impl) {
        MatmulKernels m = kernels(impl);
        try (Arena arena = Arena.ofShared()) {
            for (Case c : cases(arena)) {
                for (ActivationFormat af : new ActivationFormat[] {null, ActivationFormat.Q8_0,
                        ActivationFormat.PER_TOKEN_INT8}) {
                    PackedWeights p = PackedWeights.pack(c.t(), af, m, arena);
                    assertTrue(!(p instanceof PackedWeights.Interleaved), impl + " " + c.what() + " " + af + ": " + p);
                }
            }
        }
    }

    /** Kernels with no kernel of their own for either layout (as on a GPU) get plain rows. */
    @Test
    void otherKernelsGetPlainRows() {
        MatmulKernels other = new MatmulKernels() {
            @Override
            public String name() {
                return "other";
            }

            @Override
            public void gemmInt8(QuantizedTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y,
                                 int ldy) {
                KernelProvider.scalarMatmul().gemmInt8(w, x, r0, r1, t0, t1, y, ldy);
            }

            @Override
            public void gemmF32(QuantizedTensor w, float[] x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
                KernelProvider.scalarMatmul().gemmF32(w, x, r0, r1, t0, t1, y, ldy);
            }
        };
        try (Arena arena = Arena.ofShared()) {
            for (Case c : cases(arena)) {
                for (ActivationFormat af : new ActivationFormat[] {null, ActivationFormat.Q8_0,
                        ActivationFormat.PER_TOKEN_INT8}) {
                    PackedWeights p = PackedWeights.pack(c.t(), af, other, arena);
                    assertEquals(c.javaAny().layout(), p.layoutName(), c.what() + " " + af);
                    assertTrue(p instanceof PackedWeights.Rows, c.what() + " " + af);
                }
            }
        }
    }

    /** The shorter forms choose for the kernels that run. */
    @Test
    void defaultsChooseForTheRunningKernels() {
        try (Arena arena = Arena.ofShared()) {
            for (Case c : cases(arena)) {
                MatmulKernels m = KernelProvider.matmul();
                assertEquals(PackedWeights.pack(c.t(), null, m, arena).layoutName(),
                        PackedWeights.pack(c.t(), arena).layoutName(), c.what());
                for (ActivationFormat af : ActivationFormat.values()) {
                    assertEquals(PackedWeights.pack(c.t(), af, m, arena).layoutName(),
                            PackedWeights.pack(c.t(), af, arena).layoutName(), c.what() + " " + af);
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"scalar", "vector", "native"})
    void productsOnThePackedWeightsAreThoseOfThePlainTensor(String impl) {
        MatmulKernels m = kernels(impl);
        MatmulOps ops = MatmulTest.ops(m);
        MatmulOps scalar = MatmulTest.ops(KernelProvider.scalarMatmul());
        try (Arena arena = Arena.ofShared()) {
            for (Case c : cases(arena)) {
                for (int n : new int[] {1, 7, 20}) {
                    float[] x = Inputs.gaussian(n * 31L + K, n * K);
                    PackedWeights plain = PackedWeights.of(c.t());
                    for (ActivationFormat af : ActivationFormat.values()) {
                        if (af == ActivationFormat.Q8_K) {
                            continue; // the activations of the K-quants only
                        }
                        if (!WeightRows.intPath(c.t().format())) {
                            continue;
                        }
                        String what = impl + " " + c.what() + " " + af + " n=" + n;
                        PackedWeights p = PackedWeights.pack(c.t(), af, m, arena);
                        QuantizedActivations xq = ops.quantizeActivations(x, n, K, af);
                        float[] want = new float[n * ROWS];
                        float[] got = new float[n * ROWS];
                        ops.gemm(p, xq, got);
                        if (p instanceof PackedWeights.Int8Rows) {
                            // Sums over whole rows: its reference's bits, and the plain rows' values up to rounding.
                            scalar.gemm(p, xq, want);
                            NativeMatmulTest.assertSameBits(want, got, what + " (i8_rowx16 reference)");
                            ops.gemm(plain, xq, want);
                            assertClose(want, got, what);
                            continue;
                        }
                        ops.gemm(plain, xq, want);
                        if (impl.equals("vector") && n < 5) {
                            // The Vector API's GEMV rows sum blocks in lanes: another order for another format.
                            assertClose(want, got, what);
                        } else {
                            NativeMatmulTest.assertSameBits(want, got, what);
                        }
                    }
                    // Weight-only path: the layout for any activations.
                    PackedWeights p = PackedWeights.pack(c.t(), null, m, arena);
                    float[] want = new float[n * ROWS];
                    float[] got = new float[n * ROWS];
                    ops.gemm(plain, x, n, want);
                    ops.gemm(p, x, n, got);
                    assertClose(want, got, impl + " " + c.what() + " fp32 n=" + n);
                }
            }
        }
    }

    @Test
    void int8RowsTakeTheIntegerPathOnly() {
        MatmulOps ops = MatmulTest.ops(KernelProvider.scalarMatmul());
        try (Arena arena = Arena.ofShared()) {
            QuantizedTensor t = w(QuantFormat.grouped(8, QuantFormat.ROW, true, ScaleType.F16), false, arena);
            PackedWeights p = PackedWeights.pack(t, ActivationFormat.PER_TOKEN_INT8, KernelProvider.scalarMatmul(), arena);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ops.gemm(p, new float[K], 1, new float[ROWS]));
            assertTrue(e.getMessage().contains("i8_rowx16"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> ops.gemm(p, new float[K], 1, new float[ROWS], ActivationFormat.Q8_0));
            assertTrue(e.getMessage().contains("per token"), e.getMessage());
        }
    }

    @Test
    void wrappersHoldTheirTensor() {
        try (Arena arena = Arena.ofShared()) {
            QuantizedTensor q = w(QuantFormat.Q8_0, false, arena);
            InterleavedTensor wi = InterleavedTensor.of(q, arena);
            assertSame(q, PackedWeights.of(q).tensor());
            assertSame(wi, PackedWeights.of(wi).tensor());
            assertEquals("q8_0x8", PackedWeights.of(wi).layoutName());
            assertThrows(NullPointerException.class, () -> PackedWeights.of((QuantizedTensor) null));
        }
    }

    private static void assertClose(float[] want, float[] got, String what) {
        double scale = 0;
        for (float v : want) {
            scale = Math.max(scale, Math.abs(v));
        }
        for (int i = 0; i < want.length; i++) {
            if (Math.abs(want[i] - got[i]) > 1e-5 * (scale + 1)) {
                throw new AssertionError(what + ": y[" + i + "] = " + got[i] + ", plain rows " + want[i] + " "
                        + Arrays.toString(got));
            }
        }
    }
}

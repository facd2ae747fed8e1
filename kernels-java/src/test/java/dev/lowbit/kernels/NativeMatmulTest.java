package dev.lowbit.kernels;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.bindings.nativelib.GuardPages;
import dev.lowbit.bindings.nativelib.NativeLibrary;
import dev.lowbit.bindings.nativelib.NativeMatmul;
import dev.lowbit.bindings.nativelib.NativeLibrary.Tier;
import dev.lowbit.kernels.impl.NativeMatmulKernels;
import dev.lowbit.testkit.Activations;
import dev.lowbit.testkit.Inputs;
import dev.lowbit.testkit.Bounds;
import dev.lowbit.testkit.MatmulTester;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The native integer matmuls at every tier this CPU runs, against the scalar reference. The C kernels take
 * the reference's fp32 steps in its order on exact int32 block sums, so every result must equal the
 * reference's bit for bit, with real scales too; the bound of {@link MatmulTest#checkAgainstExact} is
 * checked as well.
 */
class NativeMatmulTest {
    private static final List<QuantFormat> NATIVE = List.of(QuantFormat.Q8_0, QuantFormat.Q4_0);
    private static final int[] K = {1, 31, 32, 33, 63, 64, 65, 127, 300, 1031};

    /** The kernels of {@code tier}, or the test is skipped with the reason. */
    static NativeMatmulKernels kernelsOrSkip(Tier tier) {
        Assumptions.assumeTrue(NativeLibrary.available(),
                () -> "skipped: the native library is not available: " + NativeLibrary.unavailableReason());
        Assumptions.assumeTrue(tier.compareTo(NativeLibrary.hardwareTier()) <= 0,
                () -> "skipped: this CPU runs tiers up to " + NativeLibrary.hardwareTier() + ", not " + tier);
        return NativeMatmulKernels.forTier(tier);
    }

    private static MatmulOps scalar() {
        return MatmulTest.ops(KernelProvider.scalarMatmul());
    }

    static void assertSameBits(float[] want, float[] got, String what) {
        Bounds.assertSameBits(want, got, what);
    }

    /** The reference's bits and the bound of {@link Bounds#checkAgainstExact}, for any cut of rows and tokens. */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void equalsTheReferenceBitForBit(Tier tier) {
        NativeMatmulKernels nk = kernelsOrSkip(tier);
        Kit.tester(tier.toString()).formats(NATIVE).k(K).rows(1, 3, 4, 5, 8, 9, 17).tokens(1, 2, 3, 5)
                .splitInThirds(Kit.int8Range(nk))
                .testInt8(Kit.int8(scalar()), Kit.int8(MatmulTest.ops(nk)), MatmulTester.Check.BITS_AND_BOUND);
    }

    /**
     * Unit scales and codes over their whole ranges (weights -128..127 and -8..7, activations -128..127): every
     * result is an integer, so this pins down the int32 block sums themselves, bit for bit.
     */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void integerSumsAreExact(Tier tier) {
        Kit.tester(tier.toString()).formats(NATIVE).k(31, 32, 33, 97, 300, 1000).rows(6).tokens(4)
                .testExactSums(Kit.int8(scalar()), Kit.int8(MatmulTest.ops(kernelsOrSkip(tier))), MatmulTester.Check.BITS);
    }

    /**
     * Every weight code at its extremes (-128 and 127, -8 and 7) and every activation -128 or 127 over k = 4096, one
     * tile of 4 rows and one row alone: 16-bit pairs would overflow.
     */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void largestMagnitudesDoNotOverflow(Tier tier) {
        Kit.tester(tier.toString()).formats(NATIVE).k(4096).rows(5).tokens(2)
                .testExtremes(Kit.int8(scalar()), Kit.int8(MatmulTest.ops(kernelsOrSkip(tier))));
    }

    /** 257 rows of 1031 with outliers: the reference's bits on one thread, and the same bits on two. */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void resultDoesNotDependOnThreads(Tier tier) {
        NativeMatmulKernels nk = kernelsOrSkip(tier);
        try (ThreadPool pool = ThreadPool.forkJoin(2)) {
            MatmulOps one = MatmulTest.ops(nk);
            MatmulOps two = new MatmulOps(nk, KernelProvider.scalar(), pool);
            MatmulTester tester = Kit.tester(tier + ", 1 vs 2 threads").formats(NATIVE).k(1031).rows(257)
                    .tokens(1, 8, 130).weightSeed((k, rows) -> 5).outliers(k -> true).inputSeed((k, n) -> n)
                    .kinds(Activations.Kind.Q8_0);
            tester.testInt8(Kit.int8(scalar()), Kit.int8(one), MatmulTester.Check.BITS);
            tester.testThreadIndependence(Kit.int8(one), Kit.int8(two));
            tester.inputSeed((k, n) -> n + 1).testThreadIndependence(Kit.f32(one), Kit.f32(two));
        }
    }

    /** A range bigger than one downcall's share ({@link NativeMatmul#MAX_MACS}) is cut; results stay the same. */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void longRangesAreCutIntoShortCalls(Tier tier) {
        NativeMatmulKernels nk = kernelsOrSkip(tier);
        int rows = 203;
        int k = 4096;
        int n = 11;
        assertTrue((long) rows * n * k > NativeMatmul.MAX_MACS);
        try (Arena arena = Arena.ofShared()) {
            QuantizedTensor w = MatmulTest.weights(QuantFormat.Q4_0, rows, k, 9, false, arena);
            QuantizedActivations x = scalar().quantizeActivations(Inputs.gaussian(3, n * k), n, k, ActivationFormat.Q8_0);
            float[] a = new float[n * rows];
            float[] b = new float[n * rows];
            KernelProvider.scalarMatmul().gemmInt8(w, x, 0, rows, 0, n, a, rows);
            nk.gemmInt8(w, x, 0, rows, 0, n, b, rows);
            assertSameBits(a, b, tier + " one request of " + (long) rows * n * k + " multiply-adds");
            float[] xf = Inputs.gaussian(4, n * k);
            nk.gemmF32(w, xf, 0, rows, 0, n, a, rows);
            for (int r = 0; r < rows; r++) {
                nk.gemmF32(w, xf, r, r + 1, 0, n, b, rows);
            }
            assertSameBits(b, a, tier + " fp32 path, one request against row by row");
        }
    }

    /**
     * Weights, codes, scales and outputs each end exactly at a PROT_NONE page: reading or writing one byte
     * past any of them crashes the JVM instead of passing.
     */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void buffersEndAtGuardPages(Tier tier) {
        kernelsOrSkip(tier);
        NativeMatmul calls = NativeMatmul.of(tier);
        MatmulOps scalar = scalar();
        try (Arena arena = Arena.ofShared(); GuardPages guard = new GuardPages()) {
            for (QuantFormat f : NATIVE) {
                NativeMatmul.Weights weights = f.kind() == QuantFormat.Kind.Q8_0 ? NativeMatmul.Weights.Q8_0
                        : NativeMatmul.Weights.Q4_0;
                for (int k : new int[] {1, 32, 33, 100}) {
                    for (int rows : new int[] {1, 4, 7}) {
                        for (int n : new int[] {1, 2, 3}) {
                            for (ActivationFormat af : ActivationFormat.values()) {
                                if (af == ActivationFormat.Q8_K) {
                                    continue; // the activations of the K-quants only (NativeBlockMatmulTest)
                                }
                                QuantizedTensor w = MatmulTest.weights(f, rows, k, rows * 7L + k, false, arena);
                                QuantizedActivations x = scalar.quantizeActivations(Inputs.gaussian(k, n * k), n, k, af);
                                float[] want = new float[n * rows];
                                scalar.gemm(PackedWeights.of(w), x, want);
                                MemorySegment gw = guard.copyEndingAtGuard(w.data());
                                MemorySegment gx = guard.copyEndingAtGuard(MemorySegment.ofArray(x.codes()));
                                MemorySegment gs = guard.copyEndingAtGuard(MemorySegment.ofArray(x.scales()));
                                MemorySegment gy = guard.endingAtGuard(4L * want.length);
                                int nb = x.paddedK() / 32;
                                calls.gemmInt8(weights, gw, gx, gs, nb, x.scalesPerToken(),
                                        af == ActivationFormat.Q8_0 ? 1 : 0, 0, rows, 0, n, gy, rows);
                                assertSameBits(want, gy.toArray(ValueLayout.JAVA_FLOAT),
                                        tier + " " + f + " " + af + " guarded, rows=" + rows + " n=" + n + " k=" + k);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void rangesAndLengthsAreCheckedBeforeTheCall() {
        Assumptions.assumeTrue(NativeLibrary.available(),
                () -> "skipped: the native library is not available: " + NativeLibrary.unavailableReason());
        NativeMatmul calls = NativeMatmul.selected();
        NativeMatmul.Weights q8 = NativeMatmul.Weights.Q8_0;
        int rows = 4;
        int nb = 2;
        int n = 3;
        MemorySegment w = MemorySegment.ofArray(new byte[rows * nb * 34]);
        MemorySegment xc = MemorySegment.ofArray(new byte[n * nb * 32]);
        MemorySegment xs = MemorySegment.ofArray(new float[n * nb]);
        float[] yArr = new float[n * rows];
        MemorySegment y = MemorySegment.ofArray(yArr);
        calls.gemmInt8(q8, w, xc, xs, nb, nb, 1, 0, rows, 0, n, y, rows); // fits
        record Case(String name, Runnable call) { // name: what the message must say
        }
        List<Case> bad = List.of(
                new Case("w holds", () -> calls.gemmInt8(q8, w, xc, xs, nb, nb, 1, 0, 5, 0, n, y, 5)),
                new Case("r0=-1", () -> calls.gemmInt8(q8, w, xc, xs, nb, nb, 1, -1, rows, 0, n, y, rows)),
                new Case("r1=1", () -> calls.gemmInt8(q8, w, xc, xs, nb, nb, 1, 2, 1, 0, n, y, rows)),
                new Case("xc holds", () -> calls.gemmInt8(q8, w, xc, xs, nb, nb, 1, 0, rows, 0, 4, y, rows)),
                new Case("t1=1", () -> calls.gemmInt8(q8, w, xc, xs, nb, nb, 1, 0, rows, 2, 1, y, rows)),
                new Case("nb", () -> calls.gemmInt8(q8, w, xc, xs, -1, nb, 1, 0, rows, 0, n, y, rows)),
                new Case("xs", () -> calls.gemmInt8(q8, w, xc, xs, nb, nb + 1, 1, 0, rows, 0, n, y, rows)),
                new Case("xsBlk", () -> calls.gemmInt8(q8, w, xc, xs, nb, nb, 2, 0, rows, 0, n, y, rows)),
                new Case("ldy", () -> calls.gemmInt8(q8, w, xc, xs, nb, nb, 1, 0, rows, 0, n, y, rows - 1)),
                new Case("y holds", () -> calls.gemmInt8(q8, w, xc, xs, nb, nb, 1, 0, rows, 0, n, y, rows + 1)),
                new Case("w holds", () -> calls.gemmInt8(NativeMatmul.Weights.Q8_0, w.asSlice(1), xc, xs, nb, nb, 1, 0,
                        rows, 0, n, y, rows)),
                new Case("xc holds", () -> calls.gemmInt8(q8, w, xc.asSlice(0, xc.byteSize() - 1), xs, nb, nb, 1, 0, rows,
                        0, n, y, rows)),
                new Case("y must be writable", () -> calls.gemmInt8(q8, w, xc, xs, nb, nb, 1, 0, rows, 0, n,
                        y.asReadOnly(), rows)),
                new Case("aligned", () -> calls.gemmInt8(q8, w, xc, MemorySegment.ofArray(new byte[64]).asSlice(1, 32),
                        nb, nb, 1, 0, rows, 0, n, y, rows)));
        Arrays.fill(yArr, 5f);
        for (Case c : bad) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, c.call::run, c.name);
            assertTrue(e.getMessage().contains(c.name), c.name + ": " + e.getMessage());
        }
        for (float v : yArr) {
            assertEquals(5f, v, "nothing was written");
        }
    }

    /**
     * Weight-only path: within the reordering bound of the exact result (the generic tier runs the reference's
     * order, so there the bits must match), the same bits for any cut of rows and tokens, activations and
     * outputs ending at guard pages.
     */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void fp32PathWithinTheReorderingBound(Tier tier) {
        NativeMatmulKernels nk = kernelsOrSkip(tier);
        NativeMatmul calls = NativeMatmul.of(tier);
        MatmulOps nat = MatmulTest.ops(nk);
        MatmulOps scalar = scalar();
        try (Arena arena = Arena.ofShared(); GuardPages guard = new GuardPages()) {
            for (QuantFormat f : NATIVE) {
                NativeMatmul.Weights weights = f.kind() == QuantFormat.Kind.Q8_0 ? NativeMatmul.Weights.Q8_0
                        : NativeMatmul.Weights.Q4_0;
                for (int k : new int[] {0, 1, 31, 32, 33, 65, 127, 128, 129, 300, 1031}) {
                    for (int rows : new int[] {1, 3, 5}) {
                        for (int n : new int[] {1, 2, 3}) {
                            QuantizedTensor w = MatmulTest.weights(f, rows, k, k + rows, k > 64, arena);
                            float[] x = Inputs.gaussian(k + 7, n * k);
                            float[] a = new float[n * rows];
                            float[] b = new float[n * rows];
                            scalar.gemm(PackedWeights.of(w), x, n, a);
                            nat.gemm(PackedWeights.of(w), x, n, b);
                            String what = tier + " " + f + " rows=" + rows + " n=" + n + " k=" + k;
                            if (tier == Tier.GENERIC) {
                                assertSameBits(a, b, what);
                            }
                            MatmulTest.checkFp32AgainstExact(w, x, n, b, what);
                            float[] c = new float[n * rows];
                            for (int t = 0; t < n; t++) {
                                nk.gemmF32(w, x, 0, rows / 2, t, t + 1, c, rows);
                                nk.gemmF32(w, x, rows / 2, rows, t, t + 1, c, rows);
                            }
                            assertSameBits(b, c, what + ", token by token");
                            // Activations, weights and outputs against guard pages (k not a multiple of 32 included).
                            if (n * k > 0) {
                                MemorySegment gw = guard.copyEndingAtGuard(w.data());
                                MemorySegment gx = guard.copyEndingAtGuard(MemorySegment.ofArray(x));
                                MemorySegment gy = guard.endingAtGuard(4L * n * rows);
                                calls.gemmF32(weights, gw, gx, k, 0, rows, 0, n, gy, rows);
                                float[] d = new float[n * rows];
                                nk.gemmF32(w.withOutliers(null), x, 0, rows, 0, n, d, rows);
                                assertSameBits(d, gy.toArray(ValueLayout.JAVA_FLOAT), what + ", guarded");
                            }
                        }
                    }
                }
            }
        }
    }
}

package dev.lowbit.kernels;

import dev.lowbit.format.InterleavedTensor;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.bindings.nativelib.GuardPages;
import dev.lowbit.bindings.nativelib.NativeLibrary.Tier;
import dev.lowbit.bindings.nativelib.NativeMatmul;
import dev.lowbit.kernels.impl.NativeMatmulKernels;
import dev.lowbit.testkit.Inputs;
import dev.lowbit.testkit.MatmulTester;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Row-interleaved weights (q8_0x8, q4_0x8) through every implementation: the native kernels at every tier this
 * CPU runs must give the scalar reference's result on the plain rows bit for bit, and the Vector API and scalar
 * kernels (which unpack the rows) the result they give on the plain rows.
 */
class InterleavedMatmulTest {
    private static final List<QuantFormat> FORMATS = List.of(QuantFormat.Q8_0, QuantFormat.Q4_0);
    private static final int[] K = {1, 31, 32, 33, 64, 65, 127, 300, 1031};
    private static final int[] ROWS = {1, 3, 7, 8, 9, 16, 17, 25};

    /** The reference's bits on the plain rows, for any cut on groups of 8 rows and any cut of tokens. */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void nativeEqualsTheReferenceOnThePlainRows(Tier tier) {
        NativeMatmulKernels nk = NativeMatmulTest.kernelsOrSkip(tier);
        MatmulOps nat = MatmulTest.ops(nk);
        Kit.tester(tier + " interleaved").formats(FORMATS).k(K).rows(ROWS).tokens(1, 2, 3, 4, 5, 9)
                .weightSeed((k, rows) -> k * 17L + rows)
                .splitInGroups(8, (w, x, r0, r1, t0, t1, y, ldy) -> nk.gemmInt8(interleaved(w), Kit.of(x), r0, r1, t0,
                        t1, y, ldy))
                .testInt8(Kit.int8(MatmulTest.ops(KernelProvider.scalarMatmul())),
                        (w, x, y) -> nat.gemm(PackedWeights.of(interleaved(w)), Kit.of(x), y), MatmulTester.Check.BITS);
    }

    private static InterleavedTensor interleaved(QuantizedTensor w) {
        return InterleavedTensor.of(w, Arena.ofAuto());
    }

    /**
     * Unit scales: every result is the exact integer sum. Random codes over the whole ranges, then every weight
     * and activation at the same extreme, which drives the 16-bit and 32-bit intermediate sums to their limits.
     */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void integerSumsAreExactAtTheExtremes(Tier tier) {
        MatmulOps nat = MatmulTest.ops(NativeMatmulTest.kernelsOrSkip(tier));
        Kit.tester(tier + " interleaved").formats(FORMATS).k(32, 33, 4096).rows(11).tokens(3).uniformToo()
                .testExactSums(Kit.int8(MatmulTest.ops(KernelProvider.scalarMatmul())),
                        (w, x, y) -> nat.gemm(PackedWeights.of(interleaved(w)), Kit.of(x), y), MatmulTester.Check.BITS);
    }

    /** Weights, activations, scales and output each end at a PROT_NONE page: any read or write past them crashes. */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void buffersEndAtGuardPages(Tier tier) {
        NativeMatmulTest.kernelsOrSkip(tier);
        NativeMatmul calls = NativeMatmul.of(tier);
        MatmulOps scalar = MatmulTest.ops(KernelProvider.scalarMatmul());
        try (Arena arena = Arena.ofShared(); GuardPages guard = new GuardPages()) {
            for (QuantFormat f : FORMATS) {
                for (int k : new int[] {1, 32, 33, 100}) {
                    for (int rows : new int[] {1, 8, 13}) {
                        for (int n : new int[] {1, 2, 5}) {
                            for (ActivationFormat af : ActivationFormat.values()) {
                                if (af == ActivationFormat.Q8_K) {
                                    continue; // the activations of the K-quants only
                                }
                                QuantizedTensor w = MatmulTest.weights(f, rows, k, rows * 7L + k, false, arena);
                                InterleavedTensor wi = InterleavedTensor.of(w, arena);
                                QuantizedActivations x = scalar.quantizeActivations(Inputs.gaussian(k, n * k), n, k, af);
                                float[] want = new float[n * rows];
                                scalar.gemm(PackedWeights.of(w), x, want);
                                MemorySegment gw = guard.copyEndingAtGuard(wi.data());
                                MemorySegment gx = guard.copyEndingAtGuard(MemorySegment.ofArray(x.codes()));
                                MemorySegment gs = guard.copyEndingAtGuard(MemorySegment.ofArray(x.scales()));
                                MemorySegment gy = guard.endingAtGuard(4L * want.length);
                                calls.gemmInt8Interleaved(wi.layout(), gw, gx, gs, x.paddedK() / 32, x.scalesPerToken(),
                                        af == ActivationFormat.Q8_0 ? 1 : 0, 0, rows, 0, n, gy, rows);
                                NativeMatmulTest.assertSameBits(want, gy.toArray(ValueLayout.JAVA_FLOAT), tier + " "
                                        + wi.layout() + " " + af + " guarded, rows=" + rows + " n=" + n + " k=" + k);
                                // The weight-only path: the plain kernel's bits at this tier.
                                float[] xf = Inputs.gaussian(k * 5L + n, n * k);
                                float[] plain = new float[n * rows];
                                calls.gemmF32(f.kind() == QuantFormat.Kind.Q8_0 ? NativeMatmul.Weights.Q8_0
                                        : NativeMatmul.Weights.Q4_0, w.data(), MemorySegment.ofArray(xf), k, 0, rows, 0, n,
                                        MemorySegment.ofArray(plain), rows);
                                MemorySegment gxf = guard.copyEndingAtGuard(MemorySegment.ofArray(xf));
                                MemorySegment gyf = guard.endingAtGuard(4L * plain.length);
                                calls.gemmF32Interleaved(wi.layout(), gw, gxf, k, 0, rows, 0, n, gyf, rows);
                                NativeMatmulTest.assertSameBits(plain, gyf.toArray(ValueLayout.JAVA_FLOAT), tier + " "
                                        + wi.layout() + " fp32 guarded, rows=" + rows + " n=" + n + " k=" + k);
                            }
                        }
                    }
                }
            }
        }
    }

    /** Kernels without an interleaved kernel unpack the rows: their result on the plain tensor, bit for bit. */
    @Test
    void otherKernelsGiveTheirPlainResult() {
        List<MatmulKernels> all = new ArrayList<>();
        all.add(KernelProvider.scalarMatmul());
        if (KernelProvider.vectorMatmul() != null) {
            all.add(KernelProvider.vectorMatmul());
        }
        if (KernelProvider.matmul() instanceof NativeMatmulKernels nk) {
            all.add(nk); // its fp32 path unpacks too
        }
        try (Arena arena = Arena.ofShared()) {
            for (MatmulKernels kernels : all) {
                MatmulOps ops = MatmulTest.ops(kernels);
                for (QuantFormat f : FORMATS) {
                    for (int k : new int[] {33, 300}) {
                        for (int rows : new int[] {5, 17}) {
                            QuantizedTensor w = MatmulTest.weights(f, rows, k, k + rows, true, arena);
                            InterleavedTensor wi = InterleavedTensor.of(w, arena);
                            int n = 3;
                            float[] xf = Inputs.gaussian(k * 3L + n, n * k);
                            String what = kernels.name() + " " + wi.layout() + " rows=" + rows + " k=" + k;
                            float[] want = new float[n * rows];
                            float[] got = new float[n * rows];
                            ops.gemm(PackedWeights.of(w), xf, n, want);
                            ops.gemm(PackedWeights.of(wi), xf, n, got);
                            NativeMatmulTest.assertSameBits(want, got, what + ", fp32 path");
                            for (ActivationFormat af : ActivationFormat.values()) {
                                if (af == ActivationFormat.Q8_K) {
                                    continue; // the activations of the K-quants only
                                }
                                ops.gemm(PackedWeights.of(w), xf, n, want, af);
                                ops.gemm(PackedWeights.of(wi), xf, n, got, af);
                                NativeMatmulTest.assertSameBits(want, got, what + ", integer path " + af);
                            }
                        }
                    }
                }
            }
        }
    }

    /** The split over threads cuts on whole groups of 8 rows and changes no bit. */
    @Test
    void resultDoesNotDependOnThreads() {
        try (ThreadPool pool = ThreadPool.forkJoin(3)) {
            threadsChangeNoBit(pool, "3 threads", 1, 7, 70);
        }
    }

    /** The same on a {@link ThreadPool.Workers} pool, whose small products take one piece per thread. */
    @Test
    void resultDoesNotDependOnThreadsOnWorkers() {
        try (ThreadPool pool = new ThreadPool.Workers(3)) {
            threadsChangeNoBit(pool, "3 workers", 1, 7, 70, 260);
        }
    }

    /** 203 rows of 2080 with outliers, interleaved: one thread against {@code pool} on the integer path. */
    private static void threadsChangeNoBit(ThreadPool pool, String threads, int... tokens) {
        MatmulKernels kernels = KernelProvider.matmul();
        MatmulOps one = MatmulTest.ops(kernels);
        MatmulOps many = new MatmulOps(kernels, KernelProvider.scalar(), pool);
        Kit.tester(kernels.name() + " interleaved, 1 thread vs " + threads).formats(FORMATS).k(2080).rows(203)
                .tokens(tokens).weightSeed((k, rows) -> 99).outliers(k -> true).inputSeed((k, n) -> n)
                .testThreadIndependence(interleavedInt8(one), interleavedInt8(many));
    }

    private static MatmulTester.F32Gemm interleavedInt8(MatmulOps ops) {
        return (w, x, n, y) -> ops.gemm(PackedWeights.of(interleaved(w)), x, n, y, ActivationFormat.Q8_0);
    }

    @Test
    void mismatchesAreRefusedBeforeAnyWork() {
        MatmulOps ops = MatmulTest.ops(KernelProvider.matmul());
        try (Arena arena = Arena.ofShared()) {
            InterleavedTensor wi = InterleavedTensor.of(MatmulTest.weights(QuantFormat.Q4_0, 9, 64, 1, false, arena), arena);
            QuantizedActivations x = ops.quantizeActivations(Inputs.gaussian(1, 2 * 65), 2, 65, ActivationFormat.Q8_0);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ops.gemm(PackedWeights.of(wi), x, new float[18]));
            assertTrue(e.getMessage().contains("k=65"), e.getMessage());
            QuantizedActivations ok = ops.quantizeActivations(Inputs.gaussian(1, 2 * 64), 2, 64, ActivationFormat.Q8_0);
            e = assertThrows(IllegalArgumentException.class, () -> ops.gemm(PackedWeights.of(wi), ok, new float[17]));
            assertTrue(e.getMessage().contains("expected 18"), e.getMessage());
            if (KernelProvider.matmul() instanceof NativeMatmulKernels nk) {
                e = assertThrows(IllegalArgumentException.class, () -> nk.gemmInt8(wi, ok, 4, 9, 0, 2, new float[18], 9));
                assertTrue(e.getMessage().contains("multiple of 8"), e.getMessage());
            }
        }
    }
}

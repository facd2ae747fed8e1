package dev.lowbit.kernels;

import dev.lowbit.format.Int8RowTensor;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.bindings.nativelib.NativeLibrary;
import dev.lowbit.bindings.nativelib.NativeLibrary.Tier;
import dev.lowbit.bindings.nativelib.NativeMatmul;
import dev.lowbit.kernels.impl.NativeMatmulKernels;
import dev.lowbit.testkit.Activations;
import dev.lowbit.testkit.Inputs;
import dev.lowbit.testkit.MatmulTester;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code i8_rowx16} weights (symmetric int8, one fp32 scale per row, int32 sums over whole rows) through every
 * implementation: the scalar reference against an independent computation from the plain codes, then the native
 * kernels at every tier this CPU runs and the Vector API kernels against the reference, bit for bit.
 */
class Int8RowMatmulTest {
    private static final int[] K = {0, 1, 3, 4, 5, 31, 32, 33, 100, 384, 1031};
    private static final int[] ROWS = {1, 15, 16, 17, 33, 64, 65, 100};
    private static final int[] N = {1, 2, 3, 5, 6, 7, 13};

    /** Random signed codes in [lo, hi] and positive fp16-representable scales, as an int8_sym_row tensor. */
    static QuantizedTensor plain(int rows, int k, long seed, int lo, int hi, ScaleType st, Arena arena) {
        SplittableRandom rnd = new SplittableRandom(seed);
        QuantFormat f = QuantFormat.grouped(8, QuantFormat.ROW, true, st);
        int[] codes = new int[rows * k];
        for (int i = 0; i < codes.length; i++) {
            codes[i] = rnd.nextInt(lo, hi + 1) + 128; // stored with the symmetric offset
        }
        float[] scales = new float[rows * f.groupsPerRow(k)]; // no scales at all for k = 0
        for (int r = 0; r < scales.length; r++) {
            scales[r] = Float.float16ToFloat((short) rnd.nextInt(0x0400, 0x7800));
        }
        return Reference.pack(f, rows, k, codes, scales, null, null, arena);
    }

    static QuantizedActivations activations(int n, int k, long seed) {
        return MatmulTest.ops(KernelProvider.scalarMatmul()).quantizeActivations(Inputs.gaussian(seed, n * k), n, k,
                ActivationFormat.PER_TOKEN_INT8);
    }

    /** The contract computed here from the plain tensor, in long arithmetic: per row one sum, one fp32 step. */
    static float[] expected(QuantizedTensor p, QuantizedActivations x) {
        int rows = p.rows();
        int k = p.cols();
        float[] y = new float[x.n() * rows];
        for (int t = 0; t < x.n(); t++) {
            for (int r = 0; r < rows; r++) {
                long isum = 0;
                for (int c = 0; c < k; c++) {
                    isum += (long) (Reference.code(p, r, c) - 128) * x.codes()[t * x.paddedK() + c];
                }
                float dw = k == 0 ? 0f : Reference.scale(p, r, 0);
                y[t * rows + r] = (dw * x.scales()[t]) * (float) isum;
            }
        }
        return y;
    }

    @Test
    void theReferenceIsTheContract() {
        MatmulOps scalar = MatmulTest.ops(KernelProvider.scalarMatmul());
        try (Arena arena = Arena.ofConfined()) {
            for (int k : new int[] {0, 1, 5, 33, 384}) {
                for (int rows : new int[] {1, 17, 33}) {
                    QuantizedTensor p = plain(rows, k, k * 7L + rows, -128, 127, ScaleType.F16, arena);
                    Int8RowTensor w = Int8RowTensor.of(p, arena);
                    for (int r = 0; r < rows; r++) {
                        assertEquals(k == 0 ? 0f : Reference.scale(p, r, 0), w.scale(r), "scale of row " + r);
                        int sum = 0;
                        for (int c = 0; c < k; c++) {
                            assertEquals(Reference.code(p, r, c) - 128, w.code(r, c), "code " + r + "," + c);
                            sum += w.code(r, c);
                        }
                        assertEquals(sum, w.codeSum(r), "code sum of row " + r);
                    }
                    QuantizedActivations x = activations(4, k, k + rows);
                    float[] got = new float[4 * rows];
                    scalar.gemm(PackedWeights.of(w), x, got);
                    NativeMatmulTest.assertSameBits(expected(p, x), got, "reference rows=" + rows + " k=" + k);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Tier.class)
    void nativeEqualsTheReference(Tier tier) {
        NativeMatmulKernels nk = NativeMatmulTest.kernelsOrSkip(tier);
        compareWithReference(nk, tier.toString());
    }

    @Test
    void vectorEqualsTheReference() {
        String why = KernelProvider.vectorUnavailable();
        Assumptions.assumeTrue(why == null, () -> "skipped: " + why);
        compareWithReference(KernelProvider.vectorMatmul(), KernelProvider.vectorMatmul().name());
    }

    /**
     * The reference's bits, whole and group by group of 16 rows token by token, on random codes over -128..127 with
     * fp16 and fp32 row scales.
     */
    private static void compareWithReference(MatmulKernels kernels, String name) {
        MatmulOps ops = MatmulTest.ops(kernels);
        Kit.tester(name).formats(List.of(QuantFormat.grouped(8, QuantFormat.ROW, true, ScaleType.F16),
                        QuantFormat.grouped(8, QuantFormat.ROW, true, ScaleType.F32)))
                .k(K).rows(ROWS).tokens(N).kinds(Activations.Kind.PER_TOKEN_INT8)
                .buildWeights((f, rows, k, seed, arena) -> plain(rows, k, seed, -128, 127, f.scaleType(), arena))
                .inputSeed((k, n) -> 1000L * k + n)
                .splitInGroups(Int8RowTensor.ROWS, (w, x, r0, r1, t0, t1, y, ldy) -> kernels.gemmInt8(rowx16(w),
                        Kit.of(x), r0, r1, t0, t1, y, ldy))
                .testInt8(rowx16(MatmulTest.ops(KernelProvider.scalarMatmul())), rowx16(ops), MatmulTester.Check.BITS);
    }

    /** The product on the {@code i8_rowx16} layout of the plain weights. */
    private static MatmulTester.Int8Gemm rowx16(MatmulOps ops) {
        return (w, x, y) -> ops.gemm(PackedWeights.of(rowx16(w)), Kit.of(x), y);
    }

    private static Int8RowTensor rowx16(QuantizedTensor plain) {
        return Int8RowTensor.of(plain, Arena.ofAuto());
    }

    /**
     * Unit scales: each result is the exact integer sum. Every weight and activation at the same extreme, at the
     * longest row the layout takes (65,536 columns), drives the int32 sums to their limits: the AVX-512 kernel's
     * unsigned activations reach 255 * -128 * 65536 = -2,139,095,040 before the offset comes off.
     */
    @Test
    void integerSumsAreExactAtTheExtremes() {
        List<MatmulKernels> all = new ArrayList<>(List.of(KernelProvider.scalarMatmul()));
        if (KernelProvider.vectorUnavailable() == null) {
            all.add(KernelProvider.vectorMatmul());
        }
        if (NativeLibrary.available()) {
            for (Tier tier : Tier.values()) {
                if (tier.compareTo(NativeLibrary.hardwareTier()) <= 0) {
                    all.add(NativeMatmulKernels.forTier(tier));
                }
            }
        }
        int k = Int8RowTensor.MAX_COLS;
        int rows = 17;
        try (Arena arena = Arena.ofShared()) {
            for (int wv : new int[] {-128, 127}) {
                for (int xv : new int[] {-128, 127}) {
                    byte[] codes = new byte[rows * k];
                    Arrays.fill(codes, (byte) wv);
                    float[] scales = new float[rows];
                    Arrays.fill(scales, 1f);
                    Int8RowTensor w = Int8RowTensor.of(codes, scales, rows, k, arena);
                    byte[] xc = new byte[2 * k];
                    Arrays.fill(xc, (byte) xv);
                    QuantizedActivations x = new QuantizedActivations(ActivationFormat.PER_TOKEN_INT8, 2, k, xc,
                            new float[] {1f, 1f});
                    float each = (float) ((long) wv * xv * k);
                    for (MatmulKernels kernels : all) {
                        float[] got = new float[2 * rows];
                        MatmulTest.ops(kernels).gemm(PackedWeights.of(w), x, got);
                        for (int i = 0; i < got.length; i++) {
                            assertEquals(each, got[i], kernels.name() + " w=" + wv + " x=" + xv + " y[" + i + "]");
                        }
                    }
                }
            }
        }
    }

    @Test
    void threadsDoNotChangeABit() {
        MatmulOps one = MatmulTest.ops(KernelProvider.matmul());
        ThreadPool pool = ThreadPool.forkJoin(3);
        try (Arena arena = Arena.ofShared()) {
            MatmulOps three = new MatmulOps(KernelProvider.matmul(), KernelProvider.kernels(), pool);
            QuantizedTensor p = plain(1152, 384, 5, -127, 127, ScaleType.F16, arena);
            Int8RowTensor w = Int8RowTensor.of(p, arena);
            for (int n : new int[] {1, 28, 130}) {
                QuantizedActivations x = activations(n, 384, n);
                float[] a = new float[n * 1152];
                float[] b = new float[n * 1152];
                one.gemm(PackedWeights.of(w), x, a);
                three.gemm(PackedWeights.of(w), x, b);
                NativeMatmulTest.assertSameBits(a, b, "n=" + n + " on 1 and 3 threads");
            }
        } finally {
            pool.close();
        }
    }

    /**
     * Per-token activations are quantized straight into their arrays: the same bytes as the quantizers' rule for a
     * symmetric 8-bit row with an fp32 scale gives (here through the scalar kernels), for ordinary, tricky (ties,
     * constant and tiny groups) and subnormal-scale inputs; a NaN is still reported by its index.
     */
    @Test
    void perTokenActivationsAreTheQuantizersBytes() {
        MatmulOps ops = MatmulOps.get();
        QuantOps scalar = new QuantOps(KernelProvider.scalar(), ThreadPool.callerThread());
        QuantFormat f = QuantFormat.grouped(8, QuantFormat.ROW, true, ScaleType.F32);
        for (int k : new int[] {1, 31, 33, 384}) {
            int n = 7;
            float[][] inputs = {Inputs.gaussian(k, n * k), Inputs.tricky(k, n * k), new float[n * k], new float[n * k]};
            for (int i = 0; i < n * k; i++) {
                inputs[2][i] = (i % 3 - 1) * 1e-38f * (i % 5); // scales below fp32's normal range: widened
                inputs[3][i] = i % 9 == 0 ? 1e30f : -i;        // a large range
            }
            for (float[] x : inputs) {
                QuantizedActivations got = ops.quantizeActivations(x, n, k, ActivationFormat.PER_TOKEN_INT8);
                try (Arena arena = Arena.ofConfined()) {
                    QuantizedTensor q = scalar.quantize(f, x, n, k, arena);
                    for (int t = 0; t < n; t++) {
                        boolean empty = true;
                        for (int c = 0; c < k; c++) {
                            empty &= x[t * k + c] == 0f;
                            assertEquals(Reference.code(q, t, c) - 128, got.codes()[t * got.paddedK() + c],
                                    "k=" + k + " token " + t + " code " + c);
                        }
                        assertEquals(Float.floatToRawIntBits(empty ? 0f : Reference.scale(q, t, 0)),
                                Float.floatToRawIntBits(got.scale(t, 0)), "k=" + k + " token " + t + " scale");
                    }
                }
            }
            float[] bad = Inputs.gaussian(3, n * k);
            bad[k + k / 2] = Float.NaN;
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ops.quantizeActivations(bad, n, k, ActivationFormat.PER_TOKEN_INT8));
            assertTrue(e.getMessage().contains("index " + (k + k / 2)), e.getMessage());
        }
    }

    @Test
    void badInputIsRefusedBeforeAnyWork() {
        MatmulOps ops = MatmulTest.ops(KernelProvider.matmul());
        try (Arena arena = Arena.ofConfined()) {
            Int8RowTensor w = Int8RowTensor.of(plain(20, 40, 1, -127, 127, ScaleType.F32, arena), arena);
            QuantizedActivations q80 = MatmulTest.ops(KernelProvider.scalarMatmul())
                    .quantizeActivations(Inputs.gaussian(1, 40), 1, 40, ActivationFormat.Q8_0);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ops.gemm(PackedWeights.of(w), q80, new float[20]));
            assertTrue(e.getMessage().contains("per token"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () ->
                    ops.gemm(PackedWeights.of(w), activations(1, 41, 2), new float[20]));
            assertTrue(e.getMessage().contains("k=41"), e.getMessage());
            float[] y = new float[19];
            e = assertThrows(IllegalArgumentException.class, () ->
                    ops.gemm(PackedWeights.of(w), activations(1, 40, 2), y));
            assertTrue(e.getMessage().contains("expected 20"), e.getMessage());
            QuantizedTensor g32 = Reference.pack(QuantFormat.grouped(8, 32, true, ScaleType.F16), 2, 64, new int[128],
                    new float[4], null, null, arena);
            e = assertThrows(IllegalArgumentException.class, () -> Int8RowTensor.of(g32, arena));
            assertTrue(e.getMessage().contains("one scale per row"), e.getMessage());
            QuantizedTensor asym = Reference.pack(QuantFormat.grouped(8, QuantFormat.ROW, false, ScaleType.F16), 2, 64,
                    new int[128], new float[2], new float[2], null, arena);
            assertThrows(IllegalArgumentException.class, () -> Int8RowTensor.of(asym, arena));
            float[] dense = Inputs.gaussian(3, 2 * 64);
            dense[5] = 50f;
            QuantizedTensor withOutliers = plain(2, 64, 3, -127, 127, ScaleType.F16, arena)
                    .withOutliers(SparseOutliers.extract(dense, 2, 64, 20f, arena));
            e = assertThrows(IllegalArgumentException.class, () -> Int8RowTensor.of(withOutliers, arena));
            assertTrue(e.getMessage().contains("outliers"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> Int8RowTensor.of(new byte[Int8RowTensor.MAX_COLS + 1], new float[1], 1, Int8RowTensor.MAX_COLS + 1,
                            arena));
            assertTrue(e.getMessage().contains("65536"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> Int8RowTensor.of(new byte[4], new float[] {Float.NaN}, 1, 4, arena));
            assertTrue(e.getMessage().contains("NaN"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> Int8RowTensor.wrap(16, 40, MemorySegment.ofArray(new byte[10])));
            assertTrue(e.getMessage().contains(Long.toString(Int8RowTensor.byteSize(16, 40))), e.getMessage());
            if (NativeLibrary.available()) {
                QuantizedActivations x = activations(1, 40, 4);
                e = assertThrows(IllegalArgumentException.class, () -> NativeMatmul.selected().gemmInt8Rows(w.data(),
                        MemorySegment.ofArray(x.codes()), MemorySegment.ofArray(x.scales()), 40, x.paddedK(), 1, 8, 20,
                        0, 1, MemorySegment.ofArray(new float[20]), 20));
                assertTrue(e.getMessage().contains("multiple of 16"), e.getMessage());
            }
        }
    }
}

package dev.lowbit.kernels;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.kernels.impl.VectorMatmulKernels;
import dev.lowbit.kernels.impl.WeightRows;
import dev.lowbit.bindings.nativelib.NativeLibrary.Tier;
import dev.lowbit.testkit.Bounds;
import dev.lowbit.testkit.Formats;
import dev.lowbit.testkit.Inputs;
import dev.lowbit.testkit.MatmulTester;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ForkJoinPool;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Matmuls against the scalar reference and against an exact recomputation in double from the reference
 * unpack: integer sums bit for bit, fp32 results within the rounding that their order allows.
 */
class MatmulTest {
    static List<QuantFormat> intFormats() {
        return Formats.integerPath();
    }

    static List<QuantFormat> allFormats() {
        return Formats.all();
    }

    static MatmulKernels vectorOrSkip() {
        String why = KernelProvider.vectorUnavailable();
        Assumptions.assumeTrue(why == null, "skipped: " + why);
        return KernelProvider.vectorMatmul();
    }

    static MatmulOps ops(MatmulKernels k) {
        return Kit.ops(k);
    }

    static QuantizedTensor weights(QuantFormat f, int rows, int k, long seed, boolean outliers, Arena arena) {
        return Kit.weights(f, rows, k, seed, outliers, arena);
    }

    /**
     * The implementations beside the scalar reference: the Vector API at this JVM's width and native C at every
     * tier. Native runs in the default JVM only, as its results do not depend on the Vector API's width.
     */
    static List<String> implementations() {
        List<String> out = new ArrayList<>(List.of("vector"));
        if (System.getProperty("lowbit.vector.maxBits") == null) {
            for (Tier t : Tier.values()) {
                out.add(t.name());
            }
        }
        return out;
    }

    /** The kernels called {@code impl}, or the test is skipped with the reason. */
    static MatmulKernels kernelsOrSkip(String impl) {
        return impl.equals("vector") ? vectorOrSkip() : NativeMatmulTest.kernelsOrSkip(Tier.valueOf(impl));
    }

    static Stream<Arguments> implementationsAndIntFormats() {
        return implementations().stream().flatMap(i -> intFormats().stream().map(f -> Arguments.of(i, f)));
    }

    static Stream<Arguments> implementationsAndAllFormats() {
        return implementations().stream().flatMap(i -> allFormats().stream().map(f -> Arguments.of(i, f)));
    }

    /**
     * Every implementation within the bound of its order on every row length of {@link MatmulTester#K}, with partial
     * tiles and both kinds of activations, outliers from k = 65 on (the reference too, beside the vector kernels);
     * native C with the reference's bits besides.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("implementationsAndIntFormats")
    void integerPathWithinTheBoundOfItsOrder(String impl, QuantFormat f) {
        MatmulOps candidate = ops(kernelsOrSkip(impl));
        boolean vector = impl.equals("vector");
        MatmulTester tester = Kit.tester(impl).format(f).rows(1, 3, 4, 9, 17).tokens(1, 2, 3, 5, 7);
        if (vector) {
            tester.boundTheReference();
        }
        tester.testInt8(Kit.int8(Kit.scalar()), Kit.int8(candidate),
                vector ? MatmulTester.Check.BOUND : MatmulTester.Check.BITS_AND_BOUND);
    }

    static List<QuantFormat> centeredFormats() {
        return intFormats().stream().filter(WeightRows::centered).toList();
    }

    /**
     * Centered codes (Q8_0, Q4_0, symmetric grouped) scale and add block sums in the reference's order,
     * so the vector kernels give the reference's bits, real scales and outliers included: row counts
     * that leave partial tiles and panels, k with partial blocks, and n on both sides of a token vector (8
     * lanes at 256 bits, 16 at 512). Below 5 tokens they take the GEMV rows, which scale in lanes.
     */
    @ParameterizedTest
    @MethodSource("centeredFormats")
    void centeredCodesMatchTheReferenceBitForBit(QuantFormat f) {
        MatmulOps vector = ops(vectorOrSkip());
        // Below 5 tokens the GEMV rows scale in lanes: within the bound, checked above.
        Kit.tester("vector").format(f).k(31, 33, 300, 1000).rows(1, 7, 33, 41).tokens(5, 8, 33)
                .weightSeed((k, rows) -> k * 7L + rows).inputSeed((k, n) -> k * 3L + n)
                .testInt8(Kit.int8(Kit.scalar()), Kit.int8(vector), MatmulTester.Check.BITS);
    }

    /**
     * With unit scales every partial sum is an integer, so any order of additions is exact as long as
     * no intermediate sum is lost: the vector kernels must then equal the reference's values (a zero's sign may
     * differ, as padding codes differ between decoders). This pins down the integer accumulation itself, codes and
     * activations over their full ranges.
     */
    @ParameterizedTest
    @MethodSource("intFormats")
    void integerSumsAreExact(QuantFormat f) {
        Kit.tester("vector").format(f).k(31, 32, 97, 300, 1000).rows(6).tokens(4)
                .testExactSums(Kit.int8(Kit.scalar()), Kit.int8(ops(vectorOrSkip())), MatmulTester.Check.VALUES);
    }

    /**
     * Centered codes (Q8_0, Q4_0, symmetric grouped) with fewer tokens than TokenLaneGemm takes: a row at a
     * time, lane l holding the exact sum
     * of w_j x_j over the block's elements j = l mod L, scaled in its lane block after block, the lanes then
     * added first to last. Emulated here lane by lane, so the kernel must give these bits, whatever
     * arithmetic it forms the lane sums with (the Q4_0 kernel uses int16 lanes).
     */
    @Test
    void gemvRowsFollowTheirLaneOrderBitForBit() {
        MatmulKernels vector = vectorOrSkip();
        int lanes = VectorMatmulKernels.F.length();
        SplittableRandom rnd = new SplittableRandom(41);
        try (Arena arena = Arena.ofConfined()) {
            for (QuantFormat f : List.of(QuantFormat.Q8_0, QuantFormat.Q4_0,
                    QuantFormat.grouped(8, 32, true, ScaleType.F16), QuantFormat.grouped(8, QuantFormat.ROW, true, ScaleType.F32),
                    QuantFormat.grouped(4, 64, true, ScaleType.F16), QuantFormat.grouped(4, 128, true, ScaleType.F32))) {
                int top = f.kind() == QuantFormat.Kind.GROUPED ? 1 << f.bits() : f == QuantFormat.Q8_0 ? 256 : 16;
                for (int k : new int[] {31, 64, 97, 300, 1024}) {
                    // Activations over [-128, 127], and over [-127, 127] as lowbit's quantizers make them (the
                    // Q8_0 rows then take int16 lanes); extreme: the largest magnitudes everywhere.
                    for (int mode = 0; mode < 4; mode++) {
                        boolean extreme = mode >= 2;
                        int lowest = mode % 2 == 0 ? -128 : -127;
                        int rows = 5;
                        int n = 3;
                        int pk = QuantizedActivations.paddedK(k);
                        int[] codes = new int[rows * k];
                        for (int i = 0; i < codes.length; i++) {
                            codes[i] = extreme ? 0 : rnd.nextInt(top);
                        }
                        float[] scales = new float[rows * f.groupsPerRow(k)];
                        for (int g = 0; g < scales.length; g++) {
                            scales[g] = Float.float16ToFloat(Float.floatToFloat16((float) rnd.nextDouble(0.01, 2)));
                        }
                        if (f == QuantFormat.Q8_0) {
                            for (int i = 0; i < codes.length; i++) {
                                codes[i] -= 128; // extreme: -128 everywhere
                            }
                        }
                        QuantizedTensor w = Reference.pack(f, rows, k, codes, scales, null, null, arena);
                        byte[] xc = new byte[n * pk];
                        float[] xs = new float[n * (pk / 32)];
                        for (int t = 0; t < n; t++) {
                            for (int c = 0; c < k; c++) {
                                xc[t * pk + c] = (byte) (extreme ? lowest : rnd.nextInt(lowest, 128));
                            }
                        }
                        for (int i = 0; i < xs.length; i++) {
                            xs[i] = (float) rnd.nextDouble(0.001, 1);
                        }
                        QuantizedActivations x = new QuantizedActivations(ActivationFormat.Q8_0, n, k, xc, xs);
                        float[] got = new float[n * rows];
                        vector.gemmInt8(w, x, 0, rows, 0, n, got, rows);
                        for (int t = 0; t < n; t++) {
                            for (int r = 0; r < rows; r++) {
                                float[] acc = new float[lanes];
                                for (int b = 0; b < pk / 32; b++) {
                                    int g = b * 32 / f.groupLength(k);
                                    float c = Reference.scale(w, r, g) * x.scale(t, b);
                                    int zero = f == QuantFormat.Q4_0 ? 8 : (int) Reference.zero(w, r, g);
                                    for (int l = 0; l < lanes; l++) {
                                        long lane = 0;
                                        for (int j = 0; j < 32; j++) {
                                            if (laneOf(f, k, j, lanes) != l) {
                                                continue;
                                            }
                                            int col = b * 32 + j;
                                            int wv = col < k ? Reference.code(w, r, col) - zero : 0;
                                            lane += (long) wv * xc[t * pk + col];
                                        }
                                        acc[l] = Math.fma((float) lane, c, acc[l]);
                                    }
                                }
                                float want = 0f;
                                for (float a : acc) {
                                    want += a;
                                }
                                assertEquals(want, got[t * rows + r], 0f, f + " k=" + k + " mode=" + mode
                                        + " token " + t + " row " + r);
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * Q4_1 and asymmetric 8-bit rows: the GEMV rows (fewer than 5 tokens, straight from memory) pair codes
     * with activations in the lanes as the GEMM does, so a token's result is the same bits either way.
     */
    @Test
    void asymmetricGemvRowsEqualTheGemmBitForBit() {
        MatmulKernels vector = vectorOrSkip();
        try (Arena arena = Arena.ofConfined()) {
            for (QuantFormat f : List.of(QuantFormat.Q4_1, QuantFormat.grouped(8, 32, false, ScaleType.F16),
                    QuantFormat.grouped(8, QuantFormat.ROW, false, ScaleType.F32))) {
                for (int k : new int[] {31, 64, 300, 1024}) {
                    if (f.kind() == QuantFormat.Kind.GROUPED && k % 32 != 0) {
                        continue; // decoded rows: the GEMM's own code
                    }
                    int rows = 9;
                    QuantizedTensor w = weights(f, rows, k, 5L * k, k > 64, arena);
                    MatmulOps ops = ops(vector);
                    float[] xv = Inputs.gaussian(k + 11L, 5 * k);
                    QuantizedActivations x5 = ops.quantizeActivations(xv, 5, k, ActivationFormat.Q8_0);
                    float[] y5 = new float[5 * rows];
                    ops.gemm(PackedWeights.of(w), x5, y5);
                    for (int n = 1; n < 5; n++) {
                        QuantizedActivations xn = ops.quantizeActivations(java.util.Arrays.copyOf(xv, n * k), n, k,
                                ActivationFormat.Q8_0);
                        float[] yn = new float[n * rows];
                        ops.gemm(PackedWeights.of(w), xn, yn);
                        for (int i = 0; i < yn.length; i++) {
                            assertEquals(y5[i], yn[i], 0f, f + " k=" + k + " n=" + n + " y[" + i + "]");
                        }
                    }
                }
            }
        }
    }

    /**
     * The lane that holds element j of a block in the GEMV rows: byte j % 16 of a Q4_0 block holds elements j
     * and j + 16; byte j / 2 of a 4-bit grouped row of whole blocks holds elements j and j + 1 (its lanes take
     * the activations in that pairing); everything else is in element order.
     */
    private static int laneOf(QuantFormat f, int k, int j, int lanes) {
        if (f == QuantFormat.Q4_0) {
            return (j % 16) % lanes;
        }
        if (f.kind() == QuantFormat.Kind.GROUPED && f.bits() == 4 && k % 32 == 0) {
            return (j / 2) % lanes;
        }
        return j % lanes;
    }

    /** {@link Bounds#checkAgainstExact} on lowbit's activations. */
    static void checkAgainstExact(QuantizedTensor w, QuantizedActivations x, float[] y, String what) {
        Bounds.checkAgainstExact(w, Kit.view(x), y, what);
    }

    /**
     * Every format's weight-only path within the reordering bound ({@link Bounds#checkFp32AgainstExact}), the reference
     * too beside the vector kernels; generic C with the reference's bits besides.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("implementationsAndAllFormats")
    void fp32PathWithinTheReorderingBound(String impl, QuantFormat f) {
        MatmulOps candidate = ops(kernelsOrSkip(impl));
        MatmulTester tester = Kit.tester(impl).format(f).rows(3).tokens(2).weightSeed((k, rows) -> k)
                .inputSeed((k, n) -> k + 7);
        if (impl.equals("vector")) {
            tester.boundTheReference();
        }
        tester.testF32(Kit.f32(Kit.scalar()), Kit.f32(candidate), impl.equals(Tier.GENERIC.name())
                ? MatmulTester.Check.BITS_AND_BOUND : MatmulTester.Check.BOUND);
    }

    /** {@link Bounds#checkFp32AgainstExact}. */
    static void checkFp32AgainstExact(QuantizedTensor w, float[] x, int n, float[] y, String what) {
        Bounds.checkFp32AgainstExact(w, x, n, y, what);
    }

    /**
     * Every weight code at Q8_0's, Q4_0's and 8-bit grouped's extremes and every activation code at -128 or 127,
     * over k = 4096: each block sums 32 * 16384 = 524288 in magnitude, and the row 128 such blocks.
     */
    @Test
    void largestMagnitudesDoNotOverflow() {
        Kit.tester(KernelProvider.matmul().name()).formats(List.of(QuantFormat.Q8_0, QuantFormat.Q4_0,
                QuantFormat.grouped(8, 128, true, ScaleType.F32))).k(4096).rows(2).tokens(1)
                .testExtremes(Kit.int8(Kit.scalar()), Kit.int8(ops(KernelProvider.matmul())));
    }

    @Test
    void resultDoesNotDependOnThreads() {
        try (ThreadPool pool = ThreadPool.forkJoin(2)) {
            threadsChangeNoBit(pool, "2 threads", 1, 8, 130);
        }
    }

    /** On a {@link ThreadPool.Workers} pool: one piece per thread when small, up to 4 per thread when large. */
    @Test
    void resultDoesNotDependOnThreadsOnWorkers() {
        try (ThreadPool pool = new ThreadPool.Workers(2)) {
            threadsChangeNoBit(pool, "2 workers", 1, 8, 130, 300);
        }
    }

    /** Q4_0, 257 rows of 1031 with outliers: one thread against {@code pool}, integer and fp32 paths. */
    private static void threadsChangeNoBit(ThreadPool pool, String threads, int... tokens) {
        MatmulOps one = ops(KernelProvider.matmul());
        MatmulOps many = new MatmulOps(KernelProvider.matmul(), KernelProvider.kernels(), pool);
        MatmulTester tester = Kit.tester(KernelProvider.matmul().name() + ", 1 thread vs " + threads)
                .format(QuantFormat.Q4_0).k(1031).rows(257).tokens(tokens).weightSeed((k, rows) -> 5)
                .outliers(k -> true).inputSeed((k, n) -> n);
        tester.testThreadIndependence(Kit.int8(one, ActivationFormat.Q8_0), Kit.int8(many, ActivationFormat.Q8_0));
        tester.testThreadIndependence(Kit.f32(one), Kit.f32(many));
    }

    @Test
    void activationQuantization() {
        int k = 70;
        float[] x = Inputs.gaussian(3, 2 * k);
        MatmulOps m = MatmulOps.get();
        QuantizedActivations q8 = m.quantizeActivations(x, 2, k, ActivationFormat.Q8_0);
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor ref = QuantOps.get().quantize(QuantFormat.Q8_0, x, 2, k, arena);
            for (int t = 0; t < 2; t++) {
                for (int c = 0; c < 96; c++) {
                    assertEquals(c < k ? Reference.code(ref, t, c) : 0, q8.codes()[t * 96 + c], "code " + t + "," + c);
                }
                for (int b = 0; b < 3; b++) {
                    assertEquals(Reference.scale(ref, t, b), q8.scale(t, b));
                }
            }
        }
        QuantizedActivations pt = m.quantizeActivations(x, 2, k, ActivationFormat.PER_TOKEN_INT8);
        for (int t = 0; t < 2; t++) {
            float absmax = 0f;
            for (int c = 0; c < k; c++) {
                absmax = Math.max(absmax, Math.abs(x[t * k + c]));
            }
            float d = pt.scale(t, 0);
            assertEquals(absmax / 127f, d, Math.ulp(absmax / 127f), "per-token scale");
            for (int c = 0; c < k; c++) {
                assertEquals((int) Math.rint(x[t * k + c] / d), pt.codes()[t * 96 + c], "code " + c);
            }
        }
        float[] bad = x.clone();
        bad[k + 5] = Float.NaN;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> m.quantizeActivations(bad, 2, k, ActivationFormat.Q8_0));
        assertTrue(e.getMessage().contains("index " + (k + 5)), e.getMessage());
    }

    @Test
    void mismatchesAreRefusedBeforeWork() {
        MatmulOps m = MatmulOps.get();
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor w = weights(QuantFormat.Q8_0, 4, 64, 1, false, arena);
            QuantizedActivations x = m.quantizeActivations(new float[2 * 64], 2, 64, ActivationFormat.Q8_0);
            QuantizedActivations wrongK = m.quantizeActivations(new float[2 * 32], 2, 32, ActivationFormat.Q8_0);
            float[] y = new float[8];
            float[] keep = y.clone();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                    m.gemm(PackedWeights.of(w), wrongK, y));
            assertTrue(e.getMessage().contains("k=32"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> m.gemm(PackedWeights.of(w), x, new float[7]));
            assertThrows(IllegalArgumentException.class, () -> m.gemm(PackedWeights.of(w), new float[127], 2, y));
            assertThrows(IllegalArgumentException.class, () ->
                    m.gemm(PackedWeights.of(w), new float[128], 2, new float[9]));
            assertThrows(IllegalArgumentException.class, () -> m.gemm(PackedWeights.of(w), new float[128], -2, y));
            QuantizedTensor cb = weights(QuantFormat.codebook4(64, ScaleType.F16), 4, 64, 2, false, arena);
            e = assertThrows(IllegalArgumentException.class, () -> m.gemm(PackedWeights.of(cb), x, y));
            assertTrue(e.getMessage().contains("fp32 path"), e.getMessage());
            QuantizedTensor int2 = weights(QuantFormat.grouped(2, 64, false, ScaleType.F16), 4, 64, 3, false, arena);
            assertThrows(IllegalArgumentException.class, () -> m.gemm(PackedWeights.of(int2), x, y));
            assertTrue(java.util.Arrays.equals(keep, y), "nothing was written");
        }
    }

    @Test
    void randomShapesWithFreshSeeds() {
        long seed = new SplittableRandom().nextLong();
        SplittableRandom r = new SplittableRandom(seed);
        MatmulOps vector = ops(vectorOrSkip());
        MatmulOps scalar = ops(KernelProvider.scalarMatmul());
        List<QuantFormat> formats = intFormats();
        try (Arena arena = Arena.ofShared()) {
            for (int i = 0; i < 20; i++) {
                QuantFormat f = formats.get(r.nextInt(formats.size()));
                int rows = 1 + r.nextInt(9);
                int k = 1 + r.nextInt(700);
                int n = 1 + r.nextInt(6);
                QuantizedTensor w = weights(f, rows, k, r.nextLong(), r.nextBoolean() && k > 40, arena);
                QuantizedActivations x = scalar.quantizeActivations(Inputs.gaussian(r.nextLong(), n * k), n, k,
                        r.nextBoolean() ? ActivationFormat.Q8_0 : ActivationFormat.PER_TOKEN_INT8);
                float[] a = new float[n * rows];
                float[] b = new float[n * rows];
                scalar.gemm(PackedWeights.of(w), x, a);
                vector.gemm(PackedWeights.of(w), x, b);
                String what = "seed " + seed + ": " + f + " rows=" + rows + " k=" + k + " n=" + n;
                checkAgainstExact(w, x, a, "scalar, " + what);
                checkAgainstExact(w, x, b, "vector, " + what);
            }
        }
    }
}

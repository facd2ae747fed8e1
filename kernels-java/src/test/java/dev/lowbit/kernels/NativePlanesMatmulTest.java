package dev.lowbit.kernels;

import dev.lowbit.format.Codebooks;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.bindings.nativelib.GuardPages;
import dev.lowbit.bindings.nativelib.NativeLibrary;
import dev.lowbit.bindings.nativelib.NativeLibrary.Tier;
import dev.lowbit.bindings.nativelib.NativeMatmul;
import dev.lowbit.kernels.impl.NativeMatmulKernels;
import dev.lowbit.kernels.impl.WeightRows;
import dev.lowbit.testkit.Inputs;
import dev.lowbit.testkit.Formats;
import dev.lowbit.testkit.MatmulTester;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The native matmuls of Q4_1, grouped integer planes and 4-bit codebooks ({@link NativeMatmul}) at every
 * tier this CPU runs, against the scalar reference: the integer path bit for bit at every tier, the weight-only
 * path bit for bit in generic C and within {@link MatmulTest#checkFp32AgainstExact}'s bound with AVX2 and
 * AVX-512; every result independent of how rows and tokens are cut; buffers against guard pages.
 */
class NativePlanesMatmulTest {
    private static final int[] K = {1, 31, 33, 64, 65, 129, 200, 300};
    private static final int[] ROWS = {1, 4, 6, 9};
    private static final int[] N = {1, 2, 3, 5};

    /** Q4_1 and grouped 4- and 8-bit weights: every group size, symmetric or not, fp16 or fp32 scales. */
    static List<QuantFormat> intFormats() {
        return Formats.groupedIntegerPath();
    }

    /** Q4_1, grouped 2-, 3-, 4- and 8-bit weights and 4-bit codebooks, in every variant. */
    static List<QuantFormat> f32Formats() {
        return Formats.groupedWeightOnly();
    }

    private static MatmulOps scalar() {
        return MatmulTest.ops(KernelProvider.scalarMatmul());
    }

    /** The reference's bits at every tier, and the same bits for rows cut at rows / 3 and tokens one by one. */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void integerPathEqualsTheReferenceBitForBit(Tier tier) {
        NativeMatmulKernels nk = NativeMatmulTest.kernelsOrSkip(tier);
        int checked = Kit.tester(tier.toString()).formats(intFormats()).k(K).rows(ROWS).tokens(N)
                .splitInThirds(Kit.int8Range(nk))
                .testInt8(Kit.int8(scalar()), Kit.int8(MatmulTest.ops(nk)), MatmulTester.Check.BITS);
        assertTrue(checked > 0);
    }

    /**
     * Codes drawn over their whole range with the extremes forced, activations over -128..127, arbitrary scales
     * and (asymmetric) zero points that are not integers: the fp32 steps and the int32 sums together.
     */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void integerPathWithFullRangeCodesAndOddZeroPoints(Tier tier) {
        MatmulOps nat = MatmulTest.ops(NativeMatmulTest.kernelsOrSkip(tier));
        MatmulOps scalar = scalar();
        try (Arena arena = Arena.ofShared()) {
            for (QuantFormat f : intFormats()) {
                SplittableRandom rnd = new SplittableRandom(f.name().hashCode() * 31L + tier.ordinal());
                for (int k : new int[] {31, 97, 300}) {
                    int rows = 7;
                    int n = 3;
                    QuantizedTensor w = randomWeights(f, rows, k, rnd, arena);
                    for (ActivationFormat af : ActivationFormat.values()) {
                        if (af == ActivationFormat.Q8_K) {
                            continue; // the activations of the K-quants only
                        }
                        QuantizedActivations x = randomActivations(af, n, k, rnd);
                        float[] a = new float[n * rows];
                        float[] b = new float[n * rows];
                        scalar.gemm(PackedWeights.of(w), x, a);
                        nat.gemm(PackedWeights.of(w), x, b);
                        NativeMatmulTest.assertSameBits(a, b, tier + " " + f + " " + af + " k=" + k);
                    }
                }
            }
        }
    }

    /** Codes over their whole range (extremes forced), scales in (0.01, 2), zero points anywhere in the range. */
    static QuantizedTensor randomWeights(QuantFormat f, int rows, int k, SplittableRandom rnd, Arena arena) {
        int[] codes = new int[rows * k];
        int max = f.maxCode();
        for (int i = 0; i < codes.length; i++) {
            codes[i] = rnd.nextInt(max + 1);
        }
        codes[0] = 0;
        codes[codes.length - 1] = max;
        int gs = rows * f.groupsPerRow(k);
        float[] scales = new float[gs];
        float[] zeros = f.kind() == QuantFormat.Kind.Q4_1 || f.hasZeroPlane() ? new float[gs] : null;
        for (int g = 0; g < gs; g++) {
            scales[g] = f.scaleType().round((float) rnd.nextDouble(0.01, 2));
            if (zeros != null) {
                zeros[g] = f.scaleType().round((float) rnd.nextDouble(f.kind() == QuantFormat.Kind.Q4_1 ? -3 : 0,
                        f.kind() == QuantFormat.Kind.Q4_1 ? 1 : max));
            }
        }
        float[] levels = f.kind() == QuantFormat.Kind.CODEBOOK4 ? Codebooks.nf4() : null;
        return Reference.pack(f, rows, k, codes, scales, zeros, levels, arena);
    }

    private static QuantizedActivations randomActivations(ActivationFormat af, int n, int k, SplittableRandom rnd) {
        int pk = QuantizedActivations.paddedK(k);
        byte[] xc = new byte[n * pk];
        for (int t = 0; t < n; t++) {
            for (int c = 0; c < k; c++) {
                xc[t * pk + c] = (byte) rnd.nextInt(-128, 128);
            }
            xc[t * pk] = -128;
            xc[t * pk + k - 1] = 127;
        }
        float[] xs = new float[af == ActivationFormat.Q8_0 ? n * (pk / 32) : n];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = Float.float16ToFloat(Float.floatToFloat16((float) rnd.nextDouble(0.001, 0.1)));
        }
        return new QuantizedActivations(af, n, k, xc, xs);
    }

    /**
     * Unit scales, every weight code at one extreme and every activation -128 or 127 over k = 4096: each block sums
     * 32 * 128 * 128 = 2^19 (8-bit) in magnitude, which overflows any 16-bit intermediate; the results are exact
     * integers, known in advance for the centered formats.
     */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void largestMagnitudesDoNotOverflow(Tier tier) {
        Kit.tester(tier.toString()).formats(intFormats()).k(4096).rows(5).tokens(3)
                .testExtremes(Kit.int8(scalar()), Kit.int8(MatmulTest.ops(NativeMatmulTest.kernelsOrSkip(tier))));
    }

    /**
     * Weight-only path: generic C gives the reference's bits; AVX2 and AVX-512 stay within the reordering bound;
     * every tier gives the same bits for any cut of rows and tokens.
     */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void fp32PathAgainstTheReference(Tier tier) {
        NativeMatmulKernels nk = NativeMatmulTest.kernelsOrSkip(tier);
        Kit.tester(tier.toString()).formats(f32Formats()).k(0, 1, 7, 15, 17, 31, 33, 64, 65, 129, 200, 300)
                .rows(1, 3, 5).tokens(N).weightSeed((k, rows) -> k * 7L + rows).inputSeed((k, n) -> k + 7 + n)
                .splitF32InThirds(Kit.f32Range(nk))
                .testF32(Kit.f32(scalar()), Kit.f32(MatmulTest.ops(nk)),
                        tier == Tier.GENERIC ? MatmulTester.Check.BITS_AND_BOUND : MatmulTester.Check.BOUND);
    }

    /** Weight-only path with codes over their whole range, odd zero points and large activations. */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void fp32PathWithFullRangeCodes(Tier tier) {
        MatmulOps nat = MatmulTest.ops(NativeMatmulTest.kernelsOrSkip(tier));
        MatmulOps scalar = scalar();
        try (Arena arena = Arena.ofShared()) {
            for (QuantFormat f : f32Formats()) {
                SplittableRandom rnd = new SplittableRandom(f.name().hashCode() + 7L * tier.ordinal());
                for (int k : new int[] {47, 256, 1000}) {
                    int rows = 3;
                    int n = 5;
                    QuantizedTensor w = randomWeights(f, rows, k, rnd, arena);
                    float[] x = new float[n * k];
                    for (int i = 0; i < x.length; i++) {
                        x[i] = (float) rnd.nextDouble(-1000, 1000);
                    }
                    float[] a = new float[n * rows];
                    float[] b = new float[n * rows];
                    scalar.gemm(PackedWeights.of(w), x, n, a);
                    nat.gemm(PackedWeights.of(w), x, n, b);
                    String what = tier + " " + f + " k=" + k;
                    if (tier == Tier.GENERIC) {
                        NativeMatmulTest.assertSameBits(a, b, what);
                    }
                    MatmulTest.checkFp32AgainstExact(w, x, n, b, what);
                }
            }
        }
    }

    /** Outliers are added after the call, in the reference's order: on the integer path its bits exactly. */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void outliersAreAdded(Tier tier) {
        NativeMatmulKernels nk = NativeMatmulTest.kernelsOrSkip(tier);
        MatmulOps nat = MatmulTest.ops(nk);
        MatmulOps scalar = scalar();
        int rows = 6;
        int k = 97;
        int n = 3;
        try (Arena arena = Arena.ofShared()) {
            for (QuantFormat f : f32Formats()) {
                QuantizedTensor w = MatmulTest.weights(f, rows, k, 11, true, arena);
                assertTrue(w.outliers() != null && w.outliers().rowPtr(rows) >= 2, "outliers exist");
                float[] x = Inputs.gaussian(5, n * k);
                float[] a = new float[n * rows];
                float[] b = new float[n * rows];
                nat.gemm(PackedWeights.of(w), x, n, b);
                MatmulTest.checkFp32AgainstExact(w, x, n, b, tier + " " + f + " fp32 path with outliers");
                if (tier == Tier.GENERIC) {
                    scalar.gemm(PackedWeights.of(w), x, n, a);
                    NativeMatmulTest.assertSameBits(a, b, tier + " " + f + " fp32 path with outliers");
                }
                if (WeightRows.intPath(f)) {
                    QuantizedActivations xq = scalar.quantizeActivations(x, n, k, ActivationFormat.Q8_0);
                    scalar.gemm(PackedWeights.of(w), xq, a);
                    nat.gemm(PackedWeights.of(w), xq, b);
                    NativeMatmulTest.assertSameBits(a, b, tier + " " + f + " integer path with outliers");
                    // Without them the result differs: they were counted.
                    nat.gemm(PackedWeights.of(w.withOutliers(null)), xq, b);
                    assertTrue(!Arrays.equals(a, b), f + ": outliers make a difference");
                }
            }
        }
    }

    /**
     * Every plane, the activations and the outputs end exactly at a PROT_NONE page: reading or writing one byte
     * past any of them crashes the JVM instead of passing.
     */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void buffersEndAtGuardPages(Tier tier) {
        NativeMatmulKernels nk = NativeMatmulTest.kernelsOrSkip(tier);
        NativeMatmul calls = NativeMatmul.of(tier);
        MatmulOps scalar = scalar();
        try (Arena arena = Arena.ofShared(); GuardPages guard = new GuardPages()) {
            for (QuantFormat f : f32Formats()) {
                for (int k : new int[] {1, 33, 100}) {
                    for (int rows : new int[] {1, 5}) {
                        for (int n : new int[] {1, 3}) {
                            QuantizedTensor w = MatmulTest.weights(f, rows, k, rows * 7L + k, false, arena);
                            String what = tier + " " + f + " guarded, rows=" + rows + " n=" + n + " k=" + k;
                            MemorySegment gw = guard.copyEndingAtGuard(w.data());
                            MemorySegment gs = w.scales() == null ? null : guard.copyEndingAtGuard(w.scales());
                            MemorySegment gz = w.zeros() == null ? null : guard.copyEndingAtGuard(w.zeros());
                            MemorySegment gl = w.levels() == null ? null
                                    : guard.copyEndingAtGuard(MemorySegment.ofArray(w.levels()));
                            if (NativeMatmul.takesInt8(f)) {
                                QuantizedActivations x = scalar.quantizeActivations(Inputs.gaussian(k, n * k), n, k,
                                        ActivationFormat.Q8_0);
                                float[] want = new float[n * rows];
                                scalar.gemm(PackedWeights.of(w), x, want);
                                MemorySegment gx = guard.copyEndingAtGuard(MemorySegment.ofArray(x.codes()));
                                MemorySegment gxs = guard.copyEndingAtGuard(MemorySegment.ofArray(x.scales()));
                                MemorySegment gy = guard.endingAtGuard(4L * want.length);
                                calls.gemmInt8(f, k, gw, gs, gz, gx, gxs, x.scalesPerToken(), 1, 0, rows, 0, n, gy, rows);
                                NativeMatmulTest.assertSameBits(want, gy.toArray(ValueLayout.JAVA_FLOAT), what + ", integer path");
                            }
                            float[] x = Inputs.gaussian(k + 1, n * k);
                            float[] want = new float[n * rows];
                            nk.gemmF32(w, x, 0, rows, 0, n, want, rows);
                            MemorySegment gx = guard.copyEndingAtGuard(MemorySegment.ofArray(x));
                            MemorySegment gy = guard.endingAtGuard(4L * want.length);
                            calls.gemmF32(f, k, gw, gs, gz, gl, gx, 0, rows, 0, n, gy, rows);
                            NativeMatmulTest.assertSameBits(want, gy.toArray(ValueLayout.JAVA_FLOAT), what + ", fp32 path");
                        }
                    }
                }
            }
        }
    }

    /** A range bigger than one downcall's share ({@link NativeMatmul#MAX_MACS}) is cut; results stay the same. */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void longRangesAreCutIntoShortCalls(Tier tier) {
        NativeMatmulKernels nk = NativeMatmulTest.kernelsOrSkip(tier);
        int rows = 203;
        int k = 4096;
        int n = 11;
        assertTrue((long) rows * n * k > NativeMatmul.MAX_MACS);
        try (Arena arena = Arena.ofShared()) {
            for (QuantFormat f : List.of(QuantFormat.grouped(4, 64, false, ScaleType.F16), QuantFormat.Q4_1)) {
                QuantizedTensor w = MatmulTest.weights(f, rows, k, 9, false, arena);
                QuantizedActivations x = scalar().quantizeActivations(Inputs.gaussian(3, n * k), n, k,
                        ActivationFormat.Q8_0);
                float[] a = new float[n * rows];
                float[] b = new float[n * rows];
                KernelProvider.scalarMatmul().gemmInt8(w, x, 0, rows, 0, n, a, rows);
                nk.gemmInt8(w, x, 0, rows, 0, n, b, rows);
                NativeMatmulTest.assertSameBits(a, b, tier + " " + f + " one request of " + (long) rows * n * k + " multiply-adds");
                float[] xf = Inputs.gaussian(4, n * k);
                nk.gemmF32(w, xf, 0, rows, 0, n, a, rows);
                for (int r = 0; r < rows; r++) {
                    nk.gemmF32(w, xf, r, r + 1, 0, n, b, rows);
                }
                NativeMatmulTest.assertSameBits(b, a, tier + " " + f + " fp32 path, one request against row by row");
            }
        }
    }

    /** Every format of both paths has a native kernel (the fallback is left for none). */
    @Test
    void theseFormatsRunNatively() {
        Assumptions.assumeTrue(NativeLibrary.available(),
                () -> "skipped: the native library is not available: " + NativeLibrary.unavailableReason());
        NativeMatmulKernels nk = NativeMatmulKernels.forTier(NativeLibrary.tier());
        assertEquals("native-" + NativeLibrary.tier().suffix(), nk.name());
        for (QuantFormat f : intFormats()) {
            assertTrue(NativeMatmul.takesInt8(f) && WeightRows.intPath(f), f.name());
        }
        for (QuantFormat f : f32Formats()) {
            assertTrue(NativeMatmul.takesF32(f), f.name());
        }
        assertTrue(!NativeMatmul.takesInt8(QuantFormat.grouped(3, 32, true, ScaleType.F16)));
        assertTrue(!NativeMatmul.takesInt8(QuantFormat.codebook4(32, ScaleType.F16)));
        assertTrue(!NativeMatmul.takesF32(QuantFormat.Q8_0));
    }

    @Test
    void argumentsAreCheckedBeforeTheCall() {
        Assumptions.assumeTrue(NativeLibrary.available(),
                () -> "skipped: the native library is not available: " + NativeLibrary.unavailableReason());
        NativeMatmul calls = NativeMatmul.selected();
        QuantFormat f = QuantFormat.grouped(4, 32, false, ScaleType.F16);
        QuantFormat cb = QuantFormat.codebook4(32, ScaleType.F32);
        int rows = 4;
        int k = 64;
        int n = 3;
        MemorySegment w = MemorySegment.ofArray(new byte[(int) (rows * f.rowBytes(k))]);
        MemorySegment s = MemorySegment.ofArray(new byte[rows * 2 * 2]);
        MemorySegment z = MemorySegment.ofArray(new byte[rows * 2 * 2]);
        MemorySegment s4 = MemorySegment.ofArray(new float[rows * 2]);
        MemorySegment lv = MemorySegment.ofArray(new float[16]);
        MemorySegment xc = MemorySegment.ofArray(new byte[n * k]);
        MemorySegment xs = MemorySegment.ofArray(new float[n * 2]);
        MemorySegment xf = MemorySegment.ofArray(new float[n * k]);
        float[] yArr = new float[n * rows];
        MemorySegment y = MemorySegment.ofArray(yArr);
        calls.gemmInt8(f, k, w, s, z, xc, xs, 2, 1, 0, rows, 0, n, y, rows); // fits
        calls.gemmF32(cb, k, w, s4, null, lv, xf, 0, rows, 0, n, y, rows);
        record Case(String name, Runnable call) { // name: what the message must say
        }
        List<Case> bad = List.of(
                new Case("not int3_sym_g32_f16", () -> calls.gemmInt8(QuantFormat.grouped(3, 32, true, ScaleType.F16), k, w, s, z, xc,
                        xs, 2, 1, 0, rows, 0, n, y, rows)),
                new Case("not q8_0", () -> calls.gemmF32(QuantFormat.Q8_0, k, w, s, z, null, xf, 0, rows, 0, n, y, rows)),
                new Case("data holds", () -> calls.gemmInt8(f, k, w, s, z, xc, xs, 2, 1, 0, 5, 0, n, y, 5)),
                new Case("scales holds", () -> calls.gemmInt8(f, k, w, s.asSlice(1), z, xc, xs, 2, 1, 0, rows, 0, n, y,
                        rows)),
                new Case("zeros holds", () -> calls.gemmInt8(f, k, w, s, z.asSlice(2), xc, xs, 2, 1, 0, rows, 0, n, y,
                        rows)),
                new Case("zeros", () -> calls.gemmInt8(f, k, w, s, null, xc, xs, 2, 1, 0, rows, 0, n, y, rows)),
                new Case("levels", () -> calls.gemmF32(cb, k, w, s4, null, null, xf, 0, rows, 0, n, y, rows)),
                new Case("levels holds", () -> calls.gemmF32(cb, k, w, s4, null, lv.asSlice(4), xf, 0, rows, 0, n, y,
                        rows)),
                new Case("k must", () -> calls.gemmInt8(f, -1, w, s, z, xc, xs, 2, 1, 0, rows, 0, n, y, rows)),
                new Case("r0=-1", () -> calls.gemmInt8(f, k, w, s, z, xc, xs, 2, 1, -1, rows, 0, n, y, rows)),
                new Case("t1=1", () -> calls.gemmF32(cb, k, w, s4, null, lv, xf, 0, rows, 2, 1, y, rows)),
                new Case("xc holds", () -> calls.gemmInt8(f, k, w, s, z, xc, xs, 2, 1, 0, rows, 0, 4, y, rows)),
                new Case("xs holds", () -> calls.gemmInt8(f, k, w, s, z, xc, xs, 3, 1, 0, rows, 0, n, y, rows)),
                new Case("xsBlk", () -> calls.gemmInt8(f, k, w, s, z, xc, xs, 2, 2, 0, rows, 0, n, y, rows)),
                new Case("x holds", () -> calls.gemmF32(cb, k, w, s4, null, lv, xf.asSlice(4), 0, rows, 0, n, y, rows)),
                new Case("ldy", () -> calls.gemmF32(cb, k, w, s4, null, lv, xf, 0, rows, 0, n, y, rows - 1)),
                new Case("y holds", () -> calls.gemmInt8(f, k, w, s, z, xc, xs, 2, 1, 0, rows, 0, n, y, rows + 1)),
                new Case("y must be writable", () -> calls.gemmF32(cb, k, w, s4, null, lv, xf, 0, rows, 0, n,
                        y.asReadOnly(), rows)),
                new Case("aligned", () -> calls.gemmF32(cb, k, w, s4, null, lv, MemorySegment.ofArray(
                        new byte[4 * n * k + 4]).asSlice(1, 4L * n * k), 0, rows, 0, n, y, rows)));
        Arrays.fill(yArr, 5f);
        for (Case c : bad) {
            Exception e = assertThrows(RuntimeException.class, c.call::run, c.name);
            assertTrue(e instanceof IllegalArgumentException || e instanceof NullPointerException,
                    c.name + ": " + e);
            if (e instanceof IllegalArgumentException) {
                assertTrue(e.getMessage().contains(c.name), c.name + ": " + e.getMessage());
            } else {
                assertTrue(String.valueOf(e.getMessage()).contains(c.name), c.name + ": " + e.getMessage());
            }
        }
        for (float v : yArr) {
            assertEquals(5f, v, "nothing was written");
        }
    }
}

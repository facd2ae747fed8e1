package dev.lowbit.kernels;

import dev.lowbit.bindings.nativelib.GuardPages;
import dev.lowbit.bindings.nativelib.NativeLibrary.Tier;
import dev.lowbit.bindings.nativelib.NativeMatmul;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.kernels.impl.NativeMatmulKernels;
import dev.lowbit.kernels.impl.ScalarMatmulKernels;
import dev.lowbit.testkit.Bounds;
import dev.lowbit.testkit.Ggml;
import dev.lowbit.testkit.Inputs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ForkJoinPool;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The native integer products of Q5_0, Q5_1, IQ4_NL (Q8_0 activations) and the K-quants Q2_K to Q6_K (Q8_K
 * activations) at every tier this CPU runs, against {@link ScalarMatmulKernels} bit for bit: the C kernels sum
 * exactly in int32 and take the reference's fp32 steps in its order. Weights are seeded random bytes with finite fp16
 * scales (every byte pattern is a valid block), ggml's own quantized rows where the ggml library is present, and
 * lowbit's quantized rows where its quantizer for the format exists.
 */
class NativeBlockMatmulTest {
    static final List<QuantFormat> FORMATS = List.of(QuantFormat.Q4_K, QuantFormat.Q6_K, QuantFormat.Q5_K,
            QuantFormat.Q3_K, QuantFormat.Q2_K, QuantFormat.Q5_0, QuantFormat.Q5_1, QuantFormat.IQ4_NL);
    private static final int[] K_SUPER = {256, 512, 4096};
    private static final int[] K_32 = {32, 64, 96, 160, 256, 512, 4096};
    private static final int[] ROWS = {1, 2, 3, 4, 5, 7, 8, 13, 37};

    private static boolean kQuant(QuantFormat f) {
        return f.groupSize() == 256;
    }

    /** The byte offsets of the fp16 fields of one block (super-block) of {@code f}. */
    private static int[] f16Fields(QuantFormat f) {
        return switch (f.kind()) {
            case Q5_0, IQ4_NL, Q3_K, Q6_K -> new int[] {f.kind() == QuantFormat.Kind.Q3_K ? 108
                    : f.kind() == QuantFormat.Kind.Q6_K ? 208 : 0};
            case Q5_1, Q4_K, Q5_K -> new int[] {0, 2};
            case Q2_K -> new int[] {80, 82};
            default -> throw new AssertionError(f);
        };
    }

    /** A finite fp16 value: normal ones from 2^-14 to 2^3, subnormals, zeros, either sign. */
    private static short finiteHalf(SplittableRandom rnd) {
        int sign = rnd.nextBoolean() ? 0x8000 : 0;
        int kind = rnd.nextInt(16);
        if (kind == 0) {
            return (short) sign;
        }
        if (kind == 1) {
            return (short) (sign | rnd.nextInt(1, 0x400)); // subnormal
        }
        return (short) (sign | rnd.nextInt(1, 18) << 10 | rnd.nextInt(0x400));
    }

    /** {@code rows} rows of random bytes, every fp16 field replaced by a finite value. */
    static byte[] randomBlocks(QuantFormat f, int rows, int k, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        byte[] b = new byte[(int) (rows * f.rowBytes(k))];
        rnd.nextBytes(b);
        int bb = f.kind().blockBytes();
        for (int o = 0; o < b.length; o += bb) {
            for (int field : f16Fields(f)) {
                short h = finiteHalf(rnd);
                b[o + field] = (byte) h;
                b[o + field + 1] = (byte) (h >> 8);
            }
        }
        return b;
    }

    static QuantizedTensor tensor(QuantFormat f, int rows, int k, byte[] bytes, Arena a) {
        MemorySegment data = a.allocate(Math.max(1, bytes.length), 64);
        MemorySegment.copy(bytes, 0, data, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return QuantizedTensor.of(f, rows, k, data, null, null, null);
    }

    /** {@code n} tokens of random codes over -128..127 with random finite scales of the format the weights take. */
    static QuantizedActivations activations(QuantFormat w, int n, int k, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        byte[] codes = new byte[n * k];
        rnd.nextBytes(codes);
        if (kQuant(w)) {
            float[] s = new float[n * k / 256];
            for (int i = 0; i < s.length; i++) {
                s[i] = (float) (rnd.nextDouble(-1, 1) * Math.pow(2, rnd.nextInt(-20, 4)));
            }
            return new QuantizedActivations(ActivationFormat.Q8_K, n, k, codes, s);
        }
        float[] s = new float[n * k / 32];
        for (int i = 0; i < s.length; i++) {
            s[i] = Float.float16ToFloat(finiteHalf(rnd));
        }
        return new QuantizedActivations(ActivationFormat.Q8_0, n, k, codes, s);
    }

    private static float[] reference(QuantizedTensor w, QuantizedActivations x) {
        float[] y = new float[x.n() * w.rows()];
        Kit.scalar().gemm(PackedWeights.of(w), x, y);
        return y;
    }

    private static int[] ks(QuantFormat f) {
        return kQuant(f) ? K_SUPER : K_32;
    }

    @ParameterizedTest
    @EnumSource(Tier.class)
    void randomBlocksGiveTheReferenceBits(Tier tier) {
        MatmulOps ops = Kit.ops(NativeMatmulTest.kernelsOrSkip(tier));
        long seed = 1;
        for (QuantFormat f : FORMATS) {
            for (int k : ks(f)) {
                for (int rows : ROWS) {
                    int n = 1 + (int) (seed % 5);
                    seed++;
                    try (Arena a = Arena.ofConfined()) {
                        QuantizedTensor w = tensor(f, rows, k, randomBlocks(f, rows, k, seed), a);
                        QuantizedActivations x = activations(f, n, k, seed + 1000);
                        float[] y = new float[n * rows];
                        ops.gemm(PackedWeights.of(w), x, y);
                        Bounds.assertSameBits(reference(w, x), y,
                                tier + " " + f + " k=" + k + " rows=" + rows + " n=" + n + " seed=" + seed);
                    }
                }
            }
        }
    }

    /** Every weight byte 0xFF or 0x00 and every activation -128 or 127: the sums at their extremes stay exact. */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void extremeCodesAreExact(Tier tier) {
        MatmulOps ops = Kit.ops(NativeMatmulTest.kernelsOrSkip(tier));
        for (QuantFormat f : FORMATS) {
            for (int fill : new int[] {0xFF, 0x00, 0x80, 0x7F}) {
                for (byte xc : new byte[] {-128, 127}) {
                    int k = 4096;
                    int rows = 5;
                    int n = 2;
                    byte[] b = randomBlocks(f, rows, k, 7);
                    byte[] e = new byte[b.length];
                    Arrays.fill(e, (byte) fill);
                    int bb = f.kind().blockBytes();
                    for (int o = 0; o < b.length; o += bb) { // the scales as before, every other byte at fill
                        for (int field : f16Fields(f)) {
                            e[o + field] = b[o + field];
                            e[o + field + 1] = b[o + field + 1];
                        }
                    }
                    QuantizedActivations r = activations(f, n, k, 8);
                    byte[] codes = new byte[n * k];
                    Arrays.fill(codes, xc);
                    QuantizedActivations x = new QuantizedActivations(r.format(), n, k, codes, r.scales());
                    try (Arena a = Arena.ofConfined()) {
                        QuantizedTensor w = tensor(f, rows, k, e, a);
                        float[] y = new float[n * rows];
                        ops.gemm(PackedWeights.of(w), x, y);
                        Bounds.assertSameBits(reference(w, x), y, tier + " " + f + " bytes 0x"
                                + Integer.toHexString(fill) + " x=" + xc);
                    }
                }
            }
        }
    }

    /** ggml's own blocks (ggml_quantize_chunk) and, where lowbit quantizes the format, lowbit's. */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void quantizedRowsGiveTheReferenceBits(Tier tier) {
        MatmulOps ops = Kit.ops(NativeMatmulTest.kernelsOrSkip(tier));
        boolean ggml = Ggml.unavailable() == null;
        for (QuantFormat f : FORMATS) {
            for (int k : new int[] {256, 4096}) {
                int rows = 11;
                int n = 3;
                long seed = 31L * k + f.kind().ordinal();
                float[] src = Inputs.gaussian(seed, rows * k);
                QuantizedActivations x = activations(f, n, k, seed + 1);
                try (Arena a = Arena.ofConfined()) {
                    if (ggml) {
                        Ggml.Type type = Ggml.Type.valueOf(f.kind().name());
                        QuantizedTensor w = tensor(f, rows, k, Ggml.get().quantize(type, src, rows, k), a);
                        float[] y = new float[n * rows];
                        ops.gemm(PackedWeights.of(w), x, y);
                        Bounds.assertSameBits(reference(w, x), y, tier + " " + f + " ggml's rows k=" + k);
                    }
                    QuantizedTensor w;
                    try {
                        w = Kit.QUANTIZE.quantize(f, src, rows, k, a);
                    } catch (UnsupportedOperationException notYet) {
                        continue; // lowbit has no quantizer for f yet
                    }
                    float[] y = new float[n * rows];
                    ops.gemm(PackedWeights.of(w), x, y);
                    Bounds.assertSameBits(reference(w, x), y, tier + " " + f + " lowbit's rows k=" + k);
                }
            }
        }
    }

    /**
     * Rows and tokens in sub-ranges, straight through the kernels: only those elements are written, each with the
     * reference's bits, whatever the cut (tiles of 4 rows start anywhere).
     */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void subRangesWriteOnlyTheirElements(Tier tier) {
        NativeMatmulKernels nk = NativeMatmulTest.kernelsOrSkip(tier);
        for (QuantFormat f : FORMATS) {
            int k = kQuant(f) ? 512 : 96;
            int rows = 23;
            int n = 5;
            try (Arena a = Arena.ofConfined()) {
                QuantizedTensor w = tensor(f, rows, k, randomBlocks(f, rows, k, 41), a);
                QuantizedActivations x = activations(f, n, k, 42);
                float[] want = reference(w, x);
                int[][] cuts = {{0, 23, 0, 5}, {1, 22, 1, 4}, {3, 10, 2, 3}, {5, 6, 0, 5}, {17, 23, 4, 5}, {7, 7, 0, 5}};
                for (int[] c : cuts) {
                    float[] y = new float[n * rows];
                    Arrays.fill(y, Float.NaN);
                    nk.gemmInt8(w, x, c[0], c[1], c[2], c[3], y, rows);
                    for (int t = 0; t < n; t++) {
                        for (int r = 0; r < rows; r++) {
                            int i = t * rows + r;
                            String where = tier + " " + f + " cut " + Arrays.toString(c) + " row " + r + " token " + t;
                            if (r >= c[0] && r < c[1] && t >= c[2] && t < c[3]) {
                                assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(y[i]), where);
                            } else {
                                assertTrue(Float.isNaN(y[i]), where + " was written");
                            }
                        }
                    }
                }
            }
        }
    }

    /** One and two threads (the rows cut in pieces) and outliers added afterwards: the reference's bits. */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void threadsAndOutliersKeepTheBits(Tier tier) {
        NativeMatmulKernels nk = NativeMatmulTest.kernelsOrSkip(tier);
        ForkJoinPool fj = new ForkJoinPool(2);
        try {
            MatmulOps two = new MatmulOps(nk, KernelProvider.scalar(), ThreadPool.of(fj));
            MatmulOps one = Kit.ops(nk);
            for (QuantFormat f : List.of(QuantFormat.Q4_K, QuantFormat.Q6_K, QuantFormat.Q2_K, QuantFormat.Q5_1,
                    QuantFormat.IQ4_NL)) {
                int rows = 301;
                int k = 4096;
                int n = 2;
                try (Arena a = Arena.ofShared()) { // the pieces run on the pool's threads
                    QuantizedTensor w = tensor(f, rows, k, randomBlocks(f, rows, k, 51), a);
                    QuantizedActivations x = activations(f, n, k, 52);
                    float[] want = reference(w, x);
                    float[] y1 = new float[n * rows];
                    float[] y2 = new float[n * rows];
                    one.gemm(PackedWeights.of(w), x, y1);
                    two.gemm(PackedWeights.of(w), x, y2);
                    Bounds.assertSameBits(want, y1, tier + " " + f + " one thread");
                    Bounds.assertSameBits(want, y2, tier + " " + f + " two threads");
                    int[] rowPtr = new int[rows + 1];
                    int[] cols = new int[rows];
                    float[] vals = new float[rows];
                    for (int r = 0; r < rows; r++) {
                        rowPtr[r + 1] = r + 1;
                        cols[r] = (r * 37) % k;
                        vals[r] = 0.25f * (r - 150);
                    }
                    QuantizedTensor wo = w.withOutliers(SparseOutliers.of(rows, k, rowPtr, cols, vals, a));
                    float[] wantO = reference(wo, x);
                    float[] yo = new float[n * rows];
                    two.gemm(PackedWeights.of(wo), x, yo);
                    Bounds.assertSameBits(wantO, yo, tier + " " + f + " with outliers");
                }
            }
        } finally {
            fj.shutdown();
        }
    }

    /**
     * Weights, codes, scales and outputs each end exactly at a PROT_NONE page: reading or writing one byte past any of
     * them crashes the JVM instead of passing.
     */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void buffersEndAtGuardPages(Tier tier) {
        NativeMatmulTest.kernelsOrSkip(tier);
        NativeMatmul calls = NativeMatmul.of(tier);
        try (Arena arena = Arena.ofShared(); GuardPages guard = new GuardPages()) {
            for (QuantFormat f : FORMATS) {
                for (int k : kQuant(f) ? new int[] {256, 768} : new int[] {32, 96}) {
                    for (int rows : new int[] {1, 4, 7}) {
                        for (int n : new int[] {1, 3}) {
                            QuantizedTensor w = tensor(f, rows, k, randomBlocks(f, rows, k, rows * 7L + k), arena);
                            QuantizedActivations x = activations(f, n, k, k + n);
                            float[] want = reference(w, x);
                            MemorySegment gw = guard.copyEndingAtGuard(w.data().asSlice(0, rows * f.rowBytes(k)));
                            MemorySegment gx = guard.copyEndingAtGuard(MemorySegment.ofArray(x.codes()));
                            MemorySegment gs = guard.copyEndingAtGuard(MemorySegment.ofArray(x.scales()));
                            MemorySegment gy = guard.endingAtGuard(4L * want.length);
                            calls.gemmBlocks(f, k, gw, gx, gs, 0, rows, 0, n, gy, rows);
                            Bounds.assertSameBits(want, gy.toArray(ValueLayout.JAVA_FLOAT),
                                    tier + " " + f + " guarded, rows=" + rows + " n=" + n + " k=" + k);
                        }
                    }
                }
            }
        }
    }

    /** The native kernels take every one of these formats (MatmulOps sends them there), and refuse others. */
    @Test
    void kernelsSayWhatTheyTake() {
        NativeMatmulKernels nk = NativeMatmulTest.kernelsOrSkip(Tier.GENERIC);
        for (QuantFormat f : FORMATS) {
            assertTrue(nk.takesBlocks(f), f.toString());
            assertTrue(KernelProvider.scalarMatmul().takesBlocks(f), f.toString());
        }
        for (QuantFormat f : List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1, QuantFormat.Q8_K)) {
            assertFalse(nk.takesBlocks(f), f.toString());
            assertFalse(NativeMatmul.takesBlocks(f), f.toString());
        }
        NativeMatmul calls = NativeMatmul.of(Tier.GENERIC);
        MemorySegment seg = MemorySegment.ofArray(new float[16]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> calls.gemmBlocks(QuantFormat.Q4_K, 100, seg, seg, seg, 0, 1, 0, 1, seg, 1));
        assertTrue(e.getMessage().endsWith("rows hold whole blocks of 256, got k=100"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> calls.gemmBlocks(QuantFormat.Q8_0, 32, seg, seg, seg, 0, 1, 0, 1, seg, 1));
        assertThrows(IllegalArgumentException.class,
                () -> calls.gemmBlocks(QuantFormat.Q4_K, 256, seg, seg, seg, 0, 1, 0, 1, seg, 1));
    }
}

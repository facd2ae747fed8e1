package dev.lowbit.kernels;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.testkit.Bounds;
import dev.lowbit.testkit.Ggml;
import dev.lowbit.testkit.Inputs;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ForkJoinPool;

import static dev.lowbit.kernels.NativeBlockMatmulTest.activations;
import static dev.lowbit.kernels.NativeBlockMatmulTest.randomBlocks;
import static dev.lowbit.kernels.NativeBlockMatmulTest.tensor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The Vector API products of Q5_0, Q5_1, IQ4_NL (Q8_0 activations) and the K-quants Q2_K to Q6_K (Q8_K
 * activations) at this JVM's width (the build runs this class at the preferred width and again capped at 256 bits):
 * the integer path bit for bit against {@link dev.lowbit.kernels.impl.ScalarMatmulKernels}, on seeded random blocks
 * with finite fp16 scales, on ggml's quantized rows where the ggml library is present and on lowbit's; the weight-only
 * path of those and of Q8_K weights within the bound that reordering the reference's sums allows.
 */
class VectorBlockMatmulTest {
    private static final List<QuantFormat> FORMATS = NativeBlockMatmulTest.FORMATS;
    private static final int[] K_SUPER = {256, 512, 4096};
    private static final int[] K_32 = {32, 64, 96, 160, 256, 512, 4096};
    private static final int[] ROWS = {1, 2, 3, 4, 5, 7, 8, 11, 13, 31, 37};

    private static MatmulKernels vector() {
        String why = KernelProvider.vectorUnavailable();
        Assumptions.assumeTrue(why == null, () -> "skipped: " + why);
        return KernelProvider.vectorMatmul();
    }

    private static boolean kQuant(QuantFormat f) {
        return f.groupSize() == 256;
    }

    private static float[] reference(QuantizedTensor w, QuantizedActivations x) {
        float[] y = new float[x.n() * w.rows()];
        Kit.scalar().gemm(PackedWeights.of(w), x, y);
        return y;
    }

    private static String name(MatmulKernels k) {
        return k.name();
    }

    @Test
    void kernelsSayWhatTheyTake() {
        MatmulKernels v = vector();
        for (QuantFormat f : FORMATS) {
            assertTrue(v.takesBlocks(f), f.toString());
            assertTrue(v.takesBlocksF32(f), f.toString());
            assertTrue(KernelProvider.scalarMatmul().takesBlocksF32(f), f.toString());
        }
        assertFalse(v.takesBlocks(QuantFormat.Q8_K));
        assertTrue(v.takesBlocksF32(QuantFormat.Q8_K));
        assertTrue(KernelProvider.scalarMatmul().takesBlocksF32(QuantFormat.Q8_K));
        for (QuantFormat f : List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1,
                QuantFormat.grouped(4, 32, true, dev.lowbit.format.ScaleType.F16))) {
            assertFalse(v.takesBlocks(f), f.toString());
            assertFalse(v.takesBlocksF32(f), f.toString());
        }
        assertSame(v, Kit.ops(v).kernels());
    }

    @Test
    void randomBlocksGiveTheReferenceBits() {
        MatmulKernels v = vector();
        MatmulOps ops = Kit.ops(v);
        long seed = 1;
        for (QuantFormat f : FORMATS) {
            for (int k : kQuant(f) ? K_SUPER : K_32) {
                for (int rows : ROWS) {
                    int n = 1 + (int) (seed % 5);
                    seed++;
                    try (Arena a = Arena.ofConfined()) {
                        QuantizedTensor w = tensor(f, rows, k, randomBlocks(f, rows, k, seed), a);
                        QuantizedActivations x = activations(f, n, k, seed + 1000);
                        float[] y = new float[n * rows];
                        ops.gemm(PackedWeights.of(w), x, y);
                        Bounds.assertSameBits(reference(w, x), y,
                                name(v) + " " + f + " k=" + k + " rows=" + rows + " n=" + n + " seed=" + seed);
                    }
                }
            }
        }
    }

    /** Every weight byte 0xFF, 0x00, 0x80 or 0x7F and every activation -128 or 127: the sums at their extremes. */
    @Test
    void extremeCodesAreExact() {
        MatmulKernels v = vector();
        MatmulOps ops = Kit.ops(v);
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
                    int[] fields = fp16Fields(f);
                    for (int o = 0; o < b.length; o += bb) { // the scales as before, every other byte at fill
                        for (int field : fields) {
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
                        Bounds.assertSameBits(reference(w, x), y, name(v) + " " + f + " bytes 0x"
                                + Integer.toHexString(fill) + " x=" + xc);
                    }
                }
            }
        }
    }

    private static int[] fp16Fields(QuantFormat f) {
        return switch (f.kind()) {
            case Q5_0, IQ4_NL -> new int[] {0};
            case Q3_K -> new int[] {108};
            case Q6_K -> new int[] {208};
            case Q5_1, Q4_K, Q5_K -> new int[] {0, 2};
            case Q2_K -> new int[] {80, 82};
            default -> throw new AssertionError(f);
        };
    }

    /**
     * ggml's own blocks ({@code ggml_quantize_chunk}) where the library is present, and lowbit's, with activations
     * both given and quantized by {@link MatmulOps} from fp32.
     */
    @Test
    void quantizedRowsGiveTheReferenceBits() {
        MatmulKernels v = vector();
        MatmulOps ops = Kit.ops(v);
        MatmulOps scalar = Kit.scalar();
        boolean ggml = Ggml.unavailable() == null;
        for (QuantFormat f : FORMATS) {
            for (int k : new int[] {256, 512, 4096}) {
                for (int rows : new int[] {3, 17}) {
                    int n = rows == 3 ? 1 : 4;
                    long seed = 31L * k + f.kind().ordinal() + rows;
                    float[] src = Inputs.gaussian(seed, rows * k);
                    float[] xf = Inputs.gaussian(seed + 2, n * k);
                    QuantizedActivations x = activations(f, n, k, seed + 1);
                    ActivationFormat af = kQuant(f) ? ActivationFormat.Q8_K : ActivationFormat.Q8_0;
                    String what = name(v) + " " + f + " k=" + k + " rows=" + rows + " seed=" + seed;
                    try (Arena a = Arena.ofConfined()) {
                        List<QuantizedTensor> ws = new ArrayList<>();
                        if (ggml) {
                            Ggml.Type type = Ggml.Type.valueOf(f.kind().name());
                            ws.add(tensor(f, rows, k, Ggml.get().quantize(type, src, rows, k), a));
                        }
                        ws.add(Kit.QUANTIZE.quantize(f, src, rows, k, a));
                        for (QuantizedTensor w : ws) {
                            float[] y = new float[n * rows];
                            ops.gemm(PackedWeights.of(w), x, y);
                            Bounds.assertSameBits(reference(w, x), y, what);
                            float[] want = new float[n * rows];
                            scalar.gemm(PackedWeights.of(w), xf, n, want, af);
                            ops.gemm(PackedWeights.of(w), xf, n, y, af);
                            Bounds.assertSameBits(want, y, what + " from fp32 activations");
                        }
                    }
                }
            }
        }
    }

    /** Rows and tokens in sub-ranges, straight through the kernels: only those elements, each with the reference's bits. */
    @Test
    void subRangesWriteOnlyTheirElements() {
        MatmulKernels v = vector();
        for (QuantFormat f : FORMATS) {
            int k = kQuant(f) ? 512 : 96;
            int rows = 23;
            int n = 5;
            try (Arena a = Arena.ofConfined()) {
                QuantizedTensor w = tensor(f, rows, k, randomBlocks(f, rows, k, 41), a);
                QuantizedActivations x = activations(f, n, k, 42);
                float[] want = reference(w, x);
                int[][] cuts = {{0, 23, 0, 5}, {1, 22, 1, 4}, {3, 10, 2, 3}, {5, 6, 0, 5}, {17, 23, 4, 5}, {7, 7, 0, 5},
                        {2, 9, 3, 3}};
                for (int[] c : cuts) {
                    float[] y = new float[n * rows];
                    Arrays.fill(y, Float.NaN);
                    v.gemmInt8(w, x, c[0], c[1], c[2], c[3], y, rows);
                    for (int t = 0; t < n; t++) {
                        for (int r = 0; r < rows; r++) {
                            int i = t * rows + r;
                            String where = name(v) + " " + f + " cut " + Arrays.toString(c) + " row " + r + " token " + t;
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
    @Test
    void threadsAndOutliersKeepTheBits() {
        MatmulKernels v = vector();
        ForkJoinPool fj = new ForkJoinPool(2);
        try {
            MatmulOps two = new MatmulOps(v, KernelProvider.scalar(), ThreadPool.of(fj));
            MatmulOps one = Kit.ops(v);
            for (QuantFormat f : FORMATS) {
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
                    Bounds.assertSameBits(want, y1, name(v) + " " + f + " one thread");
                    Bounds.assertSameBits(want, y2, name(v) + " " + f + " two threads");
                    QuantizedTensor wo = w.withOutliers(outliers(rows, k, a));
                    float[] wantO = reference(wo, x);
                    float[] yo = new float[n * rows];
                    two.gemm(PackedWeights.of(wo), x, yo);
                    Bounds.assertSameBits(wantO, yo, name(v) + " " + f + " with outliers");
                }
            }
        } finally {
            fj.shutdown();
        }
    }

    private static SparseOutliers outliers(int rows, int k, Arena a) {
        int[] rowPtr = new int[rows + 1];
        int[] cols = new int[rows];
        float[] vals = new float[rows];
        for (int r = 0; r < rows; r++) {
            rowPtr[r + 1] = r + 1;
            cols[r] = (r * 37) % k;
            vals[r] = 0.25f * (r - 150);
        }
        return SparseOutliers.of(rows, k, rowPtr, cols, vals, a);
    }

    // ---------------------------------------------------------------- fp32 path

    /** Q8_K weights: random codes and a finite fp32 scale per super-block. */
    private static byte[] randomQ8K(int rows, int k, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        byte[] b = new byte[(int) (rows * QuantFormat.Q8_K.rowBytes(k))];
        rnd.nextBytes(b);
        for (int o = 0; o < b.length; o += 292) {
            int bits = Float.floatToRawIntBits((float) (rnd.nextDouble(-1, 1) * Math.pow(2, rnd.nextInt(-20, 4))));
            for (int i = 0; i < 4; i++) {
                b[o + i] = (byte) (bits >> (8 * i));
            }
        }
        return b;
    }

    /**
     * {@link Bounds#checkFp32AgainstExact}'s bound, and for the formats with a minimum ({@code d * sum(q x) + z *
     * sum(x)} cancels) its Q4_1 bound by the parts, with each scale group's zero point.
     */
    static void checkFp32AgainstExact(QuantizedTensor w, float[] x, int n, float[] y, String what) {
        int rows = w.rows();
        int k = w.cols();
        QuantFormat f = w.format();
        int gl = f.scaleGroupLength(k);
        QuantizedTensor plain = w.withOutliers(null);
        for (int t = 0; t < n; t++) {
            for (int r = 0; r < rows; r++) {
                double exact = 0;
                double mag = 0;
                for (int c = 0; c < k; c++) {
                    double term = (double) Reference.dequantize(plain, r, c) * x[t * k + c];
                    exact += term;
                    mag += Math.abs(term);
                }
                SparseOutliers o = w.outliers();
                if (o != null) {
                    for (int e = o.rowPtr(r); e < o.rowPtr(r + 1); e++) {
                        double term = o.value(e) * (double) x[t * k + o.col(e)];
                        exact += term;
                        mag += Math.abs(term);
                    }
                }
                if (f.hasMinimum()) {
                    mag *= 4;
                    for (int c = 0; c < k; c++) {
                        mag += Math.abs(Reference.zero(w, r, c / gl) * x[t * k + c]) * 4;
                    }
                }
                double bound = (k + 4) * 0x1p-24 * mag + 1e-30;
                float got = y[t * rows + r];
                if (!(Math.abs(got - exact) <= bound)) {
                    fail(what + ": y[" + t + "][" + r + "] = " + got + ", exact " + exact + ", bound " + bound);
                }
            }
        }
    }

    @Test
    void fp32PathWithinTheReorderingBound() {
        MatmulKernels v = vector();
        MatmulOps ops = Kit.ops(v);
        MatmulOps scalar = Kit.scalar();
        List<QuantFormat> formats = new ArrayList<>(FORMATS);
        formats.add(QuantFormat.Q8_K);
        long seed = 100;
        for (QuantFormat f : formats) {
            for (int k : kQuant(f) ? K_SUPER : K_32) {
                for (int rows : new int[] {1, 4, 7, 37}) {
                    int n = 1 + (int) (seed % 5);
                    seed++;
                    String what = name(v) + " " + f + " fp32 k=" + k + " rows=" + rows + " n=" + n + " seed=" + seed;
                    try (Arena a = Arena.ofConfined()) {
                        byte[] bytes = f.kind() == QuantFormat.Kind.Q8_K ? randomQ8K(rows, k, seed)
                                : randomBlocks(f, rows, k, seed);
                        QuantizedTensor w = tensor(f, rows, k, bytes, a);
                        float[] x = Inputs.gaussian(seed + 1, n * k);
                        float[] want = new float[n * rows];
                        float[] y = new float[n * rows];
                        scalar.gemm(PackedWeights.of(w), x, n, want);
                        ops.gemm(PackedWeights.of(w), x, n, y);
                        checkFp32AgainstExact(w, x, n, want, what + " (reference)");
                        checkFp32AgainstExact(w, x, n, y, what);
                        if (rows == 7) {
                            QuantizedTensor wo = w.withOutliers(outliers(rows, k, a));
                            ops.gemm(PackedWeights.of(wo), x, n, y);
                            checkFp32AgainstExact(wo, x, n, y, what + " with outliers");
                            float[] part = new float[n * rows];
                            Arrays.fill(part, Float.NaN);
                            v.gemmF32(wo, x, 2, 6, 0, n, part, rows);
                            for (int t = 0; t < n; t++) {
                                for (int r = 0; r < rows; r++) {
                                    int i = t * rows + r;
                                    if (r >= 2 && r < 6) {
                                        assertEquals(Float.floatToRawIntBits(y[i]), Float.floatToRawIntBits(part[i]),
                                                what + " rows 2..6, row " + r + " token " + t);
                                    } else {
                                        assertTrue(Float.isNaN(part[i]), what + " row " + r + " was written");
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** lowbit's and ggml's quantized rows through the weight-only path: within the bound. */
    @Test
    void fp32PathOnQuantizedRows() {
        MatmulKernels v = vector();
        MatmulOps ops = Kit.ops(v);
        boolean ggml = Ggml.unavailable() == null;
        for (QuantFormat f : FORMATS) {
            for (int k : new int[] {256, 4096}) {
                int rows = 9;
                int n = 3;
                long seed = 77L * k + f.kind().ordinal();
                float[] src = Inputs.gaussian(seed, rows * k);
                float[] x = Inputs.gaussian(seed + 1, n * k);
                try (Arena a = Arena.ofConfined()) {
                    List<QuantizedTensor> ws = new ArrayList<>();
                    if (ggml) {
                        ws.add(tensor(f, rows, k, Ggml.get().quantize(Ggml.Type.valueOf(f.kind().name()), src, rows, k),
                                a));
                    }
                    ws.add(Kit.QUANTIZE.quantize(f, src, rows, k, a));
                    for (QuantizedTensor w : ws) {
                        float[] y = new float[n * rows];
                        ops.gemm(PackedWeights.of(w), x, n, y);
                        checkFp32AgainstExact(w, x, n, y, name(v) + " " + f + " fp32 quantized rows k=" + k);
                    }
                }
            }
        }
    }
}

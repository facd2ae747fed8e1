package dev.lowbit.kernels;

import dev.lowbit.format.InterleavedTensor;
import dev.lowbit.format.Int8RowTensor;
import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.impl.Int8RowReference;
import dev.lowbit.kernels.impl.ScalarMatmulKernels;
import dev.lowbit.kernels.impl.WeightRows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Quantized weights times activations: {@code y[t][r] = sum_c W[r][c] * x[t][c]} for {@code n} tokens,
 * with {@code x} given token by token ({@code x[t * k + c]}) and {@code y} written token by token
 * ({@code y[t * rows + r]}). That is {@code Y = W X} with the columns of {@code X} and {@code Y} stored
 * contiguously. Work is split over rows, and over tokens too when there are many; every element of
 * {@code y} is computed the same way whatever the split, so the result does not depend on threads.
 */
public final class MatmulOps {
    /** Multiply-adds per work item at least: below that a hand-off to another thread costs more. */
    private static final long PARALLEL_MIN_MACS = 1 << 20;
    /**
     * On a {@link ThreadPool.Workers} pool, a product of fewer multiply-adds than this per thread is split into exactly
     * one piece per thread (the caller runs one): at that size the pieces are short and the hand-offs, not the load
     * balance, cost the time.
     */
    private static final long SMALL_MACS_PER_THREAD = 1 << 25;

    private final MatmulKernels kernels;
    private final QuantOps quant;
    private final ThreadPool pool;
    private final int parallelism;

    /**
     * @param pool where the pieces of a product run; null for {@link ThreadPool#common()}
     */
    public MatmulOps(MatmulKernels kernels, QuantKernels quantKernels, ThreadPool pool) {
        this.kernels = Objects.requireNonNull(kernels, "kernels");
        this.pool = pool == null ? ThreadPool.common() : pool;
        this.quant = new QuantOps(quantKernels, ThreadPool.callerThread());
        this.parallelism = this.pool.parallelism();
    }

    /** The start-up choice of {@link KernelProvider} on the common pool. */
    public static MatmulOps get() {
        return Default.INSTANCE;
    }

    private static final class Default {
        static final MatmulOps INSTANCE = new MatmulOps(KernelProvider.matmul(), KernelProvider.kernels(), null);
    }

    public MatmulKernels kernels() {
        return kernels;
    }

    /**
     * Quantizes {@code n} tokens of {@code k} activations to int8: Q8_0 blocks by the weights' rule (ggml's reference
     * quantizer: round half away from zero), Q8_K super-blocks (ggml's {@code quantize_row_q8_K_ref}), or one
     * {@code absmax / 127} fp32 scale per token (ties to even).
     *
     * @throws IllegalArgumentException for a wrong length or a NaN or infinity (named by its index)
     */
    public QuantizedActivations quantizeActivations(float[] x, int n, int k, ActivationFormat format) {
        Objects.requireNonNull(format, "format");
        checkLength("x", x, (long) n * k);
        int pk = QuantizedActivations.paddedK(k);
        int spt = QuantizedActivations.scalesPerToken(format, k);
        byte[] codes = new byte[Math.multiplyExact(n, pk)];
        float[] scales = new float[Math.multiplyExact(n, spt)];
        if (format == ActivationFormat.PER_TOKEN_INT8 && perTokenDirect(x, n, k, pk, codes, scales)) {
            return new QuantizedActivations(format, n, k, codes, scales);
        }
        if (format == ActivationFormat.Q8_K && k % 256 != 0) {
            throw new IllegalArgumentException("Q8_K activations hold whole super-blocks of 256, got k=" + k);
        }
        QuantFormat f = switch (format) {
            case Q8_0 -> QuantFormat.Q8_0;
            case Q8_K -> QuantFormat.Q8_K;
            case PER_TOKEN_INT8 -> QuantFormat.grouped(8, QuantFormat.ROW, true, ScaleType.F32);
        };
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor q = quant.quantize(f, x, n, k, arena);
            MemorySegment d = q.data();
            long rowBytes = f.rowBytes(k);
            for (int t = 0; t < n; t++) {
                if (format == ActivationFormat.Q8_K) {
                    // Super-blocks of 292 bytes: fp32 scale, 256 codes, then 16 sums the kernels recompute.
                    for (int b = 0; b < spt; b++) {
                        long o = t * rowBytes + b * 292L;
                        scales[t * spt + b] = d.get(Layouts.F32, o);
                        MemorySegment.copy(d, Layouts.U8, o + 4, codes, t * pk + b * 256, 256);
                    }
                } else if (format == ActivationFormat.Q8_0) {
                    // Blocks of 34 bytes: fp16 scale, then 32 codes (a partial last block is zero-padded).
                    for (int b = 0; b < spt; b++) {
                        long o = t * rowBytes + b * 34L;
                        scales[t * spt + b] = Float.float16ToFloat(d.get(Layouts.F16, o));
                        MemorySegment.copy(d, Layouts.U8, o + 2, codes, t * pk + b * 32, 32);
                    }
                } else {
                    // One byte per code, stored as q + 128: flipping the top bit gives q.
                    MemorySegment.copy(d, Layouts.U8, t * rowBytes, codes, t * pk, k);
                    for (int c = t * pk; c < t * pk + k; c++) {
                        codes[c] ^= (byte) 0x80;
                    }
                    scales[t] = k == 0 ? 0f : Reference.scale(q, t, 0); // an empty token has no group
                }
            }
        }
        return new QuantizedActivations(format, n, k, codes, scales);
    }

    /**
     * Per-token int8 straight into {@code codes} and {@code scales}, by the quantizers' rule for a symmetric 8-bit
     * group of a whole row with an fp32 scale ({@code d = absmax / 127}, {@code q = rint(x / d)}): the same bytes
     * without a tensor in between, which matters at a few tokens, where the hand-off cost more than the work.
     * Returns false, with the arrays to be rewritten, when a token needs what only the full rule handles: a NaN or
     * an infinity (to be reported by index) or a scale below fp32's normal range (to be widened).
     */
    private static boolean perTokenDirect(float[] x, int n, int k, int pk, byte[] codes, float[] scales) {
        for (int t = 0; t < n; t++) {
            int o = t * k;
            float absmax = 0f;
            for (int c = 0; c < k; c++) {
                absmax = Math.max(absmax, Math.abs(x[o + c]));
            }
            if (!Float.isFinite(absmax)) {
                return false;
            }
            if (absmax == 0f) {
                scales[t] = 0f;
                continue; // every code 0
            }
            float d = absmax / 127f;
            if (d < Float.MIN_NORMAL) {
                return false;
            }
            scales[t] = d;
            for (int c = 0, q = t * pk; c < k; c++) {
                codes[q + c] = (byte) Math.rint(x[o + c] / d);
            }
        }
        return true;
    }

    /**
     * Integer path: {@code y = W x} with int8 activations; see {@link MatmulKernels#gemmInt8}. Plain rows take Q8_0,
     * Q4_0, Q4_1 and grouped 8- or 4-bit weights; interleaved rows give the result of the plain tensor they were made
     * from, bit for bit, with work split on whole groups of 8 rows; {@code i8_rowx16} weights sum whole rows in int32
     * with one fp32 step, take activations quantized per token, and split work on whole groups of 16 rows.
     *
     * @throws IllegalArgumentException for plain weights of another format, {@code i8_rowx16} weights with activations
     *                                  not quantized per token, or activations of another width
     */
    public void gemm(PackedWeights w, QuantizedActivations x, float[] y) {
        Objects.requireNonNull(w, "w");
        Objects.requireNonNull(x, "x");
        switch (w) {
            case PackedWeights.Rows(QuantizedTensor t) -> gemmInt8(t, x, y);
            case PackedWeights.Interleaved(InterleavedTensor t) -> gemmInt8(t, x, y);
            case PackedWeights.Int8Rows(Int8RowTensor t) -> gemmInt8(t, x, y);
        }
    }

    /** Quantizes {@code x} ({@code n} tokens) to {@code format}, then runs the integer path. */
    public void gemm(PackedWeights w, float[] x, int n, float[] y, ActivationFormat format) {
        Objects.requireNonNull(w, "w");
        Objects.requireNonNull(format, "format");
        checkLength("x", x, (long) n * w.cols());
        switch (w) {
            case PackedWeights.Rows(QuantizedTensor t) -> checkActivations(t.format(), format);
            case PackedWeights.Interleaved(InterleavedTensor t) -> checkActivations(t.layout().plainFormat(), format);
            case PackedWeights.Int8Rows r -> { } // checked with the activations
        }
        gemm(w, quantizeActivations(x, n, w.cols(), format), y);
    }

    /**
     * Weight-only path: {@code y = W x} with fp32 activations; see {@link MatmulKernels#gemmF32}. Interleaved rows
     * give the result of the plain tensor they were made from.
     *
     * @throws IllegalArgumentException for {@code i8_rowx16} weights, which take the integer path only
     */
    public void gemm(PackedWeights w, float[] x, int n, float[] y) {
        Objects.requireNonNull(w, "w");
        switch (w) {
            case PackedWeights.Rows(QuantizedTensor t) -> gemmF32(t, x, n, y);
            case PackedWeights.Interleaved(InterleavedTensor t) -> gemmF32(t, x, n, y);
            case PackedWeights.Int8Rows r -> throw new IllegalArgumentException(Int8RowTensor.LAYOUT_NAME
                    + " weights take the integer path only (int8 activations quantized per token)");
        }
    }

    private void gemmInt8(QuantizedTensor w, QuantizedActivations x, float[] y) {
        QuantFormat f = w.format();
        boolean blocks = ScalarMatmulKernels.newBlocks(f);
        if (!WeightRows.intPath(f) && !blocks) {
            throw new IllegalArgumentException("the integer path takes Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, the K-quants"
                    + " Q2_K to Q6_K and grouped 8- or 4-bit weights, not " + f + "; use the fp32 path");
        }
        checkActivations(f, x.format());
        if (x.k() != w.cols()) {
            throw new IllegalArgumentException("activations have k=" + x.k() + " but the weights have " + w.cols() + " columns");
        }
        checkLength("y", y, (long) x.n() * w.rows());
        // The blocks beyond Q8_0, Q4_0 and Q4_1 go to the scalar reference where the kernels do not take them.
        MatmulKernels k = blocks && !kernels.takesBlocks(f) ? ScalarMatmulKernels.INSTANCE : kernels;
        split(w.rows(), x.n(), w.cols(), 1, (r0, r1, t0, t1) -> k.gemmInt8(w, x, r0, r1, t0, t1, y, w.rows()));
    }

    /** K-quant weights take Q8_K activations, and Q8_K activations go with K-quant weights only. */
    private static void checkActivations(QuantFormat w, ActivationFormat x) {
        boolean kQuant = w.isGgml() && w.groupSize() == 256;
        if (kQuant != (x == ActivationFormat.Q8_K)) {
            throw new IllegalArgumentException(kQuant ? w + " weights take Q8_K activations, not " + x
                    : "Q8_K activations go with K-quant weights (Q2_K to Q6_K), not " + w);
        }
    }

    private void gemmF32(QuantizedTensor w, float[] x, int n, float[] y) {
        if (n < 0) {
            throw new IllegalArgumentException("n must be non-negative, got " + n);
        }
        checkLength("x", x, (long) n * w.cols());
        checkLength("y", y, (long) n * w.rows());
        // The blocks beyond Q8_0, Q4_0 and Q4_1 (5-bit, IQ4_NL, K-quants, Q8_K) go to the scalar reference where the
        // kernels do not take them.
        QuantFormat f = w.format();
        boolean blocks = ScalarMatmulKernels.newBlocks(f) || f.kind() == QuantFormat.Kind.Q8_K;
        MatmulKernels k = blocks && !kernels.takesBlocksF32(f) ? ScalarMatmulKernels.INSTANCE : kernels;
        split(w.rows(), n, w.cols(), 1, (r0, r1, t0, t1) -> k.gemmF32(w, x, r0, r1, t0, t1, y, w.rows()));
    }

    private void gemmInt8(InterleavedTensor w, QuantizedActivations x, float[] y) {
        checkActivations(w.layout().plainFormat(), x.format());
        if (x.k() != w.cols()) {
            throw new IllegalArgumentException("activations have k=" + x.k() + " but the weights have " + w.cols() + " columns");
        }
        checkLength("y", y, (long) x.n() * w.rows());
        split(w.rows(), x.n(), w.cols(), InterleavedTensor.ROWS,
                (r0, r1, t0, t1) -> kernels.gemmInt8(w, x, r0, r1, t0, t1, y, w.rows()));
    }

    private void gemmInt8(Int8RowTensor w, QuantizedActivations x, float[] y) {
        Int8RowReference.requirePerToken(x);
        if (x.k() != w.cols()) {
            throw new IllegalArgumentException("activations have k=" + x.k() + " but the weights have " + w.cols() + " columns");
        }
        checkLength("y", y, (long) x.n() * w.rows());
        split(w.rows(), x.n(), w.cols(), Int8RowTensor.ROWS,
                (r0, r1, t0, t1) -> kernels.gemmInt8(w, x, r0, r1, t0, t1, y, w.rows()));
    }

    private void gemmF32(InterleavedTensor w, float[] x, int n, float[] y) {
        if (n < 0) {
            throw new IllegalArgumentException("n must be non-negative, got " + n);
        }
        checkLength("x", x, (long) n * w.cols());
        checkLength("y", y, (long) n * w.rows());
        split(w.rows(), n, w.cols(), InterleavedTensor.ROWS,
                (r0, r1, t0, t1) -> kernels.gemmF32(w, x, r0, r1, t0, t1, y, w.rows()));
    }

    private static void checkLength(String name, Object a, long want) {
        if (a == null) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        int have = a instanceof float[] f ? f.length : ((byte[]) a).length;
        if (have != want) {
            throw new IllegalArgumentException(name + " holds " + have + " values, expected " + want);
        }
    }

    private interface Tile {
        void run(int r0, int r1, int t0, int t1);
    }

    /**
     * Rows in chunks whose starts are multiples of {@code align}; tokens in chunks too when rows alone give fewer
     * pieces than threads. Up to 4 pieces per thread, or on a {@link ThreadPool.Workers} pool exactly one per thread
     * when the product is small.
     */
    private void split(int rows, int n, int k, int align, Tile tile) {
        long macs = (long) rows * n * k;
        int perThread = pool instanceof ThreadPool.Workers && macs < SMALL_MACS_PER_THREAD * parallelism ? 1 : 4;
        int pieces = (int) Math.min((long) parallelism * perThread, macs / PARALLEL_MIN_MACS);
        if (pieces <= 1 || rows == 0 || n == 0) {
            tile.run(0, rows, 0, n);
            return;
        }
        int rowChunks = Math.min((rows + align - 1) / align, pieces);
        int tokenChunks = rowChunks < pieces && n >= 64 ? Math.min(n / 16, pieces / rowChunks) : 1;
        List<Runnable> work = new ArrayList<>();
        for (int a = 0; a < rowChunks; a++) {
            int r0 = (int) ((long) rows * a / rowChunks) / align * align;
            int r1 = a + 1 == rowChunks ? rows : (int) ((long) rows * (a + 1) / rowChunks) / align * align;
            if (r0 == r1) {
                continue;
            }
            for (int b = 0; b < tokenChunks; b++) {
                int t0 = (int) ((long) n * b / tokenChunks);
                int t1 = (int) ((long) n * (b + 1) / tokenChunks);
                work.add(() -> tile.run(r0, r1, t0, t1));
            }
        }
        pool.runAll(work);
    }
}

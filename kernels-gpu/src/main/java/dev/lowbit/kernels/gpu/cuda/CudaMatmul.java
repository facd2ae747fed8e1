package dev.lowbit.kernels.gpu.cuda;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.ScaleType;
import dev.lowbit.bindings.cuda.CublasLt;
import dev.lowbit.bindings.cuda.DeviceMemory;
import dev.lowbit.bindings.cuda.Int8GemmShape;
import dev.lowbit.kernels.ActivationFormat;

import java.util.Objects;

/**
 * Matrix products on the GPU, {@code y[t * ldy + r] = sum_c W[r][c] * x[t][c]} for {@code n} tokens, all operands in
 * device memory:
 * <ul>
 *   <li>{@link #gemmF32}: any format times fp32 activations; 4-bit codebook weights take the LUT kernel;</li>
 *   <li>{@link #gemmInt8}: integer weights times int8 activations, exact int32 block sums (the reference's path);</li>
 *   <li>{@link #int8Gemm}: per-channel int8 weights times per-token int8 activations through cuBLASLt, then the
 *       dequantize epilogue as a kernel of its own;</li>
 *   <li>{@link #w4a16}: grouped int4 weights times fp16/bf16 activations on tensor cores ({@link W4A16Weights}).</li>
 * </ul>
 * Outliers carried by the weights are added after the dense product, as the scalar reference adds them.
 */
public final class CudaMatmul {
    private static final int THREADS = 256;
    private static final int TOKENS_PER_WARP = 4;

    private final CudaRuntime rt;

    public CudaMatmul(CudaRuntime rt) {
        this.rt = Objects.requireNonNull(rt, "rt");
    }

    /** Weight-only path: {@code x} holds {@code n * k} fp32 values, {@code y} at least {@code n * ldy}. */
    public void gemmF32(DeviceTensor w, DeviceMemory x, int n, DeviceMemory y, int ldy) {
        int k = w.cols();
        checkOperands(w, n, 4L * n * k, x, y, ldy);
        if (n == 0 || w.rows() == 0) {
            return;
        }
        QuantFormat f = w.format();
        int warps = THREADS / 32;
        long gridX = (w.rows() + warps - 1L) / warps;
        int gridY = (n + TOKENS_PER_WARP - 1) / TOKENS_PER_WARP;
        int f16 = f.scaleType() == ScaleType.F16 ? 1 : 0;
        if (codebookLut(f, k)) {
            rt.launch("gemv_codebook.cu", "lb_gemv_codebook", gridX, gridY, THREADS, w.data, w.scales, f16, w.codebook,
                    w.rows(), k, f.groupLength(k), x, n, y, ldy);
        } else {
            rt.launch("gemm_f32.cu", "lb_gemm_f32", gridX, gridY, THREADS, w.data, w.scales, w.zeros, w.codebook,
                    w.rows(), k, f.groupLength(k), DeviceTensor.kindCode(f), f.bits(), f.symmetric() ? 1 : 0, f16, x,
                    n, y, ldy);
        }
        addOutliers(w, x, 0L, 1, n, y, ldy);
    }

    /** Whether the codebook-LUT kernel takes {@code f} with {@code k} columns (whole 32-bit words per group). */
    static boolean codebookLut(QuantFormat f, int k) {
        return f.hasLevels() && k % 8 == 0 && f.groupLength(k) % 8 == 0;
    }

    /** Integer path for Q8_0, Q4_0, Q4_1 and grouped 8- or 4-bit weights. */
    public void gemmInt8(DeviceTensor w, CudaQuant.DeviceActivations x, DeviceMemory y, int ldy) {
        QuantFormat f = w.format();
        boolean intPath = !f.hasLevels() && (f.bits() == 8 || f.bits() == 4);
        if (!intPath) {
            throw new IllegalArgumentException("the integer path takes Q8_0, Q4_0, Q4_1 and grouped 8- or 4-bit "
                    + "weights, not " + f + "; use the fp32 path");
        }
        if (x.k() != w.cols()) {
            throw new IllegalArgumentException("activations have k=" + x.k() + " but the weights have " + w.cols()
                    + " columns");
        }
        int n = x.n();
        checkOperands(w, n, (long) n * x.paddedK(), x.codes(), y, ldy);
        if (n == 0 || w.rows() == 0) {
            return;
        }
        int warps = THREADS / 32;
        rt.launch("gemm_int8.cu", "lb_gemm_int8", (w.rows() + warps - 1L) / warps,
                (n + TOKENS_PER_WARP - 1) / TOKENS_PER_WARP, THREADS, w.data, w.scales, w.zeros, w.rows(), w.cols(),
                f.groupLength(w.cols()), DeviceTensor.kindCode(f), f.bits(), f.symmetric() ? 1 : 0,
                f.scaleType() == ScaleType.F16 ? 1 : 0, x.codes(), x.paddedK(), x.scales(), x.scalesPerToken(), n, y,
                ldy);
        if (w.hasOutliers() && w.nnz() > 0) {
            // The reference multiplies each outlier by the dequantized activation code * scale.
            try (DeviceMemory codesF = rt.allocate(4L * n * x.paddedK())) {
                rt.launch("int8_epilogue.cu", "lb_codes_to_float", ((long) n * x.paddedK() + THREADS - 1) / THREADS, 1,
                        THREADS, x.codes(), (long) n * x.paddedK(), codesF);
                addOutliers(w, codesF, x.scales().address(), x.scalesPerToken(), n, y, ldy, x.paddedK());
                rt.synchronize();
            }
        }
    }

    private void addOutliers(DeviceTensor w, DeviceMemory x, long xScale, int spt, int n, DeviceMemory y, int ldy) {
        addOutliers(w, x, xScale, spt, n, y, ldy, w.cols());
    }

    private void addOutliers(DeviceTensor w, DeviceMemory x, long xScale, int spt, int n, DeviceMemory y, int ldy,
                             int xStride) {
        if (!w.hasOutliers() || w.nnz() == 0) {
            return;
        }
        rt.launch("outliers.cu", "lb_outlier_gemm_add", (w.rows() + THREADS - 1L) / THREADS, n, THREADS, y, ldy,
                w.rowPtr, w.colIdx, w.values, x, xStride, xScale, spt, w.rows(), n);
    }

    // ---------------------------------------------------------------- cuBLASLt int8

    /**
     * Per-channel int8 weights for cuBLASLt: signed codes ({@code rows x k}, row-major, which is cuBLASLt's
     * column-major {@code k x rows} A of a TN product) and one fp32 scale per row.
     */
    public record Int8Weights(int rows, int k, DeviceMemory codes, DeviceMemory scales) implements AutoCloseable {
        @Override
        public void close() {
            codes.close();
            scales.close();
        }
    }

    /**
     * Converts grouped 8-bit symmetric whole-row weights (stored codes with zero point 128) to {@link Int8Weights}.
     *
     * @throws IllegalArgumentException for any other format, or a tensor with outliers
     */
    public Int8Weights int8Weights(DeviceTensor w) {
        QuantFormat f = w.format();
        if (f.kind() != QuantFormat.Kind.GROUPED || f.bits() != 8 || !f.symmetric() || f.groupSize() != QuantFormat.ROW) {
            throw new IllegalArgumentException("the cuBLASLt path takes per-channel int8 weights "
                    + "(grouped 8-bit, symmetric, one group per row), not " + f);
        }
        if (w.hasOutliers() && w.nnz() > 0) {
            throw new IllegalArgumentException("the cuBLASLt path takes weights without outliers");
        }
        long bytes = (long) w.rows() * w.cols();
        DeviceMemory codes = rt.allocate(Math.max(16, bytes));
        DeviceMemory scales = rt.allocate(Math.max(16, 4L * w.rows()));
        rt.launch("int8_epilogue.cu", "lb_offset_to_signed", (bytes + THREADS - 1) / THREADS, 1, THREADS, w.data, codes,
                bytes);
        rt.launch("int8_epilogue.cu", "lb_decode_scales", (w.rows() + THREADS - 1L) / THREADS, 1, THREADS, w.scales,
                f.scaleType() == ScaleType.F16 ? 1 : 0, w.rows(), scales);
        rt.synchronize();
        return new Int8Weights(w.rows(), w.cols(), codes, scales);
    }

    /**
     * {@code y = W x} through cuBLASLt: int32 products {@code C = A^T B} (TN), then the epilogue kernel
     * {@code y[t * ldy + r] = (dw[r] * dx[t]) * C[t][r]}. {@code c} is int32 scratch of at least {@code 4 * rows * n}
     * bytes. The shape rules of {@link Int8GemmShape} are checked before cuBLASLt is called.
     */
    public void int8Gemm(CublasLt lt, Int8Weights w, CudaQuant.DeviceActivations x, DeviceMemory c, DeviceMemory y,
                         int ldy) {
        if (x.format() != ActivationFormat.PER_TOKEN_INT8) {
            throw new IllegalArgumentException("the cuBLASLt path takes per-token int8 activations, not " + x.format());
        }
        if (x.k() != w.k()) {
            throw new IllegalArgumentException("activations have k=" + x.k() + " but the weights have " + w.k());
        }
        if (ldy < w.rows()) {
            throw new IllegalArgumentException("ldy must be at least rows = " + w.rows() + ", got " + ldy);
        }
        // Tokens are padded to paddedK codes (zeros), so B's leading dimension is paddedK.
        Int8GemmShape shape = new Int8GemmShape(w.rows(), x.n(), w.k(), w.k(), x.paddedK(), w.rows());
        lt.int8Gemm(shape, w.codes(), x.codes(), c, null);
        rt.launch("int8_epilogue.cu", "lb_int8_dequant_epilogue", (w.rows() + THREADS - 1L) / THREADS, x.n(), THREADS,
                c, (long) w.rows(), w.scales(), x.scales(), w.rows(), x.n(), y, (long) ldy);
    }

    // ---------------------------------------------------------------- W4A16

    /** The activation types of {@link #w4a16}. */
    public enum HalfType { F16, BF16 }

    /**
     * {@code y = W x} for reshuffled int4 weights and {@code n} tokens of fp16 or bf16 activations ({@code n * k}
     * 16-bit values), fp32 out.
     */
    public void w4a16(W4A16Weights.OnDevice w, DeviceMemory x, HalfType type, int n, DeviceMemory y, int ldy) {
        Objects.requireNonNull(type, "type");
        if (n < 0) {
            throw new IllegalArgumentException("n must be non-negative, got " + n);
        }
        if (x.byteSize() < 2L * n * w.k()) {
            throw new IllegalArgumentException("x holds " + x.byteSize() + " bytes, needs " + 2L * n * w.k());
        }
        if (ldy < w.rows() || y.byteSize() < 4L * ((long) Math.max(n - 1, 0) * ldy + w.rows())) {
            throw new IllegalArgumentException("y with ldy=" + ldy + " does not hold " + n + " tokens of " + w.rows());
        }
        if (n == 0) {
            return;
        }
        int tile = n <= 8 ? 8 : n <= 16 ? 16 : 32;
        String kernel = "lb_w4a16_" + (type == HalfType.F16 ? "f16" : "bf16") + "_t" + tile;
        rt.launch("w4a16.cu", kernel, w.rows() / 16, (n + tile - 1) / tile, W4A16Weights.THREADS, w.words(),
                w.scales(), w.zeros(), w.rows(), w.k(), w.groupLength(), x, n, y, ldy);
    }

    private static void checkOperands(DeviceTensor w, int n, long xBytes, DeviceMemory x, DeviceMemory y, int ldy) {
        if (n < 0) {
            throw new IllegalArgumentException("n must be non-negative, got " + n);
        }
        if (x.byteSize() < xBytes) {
            throw new IllegalArgumentException("x holds " + x.byteSize() + " bytes, needs " + xBytes);
        }
        if (ldy < w.rows()) {
            throw new IllegalArgumentException("ldy must be at least rows = " + w.rows() + ", got " + ldy);
        }
        if (n > 0 && y.byteSize() < 4L * ((long) (n - 1) * ldy + w.rows())) {
            throw new IllegalArgumentException("y holds " + y.byteSize() + " bytes, too few for " + n + " tokens");
        }
    }
}

package dev.lowbit.kernels.gpu.cuda;

import dev.lowbit.format.Codebooks;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.bindings.cuda.DeviceMemory;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.QuantizedActivations;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * Quantize, dequantize and activation quantization on the GPU, bit for bit what the scalar reference computes
 * ({@code docs/formats.md}). Arguments are checked here before any launch; a NaN or infinity, or a group whose
 * scale does not fit its type, is an {@link IllegalArgumentException} naming the element or the row, as in
 * {@code QuantOps} (which can clamp non-finite values; this class only refuses them).
 */
public final class CudaQuant {
    static final int THREADS = 256;
    /** Whole rows up to this many elements are quantized in one pass (LB_ROW_MAX in quantize.cu). */
    static final int ROW_FUSED_MAX = 16384;
    static final int ROW_FUSED_THREADS = 1024;

    private final CudaRuntime rt;

    public CudaQuant(CudaRuntime rt) {
        this.rt = Objects.requireNonNull(rt, "rt");
    }

    // ---------------------------------------------------------------- quantize

    /** Quantizes {@code src} ({@code rows x cols} fp32 in device memory) into new device planes. */
    public DeviceTensor quantize(QuantFormat f, DeviceMemory src, int rows, int cols, float[] levels) {
        Objects.requireNonNull(f, "format");
        checkShape(rows, cols);
        float[] lv = null;
        if (f.hasLevels()) {
            lv = Codebooks.checkLevels(Objects.requireNonNull(levels, "a codebook format needs levels"));
        } else if (levels != null) {
            throw new IllegalArgumentException("levels are only for codebook formats, not " + f);
        }
        DeviceTensor t = DeviceTensor.allocate(rt, f, rows, cols, lv);
        try (DeviceMemory status = newStatus()) {
            quantizeAsync(src, t, status);
            checkStatus(t, status);
            return t;
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
    }

    /** Two status words for {@link #quantizeAsync}: no error yet. */
    public DeviceMemory newStatus() {
        return rt.statusWords();
    }

    /**
     * Queues the quantization of {@code src} into the planes of {@code dst} (from {@link DeviceTensor#allocate})
     * without waiting; {@link #checkStatus} then waits and reports a NaN, an infinity or an unstorable scale.
     */
    public void quantizeAsync(DeviceMemory src, DeviceTensor dst, DeviceMemory status) {
        QuantFormat f = dst.format();
        int rows = dst.rows();
        int cols = dst.cols();
        if (src.byteSize() < 4L * rows * cols) {
            throw new IllegalArgumentException("src holds " + src.byteSize() + " bytes, needs " + 4L * rows * cols);
        }
        if (status.byteSize() < 16) {
            throw new IllegalArgumentException("status needs 16 bytes, got " + status.byteSize());
        }
        if ((long) rows * cols == 0) {
            return;
        }
        int kind = DeviceTensor.kindCode(f);
        int sym = f.symmetric() ? 1 : 0;
        int f16 = f.scaleType() == ScaleType.F16 ? 1 : 0;
        if (f.groupSize() != QuantFormat.ROW || f.isGgml()) {
            int gl = f.groupLength(cols);
            long groups = (long) rows * f.groupsPerRow(cols);
            if (cols % gl == 0) {
                // Whole groups only: gl / 4 lanes per group, four elements each.
                long threads = groups * (gl / 4);
                rt.launch("quantize.cu", "lb_quantize_groups_vec4", (threads + THREADS - 1) / THREADS, 1, THREADS,
                        src, rows, cols, gl, kind, f.bits(), sym, f16, dst.codebook, dst.data, dst.scales, dst.zeros,
                        status);
                return;
            }
            int warps = THREADS / 32;
            rt.launch("quantize.cu", "lb_quantize_groups", (groups + warps - 1) / warps, 1, THREADS, src, rows, cols,
                    gl, kind, f.bits(), sym, f16, dst.codebook, dst.data, dst.scales, dst.zeros, status);
            return;
        }
        if (cols <= ROW_FUSED_MAX) {
            rt.launch("quantize.cu", "lb_quantize_rows_fused", rows, 1, ROW_FUSED_THREADS, src, rows, cols, kind,
                    f.bits(), sym, f16, dst.codebook, dst.data, dst.scales, dst.zeros, status);
            return;
        }
        rt.launch("quantize.cu", "lb_row_params", rows, 1, THREADS, src, rows, cols, kind, f.bits(), sym, f16,
                dst.codebook, dst.scales, dst.zeros, dst.rowParams, status);
        long bytes = rows * f.rowBytes(cols);
        rt.launch("quantize.cu", "lb_quantize_row_encode", (bytes + THREADS - 1) / THREADS, 1, THREADS, src, rows,
                cols, kind, f.bits(), dst.codebook, dst.rowParams, dst.data);
    }

    /**
     * Waits for the quantization and throws what its status words report.
     *
     * @throws IllegalArgumentException naming the first non-finite element, or the row whose scale does not fit
     */
    public void checkStatus(DeviceTensor t, DeviceMemory status) {
        QuantFormat f = t.format();
        int cols = t.cols();
        long[] s = rt.readStatus(status);
        if (s[0] != -1L) {
            long at = s[0];
            throw new IllegalArgumentException("value at index " + at + " (row " + at / cols + ", column "
                    + at % cols + ") is not finite");
        }
        if (s[1] != -1L) {
            long row = f.groupSize() == QuantFormat.ROW && !f.isGgml() ? s[1] : s[1] / f.groupsPerRow(cols);
            throw new IllegalArgumentException("row " + row + ": a group needs a scale or minimum beyond the "
                    + f.scaleType() + " range" + (f.scaleType() == ScaleType.F16 ? "; use F32 scales" : ""));
        }
    }

    /** Quantizes a host matrix and returns the planes in {@code arena}. */
    public QuantizedTensor quantize(QuantFormat f, float[] src, int rows, int cols, float[] levels, Arena arena) {
        checkShape(rows, cols);
        if (src.length != (long) rows * cols) {
            throw new IllegalArgumentException("src must hold rows*cols = " + (long) rows * cols + " values, got "
                    + src.length);
        }
        try (DeviceMemory d = rt.upload(src, 0, src.length); DeviceTensor t = quantize(f, d, rows, cols, levels)) {
            return download(t, arena);
        }
    }

    /** Copies device planes back into a host tensor in {@code arena}. */
    public QuantizedTensor download(DeviceTensor t, Arena arena) {
        QuantFormat f = t.format();
        long dataBytes = t.rows() * f.rowBytes(t.cols());
        long groups = (long) t.rows() * f.groupsPerRow(t.cols());
        MemorySegment data = alloc(arena, dataBytes);
        rt.download(t.data, data.asSlice(0, Math.min(dataBytes, t.data.byteSize())));
        MemorySegment scales = null;
        MemorySegment zeros = null;
        if (!f.isGgml()) {
            scales = alloc(arena, groups * f.scaleType().bytes());
            rt.download(t.scales, scales);
        }
        if (f.hasZeroPlane()) {
            zeros = alloc(arena, groups * f.scaleType().bytes());
            rt.download(t.zeros, zeros);
        }
        return QuantizedTensor.of(f, t.rows(), t.cols(), data, scales, zeros, t.levels());
    }

    private static MemorySegment alloc(Arena arena, long bytes) {
        return arena.allocate(Math.max(1, bytes), 64).asSlice(0, bytes);
    }

    // ---------------------------------------------------------------- dequantize

    /** Dequantizes {@code t} (outliers included, when uploaded) into {@code dst}, {@code rows x cols} fp32. */
    public void dequantize(DeviceTensor t, DeviceMemory dst) {
        long n = (long) t.rows() * t.cols();
        if (dst.byteSize() < 4 * n) {
            throw new IllegalArgumentException("dst holds " + dst.byteSize() + " bytes, needs " + 4 * n);
        }
        if (n == 0) {
            return;
        }
        QuantFormat f = t.format();
        long threads = (t.cols() + 3L) / 4;
        rt.launch("dequantize.cu", "lb_dequantize", (threads + THREADS - 1) / THREADS, Math.min(t.rows(), 65535),
                THREADS, t.data, t.scales,
                t.zeros, t.codebook, t.rows(), t.cols(), f.groupLength(t.cols()), DeviceTensor.kindCode(f), f.bits(),
                f.symmetric() ? 1 : 0, f.scaleType() == ScaleType.F16 ? 1 : 0, dst);
        if (t.hasOutliers() && t.nnz() > 0) {
            rt.launch("outliers.cu", "lb_outlier_add", (t.rows() + THREADS - 1L) / THREADS, 1, THREADS, dst,
                    (long) t.cols(), t.rowPtr, t.colIdx, t.values, t.rows());
        }
    }

    /** Dequantizes a host tensor (outliers included) into {@code dst}, {@code rows * cols} values. */
    public void dequantize(QuantizedTensor t, float[] dst) {
        if (dst.length != t.elements()) {
            throw new IllegalArgumentException("dst must hold " + t.elements() + " values, got " + dst.length);
        }
        try (DeviceTensor d = DeviceTensor.upload(rt, t); DeviceMemory out = rt.allocate(4L * dst.length)) {
            dequantize(d, out);
            rt.download(out, MemorySegment.ofArray(dst));
        }
    }

    // ---------------------------------------------------------------- activations

    /** Device activations: int8 codes, {@code paddedK} per token, and fp32 scales. */
    public record DeviceActivations(ActivationFormat format, int n, int k, DeviceMemory codes, DeviceMemory scales)
            implements AutoCloseable {
        public int paddedK() {
            return QuantizedActivations.paddedK(k);
        }

        public int scalesPerToken() {
            return format == ActivationFormat.Q8_0 ? paddedK() / 32 : 1;
        }

        @Override
        public void close() {
            codes.close();
            scales.close();
        }
    }

    /** Quantizes {@code n} tokens of {@code k} fp32 activations (device memory) as MatmulOps.quantizeActivations. */
    public DeviceActivations quantizeActivations(DeviceMemory x, int n, int k, ActivationFormat format) {
        Objects.requireNonNull(format, "format");
        checkShape(n, k);
        if (format == ActivationFormat.Q8_K) {
            throw new IllegalArgumentException("the CUDA kernels quantize activations to Q8_0 or per token, not Q8_K");
        }
        if (x.byteSize() < 4L * n * k) {
            throw new IllegalArgumentException("x holds " + x.byteSize() + " bytes, needs " + 4L * n * k);
        }
        int pk = QuantizedActivations.paddedK(k);
        int spt = format == ActivationFormat.Q8_0 ? pk / 32 : 1;
        DeviceMemory codes = rt.allocate(Math.max(16, (long) n * pk));
        DeviceMemory scales = rt.allocate(Math.max(16, 4L * n * spt));
        try (DeviceMemory status = rt.statusWords()) {
            if (n > 0 && pk > 0) {
                if (format == ActivationFormat.Q8_0) {
                    long blocks = (long) n * spt;
                    int warps = THREADS / 32;
                    rt.launch("activations.cu", "lb_quantize_act_q8_0", (blocks + warps - 1) / warps, 1, THREADS, x, n,
                            k, pk, codes, scales, status);
                } else {
                    rt.launch("activations.cu", "lb_quantize_act_per_token", n, 1, THREADS, x, n, k, pk, codes, scales,
                            status);
                }
            }
            long[] s = rt.readStatus(status);
            if (s[0] != -1L) {
                throw new IllegalArgumentException("activation at index " + s[0] + " (token " + s[0] / k + ", column "
                        + s[0] % k + ") is not finite");
            }
            if (s[1] != -1L) {
                throw new IllegalArgumentException("token " + (format == ActivationFormat.Q8_0 ? s[1] / spt : s[1])
                        + ": a block needs a scale beyond the " + (format == ActivationFormat.Q8_0 ? "F16" : "F32")
                        + " range");
            }
            return new DeviceActivations(format, n, k, codes, scales);
        } catch (RuntimeException e) {
            codes.close();
            scales.close();
            throw e;
        }
    }

    /** Host variant: the {@link QuantizedActivations} that {@code MatmulOps.quantizeActivations} returns. */
    public QuantizedActivations quantizeActivations(float[] x, int n, int k, ActivationFormat format) {
        if (x.length != (long) n * k) {
            throw new IllegalArgumentException("x must hold n*k = " + (long) n * k + " values, got " + x.length);
        }
        try (DeviceMemory dx = rt.upload(x, 0, x.length);
             DeviceActivations a = quantizeActivations(dx, n, k, format)) {
            byte[] codes = new byte[n * a.paddedK()];
            float[] scales = new float[n * a.scalesPerToken()];
            rt.download(a.codes(), MemorySegment.ofArray(codes));
            rt.download(a.scales(), MemorySegment.ofArray(scales));
            return new QuantizedActivations(format, n, k, codes, scales);
        }
    }

    static void checkShape(int rows, int cols) {
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("shape must be non-negative, got " + rows + "x" + cols);
        }
    }
}

package dev.lowbit.kernels.gpu.cuda;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.bindings.cuda.DeviceMemory;
import dev.lowbit.kernels.Codebook;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.QuantKernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * {@link QuantKernels} on the GPU, for {@code new QuantOps(new CudaQuantKernels(rt), executor)}: ggml formats are
 * quantized a whole row range per launch ({@link #quantizeGgmlRows}); the per-row entry points upload one row and
 * launch the same kernels, which is correct but pays a launch and two copies per row, so bulk work belongs to
 * {@link CudaQuant}. Group statistics and the non-finite search are the scalar reference's: they run on the host
 * data that {@code QuantOps} holds, where a launch would cost more than the loop.
 */
public final class CudaQuantKernels implements QuantKernels {
    private final CudaRuntime rt;
    private final CudaQuant quant;

    public CudaQuantKernels(CudaRuntime rt) {
        this.rt = Objects.requireNonNull(rt, "rt");
        this.quant = new CudaQuant(rt);
    }

    @Override
    public String name() {
        return "cuda-" + rt.device().arch();
    }

    @Override
    public boolean quantizeRow(QuantFormat f, Codebook codebook, float[] src, int off, int cols, byte[] rowBytes,
                               float[] scales, float[] zeros) {
        if (KernelProvider.scalar().firstNonFinite(src, off, cols) >= 0) {
            return false;
        }
        float[] levels = codebook == null ? null : codebook.levels();
        DeviceTensor t;
        try (DeviceMemory d = rt.upload(src, off, cols)) {
            t = quant.quantize(f, d, 1, cols, levels);
        } catch (IllegalArgumentException e) {
            // A scale the format cannot store: the reference throws the exception that QuantOps turns into a message
            // naming the row (this method does not know the row).
            return KernelProvider.scalar().quantizeRow(f, codebook, src, off, cols, rowBytes, scales, zeros);
        }
        try (Arena arena = Arena.ofConfined(); t) {
            QuantizedTensor q = quant.download(t, arena);
            MemorySegment.copy(q.data(), ValueLayout.JAVA_BYTE, 0, rowBytes, 0, (int) f.rowBytes(cols));
            int gpr = f.groupsPerRow(cols);
            if (!f.isGgml()) {
                for (int g = 0; g < gpr; g++) {
                    scales[g] = dev.lowbit.format.Reference.scale(q, 0, g);
                    if (f.hasZeroPlane()) {
                        zeros[g] = dev.lowbit.format.Reference.zero(q, 0, g);
                    }
                }
            }
            return true;
        }
    }

    @Override
    public int quantizeGgmlRows(QuantFormat f, MemorySegment src, int cols, int r0, int r1, MemorySegment data) {
        if (r1 <= r0) {
            return r0;
        }
        long rowBytes = f.rowBytes(cols);
        MemorySegment rows = src.asSlice(4L * r0 * cols, 4L * (r1 - r0) * cols);
        try (Arena arena = Arena.ofConfined(); DeviceMemory d = rt.upload(rows)) {
            DeviceTensor t;
            try {
                t = quant.quantize(f, d, r1 - r0, cols, null);
            } catch (IllegalArgumentException e) {
                return r0; // a NaN, an infinity or an unstorable scale: QuantOps handles the rows one by one
            }
            try (t) {
                QuantizedTensor q = quant.download(t, arena);
                MemorySegment.copy(q.data(), 0, data, r0 * rowBytes, (r1 - r0) * rowBytes);
            }
        }
        return r1;
    }

    @Override
    public void dequantizeRow(QuantizedTensor t, int row, float[] dst, int off) {
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor one = RowSlices.rows(t.outliers() == null ? t : t.withOutliers(null), row, row + 1, arena);
            float[] out = new float[t.cols()];
            quant.dequantize(one, out);
            System.arraycopy(out, 0, dst, off, out.length);
        }
    }

    @Override
    public void groupStats(float[] src, int off, int len, int groupLen, float[] min, float[] max, float[] absmax,
                           int outOff) {
        KernelProvider.scalar().groupStats(src, off, len, groupLen, min, max, absmax, outOff);
    }

    @Override
    public int firstNonFinite(float[] src, int off, int len) {
        return KernelProvider.scalar().firstNonFinite(src, off, len);
    }
}

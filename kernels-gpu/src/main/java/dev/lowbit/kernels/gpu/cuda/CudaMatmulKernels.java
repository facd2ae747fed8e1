package dev.lowbit.kernels.gpu.cuda;

import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.bindings.cuda.DeviceMemory;
import dev.lowbit.kernels.MatmulKernels;
import dev.lowbit.kernels.QuantizedActivations;

import java.lang.foreign.Arena;
import java.util.Objects;

/**
 * {@link MatmulKernels} on the GPU, for {@code new MatmulOps(new CudaMatmulKernels(rt), quantKernels, executor)}:
 * each call uploads its rows of the weights and its tokens, runs {@link CudaMatmul}, and copies the block of
 * {@code y} back. Use it with a single-thread executor (the GPU is the parallel part); weights that stay on the
 * device belong to {@link CudaMatmul} and {@link DeviceTensor}.
 */
public final class CudaMatmulKernels implements MatmulKernels {
    private final CudaRuntime rt;
    private final CudaMatmul matmul;

    public CudaMatmulKernels(CudaRuntime rt) {
        this.rt = Objects.requireNonNull(rt, "rt");
        this.matmul = new CudaMatmul(rt);
    }

    @Override
    public String name() {
        return "cuda-" + rt.device().arch();
    }

    @Override
    public void gemmInt8(QuantizedTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y,
                         int ldy) {
        int nr = r1 - r0;
        int nt = t1 - t0;
        if (nr <= 0 || nt <= 0) {
            return;
        }
        int pk = x.paddedK();
        int spt = x.scalesPerToken();
        try (Arena arena = Arena.ofConfined();
             DeviceTensor dw = DeviceTensor.upload(rt, RowSlices.rows(w, r0, r1, arena));
             DeviceMemory codes = rt.upload(java.lang.foreign.MemorySegment.ofArray(x.codes())
                     .asSlice((long) t0 * pk, (long) nt * pk));
             DeviceMemory scales = rt.upload(x.scales(), t0 * spt, nt * spt);
             DeviceMemory out = rt.allocate(4L * nt * nr)) {
            CudaQuant.DeviceActivations a = new CudaQuant.DeviceActivations(x.format(), nt, x.k(), codes, scales);
            matmul.gemmInt8(dw, a, out, nr);
            scatter(rt.downloadFloats(out, nt * nr), nr, nt, r0, t0, y, ldy);
        }
    }

    @Override
    public void gemmF32(QuantizedTensor w, float[] x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        int nr = r1 - r0;
        int nt = t1 - t0;
        if (nr <= 0 || nt <= 0) {
            return;
        }
        int k = w.cols();
        try (Arena arena = Arena.ofConfined();
             DeviceTensor dw = DeviceTensor.upload(rt, RowSlices.rows(w, r0, r1, arena));
             DeviceMemory dx = rt.upload(x, t0 * k, nt * k);
             DeviceMemory out = rt.allocate(4L * nt * nr)) {
            matmul.gemmF32(dw, dx, nt, out, nr);
            scatter(rt.downloadFloats(out, nt * nr), nr, nt, r0, t0, y, ldy);
        }
    }

    private static void scatter(float[] block, int nr, int nt, int r0, int t0, float[] y, int ldy) {
        for (int t = 0; t < nt; t++) {
            System.arraycopy(block, t * nr, y, (t0 + t) * ldy + r0, nr);
        }
    }
}

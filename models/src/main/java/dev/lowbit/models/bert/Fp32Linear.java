package dev.lowbit.models.bert;

import dev.lowbit.kernels.Fp32Kernels;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.ThreadPool;

/**
 * An fp32 linear layer: the ONNX weight {@code [in, out]} packed in column panels ({@link Fp32Kernels#pack}; the
 * output width must be a multiple of the panel width, 64 at most), panels split over the threads of a
 * {@link ThreadPool}, one piece each (on a {@link ThreadPool.Workers} pool the caller runs one).
 */
final class Fp32Linear implements Linear {
    private final int in;
    private final int out;
    private final float[] weight;
    private final float[] bias;
    private final ThreadPool workers;
    private final Fp32Kernels kernels = KernelProvider.fp32();
    private final int panel = kernels.panel();

    Fp32Linear(int in, int out, float[] weight, float[] bias, ThreadPool workers) {
        this.in = in;
        this.out = out;
        this.weight = kernels.pack(weight, in, out);
        this.bias = bias;
        this.workers = workers;
    }

    @Override
    public int in() {
        return in;
    }

    @Override
    public int out() {
        return out;
    }

    @Override
    public void apply(float[] x, int n, float[] y) {
        int blocks = out / panel;
        int pieces = Math.min(workers.parallelism(), blocks);
        if (pieces <= 1) {
            kernels.gemm(x, in, weight, out, bias, y, 0, n, 0, out);
            return;
        }
        workers.run(pieces, p -> kernels.gemm(x, in, weight, out, bias, y, 0, n, blocks * p / pieces * panel,
                blocks * (p + 1) / pieces * panel));
    }

    @Override
    public String describe() {
        return "fp32 " + kernels.name();
    }
}

package dev.lowbit.models.bert;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;

/**
 * An fp32 linear layer: the ONNX weight {@code [in, out]} packed in column panels ({@link Fp32Kernels#pack}; the
 * output width must be a multiple of the panel width, 64 at most), panels split over threads.
 */
final class Fp32Linear implements Linear {
    private final int in;
    private final int out;
    private final float[] weight;
    private final float[] bias;
    private final Executor executor;
    private final int threads;
    private final Fp32Kernels kernels = Fp32Kernels.get();
    private final int panel = kernels.panel();

    Fp32Linear(int in, int out, float[] weight, float[] bias, Executor executor, int threads) {
        this.in = in;
        this.out = out;
        this.weight = kernels.pack(weight, in, out);
        this.bias = bias;
        this.executor = executor;
        this.threads = threads;
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
        int pieces = Math.min(threads, blocks);
        if (pieces <= 1) {
            kernels.gemm(x, in, weight, out, bias, y, 0, n, 0, out);
            return;
        }
        List<Runnable> work = new ArrayList<>(pieces);
        for (int p = 0; p < pieces; p++) {
            int j0 = blocks * p / pieces * panel;
            int j1 = blocks * (p + 1) / pieces * panel;
            work.add(() -> kernels.gemm(x, in, weight, out, bias, y, 0, n, j0, j1));
        }
        BertEncoder.runPieces(work, executor);
    }

    @Override
    public String describe() {
        return "fp32 " + kernels.name();
    }
}

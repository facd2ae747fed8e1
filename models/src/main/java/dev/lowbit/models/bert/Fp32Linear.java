package dev.lowbit.models.bert;

import dev.lowbit.kernels.Parallel;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;

/** An fp32 linear layer with its weight as ONNX keeps it, {@code [in, out]}; columns split over threads. */
final class Fp32Linear implements Linear {
    /** Output columns per piece of work, a multiple of every tile width of the kernels. */
    private static final int COLUMN_BLOCK = 64;

    private final int in;
    private final int out;
    private final float[] weight;
    private final float[] bias;
    private final Executor executor;
    private final int threads;
    private final Fp32Kernels kernels = Fp32Kernels.get();

    Fp32Linear(int in, int out, float[] weight, float[] bias, Executor executor, int threads) {
        this.in = in;
        this.out = out;
        this.weight = weight;
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
        int blocks = (out + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
        int pieces = Math.min(threads, blocks);
        if (pieces <= 1) {
            kernels.gemm(x, in, weight, out, bias, y, 0, n, 0, out);
            return;
        }
        List<Runnable> work = new ArrayList<>(pieces);
        for (int p = 0; p < pieces; p++) {
            int j0 = Math.min(out, blocks * p / pieces * COLUMN_BLOCK);
            int j1 = Math.min(out, blocks * (p + 1) / pieces * COLUMN_BLOCK);
            work.add(() -> kernels.gemm(x, in, weight, out, bias, y, 0, n, j0, j1));
        }
        Parallel.runAll(work, executor);
    }

    @Override
    public String describe() {
        return "fp32 " + kernels.name();
    }
}

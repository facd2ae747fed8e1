package dev.lowbit.kernels.impl;

import dev.lowbit.kernels.MethodKernels;

/** The reference method kernels: one element at a time, sums in double. */
public final class ScalarMethodKernels implements MethodKernels {
    public static final ScalarMethodKernels INSTANCE = new ScalarMethodKernels();

    private ScalarMethodKernels() {
    }

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public void signedPower(float[] src, int sOff, float[] dst, int dOff, int n, float a) {
        for (int i = 0; i < n; i++) {
            float x = src[sOff + i];
            dst[dOff + i] = Math.copySign((float) Math.pow(Math.abs(x), a), x);
        }
    }

    @Override
    public void candidateErrors(float[] x, int off, int len, float[] d, float[] z, int k, int lo, int hi, float p,
                                double[] out) {
        for (int c = 0; c < k; c++) {
            double s = 0;
            for (int i = off; i < off + len; i++) {
                float e = reconstruct(x[i], d[c], z[c], lo, hi) - x[i];
                s += p == 2f ? (double) e * e : Math.pow(Math.abs(e), p);
            }
            out[c] = s;
        }
    }

    /** {@code (clamp(rint(x/d + z), lo, hi) - z)·d} in float; 0 when {@code d = 0}. */
    static float reconstruct(float x, float d, float z, int lo, int hi) {
        if (d == 0f) {
            return 0f;
        }
        float q = (float) Math.rint(Math.min(Math.max(x / d + z, lo), hi));
        return (q - z) * d;
    }

    @Override
    public void rangeGradient(float[] x, int off, int len, float delta, int n, double[] out) {
        double loss = 0;
        double grad = 0;
        for (int i = off; i < off + len; i++) {
            float t = x[i] / delta;
            float r = (float) Math.rint(t);
            boolean clipped = Math.abs(r) > n;
            float q = clipped ? Math.copySign(n, t) : r;
            float e = q * delta - x[i];
            float g = clipped ? Math.signum(x[i]) : (r - t) / n;
            loss += (double) e * e;
            grad += 2.0 * e * g;
        }
        out[0] = loss;
        out[1] = grad;
    }
}

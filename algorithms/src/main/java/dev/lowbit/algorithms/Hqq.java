package dev.lowbit.algorithms;

import dev.lowbit.format.QuantFormat;

import java.lang.foreign.Arena;
import java.util.concurrent.Executor;

/**
 * HQQ, half-quadratic quantization without data (papers.md §11). Asymmetric with a float zero point:
 * {@code Wq = clamp(rint(W·S + Z), 0, 2^b-1)}, {@code Wr = (Wq - Z)/S}, with the inverse step
 * {@code S} fixed at its min-max value per group and the zero point {@code Z} refined by the proximal
 * iteration {@code We = shrink_p(W - Wr, β)}, {@code Z ← mean_group(Wq - (W - We)·S)}, {@code β ← κβ},
 * where {@code shrink_p(x) = sign(x)·max(|x| - |x|^(p-1)/β, 0)}. The iteration stops early once the
 * mean {@code |W - Wr|} stops improving and keeps the zero points of the best iterate. Defaults:
 * p = 0.7, β0 = 10, κ = 1.01, 20 iterations.
 *
 * <p>Choices where the spec is silent: the early stop is judged per row (HQQ judges the whole
 * tensor at once), so that rows stay independent; {@code |x|^(p-1)} is taken at {@code |x| + 1e-8}
 * as in HQQ's code; the final scale {@code 1/S} and zero point are rounded to the scale type and the
 * codes recomputed from the stored values, so the tensor decodes to what was measured.
 */
public final class Hqq implements Quantizer {
    private final QuantSpec spec;
    private final float p;
    private final float beta0;
    private final float kappa;
    private final int iterations;
    private final Executor executor;
    private final MethodKernels kernels = MethodKernels.get();

    /** The defaults: p = 0.7, β0 = 10, κ = 1.01, 20 iterations. */
    public Hqq(QuantSpec spec, Executor executor) {
        this(spec, 0.7f, 10f, 1.01f, 20, executor);
    }

    public Hqq(QuantSpec spec, float p, float beta0, float kappa, int iterations, Executor executor) {
        if (spec == null) {
            throw new IllegalArgumentException("spec must not be null");
        }
        if (!(p > 0f && p <= 1f)) {
            throw new IllegalArgumentException("p must be in (0, 1], got " + p);
        }
        if (!(beta0 > 0f) || !(kappa >= 1f) || !Float.isFinite(beta0) || !Float.isFinite(kappa)) {
            throw new IllegalArgumentException("beta0 must be positive and kappa at least 1, got " + beta0 + ", " + kappa);
        }
        if (iterations < 0) {
            throw new IllegalArgumentException("iterations must be non-negative, got " + iterations);
        }
        this.spec = spec;
        this.p = p;
        this.beta0 = beta0;
        this.kappa = kappa;
        this.iterations = iterations;
        this.executor = Rows.orCommon(executor);
    }

    @Override
    public String name() {
        return "hqq";
    }

    @Override
    public QuantResult quantize(float[] w, int rows, int cols, Arena arena) {
        Rows.checkInput(w, rows, cols);
        QuantFormat f = spec.grouped(false);
        Rows.Planes planes = new Rows.Planes(f, rows, cols, arena);
        int gpr = planes.groupsPerRow;
        int gl = f.groupLength(cols);
        int maxq = f.maxCode();
        float[] ranges = new float[rows * gpr];
        Rows.forEach(rows, executor, Rows.shareable(arena), r -> {
            int off = r * cols;
            float[] s = new float[gpr];
            float[] z = new float[gpr];
            float[] bestZ = new float[gpr];
            float[] wq = new float[cols];
            float[] wr = new float[cols];
            float[] pw = new float[cols];
            boolean[] exact = new boolean[gpr];
            for (int g = 0; g < gpr; g++) {
                int from = g * gl;
                int to = Math.min(cols, from + gl);
                float min = Float.POSITIVE_INFINITY;
                float max = Float.NEGATIVE_INFINITY;
                for (int i = from; i < to; i++) {
                    min = Math.min(min, w[off + i]);
                    max = Math.max(max, w[off + i]);
                }
                if (max > min && Float.isFinite(maxq / (max - min))) {
                    s[g] = maxq / (max - min);
                    z[g] = -min * s[g];
                } else {
                    exact[g] = true; // a constant group: stored exactly below
                    s[g] = 1f;
                    z[g] = 0f;
                }
            }
            System.arraycopy(z, 0, bestZ, 0, gpr);
            float beta = beta0;
            double bestErr = Double.POSITIVE_INFINITY;
            for (int it = 0; it < iterations; it++) {
                double err = 0;
                for (int g = 0; g < gpr; g++) {
                    for (int i = g * gl, to = Math.min(cols, i + gl); i < to; i++) {
                        float q = (float) Math.rint(Math.min(Math.max(w[off + i] * s[g] + z[g], 0f), maxq));
                        wq[i] = q;
                        wr[i] = (q - z[g]) / s[g];
                        err += Math.abs(w[off + i] - wr[i]);
                    }
                }
                err /= Math.max(cols, 1);
                if (!(err < bestErr)) {
                    break;
                }
                bestErr = err;
                System.arraycopy(z, 0, bestZ, 0, gpr);
                for (int i = 0; i < cols; i++) {
                    pw[i] = Math.abs(w[off + i] - wr[i]) + 1e-8f;
                }
                kernels.signedPower(pw, 0, pw, 0, cols, p - 1f);
                for (int g = 0; g < gpr; g++) {
                    int from = g * gl;
                    int to = Math.min(cols, from + gl);
                    double sum = 0;
                    for (int i = from; i < to; i++) {
                        float x = w[off + i] - wr[i];
                        float ax = Math.abs(x);
                        float shrunk = Math.copySign(Math.max(ax - pw[i] / beta, 0f), x);
                        sum += wq[i] - (w[off + i] - shrunk) * s[g];
                    }
                    z[g] = (float) (sum / (to - from));
                }
                beta *= kappa;
            }
            int[] codes = new int[cols];
            float[] scales = new float[gpr];
            float[] zeros = new float[gpr];
            for (int g = 0; g < gpr; g++) {
                int from = g * gl;
                int to = Math.min(cols, from + gl);
                if (exact[g]) {
                    float v = w[off + from];
                    scales[g] = Rows.storable(Math.abs(v), spec.scaleType(), r);
                    zeros[g] = v < 0f ? 1f : 0f;
                    for (int i = from; i < to; i++) {
                        codes[i] = v > 0f ? 1 : 0;
                    }
                } else {
                    scales[g] = Rows.storable(1f / s[g], spec.scaleType(), r);
                    zeros[g] = Rows.storable(bestZ[g], spec.scaleType(), r);
                    for (int i = from; i < to; i++) {
                        codes[i] = (int) Math.rint(Math.min(Math.max(w[off + i] / scales[g] + zeros[g], 0f), maxq));
                    }
                }
                ranges[r * gpr + g] = scales[g] * maxq;
            }
            planes.writeRow(r, codes, scales, zeros);
        });
        return Rows.measure(name(), planes.tensor(null), w, executor, 0, null, ranges, null);
    }
}

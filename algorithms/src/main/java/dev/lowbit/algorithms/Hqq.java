package dev.lowbit.algorithms;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.MethodKernels;
import dev.lowbit.kernels.ScaleRule;
import dev.lowbit.kernels.ThreadPool;

import java.lang.foreign.Arena;

/**
 * HQQ, half-quadratic quantization without data (H. Badri, A. Shaji, "Half-Quadratic Quantization of Large Machine
 * Learning Models", Mobius Labs blog post, 2023; reference code github.com/mobiusml/hqq). Asymmetric with a float
 * zero point:
 * {@code Wq = clamp(rint(W·S + Z), 0, 2^b-1)}, {@code Wr = (Wq - Z)/S}, with the inverse step
 * {@code S} fixed at its min-max value per group and the zero point {@code Z} refined by the proximal
 * iteration {@code We = shrink_p(W - Wr, β)}, {@code Z ← mean_group(Wq - (W - We)·S)}, {@code β ← κβ},
 * where {@code shrink_p(x) = sign(x)·max(|x| - |x|^(p-1)/β, 0)}. The iteration stops early once the
 * mean {@code |W - Wr|} stops improving and keeps the zero points of the best iterate. Defaults:
 * p = 0.7, β0 = 10, κ = 1.01, 20 iterations.
 *
 * <p>Choices where the reference is silent: the early stop is judged per row (HQQ judges the whole
 * tensor at once), so that rows stay independent; {@code |x|^(p-1)} is taken at {@code |x| + 1e-8}
 * as in HQQ's code; the final scale {@code 1/S} and zero point are rounded to the scale type and the
 * codes recomputed from the stored values, so the tensor decodes to what was measured. A group whose
 * parameters the scale type cannot hold closely (too narrow for a float {@code S}, a subnormal step that
 * would decode it worse than all zeros, a step or zero point beyond the type) takes the min-max grid of
 * lowbit's round to nearest instead, whose integer zero point keeps 0 on the grid.
 */
public final class Hqq implements Quantizer {
    private final QuantSpec spec;
    private final float p;
    private final float beta0;
    private final float kappa;
    private final int iterations;
    private final ThreadPool pool;
    private final MethodKernels kernels = KernelProvider.methods();

    /** The defaults: p = 0.7, β0 = 10, κ = 1.01, 20 iterations. */
    public Hqq(QuantSpec spec, ThreadPool pool) {
        this(spec, 0.7f, 10f, 1.01f, 20, pool);
    }

    public Hqq(QuantSpec spec, float p, float beta0, float kappa, int iterations, ThreadPool pool) {
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
        this.pool = Rows.orCommon(pool);
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
        Rows.forEach(rows, pool, Rows.shareable(arena), r -> {
            int off = r * cols;
            float[] s = new float[gpr];
            float[] z = new float[gpr];
            float[] bestZ = new float[gpr];
            float[] wq = new float[cols];
            float[] wr = new float[cols];
            float[] pw = new float[cols];
            boolean[] fixed = new boolean[gpr];
            float[] mins = new float[gpr];
            float[] maxs = new float[gpr];
            for (int g = 0; g < gpr; g++) {
                int from = g * gl;
                int to = Math.min(cols, from + gl);
                float min = Float.POSITIVE_INFINITY;
                float max = Float.NEGATIVE_INFINITY;
                for (int i = from; i < to; i++) {
                    min = Math.min(min, w[off + i]);
                    max = Math.max(max, w[off + i]);
                }
                mins[g] = min;
                maxs[g] = max;
                float inv = maxq / (max - min);
                if (max > min && Float.isFinite(inv) && inv > 0f) {
                    s[g] = inv;
                    z[g] = -min * s[g];
                } else {
                    // A constant group, or one too narrow (or too wide) for a float S: no iteration, see below.
                    fixed[g] = true;
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
            float[] grid = new float[2];
            for (int g = 0; g < gpr; g++) {
                int from = g * gl;
                int to = Math.min(cols, from + gl);
                if (!(fixed[g] ? mins[g] == maxs[g] && constant(w[off + from], from, to, g, codes, scales, zeros)
                        : iterated(w, off, from, to, s[g], bestZ[g], maxq, g, codes, scales, zeros))) {
                    // The scale type cannot hold HQQ's parameters closely enough: the min-max grid of RTN.
                    Rows.minMaxGrid(mins[g], maxs[g], false, spec.bits(), spec.scaleType(),
                            new Rows.Group(w, off, r, g, from, to), grid);
                    scales[g] = grid[0];
                    zeros[g] = grid[1];
                    for (int i = from; i < to; i++) {
                        codes[i] = grid[0] == 0f ? (int) grid[1]
                                : Math.max(0, Math.min(maxq, (int) ((float) Math.rint(w[off + i] / grid[0]) + grid[1])));
                    }
                }
                ranges[r * gpr + g] = scales[g] * maxq;
            }
            planes.writeRow(r, codes, scales, zeros);
        });
        return Rows.measure(name(), planes.tensor(null), w, pool, 0, null, ranges, null);
    }

    /**
     * A constant group of value {@code v}: scale {@code |v|} rounded to the scale type, zero point 0 (or 1 for a
     * negative {@code v}) and one code. False, with nothing written, when the rounded scale would decode further
     * from {@code v} than 0 is (a subnormal fp16 {@code |v|} floored to {@code 2^-24}) or the type cannot hold it.
     */
    private boolean constant(float v, int from, int to, int g, int[] codes, float[] scales, float[] zeros) {
        float d = ScaleRule.round(Math.abs(v), v != 0f, spec.scaleType());
        if (!Float.isFinite(d) || (v != 0f && !(Math.abs(d - Math.abs(v)) < Math.abs(v)))) {
            return false;
        }
        scales[g] = d;
        zeros[g] = v < 0f ? 1f : 0f;
        for (int i = from; i < to; i++) {
            codes[i] = v > 0f ? 1 : 0;
        }
        return true;
    }

    /**
     * HQQ's parameters of an iterated group, {@code 1/S} and the best zero point, rounded to the scale type, and the
     * codes recomputed from them. False, with the outputs to be overwritten, when the type cannot hold them, when
     * a code would decode beyond the largest float (fp32 steps of weights near 3.4e38), or when the group would
     * decode with a larger squared error than all zeros: the zero point is a free float, so HQQ's grid need not
     * hold 0 (a floored fp16 step of a tiny group lands every code away from 0, and its L_p objective can trade
     * squared error away at 2 bits); RTN's min-max grid, which holds 0, is never worse than zeros.
     */
    private boolean iterated(float[] w, int off, int from, int to, float s, float z, int maxq, int g, int[] codes,
                             float[] scales, float[] zeros) {
        float d = ScaleRule.round(1f / s, true, spec.scaleType());
        float zs = ScaleRule.round(z, z != 0f, spec.scaleType());
        if (!Float.isFinite(d) || !Float.isFinite(zs)) {
            return false;
        }
        double err = 0;
        for (int i = from; i < to; i++) {
            int q = (int) Math.rint(Math.min(Math.max(w[off + i] / d + zs, 0f), maxq));
            codes[i] = q;
            double e = (double) w[off + i] - (q - zs) * d;
            err += e * e;
        }
        if (!Double.isFinite(err) || err > Rows.energy(w, off + from, off + to)) {
            return false;
        }
        scales[g] = d;
        zeros[g] = zs;
        return true;
    }
}

package dev.lowbit.algorithms;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.kernels.ThreadPool;

import dev.lowbit.kernels.KernelProvider;

import dev.lowbit.kernels.MethodKernels;

import java.lang.foreign.Arena;

/**
 * MSE-optimal clipping grid (the {@code mse=True} search of the reference code of GPTQ: E. Frantar, S. Ashkboos,
 * T. Hoefler, D. Alistarh, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers",
 * ICLR 2023, arXiv:2210.17323): for each group, try the
 * ranges {@code [p·min, p·max]} for {@code p = 1 - i/100}, {@code i = 0 .. steps-1}, score each by
 * {@code Σ |Q(x) - x|^norm} with {@link MethodKernels#candidateErrors} (all candidates in one pass),
 * and keep the best (the widest on a tie). As in GPTQ, {@code min} and {@code max} are first widened
 * to hold 0 and the zero point is rounded to an integer; the symmetric variant shrinks {@code absmax}
 * on the narrow range instead. Defaults: 80 steps, norm 2.4, asymmetric.
 */
public final class MseClip implements Quantizer {
    private final QuantSpec spec;
    private final boolean symmetric;
    private final int steps;
    private final float norm;
    private final ThreadPool pool;
    private final MethodKernels kernels;

    /** The defaults: asymmetric, 80 steps of 1%, norm 2.4. */
    public MseClip(QuantSpec spec, ThreadPool pool) {
        this(spec, false, 80, 2.4f, pool, KernelProvider.methods());
    }

    public MseClip(QuantSpec spec, boolean symmetric, int steps, float norm, ThreadPool pool, MethodKernels kernels) {
        if (spec == null || kernels == null) {
            throw new IllegalArgumentException("spec and kernels must not be null");
        }
        if (steps < 1 || steps > 100) {
            throw new IllegalArgumentException("steps must be in [1, 100], got " + steps);
        }
        if (!(norm > 0f) || !Float.isFinite(norm)) {
            throw new IllegalArgumentException("norm must be positive and finite, got " + norm);
        }
        this.spec = spec;
        this.symmetric = symmetric;
        this.steps = steps;
        this.norm = norm;
        this.pool = Rows.orCommon(pool);
        this.kernels = kernels;
    }

    @Override
    public String name() {
        return "mse";
    }

    @Override
    public QuantResult quantize(float[] w, int rows, int cols, Arena arena) {
        Rows.checkInput(w, rows, cols);
        QuantFormat f = spec.grouped(symmetric);
        Rows.Planes planes = new Rows.Planes(f, rows, cols, arena);
        int gpr = planes.groupsPerRow;
        int gl = f.groupLength(cols);
        float[] ranges = new float[rows * gpr];
        int maxq = f.maxCode();
        int half = 1 << (spec.bits() - 1);
        int lo = symmetric ? 1 : 0;
        Rows.forEach(rows, pool, Rows.shareable(arena), r -> {
            int[] codes = new int[cols];
            float[] scales = new float[gpr];
            float[] zeros = new float[gpr];
            float[] d = new float[steps];
            float[] z = new float[steps];
            double[] err = new double[steps];
            for (int g = 0; g < gpr; g++) {
                int off = r * cols + g * gl;
                int len = Math.min(gl, cols - g * gl);
                float min = 0f;
                float max = 0f;
                for (int i = off; i < off + len; i++) {
                    min = Math.min(min, w[i]);
                    max = Math.max(max, w[i]);
                }
                candidates(min, max, steps, symmetric, spec, maxq, half, new Rows.Group(w, r * cols, r, g, g * gl,
                        g * gl + len), d, z);
                kernels.candidateErrors(w, off, len, d, z, steps, lo, maxq, norm, err);
                int best = 0;
                for (int i = 1; i < steps; i++) {
                    if (err[i] < err[best]) {
                        best = i;
                    }
                }
                scales[g] = d[best];
                zeros[g] = z[best];
                ranges[r * gpr + g] = symmetric ? d[best] * (half - 1) : d[best] * maxq;
                for (int i = 0; i < len; i++) {
                    codes[g * gl + i] = code(w[off + i], d[best], z[best], lo, maxq);
                }
            }
            planes.writeRow(r, codes, scales, zeros);
        });
        return Rows.measure(name(), planes.tensor(null), w, pool, 0, null, ranges, null);
    }

    /**
     * The {@code steps} candidate grids {@code (d[i], z[i])} of a group whose range, widened to hold 0, is
     * {@code [min, max]}: {@code [p·min, p·max]} for {@code p = 1 - i/100}, scales rounded to the scale type
     * (symmetric: {@code p·absmax} on the narrow grid, zero point {@code half}).
     */
    static void candidates(float min, float max, int steps, boolean symmetric, QuantSpec spec, int maxq, int half,
                           Rows.Group at, float[] d, float[] z) {
        float absmax = Math.max(-min, max);
        if (!symmetric && !Float.isFinite(max - min)) {
            throw Rows.spanTooWide(at);
        }
        for (int i = 0; i < steps; i++) {
            float p = 1f - i / 100f;
            if (symmetric) {
                d[i] = Rows.storable(p * absmax / (half - 1), spec.scaleType(), at);
                z[i] = half;
            } else {
                float cmin = p * min;
                float cmax = p * max;
                d[i] = Rows.storable((cmax - cmin) / maxq, spec.scaleType(), at);
                z[i] = d[i] == 0f ? 0f : Math.min(Math.max((float) Math.rint(-cmin / d[i]), 0f), maxq);
            }
        }
    }

    /** {@code clamp(rint(x/d + z), lo, hi)}, or {@code z} for a zero scale. */
    static int code(float x, float d, float z, int lo, int hi) {
        if (d == 0f) {
            return (int) z;
        }
        return (int) Math.rint(Math.min(Math.max(x / d + z, lo), hi));
    }
}

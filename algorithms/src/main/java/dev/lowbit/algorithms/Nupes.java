package dev.lowbit.algorithms;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.kernels.ThreadPool;

import dev.lowbit.kernels.KernelProvider;

import dev.lowbit.kernels.MethodKernels;

import java.lang.foreign.Arena;

/**
 * NUPES / PowerQuant, data-free part (E. Yvinec, A. Dapogny, K. Bailly, "NUPES: Non-Uniform Post-Training
 * Quantization via Power Exponent Search", arXiv:2308.05600, 2023; IEEE TPAMI 2025): the power quantizer
 * {@code q = clamp(rint(N·t_a(x)/t_a(m)), -N, N)}, {@code x̂ = sign(q)·m·(|q|/N)^(1/a)} with
 * {@code t_a(x) = sign(x)·|x|^a}, {@code N = 2^(b-1) - 1} and {@code m} the group's absmax (stored as
 * the group's scale), and a golden-section search for the exponent {@code a} that minimizes
 * {@code ||W - Ŵ_a||^2}: one exponent per tensor or one per row (channel). Defaults: per tensor,
 * {@code a ∈ [0.1, 1]}, tolerance 1e-3, at most 50 evaluations.
 *
 * <p>Choices where the paper is silent: {@code m} is per group (the paper's per-channel absmax when the
 * group is the whole row); {@code a = 1} (uniform) is evaluated first whenever it lies in the interval,
 * and the search returns another exponent only when its error is strictly lower, so the result
 * never does worse than plain symmetric quantization on the same grid.
 *
 * <p>Storage: one exponent per tensor at 4 bits is a 4-bit codebook whose levels are
 * {@code sign(q)·(|q|/N)^(1/a)} at index {@code q + 8}, with an unused extra level {@code -(8/7)^(1/a)}
 * at index 0 (the table needs 16 increasing levels): the tensor decodes by itself. For other bit
 * widths, or one exponent per row, the tensor holds grouped symmetric codes {@code q + 2^(b-1)} and
 * per-group scales {@code m}, and the exponents live in {@link QuantResult#exponents()} only:
 * lowbit's formats have no exponent plane yet, so {@link #dequantize} is the way to decode them.
 */
public final class Nupes implements Quantizer {
    private final QuantSpec spec;
    private final boolean perChannel;
    private final float aMin;
    private final float aMax;
    private final float tolerance;
    private final int maxEvaluations;
    private final ThreadPool pool;
    private final MethodKernels kernels;

    /** The defaults: one exponent per tensor, searched in [0.1, 1] to 1e-3 with at most 50 evaluations. */
    public Nupes(QuantSpec spec, ThreadPool pool) {
        this(spec, false, 0.1f, 1f, 1e-3f, 50, pool, KernelProvider.methods());
    }

    public Nupes(QuantSpec spec, boolean perChannel, float aMin, float aMax, float tolerance, int maxEvaluations,
                 ThreadPool pool, MethodKernels kernels) {
        if (spec == null || kernels == null) {
            throw new IllegalArgumentException("spec and kernels must not be null");
        }
        if (!(aMin > 0f) || !(aMax >= aMin) || !Float.isFinite(aMax)) {
            throw new IllegalArgumentException("the exponent interval must satisfy 0 < aMin <= aMax, got [" + aMin + ", "
                    + aMax + "]");
        }
        if (!(tolerance > 0f) || maxEvaluations < 1) {
            throw new IllegalArgumentException("tolerance must be positive and maxEvaluations at least 1, got "
                    + tolerance + ", " + maxEvaluations);
        }
        this.spec = spec;
        this.perChannel = perChannel;
        this.aMin = aMin;
        this.aMax = aMax;
        this.tolerance = tolerance;
        this.maxEvaluations = maxEvaluations;
        this.pool = Rows.orCommon(pool);
        this.kernels = kernels;
    }

    @Override
    public String name() {
        return "nupes";
    }

    /** The search interval's ends. */
    public float aMin() {
        return aMin;
    }

    public float aMax() {
        return aMax;
    }

    @Override
    public QuantResult quantize(float[] w, int rows, int cols, Arena arena) {
        Rows.checkInput(w, rows, cols);
        int gl = spec.grouped(true).groupLength(cols);
        int n = (1 << (spec.bits() - 1)) - 1;
        float[] exps;
        if (perChannel) {
            exps = new float[rows];
            Rows.forEach(rows, pool, true, r -> {
                float[] buf = new float[cols];
                exps[r] = search(a -> rowError(w, r * cols, cols, gl, n, a, buf));
            });
        } else {
            exps = new float[] {search(a -> Rows.sum(rowErrors(w, rows, cols, a)))};
        }
        boolean codebook = !perChannel && spec.bits() == 4;
        QuantFormat f = codebook ? spec.codebook() : spec.grouped(true);
        Rows.Planes planes = new Rows.Planes(f, rows, cols, arena);
        int gpr = planes.groupsPerRow;
        float[] ranges = new float[rows * gpr];
        double[] rowError = new double[rows];
        Rows.forEach(rows, pool, Rows.shareable(arena), r -> {
            float a = exps[perChannel ? r : 0];
            float[] lv = levels(n, a);
            float[] tx = new float[cols];
            int[] codes = new int[cols];
            float[] scales = new float[gpr];
            int off = r * cols;
            kernels.signedPower(w, off, tx, 0, cols, a);
            double err = 0;
            for (int g = 0; g < gpr; g++) {
                int from = g * gl;
                int to = Math.min(cols, from + gl);
                float d = scale(new Rows.Group(w, off, r, g, from, to));
                float tm = power(d, a);
                scales[g] = d;
                ranges[r * gpr + g] = d;
                for (int i = from; i < to; i++) {
                    int q = code(tx[i], tm, n);
                    codes[i] = codebook ? q + 8 : q + n + 1;
                    double e = (double) w[off + i] - lv[q + n] * d;
                    err += e * e;
                }
            }
            rowError[r] = err;
            planes.writeRow(r, codes, scales, null);
        });
        if (codebook) {
            float[] table = new float[16];
            table[0] = -(float) Math.pow(8.0 / 7.0, 1.0 / exps[0]);
            System.arraycopy(levels(n, exps[0]), 0, table, 1, 15);
            return Rows.measure(name(), planes.tensor(table), w, pool, 0, exps, ranges, null);
        }
        return new QuantResult(name(), planes.tensor(null), Rows.sum(rowError), Rows.energy(w), rowError, 0, exps,
                false, ranges, null);
    }

    /**
     * Decodes a result of this method whose exponents are not in its tensor: grouped symmetric codes
     * {@code c}, {@code q = c - 2^(b-1)}, {@code x̂ = sign(q)·d·(|q|/N)^(1/a)} with the row's exponent.
     */
    public static void dequantize(QuantResult result, float[] dst) {
        QuantizedTensor t = result.tensor();
        if (result.exponents() == null) {
            throw new IllegalArgumentException("the result carries no exponents: it is not a NUPES result");
        }
        Rows.checkShape(t.rows(), t.cols(), dst == null ? -1 : dst.length, "dst");
        if (result.exponentsInTensor()) {
            dev.lowbit.kernels.QuantOps.get().dequantize(t, dst);
            return;
        }
        QuantFormat f = t.format();
        int n = (1 << (f.bits() - 1)) - 1;
        int cols = t.cols();
        int gl = f.groupLength(cols);
        float[] exps = result.exponents();
        for (int r = 0; r < t.rows(); r++) {
            float[] lv = levels(n, exps[exps.length == 1 ? 0 : r]);
            for (int c = 0; c < cols; c++) {
                int q = Reference.code(t, r, c) - (n + 1);
                dst[r * cols + c] = lv[q + n] * Reference.scale(t, r, c / gl);
            }
        }
    }

    /** {@code ||W - Ŵ_a||^2} of each row at exponent {@code a}, rows in parallel. */
    public double[] rowErrors(float[] w, int rows, int cols, float a) {
        Rows.checkShape(rows, cols, w == null ? -1 : w.length, "w");
        int gl = spec.grouped(true).groupLength(cols);
        int n = (1 << (spec.bits() - 1)) - 1;
        double[] e = new double[rows];
        Rows.forEach(rows, pool, true, r -> e[r] = rowError(w, r * cols, cols, gl, n, a, new float[cols]));
        return e;
    }

    private double rowError(float[] w, int off, int cols, int gl, int n, float a, float[] tx) {
        float[] lv = levels(n, a);
        kernels.signedPower(w, off, tx, 0, cols, a);
        double err = 0;
        for (int from = 0; from < cols; from += gl) {
            int to = Math.min(cols, from + gl);
            float d = scale(new Rows.Group(w, off, off / cols, from / gl, from, to));
            float tm = power(d, a);
            for (int i = from; i < to; i++) {
                double e = (double) w[off + i] - lv[code(tx[i], tm, n) + n] * d;
                err += e * e;
            }
        }
        return err;
    }

    /** The group's absmax, rounded to the scale type by {@link Rows#storable}. */
    private float scale(Rows.Group at) {
        float m = 0f;
        for (int i = at.rowOff() + at.from(); i < at.rowOff() + at.to(); i++) {
            m = Math.max(m, Math.abs(at.w()[i]));
        }
        return Rows.storable(m, spec.scaleType(), at);
    }

    private static float power(float x, float a) {
        return (float) Math.pow(x, a);
    }

    /** {@code clamp(rint(N·tx/tm), -N, N)}; 0 for an all-zero group. */
    private static int code(float tx, float tm, int n) {
        if (tm == 0f) {
            return 0;
        }
        float t = n * tx / tm;
        if (Float.isInfinite(t)) {
            t = (float) ((double) n * tx / tm); // n·tx beyond the largest float (weights near 3e38)
        }
        return (int) Math.rint(Math.min(Math.max(t, -n), n));
    }

    /** The 2N+1 reconstruction levels {@code sign(q)·(|q|/N)^(1/a)}, index {@code q + N}. */
    static float[] levels(int n, float a) {
        float[] lv = new float[2 * n + 1];
        for (int q = -n; q <= n; q++) {
            lv[q + n] = q == 0 ? 0f : (float) Math.copySign(Math.pow(Math.abs(q) / (double) n, 1.0 / a), q);
        }
        return lv;
    }

    private interface Objective {
        double at(float a);
    }

    /**
     * Golden-section search for the smallest error in {@code [aMin, aMax]}; {@code a = 1} first when it
     * lies inside, and any other exponent only when strictly better than every point before it.
     */
    private float search(Objective e) {
        float best = Float.NaN;
        double bestE = Double.POSITIVE_INFINITY;
        int evals = 0;
        if (aMin <= 1f && 1f <= aMax) {
            best = 1f;
            bestE = e.at(1f);
            evals++;
        }
        if (aMin == aMax) {
            return Float.isNaN(best) ? aMin : best;
        }
        double gr = (Math.sqrt(5) - 1) / 2;
        double lo = aMin;
        double hi = aMax;
        double c = hi - gr * (hi - lo);
        double d = lo + gr * (hi - lo);
        double fc = e.at((float) c);
        double fd = e.at((float) d);
        evals += 2;
        if (fc < bestE) {
            bestE = fc;
            best = (float) c;
        }
        if (fd < bestE) {
            bestE = fd;
            best = (float) d;
        }
        while (hi - lo > tolerance && evals < maxEvaluations) {
            double x;
            double fx;
            if (fc < fd) {
                hi = d;
                d = c;
                fd = fc;
                c = hi - gr * (hi - lo);
                x = c;
                fx = fc = e.at((float) c);
            } else {
                lo = c;
                c = d;
                fc = fd;
                d = lo + gr * (hi - lo);
                x = d;
                fx = fd = e.at((float) d);
            }
            evals++;
            if (fx < bestE) {
                bestE = fx;
                best = (float) x;
            }
        }
        return best;
    }
}

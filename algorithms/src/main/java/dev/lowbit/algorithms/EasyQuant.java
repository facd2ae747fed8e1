package dev.lowbit.algorithms;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.kernels.ThreadPool;

import dev.lowbit.kernels.KernelProvider;

import dev.lowbit.kernels.MethodKernels;

import java.lang.foreign.Arena;

/**
 * EasyQuant (H. Tang, Y. Sun, D. Wu, K. Liu, J. Zhu, Z. Kang, "EasyQuant: An Efficient Data-free Quantization
 * Algorithm for LLMs", EMNLP 2023, arXiv:2403.02775): weight-only, data-free, symmetric on the narrow range
 * {@code ±N}, {@code N = 2^(b-1) - 1}.
 * <ol>
 *   <li>Outliers: entries with {@code |w - μ| > n·σ} (μ, σ of the row, or of the whole tensor) are
 *       kept in full precision in the tensor's {@link SparseOutliers}; the dense part holds 0 there.</li>
 *   <li>Range descent: each group's clip range {@code s} starts at the largest normal magnitude and
 *       follows Adam on {@code L(s) = Σ (Q(w; s) - w)^2} over the normal entries, with the
 *       straight-through range gradient of {@link MethodKernels#rangeGradient}. The best {@code s}
 *       seen is kept, and after rounding the step {@code s/N} to the scale type the result is compared
 *       with the initial range: a group never ends with a larger error than it started with.</li>
 * </ol>
 * Defaults: n = 3 with per-row statistics, 100 Adam steps (β1 0.9, β2 0.999, ε 1e-8) at
 * {@code lr = 1e-3·s(0)}. The paper tunes one range per output channel; here each group has its own
 * range, which is the paper's setting when the group is the whole row ({@code QuantFormat.ROW}).
 */
public final class EasyQuant implements Quantizer {
    private final QuantSpec spec;
    private final float sigmas;
    private final boolean tensorStats;
    private final int iterations;
    private final float lrFactor;
    private final ThreadPool pool;
    private final MethodKernels kernels;

    /** The defaults: n = 3 per row, 100 steps of Adam at 1e-3 of the initial range. */
    public EasyQuant(QuantSpec spec, ThreadPool pool) {
        this(spec, 3f, false, 100, 1e-3f, pool, KernelProvider.methods());
    }

    /**
     * @param sigmas      n: an entry beyond n standard deviations from the mean is an outlier; infinity keeps none
     * @param tensorStats take μ and σ over the whole tensor instead of per row
     * @param iterations  Adam steps per group (0: the initial range)
     * @param lrFactor    the learning rate as a fraction of the initial range
     */
    public EasyQuant(QuantSpec spec, float sigmas, boolean tensorStats, int iterations, float lrFactor,
                     ThreadPool pool, MethodKernels kernels) {
        if (spec == null || kernels == null) {
            throw new IllegalArgumentException("spec and kernels must not be null");
        }
        if (!(sigmas > 0f)) {
            throw new IllegalArgumentException("sigmas must be positive, got " + sigmas);
        }
        if (iterations < 0) {
            throw new IllegalArgumentException("iterations must be non-negative, got " + iterations);
        }
        if (!(lrFactor > 0f) || !Float.isFinite(lrFactor)) {
            throw new IllegalArgumentException("lrFactor must be positive and finite, got " + lrFactor);
        }
        this.spec = spec;
        this.sigmas = sigmas;
        this.tensorStats = tensorStats;
        this.iterations = iterations;
        this.lrFactor = lrFactor;
        this.pool = Rows.orCommon(pool);
        this.kernels = kernels;
    }

    @Override
    public String name() {
        return "easyquant";
    }

    @Override
    public QuantResult quantize(float[] w, int rows, int cols, Arena arena) {
        Rows.checkInput(w, rows, cols);
        QuantFormat f = spec.grouped(true);
        Rows.Planes planes = new Rows.Planes(f, rows, cols, arena);
        int gpr = planes.groupsPerRow;
        int gl = f.groupLength(cols);
        int n = (1 << (spec.bits() - 1)) - 1;
        int half = n + 1;
        double[] tensorMoments = tensorStats ? moments(w, 0, w.length) : null;
        float[] dense = w.clone();
        int[][] outCols = new int[rows][];
        float[] ranges = new float[rows * gpr];
        double[] rowInitial = new double[rows];
        Rows.forEach(rows, pool, Rows.shareable(arena), r -> {
            int off = r * cols;
            double[] mom = tensorStats ? tensorMoments : moments(w, off, cols);
            double limit = sigmas * mom[1];
            int count = 0;
            int[] found = new int[cols];
            for (int c = 0; c < cols; c++) {
                if (Math.abs(w[off + c] - mom[0]) > limit) {
                    found[count++] = c;
                    dense[off + c] = 0f;
                }
            }
            outCols[r] = java.util.Arrays.copyOf(found, count);
            int[] codes = new int[cols];
            float[] scales = new float[gpr];
            double[] grad = new double[2];
            float[] initHat = new float[cols];
            for (int g = 0; g < gpr; g++) {
                int goff = off + g * gl;
                int len = Math.min(gl, cols - g * gl);
                float s0 = 0f;
                for (int i = goff; i < goff + len; i++) {
                    s0 = Math.max(s0, Math.abs(dense[i]));
                }
                Rows.Group at = new Rows.Group(dense, off, r, g, g * gl, g * gl + len);
                float d0 = finite(Rows.storable(s0 / n, spec.scaleType(), at), n);
                double e0 = error(dense, goff, len, d0, n);
                float d = d0;
                double e = e0;
                if (s0 > 0f && iterations > 0) {
                    float best = descend(dense, goff, len, s0, n, grad);
                    float db = finite(Rows.storable(best / n, spec.scaleType(), at), n);
                    double eb = error(dense, goff, len, db, n);
                    if (eb < e0) {
                        d = db;
                        e = eb;
                    }
                }
                for (int i = 0; i < len; i++) {
                    initHat[g * gl + i] = quantize(dense[goff + i], d0, n) * d0;
                }
                scales[g] = d;
                ranges[r * gpr + g] = d * n;
                for (int i = 0; i < len; i++) {
                    codes[g * gl + i] = half + quantize(dense[goff + i], d, n);
                }
            }
            for (int c = 0; c < count; c++) {
                initHat[found[c]] = w[off + found[c]];
            }
            // Summed as Rows.measure sums the final error, so that the two compare exactly.
            double initial = 0;
            for (int c = 0; c < cols; c++) {
                double e = (double) w[off + c] - initHat[c];
                initial += e * e;
            }
            rowInitial[r] = initial;
            planes.writeRow(r, codes, scales, null);
        });
        int[] rowPtr = new int[rows + 1];
        for (int r = 0; r < rows; r++) {
            rowPtr[r + 1] = rowPtr[r] + outCols[r].length;
        }
        int[] colIdx = new int[rowPtr[rows]];
        float[] values = new float[rowPtr[rows]];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < outCols[r].length; j++) {
                colIdx[rowPtr[r] + j] = outCols[r][j];
                values[rowPtr[r] + j] = w[r * cols + outCols[r][j]];
            }
        }
        QuantizedTensor t = planes.tensor(null)
                .withOutliers(SparseOutliers.of(rows, cols, rowPtr, colIdx, values, arena));
        return Rows.measure(name(), t, w, pool, colIdx.length, null, ranges, rowInitial);
    }

    /** Adam on the clip range from {@code s0}; returns the range with the smallest loss seen. */
    private float descend(float[] x, int off, int len, float s0, int n, double[] out) {
        double lr = (double) lrFactor * s0;
        double m = 0;
        double v = 0;
        double b1t = 1;
        double b2t = 1;
        float s = s0;
        float best = s0;
        double bestLoss = Double.POSITIVE_INFINITY;
        float floor = s0 * 1e-3f;
        for (int it = 0; it < iterations; it++) {
            kernels.rangeGradient(x, off, len, s / n, n, out);
            if (out[0] < bestLoss) {
                bestLoss = out[0];
                best = s;
            }
            double g = out[1];
            m = 0.9 * m + 0.1 * g;
            v = 0.999 * v + 0.001 * g * g;
            b1t *= 0.9;
            b2t *= 0.999;
            double step = lr * (m / (1 - b1t)) / (Math.sqrt(v / (1 - b2t)) + 1e-8);
            s = (float) Math.max(s - step, floor);
        }
        return best;
    }

    /**
     * {@code d}, stepped down while the outermost level {@code n·d} overflows a float (fp32 steps of weights near
     * 3.4e38; never an fp16 step, whose largest level is at most {@code 127·65504}), so that every code decodes to
     * a finite value.
     */
    private static float finite(float d, int n) {
        while (Float.isInfinite(n * d)) {
            d = Math.nextDown(d);
        }
        return d;
    }

    /** {@code clamp(rint(x/d), -n, n)}; 0 for a zero step. */
    private static int quantize(float x, float d, int n) {
        return d == 0f ? 0 : (int) Math.rint(Math.min(Math.max(x / d, -n), n));
    }

    /** The squared error of the group at step {@code d}, computed as the dequantized tensor computes it. */
    private static double error(float[] x, int off, int len, float d, int n) {
        double s = 0;
        for (int i = off; i < off + len; i++) {
            float xh = quantize(x[i], d, n) * d;
            double e = (double) x[i] - xh;
            s += e * e;
        }
        return s;
    }

    /** Mean and population standard deviation, in double. */
    private static double[] moments(float[] w, int off, int len) {
        double mean = 0;
        for (int i = off; i < off + len; i++) {
            mean += w[i];
        }
        mean /= Math.max(len, 1);
        double var = 0;
        for (int i = off; i < off + len; i++) {
            double d = w[i] - mean;
            var += d * d;
        }
        return new double[] {mean, Math.sqrt(var / Math.max(len, 1))};
    }
}

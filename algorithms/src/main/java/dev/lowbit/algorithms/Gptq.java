package dev.lowbit.algorithms;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.MethodKernels;
import dev.lowbit.kernels.NonFinitePolicy;
import dev.lowbit.kernels.ThreadPool;

import java.lang.foreign.Arena;
import java.util.Arrays;

/**
 * GPTQ (E. Frantar, S. Ashkboos, T. Hoefler, D. Alistarh, "GPTQ: Accurate Post-Training Quantization for Generative
 * Pre-trained Transformers", ICLR 2023, arXiv:2210.17323): quantizes a linear layer's weight rows column by column and
 * pushes each column's rounding error onto the columns not yet quantized, weighted by the inverse Hessian of the
 * layer's reconstruction error {@code ||W X - Ŵ X||²}, so that the error the layer's outputs see is small rather
 * than the error of the weights themselves.
 *
 * <p>Unlike the {@link Quantizer}s, GPTQ needs data: the Hessian {@code H = (2/n)·Σ x xᵀ} of the layer's
 * <em>input</em> rows {@code x} (length {@code cols}) over {@code n} calibration tokens. The caller runs the model
 * on calibration text, accumulates {@code H} per layer and passes it to {@link #quantize}. Only the shape of
 * {@code H} matters up to a positive factor: the updates use ratios of {@code H⁻¹} entries, and the dampening is
 * relative to {@code mean(diag H)}.
 *
 * <p>The algorithm, as the reference code ({@code IST-DASLab/gptq}, {@code fasterquant}) runs it:
 * <ol>
 *   <li>Dead columns ({@code H_ii == 0}, inputs that are always 0): {@code H_ii = 1} and {@code W[:, i] = 0}.</li>
 *   <li>Optional act-order: columns permuted by descending {@code H_ii}.</li>
 *   <li>Dampening: {@code H += λ·mean(diag H)·I}, {@code λ = 0.01} by default.</li>
 *   <li>{@code U} = the upper Cholesky factor of {@code H⁻¹} ({@code H⁻¹ = Uᵀ U}), in double.</li>
 *   <li>Columns in blocks of {@code blockSize} (128): for column {@code i}, {@code q = Q(w_i)},
 *       {@code e = (w_i − q)/U_ii}, and {@code w_j −= e·U_ij} for the later columns {@code j} of the block; after
 *       the block, the block's errors are pushed to all remaining columns at once (the lazy batch update).</li>
 *   <li>With groups, a group's scale and zero point are found when its first column is reached, from the group's
 *       weights as the earlier columns' errors have updated them (within a block the in-block updates are
 *       included; a group longer than the block sees the later blocks' columns before this block's batch
 *       update, as in the reference).</li>
 * </ol>
 * Rows are independent given {@code H}, so each row runs this loop by itself (on the pool); the arithmetic is
 * that of the matrix form, row by row.
 *
 * <p>Grids ({@link Options#mseGrid}): min-max, exactly the rule of lowbit's round-to-nearest ({@link Rtn}:
 * asymmetric widened to hold 0, or symmetric narrow), or the MSE clipping search of {@link MseClip} (80 shrink
 * steps, norm 2.4, GPTQ's {@code mse=True}). In both the scale and zero point are rounded to the scale type
 * before any code is computed, so the stored scale is the one the errors were fed back with.
 *
 * <p>Act-order with groups: a permuted column order would make a group's first column a different column in
 * every row. With {@link Options#actOrder} the group parameters are therefore found up front on the original
 * weights (GPTQ's {@code static_groups}) and every column is quantized with the parameters of the group it
 * belongs to in the original column order; the stored tensor is in the ordinary grouped format.
 *
 * <p>The output is an ordinary grouped {@link dev.lowbit.format.QuantizedTensor}
 * ({@link QuantSpec#grouped}), run by the same integer kernels as RTN's; its error in the result is
 * {@code ||W − Ŵ||²} of the weights (which GPTQ does not minimize).
 */
public final class Gptq {
    private Gptq() {
    }

    /** The result's method name. */
    public static final String NAME = "gptq";

    /**
     * GPTQ's settings.
     *
     * @param symmetric symmetric narrow groups (as {@code Rtn} with {@code symmetric = true}) instead of asymmetric
     * @param mseGrid   each group's grid by {@link MseClip}'s search (80 steps, norm 2.4) instead of min-max
     * @param actOrder  columns in order of descending {@code H_ii}, with static groups (see the class comment)
     * @param dampening λ of {@code H += λ·mean(diag H)·I}; 0.01 in GPTQ
     * @param blockSize columns per block of the lazy batch update; 128 in GPTQ
     */
    public record Options(boolean symmetric, boolean mseGrid, boolean actOrder, double dampening, int blockSize) {
        public Options {
            if (!(dampening >= 0) || !Double.isFinite(dampening)) {
                throw new IllegalArgumentException("dampening must be finite and >= 0, got " + dampening);
            }
            if (blockSize < 1) {
                throw new IllegalArgumentException("blockSize must be at least 1, got " + blockSize);
            }
        }

        /** Asymmetric, min-max grid, no act-order, dampening 0.01, blocks of 128. */
        public static final Options DEFAULT = new Options(false, false, false, 0.01, 128);

        public Options withSymmetric(boolean v) {
            return new Options(v, mseGrid, actOrder, dampening, blockSize);
        }

        public Options withMseGrid(boolean v) {
            return new Options(symmetric, v, actOrder, dampening, blockSize);
        }

        public Options withActOrder(boolean v) {
            return new Options(symmetric, mseGrid, v, dampening, blockSize);
        }

        @Override
        public String toString() {
            return (symmetric ? "symmetric" : "asymmetric") + ", " + (mseGrid ? "mse" : "min-max") + " grid"
                    + (actOrder ? ", act-order" : "") + ", damp " + dampening + ", block " + blockSize;
        }
    }

    /**
     * Quantizes {@code w} ({@code rows x cols}, row-major: output rows of a linear layer, one input per column)
     * with GPTQ. The input arrays are not modified.
     *
     * @param hessian  {@code H = (2/n)·Σ x xᵀ} of the layer's inputs, row-major {@code cols x cols}, symmetric,
     *                 finite, with a non-negative diagonal (any positive multiple gives the same result)
     * @param pool where rows run; null for {@link ThreadPool#common()}
     * @param arena    where the tensor's planes are allocated
     * @throws IllegalArgumentException before any work, if a shape does not match, a value is not finite, H is not
     *                                  symmetric or has a negative diagonal entry, or H is not positive definite
     *                                  after the dampening
     */
    public static QuantResult quantize(float[] w, int rows, int cols, double[] hessian, QuantSpec spec, Options options,
                                       ThreadPool pool, Arena arena) {
        if (spec == null || options == null || arena == null) {
            throw new IllegalArgumentException("spec, options and arena must not be null");
        }
        Rows.checkInput(w, rows, cols);
        checkHessian(hessian, cols);
        ThreadPool ex = Rows.orCommon(pool);
        QuantFormat f = spec.grouped(options.symmetric());

        // Dead columns, permutation, dampening, U = chol(H^-1) upper.
        double[] h = hessian.clone();
        boolean[] dead = new boolean[cols];
        for (int i = 0; i < cols; i++) {
            if (h[i * cols + i] == 0) {
                dead[i] = true;
                h[i * cols + i] = 1;
            }
        }
        int[] perm = order(h, cols, options.actOrder());
        double[] hp = new double[cols * cols];
        double mean = 0;
        for (int a = 0; a < cols; a++) {
            for (int b = 0; b < cols; b++) {
                hp[a * cols + b] = h[perm[a] * cols + perm[b]];
            }
            mean += hp[a * cols + a];
        }
        mean /= cols;
        double damp = options.dampening() * mean;
        for (int a = 0; a < cols; a++) {
            hp[a * cols + a] += damp;
        }
        double[] u = upperCholeskyOfInverse(hp, cols);

        Rows.Planes planes = new Rows.Planes(f, rows, cols, arena);
        int gpr = planes.groupsPerRow;
        int gl = f.groupLength(cols);
        Grid grid = new Grid(spec, f, options.symmetric(), options.mseGrid());
        int block = options.blockSize();
        Rows.forEach(rows, ex, Rows.shareable(arena), r -> {
            double[] x = new double[cols];
            for (int a = 0; a < cols; a++) {
                int c = perm[a];
                x[a] = dead[c] ? 0 : w[r * cols + c];
            }
            int[] codes = new int[cols];
            float[] scales = new float[gpr];
            float[] zeros = new float[gpr];
            float[] tmp = new float[gl];
            if (options.actOrder()) {
                // Static groups, on the original weights (dead columns zeroed).
                for (int g = 0; g < gpr; g++) {
                    int len = Math.min(gl, cols - g * gl);
                    for (int i = 0; i < len; i++) {
                        int c = g * gl + i;
                        tmp[i] = dead[c] ? 0f : w[r * cols + c];
                    }
                    grid.find(tmp, len, r, scales, zeros, g);
                }
            }
            double[] err = new double[block];
            for (int b0 = 0; b0 < cols; b0 += block) {
                int b1 = Math.min(cols, b0 + block);
                for (int a = b0; a < b1; a++) {
                    int c = perm[a];
                    int g = c / gl;
                    if (!options.actOrder() && c % gl == 0) {
                        int len = Math.min(gl, cols - c);
                        for (int i = 0; i < len; i++) {
                            tmp[i] = (float) x[a + i];
                        }
                        grid.find(tmp, len, r, scales, zeros, g);
                    }
                    float v = (float) x[a];
                    int code = grid.code(v, scales[g], zeros[g]);
                    codes[c] = code;
                    float q = (code - zeros[g]) * scales[g];
                    double e = (x[a] - q) / u[a * cols + a];
                    err[a - b0] = e;
                    int row = a * cols;
                    for (int j = a + 1; j < b1; j++) {
                        x[j] -= e * u[row + j];
                    }
                }
                for (int a = b0; a < b1; a++) {
                    double e = err[a - b0];
                    int row = a * cols;
                    for (int j = b1; j < cols; j++) {
                        x[j] -= e * u[row + j];
                    }
                }
            }
            planes.writeRow(r, codes, scales, zeros);
        });
        return Rows.measure(NAME, planes.tensor(null), w, ex, 0, null, null, null);
    }

    /**
     * {@link #quantize(float[], int, int, double[], QuantSpec, Options, ThreadPool, Arena)} with NaN and infinities in
     * {@code w} handled by {@code policy}, as {@link Quantizer#quantize(float[], int, int, Arena, NonFinitePolicy)}
     * handles them (CLAMP: a clamped copy is quantized and measured). The Hessian must be finite either way.
     */
    public static QuantResult quantize(float[] w, int rows, int cols, double[] hessian, QuantSpec spec, Options options,
                                       ThreadPool pool, Arena arena, NonFinitePolicy policy) {
        return quantize(Rows.applyPolicy(w, rows, cols, policy), rows, cols, hessian, spec, options, pool, arena);
    }

    private static void checkHessian(double[] h, int cols) {
        if (h == null) {
            throw new IllegalArgumentException("hessian must not be null");
        }
        if (h.length != (long) cols * cols) {
            throw new IllegalArgumentException("hessian has " + h.length + " values, not cols*cols = " + (long) cols * cols
                    + " (cols = " + cols + ")");
        }
        for (int i = 0; i < h.length; i++) {
            if (!Double.isFinite(h[i])) {
                throw new IllegalArgumentException("hessian value " + h[i] + " at (" + i / cols + ", " + i % cols
                        + ") is not finite");
            }
        }
        for (int i = 0; i < cols; i++) {
            if (h[i * cols + i] < 0) {
                throw new IllegalArgumentException("hessian diagonal entry " + i + " is negative (" + h[i * cols + i]
                        + "); H = (2/n)·Σ x xᵀ has none");
            }
            for (int j = i + 1; j < cols; j++) {
                double a = h[i * cols + j];
                double b = h[j * cols + i];
                if (Math.abs(a - b) > 1e-9 * (Math.abs(a) + Math.abs(b))) {
                    throw new IllegalArgumentException("hessian is not symmetric: (" + i + ", " + j + ") = " + a + " but ("
                            + j + ", " + i + ") = " + b);
                }
            }
        }
    }

    /** The column order: by descending diagonal (ties by index) for act-order, else the identity. */
    static int[] order(double[] h, int cols, boolean actOrder) {
        Integer[] idx = new Integer[cols];
        for (int i = 0; i < cols; i++) {
            idx[i] = i;
        }
        if (actOrder) {
            Arrays.sort(idx, (a, b) -> {
                int c = Double.compare(h[b * cols + b], h[a * cols + a]);
                return c != 0 ? c : Integer.compare(a, b);
            });
        }
        int[] p = new int[cols];
        for (int i = 0; i < cols; i++) {
            p[i] = idx[i];
        }
        return p;
    }

    /**
     * {@code U} upper triangular with {@code H⁻¹ = Uᵀ U} ({@code torch.linalg.cholesky(H⁻¹, upper=True)}), row-major.
     * With {@code J} the reversal, {@code J H J = L Lᵀ} gives {@code H = R Rᵀ} for the upper {@code R = J L J}, so
     * {@code H⁻¹ = R⁻ᵀ R⁻¹} and {@code U = R⁻¹}: one Cholesky and one triangular inverse.
     *
     * @throws IllegalArgumentException if {@code H} is not positive definite
     */
    static double[] upperCholeskyOfInverse(double[] h, int n) {
        // L = chol(J H J), lower, row-major.
        double[] l = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double s = h[(n - 1 - i) * n + (n - 1 - j)] - dot(l, i * n, l, j * n, j);
                if (i == j) {
                    if (!(s > 0)) {
                        throw new IllegalArgumentException("hessian is not positive definite after dampening (pivot " + s
                                + " at column " + (n - 1 - i) + " of the processing order); raise the dampening");
                    }
                    l[i * n + i] = Math.sqrt(s);
                } else {
                    l[i * n + j] = s / l[j * n + j];
                }
            }
        }
        // R = J L J (upper): R[i][j] = L[n-1-i][n-1-j]. U = R^-1, column by column: R u = e_j, back substitution.
        // ut holds U transposed (ut[j][k] = U[k][j]) so that the sums run over contiguous memory.
        double[] r = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = i; j < n; j++) {
                r[i * n + j] = l[(n - 1 - i) * n + (n - 1 - j)];
            }
        }
        double[] ut = new double[n * n];
        for (int j = 0; j < n; j++) {
            ut[j * n + j] = 1 / r[j * n + j];
            for (int i = j - 1; i >= 0; i--) {
                double s = dot(r, i * n + i + 1, ut, j * n + i + 1, j - i);
                ut[j * n + i] = -s / r[i * n + i];
            }
        }
        double[] u = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = i; j < n; j++) {
                u[i * n + j] = ut[j * n + i];
            }
        }
        return u;
    }

    /** {@code Σ a[ao + k]·b[bo + k]} for {@code k < n}, in four running sums. */
    private static double dot(double[] a, int ao, double[] b, int bo, int n) {
        double s0 = 0;
        double s1 = 0;
        double s2 = 0;
        double s3 = 0;
        int k = 0;
        for (; k + 3 < n; k += 4) {
            s0 += a[ao + k] * b[bo + k];
            s1 += a[ao + k + 1] * b[bo + k + 1];
            s2 += a[ao + k + 2] * b[bo + k + 2];
            s3 += a[ao + k + 3] * b[bo + k + 3];
        }
        for (; k < n; k++) {
            s0 += a[ao + k] * b[bo + k];
        }
        return (s0 + s1) + (s2 + s3);
    }

    /** A group's grid and the codes on it. */
    private static final class Grid {
        private static final int STEPS = 80;
        private static final float NORM = 2.4f;
        private final QuantSpec spec;
        private final QuantFormat f;
        private final boolean symmetric;
        private final boolean mse;
        private final int maxq;
        private final int half;
        private final MethodKernels kernels = KernelProvider.methods();

        Grid(QuantSpec spec, QuantFormat f, boolean symmetric, boolean mse) {
            this.spec = spec;
            this.f = f;
            this.symmetric = symmetric;
            this.mse = mse;
            this.maxq = f.maxCode();
            this.half = 1 << (spec.bits() - 1);
        }

        /**
         * Sets {@code scales[g]}, {@code zeros[g]} for group {@code g} of row {@code row}, whose values (as the
         * error feedback has left them) are {@code x[0, len)}.
         */
        void find(float[] x, int len, int row, float[] scales, float[] zeros, int g) {
            float min = 0f;
            float max = 0f;
            for (int i = 0; i < len; i++) {
                min = Math.min(min, x[i]);
                max = Math.max(max, x[i]);
            }
            int from = spec.groupSize() == QuantFormat.ROW ? 0 : g * spec.groupSize();
            // x holds the group from its first column: column c of the row is x[c - from].
            Rows.Group at = new Rows.Group(x, -from, row, g, from, from + len);
            if (mse) {
                float[] d = new float[STEPS];
                float[] z = new float[STEPS];
                double[] err = new double[STEPS];
                MseClip.candidates(min, max, STEPS, symmetric, spec, maxq, half, at, d, z);
                kernels.candidateErrors(x, 0, len, d, z, STEPS, symmetric ? 1 : 0, maxq, NORM, err);
                int best = 0;
                for (int i = 1; i < STEPS; i++) {
                    if (err[i] < err[best]) {
                        best = i;
                    }
                }
                scales[g] = d[best];
                zeros[g] = z[best];
                return;
            }
            // Min-max: the rule of lowbit's quantizer (GroupParams.uniform), so that RTN and GPTQ share one grid.
            float[] dz = new float[2];
            Rows.minMaxGrid(min, max, symmetric, spec.bits(), spec.scaleType(), at, dz);
            scales[g] = dz[0];
            zeros[g] = dz[1];
        }

        /** The code of {@code v}: {@code clamp(rint(v/d) + z, lo, maxq)} as lowbit's quantizer computes it. */
        int code(float v, float d, float z) {
            if (d == 0f) {
                return (int) Math.max(0, Math.min(maxq, z));
            }
            if (mse) {
                return MseClip.code(v, d, z, symmetric ? 1 : 0, maxq);
            }
            float q = (float) Math.rint(v / d) + z;
            return Math.max(0, Math.min(maxq, (int) q));
        }
    }
}

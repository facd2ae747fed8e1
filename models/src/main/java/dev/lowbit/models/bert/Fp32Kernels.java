package dev.lowbit.models.bert;

/**
 * The fp32 arithmetic of the forward pass: the dense matmul of the fp32 path, GELU and the exponentials of
 * softmax. {@link #get()} is the Vector API implementation when {@code jdk.incubator.vector} is present, else
 * this plain one, which defines the results; the vector one differs by rounding only (sums in another order,
 * its own {@code exp}).
 */
class Fp32Kernels {
    private static final Fp32Kernels INSTANCE = choose();

    private static Fp32Kernels choose() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()
                || "scalar".equals(System.getProperty("lowbit.kernels"))) {
            return new Fp32Kernels();
        }
        try {
            return (Fp32Kernels) Class.forName("dev.lowbit.models.bert.VectorFp32Kernels").getDeclaredConstructor()
                    .newInstance();
        } catch (ReflectiveOperationException | LinkageError e) {
            return new Fp32Kernels();
        }
    }

    static Fp32Kernels get() {
        return INSTANCE;
    }

    String name() {
        return "scalar";
    }

    /** The width of a weight panel: columns that {@link #pack} stores together, a multiple of every tile width. */
    int panel() {
        return 16;
    }

    /**
     * Repacks a {@code [k, m]} weight ({@code m} a multiple of {@link #panel()}) into panels of {@code P = panel()}
     * columns, each {@code [k, P]} and contiguous, so that a tile streams its weights in order: element
     * {@code (c, j)} goes to {@code ((j / P) * k + c) * P + j % P}.
     */
    float[] pack(float[] w, int k, int m) {
        int p = panel();
        if (m % p != 0) {
            throw new IllegalArgumentException("m = " + m + " is not a multiple of the panel width " + p);
        }
        float[] out = new float[w.length];
        for (int jb = 0; jb < m / p; jb++) {
            for (int c = 0; c < k; c++) {
                System.arraycopy(w, c * m + jb * p, out, (jb * k + c) * p, p);
            }
        }
        return out;
    }

    /**
     * {@code y[t*m + j] = bias[j] + sum_c x[t*k + c] * W[c][j]} for tokens {@code [t0, t1)} and columns
     * {@code [j0, j1)} (multiples of the panel width), with {@code W} packed by {@link #pack}.
     */
    void gemm(float[] x, int k, float[] packed, int m, float[] bias, float[] y, int t0, int t1, int j0, int j1) {
        int p = panel();
        for (int t = t0; t < t1; t++) {
            for (int j = j0; j < j1; j++) {
                y[t * m + j] = bias[j];
            }
            for (int c = 0; c < k; c++) {
                float xv = x[t * k + c];
                for (int j = j0; j < j1; j++) {
                    y[t * m + j] += xv * packed[((j / p) * k + c) * p + j % p];
                }
            }
        }
    }

    /** GELU, {@code x/2 (1 + erf(x/sqrt 2))}, in place on {@code a[from, to)}. */
    void gelu(float[] a, int from, int to) {
        for (int i = from; i < to; i++) {
            float x = a[i];
            a[i] = 0.5f * x * (1f + erf(x * 0.70710678f));
        }
    }

    /**
     * erf by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7, below fp32's resolution of erf near 1):
     * {@code 1 - (a1 t + ... + a5 t^5) exp(-x^2)}, {@code t = 1/(1 + p|x|)}, odd in x.
     */
    static float erf(float x) {
        float ax = Math.abs(x);
        float t = 1f / (1f + ERF_P * ax);
        float poly = ((((ERF_A5 * t + ERF_A4) * t + ERF_A3) * t + ERF_A2) * t + ERF_A1) * t;
        float r = 1f - poly * (float) Math.exp(-ax * ax);
        return Math.copySign(r, x);
    }

    static final float ERF_P = 0.3275911f;
    static final float ERF_A1 = 0.254829592f;
    static final float ERF_A2 = -0.284496736f;
    static final float ERF_A3 = 1.421413741f;
    static final float ERF_A4 = -1.453152027f;
    static final float ERF_A5 = 1.061405429f;

    /** Softmax in place on {@code a[from, to)}: {@code exp(a - max) / sum}. */
    void softmax(float[] a, int from, int to) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = from; i < to; i++) {
            max = Math.max(max, a[i]);
        }
        float sum = 0;
        for (int i = from; i < to; i++) {
            float e = (float) Math.exp(a[i] - max);
            a[i] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (int i = from; i < to; i++) {
            a[i] *= inv;
        }
    }

    /** {@code out[i] = a[ao + i] + b[bo + i]} for {@code i < n}. */
    void add(float[] a, int ao, float[] b, int bo, float[] out, int n) {
        for (int i = 0; i < n; i++) {
            out[i] = a[ao + i] + b[bo + i];
        }
    }

    /**
     * LayerNorm of {@code row} into {@code out[o, o + row.length)}: {@code (x - mean) / sqrt(var + eps) * gamma + beta},
     * with the biased variance; {@code row} is left centered.
     */
    void layerNorm(float[] row, float[] out, int o, float[] gamma, float[] beta, float eps) {
        int d = row.length;
        float mean = 0;
        for (int j = 0; j < d; j++) {
            mean += row[j];
        }
        mean /= d;
        float var = 0;
        for (int j = 0; j < d; j++) {
            float c = row[j] - mean;
            row[j] = c;
            var += c * c;
        }
        var /= d;
        float inv = 1f / (float) Math.sqrt(var + eps);
        for (int j = 0; j < d; j++) {
            out[o + j] = row[j] * inv * gamma[j] + beta[j];
        }
    }

    /**
     * Keys per block of {@link #scores}: the stride {@code ldp} of its score rows and of its packed keys must be a
     * multiple of this.
     */
    int attentionBlock() {
        return 1;
    }

    /**
     * The scaled scores of one attention head of one sequence, {@code p[i * ldp + j] = (q_i . k_j) / scale} for
     * queries and keys {@code i, j < len}: token {@code t0 + i}'s query is {@code qkv[(t0 + i) * stride + qo ...]}
     * and its key {@code qkv[(t0 + i) * stride + ko ...]}, {@code hd} floats each. {@code ldp >= len} is a multiple
     * of {@link #attentionBlock()}; {@code kt} is scratch of {@code hd * ldp} floats at least (the keys transposed,
     * where a kernel packs them). Entries {@code j >= len} of a row may be written and are not scores.
     */
    void scores(float[] qkv, int stride, int t0, int qo, int ko, int len, int hd, float scale, float[] kt,
                float[] p, int ldp) {
        for (int i = 0; i < len; i++) {
            int q = (t0 + i) * stride + qo;
            for (int j = 0; j < len; j++) {
                p[i * ldp + j] = dot(qkv, q, qkv, (t0 + j) * stride + ko, hd) / scale;
            }
        }
    }

    /**
     * The context of one attention head of one sequence, {@code ctx_i = sum_j p[i * ldp + j] v_j} for {@code i < len}
     * (sums in key order), into {@code ctx[(t0 + i) * cs + co ...]}: token {@code t0 + j}'s value is
     * {@code qkv[(t0 + j) * stride + vo ...]}, {@code hd} floats.
     */
    void weightedSum(float[] p, int ldp, int len, float[] qkv, int stride, int t0, int vo, int hd, float[] ctx,
                     int cs, int co) {
        for (int i = 0; i < len; i++) {
            int c = (t0 + i) * cs + co;
            java.util.Arrays.fill(ctx, c, c + hd, 0f);
            for (int j = 0; j < len; j++) {
                axpy(p[i * ldp + j], qkv, (t0 + j) * stride + vo, ctx, c, hd);
            }
        }
    }

    /** {@code sum a[ao + i] * b[bo + i]} for {@code i < n}. */
    float dot(float[] a, int ao, float[] b, int bo, int n) {
        float s = 0;
        for (int i = 0; i < n; i++) {
            s += a[ao + i] * b[bo + i];
        }
        return s;
    }

    /** {@code y[yo + i] += s * x[xo + i]} for {@code i < n}. */
    void axpy(float s, float[] x, int xo, float[] y, int yo, int n) {
        for (int i = 0; i < n; i++) {
            y[yo + i] += s * x[xo + i];
        }
    }
}

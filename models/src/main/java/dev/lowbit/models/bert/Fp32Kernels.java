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

    /**
     * {@code y[t*m + j] = bias[j] + sum_c x[t*k + c] * w[c*m + j]} for tokens {@code [t0, t1)} and columns
     * {@code [j0, j1)}: {@code w} is {@code [k, m]} as ONNX stores a MatMul weight.
     */
    void gemm(float[] x, int k, float[] w, int m, float[] bias, float[] y, int t0, int t1, int j0, int j1) {
        for (int t = t0; t < t1; t++) {
            for (int j = j0; j < j1; j++) {
                y[t * m + j] = bias[j];
            }
            for (int c = 0; c < k; c++) {
                float xv = x[t * k + c];
                int wo = c * m;
                for (int j = j0; j < j1; j++) {
                    y[t * m + j] += xv * w[wo + j];
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

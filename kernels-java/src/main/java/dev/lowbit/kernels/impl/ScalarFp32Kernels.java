package dev.lowbit.kernels.impl;

import dev.lowbit.kernels.Fp32Kernels;

/**
 * The scalar reference of {@link Fp32Kernels}: plain loops, sums in order, {@code Math.exp}. It defines the results;
 * {@link VectorFp32Kernels} differs by rounding only.
 */
public class ScalarFp32Kernels implements Fp32Kernels {
    public static final ScalarFp32Kernels INSTANCE = new ScalarFp32Kernels();

    ScalarFp32Kernels() {
    }

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public int panel() {
        return 16;
    }

    @Override
    public float[] pack(float[] w, int k, int m) {
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

    @Override
    public void gemm(float[] x, int k, float[] packed, int m, float[] bias, float[] y, int t0, int t1, int j0, int j1) {
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

    @Override
    public void gelu(float[] a, int from, int to) {
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

    @Override
    public void softmax(float[] a, int from, int to) {
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

    @Override
    public void add(float[] a, int ao, float[] b, int bo, float[] out, int n) {
        for (int i = 0; i < n; i++) {
            out[i] = a[ao + i] + b[bo + i];
        }
    }

    @Override
    public void scaleShift(float[] a, int from, int to, float[] scale, float[] shift, boolean relu) {
        int m = scale.length;
        for (int o = from; o < to; o += m) {
            for (int j = 0; j < m; j++) {
                float v = a[o + j] * scale[j] + shift[j];
                a[o + j] = relu ? Math.max(v, 0f) : v;
            }
        }
    }

    @Override
    public void addRelu(float[] a, float[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            a[i] = Math.max(a[i] + b[i], 0f);
        }
    }

    @Override
    public void codesByStep(float[] x, int from, int to, float step, int levels, int shift, byte[] codes,
                            float[] values) {
        for (int i = from; i < to; i++) {
            float v = x[i] / step;
            // the comparisons send NaN to 0
            int c = (int) Math.rint(v >= 0f && v <= levels ? v : v > levels ? levels : 0f);
            codes[i] = (byte) (c - shift);
            if (values != null) {
                values[i] = c * step;
            }
        }
    }

    @Override
    public void codesByClip(float[] x, int from, int to, float clip, int levels, int shift, byte[] codes,
                            float[] values) {
        float toCode = levels / clip;
        float step = clip / levels;
        for (int i = from; i < to; i++) {
            float y = x[i] >= 0f && x[i] < clip ? x[i] : x[i] >= clip ? clip : 0f;
            int c = (int) Math.rint(y * toCode);
            codes[i] = (byte) (c - shift);
            if (values != null) {
                values[i] = c * step;
            }
        }
    }

    @Override
    public void layerNorm(float[] row, float[] out, int o, float[] gamma, float[] beta, float eps) {
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

    @Override
    public int attentionBlock() {
        return 1;
    }

    @Override
    public void scores(float[] qkv, int stride, int t0, int qo, int ko, int len, int hd, float scale, float[] kt,
                float[] p, int ldp) {
        for (int i = 0; i < len; i++) {
            int q = (t0 + i) * stride + qo;
            for (int j = 0; j < len; j++) {
                p[i * ldp + j] = dot(qkv, q, qkv, (t0 + j) * stride + ko, hd) / scale;
            }
        }
    }

    @Override
    public void weightedSum(float[] p, int ldp, int len, float[] qkv, int stride, int t0, int vo, int hd, float[] ctx,
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

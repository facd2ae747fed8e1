package dev.lowbit.kernels.impl;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link dev.lowbit.kernels.Fp32Kernels} on the Vector API at {@link VectorWidth#BITS}. The matmul keeps a tile of 4 tokens times 4 vectors
 * of output columns in 16 accumulators: each step loads 4 weight vectors and broadcasts 4 activations for 16 FMAs,
 * with no horizontal sums since the weight rows ({@code [in, out]}) run along the output columns. The weights are
 * packed in panels of 4 vectors' width, so a tile reads its panel front to back.
 */
final class VectorFp32Kernels extends ScalarFp32Kernels {
    private static final int BITS = VectorWidth.BITS;
    private static final VectorSpecies<Float> S = BITS >= 512 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    private static final int L = S.length();
    /** Bytes, one per float lane. */
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));
    /** {@code (v + RINT) − RINT} is {@code rint(v)} for {@code 0 ≤ v < 2^23}, half to even. */
    private static final float RINT = 0x1p23f;

    static final VectorFp32Kernels INSTANCE = BITS >= 256 ? new VectorFp32Kernels() : null;

    private VectorFp32Kernels() {
    }

    @Override
    public String name() {
        return "vector-" + S.vectorBitSize();
    }

    @Override
    public int panel() {
        return 4 * L;
    }

    @Override
    public void gemm(float[] x, int k, float[] w, int m, float[] bias, float[] y, int t0, int t1, int j0, int j1) {
        for (int j = j0; j < j1; j += 4 * L) {
            int wo = j / (4 * L) * k * 4 * L;
            int t = t0;
            for (; t + 4 <= t1; t += 4) {
                tile4x4(x, k, w, wo, m, bias, y, t, j);
            }
            for (; t < t1; t++) {
                tile1x4(x, k, w, wo, m, bias, y, t, j);
            }
        }
    }

    /** Tokens {@code t..t+3} times the panel at {@code w[panel...]}, into columns {@code j..j+4L-1}. */
    private static void tile4x4(float[] x, int k, float[] w, int panel, int m, float[] bias, float[] y, int t, int j) {
        FloatVector b0 = FloatVector.fromArray(S, bias, j);
        FloatVector b1 = FloatVector.fromArray(S, bias, j + L);
        FloatVector b2 = FloatVector.fromArray(S, bias, j + 2 * L);
        FloatVector b3 = FloatVector.fromArray(S, bias, j + 3 * L);
        FloatVector a00 = b0, a01 = b1, a02 = b2, a03 = b3;
        FloatVector a10 = b0, a11 = b1, a12 = b2, a13 = b3;
        FloatVector a20 = b0, a21 = b1, a22 = b2, a23 = b3;
        FloatVector a30 = b0, a31 = b1, a32 = b2, a33 = b3;
        int x0 = t * k, x1 = x0 + k, x2 = x1 + k, x3 = x2 + k;
        for (int c = 0, wo = panel; c < k; c++, wo += 4 * L) {
            FloatVector w0 = FloatVector.fromArray(S, w, wo);
            FloatVector w1 = FloatVector.fromArray(S, w, wo + L);
            FloatVector w2 = FloatVector.fromArray(S, w, wo + 2 * L);
            FloatVector w3 = FloatVector.fromArray(S, w, wo + 3 * L);
            FloatVector v = FloatVector.broadcast(S, x[x0 + c]);
            a00 = w0.fma(v, a00);
            a01 = w1.fma(v, a01);
            a02 = w2.fma(v, a02);
            a03 = w3.fma(v, a03);
            v = FloatVector.broadcast(S, x[x1 + c]);
            a10 = w0.fma(v, a10);
            a11 = w1.fma(v, a11);
            a12 = w2.fma(v, a12);
            a13 = w3.fma(v, a13);
            v = FloatVector.broadcast(S, x[x2 + c]);
            a20 = w0.fma(v, a20);
            a21 = w1.fma(v, a21);
            a22 = w2.fma(v, a22);
            a23 = w3.fma(v, a23);
            v = FloatVector.broadcast(S, x[x3 + c]);
            a30 = w0.fma(v, a30);
            a31 = w1.fma(v, a31);
            a32 = w2.fma(v, a32);
            a33 = w3.fma(v, a33);
        }
        int y0 = t * m + j, y1 = y0 + m, y2 = y1 + m, y3 = y2 + m;
        a00.intoArray(y, y0);
        a01.intoArray(y, y0 + L);
        a02.intoArray(y, y0 + 2 * L);
        a03.intoArray(y, y0 + 3 * L);
        a10.intoArray(y, y1);
        a11.intoArray(y, y1 + L);
        a12.intoArray(y, y1 + 2 * L);
        a13.intoArray(y, y1 + 3 * L);
        a20.intoArray(y, y2);
        a21.intoArray(y, y2 + L);
        a22.intoArray(y, y2 + 2 * L);
        a23.intoArray(y, y2 + 3 * L);
        a30.intoArray(y, y3);
        a31.intoArray(y, y3 + L);
        a32.intoArray(y, y3 + 2 * L);
        a33.intoArray(y, y3 + 3 * L);
    }

    private static void tile1x4(float[] x, int k, float[] w, int panel, int m, float[] bias, float[] y, int t, int j) {
        FloatVector a0 = FloatVector.fromArray(S, bias, j);
        FloatVector a1 = FloatVector.fromArray(S, bias, j + L);
        FloatVector a2 = FloatVector.fromArray(S, bias, j + 2 * L);
        FloatVector a3 = FloatVector.fromArray(S, bias, j + 3 * L);
        int x0 = t * k;
        for (int c = 0, wo = panel; c < k; c++, wo += 4 * L) {
            FloatVector v = FloatVector.broadcast(S, x[x0 + c]);
            a0 = FloatVector.fromArray(S, w, wo).fma(v, a0);
            a1 = FloatVector.fromArray(S, w, wo + L).fma(v, a1);
            a2 = FloatVector.fromArray(S, w, wo + 2 * L).fma(v, a2);
            a3 = FloatVector.fromArray(S, w, wo + 3 * L).fma(v, a3);
        }
        int y0 = t * m + j;
        a0.intoArray(y, y0);
        a1.intoArray(y, y0 + L);
        a2.intoArray(y, y0 + 2 * L);
        a3.intoArray(y, y0 + 3 * L);
    }

    @Override
    public void gelu(float[] a, int from, int to) {
        int i = from;
        for (; i + L <= to; i += L) {
            FloatVector x = FloatVector.fromArray(S, a, i);
            FloatVector z = x.mul(0.70710678f);
            FloatVector az = z.abs();
            FloatVector t = az.mul(ERF_P).add(1f);
            t = FloatVector.broadcast(S, 1f).div(t);
            FloatVector poly = t.fma(ERF_A5, ERF_A4).fma(t, FloatVector.broadcast(S, ERF_A3))
                    .fma(t, FloatVector.broadcast(S, ERF_A2)).fma(t, FloatVector.broadcast(S, ERF_A1)).mul(t);
            FloatVector e = az.mul(az).neg().lanewise(VectorOperators.EXP);
            FloatVector erfAbs = poly.mul(e).neg().add(1f);
            // erf is odd: give erf(|z|) the sign of z.
            FloatVector erf = erfAbs.blend(erfAbs.neg(), z.compare(VectorOperators.LT, 0f));
            x.mul(0.5f).mul(erf.add(1f)).intoArray(a, i);
        }
        super.gelu(a, i, to);
    }

    @Override
    public void softmax(float[] a, int from, int to) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = from; i < to; i++) {
            max = Math.max(max, a[i]);
        }
        FloatVector sum = FloatVector.zero(S);
        int i = from;
        for (; i + L <= to; i += L) {
            FloatVector e = FloatVector.fromArray(S, a, i).sub(max).lanewise(VectorOperators.EXP);
            e.intoArray(a, i);
            sum = sum.add(e);
        }
        float total = sum.reduceLanes(VectorOperators.ADD);
        for (; i < to; i++) {
            a[i] = (float) Math.exp(a[i] - max);
            total += a[i];
        }
        float inv = 1f / total;
        for (int j = from; j < to; j++) {
            a[j] *= inv;
        }
    }

    @Override
    public void add(float[] a, int ao, float[] b, int bo, float[] out, int n) {
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(S, a, ao + i).add(FloatVector.fromArray(S, b, bo + i)).intoArray(out, i);
        }
        for (; i < n; i++) {
            out[i] = a[ao + i] + b[bo + i];
        }
    }

    @Override
    public void scaleShift(float[] a, int from, int to, float[] scale, float[] shift, boolean relu) {
        int m = scale.length;
        if (m % L != 0) {
            super.scaleShift(a, from, to, scale, shift, relu);
            return;
        }
        for (int o = from; o < to; o += m) {
            for (int j = 0; j < m; j += L) {
                FloatVector v = FloatVector.fromArray(S, a, o + j).mul(FloatVector.fromArray(S, scale, j))
                        .add(FloatVector.fromArray(S, shift, j));
                (relu ? v.max(0f) : v).intoArray(a, o + j);
            }
        }
    }

    @Override
    public void addRelu(float[] a, float[] b, int from, int to) {
        int i = from;
        for (; i + L <= to; i += L) {
            FloatVector.fromArray(S, a, i).add(FloatVector.fromArray(S, b, i)).max(0f).intoArray(a, i);
        }
        super.addRelu(a, b, i, to);
    }

    /*
     * The clamp is max then min, which keeps a NaN, and the cast of a NaN lane is 0: the scalar comparisons' 0.
     * Every other value rounds as Math.rint does, by the RINT sum, being in [0, levels].
     */
    @Override
    public void codesByStep(float[] x, int from, int to, float step, int levels, int shift, byte[] codes,
                            float[] values) {
        float top = levels;
        int i = from;
        for (; i + L <= to; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, i).div(step).max(0f).min(top);
            store((IntVector) v.add(RINT).sub(RINT).convert(VectorOperators.F2I, 0), shift, codes, values, step, i);
        }
        super.codesByStep(x, i, to, step, levels, shift, codes, values);
    }

    @Override
    public void codesByClip(float[] x, int from, int to, float clip, int levels, int shift, byte[] codes,
                            float[] values) {
        float toCode = levels / clip;
        float step = clip / levels;
        int i = from;
        for (; i + L <= to; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, i).max(0f).min(clip).mul(toCode);
            store((IntVector) v.add(RINT).sub(RINT).convert(VectorOperators.F2I, 0), shift, codes, values, step, i);
        }
        super.codesByClip(x, i, to, clip, levels, shift, codes, values);
    }

    private static void store(IntVector c, int shift, byte[] codes, float[] values, float step, int i) {
        ((ByteVector) c.sub(shift).convertShape(VectorOperators.I2B, B, 0)).intoArray(codes, i);
        if (values != null) {
            ((FloatVector) c.convert(VectorOperators.I2F, 0)).mul(step).intoArray(values, i);
        }
    }

    @Override
    public void layerNorm(float[] row, float[] out, int o, float[] gamma, float[] beta, float eps) {
        int d = row.length;
        if (d % L != 0) {
            super.layerNorm(row, out, o, gamma, beta, eps);
            return;
        }
        FloatVector acc = FloatVector.zero(S);
        for (int j = 0; j < d; j += L) {
            acc = acc.add(FloatVector.fromArray(S, row, j));
        }
        float mean = acc.reduceLanes(VectorOperators.ADD) / d;
        acc = FloatVector.zero(S);
        for (int j = 0; j < d; j += L) {
            FloatVector c = FloatVector.fromArray(S, row, j).sub(mean);
            c.intoArray(row, j);
            acc = c.fma(c, acc);
        }
        float var = acc.reduceLanes(VectorOperators.ADD) / d;
        float inv = 1f / (float) Math.sqrt(var + eps);
        for (int j = 0; j < d; j += L) {
            FloatVector.fromArray(S, row, j).mul(inv).fma(FloatVector.fromArray(S, gamma, j),
                    FloatVector.fromArray(S, beta, j)).intoArray(out, o + j);
        }
    }

    @Override
    public int attentionBlock() {
        return L;
    }

    /**
     * The keys are transposed into {@code kt} ({@code kt[c * ldp + j]}, zero past {@code len}), so that a tile of 4
     * queries times one vector of {@code L} keys runs {@code hd} steps of one load, 4 broadcasts and 4 FMAs, each
     * score summed over {@code c} in order.
     */
    @Override
    public void scores(float[] qkv, int stride, int t0, int qo, int ko, int len, int hd, float scale, float[] kt,
                float[] p, int ldp) {
        for (int c = 0; c < hd; c++) {
            int row = c * ldp;
            for (int j = 0, k = t0 * stride + ko + c; j < len; j++, k += stride) {
                kt[row + j] = qkv[k];
            }
            java.util.Arrays.fill(kt, row + len, row + ldp, 0f);
        }
        int i = 0;
        for (; i + 4 <= len; i += 4) {
            int q0 = (t0 + i) * stride + qo, q1 = q0 + stride, q2 = q1 + stride, q3 = q2 + stride;
            int p0 = i * ldp, p1 = p0 + ldp, p2 = p1 + ldp, p3 = p2 + ldp;
            for (int j = 0; j < len; j += L) {
                FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
                for (int c = 0, k = j; c < hd; c++, k += ldp) {
                    FloatVector kv = FloatVector.fromArray(S, kt, k);
                    a0 = kv.fma(FloatVector.broadcast(S, qkv[q0 + c]), a0);
                    a1 = kv.fma(FloatVector.broadcast(S, qkv[q1 + c]), a1);
                    a2 = kv.fma(FloatVector.broadcast(S, qkv[q2 + c]), a2);
                    a3 = kv.fma(FloatVector.broadcast(S, qkv[q3 + c]), a3);
                }
                a0.div(scale).intoArray(p, p0 + j);
                a1.div(scale).intoArray(p, p1 + j);
                a2.div(scale).intoArray(p, p2 + j);
                a3.div(scale).intoArray(p, p3 + j);
            }
        }
        for (; i < len; i++) {
            int q0 = (t0 + i) * stride + qo;
            for (int j = 0; j < len; j += L) {
                FloatVector a0 = FloatVector.zero(S);
                for (int c = 0, k = j; c < hd; c++, k += ldp) {
                    a0 = FloatVector.fromArray(S, kt, k).fma(FloatVector.broadcast(S, qkv[q0 + c]), a0);
                }
                a0.div(scale).intoArray(p, i * ldp + j);
            }
        }
    }

    /**
     * A tile of 4 queries times 2 vectors of the head's columns (at head width 32 and 16 lanes, a query's whole
     * context) in 8 accumulators; each key adds 2 value loads, 4 broadcasts and 8 FMAs. The same FMAs in the same
     * order as {@link #axpy} key after key, so the same result.
     */
    @Override
    public void weightedSum(float[] p, int ldp, int len, float[] qkv, int stride, int t0, int vo, int hd, float[] ctx,
                     int cs, int co) {
        if (hd % L != 0) {
            super.weightedSum(p, ldp, len, qkv, stride, t0, vo, hd, ctx, cs, co);
            return;
        }
        int pairs = hd / (2 * L) * 2 * L;
        int i = 0;
        for (; i + 4 <= len; i += 4) {
            for (int c = 0; c < pairs; c += 2 * L) {
                weightedSum4x2(p, ldp, i, len, qkv, stride, t0 * stride + vo + c, ctx, cs, (t0 + i) * cs + co + c);
            }
            for (int r = i; r < i + 4; r++) {
                for (int c = pairs; c < hd; c += L) {
                    weightedSum1x1(p, ldp, r, len, qkv, stride, t0 * stride + vo + c, ctx, (t0 + r) * cs + co + c);
                }
            }
        }
        for (; i < len; i++) {
            for (int c = 0; c < hd; c += L) {
                weightedSum1x1(p, ldp, i, len, qkv, stride, t0 * stride + vo + c, ctx, (t0 + i) * cs + co + c);
            }
        }
    }

    private static void weightedSum4x2(float[] p, int ldp, int i, int len, float[] qkv, int stride, int v,
                                       float[] ctx, int cs, int o) {
        FloatVector a00 = FloatVector.zero(S), a01 = a00, a10 = a00, a11 = a00;
        FloatVector a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        int p0 = i * ldp, p1 = p0 + ldp, p2 = p1 + ldp, p3 = p2 + ldp;
        for (int j = 0; j < len; j++, v += stride) {
            FloatVector v0 = FloatVector.fromArray(S, qkv, v);
            FloatVector v1 = FloatVector.fromArray(S, qkv, v + L);
            FloatVector b = FloatVector.broadcast(S, p[p0 + j]);
            a00 = v0.fma(b, a00);
            a01 = v1.fma(b, a01);
            b = FloatVector.broadcast(S, p[p1 + j]);
            a10 = v0.fma(b, a10);
            a11 = v1.fma(b, a11);
            b = FloatVector.broadcast(S, p[p2 + j]);
            a20 = v0.fma(b, a20);
            a21 = v1.fma(b, a21);
            b = FloatVector.broadcast(S, p[p3 + j]);
            a30 = v0.fma(b, a30);
            a31 = v1.fma(b, a31);
        }
        a00.intoArray(ctx, o);
        a01.intoArray(ctx, o + L);
        a10.intoArray(ctx, o + cs);
        a11.intoArray(ctx, o + cs + L);
        a20.intoArray(ctx, o + 2 * cs);
        a21.intoArray(ctx, o + 2 * cs + L);
        a30.intoArray(ctx, o + 3 * cs);
        a31.intoArray(ctx, o + 3 * cs + L);
    }

    private static void weightedSum1x1(float[] p, int ldp, int i, int len, float[] qkv, int stride, int v,
                                       float[] ctx, int o) {
        FloatVector a = FloatVector.zero(S);
        for (int j = 0, pj = i * ldp; j < len; j++, v += stride) {
            a = FloatVector.fromArray(S, qkv, v).fma(FloatVector.broadcast(S, p[pj + j]), a);
        }
        a.intoArray(ctx, o);
    }

    @Override
    float dot(float[] a, int ao, float[] b, int bo, int n) {
        int i = 0;
        FloatVector acc = FloatVector.zero(S);
        for (; i + L <= n; i += L) {
            acc = FloatVector.fromArray(S, a, ao + i).fma(FloatVector.fromArray(S, b, bo + i), acc);
        }
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s += a[ao + i] * b[bo + i];
        }
        return s;
    }

    @Override
    void axpy(float s, float[] x, int xo, float[] y, int yo, int n) {
        int i = 0;
        FloatVector sv = FloatVector.broadcast(S, s);
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(S, x, xo + i).fma(sv, FloatVector.fromArray(S, y, yo + i)).intoArray(y, yo + i);
        }
        for (; i < n; i++) {
            y[yo + i] += s * x[xo + i];
        }
    }
}

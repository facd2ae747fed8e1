package dev.lowbit.kernels.impl;

import dev.lowbit.kernels.MethodKernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API method kernels. The per-element arithmetic is the scalar reference's, in the same
 * order ({@code rint} is {@code (t + 1.5·2^23) - 1.5·2^23} after clamping, which rounds ties to even);
 * sums run in float lanes and are added up in double at the end. The power map uses
 * {@link VectorOperators#POW}, whose intrinsic is not correctly rounded: {@link MethodKernels#POWER_ULPS}
 * states the bound the tests hold it to. Tails shorter than a vector run the scalar code.
 */
public final class VectorMethodKernels implements MethodKernels {
    private static final float RINT_MAGIC = 12582912f; // 1.5 * 2^23

    // The width of every Vector API kernel (VectorWidth): preferred, capped by -Dlowbit.vector.maxBits.
    private static final int BITS = VectorWidth.BITS;
    private static final VectorSpecies<Float> fs = BITS >= 512 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    private static final int lanes = fs.length();

    static final VectorMethodKernels INSTANCE = BITS >= 256 ? new VectorMethodKernels() : null;

    private VectorMethodKernels() {
    }

    @Override
    public String name() {
        return "vector-" + fs.vectorBitSize();
    }

    @Override
    public void signedPower(float[] src, int sOff, float[] dst, int dOff, int n, float a) {
        int i = 0;
        for (int bound = fs.loopBound(n); i < bound; i += lanes) {
            FloatVector x = FloatVector.fromArray(fs, src, sOff + i);
            FloatVector p = x.abs().lanewise(VectorOperators.POW, a);
            IntVector sign = x.reinterpretAsInts().and(0x80000000);
            p.reinterpretAsInts().or(sign).reinterpretAsFloats().intoArray(dst, dOff + i);
        }
        ScalarMethodKernels.INSTANCE.signedPower(src, sOff + i, dst, dOff + i, n - i, a);
    }

    @Override
    public void candidateErrors(float[] x, int off, int len, float[] d, float[] z, int k, int lo, int hi, float p,
                                double[] out) {
        int bound = fs.loopBound(len);
        for (int c = 0; c < k; c++) {
            float dc = d[c];
            float zc = z[c];
            double s = 0;
            if (dc == 0f) {
                for (int i = off; i < off + len; i++) {
                    s += p == 2f ? (double) x[i] * x[i] : Math.pow(Math.abs(x[i]), p);
                }
                out[c] = s;
                continue;
            }
            FloatVector acc = FloatVector.zero(fs);
            int i = 0;
            for (; i < bound; i += lanes) {
                FloatVector xv = FloatVector.fromArray(fs, x, off + i);
                FloatVector t = xv.div(dc).add(zc).max(lo).min(hi);
                FloatVector q = t.add(RINT_MAGIC).sub(RINT_MAGIC);
                FloatVector e = q.sub(zc).mul(dc).sub(xv);
                acc = p == 2f ? e.fma(e, acc) : acc.add(e.abs().lanewise(VectorOperators.POW, p));
            }
            s = acc.reduceLanes(VectorOperators.ADD);
            for (; i < len; i++) {
                float e = ScalarMethodKernels.reconstruct(x[off + i], dc, zc, lo, hi) - x[off + i];
                s += p == 2f ? (double) e * e : Math.pow(Math.abs(e), p);
            }
            out[c] = s;
        }
    }

    @Override
    public void rangeGradient(float[] x, int off, int len, float delta, int n, double[] out) {
        FloatVector lossAcc = FloatVector.zero(fs);
        FloatVector gradAcc = FloatVector.zero(fs);
        float big = n + 1f;
        float invN = n;
        int i = 0;
        for (int bound = fs.loopBound(len); i < bound; i += lanes) {
            FloatVector xv = FloatVector.fromArray(fs, x, off + i);
            FloatVector t = xv.div(delta);
            FloatVector r = t.max(-big).min(big).add(RINT_MAGIC).sub(RINT_MAGIC);
            VectorMask<Float> clipped = r.abs().compare(VectorOperators.GT, (float) n);
            FloatVector q = r.max(-n).min(n);
            FloatVector e = q.mul(delta).sub(xv);
            FloatVector sign = FloatVector.broadcast(fs, 1f).reinterpretAsInts()
                    .or(xv.reinterpretAsInts().and(0x80000000)).reinterpretAsFloats();
            FloatVector g = r.sub(t).div(invN).blend(sign, clipped);
            lossAcc = e.fma(e, lossAcc);
            gradAcc = e.add(e).fma(g, gradAcc);
        }
        double loss = lossAcc.reduceLanes(VectorOperators.ADD);
        double grad = gradAcc.reduceLanes(VectorOperators.ADD);
        double[] tail = new double[2];
        ScalarMethodKernels.INSTANCE.rangeGradient(x, off + i, len - i, delta, n, tail);
        out[0] = loss + tail[0];
        out[1] = grad + tail[1];
    }
}

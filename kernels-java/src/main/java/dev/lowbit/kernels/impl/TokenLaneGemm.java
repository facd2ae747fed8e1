package dev.lowbit.kernels.impl;

import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.QuantizedActivations;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import static dev.lowbit.kernels.impl.VectorRowDecode.decodeCentered;
import static dev.lowbit.kernels.impl.VectorRowDecode.outliers;

/**
 * The integer-path GEMM for centered codes (Q8_0, Q4_0, symmetric grouped), with tokens in the lanes.
 *
 * <p>The activation codes of a call are transposed once into float vectors of {@code L} tokens per
 * column. A tile of 4 weight rows by 2 token vectors (or 8 rows by the last, odd token vector) runs down
 * the columns: each column broadcasts a row's code and meets the column's token vectors in FMAs, 8
 * independent chains. Each product of codes is an integer of
 * magnitude at most 2^14 and a block has 32 of them, so the lanes hold each block's integer sum exactly,
 * as the reference's int32 sum. After each block of 32 columns every lane then does what the reference
 * does per row and token: {@code acc = acc + (d_w * d_x) * sum}, a multiply, a multiply and an add,
 * never fused. The results are the reference's bits, whatever the split of rows and tokens.
 *
 * <p>Decoded rows are reused by every token and transposed activations by every row, so decoding and
 * transposing are paid once per panel and per call. Rows are decoded a panel of 32 at a time and walked
 * in chunks of 256 columns: a chunk of the panel (32 KB) stays in L1 or L2 while the tokens pass, and
 * a chunk of a token vector (16 KB at 512 bits) while the panel's 4 tiles use it.
 */
final class TokenLaneGemm {
    private static final int BITS = VectorWidth.BITS;
    private static final VectorSpecies<Float> F = BITS >= 512 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    /** Tokens per vector. */
    private static final int L = F.length();
    /** Rows per tile of one token vector (half as many for two): 8 block sums and 8 accumulators in registers. */
    private static final int MR = 8;
    /** Rows decoded at a time. */
    private static final int PANEL = 32;
    /** Blocks of 32 columns per chunk. */
    private static final int CHUNK_BLOCKS = 8;

    private TokenLaneGemm() {
    }

    /** Buffers kept per thread, so that a call allocates nothing once they have grown to its size. */
    private static final class Scratch {
        float[] xt = new float[0];
        float[] dxt = new float[0];
        float[] wf = new float[0];
        float[] dw = new float[0];
        float[] acc = new float[0];
        byte[] wc = new byte[0];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    static void gemm(QuantizedTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        int pk = x.paddedK();
        int nb = pk / 32;
        int nt = t1 - t0;
        int nv = (nt + L - 1) / L;
        Scratch s = SCRATCH.get();
        if (s.xt.length < nv * pk * L) {
            s.xt = new float[nv * pk * L];
        }
        if (s.dxt.length < nv * nb * L) {
            s.dxt = new float[nv * nb * L];
        }
        if (s.wf.length < PANEL * pk) {
            s.wf = new float[PANEL * pk];
            s.dw = new float[PANEL * nb];
            s.wc = new byte[pk];
        }
        if (s.acc.length < PANEL * nv * L) {
            s.acc = new float[PANEL * nv * L];
        }
        float[] xt = s.xt;
        float[] dxt = s.dxt;
        float[] wf = s.wf;
        float[] dw = s.dw;
        float[] acc = s.acc;
        transpose(x, t0, t1, nv, xt, dxt);
        for (int r = r0; r < r1; r += PANEL) {
            int rn = Math.min(PANEL, r1 - r);
            int rt = (rn + MR - 1) / MR * MR;
            for (int i = 0; i < rn; i++) {
                decodeCentered(w, r + i, s.wc, wf, i * pk, dw, i * nb);
            }
            // Rows that complete the last tile: zero codes and scales, results not stored.
            java.util.Arrays.fill(wf, rn * pk, rt * pk, 0f);
            java.util.Arrays.fill(dw, rn * nb, rt * nb, 0f);
            java.util.Arrays.fill(acc, 0, rt * nv * L, 0f);
            for (int b0 = 0; b0 < nb; b0 += CHUNK_BLOCKS) {
                int b1 = Math.min(nb, b0 + CHUNK_BLOCKS);
                int v = 0;
                for (; v + 2 <= nv; v += 2) {
                    for (int i = 0; i < rt; i += 4) {
                        tile42(wf, i * pk, pk, dw, i * nb, xt, v * pk * L, dxt, v * nb * L, b0, b1, acc, (i * nv + v) * L, nv * L);
                    }
                }
                for (; v < nv; v++) {
                    for (int i = 0; i < rt; i += MR) {
                        tile(wf, i * pk, pk, dw, i * nb, xt, v * pk * L, dxt, v * nb * L, b0, b1, acc, (i * nv + v) * L, nv * L);
                    }
                }
            }
            for (int i = 0; i < rn; i++) {
                for (int t = 0; t < nt; t++) {
                    y[(t0 + t) * ldy + r + i] = outliers(w, r + i, x, t0 + t, acc[i * nv * L + t]);
                }
            }
        }
    }

    /**
     * Activation codes as floats, token vector {@code v} and column {@code c} at {@code xt[(v * pk + c) * L]},
     * and the block scales alike at {@code dxt[(v * nb + b) * L]}; lanes past the last token are zero.
     */
    private static void transpose(QuantizedActivations x, int t0, int t1, int nv, float[] xt, float[] dxt) {
        int pk = x.paddedK();
        int nb = pk / 32;
        byte[] xc = x.codes();
        int nt = t1 - t0;
        for (int v = 0; v < nv; v++) {
            int ln = Math.min(L, nt - v * L);
            int dst = v * pk * L;
            if (ln < L) {
                java.util.Arrays.fill(xt, dst, dst + pk * L, 0f);
                java.util.Arrays.fill(dxt, v * nb * L, (v + 1) * nb * L, 0f);
            }
            int src = (t0 + v * L) * pk;
            // 64 columns at a time: their 64 lines of xt stay in L1 while the vector's tokens fill them.
            for (int c0 = 0; c0 < pk; c0 += 64) {
                int c1 = Math.min(pk, c0 + 64);
                for (int l = 0; l < ln; l++) {
                    for (int c = c0; c < c1; c++) {
                        xt[dst + c * L + l] = xc[src + l * pk + c];
                    }
                }
            }
            for (int l = 0; l < ln; l++) {
                for (int b = 0; b < nb; b++) {
                    dxt[(v * nb + b) * L + l] = x.scale(t0 + v * L + l, b);
                }
            }
        }
    }

    /**
     * Rows {@code 0..7} of the panel (row {@code i} at {@code wf[wo + i * pk]}, scales at {@code dw[dwo + i * nb]})
     * times one token vector, over blocks {@code b0..b1}, continuing the accumulators
     * {@code acc[ao + i * as]}.
     */
    private static void tile(float[] wf, int wo, int pk, float[] dw, int dwo, float[] xt, int xo, float[] dxt, int dxo,
                             int b0, int b1, float[] acc, int ao, int as) {
        int nb = pk / 32;
        FloatVector a0 = FloatVector.fromArray(F, acc, ao);
        FloatVector a1 = FloatVector.fromArray(F, acc, ao + as);
        FloatVector a2 = FloatVector.fromArray(F, acc, ao + 2 * as);
        FloatVector a3 = FloatVector.fromArray(F, acc, ao + 3 * as);
        FloatVector a4 = FloatVector.fromArray(F, acc, ao + 4 * as);
        FloatVector a5 = FloatVector.fromArray(F, acc, ao + 5 * as);
        FloatVector a6 = FloatVector.fromArray(F, acc, ao + 6 * as);
        FloatVector a7 = FloatVector.fromArray(F, acc, ao + 7 * as);
        for (int b = b0; b < b1; b++) {
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
            for (int c = b * 32; c < b * 32 + 32; c++) {
                FloatVector v = FloatVector.fromArray(F, xt, xo + c * L);
                int o = wo + c;
                s0 = FloatVector.broadcast(F, wf[o]).fma(v, s0);
                s1 = FloatVector.broadcast(F, wf[o + pk]).fma(v, s1);
                s2 = FloatVector.broadcast(F, wf[o + 2 * pk]).fma(v, s2);
                s3 = FloatVector.broadcast(F, wf[o + 3 * pk]).fma(v, s3);
                s4 = FloatVector.broadcast(F, wf[o + 4 * pk]).fma(v, s4);
                s5 = FloatVector.broadcast(F, wf[o + 5 * pk]).fma(v, s5);
                s6 = FloatVector.broadcast(F, wf[o + 6 * pk]).fma(v, s6);
                s7 = FloatVector.broadcast(F, wf[o + 7 * pk]).fma(v, s7);
            }
            // The reference's (d_w * d_x) * sum, then the add: the lanes' d_x times the row's d_w.
            FloatVector d = FloatVector.fromArray(F, dxt, dxo + b * L);
            a0 = a0.add(d.mul(dw[dwo + b]).mul(s0));
            a1 = a1.add(d.mul(dw[dwo + nb + b]).mul(s1));
            a2 = a2.add(d.mul(dw[dwo + 2 * nb + b]).mul(s2));
            a3 = a3.add(d.mul(dw[dwo + 3 * nb + b]).mul(s3));
            a4 = a4.add(d.mul(dw[dwo + 4 * nb + b]).mul(s4));
            a5 = a5.add(d.mul(dw[dwo + 5 * nb + b]).mul(s5));
            a6 = a6.add(d.mul(dw[dwo + 6 * nb + b]).mul(s6));
            a7 = a7.add(d.mul(dw[dwo + 7 * nb + b]).mul(s7));
        }
        a0.intoArray(acc, ao);
        a1.intoArray(acc, ao + as);
        a2.intoArray(acc, ao + 2 * as);
        a3.intoArray(acc, ao + 3 * as);
        a4.intoArray(acc, ao + 4 * as);
        a5.intoArray(acc, ao + 5 * as);
        a6.intoArray(acc, ao + 6 * as);
        a7.intoArray(acc, ao + 7 * as);
    }

    /** Rows {@code 0..3} times token vectors {@code v} and {@code v + 1} (accumulators at {@code ao} and {@code ao + L}). */
    private static void tile42(float[] wf, int wo, int pk, float[] dw, int dwo, float[] xt, int xo, float[] dxt, int dxo,
                               int b0, int b1, float[] acc, int ao, int as) {
        int nb = pk / 32;
        int xo1 = xo + pk * L;
        int dxo1 = dxo + nb * L;
        FloatVector a00 = FloatVector.fromArray(F, acc, ao);
        FloatVector a01 = FloatVector.fromArray(F, acc, ao + L);
        FloatVector a10 = FloatVector.fromArray(F, acc, ao + as);
        FloatVector a11 = FloatVector.fromArray(F, acc, ao + as + L);
        FloatVector a20 = FloatVector.fromArray(F, acc, ao + 2 * as);
        FloatVector a21 = FloatVector.fromArray(F, acc, ao + 2 * as + L);
        FloatVector a30 = FloatVector.fromArray(F, acc, ao + 3 * as);
        FloatVector a31 = FloatVector.fromArray(F, acc, ao + 3 * as + L);
        for (int b = b0; b < b1; b++) {
            FloatVector s00 = FloatVector.zero(F), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
            for (int c = b * 32; c < b * 32 + 32; c++) {
                FloatVector v0 = FloatVector.fromArray(F, xt, xo + c * L);
                FloatVector v1 = FloatVector.fromArray(F, xt, xo1 + c * L);
                int o = wo + c;
                FloatVector u = FloatVector.broadcast(F, wf[o]);
                s00 = u.fma(v0, s00);
                s01 = u.fma(v1, s01);
                u = FloatVector.broadcast(F, wf[o + pk]);
                s10 = u.fma(v0, s10);
                s11 = u.fma(v1, s11);
                u = FloatVector.broadcast(F, wf[o + 2 * pk]);
                s20 = u.fma(v0, s20);
                s21 = u.fma(v1, s21);
                u = FloatVector.broadcast(F, wf[o + 3 * pk]);
                s30 = u.fma(v0, s30);
                s31 = u.fma(v1, s31);
            }
            FloatVector d0 = FloatVector.fromArray(F, dxt, dxo + b * L);
            FloatVector d1 = FloatVector.fromArray(F, dxt, dxo1 + b * L);
            float e = dw[dwo + b];
            a00 = a00.add(d0.mul(e).mul(s00));
            a01 = a01.add(d1.mul(e).mul(s01));
            e = dw[dwo + nb + b];
            a10 = a10.add(d0.mul(e).mul(s10));
            a11 = a11.add(d1.mul(e).mul(s11));
            e = dw[dwo + 2 * nb + b];
            a20 = a20.add(d0.mul(e).mul(s20));
            a21 = a21.add(d1.mul(e).mul(s21));
            e = dw[dwo + 3 * nb + b];
            a30 = a30.add(d0.mul(e).mul(s30));
            a31 = a31.add(d1.mul(e).mul(s31));
        }
        a00.intoArray(acc, ao);
        a01.intoArray(acc, ao + L);
        a10.intoArray(acc, ao + as);
        a11.intoArray(acc, ao + as + L);
        a20.intoArray(acc, ao + 2 * as);
        a21.intoArray(acc, ao + 2 * as + L);
        a30.intoArray(acc, ao + 3 * as);
        a31.intoArray(acc, ao + 3 * as + L);
    }
}

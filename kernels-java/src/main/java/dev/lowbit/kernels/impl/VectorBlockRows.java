package dev.lowbit.kernels.impl;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.kernels.QuantizedActivations;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * The Vector API products of the ggml blocks Q5_0, Q5_1, IQ4_NL (blocks of 32) and the K-quants Q2_K to Q6_K
 * (super-blocks of 256), and the weight-only path of those and of Q8_K weights.
 *
 * <p>Integer path, the bits of {@link ScalarMatmulKernels}: a row's codes are decoded in int lanes to its signed
 * weights {@code w_j} and, for the K-quants, multiplied by their sub-block scale, so that one int32 lane sum over a
 * super-block gives {@code isum = sum_s sc_s * (sum_{j in s} w_j x_j)} (int32 sums are exact in any order, as
 * wrapping addition is associative). {@code msum} takes the activations' sums of 16, formed once per call. The fp32
 * steps are the reference's, per row and token, blocks in order. Rows go {@link #ROWS} at a time, so that each
 * activation load serves them all.
 *
 * <p>Weight-only path: per scale group (sub-block, or block of 32) the products are summed in lanes and scaled in
 * the lanes, reduced once per row and token: another order than the reference's, within the bound that reordering
 * allows.
 */
final class VectorBlockRows {
    private static final int BITS = VectorWidth.BITS;
    private static final VectorSpecies<Float> F = BITS >= 512 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    private static final VectorSpecies<Integer> I = BITS >= 512 ? IntVector.SPECIES_512 : IntVector.SPECIES_256;
    private static final VectorSpecies<Byte> B = BITS >= 512 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
    /** Elements per step: one byte lane, one int lane and one float lane each. */
    private static final int L = I.length();
    /** Rows per pass of the integer path. */
    private static final int ROWS = 4;
    private static final int[] IQ4_NL = QuantFormat.iq4nlLevels();

    private VectorBlockRows() {
    }

    /** Whether the integer path here takes {@code f}: {@link ScalarMatmulKernels#newBlocks}. */
    static boolean takesInt8(QuantFormat f) {
        return ScalarMatmulKernels.newBlocks(f);
    }

    /** Whether the weight-only path here takes {@code f}: {@link #takesInt8} and Q8_K. */
    static boolean takesF32(QuantFormat f) {
        return takesInt8(f) || f.kind() == QuantFormat.Kind.Q8_K;
    }

    /** One decoded row: weights, sub-block scales and minima per 16 elements, and per-block fp32 fields. */
    private static final class Row {
        final int[] w;
        final int[] sc;
        final int[] m;
        final float[] d;
        final float[] dm;

        Row(int k, int blocks) {
            w = new int[k];
            sc = new int[k / 16];
            m = new int[k / 16];
            d = new float[blocks];
            dm = new float[blocks];
        }
    }

    private static int u8(MemorySegment d, long at) {
        return d.get(Layouts.U8, at) & 0xFF;
    }

    private static float f16(MemorySegment d, long at) {
        return Float.float16ToFloat(d.get(Layouts.F16, at));
    }

    /** Bytes {@code at..} as ints 0..255, one vector. */
    private static IntVector bytes(MemorySegment d, long at) {
        return ((IntVector) ByteVector.fromMemorySegment(B, d, at, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.B2I, I, 0)).and(0xFF);
    }

    /**
     * Row {@code r} of {@code w} into {@code row}: the signed weights {@code w_j} (the code, less 16 for Q5_0, 4 for
     * Q3_K, 32 for Q6_K, or the IQ4_NL level), the integer sub-block scale and minimum of each run of 16 elements
     * (K-quants), and per block (super-block) its fp32 scale and minimum ({@code dmin}, or Q5_1's {@code m}).
     */
    private static void decode(QuantizedTensor t, int r, Row row) {
        QuantFormat f = t.format();
        QuantFormat.Kind kind = f.kind();
        int k = t.cols();
        MemorySegment d = t.data();
        int bb = f.blockBytes();
        long rowAt = r * f.rowBytes(k);
        int[] w = row.w;
        switch (kind) {
            case Q5_0, Q5_1, IQ4_NL -> {
                boolean q51 = kind == QuantFormat.Kind.Q5_1;
                boolean nl = kind == QuantFormat.Kind.IQ4_NL;
                for (int b = 0; b < k / 32; b++) {
                    long at = rowAt + (long) b * bb;
                    row.d[b] = f16(d, at);
                    row.dm[b] = q51 ? f16(d, at + 2) : 0f;
                    int o = b * 32;
                    if (nl) {
                        for (int j = 0; j < 16; j++) {
                            int q = u8(d, at + 2 + j);
                            w[o + j] = IQ4_NL[q & 15];
                            w[o + 16 + j] = IQ4_NL[q >>> 4];
                        }
                        continue;
                    }
                    long qhAt = at + (q51 ? 4 : 2);
                    int qh = u8(d, qhAt) | u8(d, qhAt + 1) << 8 | u8(d, qhAt + 2) << 16 | u8(d, qhAt + 3) << 24;
                    long qs = qhAt + 4;
                    int sub = q51 ? 0 : 16;
                    IntVector lane = IntVector.zero(I).addIndex(1);
                    for (int j = 0; j < 16; j += L) {
                        IntVector q = bytes(d, qs + j);
                        IntVector lo = q.and(15).or(IntVector.broadcast(I, qh >>> j).lanewise(VectorOperators.LSHR, lane)
                                .and(1).lanewise(VectorOperators.LSHL, 4));
                        IntVector hi = q.lanewise(VectorOperators.LSHR, 4).or(IntVector.broadcast(I, qh >>> (16 + j))
                                .lanewise(VectorOperators.LSHR, lane).and(1).lanewise(VectorOperators.LSHL, 4));
                        lo.sub(sub).intoArray(w, o + j);
                        hi.sub(sub).intoArray(w, o + 16 + j);
                    }
                }
            }
            case Q2_K, Q3_K, Q4_K, Q5_K, Q6_K -> {
                for (int sb = 0; sb < k / 256; sb++) {
                    superBlock(kind, d, rowAt + (long) sb * bb, sb, row);
                }
            }
            case Q8_K -> {
                for (int sb = 0; sb < k / 256; sb++) {
                    long at = rowAt + (long) sb * bb;
                    row.d[sb] = d.get(Layouts.F32, at);
                    for (int e = 0; e < 256; e += L) {
                        ((IntVector) ByteVector.fromMemorySegment(B, d, at + 4 + e, ByteOrder.LITTLE_ENDIAN)
                                .convertShape(VectorOperators.B2I, I, 0)).intoArray(w, sb * 256 + e);
                    }
                }
            }
            default -> throw new IllegalArgumentException(f + " is not one of the blocks of this class");
        }
    }

    /** Super-block {@code sb} of a K-quant at byte {@code b}: weights, scales, minima, {@code d} and {@code dmin}. */
    private static void superBlock(QuantFormat.Kind kind, MemorySegment d, long b, int sb, Row row) {
        int o = sb * 256;
        int so = sb * 16;
        int[] w = row.w;
        switch (kind) {
            case Q2_K -> {
                row.d[sb] = f16(d, b + 80);
                row.dm[sb] = f16(d, b + 82);
                for (int e = 0; e < 256; e += 16) {
                    int sc = u8(d, b + e / 16);
                    row.sc[so + e / 16] = sc & 0xF;
                    row.m[so + e / 16] = sc >>> 4;
                    int shift = 2 * (e % 128 / 32);
                    long q = b + 16 + 32 * (e / 128) + e % 32;
                    for (int l = 0; l < 16; l += L) {
                        bytes(d, q + l).lanewise(VectorOperators.LSHR, shift).and(3).intoArray(w, o + e + l);
                    }
                }
            }
            case Q3_K -> {
                row.d[sb] = f16(d, b + 108);
                for (int e = 0; e < 256; e += 16) {
                    int s = e / 16;
                    int low = s < 8 ? u8(d, b + 96 + s) & 0xF : u8(d, b + 96 + s - 8) >>> 4;
                    int high = (u8(d, b + 104 + s % 4) >>> (2 * (s / 4))) & 3;
                    row.sc[so + s] = (low | high << 4) - 32;
                    int kk = e % 128 / 32;
                    int hbit = 4 * (e / 128) + kk;
                    long q = b + 32 + 32 * (e / 128) + e % 32;
                    long hm = b + e % 32;
                    for (int l = 0; l < 16; l += L) {
                        IntVector c = bytes(d, q + l).lanewise(VectorOperators.LSHR, 2 * kk).and(3);
                        IntVector h = bytes(d, hm + l).lanewise(VectorOperators.LSHR, hbit).and(1);
                        c.add(h.lanewise(VectorOperators.LSHL, 2)).sub(4).intoArray(w, o + e + l);
                    }
                }
            }
            case Q4_K, Q5_K -> {
                boolean q5 = kind == QuantFormat.Kind.Q5_K;
                row.d[sb] = f16(d, b);
                row.dm[sb] = f16(d, b + 2);
                long sc = b + 4;
                for (int j = 0; j < 8; j++) {
                    int scale;
                    int mn;
                    if (j < 4) {
                        scale = u8(d, sc + j) & 63;
                        mn = u8(d, sc + j + 4) & 63;
                    } else {
                        scale = (u8(d, sc + j + 4) & 0xF) | ((u8(d, sc + j - 4) >>> 6) << 4);
                        mn = (u8(d, sc + j + 4) >>> 4) | ((u8(d, sc + j) >>> 6) << 4);
                    }
                    row.sc[so + 2 * j] = scale;
                    row.sc[so + 2 * j + 1] = scale;
                    row.m[so + 2 * j] = mn;
                    row.m[so + 2 * j + 1] = mn;
                    boolean high = j % 2 == 1;
                    long q = b + (q5 ? 48 : 16) + 32 * (j / 2);
                    for (int l = 0; l < 32; l += L) {
                        IntVector c = bytes(d, q + l);
                        c = high ? c.lanewise(VectorOperators.LSHR, 4) : c.and(15);
                        if (q5) {
                            c = c.add(bytes(d, b + 16 + l).lanewise(VectorOperators.LSHR, j).and(1)
                                    .lanewise(VectorOperators.LSHL, 4));
                        }
                        c.intoArray(w, o + 32 * j + l);
                    }
                }
            }
            case Q6_K -> {
                row.d[sb] = f16(d, b + 208);
                for (int e = 0; e < 256; e += 16) {
                    int n = e / 128;
                    int kk = e % 128 / 32;
                    row.sc[so + e / 16] = d.get(Layouts.U8, b + 192 + e / 16);
                    long ql = b + 64 * n + (kk & 1) * 32 + e % 32;
                    long qh = b + 128 + 32 * n + e % 32;
                    for (int l = 0; l < 16; l += L) {
                        IntVector lo = bytes(d, ql + l);
                        lo = kk >= 2 ? lo.lanewise(VectorOperators.LSHR, 4) : lo.and(15);
                        IntVector hi = bytes(d, qh + l).lanewise(VectorOperators.LSHR, 2 * kk).and(3);
                        lo.or(hi.lanewise(VectorOperators.LSHL, 4)).sub(32).intoArray(w, o + e + l);
                    }
                }
            }
            default -> throw new AssertionError(kind);
        }
    }

    /** For the K-quants: each weight times its sub-block scale, in place. */
    private static void scaleWeights(Row row, int k) {
        int[] w = row.w;
        for (int j = 0; j < k; j += 16) {
            IntVector s = IntVector.broadcast(I, row.sc[j / 16]);
            for (int l = 0; l < 16; l += L) {
                IntVector.fromArray(I, w, j + l).mul(s).intoArray(w, j + l);
            }
        }
    }

    // ---------------------------------------------------------------- integer path

    /** {@link ScalarMatmulKernels}' integer path of {@link #takesInt8} weights: its bits. */
    static void gemm(QuantizedTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        if (r0 >= r1 || t0 >= t1) {
            return;
        }
        QuantFormat f = w.format();
        int k = w.cols();
        int pk = x.paddedK();
        int nt = t1 - t0;
        boolean kQuant = f.groupSize() == 256;
        int nb = k / f.groupSize();
        // Activation codes as ints, their sums of 16 and their block scales, once per call: every row reuses them.
        int[] xi = new int[nt * pk];
        byte[] xc = x.codes();
        for (int i = 0; i < xi.length; i += L) {
            ((IntVector) ByteVector.fromArray(B, xc, t0 * pk + i).convertShape(VectorOperators.B2I, I, 0)).intoArray(xi, i);
        }
        int[] xs = new int[nt * (pk / 16)];
        for (int i = 0; i < xs.length; i++) {
            int s = 0;
            for (int j = i * 16; j < i * 16 + 16; j++) {
                s += xi[j];
            }
            xs[i] = s;
        }
        float[] dx = new float[nt * nb];
        for (int t = 0; t < nt; t++) {
            for (int b = 0; b < nb; b++) {
                dx[t * nb + b] = x.scale(t0 + t, kQuant ? b * 8 : b);
            }
        }
        Row[] rows = new Row[ROWS];
        for (int i = 0; i < ROWS; i++) {
            rows[i] = new Row(k, nb);
        }
        SparseOutliers o = w.outliers();
        for (int r = r0; r < r1; r += ROWS) {
            int m = Math.min(ROWS, r1 - r);
            for (int i = 0; i < m; i++) {
                decode(w, r + i, rows[i]);
                if (kQuant) {
                    scaleWeights(rows[i], k);
                }
            }
            for (int t = 0; t < nt; t++) {
                if (m == ROWS) {
                    if (kQuant) {
                        kQuant4(f, rows, xi, xs, dx, t, pk, nb, r, y, (t0 + t) * ldy);
                    } else {
                        blocks4(f, rows, xi, xs, dx, t, pk, nb, r, y, (t0 + t) * ldy);
                    }
                } else {
                    for (int i = 0; i < m; i++) {
                        y[(t0 + t) * ldy + r + i] = kQuant ? kQuant1(f, rows[i], xi, xs, dx, t, pk, nb)
                                : blocks1(f, rows[i], xi, xs, dx, t, pk, nb);
                    }
                }
                if (o != null) {
                    int xo = (t0 + t) * pk;
                    for (int i = 0; i < m; i++) {
                        float acc = y[(t0 + t) * ldy + r + i];
                        for (int e = o.rowPtr(r + i); e < o.rowPtr(r + i + 1); e++) {
                            int c = o.col(e);
                            acc += o.value(e) * (xc[xo + c] * x.scale(t0 + t, c / 32));
                        }
                        y[(t0 + t) * ldy + r + i] = acc;
                    }
                }
            }
        }
    }

    /** {@code sum_j m_j * xs_j} over the 16 runs of 16 of super-block {@code sb}: int32, exact. */
    private static int msum(int[] m, int[] xs, int xso, int sb) {
        int s = 0;
        for (int j = 0; j < 16; j++) {
            s += m[sb * 16 + j] * xs[xso + j];
        }
        return s;
    }

    /** One K-quant row and token. */
    private static float kQuant1(QuantFormat f, Row row, int[] xi, int[] xs, float[] dx, int t, int pk, int nb) {
        boolean minimum = f.hasMinimum();
        int xo = t * pk;
        float acc = 0f;
        for (int sb = 0; sb < nb; sb++) {
            IntVector a = IntVector.zero(I);
            for (int e = sb * 256; e < sb * 256 + 256; e += L) {
                a = IntVector.fromArray(I, row.w, e).mul(IntVector.fromArray(I, xi, xo + e)).add(a);
            }
            int isum = a.reduceLanes(VectorOperators.ADD);
            float d = dx[t * nb + sb];
            if (minimum) {
                int msum = msum(row.m, xs, xo / 16 + sb * 16, sb);
                acc += (d * row.d[sb]) * isum - (d * row.dm[sb]) * msum;
            } else {
                acc += (d * row.d[sb]) * isum;
            }
        }
        return acc;
    }

    /** {@link #ROWS} K-quant rows and one token: each activation load serves the four rows. */
    private static void kQuant4(QuantFormat f, Row[] rows, int[] xi, int[] xs, float[] dx, int t, int pk, int nb,
                                int r, float[] y, int yo) {
        boolean minimum = f.hasMinimum();
        int xo = t * pk;
        int[] w0 = rows[0].w;
        int[] w1 = rows[1].w;
        int[] w2 = rows[2].w;
        int[] w3 = rows[3].w;
        float acc0 = 0f;
        float acc1 = 0f;
        float acc2 = 0f;
        float acc3 = 0f;
        for (int sb = 0; sb < nb; sb++) {
            IntVector a0 = IntVector.zero(I);
            IntVector a1 = IntVector.zero(I);
            IntVector a2 = IntVector.zero(I);
            IntVector a3 = IntVector.zero(I);
            for (int e = sb * 256; e < sb * 256 + 256; e += L) {
                IntVector xv = IntVector.fromArray(I, xi, xo + e);
                a0 = IntVector.fromArray(I, w0, e).mul(xv).add(a0);
                a1 = IntVector.fromArray(I, w1, e).mul(xv).add(a1);
                a2 = IntVector.fromArray(I, w2, e).mul(xv).add(a2);
                a3 = IntVector.fromArray(I, w3, e).mul(xv).add(a3);
            }
            float d = dx[t * nb + sb];
            int i0 = a0.reduceLanes(VectorOperators.ADD);
            int i1 = a1.reduceLanes(VectorOperators.ADD);
            int i2 = a2.reduceLanes(VectorOperators.ADD);
            int i3 = a3.reduceLanes(VectorOperators.ADD);
            if (minimum) {
                int xso = xo / 16 + sb * 16;
                acc0 += (d * rows[0].d[sb]) * i0 - (d * rows[0].dm[sb]) * msum(rows[0].m, xs, xso, sb);
                acc1 += (d * rows[1].d[sb]) * i1 - (d * rows[1].dm[sb]) * msum(rows[1].m, xs, xso, sb);
                acc2 += (d * rows[2].d[sb]) * i2 - (d * rows[2].dm[sb]) * msum(rows[2].m, xs, xso, sb);
                acc3 += (d * rows[3].d[sb]) * i3 - (d * rows[3].dm[sb]) * msum(rows[3].m, xs, xso, sb);
            } else {
                acc0 += (d * rows[0].d[sb]) * i0;
                acc1 += (d * rows[1].d[sb]) * i1;
                acc2 += (d * rows[2].d[sb]) * i2;
                acc3 += (d * rows[3].d[sb]) * i3;
            }
        }
        y[yo + r] = acc0;
        y[yo + r + 1] = acc1;
        y[yo + r + 2] = acc2;
        y[yo + r + 3] = acc3;
    }

    /** One row of blocks of 32 (Q5_0, Q5_1, IQ4_NL) and one token. */
    private static float blocks1(QuantFormat f, Row row, int[] xi, int[] xs, float[] dx, int t, int pk, int nb) {
        boolean minimum = f.hasMinimum();
        int xo = t * pk;
        float acc = 0f;
        for (int b = 0; b < nb; b++) {
            IntVector a = IntVector.zero(I);
            for (int e = b * 32; e < b * 32 + 32; e += L) {
                a = IntVector.fromArray(I, row.w, e).mul(IntVector.fromArray(I, xi, xo + e)).add(a);
            }
            int isum = a.reduceLanes(VectorOperators.ADD);
            float d = dx[t * nb + b];
            if (minimum) {
                int xsum = xs[xo / 16 + 2 * b] + xs[xo / 16 + 2 * b + 1];
                acc += d * (row.d[b] * isum + row.dm[b] * xsum);
            } else {
                acc += (row.d[b] * d) * isum;
            }
        }
        return acc;
    }

    /** {@link #ROWS} rows of blocks of 32 and one token. */
    private static void blocks4(QuantFormat f, Row[] rows, int[] xi, int[] xs, float[] dx, int t, int pk, int nb,
                                int r, float[] y, int yo) {
        boolean minimum = f.hasMinimum();
        int xo = t * pk;
        int[] w0 = rows[0].w;
        int[] w1 = rows[1].w;
        int[] w2 = rows[2].w;
        int[] w3 = rows[3].w;
        float acc0 = 0f;
        float acc1 = 0f;
        float acc2 = 0f;
        float acc3 = 0f;
        for (int b = 0; b < nb; b++) {
            IntVector a0 = IntVector.zero(I);
            IntVector a1 = IntVector.zero(I);
            IntVector a2 = IntVector.zero(I);
            IntVector a3 = IntVector.zero(I);
            for (int e = b * 32; e < b * 32 + 32; e += L) {
                IntVector xv = IntVector.fromArray(I, xi, xo + e);
                a0 = IntVector.fromArray(I, w0, e).mul(xv).add(a0);
                a1 = IntVector.fromArray(I, w1, e).mul(xv).add(a1);
                a2 = IntVector.fromArray(I, w2, e).mul(xv).add(a2);
                a3 = IntVector.fromArray(I, w3, e).mul(xv).add(a3);
            }
            float d = dx[t * nb + b];
            int i0 = a0.reduceLanes(VectorOperators.ADD);
            int i1 = a1.reduceLanes(VectorOperators.ADD);
            int i2 = a2.reduceLanes(VectorOperators.ADD);
            int i3 = a3.reduceLanes(VectorOperators.ADD);
            if (minimum) {
                int xsum = xs[xo / 16 + 2 * b] + xs[xo / 16 + 2 * b + 1];
                acc0 += d * (rows[0].d[b] * i0 + rows[0].dm[b] * xsum);
                acc1 += d * (rows[1].d[b] * i1 + rows[1].dm[b] * xsum);
                acc2 += d * (rows[2].d[b] * i2 + rows[2].dm[b] * xsum);
                acc3 += d * (rows[3].d[b] * i3 + rows[3].dm[b] * xsum);
            } else {
                acc0 += (rows[0].d[b] * d) * i0;
                acc1 += (rows[1].d[b] * d) * i1;
                acc2 += (rows[2].d[b] * d) * i2;
                acc3 += (rows[3].d[b] * d) * i3;
            }
        }
        y[yo + r] = acc0;
        y[yo + r + 1] = acc1;
        y[yo + r + 2] = acc2;
        y[yo + r + 3] = acc3;
    }

    // ---------------------------------------------------------------- fp32 path

    /** The weight-only path of {@link #takesF32} weights, within the reordering bound of the reference. */
    static void gemmF32(QuantizedTensor w, float[] x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        QuantFormat f = w.format();
        int k = w.cols();
        int nb = k / f.groupSize();
        int gl = f.scaleGroupLength(k);
        int ng = k / gl;
        boolean kQuant = f.groupSize() == 256 && f.kind() != QuantFormat.Kind.Q8_K;
        boolean minimum = f.hasMinimum();
        Row row = new Row(k, nb);
        float[] wv = new float[k];
        float[] gs = new float[ng];
        float[] gz = new float[ng];
        SparseOutliers o = w.outliers();
        for (int r = r0; r < r1; r++) {
            decode(w, r, row);
            for (int c = 0; c < k; c += L) {
                ((FloatVector) IntVector.fromArray(I, row.w, c).convert(VectorOperators.I2F, 0)).intoArray(wv, c);
            }
            // The scale and zero point of each group as the reference computes them: d * sc and -(dmin * m).
            for (int g = 0; g < ng; g++) {
                int b = g * gl / f.groupSize();
                if (kQuant) {
                    gs[g] = row.d[b] * row.sc[g * gl / 16];
                    gz[g] = minimum ? -(row.dm[b] * row.m[g * gl / 16]) : 0f;
                } else {
                    gs[g] = row.d[b];
                    gz[g] = row.dm[b];
                }
            }
            for (int t = t0; t < t1; t++) {
                int xo = t * k;
                FloatVector acc = FloatVector.zero(F);
                FloatVector accx = FloatVector.zero(F);
                for (int g = 0; g < ng; g++) {
                    FloatVector s = FloatVector.zero(F);
                    FloatVector sx = FloatVector.zero(F);
                    for (int c = g * gl; c < g * gl + gl; c += L) {
                        FloatVector xv = FloatVector.fromArray(F, x, xo + c);
                        s = FloatVector.fromArray(F, wv, c).fma(xv, s);
                        if (minimum) {
                            sx = sx.add(xv);
                        }
                    }
                    acc = s.fma(FloatVector.broadcast(F, gs[g]), acc);
                    if (minimum) {
                        accx = sx.fma(FloatVector.broadcast(F, gz[g]), accx);
                    }
                }
                // Lanes summed first to last (VectorRowDecode.sum): the same bits compiled or interpreted.
                float sum = VectorRowDecode.sum(acc) + (minimum ? VectorRowDecode.sum(accx) : 0f);
                if (o != null) {
                    for (int e = o.rowPtr(r); e < o.rowPtr(r + 1); e++) {
                        sum += o.value(e) * x[xo + o.col(e)];
                    }
                }
                y[t * ldy + r] = sum;
            }
        }
    }
}

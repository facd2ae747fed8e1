package dev.lowbit.kernels;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.SparseOutliers;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Vector API matmuls.
 *
 * <p>Integer path: codes are widened to float lanes, where every product and every per-lane sum of a
 * block is an integer below 2^24 (at most 32 · 128 · 128), so fused multiply-adds form the block's
 * integer sums exactly. Each block's lanes are then scaled by {@code d_w * d_x} into fp32 accumulator
 * lanes, which are added first to last once per row and token. Only that fp32 part runs in another
 * order than the reference (scaled per lane instead of per block), so results agree with it within
 * the reordering bound, and bit for bit wherever the scaled sums are exact (power-of-two scales).
 * Floats beat ints here because the Vector API has no byte multiply-add (x86 {@code vpmaddubsw},
 * {@code vpdpbusd}): an int path must widen bytes to shorts, multiply, and widen again to ints,
 * three steps where floats take one conversion and one FMA. The native tier takes those instructions up.
 *
 * <p>Every element of {@code y} runs the same sequence of lane operations whichever code path computes
 * it (a row straight from its blocks, or a tile of 4 rows by 3 tokens from decoded rows), so results do
 * not depend on how rows and tokens are split between threads.
 *
 * <p>fp32 path: per block (Q8_0, Q4_0) or per group, products are summed in lanes and reduced once per
 * row and token, so sums run in another order than the reference's and agree within the bound
 * that reordering allows.
 */
final class VectorMatmulKernels implements MatmulKernels {
    private static final int BITS = VectorQuantKernels.BITS;
    private static final VectorSpecies<Float> F = BITS >= 512 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    private static final VectorSpecies<Byte> B = BITS >= 512 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
    private static final VectorSpecies<Integer> I = BITS >= 512 ? IntVector.SPECIES_512 : IntVector.SPECIES_256;
    /** Elements per step: one byte lane and one float lane each. */
    private static final int L = F.length();
    /** Tile of the integer GEMM: rows by tokens. */
    private static final int TR = 4;
    private static final int TT = 3;
    /** Rows decoded at a time for the GEMM tiles. */
    private static final int PANEL = 16;

    static final VectorMatmulKernels INSTANCE = BITS >= 256 ? new VectorMatmulKernels() : null;

    private VectorMatmulKernels() {
    }

    @Override
    public String name() {
        return "vector-" + F.vectorBitSize();
    }

    /** Bytes widened to float lanes (exact). */
    private static FloatVector floats(ByteVector b) {
        return (FloatVector) b.convertShape(VectorOperators.B2F, F, 0);
    }

    // ---------------------------------------------------------------- integer path

    @Override
    public void gemmInt8(QuantizedTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        QuantFormat f = w.format();
        int pk = x.paddedK();
        int nb = pk / 32;
        int nt = t1 - t0;
        // Activation codes as floats and their block scales, once per call: every row reuses them.
        float[] xf = new float[nt * pk];
        byte[] xc = x.codes();
        for (int i = 0; i < xf.length; i += L) {
            floats(ByteVector.fromArray(B, xc, t0 * pk + i)).intoArray(xf, i);
        }
        float[] dx = new float[nt * nb];
        for (int t = 0; t < nt; t++) {
            for (int b = 0; b < nb; b++) {
                dx[t * nb + b] = x.scale(t0 + t, b);
            }
        }
        if (!WeightRows.centered(f)) {
            asymmetric(w, x, xf, dx, r0, r1, t0, t1, y, ldy);
            return;
        }
        if ((f.kind() == QuantFormat.Kind.Q8_0 || f.kind() == QuantFormat.Kind.Q4_0) && nt < TT) {
            gemvBlocks(w, x, xf, dx, r0, r1, t0, t1, y, ldy);
            return;
        }
        // Tiles of TR rows by TT tokens over a panel of PANEL decoded rows: each weight lane loaded
        // serves TT tokens, each activation lane TR rows; the panel (PANEL * 4 k bytes of floats)
        // stays in L2 while every token of the call passes over it.
        float[][] wf = new float[PANEL][pk];
        float[][] dw = new float[PANEL][nb];
        byte[] wc = new byte[pk];
        float[] out = new float[TR * TT];
        for (int r = r0; r < r1; r += PANEL) {
            int rn = Math.min(PANEL, r1 - r);
            for (int i = 0; i < rn; i++) {
                decodeCentered(w, r + i, wc, wf[i], dw[i]);
            }
            int full = rn - rn % TR;
            int t = 0;
            for (; t + TT <= nt; t += TT) {
                for (int i0 = 0; i0 < full; i0 += TR) {
                    tile(wf, dw, i0, xf, dx, pk, nb, t, out);
                    for (int i = 0; i < TR; i++) {
                        for (int j = 0; j < TT; j++) {
                            y[(t0 + t + j) * ldy + r + i0 + i] = outliers(w, r + i0 + i, x, t0 + t + j, out[i * TT + j]);
                        }
                    }
                }
                for (int i = full; i < rn; i++) {
                    for (int j = 0; j < TT; j++) {
                        float acc = rowFloats(wf[i], dw[i], xf, (t + j) * pk, dx, (t + j) * nb, nb);
                        y[(t0 + t + j) * ldy + r + i] = outliers(w, r + i, x, t0 + t + j, acc);
                    }
                }
            }
            for (; t < nt; t++) {
                for (int i = 0; i < rn; i++) {
                    float acc = rowFloats(wf[i], dw[i], xf, t * pk, dx, t * nb, nb);
                    y[(t0 + t) * ldy + r + i] = outliers(w, r + i, x, t0 + t, acc);
                }
            }
        }
    }

    /** GEMV (and 2 tokens) on Q8_0 and Q4_0, straight from the blocks; a method of its own so that it compiles alone. */
    private static void gemvBlocks(QuantizedTensor w, QuantizedActivations x, float[] xf, float[] dx, int r0, int r1,
                                   int t0, int t1, float[] y, int ldy) {
        boolean q8 = w.format().kind() == QuantFormat.Kind.Q8_0;
        long rowBytes = w.format().rowBytes(w.cols());
        MemorySegment data = w.data();
        int pk = x.paddedK();
        int nb = pk / 32;
        for (int r = r0; r < r1; r++) {
            for (int t = 0; t < t1 - t0; t++) {
                float acc = q8 ? rowQ8_0(data, r * rowBytes, nb, xf, t * pk, dx, t * nb)
                        : rowQ4_0(data, r * rowBytes, nb, xf, t * pk, dx, t * nb);
                y[(t0 + t) * ldy + r] = outliers(w, r, x, t0 + t, acc);
            }
        }
    }

    /** The row's outliers, in the reference's order, continuing the row's sum. */
    private static float outliers(QuantizedTensor w, int r, QuantizedActivations x, int t, float acc) {
        SparseOutliers o = w.outliers();
        if (o != null) {
            int pk = x.paddedK();
            for (int e = o.rowPtr(r); e < o.rowPtr(r + 1); e++) {
                int c = o.col(e);
                acc += o.value(e) * (x.codes()[t * pk + c] * x.scale(t, c / 32));
            }
        }
        return acc;
    }

    /** Centered codes of row {@code r} as floats and the row's scale for each block of 32. */
    private static void decodeCentered(QuantizedTensor w, int r, byte[] wc, float[] wf, float[] dw) {
        QuantFormat f = w.format();
        if (f.kind() == QuantFormat.Kind.Q8_0 || f.kind() == QuantFormat.Kind.Q4_0) {
            // Straight from the blocks, in vector loads: the codes a GEMV reads, so tiles and GEMVs agree.
            // Codes past k in the last block meet zero activations, whatever their value.
            MemorySegment data = w.data();
            boolean q8 = f.kind() == QuantFormat.Kind.Q8_0;
            int bb = f.blockBytes();
            long base = r * f.rowBytes(w.cols());
            for (int b = 0; b < dw.length; b++, base += bb) {
                dw[b] = Float.float16ToFloat(data.get(Layouts.F16, base));
                if (q8) {
                    for (int j = 0; j < 32; j += L) {
                        floats(ByteVector.fromMemorySegment(B, data, base + 2 + j, ByteOrder.LITTLE_ENDIAN))
                                .intoArray(wf, b * 32 + j);
                    }
                } else if (L == 16) {
                    IntVector q = ints(data, base + 2);
                    loNibble(q).intoArray(wf, b * 32);
                    hiNibble(q).intoArray(wf, b * 32 + 16);
                } else {
                    for (int j = 0; j < 16; j += L) {
                        ByteVector q = ByteVector.fromMemorySegment(B, data, base + 2 + j, ByteOrder.LITTLE_ENDIAN);
                        floats(q.and((byte) 15).sub((byte) 8)).intoArray(wf, b * 32 + j);
                        floats(q.lanewise(VectorOperators.LSHR, 4).and((byte) 15).sub((byte) 8)).intoArray(wf, b * 32 + 16 + j);
                    }
                }
            }
            return;
        }
        WeightRows.codes(w, r, wc);
        for (int i = 0; i < wf.length; i += L) {
            floats(ByteVector.fromArray(B, wc, i)).intoArray(wf, i);
        }
        int gl = f.groupLength(w.cols());
        for (int b = 0; b < dw.length; b++) {
            dw[b] = Reference.scale(w, r, b * 32 / gl);
        }
    }

    /** Q8_0 weights straight from their blocks. */
    private static float rowQ8_0(MemorySegment data, long base, int nb, float[] xf, int xo, float[] dx, int dxo) {
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++, base += 34) {
            FloatVector s = FloatVector.zero(F);
            for (int j = 0; j < 32; j += L) {
                s = floats(ByteVector.fromMemorySegment(B, data, base + 2 + j, ByteOrder.LITTLE_ENDIAN))
                        .fma(FloatVector.fromArray(F, xf, xo + b * 32 + j), s);
            }
            float c = Float.float16ToFloat(data.get(Layouts.F16, base)) * dx[dxo + b];
            acc = s.fma(FloatVector.broadcast(F, c), acc);
        }
        return sum(acc);
    }

    /** Q4_0 weights straight from their blocks: low nibbles are elements 0..15, high nibbles 16..31. */
    private static float rowQ4_0(MemorySegment data, long base, int nb, float[] xf, int xo, float[] dx, int dxo) {
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++, base += 18) {
            FloatVector s = FloatVector.zero(F);
            int o = xo + b * 32;
            if (L == 16) { // one 16-byte load holds the block's 32 codes, split in int lanes
                IntVector q = ints(data, base + 2);
                s = loNibble(q).fma(FloatVector.fromArray(F, xf, o), s);
                s = hiNibble(q).fma(FloatVector.fromArray(F, xf, o + 16), s);
            } else { // element order, as a decoded row runs
                for (int j = 0; j < 16; j += L) {
                    ByteVector q = ByteVector.fromMemorySegment(B, data, base + 2 + j, ByteOrder.LITTLE_ENDIAN);
                    s = floats(q.and((byte) 15).sub((byte) 8)).fma(FloatVector.fromArray(F, xf, o + j), s);
                }
                for (int j = 0; j < 16; j += L) {
                    ByteVector q = ByteVector.fromMemorySegment(B, data, base + 2 + j, ByteOrder.LITTLE_ENDIAN);
                    s = floats(q.lanewise(VectorOperators.LSHR, 4).and((byte) 15).sub((byte) 8))
                            .fma(FloatVector.fromArray(F, xf, o + 16 + j), s);
                }
            }
            float c = Float.float16ToFloat(data.get(Layouts.F16, base)) * dx[dxo + b];
            acc = s.fma(FloatVector.broadcast(F, c), acc);
        }
        return sum(acc);
    }

    /** Low nibbles minus 8, as floats: split in int lanes, since x86 has no byte shift. */
    private static FloatVector loNibble(IntVector q) {
        return (FloatVector) q.and(15).sub(8).convert(VectorOperators.I2F, 0);
    }

    /** High nibbles minus 8, as floats. */
    private static FloatVector hiNibble(IntVector q) {
        return (FloatVector) q.lanewise(VectorOperators.ASHR, 4).and(15).sub(8).convert(VectorOperators.I2F, 0);
    }

    /** 16 code bytes sign-extended to int lanes. */
    private static IntVector ints(MemorySegment data, long p) {
        return (IntVector) ByteVector.fromMemorySegment(B, data, p, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.B2I, I, 0);
    }

    /** One row and token from a decoded row: the same lane operations as {@link #rowQ8_0}. */
    private static float rowFloats(float[] wf, float[] dw, float[] xf, int xo, float[] dx, int dxo, int nb) {
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            FloatVector s = FloatVector.zero(F);
            for (int j = b * 32; j < b * 32 + 32; j += L) {
                s = FloatVector.fromArray(F, wf, j).fma(FloatVector.fromArray(F, xf, xo + j), s);
            }
            acc = s.fma(FloatVector.broadcast(F, dw[b] * dx[dxo + b]), acc);
        }
        return sum(acc);
    }

    /** {@link #rowFloats} for rows {@code i0 .. i0 + 3} of a panel and 3 tokens ({@code t}: first token, relative). */
    private static void tile(float[][] wf, float[][] dw, int i0, float[] xf, float[] dx, int pk, int nb, int t,
                             float[] out) {
        float[] w0 = wf[i0];
        float[] w1 = wf[i0 + 1];
        float[] w2 = wf[i0 + 2];
        float[] w3 = wf[i0 + 3];
        float[] d0 = dw[i0];
        float[] d1 = dw[i0 + 1];
        float[] d2 = dw[i0 + 2];
        float[] d3 = dw[i0 + 3];
        int x0 = t * pk;
        int x1 = x0 + pk;
        int x2 = x1 + pk;
        int e0 = t * nb;
        int e1 = e0 + nb;
        int e2 = e1 + nb;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
        for (int b = 0; b < nb; b++) {
            FloatVector s00 = FloatVector.zero(F), s01 = s00, s02 = s00, s10 = s00, s11 = s00, s12 = s00;
            FloatVector s20 = s00, s21 = s00, s22 = s00, s30 = s00, s31 = s00, s32 = s00;
            for (int j = b * 32; j < b * 32 + 32; j += L) {
                FloatVector v0 = FloatVector.fromArray(F, xf, x0 + j);
                FloatVector v1 = FloatVector.fromArray(F, xf, x1 + j);
                FloatVector v2 = FloatVector.fromArray(F, xf, x2 + j);
                FloatVector u = FloatVector.fromArray(F, w0, j);
                s00 = u.fma(v0, s00);
                s01 = u.fma(v1, s01);
                s02 = u.fma(v2, s02);
                u = FloatVector.fromArray(F, w1, j);
                s10 = u.fma(v0, s10);
                s11 = u.fma(v1, s11);
                s12 = u.fma(v2, s12);
                u = FloatVector.fromArray(F, w2, j);
                s20 = u.fma(v0, s20);
                s21 = u.fma(v1, s21);
                s22 = u.fma(v2, s22);
                u = FloatVector.fromArray(F, w3, j);
                s30 = u.fma(v0, s30);
                s31 = u.fma(v1, s31);
                s32 = u.fma(v2, s32);
            }
            float c0 = dx[e0 + b];
            float c1 = dx[e1 + b];
            float c2 = dx[e2 + b];
            float d = d0[b];
            a00 = s00.fma(FloatVector.broadcast(F, d * c0), a00);
            a01 = s01.fma(FloatVector.broadcast(F, d * c1), a01);
            a02 = s02.fma(FloatVector.broadcast(F, d * c2), a02);
            d = d1[b];
            a10 = s10.fma(FloatVector.broadcast(F, d * c0), a10);
            a11 = s11.fma(FloatVector.broadcast(F, d * c1), a11);
            a12 = s12.fma(FloatVector.broadcast(F, d * c2), a12);
            d = d2[b];
            a20 = s20.fma(FloatVector.broadcast(F, d * c0), a20);
            a21 = s21.fma(FloatVector.broadcast(F, d * c1), a21);
            a22 = s22.fma(FloatVector.broadcast(F, d * c2), a22);
            d = d3[b];
            a30 = s30.fma(FloatVector.broadcast(F, d * c0), a30);
            a31 = s31.fma(FloatVector.broadcast(F, d * c1), a31);
            a32 = s32.fma(FloatVector.broadcast(F, d * c2), a32);
        }
        out[0] = sum(a00);
        out[1] = sum(a01);
        out[2] = sum(a02);
        out[3] = sum(a10);
        out[4] = sum(a11);
        out[5] = sum(a12);
        out[6] = sum(a20);
        out[7] = sum(a21);
        out[8] = sum(a22);
        out[9] = sum(a30);
        out[10] = sum(a31);
        out[11] = sum(a32);
    }

    /**
     * Q4_1 and asymmetric grouped codes: per block, {@code A * sum(q x) + B * sum(x)} with
     * {@code A = d_w d_x} and {@code B = -d_w d_x (z - o)} (Q4_1: {@code A = d_w d_x}, {@code B = m d_x}),
     * both parts in lanes.
     */
    private static void asymmetric(QuantizedTensor w, QuantizedActivations x, float[] xf, float[] dx, int r0, int r1,
                                   int t0, int t1, float[] y, int ldy) {
        QuantFormat f = w.format();
        int k = w.cols();
        int pk = x.paddedK();
        int nb = pk / 32;
        int gl = f.groupLength(k);
        boolean q41 = f.kind() == QuantFormat.Kind.Q4_1;
        int off = WeightRows.codeOffset(f);
        byte[] wc = new byte[pk];
        float[] wf = new float[pk];
        float[] dw = new float[nb];
        float[] zw = new float[nb];
        for (int r = r0; r < r1; r++) {
            WeightRows.codes(w, r, wc);
            for (int i = 0; i < pk; i += L) {
                floats(ByteVector.fromArray(B, wc, i)).intoArray(wf, i);
            }
            for (int b = 0; b < nb; b++) {
                dw[b] = Reference.scale(w, r, b * 32 / gl);
                zw[b] = q41 ? Reference.zero(w, r, b * 32 / gl) : -dw[b] * (Reference.zero(w, r, b * 32 / gl) - off);
            }
            for (int t = 0; t < t1 - t0; t++) {
                int xo = t * pk;
                FloatVector acc = FloatVector.zero(F);
                for (int b = 0; b < nb; b++) {
                    FloatVector s = FloatVector.zero(F);
                    FloatVector xs = FloatVector.zero(F);
                    for (int j = b * 32; j < b * 32 + 32; j += L) {
                        FloatVector xv = FloatVector.fromArray(F, xf, xo + j);
                        s = FloatVector.fromArray(F, wf, j).fma(xv, s);
                        xs = xs.add(xv);
                    }
                    float c = dx[t * nb + b];
                    acc = s.fma(FloatVector.broadcast(F, dw[b] * c), acc);
                    acc = xs.fma(FloatVector.broadcast(F, zw[b] * c), acc);
                }
                y[(t0 + t) * ldy + r] = outliers(w, r, x, t0 + t, sum(acc));
            }
        }
    }

    // ---------------------------------------------------------------- fp32 path

    @Override
    public void gemmF32(QuantizedTensor w, float[] x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        QuantFormat f = w.format();
        int k = w.cols();
        boolean direct = f.kind() == QuantFormat.Kind.Q8_0 || f.kind() == QuantFormat.Kind.Q4_0;
        float[] wv = direct ? null : new float[k];
        float[] ones = new float[k / 32];
        java.util.Arrays.fill(ones, 1f);
        for (int r = r0; r < r1; r++) {
            if (!direct) {
                decodeRow(w, r, wv);
            }
            for (int t = t0; t < t1; t++) {
                float acc = direct ? rowF32Blocks(w, r, x, t * k, ones) : rowF32Groups(w, r, wv, x, t * k);
                SparseOutliers o = w.outliers();
                if (o != null) {
                    for (int e = o.rowPtr(r); e < o.rowPtr(r + 1); e++) {
                        acc += o.value(e) * x[t * k + o.col(e)];
                    }
                }
                y[t * ldy + r] = acc;
            }
        }
    }

    /** Q8_0 and Q4_0 from their blocks: products in lanes, scaled per block, one reduction at the end. */
    private static float rowF32Blocks(QuantizedTensor w, int r, float[] x, int xo, float[] ones) {
        MemorySegment data = w.data();
        boolean q8 = w.format().kind() == QuantFormat.Kind.Q8_0;
        int k = w.cols();
        int full = k / 32;
        long base = r * w.format().rowBytes(k);
        // Whole blocks through the integer path's row kernels, with unit activation scales: the same
        // lane arithmetic, on fp32 activations.
        float sum = q8 ? rowQ8_0(data, base, full, x, xo, ones, 0) : rowQ4_0(data, base, full, x, xo, ones, 0);
        if (full * 32 < k) { // the partial last block, as the reference does it
            float d = Reference.scale(w, r, full);
            float s = 0f;
            for (int c = full * 32; c < k; c++) {
                s += ScalarMatmulKernels.value(w.format(), Reference.code(w, r, c), 0f, null) * x[xo + c];
            }
            sum += d * s;
        }
        return sum;
    }

    /** Every other format from a decoded row of scale multipliers (codes minus zero point, or levels). */
    private static float rowF32Groups(QuantizedTensor w, int r, float[] wv, float[] x, int xo) {
        QuantFormat f = w.format();
        int k = w.cols();
        int gl = f.groupLength(k);
        boolean q41 = f.kind() == QuantFormat.Kind.Q4_1;
        float acc = 0f;
        for (int g = 0; g * gl < k; g++) {
            int start = g * gl;
            int end = Math.min(k, start + gl);
            FloatVector s = FloatVector.zero(F);
            FloatVector sx = FloatVector.zero(F);
            int c = start;
            for (; c + L <= end; c += L) {
                FloatVector xv = FloatVector.fromArray(F, x, xo + c);
                s = FloatVector.fromArray(F, wv, c).fma(xv, s);
                if (q41) {
                    sx = sx.add(xv);
                }
            }
            float ss = sum(s);
            float sxs = q41 ? sum(sx) : 0f;
            for (; c < end; c++) {
                ss += wv[c] * x[xo + c];
                sxs += x[xo + c];
            }
            float d = Reference.scale(w, r, g);
            acc += q41 ? d * ss + Reference.zero(w, r, g) * sxs : d * ss;
        }
        return acc;
    }

    /**
     * Lanes summed first to last. {@code reduceLanes(ADD)} may add in another order once compiled than
     * when interpreted, which would make a result depend on the JIT's timing.
     */
    private static float sum(FloatVector v) {
        float s = 0f;
        for (int i = 0; i < L; i++) {
            s += v.lane(i);
        }
        return s;
    }

    /** Scale multipliers of row {@code r}: code minus zero point, the codebook level, or the raw Q4_1 code. */
    private static void decodeRow(QuantizedTensor w, int r, float[] wv) {
        QuantFormat f = w.format();
        int gl = f.groupLength(w.cols());
        float[] levels = w.levels();
        for (int c = 0; c < w.cols(); c++) {
            int code = Reference.code(w, r, c);
            wv[c] = f.kind() == QuantFormat.Kind.Q4_1 ? code
                    : ScalarMatmulKernels.value(f, code, Reference.zero(w, r, c / gl), levels);
        }
    }
}

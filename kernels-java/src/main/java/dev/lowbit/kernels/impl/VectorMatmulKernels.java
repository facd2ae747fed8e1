package dev.lowbit.kernels.impl;

import dev.lowbit.format.Int8RowTensor;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.kernels.MatmulKernels;
import dev.lowbit.kernels.MatmulOps;
import dev.lowbit.kernels.QuantizedActivations;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import static dev.lowbit.kernels.impl.VectorF32Rows.decodeRow;
import static dev.lowbit.kernels.impl.VectorF32Rows.rowF32Blocks;
import static dev.lowbit.kernels.impl.VectorF32Rows.rowF32Groups;
import static dev.lowbit.kernels.impl.VectorGemvRows.asymmetric;
import static dev.lowbit.kernels.impl.VectorGemvRows.directAsymmetric;
import static dev.lowbit.kernels.impl.VectorGemvRows.gemvAsymmetric;
import static dev.lowbit.kernels.impl.VectorGemvRows.gemvBlocks;
import static dev.lowbit.kernels.impl.VectorGemvRows.gemvDecoded;
import static dev.lowbit.kernels.impl.VectorGemvRows.int8Rows;
import static dev.lowbit.kernels.impl.VectorRowDecode.floats;

/**
 * Vector API matmuls.
 *
 * <p>Integer path: codes are widened to float lanes, where every product and every partial sum of a
 * block is an integer below 2^24 (at most 32 · 128 · 128), so fused multiply-adds form the block's
 * integer sums exactly. Floats beat ints here because the Vector API has no byte multiply-add (x86
 * {@code vpmaddubsw}, {@code vpdpbusd}): an int path must widen bytes to shorts, multiply, and widen
 * again to ints, three steps where floats take one conversion and one FMA. The native tier takes those
 * instructions up. The exception is the GEMV rows of Q8_0 (activation codes in [-127, 127]) and 4-bit codes: two
 * products fit an int16 lane, so two {@code vpmullw} and one conversion to float cover 32 codes where floats
 * take two conversions and two FMAs.
 * <ul>
 *   <li>Centered codes (Q8_0, Q4_0, symmetric grouped) then scale and add each block's sum as the
 *       reference does, {@code acc = acc + (d_w * d_x) * sum} in fp32, with tokens in the lanes
 *       ({@link TokenLaneGemm}), so their results are the reference's bits. The exception is fewer than
 *       {@link #GEMV_TOKENS} tokens: a row at a time, straight from the blocks for Q8_0 and Q4_0
 *       ({@link VectorGemvRows#gemvBlocks}) or from a decoded row ({@link VectorGemvRows#gemvDecoded}), block
 *       sums scaled in lanes, within the reordering bound. A call's result does not depend on how its rows
 *       are split, nor on the token split {@link MatmulOps} makes (it never cuts fewer than 16 tokens).</li>
 *   <li>Codes with a zero point (Q4_1, asymmetric grouped) scale each block's lanes into fp32 accumulator
 *       lanes, added first to last once per row and token: another order than the reference's, within the
 *       bound that reordering allows, and the same whatever the split.</li>
 * </ul>
 *
 * <p>fp32 path: per block (Q8_0, Q4_0) or per group, products are summed in lanes and reduced once per
 * row and token, so sums run in another order than the reference's and agree within the bound
 * that reordering allows.
 *
 * <p>Q5_0, Q5_1, IQ4_NL, the K-quants Q2_K to Q6_K (and Q8_K weights on the fp32 path): {@link VectorBlockRows}, the
 * reference's bits on the integer path.
 */
public final class VectorMatmulKernels implements MatmulKernels {
    private static final int BITS = VectorWidth.BITS;
    public static final VectorSpecies<Float> F = BITS >= 512 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    private static final VectorSpecies<Byte> B = BITS >= 512 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
    /** Elements per step: one byte lane and one float lane each. */
    private static final int L = F.length();
    /**
     * Fewer tokens than this take the rows one by one, straight from their blocks (Q8_0, Q4_0): below it,
     * a vector of tokens would be mostly padding.
     */
    private static final int GEMV_TOKENS = 5;

    static final VectorMatmulKernels INSTANCE = BITS >= 256 ? new VectorMatmulKernels() : null;

    private VectorMatmulKernels() {
    }

    @Override
    public String name() {
        return "vector-" + F.vectorBitSize();
    }

    /** {@code i8_rowx16}: {@link VectorGemvRows#int8Rows}, the same bits as the reference. */
    @Override
    public void gemmInt8(Int8RowTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        int8Rows(w, x, r0, r1, t0, t1, y, ldy);
    }

    // ---------------------------------------------------------------- integer path

    /** Q5_0, Q5_1, IQ4_NL and the K-quants Q2_K to Q6_K: {@link VectorBlockRows}, the reference's bits. */
    @Override
    public boolean takesBlocks(QuantFormat f) {
        return VectorBlockRows.takesInt8(f);
    }

    /** {@link #takesBlocks} and Q8_K: {@link VectorBlockRows}, within the reordering bound. */
    @Override
    public boolean takesBlocksF32(QuantFormat f) {
        return VectorBlockRows.takesF32(f);
    }

    @Override
    public void gemmInt8(QuantizedTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        QuantFormat f = w.format();
        if (VectorBlockRows.takesInt8(f)) {
            VectorBlockRows.gemm(w, x, r0, r1, t0, t1, y, ldy);
            return;
        }
        boolean blocks = f.kind() == QuantFormat.Kind.Q8_0 || f.kind() == QuantFormat.Kind.Q4_0;
        if (WeightRows.centered(f) && t1 - t0 >= GEMV_TOKENS) {
            TokenLaneGemm.gemm(w, x, r0, r1, t0, t1, y, ldy);
            return;
        }
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
        if (blocks) {
            gemvBlocks(w, x, xf, dx, r0, r1, t0, t1, y, ldy);
        } else if (WeightRows.centered(f)) {
            gemvDecoded(w, x, xf, dx, r0, r1, t0, t1, y, ldy);
        } else if (nt < GEMV_TOKENS && directAsymmetric(f, w.cols())) {
            gemvAsymmetric(w, x, xf, dx, r0, r1, t0, t1, y, ldy);
        } else {
            asymmetric(w, x, xf, dx, r0, r1, t0, t1, y, ldy);
        }
    }

    // ---------------------------------------------------------------- fp32 path

    @Override
    public void gemmF32(QuantizedTensor w, float[] x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        QuantFormat f = w.format();
        if (VectorBlockRows.takesF32(f)) {
            VectorBlockRows.gemmF32(w, x, r0, r1, t0, t1, y, ldy);
            return;
        }
        int k = w.cols();
        boolean direct = f.kind() == QuantFormat.Kind.Q8_0 || f.kind() == QuantFormat.Kind.Q4_0;
        float[] wv = direct ? null : new float[k];
        byte[] wc = direct ? null : new byte[QuantizedActivations.paddedK(k)];
        float[] gs = direct ? null : new float[f.groupsPerRow(k)];
        float[] gz = direct ? null : new float[f.groupsPerRow(k)];
        float[] ones = new float[k / 32];
        java.util.Arrays.fill(ones, 1f);
        for (int r = r0; r < r1; r++) {
            if (!direct) {
                decodeRow(w, r, wc, gs, gz, wv);
            }
            for (int t = t0; t < t1; t++) {
                float acc = direct ? rowF32Blocks(w, r, x, t * k, ones) : rowF32Groups(w, r, wv, gs, gz, x, t * k);
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
}

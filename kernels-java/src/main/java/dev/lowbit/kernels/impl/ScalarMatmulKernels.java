package dev.lowbit.kernels.impl;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.kernels.MatmulKernels;
import dev.lowbit.kernels.QuantizedActivations;

/**
 * The scalar reference of the matmuls; the order of its float operations defines the result.
 * Per row and token, blocks of 32 (integer path) or groups (fp32 path) are visited in order:
 * <ul>
 *   <li>integer path: {@code i = sum_j w_j * x_j} exactly in int32 over the block, with {@code w_j} the
 *       signed codes of {@link WeightRows#codes}; then {@code acc += (d_w * d_x) * i} for centered codes,
 *       {@code acc += (d_w * d_x) * (i - (z - o) * sum_j x_j)} for an asymmetric zero point {@code z} (with
 *       {@code o} the {@link WeightRows#codeOffset}), and {@code acc += d_x * (d_w * i + m * sum_j x_j)}
 *       for Q4_1;</li>
 *   <li>fp32 path: {@code s = sum_j v_j * x_j} in element order over the group, with {@code v_j} the
 *       code minus its zero point (or its codebook level); then {@code acc += d * s}
 *       (Q4_1: {@code acc += d * sum_j q_j x_j + m * sum_j x_j});</li>
 *   <li>integer path of Q5_0, IQ4_NL (with {@code w_j} the code less 16, or its level) and Q5_1: as Q4_0 and Q4_1;
 *       of the K-quants (Q8_K activations, one {@code d_x} per super-block of 256): per super-block
 *       {@code isum = sum_s sc_s * (sum_{j in s} w_j * x_j)} and {@code msum = sum_s m_s * (sum_{j in s} x_j)} exactly
 *       in int32 over its sub-blocks {@code s}, with {@code sc_s} and {@code m_s} the integer sub-block scale and
 *       minimum ({@link Reference#subScale}, {@link Reference#subMin}) and {@code w_j} the code (less 4 for Q3_K,
 *       32 for Q6_K); then {@code acc += (d_x * d) * isum}, and for Q2_K, Q4_K and Q5_K
 *       {@code acc += (d_x * d) * isum - (d_x * dmin) * msum};</li>
 *   <li>then, in column order, {@code acc += o * x_c} for each outlier {@code o} of the row (the
 *       integer path uses the dequantized activation {@code q_c * d_x}).</li>
 * </ul>
 */
public final class ScalarMatmulKernels implements MatmulKernels {

    public static final ScalarMatmulKernels INSTANCE = new ScalarMatmulKernels();

    private ScalarMatmulKernels() {
    }

    @Override
    public String name() {
        return "scalar";
    }

    /**
     * Whether {@code f} is one of the ggml blocks beyond Q8_0, Q4_0 and Q4_1 whose weights the integer path takes:
     * Q5_0, Q5_1, IQ4_NL and the K-quants Q2_K to Q6_K (not Q8_K, an activation format).
     */
    public static boolean newBlocks(QuantFormat f) {
        return f.isGgml() && !f.kind().plain() && f.kind() != QuantFormat.Kind.Q8_K;
    }

    /** All of {@link #newBlocks}: the reference of their integer path. */
    @Override
    public boolean takesBlocks(QuantFormat f) {
        return newBlocks(f);
    }

    /** All of {@link #newBlocks} and Q8_K: the reference of their weight-only path. */
    @Override
    public boolean takesBlocksF32(QuantFormat f) {
        return newBlocks(f) || f.kind() == QuantFormat.Kind.Q8_K;
    }

    private static final int[] IQ4_NL = QuantFormat.iq4nlLevels();

    /** The integer path of {@link #newBlocks} weights, in the order the class comment gives. */
    private static void gemmBlocks(QuantizedTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y,
                                   int ldy) {
        QuantFormat f = w.format();
        int k = w.cols();
        int pk = x.paddedK();
        byte[] a = x.codes();
        boolean minimum = f.hasMinimum();
        boolean kQuant = f.groupSize() == 256;
        int sub = kQuant ? f.kind().scaleGroup() : 32;
        int[] wc = new int[k];
        for (int r = r0; r < r1; r++) {
            for (int c = 0; c < k; c++) {
                int q = Reference.code(w, r, c);
                wc[c] = f.kind() == QuantFormat.Kind.IQ4_NL ? IQ4_NL[q] : f.centered() ? q - f.center() : q;
            }
            for (int t = t0; t < t1; t++) {
                int xo = t * pk;
                float acc = 0f;
                if (kQuant) {
                    for (int b = 0; b * 256 < k; b++) {
                        int isum = 0;
                        int msum = 0;
                        for (int s = b * 256 / sub; s < (b + 1) * 256 / sub; s++) {
                            int dot = 0;
                            int xsum = 0;
                            for (int j = s * sub; j < (s + 1) * sub; j++) {
                                dot += wc[j] * a[xo + j];
                                xsum += a[xo + j];
                            }
                            isum += Reference.subScale(w, r, s) * dot;
                            if (minimum) {
                                msum += Reference.subMin(w, r, s) * xsum;
                            }
                        }
                        float dx = x.scale(t, b * 8);
                        if (minimum) {
                            acc += (dx * Reference.superScale(w, r, b)) * isum - (dx * Reference.superMin(w, r, b)) * msum;
                        } else {
                            acc += (dx * Reference.superScale(w, r, b)) * isum;
                        }
                    }
                } else {
                    for (int b = 0; b * 32 < k; b++) {
                        int isum = 0;
                        int xsum = 0;
                        for (int j = b * 32; j < b * 32 + 32; j++) {
                            isum += wc[j] * a[xo + j];
                            xsum += a[xo + j];
                        }
                        float dw = Reference.scale(w, r, b);
                        float dx = x.scale(t, b);
                        if (minimum) {
                            acc += dx * (dw * isum + Reference.zero(w, r, b) * xsum);
                        } else {
                            acc += (dw * dx) * isum;
                        }
                    }
                }
                SparseOutliers o = w.outliers();
                if (o != null) {
                    for (int e = o.rowPtr(r); e < o.rowPtr(r + 1); e++) {
                        int c = o.col(e);
                        acc += o.value(e) * (a[xo + c] * x.scale(t, c / 32));
                    }
                }
                y[t * ldy + r] = acc;
            }
        }
    }

    @Override
    public void gemmInt8(QuantizedTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        if (newBlocks(w.format())) {
            gemmBlocks(w, x, r0, r1, t0, t1, y, ldy);
            return;
        }
        QuantFormat f = w.format();
        int k = w.cols();
        int pk = x.paddedK();
        int gl = f.groupLength(k);
        byte[] wc = new byte[pk];
        boolean centered = WeightRows.centered(f);
        boolean q41 = f.hasMinimum();
        int off = WeightRows.codeOffset(f);
        for (int r = r0; r < r1; r++) {
            WeightRows.codes(w, r, wc);
            for (int t = t0; t < t1; t++) {
                int xo = t * pk;
                float acc = 0f;
                for (int b = 0; b * 32 < k; b++) {
                    int g = b * 32 / gl;
                    int isum = 0;
                    int xsum = 0;
                    for (int j = b * 32; j < b * 32 + 32; j++) {
                        isum += wc[j] * x.codes()[xo + j];
                        xsum += x.codes()[xo + j];
                    }
                    float dw = Reference.scale(w, r, g);
                    float dx = x.scale(t, b);
                    if (centered) {
                        acc += (dw * dx) * isum;
                    } else if (q41) {
                        acc += dx * (dw * isum + Reference.zero(w, r, g) * xsum);
                    } else {
                        acc += (dw * dx) * (isum - (Reference.zero(w, r, g) - off) * xsum);
                    }
                }
                SparseOutliers o = w.outliers();
                if (o != null) {
                    for (int e = o.rowPtr(r); e < o.rowPtr(r + 1); e++) {
                        int c = o.col(e);
                        acc += o.value(e) * (x.codes()[xo + c] * x.scale(t, c / 32));
                    }
                }
                y[t * ldy + r] = acc;
            }
        }
    }

    @Override
    public void gemmF32(QuantizedTensor w, float[] x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        QuantFormat f = w.format();
        int k = w.cols();
        int gl = f.scaleGroupLength(k);
        float[] levels = w.levels();
        boolean minimum = f.hasMinimum();
        for (int r = r0; r < r1; r++) {
            for (int t = t0; t < t1; t++) {
                int xo = t * k;
                float acc = 0f;
                for (int g = 0; g * gl < k; g++) {
                    float d = Reference.scale(w, r, g);
                    float z = Reference.zero(w, r, g);
                    int end = Math.min(k, (g + 1) * gl);
                    if (minimum) {
                        float sq = 0f;
                        float sx = 0f;
                        for (int c = g * gl; c < end; c++) {
                            sq += Reference.code(w, r, c) * x[xo + c];
                            sx += x[xo + c];
                        }
                        acc += d * sq + z * sx;
                        continue;
                    }
                    float s = 0f;
                    for (int c = g * gl; c < end; c++) {
                        s += value(f, Reference.code(w, r, c), z, levels) * x[xo + c];
                    }
                    acc += d * s;
                }
                SparseOutliers o = w.outliers();
                if (o != null) {
                    for (int e = o.rowPtr(r); e < o.rowPtr(r + 1); e++) {
                        acc += o.value(e) * x[xo + o.col(e)];
                    }
                }
                y[t * ldy + r] = acc;
            }
        }
    }

    private static final int[] IQ4_NL_LEVELS = QuantFormat.iq4nlLevels();

    /** The multiplier of the scale: code minus zero point, or the codebook level. */
    static float value(QuantFormat f, int code, float zero, float[] levels) {
        return switch (f.kind().codes()) {
            case SIGNED -> code;
            case CENTERED -> code - f.center();
            case ZERO_POINT -> code - zero;
            case LEVELS -> levels[code];
            case FIXED_LEVELS -> IQ4_NL_LEVELS[code];
            case MINIMUM -> throw new IllegalStateException(f + " is handled on its own");
        };
    }
}

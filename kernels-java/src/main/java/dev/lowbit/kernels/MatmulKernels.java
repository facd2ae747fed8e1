package dev.lowbit.kernels;

import dev.lowbit.format.InterleavedTensor;
import dev.lowbit.format.Int8RowTensor;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.impl.Int8RowReference;
import dev.lowbit.kernels.impl.InterleavedRows;

/**
 * Row-level matrix products of one implementation. For weights {@code w} ({@code rows x k}) and
 * {@code n} tokens of {@code k} activations, each computes {@code y[t * ldy + r] = sum_c W[r][c] * x[t][c]}
 * for rows {@code [r0, r1)} and tokens {@code [t0, t1)}. {@link MatmulOps} checks every argument first.
 * The scalar reference ({@link KernelProvider#scalarMatmul()}) fixes the order of every float operation; other
 * implementations reorder sums and stay within the bound that reordering allows.
 */
public interface MatmulKernels {

    String name();

    /**
     * Integer path: int8 (or int4) weight codes times int8 activation codes, summed exactly in int32
     * per block of 32, then scaled in fp32. Weights: Q8_0, Q4_0, Q4_1, or grouped 8- or 4-bit codes with
     * groups of 32, 64, 128 or a row.
     */
    void gemmInt8(QuantizedTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y, int ldy);

    /**
     * Whether {@link #gemmInt8(QuantizedTensor, QuantizedActivations, int, int, int, int, float[], int) gemmInt8}
     * takes weights of format {@code f} among the ggml blocks beyond Q8_0, Q4_0 and Q4_1 (Q5_0, Q5_1, IQ4_NL, the
     * K-quants Q2_K to Q6_K); {@link MatmulOps} gives the scalar reference those it does not take.
     */
    default boolean takesBlocks(QuantFormat f) {
        return false;
    }

    /**
     * Whether {@link #gemmF32(QuantizedTensor, float[], int, int, int, int, float[], int) gemmF32} takes weights of
     * format {@code f} among the ggml blocks beyond Q8_0, Q4_0 and Q4_1 (those of {@link #takesBlocks} and Q8_K);
     * {@link MatmulOps} gives the scalar reference those it does not take.
     */
    default boolean takesBlocksF32(QuantFormat f) {
        return false;
    }

    /** Weight-only path: any format times fp32 activations {@code x[t * k + c]}, dequantized as it goes. */
    void gemmF32(QuantizedTensor w, float[] x, int r0, int r1, int t0, int t1, float[] y, int ldy);

    /**
     * {@link #gemmInt8} for row-interleaved Q8_0 or Q4_0 weights, {@code r0} a multiple of 8: the result of the
     * plain rows. This default unpacks the rows of the call and runs the plain kernel; an implementation with a
     * kernel for the layout (native) overrides it.
     */
    default void gemmInt8(InterleavedTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y,
                          int ldy) {
        InterleavedRows.gemmInt8((p, m, part) -> gemmInt8(p, x, 0, m, t0, t1, part, m), w, x, r0, r1, t0, t1, y,
                ldy);
    }

    /** {@link #gemmF32} for row-interleaved weights, as {@link #gemmInt8(InterleavedTensor, QuantizedActivations,
     * int, int, int, int, float[], int)} does it: the plain rows' result. */
    default void gemmF32(InterleavedTensor w, float[] x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        InterleavedRows.gemmF32((p, m, part) -> gemmF32(p, x, 0, m, t0, t1, part, m), w, x, r0, r1, t0, t1, y,
                ldy);
    }

    /**
     * Integer path for {@code i8_rowx16} weights ({@link Int8RowTensor}) times int8 activations with one scale per
     * token ({@link ActivationFormat#PER_TOKEN_INT8}), {@code r0} a multiple of 16:
     * {@code y[t * ldy + r] = (d_w[r] * d_x[t]) * isum}, with {@code isum} the exact int32 sum of {@code w * x} over
     * the whole row. Every implementation gives these bits; this default is the scalar reference.
     */
    default void gemmInt8(Int8RowTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        Int8RowReference.int8Rows(w, x, r0, r1, t0, t1, y, ldy);
    }
}

package dev.lowbit.kernels;

import dev.lowbit.format.QuantizedTensor;

/**
 * Row-level matrix products of one implementation. For weights {@code w} ({@code rows x k}) and
 * {@code n} tokens of {@code k} activations, each computes {@code y[t * ldy + r] = sum_c W[r][c] * x[t][c]}
 * for rows {@code [r0, r1)} and tokens {@code [t0, t1)}. {@link MatmulOps} checks every argument first.
 * The scalar reference ({@link ScalarMatmulKernels}) fixes the order of every float operation; other
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

    /** Weight-only path: any format times fp32 activations {@code x[t * k + c]}, dequantized as it goes. */
    void gemmF32(QuantizedTensor w, float[] x, int r0, int r1, int t0, int t1, float[] y, int ldy);
}

package dev.lowbit.kernels.impl;

import dev.lowbit.format.Int8RowTensor;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.QuantizedActivations;

/** The scalar reference of {@code i8_rowx16} weights, which every matmul implementation matches bit for bit. */
public final class Int8RowReference {
    private Int8RowReference() {
    }

    /**
     * The reference of {@code i8_rowx16} weights ({@code MatmulKernels.gemmInt8} of an {@code Int8RowTensor}): per row and token the exact int32 sum over all columns, then
     * {@code (d_w * d_x) * isum} in fp32.
     */
    public static void int8Rows(Int8RowTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        requirePerToken(x);
        int k = w.cols();
        int pk = x.paddedK();
        byte[] xc = x.codes();
        byte[] wc = new byte[k];
        for (int r = r0; r < r1; r++) {
            for (int c = 0; c < k; c++) {
                wc[c] = (byte) w.code(r, c);
            }
            float dw = w.scale(r);
            for (int t = t0; t < t1; t++) {
                int isum = 0;
                for (int c = 0, xo = t * pk; c < k; c++) {
                    isum += wc[c] * xc[xo + c];
                }
                y[t * ldy + r] = (dw * x.scale(t, 0)) * isum;
            }
        }
    }

    /** {@code i8_rowx16} takes one activation scale per token. */
    public static void requirePerToken(QuantizedActivations x) {
        if (x.format() != ActivationFormat.PER_TOKEN_INT8) {
            throw new IllegalArgumentException(Int8RowTensor.LAYOUT_NAME + " weights take activations quantized per "
                    + "token (one scale per token), not " + x.format());
        }
    }
}

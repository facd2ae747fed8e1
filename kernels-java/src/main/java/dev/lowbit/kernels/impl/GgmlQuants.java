package dev.lowbit.kernels.impl;

import dev.lowbit.format.QuantFormat;

/**
 * The scalar reference quantizers of the ggml blocks beyond Q8_0, Q4_0 and Q4_1: Q5_0, Q5_1, IQ4_NL, the K-quants
 * Q2_K to Q6_K and Q8_K, each writing the bytes ggml's {@code ggml_quantize_chunk} writes without an importance
 * matrix.
 */
public final class GgmlQuants {
    private GgmlQuants() {
    }

    /**
     * Quantizes {@code src[off, off + cols)} ({@code cols} a multiple of the block length) into {@code out}.
     *
     * @return false when the row holds a NaN or an infinity
     */
    public static boolean quantizeRow(QuantFormat.Kind kind, float[] src, int off, int cols, byte[] out) {
        throw new UnsupportedOperationException(kind + " quantization is not written yet");
    }
}

package dev.lowbit.kernels;

/** How fp32 activations are quantized for the integer matmuls. */
public enum ActivationFormat {
    /** ggml Q8_0: one fp16 scale per block of 32 values (round to nearest, ties to even). */
    Q8_0,
    /** One fp32 scale per token ({@code absmax / 127}), int8 codes. */
    PER_TOKEN_INT8,
    /**
     * ggml Q8_K, the activations of the K-quant weights (Q2_K to Q6_K): one fp32 scale per super-block of 256 values,
     * {@code d = −max/128} from the value {@code max} of largest magnitude, codes rounded to nearest (ties to even)
     * and capped at 127, as ggml's {@code quantize_row_q8_K_ref}. Rows must be whole super-blocks.
     */
    Q8_K
}

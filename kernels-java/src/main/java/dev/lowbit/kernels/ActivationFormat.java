package dev.lowbit.kernels;

/** How fp32 activations are quantized for the integer matmuls. */
public enum ActivationFormat {
    /** ggml Q8_0: one fp16 scale per block of 32 values (round to nearest, ties to even). */
    Q8_0,
    /** One fp32 scale per token ({@code absmax / 127}), int8 codes. */
    PER_TOKEN_INT8
}

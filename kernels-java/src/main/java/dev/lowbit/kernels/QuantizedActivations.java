package dev.lowbit.kernels;

/**
 * {@code n} tokens of {@code k} activations quantized to int8: token {@code t}'s codes are
 * {@code codes[t * paddedK, t * paddedK + k)}, padded with zeros to {@code paddedK}, a multiple of 32;
 * its scales are {@code scales[t * scalesPerToken ...]}: one per block of 32 ({@link ActivationFormat#Q8_0},
 * fp16 values), one per super-block of 256 ({@link ActivationFormat#Q8_K}, {@code k} a multiple of 256) or one per
 * token ({@link ActivationFormat#PER_TOKEN_INT8}). The value of code {@code q} in block {@code b} is
 * {@code q * scale}.
 */
public record QuantizedActivations(ActivationFormat format, int n, int k, byte[] codes, float[] scales) {

    public QuantizedActivations {
        if (n < 0 || k < 0) {
            throw new IllegalArgumentException("shape must be non-negative, got n=" + n + ", k=" + k);
        }
        if (format == ActivationFormat.Q8_K && k % 256 != 0) {
            throw new IllegalArgumentException("Q8_K activations hold whole super-blocks of 256, got k=" + k);
        }
        if (codes.length != (long) n * paddedK(k) || scales.length != (long) n * scalesPerToken(format, k)) {
            throw new IllegalArgumentException("codes or scales have the wrong length for " + n + " tokens of " + k);
        }
    }

    /** {@code k} rounded up to a multiple of 32. */
    public static int paddedK(int k) {
        return (k + 31) & ~31;
    }

    static int scalesPerToken(ActivationFormat f, int k) {
        return switch (f) {
            case Q8_0 -> paddedK(k) / 32;
            case Q8_K -> k / 256;
            case PER_TOKEN_INT8 -> 1;
        };
    }

    public int paddedK() {
        return paddedK(k);
    }

    public int scalesPerToken() {
        return scalesPerToken(format, k);
    }

    /** The scale of block {@code b} (0-based, 32 values each) of token {@code t}. */
    public float scale(int t, int b) {
        return switch (format) {
            case Q8_0 -> scales[t * scalesPerToken() + b];
            case Q8_K -> scales[t * scalesPerToken() + b / 8];
            case PER_TOKEN_INT8 -> scales[t];
        };
    }
}

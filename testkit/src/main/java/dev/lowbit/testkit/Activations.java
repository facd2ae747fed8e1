package dev.lowbit.testkit;

/**
 * Quantized activations as the kit sees them: {@code n} tokens of {@code k} int8 codes, each token padded with zeros
 * to {@link #paddedK()} (a multiple of 32), with one scale per block of 32 ({@code perToken} false, ggml's Q8_0) or
 * one per token. The value of code {@code q} in block {@code b} of token {@code t} is {@code q * scale(t, b)}.
 */
public record Activations(boolean perToken, int n, int k, byte[] codes, float[] scales) {

    /** {@code k} rounded up to a multiple of 32. */
    public static int paddedK(int k) {
        return (k + 31) & ~31;
    }

    public int paddedK() {
        return paddedK(k);
    }

    public int scalesPerToken() {
        return perToken ? 1 : paddedK() / 32;
    }

    /** The scale of block {@code b} (32 values each) of token {@code t}. */
    public float scale(int t, int b) {
        return perToken ? scales[t] : scales[t * scalesPerToken() + b];
    }

    /** The two kinds of activation quantization: per block of 32, or per token. */
    public enum Kind {
        Q8_0,
        PER_TOKEN_INT8;

        public boolean perToken() {
            return this == PER_TOKEN_INT8;
        }
    }

    /** Quantizes {@code n} tokens of {@code k} fp32 activations: an implementation's rule, or the reference's. */
    @FunctionalInterface
    public interface Quantizer {
        Activations quantize(float[] x, int n, int k, Kind kind);
    }
}

package dev.lowbit.algorithms;

import dev.lowbit.format.QuantizedTensor;

/**
 * What a method produced and what it cost.
 *
 * @param method        the quantizer's name
 * @param tensor        the quantized tensor (outliers included, when the method keeps any)
 * @param squaredError  {@code ||W - What||^2}, summed in double row by row, What as the tensor (and exponents) decode
 * @param energy        {@code ||W||^2}, summed the same way
 * @param rowError      the squared error of each row
 * @param outliers      entries kept in full precision in the tensor's sparse outliers
 * @param exponents     NUPES's power exponents: one per tensor or one per row; null for other methods.
 *                      When {@link #exponentsInTensor} is false the tensor's codes mean nothing without them
 * @param exponentsInTensor whether the tensor decodes to What by itself (a codebook holds the exponent)
 * @param ranges        the range each group ended with (clip magnitude or max-min span), row-major
 *                      {@code rows x groupsPerRow}; null where a method keeps none
 * @param rowInitialError EasyQuant: the squared error of each row at its initial range; else null
 */
public record QuantResult(String method, QuantizedTensor tensor, double squaredError, double energy, double[] rowError,
                          long outliers, float[] exponents, boolean exponentsInTensor, float[] ranges,
                          double[] rowInitialError) {

    /** {@code ||W - What||^2 / ||W||^2}; 0 for an all-zero matrix quantized exactly. */
    public double relativeError() {
        return energy == 0 ? (squaredError == 0 ? 0 : Double.POSITIVE_INFINITY) : squaredError / energy;
    }

    /** Signal to quantization-noise ratio in dB, {@code 10 log10(||W||^2 / ||W - What||^2)}. */
    public double sqnrDb() {
        return 10 * Math.log10(energy / squaredError);
    }

    /** Outliers over all elements. */
    public double outlierFraction() {
        long n = tensor.elements();
        return n == 0 ? 0 : (double) outliers / n;
    }

    @Override
    public String toString() {
        return String.format(java.util.Locale.ROOT, "%s %s: rel.err %.4e, SQNR %.2f dB, outliers %.4f%%",
                method, tensor.format(), relativeError(), sqnrDb(), 100 * outlierFraction());
    }
}

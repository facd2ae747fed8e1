package dev.lowbit.kernels;

/**
 * The kernels the methods add to lowbit's quantize kernels: the signed power map of NUPES, the
 * error of many candidate scales per group (MSE clipping, and any range grid), and EasyQuant's range
 * gradient. {@link KernelProvider#scalarMethods()} is the reference, written for clarity in double precision; the
 * Vector API implementation ({@link KernelProvider#vectorMethods()}) is tested against it:
 * <ul>
 *   <li>{@link #signedPower}: within {@link #POWER_ULPS} float ulps of {@code (float) Math.pow(|x|, a)}
 *       with the sign of {@code x} (the scalar reference is that value exactly);</li>
 *   <li>{@link #candidateErrors} and {@link #rangeGradient}: the same per-element arithmetic in float,
 *       summed in float lanes instead of one double, so within a relative {@code 1e-4} of the reference
 *       for groups of up to a few thousand elements.</li>
 * </ul>
 */
public interface MethodKernels {

    /** The bound of the vector power map against {@code Math.pow}, in float ulps of the result. */
    int POWER_ULPS = 2;

    String name();

    /** {@code dst[dOff + i] = sign(x)·|x|^a} for {@code x = src[sOff + i]}, {@code i < n}; any finite {@code a}
     * (HQQ's shrink takes a negative one), with {@code pow}'s rules for 0 and infinities. */
    void signedPower(float[] src, int sOff, float[] dst, int dOff, int n, float a);

    /** The inverse of {@link #signedPower} with exponent {@code a}: the signed power {@code 1/a}. */
    default void inversePower(float[] src, int sOff, float[] dst, int dOff, int n, float a) {
        signedPower(src, sOff, dst, dOff, n, 1f / a);
    }

    /**
     * The reconstruction error of {@code k} candidate grids for one group {@code x[off, off + len)}, in
     * one pass over memory (the group stays in L1 while every candidate is scored). Candidate {@code c}
     * quantizes {@code x} as {@code q = clamp(rint(x / d[c] + z[c]), lo, hi)} and reconstructs
     * {@code (q - z[c])·d[c]}; a candidate with {@code d[c] = 0} reconstructs 0. Writes
     * {@code out[c] = Σ |x̂ - x|^p}.
     *
     * @param p the error norm's exponent, {@code p > 0} (2 for squared error, 2.4 for GPTQ's grid)
     */
    void candidateErrors(float[] x, int off, int len, float[] d, float[] z, int k, int lo, int hi, float p,
                         double[] out);

    /**
     * EasyQuant's loss and range gradient for one group, in one pass: with the clip range
     * {@code s = n·delta}, {@code q = clamp(rint(x / delta), -n, n)}, {@code Q = q·delta},
     * {@code out[0] = Σ (Q - x)^2} and {@code out[1] = ∂/∂s = Σ 2(Q - x)·g}, where the straight-through
     * {@code g} is {@code (rint(x/delta) - x/delta)/n} inside the range and {@code sign(x)} for a clipped
     * element. {@code delta > 0}.
     */
    void rangeGradient(float[] x, int off, int len, float delta, int n, double[] out);
}

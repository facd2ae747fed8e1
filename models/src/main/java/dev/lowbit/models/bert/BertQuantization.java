package dev.lowbit.models.bert;

import dev.lowbit.algorithms.MethodRegistry;
import dev.lowbit.algorithms.Quantizers;
import dev.lowbit.kernels.ActivationFormat;

/**
 * How the quantized forward pass is built: the weight method of {@code algorithms} and its bits and group size,
 * how activations are quantized, and whether the non-linear ops run in integers too.
 *
 * @param method      a {@link MethodRegistry} name: one of {@link Quantizers#NAMES} whose tensors have an integer kernel: {@code rtn},
 *                    {@code mse}, {@code hqq}, {@code easyquant}; or {@code rtn-sym}, round to nearest with
 *                    symmetric groups ({@code Rtn} with {@code symmetric = true}), whose 8- and 4-bit groups of 32
 *                    are Q8_0 and Q4_0 blocks and run on the row-interleaved kernels; or {@code gptq},
 *                    {@link dev.lowbit.algorithms.Gptq} with Hessians from calibration text ({@link GptqCalibration})
 * @param bits        8 (W8A8) or 4 (W4A8)
 * @param groupSize   32, 64, 128 or 0 (a whole row)
 * @param activations {@link ActivationFormat#PER_TOKEN_INT8} (one scale per token, the default) or
 *                    {@link ActivationFormat#Q8_0}
 * @param integerOnly GELU, softmax and LayerNorm in integer arithmetic, I-BERT style, instead of fp32
 */
public record BertQuantization(String method, int bits, int groupSize, ActivationFormat activations,
                               boolean integerOnly) {

    public BertQuantization {
        if (method == null || MethodRegistry.find(method).map(m -> m.kind() == MethodRegistry.Kind.GGML).orElse(true)) {
            throw new IllegalArgumentException("method must be one of " + Quantizers.NAMES + ", " + RTN_SYM + " or "
                    + GPTQ + ", got '" + method + "'");
        }
        if (bits != 8 && bits != 4) {
            throw new IllegalArgumentException("bits must be 8 (W8A8) or 4 (W4A8), got " + bits);
        }
        if (groupSize != 0 && groupSize != 32 && groupSize != 64 && groupSize != 128) {
            throw new IllegalArgumentException("groupSize must be 32, 64, 128 or 0 (whole row), got " + groupSize);
        }
        if (activations == null) {
            throw new IllegalArgumentException("activations must not be null");
        }
    }

    /** Round to nearest with symmetric groups. */
    public static final String RTN_SYM = "rtn-sym";

    /** GPTQ on Hessians of calibration text ({@link GptqCalibration}); not a data-free {@code Quantizer}. */
    public static final String GPTQ = "gptq";

    /** Per-token int8 activations, fp32 non-linear ops. */
    public BertQuantization(String method, int bits, int groupSize) {
        this(method, bits, groupSize, ActivationFormat.PER_TOKEN_INT8, false);
    }

    @Override
    public String toString() {
        return method + " W" + bits + "A8 " + (groupSize == 0 ? "per-row" : "g" + groupSize)
                + (activations == ActivationFormat.Q8_0 ? " (q8_0 activations)" : "") + (integerOnly ? " integer-only" : "");
    }
}

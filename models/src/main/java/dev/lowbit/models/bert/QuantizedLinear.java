package dev.lowbit.models.bert;

import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.MatmulOps;
import dev.lowbit.kernels.PackedWeights;
import dev.lowbit.kernels.QuantizedActivations;

/**
 * A linear layer on lowbit's integer path: weights as rows {@code [out, in]} in a quantized format, in the layout of
 * the kernels that run ({@link PackedWeights#pack}), activations quantized to int8 at each call, int32 sums, and the
 * fp32 bias added after.
 */
final class QuantizedLinear implements Linear {
    private final PackedWeights weights;
    private final float[] bias;
    private final MatmulOps ops;
    private final ActivationFormat activations;

    QuantizedLinear(PackedWeights weights, float[] bias, MatmulOps ops, ActivationFormat activations) {
        this.weights = weights;
        this.bias = bias;
        this.ops = ops;
        this.activations = activations;
    }

    @Override
    public int in() {
        return weights.cols();
    }

    @Override
    public int out() {
        return weights.rows();
    }

    @Override
    public void apply(float[] x, int n, float[] y) {
        apply(ops.quantizeActivations(x, n, in(), activations), y);
    }

    /** The product with activations already quantized (the integer-only mode quantizes them itself). */
    void apply(QuantizedActivations x, float[] y) {
        ops.gemm(weights, x, y);
        int out = out();
        for (int t = 0, o = 0; t < x.n(); t++, o += out) {
            for (int j = 0; j < out; j++) {
                y[o + j] += bias[j];
            }
        }
    }

    PackedWeights weights() {
        return weights;
    }

    @Override
    public String describe() {
        return weights.layoutName() + " x int8 " + (activations == ActivationFormat.Q8_0 ? "q8_0" : "per-token") + ", "
                + ops.kernels().name();
    }
}

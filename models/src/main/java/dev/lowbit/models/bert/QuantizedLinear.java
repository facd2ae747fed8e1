package dev.lowbit.models.bert;

import dev.lowbit.format.InterleavedTensor;
import dev.lowbit.format.Int8RowTensor;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.MatmulOps;
import dev.lowbit.kernels.QuantizedActivations;

/**
 * A linear layer on lowbit's integer path: weights as rows {@code [out, in]} in a quantized format (row-interleaved
 * when Q8_0 or Q4_0; {@link Int8RowTensor} when int8 with one scale per row), activations quantized to int8 at each
 * call, int32 sums, and the fp32 bias added after.
 */
final class QuantizedLinear implements Linear {
    private final QuantizedTensor plain;
    private final InterleavedTensor interleaved;
    private final Int8RowTensor rowScaled;
    private final float[] bias;
    private final MatmulOps ops;
    private final ActivationFormat activations;

    QuantizedLinear(QuantizedTensor plain, InterleavedTensor interleaved, float[] bias, MatmulOps ops,
                    ActivationFormat activations) {
        this(plain, interleaved, null, bias, ops, activations);
    }

    QuantizedLinear(QuantizedTensor plain, Int8RowTensor rowScaled, float[] bias, MatmulOps ops,
                    ActivationFormat activations) {
        this(plain, null, rowScaled, bias, ops, activations);
    }

    private QuantizedLinear(QuantizedTensor plain, InterleavedTensor interleaved, Int8RowTensor rowScaled, float[] bias,
                            MatmulOps ops, ActivationFormat activations) {
        this.plain = plain;
        this.interleaved = interleaved;
        this.rowScaled = rowScaled;
        this.bias = bias;
        this.ops = ops;
        this.activations = activations;
    }

    @Override
    public int in() {
        return plain.cols();
    }

    @Override
    public int out() {
        return plain.rows();
    }

    @Override
    public void apply(float[] x, int n, float[] y) {
        apply(ops.quantizeActivations(x, n, in(), activations), y);
    }

    /** The product with activations already quantized (the integer-only mode quantizes them itself). */
    void apply(QuantizedActivations x, float[] y) {
        if (rowScaled != null) {
            ops.gemm(rowScaled, x, y);
        } else if (interleaved != null) {
            ops.gemm(interleaved, x, y);
        } else {
            ops.gemm(plain, x, y);
        }
        int out = out();
        for (int t = 0, o = 0; t < x.n(); t++, o += out) {
            for (int j = 0; j < out; j++) {
                y[o + j] += bias[j];
            }
        }
    }

    QuantizedTensor weights() {
        return plain;
    }

    @Override
    public String describe() {
        String w = rowScaled != null ? Int8RowTensor.LAYOUT_NAME
                : interleaved != null ? interleaved.layout().layoutName() : plain.format().name();
        return w + " x int8 " + (activations == ActivationFormat.Q8_0 ? "q8_0" : "per-token") + ", "
                + ops.kernels().name();
    }
}

package dev.lowbit.algorithms;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.ThreadPool;

import java.lang.foreign.Arena;

/**
 * Round-to-nearest into one of ggml's block formats (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K to Q6_K), the
 * quantized types a GGUF file holds, by ggml's own rules ({@code q8_0}, {@code q4_0}, ... {@code q6_k} in
 * {@link MethodRegistry}); the error is measured by decoding the blocks with lowbit's kernels.
 */
public final class GgmlRtn implements Quantizer {
    private final QuantFormat format;
    private final QuantOps ops;

    /**
     * @param format   a ggml block format
     * @param pool where rows run; null for {@link ThreadPool#common()}
     */
    public GgmlRtn(QuantFormat format, ThreadPool pool) {
        if (!format.isGgml()) {
            throw new IllegalArgumentException(format + " is not a ggml block format");
        }
        this.format = format;
        this.ops = QuantOps.get().withPool(pool);
    }

    @Override
    public String name() {
        return format.name();
    }

    @Override
    public QuantResult quantize(float[] w, int rows, int cols, Arena arena) {
        QuantizedTensor t = ops.quantize(format, w, rows, cols, arena);
        float[] back = new float[w.length];
        ops.dequantize(t, back);
        double[] rowError = new double[rows];
        double err = 0;
        double energy = 0;
        for (int r = 0; r < rows; r++) {
            double e = 0;
            for (int i = r * cols; i < (r + 1) * cols; i++) {
                double d = (double) w[i] - back[i];
                e += d * d;
                energy += (double) w[i] * w[i];
            }
            rowError[r] = e;
            err += e;
        }
        return new QuantResult(name(), t, err, energy, rowError, 0, null, false, null, null);
    }
}

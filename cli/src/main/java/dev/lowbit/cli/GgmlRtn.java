package dev.lowbit.cli;

import dev.lowbit.algorithms.QuantResult;
import dev.lowbit.algorithms.Quantizer;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.QuantOps;

import java.lang.foreign.Arena;
import java.util.concurrent.Executor;

/**
 * Round-to-nearest into one of ggml's block formats (Q8_0, Q4_0, Q4_1), the only quantized types a GGUF
 * file holds; the error is measured by decoding the blocks with lowbit's kernels.
 */
final class GgmlRtn implements Quantizer {
    private final QuantFormat format;
    private final QuantOps ops;

    GgmlRtn(QuantFormat format, Executor executor) {
        if (!format.isGgml()) {
            throw new IllegalArgumentException(format + " is not a ggml block format");
        }
        this.format = format;
        this.ops = QuantOps.get().withExecutor(executor);
    }

    /**
     * The ggml format for {@code method} at {@code bits} and {@code group}, or a {@link UsageException}
     * saying what GGUF can hold.
     */
    static QuantFormat formatFor(String method, int bits, int group) {
        boolean rtn = method.equals("rtn") || method.equals("rtn-sym");
        if (!rtn || (bits != 4 && bits != 8) || group != QuantFormat.GGML_BLOCK) {
            throw new UsageException("a .gguf file holds ggml's Q8_0, Q4_0 and Q4_1 blocks, which are round-to-nearest "
                    + "in groups of 32: use --method rtn (Q4_1, Q8_0) or rtn-sym (Q4_0, Q8_0) with --bits 4 or 8 and "
                    + "--group 32, or write a .safetensors file (got --method " + method + " --bits " + bits + " --group "
                    + Options.groupName(group) + ")");
        }
        if (bits == 8) {
            return QuantFormat.Q8_0;
        }
        return method.equals("rtn") ? QuantFormat.Q4_1 : QuantFormat.Q4_0;
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

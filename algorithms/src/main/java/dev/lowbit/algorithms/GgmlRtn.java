package dev.lowbit.algorithms;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.ThreadPool;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

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

    /** About how many elements {@link #quantize(Rows, int, int, Arena)} holds in fp32 at a time. */
    public static final int BAND_ELEMENTS = 1 << 22;

    /** A matrix's rows, handed over a band at a time. */
    public interface Rows {
        /** Fills {@code dst[0 .. n * cols)} with rows {@code row .. row + n - 1}. */
        void read(int row, int n, float[] dst);
    }

    /**
     * {@link #quantize(float[], int, int, Arena)} of a matrix read a band of rows at a time (ggml's blocks never
     * span rows), so that no more than about {@link #BAND_ELEMENTS} of it are in fp32 at once: the same blocks
     * and the same error sums, row by row in the same order.
     */
    public QuantResult quantize(Rows src, int rows, int cols, Arena arena) {
        long rowBytes = format.rowBytes(cols);
        int band = Math.max(1, Math.min(rows, BAND_ELEMENTS / Math.max(cols, 1)));
        MemorySegment data = arena.allocate(rowBytes * rows, 8);
        float[] w = new float[band * cols];
        float[] back = new float[band * cols];
        double[] rowError = new double[rows];
        double err = 0;
        double energy = 0;
        for (int r0 = 0; r0 < rows; r0 += band) {
            int n = Math.min(band, rows - r0);
            float[] x = n == band ? w : new float[n * cols];
            float[] y = n == band ? back : new float[n * cols];
            src.read(r0, n, x);
            try (Arena each = Arena.ofConfined()) {
                QuantizedTensor t = ops.quantize(format, x, n, cols, each);
                MemorySegment.copy(t.data(), 0, data, r0 * rowBytes, n * rowBytes);
                ops.dequantize(t, y);
            }
            for (int r = 0; r < n; r++) {
                double e = 0;
                for (int i = r * cols; i < (r + 1) * cols; i++) {
                    double d = (double) x[i] - y[i];
                    e += d * d;
                    energy += (double) x[i] * x[i];
                }
                rowError[r0 + r] = e;
                err += e;
            }
        }
        QuantizedTensor t = QuantizedTensor.of(format, rows, cols, data, null, null, null);
        return new QuantResult(name(), t, err, energy, rowError, 0, null, false, null, null);
    }
}

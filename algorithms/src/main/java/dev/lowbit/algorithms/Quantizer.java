package dev.lowbit.algorithms;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A data-free quantization method: turns an fp32 matrix ({@code rows x cols}, row-major) into a
 * {@link dev.lowbit.format.QuantizedTensor} in one of lowbit's formats and reports what it did.
 * Rows are independent; implementations split them over their executor, and the result does not
 * depend on the number of threads. The input is never modified.
 */
public interface Quantizer {

    /** A short stable name: {@code rtn}, {@code mse}, {@code hqq}, {@code easyquant}, {@code nupes}, {@code nf4}. */
    String name();

    /** Quantizes {@code w} into planes allocated in {@code arena}. */
    QuantResult quantize(float[] w, int rows, int cols, Arena arena);

    /** Quantizes fp32 values (native byte order) from a segment of exactly {@code rows*cols*4} bytes. */
    default QuantResult quantize(MemorySegment w, int rows, int cols, Arena arena) {
        if (w == null) {
            throw new IllegalArgumentException("w must not be null");
        }
        Rows.checkShape(rows, cols, w.byteSize() / 4, "w");
        if (w.byteSize() != (long) rows * cols * 4) {
            throw new IllegalArgumentException("w is " + w.byteSize() + " bytes, not rows*cols*4 = " + (long) rows * cols * 4);
        }
        float[] copy = new float[Math.toIntExact((long) rows * cols)];
        MemorySegment.copy(w, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, copy, 0, copy.length);
        return quantize(copy, rows, cols, arena);
    }
}

package dev.lowbit.algorithms;

import dev.lowbit.kernels.NonFinitePolicy;
import dev.lowbit.kernels.QuantOps;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A data-free quantization method: turns an fp32 matrix ({@code rows x cols}, row-major) into a
 * {@link dev.lowbit.format.QuantizedTensor} in one of lowbit's formats and reports what it did.
 * Rows are independent; implementations split them over their pool, and the result does not
 * depend on the number of threads. The input is never modified.
 */
public interface Quantizer {

    /** A short stable name: {@code rtn}, {@code mse}, {@code hqq}, {@code easyquant}, {@code nupes}, {@code nf4}. */
    String name();

    /**
     * Quantizes {@code w} into planes allocated in {@code arena}.
     *
     * @throws IllegalArgumentException before any work for a shape that does not match or a NaN or infinity (naming
     *                                  its index, row and column); for a group whose scale the scale type cannot
     *                                  hold (naming the row, the group, the weight and the remedy)
     */
    QuantResult quantize(float[] w, int rows, int cols, Arena arena);

    /**
     * Quantizes {@code w} with NaN and infinities handled by {@code policy}: {@link NonFinitePolicy#REJECT} is
     * {@link #quantize(float[], int, int, Arena)}; {@link NonFinitePolicy#CLAMP} quantizes a copy whose rows are
     * clamped as {@link QuantOps#clampNonFinite} clamps them (NaN to 0, an infinity to the row's largest finite
     * magnitude with its sign), as lowbit's quantizer does, and measures the result's error against that copy.
     */
    default QuantResult quantize(float[] w, int rows, int cols, Arena arena, NonFinitePolicy policy) {
        return quantize(Rows.applyPolicy(w, rows, cols, policy), rows, cols, arena);
    }

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

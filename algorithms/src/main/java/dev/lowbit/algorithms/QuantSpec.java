package dev.lowbit.algorithms;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.ScaleType;

/**
 * What every method shares: the code width, the group size (32, 64, 128 or {@link QuantFormat#ROW})
 * and how scales and zero points are stored. Methods that compare against each other should use the
 * same spec ("equal grouping").
 */
public record QuantSpec(int bits, int groupSize, ScaleType scaleType) {

    public QuantSpec {
        if (bits != 2 && bits != 3 && bits != 4 && bits != 8) {
            throw new IllegalArgumentException("bits must be 2, 3, 4 or 8, got " + bits);
        }
        if (groupSize != 32 && groupSize != 64 && groupSize != 128 && groupSize != QuantFormat.ROW) {
            throw new IllegalArgumentException("groupSize must be 32, 64, 128 or ROW (0), got " + groupSize);
        }
        if (scaleType == null) {
            throw new IllegalArgumentException("scaleType must not be null");
        }
    }

    /** The grouped integer format of this spec. */
    public QuantFormat grouped(boolean symmetric) {
        return QuantFormat.grouped(bits, groupSize, symmetric, scaleType);
    }

    /** The 4-bit codebook format of this spec (bits must be 4). */
    public QuantFormat codebook() {
        if (bits != 4) {
            throw new IllegalArgumentException("a 4-bit codebook needs bits = 4, got " + bits);
        }
        return QuantFormat.codebook4(groupSize, scaleType);
    }
}

package dev.lowbit.kernels.impl;

import jdk.incubator.vector.FloatVector;

/**
 * The one width every Vector API kernel runs at. Species must be compile-time constants for C2 to turn Vector API
 * calls into instructions, so the width is fixed once per JVM: the preferred width, capped by
 * {@code -Dlowbit.vector.maxBits}. Every kernel derives its {@code static final} species from {@link #BITS}.
 */
final class VectorWidth {
    /** The narrowest width the kernels run at. */
    static final int MIN_BITS = 256;

    /** The width of this JVM: the preferred width capped by {@code -Dlowbit.vector.maxBits}. */
    static final int BITS = VectorSupport.width(FloatVector.SPECIES_PREFERRED.vectorBitSize(),
            Integer.getInteger("lowbit.vector.maxBits", 512));

    private VectorWidth() {
    }
}

package dev.lowbit.kernels.impl;

import dev.lowbit.kernels.Fp32Kernels;
import dev.lowbit.kernels.MatmulKernels;
import dev.lowbit.kernels.MethodKernels;
import dev.lowbit.kernels.QuantKernels;

/** The only class that names the Vector API kernels before the Vector API is known to be present. */
public final class VectorSupport {
    private VectorSupport() {
    }

    /** Why the Vector API cannot run, or null when it can. */
    public static String unavailable() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return "jdk.incubator.vector is not loaded; run with --add-modules jdk.incubator.vector";
        }
        try {
            return tooNarrow(VectorWidth.BITS);
        } catch (LinkageError e) {
            return "the Vector API failed to load: " + e;
        }
    }

    /** The width of the Vector API kernels for a preferred width and the cap {@code -Dlowbit.vector.maxBits}. */
    public static int width(int preferredBits, int maxBits) {
        return Math.min(preferredBits, maxBits);
    }

    /** Why vectors of {@code bits} are too narrow for the kernels, or null when they are wide enough. */
    public static String tooNarrow(int bits) {
        if (bits < VectorWidth.MIN_BITS) {
            return "vectors of " + bits + " bits (preferred width, capped by lowbit.vector.maxBits); the kernels need "
                    + VectorWidth.MIN_BITS;
        }
        return null;
    }

    /** The width the Vector API kernels run at: the preferred width capped by lowbit.vector.maxBits. */
    public static int bits() {
        return VectorWidth.BITS;
    }

    public static QuantKernels quant() {
        return VectorQuantKernels.INSTANCE;
    }

    public static MatmulKernels matmul() {
        return VectorMatmulKernels.INSTANCE;
    }

    public static Fp32Kernels fp32() {
        return VectorFp32Kernels.INSTANCE;
    }

    public static MethodKernels methods() {
        return VectorMethodKernels.INSTANCE;
    }
}

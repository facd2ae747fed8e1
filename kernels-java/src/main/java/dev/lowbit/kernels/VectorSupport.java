package dev.lowbit.kernels;

/** The only class that names the Vector API before it is known to be present. */
final class VectorSupport {
    private VectorSupport() {
    }

    /** The width the Vector API kernels run at: the preferred width capped by lowbit.vector.maxBits. */
    static int bits() {
        return VectorQuantKernels.BITS;
    }

    static QuantKernels create() {
        return VectorQuantKernels.INSTANCE;
    }

    static MatmulKernels matmul() {
        return VectorMatmulKernels.INSTANCE;
    }
}

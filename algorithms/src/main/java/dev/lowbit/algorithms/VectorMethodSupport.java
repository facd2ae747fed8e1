package dev.lowbit.algorithms;

/** The only class that names the Vector API kernels before the Vector API is known to be present. */
final class VectorMethodSupport {
    private VectorMethodSupport() {
    }

    static MethodKernels create() {
        return VectorMethodKernels.INSTANCE;
    }
}

/** The papers' data-free quantization methods, each a {@link dev.lowbit.algorithms.Quantizer}. */
module dev.lowbit.algorithms {
    requires transitive dev.lowbit.kernels;
    requires static jdk.incubator.vector;

    exports dev.lowbit.algorithms;
}

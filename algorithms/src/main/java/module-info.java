/** The papers' data-free quantization methods, each a {@link dev.lowbit.algorithms.Quantizer}. */
module dev.lowbit.algorithms {
    requires transitive dev.lowbit.kernels;

    exports dev.lowbit.algorithms;
}

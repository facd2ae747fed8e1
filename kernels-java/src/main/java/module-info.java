/** The kernel API with its scalar reference and Vector API implementations. */
module dev.lowbit.kernels {
    requires transitive dev.lowbit.format;
    requires dev.lowbit.bindings;
    requires static jdk.incubator.vector;
    requires java.logging;

    exports dev.lowbit.kernels;
}

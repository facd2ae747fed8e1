/** Every downcall into native code: lowbit's C kernels and the GPU runtimes. The one module granted native access. */
module dev.lowbit.bindings {
    requires transitive dev.lowbit.format;

    // Native kernels and test memory: for the kernel implementations only, not a public API.
    exports dev.lowbit.bindings.nativelib to dev.lowbit.kernels;
    // GPU runtimes bound through FFM: for the GPU kernels and their tests.
    exports dev.lowbit.bindings.cuda to dev.lowbit.kernels.gpu;
    exports dev.lowbit.bindings.opencl to dev.lowbit.kernels.gpu;
}

/** Quantized formats as memory layouts, the lowbit file container, and every downcall into native code. */
module dev.lowbit.bindings {
    exports dev.lowbit.format;
    exports dev.lowbit.io;
    // The container's plane rules and atomic writes, shared with the models module's safetensors files.
    exports dev.lowbit.io.internal to dev.lowbit.models;
    // Native kernels and test memory: for the kernel implementations only, not a public API.
    exports dev.lowbit.nativelib to dev.lowbit.kernels;
    // GPU runtimes bound through FFM: for the GPU kernels and their tests.
    exports dev.lowbit.gpu.cuda to dev.lowbit.kernels.gpu;
    exports dev.lowbit.gpu.opencl to dev.lowbit.kernels.gpu;
}

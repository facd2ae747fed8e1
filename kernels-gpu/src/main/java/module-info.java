/** lowbit's kernels on GPUs: CUDA through the driver API, NVRTC and cuBLASLt, and OpenCL. */
module dev.lowbit.kernels.gpu {
    requires transitive dev.lowbit.kernels;
    requires dev.lowbit.bindings;

    exports dev.lowbit.kernels.gpu.cuda;
    exports dev.lowbit.kernels.gpu.opencl;
}

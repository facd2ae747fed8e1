/** lowbit's kernels on GPUs: CUDA through the driver API, NVRTC and cuBLASLt, and OpenCL. */
module dev.lowbit.kernels.gpu {
    requires transitive dev.lowbit.kernels;

    exports dev.lowbit.gpu.cuda.kernels;
    exports dev.lowbit.gpu.opencl.kernels;
}

package dev.lowbit.gpu;

/** The GPU runtimes lowbit binds through FFM. */
public enum GpuBackend {
    /** NVIDIA's driver API, NVRTC and cuBLASLt. */
    CUDA,
    /** Any OpenCL 1.2+ device, PoCL's CPU device included. */
    OPENCL
}

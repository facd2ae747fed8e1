/**
 * lowbit's kernels on NVIDIA GPUs: CUDA C++ sources shipped as resources, compiled by NVRTC for the device's own
 * architecture and cached ({@link dev.lowbit.gpu.cuda.kernels.CudaRuntime}); quantize, dequantize and activation
 * quantization for every format ({@link dev.lowbit.gpu.cuda.kernels.CudaQuant}); matrix products including
 * cuBLASLt int8 GEMM and the W4A16 tensor-core kernel ({@link dev.lowbit.gpu.cuda.kernels.CudaMatmul}); and
 * adapters to the kernel interface ({@link dev.lowbit.gpu.cuda.kernels.CudaQuantKernels},
 * {@link dev.lowbit.gpu.cuda.kernels.CudaMatmulKernels}).
 */
package dev.lowbit.gpu.cuda.kernels;

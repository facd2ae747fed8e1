/**
 * lowbit's kernels on NVIDIA GPUs: CUDA C++ sources shipped as resources, compiled by NVRTC for the device's own
 * architecture and cached ({@link dev.lowbit.kernels.gpu.cuda.CudaRuntime}); quantize, dequantize and activation
 * quantization for every format ({@link dev.lowbit.kernels.gpu.cuda.CudaQuant}); matrix products including
 * cuBLASLt int8 GEMM and the W4A16 tensor-core kernel ({@link dev.lowbit.kernels.gpu.cuda.CudaMatmul}); and
 * adapters to the kernel interface ({@link dev.lowbit.kernels.gpu.cuda.CudaQuantKernels},
 * {@link dev.lowbit.kernels.gpu.cuda.CudaMatmulKernels}).
 */
package dev.lowbit.kernels.gpu.cuda;

/**
 * lowbit's kernel interface on OpenCL devices: {@link dev.lowbit.kernels.gpu.opencl.OpenClKernels} opens a device and
 * builds the kernels ({@code dev/lowbit/kernels/gpu/opencl/*.cl}); its quantize family reproduces the scalar
 * reference bit for bit, its GEMV family sums integer blocks exactly and fp32 within the bound of its order.
 */
package dev.lowbit.kernels.gpu.opencl;

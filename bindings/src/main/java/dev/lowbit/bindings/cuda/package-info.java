/** FFM bindings to the CUDA driver API ({@code libcuda.so.1}), NVRTC and cuBLASLt. */
package dev.lowbit.bindings.cuda;

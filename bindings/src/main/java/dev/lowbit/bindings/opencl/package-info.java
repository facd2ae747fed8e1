/**
 * FFM bindings to the OpenCL runtime ({@code libOpenCL.so.1}): {@link dev.lowbit.bindings.opencl.ClContext} opens a
 * device; buffers, programs and kernels are {@code AutoCloseable}; every failed call is an
 * {@link dev.lowbit.bindings.opencl.OpenClException} with OpenCL's name for the status (and the build log for builds).
 */
package dev.lowbit.bindings.opencl;

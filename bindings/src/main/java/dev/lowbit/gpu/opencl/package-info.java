/** FFM bindings to the OpenCL runtime ({@code libOpenCL.so.1}). */
package dev.lowbit.gpu.opencl;

/** GPU implementations of lowbit's kernel interface (CUDA and OpenCL). */
package dev.lowbit.gpu;

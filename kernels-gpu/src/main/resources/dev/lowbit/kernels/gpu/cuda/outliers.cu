// Sparse outliers (CSR: row_ptr, col_idx, values) added to dense results, in column order per row as the
// scalar reference adds them.
#include "lowbit_common.cuh"

// Dequantized tensor: y[r * ld + col] += value, one thread per row.
extern "C" __global__ void lb_outlier_add(float* __restrict__ y, long long ld, const int* __restrict__ rowPtr,
                                          const int* __restrict__ colIdx, const float* __restrict__ values,
                                          int rows) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) {
        return;
    }
    for (int e = rowPtr[r]; e < rowPtr[r + 1]; e++) {
        float* at = y + (long long) r * ld + colIdx[e];
        *at = __fadd_rn(*at, values[e]);
    }
}

// Matrix product: y[t * ldy + r] += sum_e value_e * x[t * k + col_e], one thread per (row, token).
// xScale is null for fp32 activations; for int8 activations x holds codes (as floats) and xScale the scale of
// each block of 32 (scalesPerToken per token), so that the activation is code * scale as in the reference.
extern "C" __global__ void lb_outlier_gemm_add(float* __restrict__ y, int ldy, const int* __restrict__ rowPtr,
                                               const int* __restrict__ colIdx, const float* __restrict__ values,
                                               const float* __restrict__ x, int k, const float* __restrict__ xScale,
                                               int scalesPerToken, int rows, int n) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    int t = blockIdx.y;
    if (r >= rows || t >= n) {
        return;
    }
    int e0 = rowPtr[r];
    int e1 = rowPtr[r + 1];
    if (e0 == e1) {
        return;
    }
    float acc = y[(long long) t * ldy + r];
    for (int e = e0; e < e1; e++) {
        int c = colIdx[e];
        float a = x[(long long) t * k + c];
        if (xScale != 0) {
            a = __fmul_rn(a, xScale[(long long) t * scalesPerToken + (scalesPerToken == 1 ? 0 : c / 32)]);
        }
        acc = __fadd_rn(acc, __fmul_rn(values[e], a));
    }
    y[(long long) t * ldy + r] = acc;
}

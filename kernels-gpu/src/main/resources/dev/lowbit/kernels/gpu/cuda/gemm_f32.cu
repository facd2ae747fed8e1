// Weight-only matrix products with fp32 activations for every format (MatmulKernels.gemmF32):
// y[t * ldy + r] = sum_c W[r][c] * x[t * k + c]. One warp per weight row and up to four tokens; each element is
// dequantized as Reference.value does and multiplied in fp32. Outliers are added afterwards (outliers.cu).
#include "lowbit_common.cuh"

#define LB_TOKENS 4

extern "C" __global__ void lb_gemm_f32(const u8* __restrict__ data, const u8* __restrict__ scales,
                                       const u8* __restrict__ zeros, const float* __restrict__ levels,
                                       int rows, int k, int groupLen, int kind, int bits, int symmetric, int f16,
                                       const float* __restrict__ x, int n, float* __restrict__ y, int ldy) {
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    int r = blockIdx.x * (blockDim.x >> 5) + warp;
    int t0 = blockIdx.y * LB_TOKENS;
    if (r >= rows) {
        return;
    }
    float acc[LB_TOKENS];
#pragma unroll
    for (int t = 0; t < LB_TOKENS; t++) {
        acc[t] = 0.0f;
    }
    for (int c = lane; c < k; c += 32) {
        float w = lb_dequantize_one(data, scales, zeros, levels, k, groupLen, kind, bits, symmetric, f16, r, c);
#pragma unroll
        for (int t = 0; t < LB_TOKENS; t++) {
            if (t0 + t < n) {
                acc[t] += w * x[(long long) (t0 + t) * k + c];
            }
        }
    }
#pragma unroll
    for (int t = 0; t < LB_TOKENS; t++) {
        float s = lb_warp_sum(acc[t]);
        if (lane == 0 && t0 + t < n) {
            y[(long long) (t0 + t) * ldy + r] = s;
        }
    }
}

// Codebook-LUT GEMV/GEMM for 4-bit codebook weights (NF4 and the like) with fp32 activations:
// y[t * ldy + r] = sum_g d[r][g] * sum_{c in g} levels[q[r][c]] * x[t * k + c].
// One warp per row and up to four tokens; each lane reads one 32-bit word (eight indices) at a time and looks the
// levels up in a 16-entry table in shared memory. Needs k and the group length to be multiples of 8.
#include "lowbit_common.cuh"

#define LB_TOKENS 4

extern "C" __global__ void lb_gemv_codebook(const u32* __restrict__ words, const u8* __restrict__ scales, int f16,
                                            const float* __restrict__ levels, int rows, int k, int groupLen,
                                            const float* __restrict__ x, int n, float* __restrict__ y, int ldy) {
    __shared__ float lut[16];
    if (threadIdx.x < 16) {
        lut[threadIdx.x] = levels[threadIdx.x];
    }
    __syncthreads();
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    int r = blockIdx.x * (blockDim.x >> 5) + warp;
    int t0 = blockIdx.y * LB_TOKENS;
    if (r >= rows) {
        return;
    }
    int wordsPerRow = k / 8;
    int gpr = (k + groupLen - 1) / groupLen;
    const u32* row = words + (long long) r * wordsPerRow;
    float acc[LB_TOKENS];
#pragma unroll
    for (int t = 0; t < LB_TOKENS; t++) {
        acc[t] = 0.0f;
    }
    for (int w = lane; w < wordsPerRow; w += 32) {
        u32 q = __ldg(row + w);
        int c0 = w * 8;
        float d = lb_load_param(scales, (long long) r * gpr + c0 / groupLen, f16 != 0);
        float v[8];
#pragma unroll
        for (int i = 0; i < 8; i++) {
            v[i] = lut[(q >> (4 * i)) & 15];
        }
#pragma unroll
        for (int t = 0; t < LB_TOKENS; t++) {
            if (t0 + t < n) {
                const float4* xp = (const float4*) (x + (long long) (t0 + t) * k + c0);
                float4 a = __ldg(xp);
                float4 b = __ldg(xp + 1);
                float s = v[0] * a.x + v[1] * a.y + v[2] * a.z + v[3] * a.w
                        + v[4] * b.x + v[5] * b.y + v[6] * b.z + v[7] * b.w;
                acc[t] += d * s;
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

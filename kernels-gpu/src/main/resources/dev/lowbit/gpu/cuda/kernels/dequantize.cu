// Dequantization of every lowbit format to fp32, bit for bit Reference.value; outliers are added by
// lb_outlier_add (outliers.cu) afterwards. Each thread writes four consecutive elements of the row-major output.
#include "lowbit_common.cuh"

extern "C" __global__ void lb_dequantize(const u8* __restrict__ data, const u8* __restrict__ scales,
                                         const u8* __restrict__ zeros, const float* __restrict__ levels,
                                         int rows, int cols, int groupLen, int kind, int bits, int symmetric,
                                         int f16, float* __restrict__ dst) {
    long long total = (long long) rows * cols;
    long long e0 = ((long long) blockIdx.x * blockDim.x + threadIdx.x) * 4;
    if (e0 >= total) {
        return;
    }
    float v[4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        long long e = e0 + i;
        v[i] = e < total ? lb_dequantize_one(data, scales, zeros, levels, cols, groupLen, kind, bits, symmetric,
                                             f16, (int) (e / cols), (int) (e % cols))
                         : 0.0f;
    }
    if (e0 + 3 < total && ((((unsigned long long) (dst + e0)) & 15) == 0)) {
        *(float4*) (dst + e0) = make_float4(v[0], v[1], v[2], v[3]);
    } else {
        for (int i = 0; i < 4 && e0 + i < total; i++) {
            dst[e0 + i] = v[i];
        }
    }
}

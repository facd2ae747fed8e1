// Dequantization of every lowbit format to fp32, bit for bit Reference.value; outliers are added by
// lb_outlier_add (outliers.cu) afterwards. Grid: x over column chunks of four (one thread each, with one read of
// the group's parameters and a 16-byte store when cols is a multiple of 4), y over rows (rows beyond gridDim.y are
// taken in strides).
#include "lowbit_common.cuh"

extern "C" __global__ void lb_dequantize(const u8* __restrict__ data, const u8* __restrict__ scales,
                                         const u8* __restrict__ zeros, const float* __restrict__ levels,
                                         int rows, int cols, int groupLen, int kind, int bits, int symmetric,
                                         int f16, float* __restrict__ dst) {
    int c0 = (blockIdx.x * blockDim.x + threadIdx.x) * 4;
    if (c0 >= cols) {
        return;
    }
    bool vector = (cols & 3) == 0;
    int gpr = (cols + groupLen - 1) / groupLen;
    for (int row = blockIdx.y; row < rows; row += gridDim.y) {
        float v[4];
        float* out = dst + (long long) row * cols + c0;
        if (vector) {
            lb_dequantize4(data, scales, zeros, levels, cols, groupLen, gpr, kind, bits, symmetric, f16, row, c0, v);
            *(float4*) out = make_float4(v[0], v[1], v[2], v[3]);
            continue;
        }
        for (int i = 0; i < 4 && c0 + i < cols; i++) {
            out[i] = lb_dequantize_one(data, scales, zeros, levels, cols, groupLen, kind, bits, symmetric, f16, row,
                                       c0 + i);
        }
    }
}

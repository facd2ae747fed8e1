// The dequantize epilogue of the cuBLASLt int8 GEMM: C (int32, column-major rows x n, ldc) from
// C = W^T-form product, scaled by the weight row's scale and the token's scale into fp32
// y[t * ldy + r] = (dw[r] * dx[t]) * C[t * ldc + r]. Also the conversion of stored unsigned grouped int8 codes
// (zero point 128) to the signed codes cuBLASLt multiplies.
#include "lowbit_common.cuh"

extern "C" __global__ void lb_int8_dequant_epilogue(const int* __restrict__ c, long long ldc,
                                                    const float* __restrict__ dw, const float* __restrict__ dx,
                                                    int rows, int n, float* __restrict__ y, long long ldy) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    int t = blockIdx.y;
    if (r >= rows || t >= n) {
        return;
    }
    float s = __fmul_rn(dw[r], dx[t]);
    y[(long long) t * ldy + r] = __fmul_rn(s, (float) c[(long long) t * ldc + r]);
}

// dst[i] = src[i] ^ 0x80 over bytes: code q with zero point 128 becomes the signed value q - 128.
extern "C" __global__ void lb_offset_to_signed(const u8* __restrict__ src, i8* __restrict__ dst, long long bytes) {
    long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i < bytes) {
        dst[i] = (i8) (src[i] ^ 0x80);
    }
}

// Per-row scales of a grouped whole-row tensor, decoded to fp32.
extern "C" __global__ void lb_decode_scales(const u8* __restrict__ plane, int f16, int count,
                                            float* __restrict__ out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) {
        out[i] = lb_load_param(plane, i, f16 != 0);
    }
}

// int8 activation codes as floats, for the outlier step of the integer path (which multiplies code * scale).
extern "C" __global__ void lb_codes_to_float(const i8* __restrict__ codes, long long count, float* __restrict__ out) {
    long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) {
        out[i] = (float) codes[i];
    }
}

// The integer path of MatmulKernels.gemmInt8 for every integer weight format (Q8_0, Q4_0, Q4_1, grouped 8- and
// 4-bit): int8 activation codes (paddedK per token) times signed weight codes, summed exactly in int32 per block
// of 32, then scaled per block in fp32 as ScalarMatmulKernels does. One warp per weight row and up to four tokens;
// lanes take blocks in turn and the warp adds their sums at the end.
#include "lowbit_common.cuh"

#define LB_TOKENS 4

// Signed weight code of element c (WeightRows.codes): Q8_0 as stored, Q4_0 minus 8, symmetric grouped minus
// 2^(b-1), asymmetric 8-bit minus 128 (codeOffset), asymmetric 4-bit and Q4_1 as stored.
__device__ __forceinline__ int lb_weight_code(const u8* __restrict__ data, int k, int kind, int bits, int symmetric,
                                              int row, int c) {
    if (kind == LB_Q8_0 || kind == LB_Q4_0 || kind == LB_Q4_1) {
        int blockBytes = kind == LB_Q8_0 ? 34 : (kind == LB_Q4_0 ? 18 : 20);
        const u8* blk = data + ((long long) row * ((k + 31) / 32) + c / 32) * blockBytes;
        int j = c & 31;
        if (kind == LB_Q8_0) {
            return (int) (i8) blk[2 + j];
        }
        int b = blk[(kind == LB_Q4_1 ? 4 : 2) + (j & 15)];
        int q = j < 16 ? (b & 15) : (b >> 4);
        return kind == LB_Q4_0 ? q - 8 : q;
    }
    long long rowBytes = ((long long) k * bits + 7) / 8;
    int q = lb_bits_get(data + (long long) row * rowBytes, bits, c);
    if (symmetric) {
        return q - (1 << (bits - 1));
    }
    return bits == 8 ? q - 128 : q;
}

extern "C" __global__ void lb_gemm_int8(const u8* __restrict__ data, const u8* __restrict__ scales,
                                        const u8* __restrict__ zeros, int rows, int k, int groupLen, int kind,
                                        int bits, int symmetric, int f16, const i8* __restrict__ xcodes,
                                        int paddedK, const float* __restrict__ xscales, int scalesPerToken, int n,
                                        float* __restrict__ y, int ldy) {
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    int r = blockIdx.x * (blockDim.x >> 5) + warp;
    int t0 = blockIdx.y * LB_TOKENS;
    if (r >= rows) {
        return;
    }
    bool ggml = kind == LB_Q8_0 || kind == LB_Q4_0 || kind == LB_Q4_1;
    int gpr = (k + groupLen - 1) / groupLen;
    int off = (kind == LB_GROUPED && !symmetric && bits == 8) ? 128 : 0;
    float acc[LB_TOKENS];
#pragma unroll
    for (int t = 0; t < LB_TOKENS; t++) {
        acc[t] = 0.0f;
    }
    int blocks = (k + 31) / 32;
    for (int b = lane; b < blocks; b += 32) {
        int w[32];
#pragma unroll
        for (int j = 0; j < 32; j++) {
            int c = b * 32 + j;
            w[j] = c < k ? lb_weight_code(data, k, kind, bits, symmetric, r, c) : 0;
        }
        float dw;
        float z = 0.0f;
        if (ggml) {
            const u8* blk = data + ((long long) r * blocks + b) * (kind == LB_Q8_0 ? 34 : (kind == LB_Q4_0 ? 18 : 20));
            dw = lb_h2f(*(const u16*) blk);
            if (kind == LB_Q4_1) {
                z = lb_h2f(*(const u16*) (blk + 2));
            }
        } else {
            long long gi = (long long) r * gpr + (b * 32) / groupLen;
            dw = lb_load_param(scales, gi, f16 != 0);
            if (!symmetric) {
                z = lb_load_param(zeros, gi, f16 != 0);
            }
        }
#pragma unroll
        for (int t = 0; t < LB_TOKENS; t++) {
            if (t0 + t >= n) {
                continue;
            }
            const i8* xc = xcodes + (long long) (t0 + t) * paddedK + b * 32;
            int isum = 0;
            int xsum = 0;
#pragma unroll
            for (int j = 0; j < 32; j++) {
                isum += w[j] * (int) xc[j];
                xsum += (int) xc[j];
            }
            float dx = xscales[(long long) (t0 + t) * scalesPerToken + (scalesPerToken == 1 ? 0 : b)];
            float term;
            if (kind == LB_Q8_0 || kind == LB_Q4_0 || (kind == LB_GROUPED && symmetric)) {
                term = __fmul_rn(__fmul_rn(dw, dx), (float) isum);
            } else if (kind == LB_Q4_1) {
                term = __fmul_rn(dx, __fadd_rn(__fmul_rn(dw, (float) isum), __fmul_rn(z, (float) xsum)));
            } else {
                float zi = __fsub_rn(z, (float) off);
                term = __fmul_rn(__fmul_rn(dw, dx), __fsub_rn((float) isum, __fmul_rn(zi, (float) xsum)));
            }
            acc[t] += term;
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

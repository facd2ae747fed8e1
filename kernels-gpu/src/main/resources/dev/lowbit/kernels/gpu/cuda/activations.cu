// Activation quantization for the integer matmuls (MatmulOps.quantizeActivations): n tokens of k fp32 values to
// int8 codes padded with zeros to paddedK (a multiple of 32), and fp32 scales.
#include "lowbit_common.cuh"

// ActivationFormat.Q8_0: one warp per block of 32, the weights' Q8_0 rule (fp16 scale, returned as fp32).
extern "C" __global__ void lb_quantize_act_q8_0(const float* __restrict__ x, int n, int k, int paddedK,
                                                i8* __restrict__ codes, float* __restrict__ scales,
                                                u64* __restrict__ status) {
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    int blocksPerToken = paddedK / 32;
    long long blk = (long long) blockIdx.x * (blockDim.x >> 5) + warp;
    if (blk >= (long long) n * blocksPerToken) {
        return;
    }
    int t = (int) (blk / blocksPerToken);
    int b = (int) (blk % blocksPerToken);
    int c = b * 32 + lane;
    float v = c < k ? x[(long long) t * k + c] : 0.0f;
    bool finite = lb_finite(v);
    if (!finite) {
        atomicMin(&status[0], (u64) ((long long) t * k + c));
    }
    if (!__all_sync(0xffffffffu, finite)) {
        return;
    }
    bool real = c < k;
    float mn = real ? v : __int_as_float(0x7f800000);
    float mx = real ? v : __int_as_float(0xff800000);
    lb_warp_minmax(&mn, &mx, 32);
    bool bad = false;
    LbParams p = lb_params(LB_Q8_0, 8, 1, 1, 1.0f, mn, mx, &bad);
    if (bad) {
        if (lane == 0) {
            atomicMin(&status[1], (u64) blk);
        }
        return;
    }
    codes[(long long) t * paddedK + c] = real ? (i8) lb_code(LB_Q8_0, p, 0, v) : (i8) 0;
    if (lane == 0) {
        scales[blk] = p.d;
    }
}

// ActivationFormat.PER_TOKEN_INT8: one block per token, scale absmax / 127 in fp32 (the grouped 8-bit symmetric
// whole-row rule), codes clamp(rint(x / d), -128, 127).
extern "C" __global__ void lb_quantize_act_per_token(const float* __restrict__ x, int n, int k, int paddedK,
                                                     i8* __restrict__ codes, float* __restrict__ scales,
                                                     u64* __restrict__ status) {
    __shared__ float sd;
    int t = blockIdx.x;
    const float* row = x + (long long) t * k;
    float mn = __int_as_float(0x7f800000);
    float mx = -mn;
    int nonFinite = 0;
    for (int c = threadIdx.x; c < k; c += blockDim.x) {
        float v = row[c];
        if (!lb_finite(v)) {
            if (!nonFinite) {
                atomicMin(&status[0], (u64) ((long long) t * k + c));
            }
            nonFinite = 1;
        } else {
            mn = lb_jmin(mn, v);
            mx = lb_jmax(mx, v);
        }
    }
    lb_block_minmax_any(&mn, &mx, &nonFinite);
    if (threadIdx.x == 0) {
        bool bad = false;
        float d = __int_as_float(0x7fc00000);
        if (!nonFinite) {
            LbParams p = lb_params(LB_GROUPED, 8, 1, 0, 1.0f, mn, mx, &bad);
            if (bad) {
                atomicMin(&status[1], (u64) t);
            } else {
                d = p.d;
                scales[t] = d;
            }
        }
        sd = d;
    }
    __syncthreads();
    float d = sd;
    if (d != d) {
        return;
    }
    LbParams p;
    p.d = d;
    p.sub = 0.0f;
    p.add = 128.0f;
    p.zero = 128.0f;
    p.lo = 0;
    p.hi = 255;
    for (int c = threadIdx.x; c < paddedK; c += blockDim.x) {
        codes[(long long) t * paddedK + c] = c < k ? (i8) (lb_code(LB_GROUPED, p, 0, row[c]) - 128) : (i8) 0;
    }
}

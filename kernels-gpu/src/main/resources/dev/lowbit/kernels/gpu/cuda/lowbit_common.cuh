// Shared device code of lowbit's CUDA kernels. Compiled by NVRTC at run time (which has no host headers), so
// this file uses only built-in types and inline PTX: no <stdint.h>, no cuda_fp16.h. Every kernel file includes
// it by name; the Java loader hands it to NVRTC as a header.
//
// Bit-exact parts (codes, scales) use the __f*_rn intrinsics, which the compiler never contracts into fused
// multiply-adds, so that they round exactly as Java's float arithmetic does.
#pragma once

#ifdef LOWBIT_HOST_CHECK
// Host build of the scalar rules below, for the test that compares them with the Java reference
// (HostRulesTest); the including file provides <cmath> and <cstring>. Never defined by NVRTC.
#define __device__
#define __forceinline__ inline
static inline unsigned int __float_as_uint(float x) { unsigned int u; memcpy(&u, &x, 4); return u; }
static inline float __int_as_float(int i) { float x; memcpy(&x, &i, 4); return x; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
#endif

typedef unsigned char u8;
typedef signed char i8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

// Format kinds, in the order of dev.lowbit.format.QuantFormat.Kind.
#define LB_Q8_0 0
#define LB_Q4_0 1
#define LB_Q4_1 2
#define LB_GROUPED 3
#define LB_CODEBOOK4 4

#define LB_F16_MIN_NORMAL 6.103515625e-05f   // 2^-14
#define LB_F32_MIN_NORMAL 1.17549435e-38f    // 2^-126

#ifndef LOWBIT_HOST_CHECK
__device__ __forceinline__ u16 lb_f2h(float x) {
    u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(x));
    return h;
}

__device__ __forceinline__ float lb_h2f(u16 h) {
    float x;
    asm("cvt.f32.f16 %0, %1;" : "=f"(x) : "h"(h));
    return x;
}
#else
static inline u16 lb_f2h(float x) { _Float16 h = (_Float16) x; u16 b; memcpy(&b, &h, 2); return b; }
static inline float lb_h2f(u16 b) { _Float16 h; memcpy(&h, &b, 2); return (float) h; }
#endif

__device__ __forceinline__ bool lb_finite(float x) {
    return (__float_as_uint(x) & 0x7f800000u) != 0x7f800000u;
}

// Java's Math.max / Math.min on finite values: +0 is above -0.
__device__ __forceinline__ float lb_jmax(float a, float b) {
    if (a != b) {
        return a > b ? a : b;
    }
    return (__float_as_uint(a) & 0x80000000u) ? b : a;
}

__device__ __forceinline__ float lb_jmin(float a, float b) {
    if (a != b) {
        return a < b ? a : b;
    }
    return (__float_as_uint(a) & 0x80000000u) ? a : b;
}

// ScaleType.round: the nearest storable value (ties to even).
__device__ __forceinline__ float lb_round(float v, bool f16) {
    return f16 ? lb_h2f(lb_f2h(v)) : v;
}

// ScaleType.nextAway: the next storable magnitude away from zero, with v's sign.
__device__ __forceinline__ float lb_next_away(float v, bool f16) {
    if (!f16) {
        return copysignf(nextafterf(fabsf(v), __int_as_float(0x7f800000)), v);
    }
    return lb_h2f((u16) (lb_f2h(v) + 1));
}

// GroupParams.storable: d rounded to the storage type, never 0 for a non-zero group. *bad is set when the value
// does not fit the type (the caller reports the group).
__device__ __forceinline__ float lb_storable(float d, float extent, bool f16, bool* bad) {
    if (!lb_finite(d)) {
        *bad = true;
        return 0.0f;
    }
    float r = lb_round(d, f16);
    if (r == 0.0f && extent > 0.0f) {
        r = lb_next_away(copysignf(0.0f, d), f16);
    }
    if (!lb_finite(r)) {
        *bad = true;
    }
    return r;
}

// GroupParams.widen: widened until the extreme element lies at most half a step beyond the last code.
__device__ __forceinline__ float lb_widen(float d, float extent, int limit, bool f16, bool* bad) {
    float r = lb_storable(d, extent, f16, bad);
    if (*bad || fabsf(r) >= (f16 ? LB_F16_MIN_NORMAL : LB_F32_MIN_NORMAL)) {
        return r;
    }
    float lim = __fadd_rn((float) limit, 0.5f);
    while (extent > 0.0f && __fdiv_rn(extent, fabsf(r)) > lim) {
        r = lb_next_away(r, f16);
    }
    return r;
}

// GroupParams.widenStrict: widened until the whole range fits in limit steps.
__device__ __forceinline__ float lb_widen_strict(float d, float extent, int limit, bool f16, bool* bad) {
    float r = lb_storable(d, extent, f16, bad);
    if (*bad) {
        return r;
    }
    while (extent > 0.0f && __fdiv_rn(extent, fabsf(r)) > (float) limit) {
        r = lb_next_away(r, f16);
    }
    return r;
}

// ggml's block rules (GgmlBlocks in kernels-java, after quantize_row_*_ref of ggml-quants.c): d in fp32, codes by
// id = 1/d (0 for d = 0), d and Q4_1's minimum rounded to fp16 only to be stored. Every lane of a block computes
// them from the block's values in order (Q4_0 takes the first element of largest magnitude, Q4_1's minimum keeps
// the first zero's sign), so that no reduction reorders them. *bad when fp16 cannot hold d or the minimum.
struct LbGgml {
    float d;
    float id;
    float sub;
    float add;
};

__device__ __forceinline__ LbGgml lb_ggml_params(int kind, const float* x, int len, bool* bad) {
    LbGgml p;
    float d;
    p.sub = 0.0f;
    p.add = 0.0f;
    if (kind == LB_Q8_0) {
        float amax = 0.0f;
        for (int i = 0; i < len; i++) {
            amax = fmaxf(amax, fabsf(x[i]));
        }
        d = __fdiv_rn(amax, 127.0f);
    } else if (kind == LB_Q4_0) {
        float amax = 0.0f;
        float m = 0.0f;
        for (int i = 0; i < len; i++) {
            if (amax < fabsf(x[i])) {
                amax = fabsf(x[i]);
                m = x[i];
            }
        }
        d = __fdiv_rn(m, -8.0f);
        p.add = 8.5f;
    } else {
        float lo = 3.402823466e38f;
        float hi = -3.402823466e38f;
        for (int i = 0; i < len; i++) {
            lo = x[i] < lo ? x[i] : lo;
            hi = x[i] > hi ? x[i] : hi;
        }
        if (!lb_finite(lb_h2f(lb_f2h(lo)))) {
            *bad = true;
        }
        d = __fdiv_rn(__fsub_rn(hi, lo), 15.0f);
        p.sub = lo;
        p.add = 0.5f;
    }
    if (!lb_finite(d) || !lb_finite(lb_h2f(lb_f2h(d)))) {
        *bad = true;
    }
    p.d = d;
    p.id = d != 0.0f ? __fdiv_rn(1.0f, d) : 0.0f;
    return p;
}

// x86's truncation (cvttss2si, what ggml's casts compile to): INT_MIN for a NaN or beyond the int range.
__device__ __forceinline__ int lb_trunc_x86(float t) {
    return t > -2147483648.0f && t < 2147483648.0f ? (int) t : (int) 0x80000000u;
}

// The stored code of x: Q8_0's int8 as a byte, roundf(x * id); Q4's min(15, trunc((x - sub) * id + add)).
__device__ __forceinline__ u8 lb_ggml_code(int kind, const LbGgml& p, float x) {
    if (kind == LB_Q8_0) {
        float t = __fmul_rn(x, p.id);
        return (u8) lb_trunc_x86(__fadd_rn(t, t < 0.0f ? -0.49999997f : 0.49999997f));
    }
    int q = lb_trunc_x86(__fadd_rn(__fmul_rn(__fsub_rn(x, p.sub), p.id), p.add));
    return (u8) ((q > 15 ? 15 : q) & 15);
}

// One group's parameters: q = clamp(rint((x - sub) / d) + add, lo, hi); zero is what the format stores beside d
// (the Q4_1 minimum or the grouped zero point).
struct LbParams {
    float d;
    float sub;
    float add;
    float zero;
    int lo;
    int hi;
};

// GroupParams.uniform (grouped formats) and codebookScale for one group from its min, max and absmax; ggml's
// blocks take lb_ggml_params.
__device__ __forceinline__ LbParams lb_params(int kind, int bits, bool symmetric, bool f16, float reach,
                                              float mn, float mx, bool* bad) {
    LbParams p;
    float absmax = lb_jmax(fabsf(mn), fabsf(mx));
    p.sub = 0.0f;
    p.add = 0.0f;
    p.zero = 0.0f;
    p.lo = 0;
    p.hi = (1 << bits) - 1;
    switch (kind) {
    case LB_GROUPED:
        if (symmetric) {
            int half = 1 << (bits - 1);
            p.d = lb_widen(__fdiv_rn(absmax, (float) (half - 1)), absmax, half - 1, f16, bad);
            p.add = (float) half;
            p.zero = (float) half;
        } else {
            int qmax = (1 << bits) - 1;
            float lo = lb_jmin(mn, 0.0f);
            float hi = lb_jmax(mx, 0.0f);
            float range = __fsub_rn(hi, lo);
            p.d = lb_widen_strict(__fdiv_rn(range, (float) qmax), range, qmax, f16, bad);
            float z = p.d == 0.0f ? 0.0f : __fadd_rn(rintf(__fdiv_rn(-lo, p.d)), 0.0f);
            p.add = z;
            p.zero = z;
        }
        break;
    default: // LB_CODEBOOK4
        p.d = lb_storable(__fdiv_rn(absmax, reach), absmax, f16, bad);
        p.hi = 15;
        break;
    }
    return p;
}

// The code of x under p (uniform formats) or the codebook index (number of midpoints below x / d).
__device__ __forceinline__ int lb_code(int kind, const LbParams& p, const float* mids, float x) {
    if (kind == LB_CODEBOOK4) {
        float v = p.d == 0.0f ? 0.0f : __fdiv_rn(x, p.d);
        int i = 0;
#pragma unroll
        for (int m = 0; m < 15; m++) {
            i += mids[m] < v ? 1 : 0;
        }
        return i;
    }
    float q = p.d == 0.0f ? p.add : __fadd_rn(rintf(__fdiv_rn(__fsub_rn(x, p.sub), p.d)), p.add);
    int c = (int) q;
    return c < p.lo ? p.lo : (c > p.hi ? p.hi : c);
}

// Writes byte j of a group whose codes (len of them, the rest zero) are in codes[].
__device__ __forceinline__ u8 lb_group_byte(int kind, int bits, const u8* codes, int len, int j) {
    if (kind == LB_Q8_0) {
        return codes[j];
    }
    if (kind == LB_Q4_0 || kind == LB_Q4_1) {
        int lo = j < len ? codes[j] & 15 : 0;
        int hi = j + 16 < len ? codes[j + 16] & 15 : 0;
        return (u8) (lo | (hi << 4));
    }
    // Packed fields: byte j covers bits [8j, 8j + 8) of the group, which starts on a byte boundary.
    int first = (8 * j) / bits;
    int last = (8 * j + 7) / bits;
    u32 acc = 0;
    for (int i = first; i <= last && i < len; i++) {
        acc |= (u32) (codes[i] & ((1 << bits) - 1)) << (i * bits - 8 * j + 8);
    }
    return (u8) (acc >> 8);
}

// Reference.value: what a code stands for.
__device__ __forceinline__ float lb_value(int kind, int code, float d, float zero, const float* levels) {
    switch (kind) {
    case LB_Q8_0:
        return __fmul_rn((float) code, d);
    case LB_Q4_0:
        return __fmul_rn((float) (code - 8), d);
    case LB_Q4_1:
        return __fadd_rn(__fmul_rn((float) code, d), zero);
    case LB_GROUPED:
        return __fmul_rn(__fsub_rn((float) code, zero), d);
    default:
        return __fmul_rn(levels[code], d);
    }
}

__device__ __forceinline__ float lb_load_param(const u8* plane, long long index, bool f16) {
    return f16 ? lb_h2f(((const u16*) plane)[index]) : ((const float*) plane)[index];
}

__device__ __forceinline__ void lb_store_param(u8* plane, long long index, bool f16, float v) {
    if (f16) {
        ((u16*) plane)[index] = lb_f2h(v);
    } else {
        ((float*) plane)[index] = v;
    }
}

// A packed b-bit field at element i of a row that starts at byte row (b in 2, 3, 4, 8).
__device__ __forceinline__ int lb_bits_get(const u8* row, int bits, long long i) {
    long long bit = i * bits;
    long long byte = bit >> 3;
    int shift = (int) (bit & 7);
    u32 v = row[byte];
    if (shift + bits > 8) {
        v |= (u32) row[byte + 1] << 8;
    }
    return (int) ((v >> shift) & ((1u << bits) - 1));
}

// (Host builds of the scalar rules, LOWBIT_HOST_CHECK, have no warps.)
#ifndef LOWBIT_HOST_CHECK
__device__ __forceinline__ float lb_warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    return v;
}

// Min and max (lb_jmin, lb_jmax) over each aligned run of `lanes` lanes of a warp (a power of two, at most 32;
// every lane of the warp calls it): every lane of a run ends with its run's values.
__device__ __forceinline__ void lb_warp_minmax(float* mn, float* mx, int lanes) {
#pragma unroll
    for (int o = lanes >> 1; o > 0; o >>= 1) {
        *mn = lb_jmin(*mn, __shfl_xor_sync(0xffffffffu, *mn, o));
        *mx = lb_jmax(*mx, __shfl_xor_sync(0xffffffffu, *mx, o));
    }
}

// Min and max over the whole warp, and the OR of a flag (a non-finite value seen): every lane ends with them.
__device__ __forceinline__ void lb_warp_minmax_any(float* mn, float* mx, int* flag) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        *mn = lb_jmin(*mn, __shfl_xor_sync(0xffffffffu, *mn, o));
        *mx = lb_jmax(*mx, __shfl_xor_sync(0xffffffffu, *mx, o));
        *flag |= __shfl_xor_sync(0xffffffffu, *flag, o);
    }
}

// Min, max and the OR of a flag over the whole block (every thread calls it; at most 1024 threads): each warp
// reduces its own, then thread 0 combines the warps in order, and only thread 0 holds the block's values after.
__device__ __forceinline__ void lb_block_minmax_any(float* mn, float* mx, int* flag) {
    __shared__ float smin[32];
    __shared__ float smax[32];
    __shared__ int sbad[32];
    lb_warp_minmax_any(mn, mx, flag);
    int warp = threadIdx.x >> 5;
    if ((threadIdx.x & 31) == 0) {
        smin[warp] = *mn;
        smax[warp] = *mx;
        sbad[warp] = *flag;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int warps = (blockDim.x + 31) >> 5;
        for (int w = 1; w < warps; w++) {
            *mn = lb_jmin(*mn, smin[w]);
            *mx = lb_jmax(*mx, smax[w]);
            *flag |= sbad[w];
        }
    }
}
#endif

// Element (row, c) of a quantized tensor, without outliers: Reference.dequantize.
__device__ __forceinline__ float lb_dequantize_one(const u8* __restrict__ data, const u8* __restrict__ scales,
                                                   const u8* __restrict__ zeros, const float* __restrict__ levels,
                                                   int cols, int groupLen, int kind, int bits, int symmetric,
                                                   int f16, int row, int c) {
    if (kind == LB_Q8_0 || kind == LB_Q4_0 || kind == LB_Q4_1) {
        int blockBytes = kind == LB_Q8_0 ? 34 : (kind == LB_Q4_0 ? 18 : 20);
        int nb = (cols + 31) / 32;
        const u8* blk = data + ((long long) row * nb + c / 32) * blockBytes;
        float d = lb_h2f(*(const u16*) blk);
        int j = c & 31;
        if (kind == LB_Q8_0) {
            return lb_value(kind, (int) (i8) blk[2 + j], d, 0.0f, levels);
        }
        int header = kind == LB_Q4_1 ? 4 : 2;
        int b = blk[header + (j & 15)];
        int code = j < 16 ? (b & 15) : (b >> 4);
        float m = kind == LB_Q4_1 ? lb_h2f(*(const u16*) (blk + 2)) : 0.0f;
        return lb_value(kind, code, d, m, levels);
    }
    int gpr = (cols + groupLen - 1) / groupLen;
    long long group = (long long) row * gpr + c / groupLen;
    long long rowBytes = ((long long) cols * bits + 7) / 8;
    int code = lb_bits_get(data + (long long) row * rowBytes, bits, c);
    float d = lb_load_param(scales, group, f16 != 0);
    float z = 0.0f;
    if (kind == LB_GROUPED) {
        z = symmetric ? (float) (1 << (bits - 1)) : lb_load_param(zeros, group, f16 != 0);
    }
    return lb_value(kind, code, d, z, levels);
}

// Elements c0 .. c0 + 3 of row `row` when cols is a multiple of 4 and c0 is too: the four share one group (group
// lengths and ggml blocks are multiples of 4), so the parameters are read once. Same values as lb_dequantize_one.
__device__ __forceinline__ void lb_dequantize4(const u8* __restrict__ data, const u8* __restrict__ scales,
                                               const u8* __restrict__ zeros, const float* __restrict__ levels,
                                               int cols, int groupLen, int gpr, int kind, int bits, int symmetric,
                                               int f16, int row, int c0, float* v) {
    if (kind == LB_Q8_0 || kind == LB_Q4_0 || kind == LB_Q4_1) {
        int blockBytes = kind == LB_Q8_0 ? 34 : (kind == LB_Q4_0 ? 18 : 20);
        const u8* blk = data + ((long long) row * ((cols + 31) / 32) + c0 / 32) * blockBytes;
        float d = lb_h2f(*(const u16*) blk);
        int j0 = c0 & 31;
        if (kind == LB_Q8_0) {
#pragma unroll
            for (int i = 0; i < 4; i++) {
                v[i] = lb_value(kind, (int) (i8) blk[2 + j0 + i], d, 0.0f, levels);
            }
            return;
        }
        float m = kind == LB_Q4_1 ? lb_h2f(*(const u16*) (blk + 2)) : 0.0f;
        const u8* q = blk + (kind == LB_Q4_1 ? 4 : 2) + (j0 & 15);
        int shift = j0 < 16 ? 0 : 4;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            v[i] = lb_value(kind, (q[i] >> shift) & 15, d, m, levels);
        }
        return;
    }
    long long group = (long long) row * gpr + c0 / groupLen;
    float d = lb_load_param(scales, group, f16 != 0);
    float z = 0.0f;
    if (kind == LB_GROUPED) {
        z = symmetric ? (float) (1 << (bits - 1)) : lb_load_param(zeros, group, f16 != 0);
    }
    const u8* rowp = data + (long long) row * (((long long) cols * bits + 7) / 8);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        v[i] = lb_value(kind, lb_bits_get(rowp, bits, c0 + i), d, z, levels);
    }
}

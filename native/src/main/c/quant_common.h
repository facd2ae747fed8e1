/*
 * Scalar pieces that every quantize tier shares, written to give the Java reference's bits:
 * fp16 conversion as Float.floatToFloat16 / float16ToFloat, the order of Math.min / Math.max, and the scale
 * rule of dev.lowbit.kernels.GroupParams (rounding to the scale type, widening, the error cases).
 * Included by the quant_*.c files only; everything here is static.
 */
#ifndef LOWBIT_QUANT_COMMON_H
#define LOWBIT_QUANT_COMMON_H

#include <float.h>
#include <stdint.h>
#include <string.h>

#define LB_OK 0
#define LB_NONFINITE 1
#define LB_RANGE 2

static inline uint32_t lb_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float lb_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float lb_abs(float f) {
    return lb_float(lb_bits(f) & 0x7FFFFFFFu);
}

static inline int lb_finite(float f) {
    return (lb_bits(f) & 0x7F800000u) != 0x7F800000u;
}

#if defined(__F16C__)
#include <immintrin.h>

/*
 * F16C converts exactly as Float.floatToFloat16 (round to nearest even, subnormals, overflow to infinity) and
 * Float.float16ToFloat for every non-NaN value, checked over all 2^32 floats; the kernels never convert a NaN.
 */
static inline uint16_t lb_f32_to_f16(float f) {
    return (uint16_t) _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}

static inline float lb_f16_to_f32(uint16_t h) {
    return _cvtsh_ss(h);
}
#else
/* Float.floatToFloat16: round to nearest even, subnormals kept, overflow to infinity. */
static inline uint16_t lb_f32_to_f16(float f) {
    uint32_t x = lb_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t a = x & 0x7FFFFFFFu;
    if (a > 0x7F800000u) { /* NaN: quiet, top mantissa bits kept (never reached by the kernels) */
        return (uint16_t) (sign | 0x7E00u | ((a >> 13) & 0x3FFu));
    }
    if (a >= 0x477FF000u) { /* >= 65520, the midpoint between 65504 and 2^16: infinity */
        return (uint16_t) (sign | 0x7C00u);
    }
    if (a < 0x38800000u) { /* below 2^-14: an fp16 subnormal, m * 2^-24 */
        uint32_t e = a >> 23;
        if (e < 102) { /* below 2^-25: rounds to 0 (2^-25 itself is a tie to the even 0) */
            return (uint16_t) sign;
        }
        uint32_t full = (a & 0x7FFFFFu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t m = full >> shift;
        uint32_t rest = full & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rest > half || (rest == half && (m & 1))) {
            m++;
        }
        return (uint16_t) (sign | m);
    }
    uint32_t h = (a >> 13) - (112u << 10);
    uint32_t rest = a & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) {
        h++; /* a carry into the exponent is right, up to infinity */
    }
    return (uint16_t) (sign | h);
}

/* Float.float16ToFloat. */
static inline float lb_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t) (h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1F;
    uint32_t m = h & 0x3FFu;
    if (e == 0) {
        float v = (float) m * 0x1p-24f; /* exact */
        return lb_float(lb_bits(v) | sign);
    }
    if (e == 31) {
        return lb_float(sign | 0x7F800000u | (m << 13));
    }
    return lb_float(sign | ((e + 112) << 23) | (m << 13));
}
#endif

static inline uint16_t lb_load_u16(const uint8_t *p) {
    return (uint16_t) (p[0] | (p[1] << 8));
}

static inline void lb_store_f16(uint8_t *p, float v) {
    uint16_t h = lb_f32_to_f16(v);
    p[0] = (uint8_t) h;
    p[1] = (uint8_t) (h >> 8);
}

/* A stored scale or zero point (fp16 or fp32, little-endian) at index i of a plane. */
static inline float lb_load_param(const void *plane, int64_t i, int f16) {
    const uint8_t *p = (const uint8_t *) plane;
    if (f16) {
        return lb_f16_to_f32(lb_load_u16(p + 2 * i));
    }
    float v;
    memcpy(&v, p + 4 * i, 4);
    return v;
}

/*
 * Float bits mapped to ints that order like Java's floats (-0 < +0); the map is its own inverse. A NaN maps
 * beyond both infinities, so a group holds a NaN or an infinity exactly when its min or max is not finite.
 */
static inline int32_t lb_sortable(uint32_t bits) {
    int32_t i = (int32_t) bits;
    return i ^ ((i >> 31) & 0x7FFFFFFF);
}

static inline float lb_unsortable(int32_t s) {
    return lb_float((uint32_t) (s ^ ((s >> 31) & 0x7FFFFFFF)));
}

/* Math.min / Math.max on floats, NaN and signed zeros included. */
static inline float lb_jmin(float a, float b) {
    if (a != a) {
        return a;
    }
    if (a == 0.0f && b == 0.0f && lb_bits(b) == 0x80000000u) {
        return b;
    }
    return a <= b ? a : b;
}

static inline float lb_jmax(float a, float b) {
    if (a != a) {
        return a;
    }
    if (a == 0.0f && b == 0.0f && lb_bits(a) == 0x80000000u) {
        return b;
    }
    return a >= b ? a : b;
}

/* ---------------------------------------------------------------- GroupParams */

static inline float lb_round_to(float v, int f16) {
    return f16 ? lb_f16_to_f32(lb_f32_to_f16(v)) : v;
}

/* ScaleType.nextAway: the next storable magnitude away from zero, with v's sign. */
static inline float lb_next_away(float v, int f16) {
    if (f16) {
        return lb_f16_to_f32((uint16_t) (lb_f32_to_f16(v) + 1));
    }
    uint32_t a = lb_bits(v) & 0x7FFFFFFFu;
    if (a < 0x7F800000u) {
        a++;
    }
    return lb_float(a | (lb_bits(v) & 0x80000000u));
}

/* GroupParams.storable: rounded to the type, never 0 for a non-zero group, finite or LB_RANGE. */
static inline int lb_storable(float d, float extent, int f16, float *out) {
    if (!lb_finite(d)) {
        return LB_RANGE;
    }
    float r = lb_round_to(d, f16);
    if (r == 0.0f && extent > 0.0f) {
        r = lb_next_away(lb_float(lb_bits(d) & 0x80000000u), f16);
    }
    if (!lb_finite(r)) {
        return LB_RANGE;
    }
    *out = r;
    return LB_OK;
}

/* GroupParams.widen. */
static inline int lb_widen(float d, float extent, int limit, int f16, float *out) {
    float r = 0.0f;
    if (lb_storable(d, extent, f16, &r) != LB_OK) {
        return LB_RANGE;
    }
    if (lb_abs(r) < (f16 ? 0x1p-14f : FLT_MIN)) {
        while (extent > 0.0f && extent / lb_abs(r) > (float) limit + 0.5f) {
            r = lb_next_away(r, f16);
        }
    }
    *out = r;
    return LB_OK;
}

/* GroupParams.widenStrict. */
static inline int lb_widen_strict(float d, float extent, int limit, int f16, float *out) {
    float r = 0.0f;
    if (lb_storable(d, extent, f16, &r) != LB_OK) {
        return LB_RANGE;
    }
    while (extent > 0.0f && extent / lb_abs(r) > (float) limit) {
        r = lb_next_away(r, f16);
    }
    *out = r;
    return LB_OK;
}

/* Per-group parameters of a uniform format: q = clamp(rint((x - sub) / d) + add, lo, hi); stored zero. */
typedef struct {
    float d, sub, add, zero;
} lb_params;

/*
 * ggml's block rules (dev.lowbit.kernels.impl.GgmlBlocks, after quantize_row_q8_0_ref, _q4_0_ref and _q4_1_ref of
 * ggml-quants.c): d in fp32, codes with id = 1/d (0 for d = 0), d and Q4_1's minimum rounded to fp16 only to be
 * stored. Q8_0: q = roundf(x * id); Q4: q = min(15, trunc((x - sub) * id + add)).
 */
typedef struct {
    float d, id, sub, add;
} lb_gparams;

/* The float just below 1/2: trunc(t + copysign(LB_HALF_BELOW, t)) is roundf(t). */
#define LB_HALF_BELOW 0.49999997f

static inline int lb_gparams_set(float d, float sub, float add, lb_gparams *p) {
    if (!lb_finite(d) || !lb_finite(lb_round_to(d, 1))) {
        return LB_RANGE;
    }
    p->d = d;
    p->id = d != 0.0f ? 1.0f / d : 0.0f;
    p->sub = sub;
    p->add = add;
    return LB_OK;
}

static inline int lb_gparams_q8_0(float absmax, lb_gparams *p) {
    return lb_gparams_set(absmax / 127.0f, 0.0f, 0.0f, p);
}

/* m: the block's first element of largest magnitude (0 for a block of zeros). */
static inline int lb_gparams_q4_0(float m, lb_gparams *p) {
    return lb_gparams_set(m / -8.0f, 0.0f, 8.5f, p);
}

/* min: with the sign of the block's first zero when it is 0. */
static inline int lb_gparams_q4_1(float min, float max, lb_gparams *p) {
    if (!lb_finite(lb_round_to(min, 1))) {
        return LB_RANGE;
    }
    return lb_gparams_set((max - min) / 15.0f, min, 0.5f, p);
}

/*
 * x86's truncation (cvttss2si, what ggml's casts compile to) without C's undefined cases: INT32_MIN for a NaN or a
 * value beyond the int range, which only a block whose id overflowed to infinity reaches; its codes are then 0.
 */
static inline int32_t lb_truncate(float t) {
    return t > -2147483648.0f && t < 2147483648.0f ? (int32_t) t : INT32_MIN;
}

/* Q8_0's int8 code: roundf(x * id), half away from zero. */
static inline int lb_gcode_q8(float x, float id) {
    float t = x * id;
    return (int8_t) (uint8_t) (uint32_t) lb_truncate(t + (t < 0.0f ? -LB_HALF_BELOW : LB_HALF_BELOW));
}

/* Q4's code, 0..15: min(15, trunc((x - sub) * id + add)), INT32_MIN's low nibble 0 for an overflowed id. */
static inline int lb_gcode_q4(float x, float id, float sub, float add) {
    int32_t q = lb_truncate((x - sub) * id + add);
    return (q > 15 ? 15 : q) & 15;
}

static inline int lb_params_grouped(int bits, int symmetric, int f16, float min, float max, float absmax,
                                    lb_params *p) {
    p->sub = 0.0f;
    if (symmetric) {
        int half = 1 << (bits - 1);
        p->add = (float) half;
        p->zero = (float) half;
        return lb_widen(absmax / (float) (half - 1), absmax, half - 1, f16, &p->d);
    }
    int qmax = (1 << bits) - 1;
    float lo = lb_jmin(min, 0.0f);
    float hi = lb_jmax(max, 0.0f);
    float range = hi - lo;
    if (lb_widen_strict(range / (float) qmax, range, qmax, f16, &p->d) != LB_OK) {
        return LB_RANGE;
    }
    float z = 0.0f;
    if (p->d != 0.0f) {
        float t = -lo / p->d; /* in [0, qmax] by the widening */
        z = (t + 12582912.0f) - 12582912.0f + 0.0f; /* rint, ties to even; + 0 turns -0 into +0 */
    }
    p->add = z;
    p->zero = z;
    return LB_OK;
}

/* Java's (byte) max(lo, min(hi, (int) (rint(t) + add))) for finite t, with rint by the 1.5 * 2^23 trick. */
static inline int lb_code(float t, float add, float lo, float hi) {
    /* Beyond +-1024 the code clamps to lo or hi whatever the rounding; inside, the trick is exact. */
    t = t < -1024.0f ? -1024.0f : t;
    t = t > 1024.0f ? 1024.0f : t;
    float q = ((t + 12582912.0f) - 12582912.0f) + add;
    q = q < lo ? lo : q;
    q = q > hi ? hi : q;
    return (int) q;
}

#endif

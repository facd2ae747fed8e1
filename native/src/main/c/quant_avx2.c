/*
 * Quantize and dequantize with AVX2: 8 floats per step for the statistics, the codes and the ggml dequantizers.
 * The arithmetic is that of quant_scalar.h in the same order (a true division, the 1.5 * 2^23 rint, clamps in
 * float), so the bits are the generic tier's; tails shorter than a vector run quant_scalar.h itself.
 */
#include <immintrin.h>

#include "quant_scalar.h"

static inline __m256i lb8_sortable(__m256 v) {
    __m256i i = _mm256_castps_si256(v);
    return _mm256_xor_si256(i, _mm256_and_si256(_mm256_srai_epi32(i, 31), _mm256_set1_epi32(0x7FFFFFFF)));
}

static inline void lb8_minmax(const float *x, int64_t n, int32_t *smin, int32_t *smax) {
    int64_t i = 0;
    int32_t lo = INT32_MAX, hi = INT32_MIN;
    if (n >= 8) {
        __m256i vlo = lb8_sortable(_mm256_loadu_ps(x));
        __m256i vhi = vlo;
        for (i = 8; i + 8 <= n; i += 8) {
            __m256i s = lb8_sortable(_mm256_loadu_ps(x + i));
            vlo = _mm256_min_epi32(vlo, s);
            vhi = _mm256_max_epi32(vhi, s);
        }
        __m128i a = _mm_min_epi32(_mm256_castsi256_si128(vlo), _mm256_extracti128_si256(vlo, 1));
        __m128i b = _mm_max_epi32(_mm256_castsi256_si128(vhi), _mm256_extracti128_si256(vhi, 1));
        a = _mm_min_epi32(a, _mm_shuffle_epi32(a, 0x4E));
        b = _mm_max_epi32(b, _mm_shuffle_epi32(b, 0x4E));
        a = _mm_min_epi32(a, _mm_shuffle_epi32(a, 0xB1));
        b = _mm_max_epi32(b, _mm_shuffle_epi32(b, 0xB1));
        lo = _mm_cvtsi128_si32(a);
        hi = _mm_cvtsi128_si32(b);
    }
    if (i < n) {
        int32_t tlo, thi;
        lb_scalar_minmax(x + i, n - i, &tlo, &thi);
        lo = tlo < lo ? tlo : lo;
        hi = thi > hi ? thi : hi;
    }
    *smin = lo;
    *smax = hi;
}

/* lb_scalar_first_abs: a whole block by four compares and one bit scan. */
static inline int lb8_first_abs(const float *x, int n, uint32_t a) {
    if (n != 32) {
        return lb_scalar_first_abs(x, n, a);
    }
    const __m256i abs = _mm256_set1_epi32(0x7FFFFFFF);
    const __m256i va = _mm256_set1_epi32((int) a);
    uint32_t hit = 0;
    for (int i = 0; i < 4; i++) {
        __m256i v = _mm256_and_si256(_mm256_castps_si256(_mm256_loadu_ps(x + 8 * i)), abs);
        hit |= (uint32_t) _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(v, va))) << (8 * i);
    }
    return __builtin_ctz(hit);
}

static inline uint32_t lb8_absmax_bits(const float *x, int n) {
    const __m256i abs = _mm256_set1_epi32(0x7FFFFFFF);
    __m256i m = _mm256_setzero_si256();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        m = _mm256_max_epi32(m, _mm256_and_si256(_mm256_castps_si256(_mm256_loadu_ps(x + i)), abs));
    }
    __m128i a = _mm_max_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    a = _mm_max_epi32(a, _mm_shuffle_epi32(a, 0x4E));
    a = _mm_max_epi32(a, _mm_shuffle_epi32(a, 0xB1));
    uint32_t r = (uint32_t) _mm_cvtsi128_si32(a);
    uint32_t t = lb_scalar_absmax_bits(x + i, n - i);
    return t > r ? t : r;
}

/* Eight codes as int32 lanes: clamp(rint(clamp((x - sub) / d, +-1024)) + add, lo, hi). */
static inline __m256i lb8_code(__m256 x, __m256 d, __m256 sub, __m256 add, __m256 lo, __m256 hi) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 t = _mm256_div_ps(_mm256_sub_ps(x, sub), d);
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-1024.0f)), _mm256_set1_ps(1024.0f));
    __m256 q = _mm256_add_ps(_mm256_sub_ps(_mm256_add_ps(t, magic), magic), add);
    q = _mm256_min_ps(_mm256_max_ps(q, lo), hi);
    return _mm256_cvttps_epi32(q);
}

/* The low byte of each of 8 int32 lanes (codes in [-128, 255]) as 8 bytes. */
static inline __m128i lb8_bytes(__m256i q) {
    __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    w = _mm_and_si128(w, _mm_set1_epi16(0xFF));
    return _mm_packus_epi16(w, w);
}

static inline void lb8_codes(const float *x, int n, float d, float sub, float add, float lo, float hi, int8_t *out) {
    __m256 vd = _mm256_set1_ps(d), vs = _mm256_set1_ps(sub), va = _mm256_set1_ps(add);
    __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i a = lb8_code(_mm256_loadu_ps(x + i), vd, vs, va, vlo, vhi);
        __m256i b = lb8_code(_mm256_loadu_ps(x + i + 8), vd, vs, va, vlo, vhi);
        __m128i ba = lb8_bytes(a), bb = lb8_bytes(b);
        _mm_storeu_si128((__m128i *) (out + i), _mm_unpacklo_epi64(ba, bb));
    }
    for (; i + 8 <= n; i += 8) {
        _mm_storel_epi64((__m128i *) (out + i), lb8_bytes(lb8_code(_mm256_loadu_ps(x + i), vd, vs, va, vlo, vhi)));
    }
    lb_scalar_codes(x + i, n - i, d, sub, add, lo, hi, out + i);
}

/* lb_gcode_q8 in 8 lanes: roundf(x * id) as trunc(t + copysign(0.49999997, t)). */
static inline __m256i lb8_gcode_q8(__m256 x, __m256 id) {
    __m256 t = _mm256_mul_ps(x, id);
    __m256 neg = _mm256_cmp_ps(t, _mm256_setzero_ps(), _CMP_LT_OQ);
    __m256 h = _mm256_blendv_ps(_mm256_set1_ps(LB_HALF_BELOW), _mm256_set1_ps(-LB_HALF_BELOW), neg);
    return _mm256_cvttps_epi32(_mm256_add_ps(t, h));
}

/* lb_gcode_q4 in 8 lanes: min(15, trunc((x - sub) * id + add)). */
static inline __m256i lb8_gcode_q4(__m256 x, __m256 id, __m256 sub, __m256 add) {
    __m256 t = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(x, sub), id), add);
    return _mm256_min_epi32(_mm256_cvttps_epi32(t), _mm256_set1_epi32(15));
}

static inline void lb8_q8_codes32(const float *x, float id, uint8_t *out) {
    __m256 vi = _mm256_set1_ps(id);
    for (int j = 0; j < 32; j += 8) {
        _mm_storel_epi64((__m128i *) (out + j), lb8_bytes(lb8_gcode_q8(_mm256_loadu_ps(x + j), vi)));
    }
}

static inline void lb8_q4_codes32(const float *x, float id, float sub, float add, uint8_t *out) {
    __m256 vi = _mm256_set1_ps(id), vs = _mm256_set1_ps(sub), va = _mm256_set1_ps(add);
    __m128i c[4];
    for (int j = 0; j < 4; j++) {
        c[j] = lb8_bytes(lb8_gcode_q4(_mm256_loadu_ps(x + 8 * j), vi, vs, va));
    }
    __m128i low = _mm_unpacklo_epi64(c[0], c[1]), high = _mm_unpacklo_epi64(c[2], c[3]);
    /* nibbles are <= 15, so a 16-bit shift moves each high code into its own byte's top half */
    _mm_storeu_si128((__m128i *) out, _mm_or_si128(low, _mm_slli_epi16(high, 4)));
}

static inline void lb8_cb_codes(const float *x, int n, float d, const float *mid, int8_t *out) {
    __m256 vd = _mm256_set1_ps(d);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), vd);
        __m256i c = _mm256_setzero_si256();
        for (int k = 0; k < 15; k++) { /* a true compare is all ones, -1: subtracting it counts */
            c = _mm256_sub_epi32(c, _mm256_castps_si256(_mm256_cmp_ps(_mm256_set1_ps(mid[k]), v, _CMP_LT_OQ)));
        }
        _mm_storel_epi64((__m128i *) (out + i), lb8_bytes(c));
    }
    lb_scalar_cb_codes(x + i, n - i, d, mid, out + i);
}

static inline void lb8_deq_q8_0(const uint8_t *blk, float *out) {
    __m256 d = _mm256_set1_ps(lb_f16_to_f32(lb_load_u16(blk)));
    for (int j = 0; j < 32; j += 8) {
        __m128i q = _mm_loadl_epi64((const __m128i *) (blk + 2 + j));
        _mm256_storeu_ps(out + j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
    }
}

static inline void lb8_deq_q4(const uint8_t *blk, int q41, float *out) {
    __m256 d = _mm256_set1_ps(lb_f16_to_f32(lb_load_u16(blk)));
    __m256 m = _mm256_set1_ps(q41 ? lb_f16_to_f32(lb_load_u16(blk + 2)) : 0.0f);
    __m128i bytes = _mm_loadu_si128((const __m128i *) (blk + (q41 ? 4 : 2)));
    __m128i lo = _mm_and_si128(bytes, _mm_set1_epi8(15));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), _mm_set1_epi8(15));
    __m256i eight = _mm256_set1_epi32(8);
    for (int h = 0; h < 2; h++) {
        __m128i nib = h == 0 ? lo : hi;
        for (int j = 0; j < 16; j += 8) {
            __m256i c = _mm256_cvtepu8_epi32(j == 0 ? nib : _mm_srli_si128(nib, 8));
            __m256 v;
            if (q41) {
                v = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(c), d), m);
            } else {
                v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(c, eight)), d);
            }
            _mm256_storeu_ps(out + h * 16 + j, v);
        }
    }
}

/* 8 codes from i (even) as int32 lanes: 8 bits from 8 bytes, 4 bits from 4 bytes (element 2j low nibble of byte j). */
static inline __m256i lb8_unpack(const uint8_t *row, int bits, int64_t i) {
    if (bits == 8) {
        return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *) (row + i)));
    }
    int32_t w;
    memcpy(&w, row + (i >> 1), 4);
    __m128i b = _mm_cvtsi32_si128(w);
    __m128i lo = _mm_and_si128(b, _mm_set1_epi8(15));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(15));
    return _mm256_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi));
}

static inline void lb8_deq_codes(const uint8_t *row, int bits, int64_t i, int n, float z, float d,
                                 const float *levels, float *out) {
    int k = 0;
    if (bits == 8 || bits == 4) { /* groups and chunks start at even elements */
        __m256 vd = _mm256_set1_ps(d), vz = _mm256_set1_ps(z);
        for (; k + 8 <= n; k += 8) {
            __m256i c = lb8_unpack(row, bits, i + k);
            __m256 v = levels != NULL ? _mm256_i32gather_ps(levels, c, 4) : _mm256_sub_ps(_mm256_cvtepi32_ps(c), vz);
            _mm256_storeu_ps(out + k, _mm256_mul_ps(v, vd));
        }
    }
    lb_scalar_deq_codes(row, bits, i + k, n - k, z, d, levels, out + k);
}

static inline int64_t lb8_first_non_finite(const float *x, int64_t n) {
    const __m256i exp = _mm256_set1_epi32(0x7F800000);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i e = _mm256_and_si256(_mm256_castps_si256(_mm256_loadu_ps(x + i)), exp);
        if (_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(e, exp))) != 0) {
            break;
        }
    }
    int64_t t = lb_scalar_first_non_finite(x + i, n - i);
    return t < 0 ? -1 : i + t;
}

#define lb_tier_minmax lb8_minmax
#define lb_tier_absmax_bits lb8_absmax_bits
#define lb_tier_first_abs lb8_first_abs
#define lb_tier_codes lb8_codes
#define lb_tier_q8_codes32 lb8_q8_codes32
#define lb_tier_q4_codes32 lb8_q4_codes32
#define lb_tier_cb_codes lb8_cb_codes
#define lb_tier_deq_q8_0 lb8_deq_q8_0
#define lb_tier_deq_q4 lb8_deq_q4
#define lb_tier_deq_codes lb8_deq_codes
#define lb_tier_first_non_finite lb8_first_non_finite

#include "quant_impl.h"

/*
 * Quantize and dequantize with AVX-512: 16 floats per step, tails under a lane mask (masked-off lanes are neither
 * read nor written, so a row may end at an unmapped page). Same operations in the same order as quant_scalar.h,
 * so the bits are the generic tier's.
 */
#include <immintrin.h>

#include "quant_scalar.h"

static inline __mmask16 lb16_mask(int64_t n) {
    return n >= 16 ? (__mmask16) 0xFFFF : (__mmask16) ((1u << n) - 1);
}

static inline __m512i lb16_sortable(__m512 v) {
    __m512i i = _mm512_castps_si512(v);
    return _mm512_xor_si512(i, _mm512_and_si512(_mm512_srai_epi32(i, 31), _mm512_set1_epi32(0x7FFFFFFF)));
}

static inline void lb16_minmax(const float *x, int64_t n, int32_t *smin, int32_t *smax) {
    __m512i vlo = _mm512_set1_epi32(INT32_MAX);
    __m512i vhi = _mm512_set1_epi32(INT32_MIN);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i s = lb16_sortable(_mm512_loadu_ps(x + i));
        vlo = _mm512_min_epi32(vlo, s);
        vhi = _mm512_max_epi32(vhi, s);
    }
    if (i < n) {
        __mmask16 k = lb16_mask(n - i);
        __m512i s = lb16_sortable(_mm512_maskz_loadu_ps(k, x + i));
        vlo = _mm512_mask_min_epi32(vlo, k, vlo, s);
        vhi = _mm512_mask_max_epi32(vhi, k, vhi, s);
    }
    *smin = _mm512_reduce_min_epi32(vlo);
    *smax = _mm512_reduce_max_epi32(vhi);
}

static inline uint32_t lb16_absmax_bits(const float *x, int n) {
    const __m512i abs = _mm512_set1_epi32(0x7FFFFFFF);
    __m512i m = _mm512_setzero_si512();
    for (int i = 0; i < n; i += 16) {
        __m512i v = _mm512_castps_si512(_mm512_maskz_loadu_ps(lb16_mask(n - i), x + i));
        m = _mm512_max_epi32(m, _mm512_and_si512(v, abs));
    }
    return (uint32_t) _mm512_reduce_max_epi32(m);
}

/* lb_scalar_first_abs: a whole block by two compares and one bit scan. */
static inline int lb16_first_abs(const float *x, int n, uint32_t a) {
    if (n != 32) {
        return lb_scalar_first_abs(x, n, a);
    }
    const __m512i abs = _mm512_set1_epi32(0x7FFFFFFF);
    const __m512i va = _mm512_set1_epi32((int) a);
    __m512i v0 = _mm512_and_si512(_mm512_castps_si512(_mm512_loadu_ps(x)), abs);
    __m512i v1 = _mm512_and_si512(_mm512_castps_si512(_mm512_loadu_ps(x + 16)), abs);
    uint32_t hit = (uint32_t) _mm512_cmpeq_epi32_mask(v0, va) | ((uint32_t) _mm512_cmpeq_epi32_mask(v1, va) << 16);
    return __builtin_ctz(hit);
}

static inline __m512i lb16_code(__m512 x, __m512 d, __m512 sub, __m512 add, __m512 lo, __m512 hi) {
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 t = _mm512_div_ps(_mm512_sub_ps(x, sub), d);
    t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(-1024.0f)), _mm512_set1_ps(1024.0f));
    __m512 q = _mm512_add_ps(_mm512_sub_ps(_mm512_add_ps(t, magic), magic), add);
    q = _mm512_min_ps(_mm512_max_ps(q, lo), hi);
    return _mm512_cvttps_epi32(q);
}

static inline void lb16_codes(const float *x, int n, float d, float sub, float add, float lo, float hi, int8_t *out) {
    __m512 vd = _mm512_set1_ps(d), vs = _mm512_set1_ps(sub), va = _mm512_set1_ps(add);
    __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = lb16_mask(n - i);
        /* masked-off lanes load 1.0f, so that no lane divides 0 by 0 */
        __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(1.0f), k, x + i);
        _mm512_mask_cvtepi32_storeu_epi8(out + i, k, lb16_code(v, vd, vs, va, vlo, vhi));
    }
}

/* lb_gcode_q8 in 16 lanes: roundf(x * id) as trunc(t + copysign(0.49999997, t)). */
static inline __m512i lb16_gcode_q8(__m512 x, __m512 id) {
    __m512 t = _mm512_mul_ps(x, id);
    __mmask16 neg = _mm512_cmp_ps_mask(t, _mm512_setzero_ps(), _CMP_LT_OQ);
    __m512 h = _mm512_mask_blend_ps(neg, _mm512_set1_ps(LB_HALF_BELOW), _mm512_set1_ps(-LB_HALF_BELOW));
    return _mm512_cvttps_epi32(_mm512_add_ps(t, h));
}

/* lb_gcode_q4 in 16 lanes: min(15, trunc((x - sub) * id + add)). */
static inline __m512i lb16_gcode_q4(__m512 x, __m512 id, __m512 sub, __m512 add) {
    __m512 t = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(x, sub), id), add);
    return _mm512_min_epi32(_mm512_cvttps_epi32(t), _mm512_set1_epi32(15));
}

static inline void lb16_q8_codes32(const float *x, float id, uint8_t *out) {
    __m512 vi = _mm512_set1_ps(id);
    _mm_storeu_si128((__m128i *) out, _mm512_cvtepi32_epi8(lb16_gcode_q8(_mm512_loadu_ps(x), vi)));
    _mm_storeu_si128((__m128i *) (out + 16), _mm512_cvtepi32_epi8(lb16_gcode_q8(_mm512_loadu_ps(x + 16), vi)));
}

/*
 * Sixteen whole Q8_0 blocks at once: the magnitudes' maxima go through a transposing tree of maxima (block b ends
 * in lane b), then d = absmax / 127, its fp16 rounding and id = 1 / d run in 16 lanes, exactly as lb_gparams_q8_0
 * does them one at a time. Returns 0, writing nothing, when a block holds a NaN or an infinity or needs a scale
 * fp16 cannot hold: the scalar steps take (and refuse) those.
 */
static inline __m512i lb16_absbits32(const float *x) {
    const __m512i m = _mm512_set1_epi32(0x7FFFFFFF);
    return _mm512_max_epi32(_mm512_and_si512(_mm512_castps_si512(_mm512_loadu_ps(x)), m),
                            _mm512_and_si512(_mm512_castps_si512(_mm512_loadu_ps(x + 16)), m));
}

/* Two vectors of partial maxima, 16 lanes each, to one: a's 8 in lanes 0..7, b's in 8..15. */
static inline __m512i lb16_fold8(__m512i a, __m512i b) {
    return _mm512_max_epi32(_mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                            _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
}

/* Two vectors of 2 blocks x 8 lanes to one of 4 blocks x 4 lanes, a block per 128-bit lane. */
static inline __m512i lb16_fold4(__m512i a, __m512i b) {
    return _mm512_max_epi32(_mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

static inline int lb16_q8_0_x16(const float *x, uint8_t *out) {
    __m512i v[8], w[4];
    for (int i = 0; i < 8; i++) { /* v[i]: blocks 2i, 2i + 1 */
        v[i] = lb16_fold8(lb16_absbits32(x + 64 * i), lb16_absbits32(x + 64 * i + 32));
    }
    for (int j = 0; j < 4; j++) { /* w[j]: blocks 4j .. 4j + 3, one per 128-bit lane */
        w[j] = lb16_fold4(v[2 * j], v[2 * j + 1]);
    }
    /* 128-bit lane l of x0: blocks l and 4 + l, two lanes each; of x1: blocks 8 + l and 12 + l */
    __m512i x0 = _mm512_max_epi32(_mm512_unpacklo_epi64(w[0], w[1]), _mm512_unpackhi_epi64(w[0], w[1]));
    __m512i x1 = _mm512_max_epi32(_mm512_unpacklo_epi64(w[2], w[3]), _mm512_unpackhi_epi64(w[2], w[3]));
    /* lane 4l + s: block l + 4s */
    __m512 p0 = _mm512_shuffle_ps(_mm512_castsi512_ps(x0), _mm512_castsi512_ps(x1), _MM_SHUFFLE(2, 0, 2, 0));
    __m512 p1 = _mm512_shuffle_ps(_mm512_castsi512_ps(x0), _mm512_castsi512_ps(x1), _MM_SHUFFLE(3, 1, 3, 1));
    __m512i am = _mm512_max_epi32(_mm512_castps_si512(p0), _mm512_castps_si512(p1));
    am = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), am);
    if (_mm512_cmpge_epu32_mask(am, _mm512_set1_epi32(0x7F800000)) != 0) {
        return 0;
    }
    __m512 a = _mm512_castsi512_ps(am);
    __m512 d = _mm512_div_ps(a, _mm512_set1_ps(127.0f));
    __m256i h = _mm512_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    if (_mm512_cmp_ps_mask(_mm512_cvtph_ps(h), _mm512_set1_ps(65504.0f), _CMP_LE_OQ) != 0xFFFF) {
        return 0;
    }
    __mmask16 nz = _mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_OQ);
    __m512 id = _mm512_maskz_div_ps(nz, _mm512_set1_ps(1.0f), d);
    float ids[16];
    uint16_t hs[16];
    _mm512_storeu_ps(ids, id);
    _mm256_storeu_si256((__m256i *) hs, h);
    for (int b = 0; b < 16; b++) {
        uint8_t *blk = out + 34 * b;
        blk[0] = (uint8_t) hs[b];
        blk[1] = (uint8_t) (hs[b] >> 8);
        lb16_q8_codes32(x + 32 * b, ids[b], blk + 2);
    }
    return 1;
}

static inline void lb16_q4_codes32(const float *x, float id, float sub, float add, uint8_t *out) {
    __m512 vi = _mm512_set1_ps(id), vs = _mm512_set1_ps(sub), va = _mm512_set1_ps(add);
    __m512i a = lb16_gcode_q4(_mm512_loadu_ps(x), vi, vs, va);
    __m512i b = lb16_gcode_q4(_mm512_loadu_ps(x + 16), vi, vs, va);
    __m128i low = _mm512_cvtepi32_epi8(a);
    __m128i high = _mm512_cvtepi32_epi8(b);
    /* nibbles are <= 15, so a 16-bit shift moves each high code into its own byte's top half */
    _mm_storeu_si128((__m128i *) out, _mm_or_si128(low, _mm_slli_epi16(high, 4)));
}

static inline void lb16_cb_codes(const float *x, int n, float d, const float *mid, int8_t *out) {
    __m512 vd = _mm512_set1_ps(d);
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = lb16_mask(n - i);
        __m512 v = _mm512_div_ps(_mm512_mask_loadu_ps(_mm512_set1_ps(1.0f), k, x + i), vd);
        __m512i c = _mm512_setzero_si512();
        for (int m = 0; m < 15; m++) {
            __mmask16 below = _mm512_cmp_ps_mask(_mm512_set1_ps(mid[m]), v, _CMP_LT_OQ);
            c = _mm512_mask_add_epi32(c, below, c, _mm512_set1_epi32(1));
        }
        _mm512_mask_cvtepi32_storeu_epi8(out + i, k, c);
    }
}

static inline void lb16_deq_q8_0(const uint8_t *blk, float *out) {
    __m512 d = _mm512_set1_ps(lb_f16_to_f32(lb_load_u16(blk)));
    for (int j = 0; j < 32; j += 16) {
        __m128i q = _mm_loadu_si128((const __m128i *) (blk + 2 + j));
        _mm512_storeu_ps(out + j, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d));
    }
}

static inline void lb16_deq_q4(const uint8_t *blk, int q41, float *out) {
    __m512 d = _mm512_set1_ps(lb_f16_to_f32(lb_load_u16(blk)));
    __m128i bytes = _mm_loadu_si128((const __m128i *) (blk + (q41 ? 4 : 2)));
    __m512i lo = _mm512_cvtepu8_epi32(_mm_and_si128(bytes, _mm_set1_epi8(15)));
    __m512i hi = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(bytes, 4), _mm_set1_epi8(15)));
    if (q41) {
        __m512 m = _mm512_set1_ps(lb_f16_to_f32(lb_load_u16(blk + 2)));
        _mm512_storeu_ps(out, _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(lo), d), m));
        _mm512_storeu_ps(out + 16, _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(hi), d), m));
        return;
    }
    __m512i eight = _mm512_set1_epi32(8);
    _mm512_storeu_ps(out, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(lo, eight)), d));
    _mm512_storeu_ps(out + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(hi, eight)), d));
}

/* 16 codes from i (even) as int32 lanes: 8 bits from 16 bytes, 4 bits from 8 bytes (element 2j low nibble of byte j). */
static inline __m512i lb16_unpack(const uint8_t *row, int bits, int64_t i) {
    if (bits == 8) {
        return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *) (row + i)));
    }
    __m128i b = _mm_loadl_epi64((const __m128i *) (row + (i >> 1)));
    __m128i lo = _mm_and_si128(b, _mm_set1_epi8(15));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(15));
    return _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi));
}

static inline void lb16_deq_codes(const uint8_t *row, int bits, int64_t i, int n, float z, float d,
                                  const float *levels, float *out) {
    int k = 0;
    if (bits == 8 || bits == 4) { /* groups and chunks start at even elements */
        __m512 vd = _mm512_set1_ps(d), vz = _mm512_set1_ps(z);
        __m512 table = levels != NULL ? _mm512_loadu_ps(levels) : vz;
        for (; k + 16 <= n; k += 16) {
            __m512i c = lb16_unpack(row, bits, i + k);
            __m512 v = levels != NULL ? _mm512_permutexvar_ps(c, table) : _mm512_sub_ps(_mm512_cvtepi32_ps(c), vz);
            _mm512_storeu_ps(out + k, _mm512_mul_ps(v, vd));
        }
    }
    lb_scalar_deq_codes(row, bits, i + k, n - k, z, d, levels, out + k);
}

static inline int64_t lb16_first_non_finite(const float *x, int64_t n) {
    const __m512i exp = _mm512_set1_epi32(0x7F800000);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = lb16_mask(n - i);
        __m512i e = _mm512_and_si512(_mm512_castps_si512(_mm512_maskz_loadu_ps(k, x + i)), exp);
        __mmask16 bad = _mm512_mask_cmpeq_epi32_mask(k, e, exp);
        if (bad != 0) {
            return i + __builtin_ctz(bad);
        }
    }
    return -1;
}

#define lb_tier_minmax lb16_minmax
#define lb_tier_absmax_bits lb16_absmax_bits
#define lb_tier_first_abs lb16_first_abs
#define lb_tier_codes lb16_codes
#define lb_tier_q8_codes32 lb16_q8_codes32
#define lb_tier_q8_0_x16 lb16_q8_0_x16
#define lb_tier_q4_codes32 lb16_q4_codes32
#define lb_tier_cb_codes lb16_cb_codes
#define lb_tier_deq_q8_0 lb16_deq_q8_0
#define lb_tier_deq_q4 lb16_deq_q4
#define lb_tier_deq_codes lb16_deq_codes
#define lb_tier_first_non_finite lb16_first_non_finite

#include "quant_impl.h"

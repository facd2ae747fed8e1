/*
 * Matmuls of Q4_1, grouped integer planes and 4-bit codebooks with AVX2.
 *
 * Integer path: the tiles of matmul_planes_tiles_impl.h on these block sums (exact, as in matmul_avx2.c):
 *  - 8-bit codes: the signed code u - 128 (u XOR 0x80) and the activations widened to int16, pair sums by
 *    vpmaddwd (|pair| <= 2 * 128 * 128 = 32768 in int32); vpmaddubsw cannot take u (2 * 255 * 128 saturates).
 *  - 4-bit codes: vpmaddubsw on the nibble u (0..15) and x, pairs at most 2 * 15 * 128 = 3840, widened by
 *    vpmaddwd with ones; sub * sum(x) (sub 8 for symmetric codes), from the same two instructions, comes off.
 *
 * Weight-only path: as matmul_planes_avx512.c with 8 lanes: codes unpacked by shifts (vpsrlvd), codebook
 * levels by two vpermps and a blend, s = s + v * x by FMA per group, acc = acc + d * s by FMA, lanes added first
 * to last once per row and token, up to 4 tokens per unpacked chunk, a partial last chunk through a zero-padded
 * copy and a masked load. Q4_1 as matmul_avx2.c does Q4_0, plus m * sum(x) per block by FMA.
 */
#include <immintrin.h>
#include "lowbit.h"
#include "matmul_planes.h"

/* One token's block of activations, prepared once for all rows of a tile. */
typedef struct {
    __m256i a;    /* MG_W8: codes 0..15 as int16; else the 32 codes (MG_W4: evens then odds) */
    __m256i b;    /* MG_W8: codes 16..31 as int16; else sub * sum(x) spread over the int32 lanes */
    int32_t xsum; /* sum(x) when asked for */
} mg_x;

static inline mg_x mg_prep(const int mode, const int sub, const int need_sum, const int8_t *x) {
    mg_x p;
    p.xsum = 0;
    if (mode == MG_W8) {
        p.a = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) x));
        p.b = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (x + 16)));
        if (need_sum) {
            const __m256i one = _mm256_set1_epi16(1);
            p.xsum = mg_hsum(_mm256_add_epi32(_mm256_madd_epi16(p.a, one), _mm256_madd_epi16(p.b, one)));
        }
        return p;
    }
    __m256i v = _mm256_loadu_si256((const __m256i *) x);
    p.a = mode == MG_W4 ? mg_evens_odds(v) : v;
    p.b = _mm256_setzero_si256();
    if (sub != 0 || need_sum) {
        __m256i pairs = _mm256_maddubs_epi16(_mm256_set1_epi8(1), v); /* |pair| <= 256 */
        __m256i s = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
        if (sub != 0) {
            p.b = _mm256_slli_epi32(s, 3);
        }
        if (need_sum) {
            p.xsum = mg_hsum(s);
        }
    }
    return p;
}

static inline __m256i mg_dot(const int mode, const uint8_t *q, const mg_x *x) {
    if (mode == MG_W8) {
        const __m128i flip = _mm_set1_epi8((char) 0x80);
        __m256i lo = _mm256_cvtepi8_epi16(_mm_xor_si128(_mm_loadu_si128((const __m128i *) q), flip));
        __m256i hi = _mm256_cvtepi8_epi16(_mm_xor_si128(_mm_loadu_si128((const __m128i *) (q + 16)), flip));
        return _mm256_add_epi32(_mm256_madd_epi16(lo, x->a), _mm256_madd_epi16(hi, x->b));
    }
    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(mg_nibbles(q), x->a), _mm256_set1_epi16(1));
    return _mm256_sub_epi32(p, x->b);
}

#include "matmul_planes_tiles_impl.h"

/* 8 codes of bits each from p (the chunk's first byte; bits bytes are read). */
static inline __m256i codes8(const int bits, const uint8_t *p) {
    switch (bits) {
        case 8:
            return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *) p));
        case 4: {
            uint32_t u;
            memcpy(&u, p, 4);
            __m128i v = _mm_cvtsi32_si128((int) u);
            __m256i b = _mm256_cvtepu8_epi32(_mm_unpacklo_epi8(v, v));
            return _mm256_and_si256(_mm256_srlv_epi32(b, _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4)),
                                    _mm256_set1_epi32(15));
        }
        case 2: {
            __m256i v = _mm256_set1_epi32(lb_load_u16(p));
            return _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                                    _mm256_set1_epi32(3));
        }
        default: {
            __m256i v = _mm256_set1_epi32(p[0] | p[1] << 8 | p[2] << 16);
            return _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21)),
                                    _mm256_set1_epi32(7));
        }
    }
}

/* The multipliers of the scale: code - z, or levels[code] (lv0: levels 0..7, lv1: 8..15). */
static inline __m256 values8(const int bits, const int cb, const uint8_t *p, __m256 z, __m256 lv0, __m256 lv1) {
    __m256i c = codes8(bits, p);
    if (cb) {
        __m256 lo = _mm256_permutevar8x32_ps(lv0, c);
        __m256 hi = _mm256_permutevar8x32_ps(lv1, c);
        return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(c, 28)));
    }
    return _mm256_sub_ps(_mm256_cvtepi32_ps(c), z);
}

/* Row wr times nt tokens from xt (stride k): y for each (tail: the row's partial last chunk, zero padded). */
static inline __attribute__((always_inline)) void grouped_row(const int bits, const int cb, const int nt,
                                                              const uint8_t *wr, const uint8_t *tail,
                                                              const void *scales, const void *zeros, int64_t g0,
                                                              int32_t gpr, int32_t group_len, int symmetric, int f16,
                                                              const float *levels, const float *xt, int32_t k,
                                                              float *yt, int64_t ldy) {
    const __m256 lv0 = cb ? _mm256_loadu_ps(levels) : _mm256_setzero_ps();
    const __m256 lv1 = cb ? _mm256_loadu_ps(levels + 8) : _mm256_setzero_ps();
    __m256 acc[4];
    for (int j = 0; j < nt; j++) {
        acc[j] = _mm256_setzero_ps();
    }
    for (int32_t g = 0; g < gpr; g++) {
        float z = cb ? 0.0f : symmetric ? (float) (1 << (bits - 1)) : lb_load_param(zeros, g0 + g, f16);
        __m256 vz = _mm256_set1_ps(z);
        int64_t c = (int64_t) g * group_len;
        int64_t c1 = c + group_len < k ? c + group_len : k;
        __m256 s[4];
        for (int j = 0; j < nt; j++) {
            s[j] = _mm256_setzero_ps();
        }
        for (; c + 8 <= c1; c += 8) {
            __m256 v = values8(bits, cb, wr + c * bits / 8, vz, lv0, lv1);
            for (int j = 0; j < nt; j++) {
                s[j] = _mm256_fmadd_ps(v, _mm256_loadu_ps(xt + j * (int64_t) k + c), s[j]);
            }
        }
        if (c < c1) { /* c == k & ~7: the row's last, partial chunk */
            __m256 v = values8(bits, cb, tail, vz, lv0, lv1);
            __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int) (c1 - c)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            for (int j = 0; j < nt; j++) {
                s[j] = _mm256_fmadd_ps(v, _mm256_maskload_ps(xt + j * (int64_t) k + c, m), s[j]);
            }
        }
        __m256 d = _mm256_set1_ps(lb_load_param(scales, g0 + g, f16));
        for (int j = 0; j < nt; j++) {
            acc[j] = _mm256_fmadd_ps(s[j], d, acc[j]);
        }
    }
    for (int j = 0; j < nt; j++) {
        yt[j * ldy] = mm_lanes8_in_order(acc[j]);
    }
}


/* Q4_1 row wr times nt tokens. */
static inline __attribute__((always_inline)) void q4_1_row(const int nt, const uint8_t *wr, const float *xt,
                                                           int32_t k, float *yt, int64_t ldy) {
    const int32_t full = k / 32;
    const __m256i low4 = _mm256_set1_epi32(15);
    __m256 acc[4];
    for (int j = 0; j < nt; j++) {
        acc[j] = _mm256_setzero_ps();
    }
    for (int32_t b = 0; b < full; b++) {
        const uint8_t *blk = wr + (int64_t) b * MM_Q4_1_BYTES;
        __m128i v = _mm_loadu_si128((const __m128i *) (blk + 4));
        __m256i a = _mm256_cvtepu8_epi32(v);                    /* bytes 0..7 */
        __m256i c = _mm256_cvtepu8_epi32(_mm_srli_si128(v, 8)); /* bytes 8..15 */
        __m256 e0 = _mm256_cvtepi32_ps(_mm256_and_si256(a, low4));
        __m256 e1 = _mm256_cvtepi32_ps(_mm256_and_si256(c, low4));
        __m256 e2 = _mm256_cvtepi32_ps(_mm256_srli_epi32(a, 4));
        __m256 e3 = _mm256_cvtepi32_ps(_mm256_srli_epi32(c, 4));
        __m256 d = _mm256_set1_ps(_cvtsh_ss(lb_load_u16(blk)));
        __m256 m = _mm256_set1_ps(_cvtsh_ss(lb_load_u16(blk + 2)));
        for (int j = 0; j < nt; j++) {
            const float *xb = xt + j * (int64_t) k + b * 32;
            __m256 x0 = _mm256_loadu_ps(xb);
            __m256 x1 = _mm256_loadu_ps(xb + 8);
            __m256 x2 = _mm256_loadu_ps(xb + 16);
            __m256 x3 = _mm256_loadu_ps(xb + 24);
            __m256 sq = _mm256_mul_ps(e0, x0);
            sq = _mm256_fmadd_ps(e1, x1, sq);
            sq = _mm256_fmadd_ps(e2, x2, sq);
            sq = _mm256_fmadd_ps(e3, x3, sq);
            acc[j] = _mm256_fmadd_ps(sq, d, acc[j]);
            acc[j] = _mm256_fmadd_ps(_mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3)), m, acc[j]);
        }
    }
    for (int j = 0; j < nt; j++) {
        float sum = mm_lanes8_in_order(acc[j]);
        if (full * 32 < k) {
            sum = sum + mg_q4_1_block_f32(wr + (int64_t) full * MM_Q4_1_BYTES, xt + j * (int64_t) k + full * 32,
                                          k - full * 32);
        }
        yt[j * ldy] = sum;
    }
}

#define MG_LANES 8
#include "matmul_planes_f32_impl.h"

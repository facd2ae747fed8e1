/*
 * Matmuls of Q4_1, grouped integer planes and 4-bit codebooks with AVX-512 (VNNI for the integer path).
 *
 * Integer path: the tiles of matmul_planes_tiles_impl.h on block sums from vpdpbusd on 256-bit vectors (as
 * matmul_avx512.c does for Q8_0/Q4_0): unsigned stored codes u times signed activations, 4 products per int32
 * lane without saturation, the accumulator starting at -sub * (the lane's sum of x) so that the block sums to
 * sum (u - sub) x exactly. Per lane: |start| <= 128 * 4 * 128 = 65536 and |products| <= 4 * 255 * 128 = 130560.
 *
 * Weight-only path: per chunk of 16 elements the codes are unpacked with shifts (vpsrlvd) from the bytes that hold
 * them, turned into v = code - z (or the codebook level, one vpermps from the 16 levels in a register), and
 * s = s + v * x by FMA in 16 lanes per group; then acc = acc + d * s by FMA and the lanes are added first to last
 * once per row and token. Rows go one at a time with up to 4 tokens sharing each unpacked chunk. A partial last
 * chunk reads its bytes from a zero-padded copy and x under a mask. Q4_1: per whole block two FMAs of 16 products,
 * one for d and one for m * sum(x); a partial last block in the reference's scalar steps.
 */
#include <immintrin.h>
#include "lowbit.h"
#include "matmul_planes.h"

/* One token's block of activations, prepared once for all rows of a tile. */
typedef struct {
    __m256i a;    /* the 32 codes (MG_W4: evens then odds) */
    __m256i b;    /* -sub * sum(x) spread over the int32 lanes */
    int32_t xsum; /* sum(x) when asked for */
} mg_x;

static inline mg_x mg_prep(const int mode, const int sub, const int need_sum, const int8_t *x) {
    mg_x p;
    __m256i v = _mm256_loadu_si256((const __m256i *) x);
    p.a = mode == MG_W4 ? mg_evens_odds(v) : v;
    p.b = _mm256_setzero_si256();
    p.xsum = 0;
    if (sub != 0 || need_sum) {
        __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), v);
        if (sub != 0) {
            p.b = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(s, sub == 128 ? 7 : 3));
        }
        if (need_sum) {
            p.xsum = mg_hsum(s);
        }
    }
    return p;
}

static inline __m256i mg_dot(const int mode, const uint8_t *q, const mg_x *x) {
    __m256i u = mode == MG_W8 ? _mm256_loadu_si256((const __m256i *) q) : mg_nibbles(q);
    return _mm256_dpbusd_epi32(x->b, u, x->a);
}

#include "matmul_planes_tiles_impl.h"

/* 16 codes of bits each from p (the chunk's first byte; bits * 2 bytes are read). */
static inline __m512i codes16(const int bits, const uint8_t *p) {
    switch (bits) {
        case 8:
            return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *) p));
        case 4: {
            __m128i v = _mm_loadl_epi64((const __m128i *) p);
            __m512i b = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(v, v));
            const __m512i sh = _mm512_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4);
            return _mm512_and_si512(_mm512_srlv_epi32(b, sh), _mm512_set1_epi32(15));
        }
        case 2: {
            uint32_t u;
            memcpy(&u, p, 4);
            const __m512i sh = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            return _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32((int) u), sh), _mm512_set1_epi32(3));
        }
        default: {
            uint32_t lo;
            memcpy(&lo, p, 4); /* 6 bytes as 4 + 2: a 6-byte copy into a wider variable stalls store forwarding */
            uint64_t u = lo | (uint64_t) lb_load_u16(p + 4) << 32;
            __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32((int) (u & 0xFFFFFF))),
                                           _mm256_set1_epi32((int) (u >> 24)), 1);
            const __m512i sh = _mm512_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21, 0, 3, 6, 9, 12, 15, 18, 21);
            return _mm512_and_si512(_mm512_srlv_epi32(v, sh), _mm512_set1_epi32(7));
        }
    }
}

/* The multipliers of the scale: code - z, or levels[code]. */
static inline __m512 values16(const int bits, const int cb, const uint8_t *p, __m512 z, __m512 levels) {
    __m512i c = codes16(bits, p);
    return cb ? _mm512_permutexvar_ps(c, levels) : _mm512_sub_ps(_mm512_cvtepi32_ps(c), z);
}

/* Row wr times nt tokens from xt (stride k): y for each (tail: the row's partial last chunk, zero padded). */
static inline __attribute__((always_inline)) void grouped_row(const int bits, const int cb, const int nt,
                                                              const uint8_t *wr, const uint8_t *tail,
                                                              const void *scales, const void *zeros, int64_t g0,
                                                              int32_t gpr, int32_t group_len, int symmetric, int f16,
                                                              const float *levels, const float *xt, int32_t k,
                                                              float *yt, int64_t ldy) {
    const __m512 lv = cb ? _mm512_loadu_ps(levels) : _mm512_setzero_ps();
    __m512 acc[4];
    for (int j = 0; j < nt; j++) {
        acc[j] = _mm512_setzero_ps();
    }
    for (int32_t g = 0; g < gpr; g++) {
        float z = cb ? 0.0f : symmetric ? (float) (1 << (bits - 1)) : lb_load_param(zeros, g0 + g, f16);
        __m512 vz = _mm512_set1_ps(z);
        int64_t c = (int64_t) g * group_len;
        int64_t c1 = c + group_len < k ? c + group_len : k;
        __m512 s[4];
        for (int j = 0; j < nt; j++) {
            s[j] = _mm512_setzero_ps();
        }
        for (; c + 16 <= c1; c += 16) {
            __m512 v = values16(bits, cb, wr + c * bits / 8, vz, lv);
            for (int j = 0; j < nt; j++) {
                s[j] = _mm512_fmadd_ps(v, _mm512_loadu_ps(xt + j * (int64_t) k + c), s[j]);
            }
        }
        if (c < c1) { /* c == k & ~15: the row's last, partial chunk */
            __m512 v = values16(bits, cb, tail, vz, lv);
            __mmask16 m = (__mmask16) ((1u << (c1 - c)) - 1);
            for (int j = 0; j < nt; j++) {
                s[j] = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, xt + j * (int64_t) k + c), s[j]);
            }
        }
        __m512 d = _mm512_set1_ps(lb_load_param(scales, g0 + g, f16));
        for (int j = 0; j < nt; j++) {
            acc[j] = _mm512_fmadd_ps(s[j], d, acc[j]);
        }
    }
    for (int j = 0; j < nt; j++) {
        yt[j * ldy] = mm_lanes16_in_order(acc[j]);
    }
}


/* Q4_1 row wr times nt tokens. */
static inline __attribute__((always_inline)) void q4_1_row(const int nt, const uint8_t *wr, const float *xt,
                                                           int32_t k, float *yt, int64_t ldy) {
    const int32_t full = k / 32;
    __m512 acc[4];
    for (int j = 0; j < nt; j++) {
        acc[j] = _mm512_setzero_ps();
    }
    for (int32_t b = 0; b < full; b++) {
        const uint8_t *blk = wr + (int64_t) b * MM_Q4_1_BYTES;
        __m512i u = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *) (blk + 4)));
        __m512 lo = _mm512_cvtepi32_ps(_mm512_and_si512(u, _mm512_set1_epi32(15)));
        __m512 hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(u, 4));
        __m512 d = _mm512_set1_ps(_cvtsh_ss(lb_load_u16(blk)));
        __m512 m = _mm512_set1_ps(_cvtsh_ss(lb_load_u16(blk + 2)));
        for (int j = 0; j < nt; j++) {
            const float *xb = xt + j * (int64_t) k + b * 32;
            __m512 x0 = _mm512_loadu_ps(xb);
            __m512 x1 = _mm512_loadu_ps(xb + 16);
            __m512 sq = _mm512_fmadd_ps(hi, x1, _mm512_mul_ps(lo, x0));
            acc[j] = _mm512_fmadd_ps(sq, d, acc[j]);
            acc[j] = _mm512_fmadd_ps(_mm512_add_ps(x0, x1), m, acc[j]);
        }
    }
    for (int j = 0; j < nt; j++) {
        float sum = mm_lanes16_in_order(acc[j]);
        if (full * 32 < k) {
            sum = sum + mg_q4_1_block_f32(wr + (int64_t) full * MM_Q4_1_BYTES, xt + j * (int64_t) k + full * 32,
                                          k - full * 32);
        }
        yt[j * ldy] = sum;
    }
}

#define MG_LANES 16
#include "matmul_planes_f32_impl.h"

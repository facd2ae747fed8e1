/*
 * Row-interleaved Q8_0 and Q4_0 ("q8_0x8", "q4_0x8", docs/formats.md): 8 rows share one superblock
 * per block of 32 columns, so a vector holds the same 4 codes of 8 rows and the 8 block sums come
 * out in 8 lanes, one per row. No horizontal sums, one scale load per 8 rows.
 *
 * Superblock of group g (rows 8g .. 8g + 7), block b, at w + (g * nb + b) * X8_SB:
 *   bytes 0..15     the 8 rows' fp16 scales, row i at 2i;
 *   Q8_0x8          chunk c = 0..7: codes 4c .. 4c + 3 of row i at 16 + 32c + 4i;
 *   Q4_0x8          chunk c = 0..3: nibble bytes 4c .. 4c + 3 of row i at 16 + 32c + 4i (low nibble:
 *                   element j, high nibble: element j + 16, as in Q4_0).
 * Rows past the last in the last group are zero bytes.
 *
 * This header holds what the AVX2 and AVX-512 files share: the activations' block sums (which take
 * the unsigned offset back off) and the tile over 8 rows and up to 4 tokens, which runs the fp32 step
 * of matmul_common.h in the 8 lanes. Each tier defines x8_dot(q4, codes, x, corr): the 8 rows' exact
 * block sums against one token's block of 32 activation codes, plus corr in every lane.
 * Defines the tier's exported gemm_q8_0x8_i8 and gemm_q4_0x8_i8 (LB_FN), and through matmul_x8_f32_impl.h
 * the weight-only ones: include it once per tier.
 */
#ifndef LOWBIT_MATMUL_X8_IMPL_H
#define LOWBIT_MATMUL_X8_IMPL_H

#define X8_SB_Q8 272
#define X8_SB_Q4 144
/* Blocks whose activation sums are held at once (per token of a tile): 4 x 256 x 4 bytes of stack. */
#define X8_CHUNK 256

#include <immintrin.h>
#include <string.h>
#include "lowbit.h"
#include "matmul_common.h"
#include "matmul_x8_f32_impl.h"

static inline __m256i x8_dot(const int q4, const uint8_t *q, const int8_t *x, int32_t corr);

/* The 4 activation codes at x in every int32 lane. */
static inline __m256i x8_bcast(const int8_t *x) {
    int32_t v;
    memcpy(&v, x, sizeof v);
    return _mm256_set1_epi32(v);
}

/* sum(x) over a block of 32 activation codes, exactly: (x + 128) summed by vpsadbw, less 32 * 128. */
static inline int32_t x8_block_sum(const int8_t *x) {
    __m256i u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *) x), _mm256_set1_epi8((char) 0x80));
    __m256i s = _mm256_sad_epu8(u, _mm256_setzero_si256());
    __m128i h = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi64(h, _mm_unpackhi_epi64(h, h));
    return (int32_t) _mm_cvtsi128_si32(h) - 32 * 128;
}

/*
 * Rows 8g .. min(8g + 8, r1) - 1 for tokens t .. t + T - 1, blocks [b0, b1): acc starts at 0 (b0 == 0)
 * or at what y holds, and y receives it. y round-trips fp32 values exactly, so cutting the blocks into
 * chunks does not change a bit.
 */
static inline __attribute__((always_inline)) void x8_tile(const int q4, const int T, const uint8_t *wg,
                                                          const int8_t *xc, const float *xs, int64_t pk,
                                                          int32_t xs_tok, int32_t xs_blk, int32_t t,
                                                          const int32_t *corr, int32_t b0, int32_t b1,
                                                          float *y, int64_t ldy, int32_t r, int32_t valid) {
    const int64_t sbb = q4 ? X8_SB_Q4 : X8_SB_Q8;
    __m256 acc[4];
#pragma GCC unroll 4
    for (int j = 0; j < T; j++) {
        float *yj = y + (t + j) * ldy + r;
        if (b0 == 0) {
            acc[j] = _mm256_setzero_ps();
        } else if (valid == 8) {
            acc[j] = _mm256_loadu_ps(yj);
        } else {
            float tmp[8] = {0};
            memcpy(tmp, yj, sizeof(float) * (size_t) valid);
            acc[j] = _mm256_loadu_ps(tmp);
        }
    }
    for (int32_t b = b0; b < b1; b++) {
        const uint8_t *sb = wg + b * sbb;
        __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) sb));
#pragma GCC unroll 4
        for (int j = 0; j < T; j++) {
            __m256i isum = x8_dot(q4, sb + 16, xc + (t + j) * pk + (int64_t) b * 32, corr[j * X8_CHUNK + b - b0]);
            __m256 c = _mm256_mul_ps(dw, _mm256_set1_ps(xs[(int64_t) (t + j) * xs_tok + (int64_t) b * xs_blk]));
            acc[j] = _mm256_add_ps(acc[j], _mm256_mul_ps(c, _mm256_cvtepi32_ps(isum)));
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < T; j++) {
        float *yj = y + (t + j) * ldy + r;
        if (valid == 8) {
            _mm256_storeu_ps(yj, acc[j]);
        } else {
            float tmp[8];
            _mm256_storeu_ps(tmp, acc[j]);
            memcpy(yj, tmp, sizeof(float) * (size_t) valid);
        }
    }
}

static inline __attribute__((always_inline)) void x8_gemm(const int q4, const uint8_t *w, const int8_t *xc,
                                                          const float *xs, int32_t nb, int32_t xs_tok,
                                                          int32_t xs_blk, int32_t r0, int32_t r1, int32_t t0,
                                                          int32_t t1, float *y, int64_t ldy) {
    const int64_t sbb = q4 ? X8_SB_Q4 : X8_SB_Q8;
    const int64_t pk = (int64_t) nb * 32;
    const int32_t shift = q4 ? 3 : 7; /* the offset of the unsigned weights: 8 or 128 */
    /* With more than 4 tokens the rows go in panels of 16 groups (39 KB of Q4_0x8, 70 KB of Q8_0x8 per
     * 1024 columns), which stay in L2 while every token tile passes over them. */
    const int32_t panel = t1 - t0 > 4 ? 128 : r1 - r0;
    int32_t corr[4 * X8_CHUNK];
    for (int32_t p0 = r0; p0 < r1; p0 += panel) {
        const int32_t p1 = r1 - p0 < panel ? r1 : p0 + panel;
        for (int32_t t = t0; t < t1; t += 4) {
            const int T = t1 - t < 4 ? t1 - t : 4;
            for (int32_t b0 = 0; b0 < nb; b0 += X8_CHUNK) {
                const int32_t b1 = nb - b0 < X8_CHUNK ? nb : b0 + X8_CHUNK;
                for (int j = 0; j < T; j++) {
                    for (int32_t b = b0; b < b1; b++) {
                        corr[j * X8_CHUNK + b - b0] = -(x8_block_sum(xc + (t + j) * pk + (int64_t) b * 32) * (1 << shift));
                    }
                }
                for (int32_t r = p0; r < p1; r += 8) {
                    const uint8_t *wg = w + (int64_t) (r / 8) * nb * sbb;
                    const int32_t valid = p1 - r < 8 ? p1 - r : 8;
                    switch (T) {
                        case 4: x8_tile(q4, 4, wg, xc, xs, pk, xs_tok, xs_blk, t, corr, b0, b1, y, ldy, r, valid); break;
                        case 3: x8_tile(q4, 3, wg, xc, xs, pk, xs_tok, xs_blk, t, corr, b0, b1, y, ldy, r, valid); break;
                        case 2: x8_tile(q4, 2, wg, xc, xs, pk, xs_tok, xs_blk, t, corr, b0, b1, y, ldy, r, valid); break;
                        default: x8_tile(q4, 1, wg, xc, xs, pk, xs_tok, xs_blk, t, corr, b0, b1, y, ldy, r, valid); break;
                    }
                }
            }
        }
    }
}

void LB_FN(gemm_q8_0x8_i8)(const uint8_t *w, const int8_t *xc, const float *xs, int32_t nb, int32_t xs_tok,
                           int32_t xs_blk, int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy) {
    x8_gemm(0, w, xc, xs, nb, xs_tok, xs_blk, r0, r1, t0, t1, y, ldy);
}

void LB_FN(gemm_q4_0x8_i8)(const uint8_t *w, const int8_t *xc, const float *xs, int32_t nb, int32_t xs_tok,
                           int32_t xs_blk, int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy) {
    x8_gemm(1, w, xc, xs, nb, xs_tok, xs_blk, r0, r1, t0, t1, y, ldy);
}

#endif

/*
 * Shared by matmul_planes_generic.c, matmul_planes_avx2.c and matmul_planes_avx512.c: the matmuls of Q4_1,
 * grouped integer planes and 4-bit codebooks. Codes and stored parameters are read with quant_scalar.h's helpers
 * (lb_code_at, lb_load_param), the same ones the dequantize kernels use.
 *
 * Integer path, per row r, token t and block b of 32 (docs of ScalarMatmulKernels): isum = sum_j w_j x_j and
 * xsum = sum_j x_j, both exact int32, with w_j the signed code of WeightRows.codes: u - 2^(bits-1) for
 * symmetric grouped codes, u - 128 for asymmetric 8-bit codes, u itself for asymmetric 4-bit codes and Q4_1
 * nibbles. Then one of these fp32 steps, one rounding per operation, no fused multiply-add:
 *     centered (symmetric):   acc = acc + (dw * dx) * (float) isum
 *     asymmetric grouped:     acc = acc + (dw * dx) * ((float) isum - (z - off) * (float) xsum)
 *     Q4_1:                   acc = acc + dx * (dw * (float) isum + m * (float) xsum)
 * with off 128 for 8-bit codes, else 0 (WeightRows.codeOffset). That is the Java reference's order and
 * conversions, so every tier gives its bits. The activations' padding codes (k up to a multiple of 32) are 0,
 * as QuantizedActivations makes them, so the weights' codes past k never count.
 */
#ifndef LOWBIT_MATMUL_PLANES_H
#define LOWBIT_MATMUL_PLANES_H

#include <stdint.h>
#include <string.h>
#include "matmul_common.h"
#include "quant_scalar.h"

#define MM_Q4_1_BYTES 20

/* The integer path's fp32 steps. */
enum { MG_CENTERED = 0, MG_ASYM = 1, MG_Q4_1 = 2 };

/* One block's fp32 step; zm is z - off (asymmetric) or the Q4_1 minimum m. */
static inline float mg_step1(const int step, float acc, float dw, float zm, float dx, int32_t isum, int32_t xsum) {
    if (step == MG_CENTERED) {
        return acc + (dw * dx) * (float) isum;
    }
    if (step == MG_ASYM) {
        return acc + (dw * dx) * ((float) isum - zm * (float) xsum);
    }
    return acc + dx * (dw * (float) isum + zm * (float) xsum);
}

/* Blocks of 32 per group: group_len is 32, 64, 128, or the row (k, possibly not a multiple of 32). */
static inline int32_t mg_blocks_per_group(int32_t k, int32_t group_len) {
    return group_len % 32 == 0 ? group_len / 32 : (k + 31) / 32;
}

/* Groups per row, as QuantFormat.groupsPerRow. */
static inline int32_t mg_groups(int32_t k, int32_t group_len) {
    return k == 0 ? 0 : (int32_t) (((int64_t) k + group_len - 1) / group_len);
}

/* Bytes of one row of packed codes, as QuantFormat.rowBytes. */
static inline int64_t mg_row_bytes(int32_t k, int32_t bits) {
    return ((int64_t) k * bits + 7) / 8;
}

/*
 * The weight-only path's scalar steps for elements [c0, c1) of one group of a grouped or codebook row:
 * s = s + v * x element by element, v = (float) code - z or levels[code], as ScalarMatmulKernels.gemmF32.
 */
static inline float mg_group_f32(const uint8_t *row, int32_t bits, const float *levels, float z, const float *x,
                                 int64_t c0, int64_t c1) {
    float s = 0.0f;
    for (int64_t c = c0; c < c1; c++) {
        int code = lb_code_at(row, bits, c);
        float v = levels != NULL ? levels[code] : (float) code - z;
        s = s + v * x[c];
    }
    return s;
}

/* The weight-only path's step for the first n (<= 32) elements of one Q4_1 block: d * sum(q x) + m * sum(x). */
static inline float mg_q4_1_block_f32(const uint8_t *blk, const float *x, int32_t n) {
    float sq = 0.0f;
    float sx = 0.0f;
    for (int32_t j = 0; j < n; j++) {
        int q = j < 16 ? blk[4 + j] & 15 : blk[4 + j - 16] >> 4;
        sq = sq + (float) q * x[j];
        sx = sx + x[j];
    }
    return lb_f16_to_f32(lb_load_u16(blk)) * sq + lb_f16_to_f32(lb_load_u16(blk + 2)) * sx;
}

#if defined(__AVX2__)
#include <immintrin.h>

/*
 * The vector tiers' integer-path helpers. Block modes: MG_W8 (32 bytes of 8-bit codes in element order), MG_W4
 * (16 bytes of grouped 4-bit codes, element 2j in the low nibble of byte j) and MG_N4 (Q4_1's 16 bytes: element
 * j < 16 the low nibble of byte j, j + 16 the high one). For MG_W4 the activations are put in the order
 * [x0, x2, ..., x30, x1, x3, ..., x31], so that the low nibbles meet the even elements: once per token and
 * block rather than once per row.
 */
enum { MG_W8 = 0, MG_W4 = 1, MG_N4 = 2 };

/* The 32 nibbles of 16 bytes as bytes: low nibbles in the low 128 bits, high nibbles in the high 128 bits. */
static inline __m256i mg_nibbles(const uint8_t *q) {
    __m128i v = _mm_loadu_si128((const __m128i *) q);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
}

/* x0..x31 as [x0, x2, ..., x30, x1, x3, ..., x31]. */
static inline __m256i mg_evens_odds(__m256i x) {
    const __m256i sh = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                        0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    return _mm256_permute4x64_epi64(_mm256_shuffle_epi8(x, sh), _MM_SHUFFLE(3, 1, 2, 0));
}

/* Sum of the 8 int32 lanes. */
static inline int32_t mg_hsum(__m256i a) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
}

/* Lane sums of a, b, c, d, in that order. */
static inline __m128i mg_hsum4(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i abcd = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

/* Four stored parameters (fp16 or fp32) at the indices of a tile's rows. */
static inline __m128 mg_param4(const void *plane, int f16, const int64_t *i) {
    const uint8_t *p = (const uint8_t *) plane;
    if (f16) {
        return _mm_cvtph_ps(_mm_setr_epi16((short) lb_load_u16(p + 2 * i[0]), (short) lb_load_u16(p + 2 * i[1]),
                                           (short) lb_load_u16(p + 2 * i[2]), (short) lb_load_u16(p + 2 * i[3]),
                                           0, 0, 0, 0));
    }
    return _mm_setr_ps(lb_load_param(p, i[0], 0), lb_load_param(p, i[1], 0), lb_load_param(p, i[2], 0),
                       lb_load_param(p, i[3], 0));
}

/* mg_step1 on 4 rows at once: the same operations lane by lane. */
static inline __m128 mg_step4(const int step, __m128 acc, __m128 dw, __m128 zm, float dx, int32_t xsum, __m128i isum) {
    __m128 fi = _mm_cvtepi32_ps(isum);
    __m128 vdx = _mm_set1_ps(dx);
    if (step == MG_CENTERED) {
        return _mm_add_ps(acc, _mm_mul_ps(_mm_mul_ps(dw, vdx), fi));
    }
    __m128 fx = _mm_set1_ps((float) xsum);
    if (step == MG_ASYM) {
        return _mm_add_ps(acc, _mm_mul_ps(_mm_mul_ps(dw, vdx), _mm_sub_ps(fi, _mm_mul_ps(zm, fx))));
    }
    return _mm_add_ps(acc, _mm_mul_ps(vdx, _mm_add_ps(_mm_mul_ps(dw, fi), _mm_mul_ps(zm, fx))));
}

#endif

#endif

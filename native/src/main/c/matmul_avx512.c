/*
 * Integer matmuls with AVX-512 VNNI: Q8_0 and Q4_0 weights times int8 activations (W8A8, W4A8).
 *
 * The tiling and the fp32 step are matmul_i8_tiles_impl.h's (4 rows by 2 tokens, hadd tree, same order);
 * the block sums come from vpdpbusd, which multiplies unsigned by signed bytes and adds groups of 4
 * products into int32 lanes without saturation. It runs on 256-bit vectors (AVX512VL): one block of
 * 32 codes is one vector, its 8 lanes meet the hadd tree as they are, and Zen 4 executes 512-bit
 * vectors as two 256-bit halves anyway.
 *
 * Why each block sum is exact: vpdpbusd needs an unsigned operand, so the weights are offset to it
 * and the offset is taken off through the activations' sum, computed once per token and block and
 * used by every row of the tile as the accumulator's starting value:
 *  - Q8_0: u = w + 128 (w XOR 0x80, 0..255): sum(u x) - 128 sum(x) = sum(w x);
 *  - Q4_0: u = n = w + 8, the raw nibble (0..15): sum(n x) - 8 sum(x) = sum(w x).
 * Per lane (4 codes): the start value is at most 128 * 4 * 128 = 65536 in magnitude, the products
 * at most 4 * 255 * 128 = 130560; the sum is far inside int32.
 */
#include <immintrin.h>
#include "lowbit.h"
#include "matmul_common.h"

/* One token's block of activations, prepared once for all rows of a tile. */
typedef struct {
    __m256i a; /* the 32 codes */
    __m256i b; /* -128 * sum(x) (Q8_0) or -8 * sum(x) (Q4_0) per int32 lane */
} mm_x;

static inline __m256i neg_sum(__m256i x, int shift) {
    __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), x);
    return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(s, shift));
}

static inline mm_x prep_q8(const int8_t *x) {
    mm_x p;
    p.a = _mm256_loadu_si256((const __m256i *) x);
    p.b = neg_sum(p.a, 7);
    return p;
}

static inline mm_x prep_q4(const int8_t *x) {
    mm_x p;
    p.a = _mm256_loadu_si256((const __m256i *) x);
    p.b = neg_sum(p.a, 3);
    return p;
}

/* Eight int32 partial sums of one Q8_0 block (q: its 32 codes) with the token's block. */
static inline __m256i dot_q8(const uint8_t *q, const mm_x *x) {
    __m256i u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *) q), _mm256_set1_epi8((char) 0x80));
    return _mm256_dpbusd_epi32(x->b, u, x->a);
}

/* Eight int32 partial sums of one Q4_0 block (q: its 16 bytes of nibbles) with the token's block. */
static inline __m256i dot_q4(const uint8_t *q, const mm_x *x) {
    __m128i v = _mm_loadu_si128((const __m128i *) q);
    __m256i n = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
    return _mm256_dpbusd_epi32(x->b, n, x->a);
}

#include "matmul_i8_tiles_impl.h"

/*
 * Weight-only path: Q8_0 and Q4_0 weights times fp32 activations, as matmul_avx2.c does it with 16
 * lanes: per whole block two FMAs of 16 products and one FMA for the scale, the lanes added first
 * to last once per row and token, a partial last block in the reference's scalar steps.
 */
static inline __attribute__((always_inline)) void gemm_f32(const int q4, const uint8_t *w, const float *x,
                                                           int32_t k, int32_t r0, int32_t r1, int32_t t0,
                                                           int32_t t1, float *y, int64_t ldy) {
    const int64_t bb = q4 ? MM_Q4_0_BYTES : MM_Q8_0_BYTES;
    const int32_t full = k / 32;
    const int64_t row_bytes = (int64_t) ((k + 31) / 32) * bb;
    const __m512i low4 = _mm512_set1_epi32(15);
    const __m512i eight = _mm512_set1_epi32(8);
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t *wr = w + r * row_bytes;
        for (int32_t t = t0; t < t1; t++) {
            const float *xt = x + (int64_t) t * k;
            __m512 acc = _mm512_setzero_ps();
            for (int32_t b = 0; b < full; b++) {
                const uint8_t *blk = wr + b * bb;
                const float *xb = xt + b * 32;
                __m512 lo, hi;
                if (q4) {
                    __m512i u = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *) (blk + 2)));
                    lo = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_and_si512(u, low4), eight));
                    hi = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srli_epi32(u, 4), eight));
                } else {
                    lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *) (blk + 2))));
                    hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *) (blk + 18))));
                }
                __m512 s = _mm512_mul_ps(lo, _mm512_loadu_ps(xb));
                s = _mm512_fmadd_ps(hi, _mm512_loadu_ps(xb + 16), s);
                acc = _mm512_fmadd_ps(s, _mm512_set1_ps(_cvtsh_ss(mm_f16_bits(blk))), acc);
            }
            float sum = mm_lanes16_in_order(acc);
            if (full * 32 < k) {
                const uint8_t *blk = wr + full * bb;
                sum = sum + mm_f16_to_f32(mm_f16_bits(blk)) * mm_block_f32(q4, blk, xt + full * 32, k - full * 32);
            }
            y[t * ldy + r] = sum;
        }
    }
}

void LB_FN(gemm_q8_0_f32)(const uint8_t *w, const float *x, int32_t k, int32_t r0, int32_t r1, int32_t t0,
                          int32_t t1, float *y, int64_t ldy) {
    gemm_f32(0, w, x, k, r0, r1, t0, t1, y, ldy);
}

void LB_FN(gemm_q4_0_f32)(const uint8_t *w, const float *x, int32_t k, int32_t r0, int32_t r1, int32_t t0,
                          int32_t t1, float *y, int64_t ldy) {
    gemm_f32(1, w, x, k, r0, r1, t0, t1, y, ldy);
}

/*
 * Integer matmuls with AVX2: Q8_0 and Q4_0 weights times int8 activations (W8A8, W4A8).
 *
 * Per block, each row's 32 products land in 8 int32 lanes; the tiles of matmul_i8_tiles_impl.h (4 rows
 * by 2 tokens) turn them into block sums and run the fp32 step of matmul_common.h on them.
 *
 * Why each block sum is exact (int8 x int8 reaches 16384 per product, 524288 per block):
 *  - Q8_0: vpmaddubsw cannot be used. Its 16-bit pair sums saturate, and with both operands over
 *    -128..127 a pair reaches 2 * (-128) * (-128) = 32768 > 32767; the sign trick (|w| times x with
 *    w's sign) needs +128 in the signed operand when w < 0 and x = -128. So both operands are widened
 *    to int16 and vpmaddwd forms pair sums in int32: at most 32768 per pair, two pairs per lane.
 *  - Q4_0: vpmaddubsw on the raw nibble n = w + 8 (unsigned, 0..15) and x (signed): a pair is at
 *    most 2 * 15 * 128 = 3840 in magnitude, far from saturation. vpmaddwd with ones widens the pairs
 *    to int32, and 8 * sum(x), from the same two instructions on a vector of ones, takes the +8 off.
 */
#include <immintrin.h>
#include "lowbit.h"
#include "matmul_common.h"

/* One token's block of activations, prepared once for all rows of a tile. */
typedef struct {
    __m256i a; /* Q8_0: codes 0..15 widened to int16; Q4_0: the 32 codes */
    __m256i b; /* Q8_0: codes 16..31 widened to int16; Q4_0: 8 * sum(x) per int32 lane */
} mm_x;

static inline mm_x prep_q8(const int8_t *x) {
    mm_x p;
    p.a = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) x));
    p.b = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (x + 16)));
    return p;
}

static inline mm_x prep_q4(const int8_t *x) {
    mm_x p;
    p.a = _mm256_loadu_si256((const __m256i *) x);
    __m256i pairs = _mm256_maddubs_epi16(_mm256_set1_epi8(1), p.a); /* |pair| <= 256 */
    p.b = _mm256_slli_epi32(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)), 3);
    return p;
}

/* Eight int32 partial sums of one Q8_0 block (q: its 32 codes) with the token's block. */
static inline __m256i dot_q8(const uint8_t *q, const mm_x *x) {
    __m256i lo = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) q));
    __m256i hi = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (q + 16)));
    return _mm256_add_epi32(_mm256_madd_epi16(lo, x->a), _mm256_madd_epi16(hi, x->b));
}

/* Eight int32 partial sums of one Q4_0 block (q: its 16 bytes of nibbles) with the token's block. */
static inline __m256i dot_q4(const uint8_t *q, const mm_x *x) {
    __m128i v = _mm_loadu_si128((const __m128i *) q);
    __m256i n = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(n, x->a), _mm256_set1_epi16(1));
    return _mm256_sub_epi32(p, x->b);
}

#include "matmul_i8_tiles_impl.h"

/*
 * Weight-only path: Q8_0 and Q4_0 weights times fp32 activations. Per whole block the 32 products
 * go into 8 lanes with FMAs, the block's scale joins with one more FMA, and the lanes are added
 * first to last once per row and token; a partial last block runs the reference's scalar steps.
 * Another order than the reference's, within the bound that reordering allows, and fixed: an
 * element of y does not depend on the rows and tokens around it.
 */
static inline __m256 codes8_q8(const uint8_t *q) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *) q)));
}

static inline __attribute__((always_inline)) void gemm_f32(const int q4, const uint8_t *w, const float *x,
                                                           int32_t k, int32_t r0, int32_t r1, int32_t t0,
                                                           int32_t t1, float *y, int64_t ldy) {
    const int64_t bb = q4 ? MM_Q4_0_BYTES : MM_Q8_0_BYTES;
    const int32_t full = k / 32;
    const int64_t row_bytes = (int64_t) ((k + 31) / 32) * bb;
    const __m256i low4 = _mm256_set1_epi32(15);
    const __m256i eight = _mm256_set1_epi32(8);
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t *wr = w + r * row_bytes;
        for (int32_t t = t0; t < t1; t++) {
            const float *xt = x + (int64_t) t * k;
            __m256 acc = _mm256_setzero_ps();
            for (int32_t b = 0; b < full; b++) {
                const uint8_t *blk = wr + b * bb;
                const float *xb = xt + b * 32;
                __m256 s;
                if (q4) {
                    __m128i v = _mm_loadu_si128((const __m128i *) (blk + 2));
                    __m256i a = _mm256_cvtepu8_epi32(v);                    /* bytes 0..7 */
                    __m256i c = _mm256_cvtepu8_epi32(_mm_srli_si128(v, 8)); /* bytes 8..15 */
                    __m256 e0 = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(a, low4), eight));
                    __m256 e1 = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(c, low4), eight));
                    __m256 e2 = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(a, 4), eight));
                    __m256 e3 = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(c, 4), eight));
                    s = _mm256_mul_ps(e0, _mm256_loadu_ps(xb));
                    s = _mm256_fmadd_ps(e1, _mm256_loadu_ps(xb + 8), s);
                    s = _mm256_fmadd_ps(e2, _mm256_loadu_ps(xb + 16), s);
                    s = _mm256_fmadd_ps(e3, _mm256_loadu_ps(xb + 24), s);
                } else {
                    s = _mm256_mul_ps(codes8_q8(blk + 2), _mm256_loadu_ps(xb));
                    s = _mm256_fmadd_ps(codes8_q8(blk + 10), _mm256_loadu_ps(xb + 8), s);
                    s = _mm256_fmadd_ps(codes8_q8(blk + 18), _mm256_loadu_ps(xb + 16), s);
                    s = _mm256_fmadd_ps(codes8_q8(blk + 26), _mm256_loadu_ps(xb + 24), s);
                }
                acc = _mm256_fmadd_ps(s, _mm256_set1_ps(_cvtsh_ss(mm_f16_bits(blk))), acc);
            }
            float sum = mm_lanes8_in_order(acc);
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

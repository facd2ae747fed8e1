/*
 * Row-interleaved Q8_0x8 and Q4_0x8 times int8 activations with AVX-512 VNNI on 256-bit vectors
 * (matmul_x8_impl.h has the layout and the tile).
 *
 * vpdpbusd multiplies unsigned by signed bytes and adds each group of 4 products into an int32 lane,
 * without saturation. A chunk of the superblock holds 4 codes of each of the 8 rows, so one vpdpbusd
 * against the broadcast 4 activation codes adds those 4 products to each row's lane. The weights are
 * made unsigned (Q8_0: w + 128, by flipping the top bit; Q4_0: the raw nibble, w + 8), and the lanes
 * start from corr = -128 sum(x) or -8 sum(x), which takes the offset back off: the block sum is exact.
 * Per lane: |corr| <= 2^21 and the products add at most 32 * 255 * 128 < 2^21, far inside int32.
 */
#include "matmul_x8_impl.h"

/* Four accumulator chains, so that consecutive vpdpbusd do not wait on each other. */
static inline __m256i x8_dot(const int q4, const uint8_t *q, const int8_t *x, int32_t corr) {
    __m256i a0 = _mm256_set1_epi32(corr);
    __m256i a1 = _mm256_setzero_si256();
    __m256i a2 = _mm256_setzero_si256();
    __m256i a3 = _mm256_setzero_si256();
    if (q4) {
        const __m256i m = _mm256_set1_epi8(15);
        for (int c = 0; c < 4; c += 2) { /* chunk c: low nibbles are elements 4c.., high ones 16 + 4c.. */
            __m256i v0 = _mm256_loadu_si256((const __m256i *) (q + 32 * c));
            __m256i v1 = _mm256_loadu_si256((const __m256i *) (q + 32 * c + 32));
            a0 = _mm256_dpbusd_epi32(a0, _mm256_and_si256(v0, m), x8_bcast(x + 4 * c));
            a1 = _mm256_dpbusd_epi32(a1, _mm256_and_si256(v1, m), x8_bcast(x + 4 * c + 4));
            a2 = _mm256_dpbusd_epi32(a2, _mm256_and_si256(_mm256_srli_epi16(v0, 4), m), x8_bcast(x + 16 + 4 * c));
            a3 = _mm256_dpbusd_epi32(a3, _mm256_and_si256(_mm256_srli_epi16(v1, 4), m), x8_bcast(x + 20 + 4 * c));
        }
    } else {
        const __m256i flip = _mm256_set1_epi8((char) 0x80);
        for (int c = 0; c < 8; c += 4) {
            a0 = _mm256_dpbusd_epi32(a0, _mm256_xor_si256(_mm256_loadu_si256((const __m256i *) (q + 32 * c)), flip),
                                     x8_bcast(x + 4 * c));
            a1 = _mm256_dpbusd_epi32(a1, _mm256_xor_si256(_mm256_loadu_si256((const __m256i *) (q + 32 * c + 32)), flip),
                                     x8_bcast(x + 4 * c + 4));
            a2 = _mm256_dpbusd_epi32(a2, _mm256_xor_si256(_mm256_loadu_si256((const __m256i *) (q + 32 * c + 64)), flip),
                                     x8_bcast(x + 4 * c + 8));
            a3 = _mm256_dpbusd_epi32(a3, _mm256_xor_si256(_mm256_loadu_si256((const __m256i *) (q + 32 * c + 96)), flip),
                                     x8_bcast(x + 4 * c + 12));
        }
    }
    return _mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3));
}


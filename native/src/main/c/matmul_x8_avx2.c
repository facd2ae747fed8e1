/*
 * Row-interleaved Q8_0x8 and Q4_0x8 times int8 activations with AVX2 (matmul_x8_impl.h has the layout
 * and the tile). A chunk of the superblock holds 4 codes of each of the 8 rows; vpmaddubsw against
 * the broadcast 4 activation codes gives each row two 16-bit pair sums, and vpmaddwd with ones adds
 * them into the row's int32 lane.
 *
 * vpmaddubsw takes unsigned by signed bytes and saturates at 16 bits, so the weights go in as nibbles
 * (0..15): a pair sum is at most 2 * 15 * 128 = 3840 in magnitude, and the 8 chunk products of a block
 * add up to at most 8 * 3840 = 30720 in 16 bits before one vpmaddwd widens them. Q4_0 uses the raw
 * nibble n = w + 8; Q8_0 uses u = w + 128 = 16 h + l, with the high and low nibbles summed apart.
 * corr (-8 or -128 times sum(x)) takes the offset back off: every block sum is exact.
 */
#include "matmul_x8_impl.h"

static inline __m256i x8_dot(const int q4, const uint8_t *q, const int8_t *x, int32_t corr) {
    const __m256i m = _mm256_set1_epi8(15);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i lo = _mm256_setzero_si256();
    __m256i hi = _mm256_setzero_si256();
    if (q4) {
        for (int c = 0; c < 4; c++) {
            __m256i v = _mm256_loadu_si256((const __m256i *) (q + 32 * c));
            lo = _mm256_add_epi16(lo, _mm256_maddubs_epi16(_mm256_and_si256(v, m), x8_bcast(x + 4 * c)));
            hi = _mm256_add_epi16(hi, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m),
                                                           x8_bcast(x + 16 + 4 * c)));
        }
        __m256i s = _mm256_madd_epi16(_mm256_add_epi16(lo, hi), ones); /* 8 x 3840 in 16 bits: exact */
        return _mm256_add_epi32(s, _mm256_set1_epi32(corr));
    }
    const __m256i flip = _mm256_set1_epi8((char) 0x80);
    for (int c = 0; c < 8; c++) {
        __m256i u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *) (q + 32 * c)), flip);
        __m256i xb = x8_bcast(x + 4 * c);
        lo = _mm256_add_epi16(lo, _mm256_maddubs_epi16(_mm256_and_si256(u, m), xb));
        hi = _mm256_add_epi16(hi, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(u, 4), m), xb));
    }
    __m256i s = _mm256_add_epi32(_mm256_slli_epi32(_mm256_madd_epi16(hi, ones), 4), _mm256_madd_epi16(lo, ones));
    return _mm256_add_epi32(s, _mm256_set1_epi32(corr));
}


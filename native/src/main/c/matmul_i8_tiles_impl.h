/*
 * The integer-path tiles shared by matmul_avx2.c and matmul_avx512.c, included by each after it has
 * defined its block-sum primitives: mm_x with prep_q8/prep_q4 (one token's block, prepared once)
 * and dot_q8/dot_q4 (one row's block against it, 8 int32 lanes whose sum is the exact block sum).
 *
 * Tiles of 4 rows by 2 tokens (or 1): a tree of hadds turns the 4 rows' lane vectors into one
 * vector of 4 block sums, and the fp32 step of matmul_common.h runs on those 4 lanes. Rows past the
 * last full tile take the same steps one at a time, so an element of y does not depend on the tiling.
 * Defines the tier's exported gemm_q8_0_i8 and gemm_q4_0_i8 (LB_FN): include it once per tier.
 */
#ifndef LOWBIT_MATMUL_I8_TILES_IMPL_H
#define LOWBIT_MATMUL_I8_TILES_IMPL_H

/* Lane sums of a, b, c, d, in that order. */
static inline __m128i hsum4(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i ab = _mm256_hadd_epi32(a, b);
    __m256i cd = _mm256_hadd_epi32(c, d);
    __m256i abcd = _mm256_hadd_epi32(ab, cd);
    return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

static inline int32_t hsum1(__m256i a) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    s = _mm_hadd_epi32(s, s);
    s = _mm_hadd_epi32(s, s);
    return _mm_cvtsi128_si32(s);
}

static inline __attribute__((always_inline)) void gemm_i8(const int q4, const uint8_t *w, const int8_t *xc,
                                                          const float *xs, int32_t nb, int32_t xs_tok,
                                                          int32_t xs_blk, int32_t r0, int32_t r1, int32_t t0,
                                                          int32_t t1, float *y, int64_t ldy) {
    const int64_t bb = q4 ? MM_Q4_0_BYTES : MM_Q8_0_BYTES;
    const int64_t row_bytes = nb * bb;
    const int64_t pk = (int64_t) nb * 32;
    int32_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const uint8_t *w0 = w + r * row_bytes;
        const uint8_t *w1 = w0 + row_bytes;
        const uint8_t *w2 = w1 + row_bytes;
        const uint8_t *w3 = w2 + row_bytes;
        int32_t t = t0;
        for (; t + 2 <= t1; t += 2) { /* two tokens share the weight loads and the scale gather */
            const int8_t *xt0 = xc + t * pk;
            const int8_t *xt1 = xt0 + pk;
            const float *st0 = xs + (int64_t) t * xs_tok;
            const float *st1 = st0 + xs_tok;
            __m128 acc0 = _mm_setzero_ps();
            __m128 acc1 = _mm_setzero_ps();
            for (int64_t b = 0, o = 0; b < nb; b++, o += bb) {
                mm_x xa = q4 ? prep_q4(xt0 + b * 32) : prep_q8(xt0 + b * 32);
                mm_x xb = q4 ? prep_q4(xt1 + b * 32) : prep_q8(xt1 + b * 32);
                __m128i isum0, isum1;
                if (q4) {
                    isum0 = hsum4(dot_q4(w0 + o + 2, &xa), dot_q4(w1 + o + 2, &xa), dot_q4(w2 + o + 2, &xa),
                                  dot_q4(w3 + o + 2, &xa));
                    isum1 = hsum4(dot_q4(w0 + o + 2, &xb), dot_q4(w1 + o + 2, &xb), dot_q4(w2 + o + 2, &xb),
                                  dot_q4(w3 + o + 2, &xb));
                } else {
                    isum0 = hsum4(dot_q8(w0 + o + 2, &xa), dot_q8(w1 + o + 2, &xa), dot_q8(w2 + o + 2, &xa),
                                  dot_q8(w3 + o + 2, &xa));
                    isum1 = hsum4(dot_q8(w0 + o + 2, &xb), dot_q8(w1 + o + 2, &xb), dot_q8(w2 + o + 2, &xb),
                                  dot_q8(w3 + o + 2, &xb));
                }
                __m128 dw = _mm_cvtph_ps(_mm_setr_epi16((short) mm_f16_bits(w0 + o), (short) mm_f16_bits(w1 + o),
                                                        (short) mm_f16_bits(w2 + o), (short) mm_f16_bits(w3 + o),
                                                        0, 0, 0, 0));
                __m128 c0 = _mm_mul_ps(dw, _mm_set1_ps(st0[b * xs_blk]));
                __m128 c1 = _mm_mul_ps(dw, _mm_set1_ps(st1[b * xs_blk]));
                acc0 = _mm_add_ps(acc0, _mm_mul_ps(c0, _mm_cvtepi32_ps(isum0)));
                acc1 = _mm_add_ps(acc1, _mm_mul_ps(c1, _mm_cvtepi32_ps(isum1)));
            }
            _mm_storeu_ps(y + t * ldy + r, acc0);
            _mm_storeu_ps(y + (t + 1) * ldy + r, acc1);
        }
        for (; t < t1; t++) {
            const int8_t *xt = xc + t * pk;
            const float *st = xs + (int64_t) t * xs_tok;
            __m128 acc = _mm_setzero_ps();
            for (int64_t b = 0, o = 0; b < nb; b++, o += bb) {
                mm_x xb = q4 ? prep_q4(xt + b * 32) : prep_q8(xt + b * 32);
                __m128i isum = q4 ? hsum4(dot_q4(w0 + o + 2, &xb), dot_q4(w1 + o + 2, &xb), dot_q4(w2 + o + 2, &xb),
                                          dot_q4(w3 + o + 2, &xb))
                                  : hsum4(dot_q8(w0 + o + 2, &xb), dot_q8(w1 + o + 2, &xb), dot_q8(w2 + o + 2, &xb),
                                          dot_q8(w3 + o + 2, &xb));
                __m128 dw = _mm_cvtph_ps(_mm_setr_epi16((short) mm_f16_bits(w0 + o), (short) mm_f16_bits(w1 + o),
                                                        (short) mm_f16_bits(w2 + o), (short) mm_f16_bits(w3 + o),
                                                        0, 0, 0, 0));
                __m128 c = _mm_mul_ps(dw, _mm_set1_ps(st[b * xs_blk]));
                acc = _mm_add_ps(acc, _mm_mul_ps(c, _mm_cvtepi32_ps(isum)));
            }
            _mm_storeu_ps(y + t * ldy + r, acc);
        }
    }
    for (; r < r1; r++) {
        const uint8_t *wr = w + r * row_bytes;
        for (int32_t t = t0; t < t1; t++) {
            const int8_t *xt = xc + t * pk;
            const float *st = xs + (int64_t) t * xs_tok;
            float acc = 0.0f;
            for (int64_t b = 0, o = 0; b < nb; b++, o += bb) {
                mm_x xb = q4 ? prep_q4(xt + b * 32) : prep_q8(xt + b * 32);
                int32_t isum = hsum1(q4 ? dot_q4(wr + o + 2, &xb) : dot_q8(wr + o + 2, &xb));
                float c = _cvtsh_ss(mm_f16_bits(wr + o)) * st[b * xs_blk];
                acc = acc + c * (float) isum;
            }
            y[t * ldy + r] = acc;
        }
    }
}

void LB_FN(gemm_q8_0_i8)(const uint8_t *w, const int8_t *xc, const float *xs, int32_t nb, int32_t xs_tok,
                         int32_t xs_blk, int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy) {
    gemm_i8(0, w, xc, xs, nb, xs_tok, xs_blk, r0, r1, t0, t1, y, ldy);
}

void LB_FN(gemm_q4_0_i8)(const uint8_t *w, const int8_t *xc, const float *xs, int32_t nb, int32_t xs_tok,
                         int32_t xs_blk, int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy) {
    gemm_i8(1, w, xc, xs, nb, xs_tok, xs_blk, r0, r1, t0, t1, y, ldy);
}

#endif

/*
 * i8_rowx16 with AVX-512 VNNI. The activations of the call are copied once with 128 added (x ^ 0x80), since
 * vpdpbusd multiplies unsigned bytes by signed ones; a zmm of weights is 4 codes of 16 rows, and one vpdpbusd
 * adds (x_4c .. x_4c+3) . (w_i,4c .. w_i,4c+3) into row i's lane for all 16 rows. Each lane starts at
 * -128 * (the row's code sum), so it ends at the exact sum of w * x.
 *
 * Tiles of up to 4 groups (64 rows) by 6 tokens hold 24 accumulators; rows go in panels of 4 groups, and the
 * token tiles pass over each panel while its weights sit in L1 / L2. Every lane's sum is exact, so tiling and
 * ranges change no bit.
 */
#include <immintrin.h>
#include <stdlib.h>
#include "matmul_i8row.h"

#define I8R_TG 4 /* groups per tile */
#define I8R_TT 6 /* tokens per tile */

/*
 * acc += the 16 lanes' 4-byte dot products of xb (unsigned) and w (signed). In place by inline assembly: with the
 * intrinsic, GCC 12 at -O2 copies the 24 accumulators of the 4 x 6 tile through the stack on every step.
 */
#define I8R_DP(acc, xb, w) __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(xb), "v"(w))

/* The int32 lanes' start: -128 times the 16 rows' code sums of the group at g. */
static inline __m512i i8r_start(const uint8_t *g) {
    return _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(_mm512_loadu_si512((const void *) (g + 64)), 7));
}

/* Rows of group g, token j: the fp32 step and a store of the rows below r1. */
static inline void i8r_store(const uint8_t *g, __m512i acc, float dx, int32_t row, int32_t r1, float *yt) {
    const int32_t n = r1 - row < I8R_ROWS ? r1 - row : I8R_ROWS;
    const __mmask16 m = (__mmask16) (n >= 16 ? 0xffff : (1u << n) - 1);
    const __m512 c = _mm512_mul_ps(_mm512_loadu_ps((const void *) g), _mm512_set1_ps(dx));
    _mm512_mask_storeu_ps(yt + row, m, _mm512_mul_ps(c, _mm512_cvtepi32_ps(acc)));
}

/*
 * G groups (1..4) by T tokens (1..6), both constants in each case of the switch below: the accumulators are named
 * variables, and those of groups and tokens past G and T are dead code, so all live ones stay in registers.
 */
static inline __attribute__((always_inline)) void i8r_tile(const int G, const int T, const uint8_t *w, int64_t gb,
                                                           const uint8_t *xu, int64_t xstride, int32_t kc,
                                                           const float *xs, int32_t xs_tok, int32_t t, int32_t r,
                                                           int32_t r1, float *y, int64_t ldy) {
    const __m512i z = _mm512_setzero_si512();
    const __m512i s0 = i8r_start(w);
    const __m512i s1 = G > 1 ? i8r_start(w + gb) : z;
    const __m512i s2 = G > 2 ? i8r_start(w + 2 * gb) : z;
    const __m512i s3 = G > 3 ? i8r_start(w + 3 * gb) : z;
    __m512i a00 = s0, a01 = s0, a02 = s0, a03 = s0, a04 = s0, a05 = s0;
    __m512i a10 = s1, a11 = s1, a12 = s1, a13 = s1, a14 = s1, a15 = s1;
    __m512i a20 = s2, a21 = s2, a22 = s2, a23 = s2, a24 = s2, a25 = s2;
    __m512i a30 = s3, a31 = s3, a32 = s3, a33 = s3, a34 = s3, a35 = s3;
    const uint8_t *q = w + I8R_HEADER;
    for (int32_t c = 0; c < kc; c++, q += 64) {
        const __m512i w0 = _mm512_loadu_si512((const void *) q);
        const __m512i w1 = G > 1 ? _mm512_loadu_si512((const void *) (q + gb)) : z;
        const __m512i w2 = G > 2 ? _mm512_loadu_si512((const void *) (q + 2 * gb)) : z;
        const __m512i w3 = G > 3 ? _mm512_loadu_si512((const void *) (q + 3 * gb)) : z;
#define I8R_STEP(j)                                                                      \
        if (T > (j)) {                                                                   \
            int32_t v;                                                                   \
            memcpy(&v, xu + (j) * xstride + 4 * c, sizeof v);                            \
            const __m512i xb = _mm512_set1_epi32(v);                                     \
            I8R_DP(a0##j, xb, w0);                                  \
            if (G > 1) I8R_DP(a1##j, xb, w1);                       \
            if (G > 2) I8R_DP(a2##j, xb, w2);                       \
            if (G > 3) I8R_DP(a3##j, xb, w3);                       \
        }
        I8R_STEP(0) I8R_STEP(1) I8R_STEP(2) I8R_STEP(3) I8R_STEP(4) I8R_STEP(5)
#undef I8R_STEP
    }
#define I8R_OUT(j)                                                                                       \
    if (T > (j)) {                                                                                       \
        const float dx = xs[(int64_t) (t + (j)) * xs_tok];                                               \
        float *yt = y + (int64_t) (t + (j)) * ldy;                                                       \
        i8r_store(w, a0##j, dx, r, r1, yt);                                                              \
        if (G > 1) i8r_store(w + gb, a1##j, dx, r + 16, r1, yt);                                         \
        if (G > 2) i8r_store(w + 2 * gb, a2##j, dx, r + 32, r1, yt);                                     \
        if (G > 3) i8r_store(w + 3 * gb, a3##j, dx, r + 48, r1, yt);                                     \
    }
    I8R_OUT(0) I8R_OUT(1) I8R_OUT(2) I8R_OUT(3) I8R_OUT(4) I8R_OUT(5)
#undef I8R_OUT
}

#define I8R_CASE(G, T) \
    case (G) * 8 + (T): i8r_tile(G, T, wg, gb, xu + (int64_t) (t - t0) * xstride, xstride, kc, xs, xs_tok, t, r, r1, y, ldy); break;

int32_t LB_FN(gemm_i8_rowx16_i8)(const uint8_t *w, const int8_t *xc, const float *xs, int32_t k, int32_t pk,
                                 int32_t xs_tok, int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y,
                                 int64_t ldy) {
    if (r0 >= r1 || t0 >= t1) {
        return 0;
    }
    const int32_t kc = (k + 3) / 4;
    const int64_t gb = i8r_group_bytes(k);
    const int64_t xstride = (int64_t) kc * 4;
    const int64_t need = (int64_t) (t1 - t0) * xstride;
    uint8_t stack[16384];
    uint8_t *xu = need <= (int64_t) sizeof stack ? stack : malloc((size_t) need);
    if (xu == NULL) {
        return -1;
    }
    const __m512i flip = _mm512_set1_epi8((char) 0x80);
    for (int32_t t = t0; t < t1; t++) {
        const int8_t *x = xc + (int64_t) t * pk;
        uint8_t *u = xu + (int64_t) (t - t0) * xstride;
        int64_t c = 0;
        for (; c + 64 <= xstride; c += 64) {
            _mm512_storeu_si512((void *) (u + c), _mm512_xor_si512(_mm512_loadu_si512((const void *) (x + c)), flip));
        }
        for (; c < xstride; c++) {
            u[c] = (uint8_t) (x[c] ^ 0x80);
        }
    }
    for (int32_t r = r0; r < r1; r += I8R_TG * I8R_ROWS) {
        const uint8_t *wg = w + (int64_t) (r / I8R_ROWS) * gb;
        const int32_t rows = r1 - r;
        const int G = rows >= I8R_TG * I8R_ROWS ? I8R_TG : (rows + I8R_ROWS - 1) / I8R_ROWS;
        for (int32_t t = t0; t < t1; t += I8R_TT) {
            const int T = t1 - t < I8R_TT ? t1 - t : I8R_TT;
            switch (G * 8 + T) {
                I8R_CASE(4, 6) I8R_CASE(4, 5) I8R_CASE(4, 4) I8R_CASE(4, 3) I8R_CASE(4, 2) I8R_CASE(4, 1)
                I8R_CASE(3, 6) I8R_CASE(3, 5) I8R_CASE(3, 4) I8R_CASE(3, 3) I8R_CASE(3, 2) I8R_CASE(3, 1)
                I8R_CASE(2, 6) I8R_CASE(2, 5) I8R_CASE(2, 4) I8R_CASE(2, 3) I8R_CASE(2, 2) I8R_CASE(2, 1)
                I8R_CASE(1, 6) I8R_CASE(1, 5) I8R_CASE(1, 4) I8R_CASE(1, 3) I8R_CASE(1, 2) I8R_CASE(1, 1)
                default: break;
            }
        }
    }
    if (xu != stack) {
        free(xu);
    }
    return 0;
}

/*
 * Row-interleaved Q8_0x8 and Q4_0x8 times int8 activations in plain C (the layout is in matmul_x8_impl.h):
 * row by row in the scalar reference's order, reading each code where the interleaving put it.
 */
#include "lowbit.h"
#include "matmul_common.h"
#include "matmul_x8_f32_impl.h"

#define X8_SB_Q8 272
#define X8_SB_Q4 144

/* Code of element e (0..31) of row i (0..7) in a superblock, as the signed weight. */
static inline int32_t x8_code(const int q4, const uint8_t *sb, int i, int e) {
    if (!q4) {
        return (int8_t) sb[16 + 32 * (e / 4) + 4 * i + e % 4];
    }
    int j = e & 15;
    uint8_t byte = sb[16 + 32 * (j / 4) + 4 * i + j % 4];
    return (e < 16 ? byte & 15 : byte >> 4) - 8;
}

static void x8_gemm(const int q4, const uint8_t *w, const int8_t *xc, const float *xs, int32_t nb, int32_t xs_tok,
                    int32_t xs_blk, int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy) {
    const int64_t sbb = q4 ? X8_SB_Q4 : X8_SB_Q8;
    const int64_t pk = (int64_t) nb * 32;
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t *wg = w + (int64_t) (r / 8) * nb * sbb;
        const int i = r % 8;
        for (int32_t t = t0; t < t1; t++) {
            const int8_t *xt = xc + t * pk;
            const float *st = xs + (int64_t) t * xs_tok;
            float acc = 0.0f;
            for (int32_t b = 0; b < nb; b++) {
                const uint8_t *sb = wg + b * sbb;
                const int8_t *x = xt + (int64_t) b * 32;
                int32_t isum = 0;
                for (int e = 0; e < 32; e++) {
                    isum += x8_code(q4, sb, i, e) * x[e];
                }
                float c = mm_f16_to_f32(mm_f16_bits(sb + 2 * i)) * st[(int64_t) b * xs_blk];
                acc = acc + c * (float) isum;
            }
            y[t * ldy + r] = acc;
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

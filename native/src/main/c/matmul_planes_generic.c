/*
 * Matmuls of Q4_1, grouped integer planes and 4-bit codebooks in plain C: the Java reference's loops, element by
 * element, in its order (matmul_planes.h). |isum| <= 32 * 255 * 128 < 2^21 and |xsum| <= 4096: int32 is exact.
 */
#include "lowbit.h"
#include "matmul_planes.h"

void LB_FN(gemm_q4_1_i8)(const uint8_t *w, const int8_t *xc, const float *xs, int32_t nb, int32_t xs_tok,
                         int32_t xs_blk, int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy) {
    const int64_t row_bytes = (int64_t) nb * MM_Q4_1_BYTES;
    const int64_t pk = (int64_t) nb * 32;
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t *wr = w + r * row_bytes;
        for (int32_t t = t0; t < t1; t++) {
            const int8_t *xt = xc + t * pk;
            const float *st = xs + (int64_t) t * xs_tok;
            float acc = 0.0f;
            for (int32_t b = 0; b < nb; b++) {
                const uint8_t *blk = wr + (int64_t) b * MM_Q4_1_BYTES;
                const int8_t *x = xt + (int64_t) b * 32;
                int32_t isum = 0;
                int32_t xsum = 0;
                for (int j = 0; j < 16; j++) {
                    isum += (blk[4 + j] & 15) * x[j] + (blk[4 + j] >> 4) * x[j + 16];
                    xsum += x[j] + x[j + 16];
                }
                acc = mg_step1(MG_Q4_1, acc, lb_f16_to_f32(lb_load_u16(blk)), lb_f16_to_f32(lb_load_u16(blk + 2)),
                               st[(int64_t) b * xs_blk], isum, xsum);
            }
            y[t * ldy + r] = acc;
        }
    }
}

void LB_FN(gemm_grouped_i8)(const uint8_t *w, const void *scales, const void *zeros, int32_t k, int32_t bits,
                            int32_t group_len, int32_t symmetric, int32_t scale_f16, const int8_t *xc, const float *xs,
                            int32_t xs_tok, int32_t xs_blk, int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y,
                            int64_t ldy) {
    const int32_t nb = (k + 31) / 32;
    const int64_t pk = (int64_t) nb * 32;
    const int64_t row_bytes = mg_row_bytes(k, bits);
    const int32_t gpr = mg_groups(k, group_len);
    const int32_t bpg = mg_blocks_per_group(k, group_len);
    const int32_t off = bits == 8 ? 128 : 0;               /* WeightRows.codeOffset, asymmetric */
    const int32_t sub = symmetric ? 1 << (bits - 1) : off; /* code u stands for u - sub */
    const int step = symmetric ? MG_CENTERED : MG_ASYM;
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t *wr = w + r * row_bytes;
        for (int32_t t = t0; t < t1; t++) {
            const int8_t *xt = xc + t * pk;
            const float *st = xs + (int64_t) t * xs_tok;
            float acc = 0.0f;
            for (int32_t b = 0; b < nb; b++) {
                int64_t g = (int64_t) r * gpr + b / bpg;
                int32_t isum = 0;
                int32_t xsum = 0;
                for (int32_t j = 0; j < 32; j++) {
                    int64_t c = (int64_t) b * 32 + j;
                    int32_t v = c < k ? lb_code_at(wr, bits, c) - sub : 0;
                    isum += v * xt[c];
                    xsum += xt[c];
                }
                float zm = symmetric ? 0.0f : lb_load_param(zeros, g, scale_f16) - (float) off;
                acc = mg_step1(step, acc, lb_load_param(scales, g, scale_f16), zm, st[(int64_t) b * xs_blk], isum,
                               xsum);
            }
            y[t * ldy + r] = acc;
        }
    }
}

/* Weight-only path, in the reference's order: its bits exactly. */
void LB_FN(gemm_q4_1_f32)(const uint8_t *w, const float *x, int32_t k, int32_t r0, int32_t r1, int32_t t0,
                          int32_t t1, float *y, int64_t ldy) {
    const int64_t row_bytes = (int64_t) ((k + 31) / 32) * MM_Q4_1_BYTES;
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t *wr = w + r * row_bytes;
        for (int32_t t = t0; t < t1; t++) {
            const float *xt = x + (int64_t) t * k;
            float acc = 0.0f;
            for (int32_t b = 0; b * 32 < k; b++) {
                acc = acc + mg_q4_1_block_f32(wr + (int64_t) b * MM_Q4_1_BYTES, xt + b * 32,
                                              k - b * 32 < 32 ? k - b * 32 : 32);
            }
            y[t * ldy + r] = acc;
        }
    }
}

void LB_FN(gemm_grouped_f32)(const uint8_t *w, const void *scales, const void *zeros, const float *levels, int32_t k,
                             int32_t bits, int32_t group_len, int32_t symmetric, int32_t scale_f16, const float *x,
                             int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy) {
    const int64_t row_bytes = mg_row_bytes(k, bits);
    const int32_t gpr = mg_groups(k, group_len);
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t *wr = w + r * row_bytes;
        for (int32_t t = t0; t < t1; t++) {
            const float *xt = x + (int64_t) t * k;
            float acc = 0.0f;
            for (int32_t g = 0; g < gpr; g++) {
                int64_t gi = (int64_t) r * gpr + g;
                float z = levels != NULL ? 0.0f : symmetric ? (float) (1 << (bits - 1)) : lb_load_param(zeros, gi, scale_f16);
                int64_t c0 = (int64_t) g * group_len;
                int64_t c1 = c0 + group_len < k ? c0 + group_len : k;
                acc = acc + lb_load_param(scales, gi, scale_f16) * mg_group_f32(wr, bits, levels, z, xt, c0, c1);
            }
            y[t * ldy + r] = acc;
        }
    }
}

/*
 * Integer matmuls in plain C: Q8_0 and Q4_0 weights times int8 activations (W8A8, W4A8).
 * The block sums are int32 loops; |isum| <= 32 * 128 * 128 = 2^19, so nothing overflows.
 */
#include "lowbit.h"
#include "matmul_common.h"

void LB_FN(gemm_q8_0_i8)(const uint8_t *w, const int8_t *xc, const float *xs, int32_t nb, int32_t xs_tok,
                         int32_t xs_blk, int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy) {
    const int64_t row_bytes = (int64_t) nb * MM_Q8_0_BYTES;
    const int64_t pk = (int64_t) nb * 32;
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t *wr = w + r * row_bytes;
        for (int32_t t = t0; t < t1; t++) {
            const int8_t *xt = xc + t * pk;
            const float *st = xs + (int64_t) t * xs_tok;
            float acc = 0.0f;
            for (int32_t b = 0; b < nb; b++) {
                const uint8_t *blk = wr + (int64_t) b * MM_Q8_0_BYTES;
                const int8_t *q = (const int8_t *) (blk + 2);
                const int8_t *x = xt + (int64_t) b * 32;
                int32_t isum = 0;
                for (int j = 0; j < 32; j++) {
                    isum += q[j] * x[j];
                }
                float c = mm_f16_to_f32(mm_f16_bits(blk)) * st[(int64_t) b * xs_blk];
                acc = acc + c * (float) isum;
            }
            y[t * ldy + r] = acc;
        }
    }
}

void LB_FN(gemm_q4_0_i8)(const uint8_t *w, const int8_t *xc, const float *xs, int32_t nb, int32_t xs_tok,
                         int32_t xs_blk, int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy) {
    const int64_t row_bytes = (int64_t) nb * MM_Q4_0_BYTES;
    const int64_t pk = (int64_t) nb * 32;
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t *wr = w + r * row_bytes;
        for (int32_t t = t0; t < t1; t++) {
            const int8_t *xt = xc + t * pk;
            const float *st = xs + (int64_t) t * xs_tok;
            float acc = 0.0f;
            for (int32_t b = 0; b < nb; b++) {
                const uint8_t *blk = wr + (int64_t) b * MM_Q4_0_BYTES;
                const uint8_t *q = blk + 2;
                const int8_t *x = xt + (int64_t) b * 32;
                int32_t isum = 0;
                for (int j = 0; j < 16; j++) {
                    isum += ((q[j] & 15) - 8) * x[j] + ((q[j] >> 4) - 8) * x[j + 16];
                }
                float c = mm_f16_to_f32(mm_f16_bits(blk)) * st[(int64_t) b * xs_blk];
                acc = acc + c * (float) isum;
            }
            y[t * ldy + r] = acc;
        }
    }
}

/*
 * Weight-only path: Q8_0 and Q4_0 weights times fp32 activations, in the scalar reference's order
 * (per block s = s + v * x element by element, then acc = acc + d * s): its bits exactly.
 */
static inline float row_f32(const int q4, const uint8_t *wr, const float *xt, int32_t k) {
    const int64_t bb = q4 ? MM_Q4_0_BYTES : MM_Q8_0_BYTES;
    float acc = 0.0f;
    for (int32_t b = 0; b * 32 < k; b++) {
        const uint8_t *blk = wr + b * bb;
        int32_t n = k - b * 32 < 32 ? k - b * 32 : 32;
        acc = acc + mm_f16_to_f32(mm_f16_bits(blk)) * mm_block_f32(q4, blk, xt + b * 32, n);
    }
    return acc;
}

void LB_FN(gemm_q8_0_f32)(const uint8_t *w, const float *x, int32_t k, int32_t r0, int32_t r1, int32_t t0,
                          int32_t t1, float *y, int64_t ldy) {
    const int64_t row_bytes = (int64_t) ((k + 31) / 32) * MM_Q8_0_BYTES;
    for (int32_t r = r0; r < r1; r++) {
        for (int32_t t = t0; t < t1; t++) {
            y[t * ldy + r] = row_f32(0, w + r * row_bytes, x + (int64_t) t * k, k);
        }
    }
}

void LB_FN(gemm_q4_0_f32)(const uint8_t *w, const float *x, int32_t k, int32_t r0, int32_t r1, int32_t t0,
                          int32_t t1, float *y, int64_t ldy) {
    const int64_t row_bytes = (int64_t) ((k + 31) / 32) * MM_Q4_0_BYTES;
    for (int32_t r = r0; r < r1; r++) {
        for (int32_t t = t0; t < t1; t++) {
            y[t * ldy + r] = row_f32(1, w + r * row_bytes, x + (int64_t) t * k, k);
        }
    }
}

/*
 * The weight-only drivers shared by matmul_planes_avx2.c and matmul_planes_avx512.c, included by each after
 * it has defined MG_LANES (8 or 16), grouped_row (one row of grouped or codebook codes times nt tokens) and
 * q4_1_row (the same for Q4_1 blocks). Rows go one at a time, tokens by 4, then 2, then 1, sharing each row's
 * unpacked codes; each (row, token) takes the same steps in any tile, so y does not depend on the ranges.
 * Defines the tier's exported gemm_grouped_f32 and gemm_q4_1_f32 (LB_FN): include it once per tier.
 */
#ifndef LOWBIT_MATMUL_PLANES_F32_IMPL_H
#define LOWBIT_MATMUL_PLANES_F32_IMPL_H

static inline __attribute__((always_inline)) void grouped_f32(const int bits, const int cb, const uint8_t *w,
                                                              const void *scales, const void *zeros,
                                                              const float *levels, int32_t k, int32_t group_len,
                                                              int32_t symmetric, int32_t f16, const float *x,
                                                              int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y,
                                                              int64_t ldy) {
    const int64_t row_bytes = mg_row_bytes(k, bits);
    const int32_t gpr = mg_groups(k, group_len);
    const int64_t kb = (int64_t) (k & ~(MG_LANES - 1)) * bits / 8; /* bytes of the whole chunks */
    uint8_t tail[MG_LANES];
    memset(tail, 0, sizeof tail);
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t *wr = w + r * row_bytes;
        memcpy(tail, wr + kb, (size_t) (row_bytes - kb));
        const int64_t g0 = (int64_t) r * gpr;
        int32_t t = t0;
        for (; t + 4 <= t1; t += 4) {
            grouped_row(bits, cb, 4, wr, tail, scales, zeros, g0, gpr, group_len, symmetric, f16, levels,
                        x + (int64_t) t * k, k, y + t * ldy + r, ldy);
        }
        for (; t + 2 <= t1; t += 2) {
            grouped_row(bits, cb, 2, wr, tail, scales, zeros, g0, gpr, group_len, symmetric, f16, levels,
                        x + (int64_t) t * k, k, y + t * ldy + r, ldy);
        }
        if (t < t1) {
            grouped_row(bits, cb, 1, wr, tail, scales, zeros, g0, gpr, group_len, symmetric, f16, levels,
                        x + (int64_t) t * k, k, y + t * ldy + r, ldy);
        }
    }
}

void LB_FN(gemm_grouped_f32)(const uint8_t *w, const void *scales, const void *zeros, const float *levels, int32_t k,
                             int32_t bits, int32_t group_len, int32_t symmetric, int32_t scale_f16, const float *x,
                             int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy) {
    if (levels != NULL) {
        grouped_f32(4, 1, w, scales, zeros, levels, k, group_len, symmetric, scale_f16, x, r0, r1, t0, t1, y, ldy);
        return;
    }
    switch (bits) {
        case 8:
            grouped_f32(8, 0, w, scales, zeros, levels, k, group_len, symmetric, scale_f16, x, r0, r1, t0, t1, y, ldy);
            break;
        case 4:
            grouped_f32(4, 0, w, scales, zeros, levels, k, group_len, symmetric, scale_f16, x, r0, r1, t0, t1, y, ldy);
            break;
        case 3:
            grouped_f32(3, 0, w, scales, zeros, levels, k, group_len, symmetric, scale_f16, x, r0, r1, t0, t1, y, ldy);
            break;
        default:
            grouped_f32(2, 0, w, scales, zeros, levels, k, group_len, symmetric, scale_f16, x, r0, r1, t0, t1, y, ldy);
            break;
    }
}

void LB_FN(gemm_q4_1_f32)(const uint8_t *w, const float *x, int32_t k, int32_t r0, int32_t r1, int32_t t0,
                          int32_t t1, float *y, int64_t ldy) {
    const int64_t row_bytes = (int64_t) ((k + 31) / 32) * MM_Q4_1_BYTES;
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t *wr = w + r * row_bytes;
        int32_t t = t0;
        for (; t + 4 <= t1; t += 4) {
            q4_1_row(4, wr, x + (int64_t) t * k, k, y + t * ldy + r, ldy);
        }
        for (; t + 2 <= t1; t += 2) {
            q4_1_row(2, wr, x + (int64_t) t * k, k, y + t * ldy + r, ldy);
        }
        if (t < t1) {
            q4_1_row(1, wr, x + (int64_t) t * k, k, y + t * ldy + r, ldy);
        }
    }
}

#endif

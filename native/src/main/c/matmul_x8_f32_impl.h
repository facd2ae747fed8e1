/*
 * Weight-only path for the row-interleaved layouts, included by every tier's matmul_x8_*.c: each group of 8
 * rows is unpacked to plain Q8_0 / Q4_0 rows in a buffer that stays in cache, and the tier's plain kernel
 * (gemm_q8_0_f32 / gemm_q4_0_f32) runs on it. The result is the plain rows' result at that tier, bit for bit.
 * Defines the tier's exported gemm_q8_0x8_f32 and gemm_q4_0x8_f32 (LB_FN): include it once per tier.
 */
#ifndef LOWBIT_MATMUL_X8_F32_IMPL_H
#define LOWBIT_MATMUL_X8_F32_IMPL_H

#include <stdlib.h>
#include <string.h>
#include "lowbit.h"

/* Rows 8g .. 8g + n - 1 of the interleaved w (nb blocks a row) as plain rows at out. */
static inline void x8_unpack_group(const int q4, const uint8_t *w, int64_t nb, int64_t g, int n, uint8_t *out) {
    const int64_t sbb = q4 ? 144 : 272;
    const int bb = q4 ? 18 : 34;
    const int chunks = q4 ? 4 : 8;
    for (int i = 0; i < n; i++) {
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *sb = w + (g * nb + b) * sbb;
            uint8_t *blk = out + ((int64_t) i * nb + b) * bb;
            memcpy(blk, sb + 2 * i, 2);
            for (int c = 0; c < chunks; c++) {
                memcpy(blk + 2 + 4 * c, sb + 16 + 32 * c + 4 * i, 4);
            }
        }
    }
}

/* Returns 0, or -1 when the buffer for 8 rows cannot be allocated (nothing written then). */
static inline int32_t x8_f32(const int q4, const uint8_t *w, const float *x, int32_t k, int32_t r0, int32_t r1,
                             int32_t t0, int32_t t1, float *y, int64_t ldy) {
    const int64_t nb = ((int64_t) k + 31) / 32;
    uint8_t *buf = malloc((size_t) (8 * nb * (q4 ? 18 : 34)) + 1);
    if (buf == NULL) {
        return -1;
    }
    for (int32_t r = r0; r < r1; r += 8) {
        const int n = r1 - r < 8 ? r1 - r : 8;
        x8_unpack_group(q4, w, nb, r / 8, n, buf);
        if (q4) {
            LB_FN(gemm_q4_0_f32)(buf, x, k, 0, n, t0, t1, y + r, ldy);
        } else {
            LB_FN(gemm_q8_0_f32)(buf, x, k, 0, n, t0, t1, y + r, ldy);
        }
    }
    free(buf);
    return 0;
}

int32_t LB_FN(gemm_q8_0x8_f32)(const uint8_t *w, const float *x, int32_t k, int32_t r0, int32_t r1, int32_t t0,
                               int32_t t1, float *y, int64_t ldy) {
    return x8_f32(0, w, x, k, r0, r1, t0, t1, y, ldy);
}

int32_t LB_FN(gemm_q4_0x8_f32)(const uint8_t *w, const float *x, int32_t k, int32_t r0, int32_t r1, int32_t t0,
                               int32_t t1, float *y, int64_t ldy) {
    return x8_f32(1, w, x, k, r0, r1, t0, t1, y, ldy);
}

#endif

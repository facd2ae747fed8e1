/*
 * The ggml blocks beyond Q8_0, Q4_0 and Q4_1 on the integer path in plain C: row by row and token by token in the
 * scalar reference's order (matmul_kq.h).
 */
#include "matmul_kq.h"

int32_t LB_FN(gemm_blocks_i8)(int32_t kind, const uint8_t *w, const int8_t *xc, const float *xs, int32_t k,
                              int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy) {
    const int32_t blk = kq_super(kind) ? 256 : 32;
    const int64_t row_bytes = (int64_t) (k / blk) * kq_block_bytes(kind);
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t *row = w + r * row_bytes;
        for (int32_t t = t0; t < t1; t++) {
            y[t * ldy + r] = kq_row_scalar(kind, row, xc + (int64_t) t * k, xs + (int64_t) t * (k / blk), k);
        }
    }
    return 0;
}

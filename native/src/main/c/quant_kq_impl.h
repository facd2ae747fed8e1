/*
 * The row code of quantize_kq and dequantize_kq, shared by every tier: the tier's .c file includes quant_kq.h,
 * may define lb_kq_tier_row (a whole finite row of whole blocks, LB_OK or LB_RANGE) and lb_kq_tier_deq_row, and
 * then includes this file, which defines the exported functions under LB_FN names.
 */
#include "lowbit.h"
#include "quant_kq.h"

static inline int lb_kq_scalar_row(int kind, const float *x, int32_t cols, uint8_t *out) {
    int n = lb_kq_block_elems(kind), bb = lb_kq_block_bytes(kind);
    for (int32_t b = 0; b < cols / n; b++) {
        if (lb_kq_scalar_block(kind, x + (int64_t) b * n, out + (int64_t) b * bb) != LB_OK) {
            return LB_RANGE;
        }
    }
    return LB_OK;
}

static inline void lb_kq_scalar_deq_row(int kind, const uint8_t *row, int32_t cols, float *out) {
    int n = lb_kq_block_elems(kind), bb = lb_kq_block_bytes(kind);
    for (int32_t b = 0; b < cols / n; b++) {
        lb_kq_deq_block(kind, row + (int64_t) b * bb, out + (int64_t) b * n);
    }
}

static inline int lb_kq_scalar_finite(const float *x, int64_t n) {
    uint32_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        bad |= (uint32_t) ((lb_bits(x[i]) & 0x7F800000u) == 0x7F800000u);
    }
    return !bad;
}

#ifndef lb_kq_tier_row
#define lb_kq_tier_row lb_kq_scalar_row
#endif
#ifndef lb_kq_tier_deq_row
#define lb_kq_tier_deq_row lb_kq_scalar_deq_row
#endif
#ifndef lb_kq_tier_finite
#define lb_kq_tier_finite lb_kq_scalar_finite
#endif

int64_t LB_FN(quantize_kq)(int32_t kind, const float *src, int64_t src_off, int64_t rows, int32_t cols,
                           uint8_t *dst) {
    const float *s = src + src_off;
    int64_t row_bytes = (int64_t) (cols / lb_kq_block_elems(kind)) * lb_kq_block_bytes(kind);
    for (int64_t r = 0; r < rows; r++) {
        const float *x = s + r * cols;
        if (!lb_kq_tier_finite(x, cols)) {
            return r + 1;
        }
        if (lb_kq_tier_row(kind, x, cols, dst + r * row_bytes) != LB_OK) {
            return -(r + 1);
        }
    }
    return 0;
}

void LB_FN(dequantize_kq)(int32_t kind, const uint8_t *data, int64_t row0, int64_t rows, int32_t cols, float *dst,
                          int64_t dst_off) {
    int64_t row_bytes = (int64_t) (cols / lb_kq_block_elems(kind)) * lb_kq_block_bytes(kind);
    for (int64_t r = 0; r < rows; r++) {
        lb_kq_tier_deq_row(kind, data + (row0 + r) * row_bytes, cols, dst + dst_off + r * cols);
    }
}

/*
 * i8_rowx16 (lowbit.h, docs/formats.md): what the tiers share, the layout's offsets and the fp32 step.
 */
#ifndef LOWBIT_MATMUL_I8ROW_H
#define LOWBIT_MATMUL_I8ROW_H

#include <stdint.h>
#include <string.h>
#include "lowbit.h"

#define I8R_ROWS 16
#define I8R_HEADER 128

static inline int64_t i8r_group_bytes(int32_t k) {
    return I8R_HEADER + (int64_t) ((k + 3) / 4) * 64;
}

/* The reference's step: (d_w * d_x) rounded, times the sum converted to fp32, rounded. */
static inline float i8r_scale(float dw, float dx, int32_t isum) {
    float c = dw * dx;
    return c * (float) isum;
}

#endif

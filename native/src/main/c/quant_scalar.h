/*
 * Scalar element loops of the quantize kernels: the generic tier's whole implementation, and the tails of
 * the vector tiers. A vector tier does the same IEEE operations in the same order, so its bits are these.
 */
#ifndef LOWBIT_QUANT_SCALAR_H
#define LOWBIT_QUANT_SCALAR_H

#include "quant_common.h"

/* Smallest and largest of x[0, n) as sortable ints (n >= 1). */
static inline void lb_scalar_minmax(const float *x, int64_t n, int32_t *smin, int32_t *smax) {
    int32_t lo = INT32_MAX, hi = INT32_MIN;
    for (int64_t i = 0; i < n; i++) {
        int32_t s = lb_sortable(lb_bits(x[i]));
        lo = s < lo ? s : lo;
        hi = s > hi ? s : hi;
    }
    *smin = lo;
    *smax = hi;
}

/* The largest |x[i]| bits of x[0, n) (n >= 1): a NaN or an infinity makes it >= 0x7F800000. */
static inline uint32_t lb_scalar_absmax_bits(const float *x, int n) {
    uint32_t m = 0;
    for (int i = 0; i < n; i++) {
        uint32_t a = lb_bits(x[i]) & 0x7FFFFFFFu;
        m = a > m ? a : m;
    }
    return m;
}

/* The index of the first |x[i]| whose bits are a (one exists), for Q4_0's first element of largest magnitude. */
static inline int lb_scalar_first_abs(const float *x, int n, uint32_t a) {
    int j = 0;
    while ((lb_bits(x[j]) & 0x7FFFFFFFu) != a && j < n - 1) {
        j++;
    }
    return j;
}

/* out[i] = clamp(rint((x[i] - sub) / d) + add, lo, hi) for d != 0. */
static inline void lb_scalar_codes(const float *x, int n, float d, float sub, float add, float lo, float hi,
                                   int8_t *out) {
    for (int i = 0; i < n; i++) {
        out[i] = (int8_t) lb_code((x[i] - sub) / d, add, lo, hi);
    }
}

/* A whole Q8_0 block's 32 codes, roundf(x * id), straight into the block. */
static inline void lb_scalar_q8_codes32(const float *x, float id, uint8_t *out) {
    for (int i = 0; i < 32; i++) {
        out[i] = (uint8_t) (int8_t) lb_gcode_q8(x[i], id);
    }
}

/* A whole Q4_0 / Q4_1 block's 32 codes as 16 bytes: element j low nibble, element j + 16 high nibble. */
static inline void lb_scalar_q4_codes32(const float *x, float id, float sub, float add, uint8_t *out) {
    for (int j = 0; j < 16; j++) {
        out[j] = (uint8_t) (lb_gcode_q4(x[j], id, sub, add) | (lb_gcode_q4(x[j + 16], id, sub, add) << 4));
    }
}

/* Codebook indices: the number of midpoints strictly below x[i] / d, for d != 0. */
static inline void lb_scalar_cb_codes(const float *x, int n, float d, const float *mid, int8_t *out) {
    for (int i = 0; i < n; i++) {
        float v = x[i] / d;
        int c = 0;
        for (int k = 0; k < 15; k++) {
            c += mid[k] < v;
        }
        out[i] = (int8_t) c;
    }
}

/* One whole Q8_0 block (fp16 d, 32 int8 codes) into 32 floats: q * d. */
static inline void lb_scalar_deq_q8_0(const uint8_t *blk, float *out) {
    float d = lb_f16_to_f32(lb_load_u16(blk));
    for (int j = 0; j < 32; j++) {
        out[j] = (float) (int8_t) blk[2 + j] * d;
    }
}

/* One whole Q4_0 block: (q - 8) * d; or Q4_1 (q41 != 0): q * d + m, a product then a sum. */
static inline void lb_scalar_deq_q4(const uint8_t *blk, int q41, float *out) {
    float d = lb_f16_to_f32(lb_load_u16(blk));
    if (q41) {
        float m = lb_f16_to_f32(lb_load_u16(blk + 2));
        for (int j = 0; j < 16; j++) {
            out[j] = (float) (blk[4 + j] & 15) * d + m;
            out[j + 16] = (float) (blk[4 + j] >> 4) * d + m;
        }
        return;
    }
    for (int j = 0; j < 16; j++) {
        out[j] = (float) ((blk[2 + j] & 15) - 8) * d;
        out[j + 16] = (float) ((blk[2 + j] >> 4) - 8) * d;
    }
}

static inline int lb_code_at(const uint8_t *row, int bits, int64_t i) {
    switch (bits) {
        case 8: return row[i];
        case 4: return (row[i >> 1] >> ((i & 1) << 2)) & 15;
        case 2: return (row[i >> 2] >> ((i & 3) << 1)) & 3;
        default: {
            int64_t bit = i * bits;
            int shift = (int) (bit & 7);
            uint32_t v = row[bit >> 3];
            if (shift + bits > 8) {
                v |= (uint32_t) row[(bit >> 3) + 1] << 8;
            }
            return (int) ((v >> shift) & ((1u << bits) - 1));
        }
    }
}

/* Codes [i, i + n) of a row into c; the switch sits outside the element loops. */
static inline void lb_unpack(const uint8_t *row, int bits, int64_t i, int n, int32_t *c) {
    switch (bits) {
        case 8:
            for (int k = 0; k < n; k++) {
                c[k] = row[i + k];
            }
            break;
        case 4:
            for (int k = 0; k < n; k++) {
                c[k] = (row[(i + k) >> 1] >> (((i + k) & 1) << 2)) & 15;
            }
            break;
        case 2:
            for (int k = 0; k < n; k++) {
                c[k] = (row[(i + k) >> 2] >> (((i + k) & 3) << 1)) & 3;
            }
            break;
        default:
            for (int k = 0; k < n; k++) {
                c[k] = lb_code_at(row, bits, i + k);
            }
            break;
    }
}

/* out[k] = (code(i + k) - z) * d, or levels[code(i + k)] * d when levels != NULL, for k < n <= 128. */
static inline void lb_scalar_deq_codes(const uint8_t *row, int bits, int64_t i, int n, float z, float d,
                                       const float *levels, float *out) {
    int32_t c[128];
    lb_unpack(row, bits, i, n, c);
    if (levels != NULL) {
        for (int k = 0; k < n; k++) {
            out[k] = levels[c[k]] * d;
        }
        return;
    }
    for (int k = 0; k < n; k++) {
        out[k] = ((float) c[k] - z) * d;
    }
}

static inline int64_t lb_scalar_first_non_finite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (!lb_finite(x[i])) {
            return i;
        }
    }
    return -1;
}

#endif

/*
 * The row code of quantize and dequantize, shared by every tier: the tier's .c file defines the element loops
 * (lb_tier_minmax, lb_tier_codes, lb_tier_cb_codes, lb_tier_deq_q8_0, lb_tier_deq_q4, lb_tier_first_non_finite)
 * and then includes this file, which defines the exported functions under LB_FN names.
 * Per-group parameters come from quant_common.h's scalar copy of GroupParams, as in every Java implementation.
 */
#include "lowbit.h"
#include "quant_common.h"

#define LB_CHUNK 128 /* codes computed per step of a group; every group size but ROW is at most this */

static inline void lb_minmax(const float *x, int64_t n, float *mn, float *mx) {
    int32_t a = 0, b = 0;
    lb_tier_minmax(x, n, &a, &b);
    *mn = lb_unsortable(a);
    *mx = lb_unsortable(b);
}

static inline float lb_absmax(float mn, float mx) {
    float a = lb_abs(mn), b = lb_abs(mx);
    return a >= b ? a : b;
}

/* ---------------------------------------------------------------- ggml blocks */

enum { LB_Q8_0, LB_Q4_0, LB_Q4_1 };

/*
 * Statistics and parameters of one block of len <= 32 elements by ggml's rules (quant_common.h): LB_OK,
 * LB_NONFINITE or LB_RANGE.
 */
static inline int lb_ggml_params(int kind, const float *x, int len, lb_gparams *p) {
    if (kind != LB_Q4_1) { /* only |x| decides: one integer max of the magnitude bits, which order like the floats */
        uint32_t a = lb_tier_absmax_bits(x, len);
        if (a >= 0x7F800000u) {
            return LB_NONFINITE;
        }
        if (kind == LB_Q8_0) {
            return lb_gparams_q8_0(lb_float(a), p);
        }
        float m = 0.0f;
        if (a != 0) {
            m = x[lb_tier_first_abs(x, len, a)]; /* the first element of largest magnitude */
        }
        return lb_gparams_q4_0(m, p);
    }
    float mn, mx;
    lb_minmax(x, len, &mn, &mx);
    if (!lb_finite(mn) || !lb_finite(mx)) {
        return LB_NONFINITE;
    }
    if (mn == 0.0f) { /* ggml's strict comparisons keep the first zero's sign */
        int j = 0;
        while (x[j] != 0.0f) {
            j++;
        }
        mn = x[j];
    }
    return lb_gparams_q4_1(mn, mx, p);
}

/* Writes a block of len <= 32 elements with its parameters: fp16 d (and m), then the codes; padding codes zero. */
static inline void lb_ggml_write(int kind, const float *x, int len, const lb_gparams *p, uint8_t *blk) {
    lb_store_f16(blk, p->d);
    uint8_t *q = blk + 2;
    if (kind == LB_Q4_1) {
        lb_store_f16(blk + 2, p->sub);
        q += 2;
    }
    if (len == 32) {
        if (kind == LB_Q8_0) {
            lb_tier_q8_codes32(x, p->id, q);
        } else {
            lb_tier_q4_codes32(x, p->id, p->sub, p->add, q);
        }
        return;
    }
    int8_t c[32] = {0}; /* padding codes are zero */
    for (int i = 0; i < len; i++) {
        c[i] = (int8_t) (kind == LB_Q8_0 ? lb_gcode_q8(x[i], p->id) : lb_gcode_q4(x[i], p->id, p->sub, p->add));
    }
    if (kind == LB_Q8_0) {
        memcpy(q, c, 32);
        return;
    }
    for (int j = 0; j < 16; j++) { /* element j: low nibble of byte j; element j + 16: its high nibble */
        q[j] = (uint8_t) ((c[j] & 15) | (c[j + 16] << 4));
    }
}

#define LB_GGML_CHUNK 16 /* blocks whose parameters are found before their codes, so that the two overlap */

#ifndef lb_tier_q8_0_x16
/* A tier without a 16-block Q8_0 step: every chunk takes the steps below. */
static inline int lb_no_q8_0_x16(const float *x, uint8_t *out) {
    (void) x;
    (void) out;
    return 0;
}
#define lb_tier_q8_0_x16 lb_no_q8_0_x16
#endif

static int64_t lb_quantize_ggml(int kind, const float *src, int64_t rows, int32_t cols, uint8_t *dst) {
    int bb = kind == LB_Q8_0 ? 34 : kind == LB_Q4_0 ? 18 : 20;
    int64_t nb = ((int64_t) cols + 31) / 32;
    lb_gparams p[LB_GGML_CHUNK];
    for (int64_t r = 0; r < rows; r++) {
        const float *x = src + r * cols;
        uint8_t *o = dst + r * nb * bb;
        for (int64_t b0 = 0; b0 < nb; b0 += LB_GGML_CHUNK) {
            int n = nb - b0 < LB_GGML_CHUNK ? (int) (nb - b0) : LB_GGML_CHUNK;
            if (kind == LB_Q8_0 && n == LB_GGML_CHUNK && (b0 + n) * 32 <= cols && lb_tier_q8_0_x16(x + b0 * 32, o + b0 * bb)) {
                continue;
            }
            for (int i = 0; i < n; i++) { /* in block order, so the first failing block decides, as in Java */
                int64_t b = b0 + i;
                int len = cols - b * 32 < 32 ? (int) (cols - b * 32) : 32;
                int st = lb_ggml_params(kind, x + b * 32, len, &p[i]);
                if (st != LB_OK) {
                    return st == LB_NONFINITE ? r + 1 : -(r + 1);
                }
            }
            for (int i = 0; i < n; i++) {
                int64_t b = b0 + i;
                int len = cols - b * 32 < 32 ? (int) (cols - b * 32) : 32;
                lb_ggml_write(kind, x + b * 32, len, &p[i], o + b * bb);
            }
        }
    }
    return 0;
}

int64_t LB_FN(quantize_q8_0)(const float *src, int64_t src_off, int64_t rows, int32_t cols, uint8_t *dst) {
    return lb_quantize_ggml(LB_Q8_0, src + src_off, rows, cols, dst);
}

int64_t LB_FN(quantize_q4_0)(const float *src, int64_t src_off, int64_t rows, int32_t cols, uint8_t *dst) {
    return lb_quantize_ggml(LB_Q4_0, src + src_off, rows, cols, dst);
}

int64_t LB_FN(quantize_q4_1)(const float *src, int64_t src_off, int64_t rows, int32_t cols, uint8_t *dst) {
    return lb_quantize_ggml(LB_Q4_1, src + src_off, rows, cols, dst);
}

/* ---------------------------------------------------------------- planes */

/* Packs b-bit codes into a row from its first bit on; every byte is written once, the last by lb_bits_flush. */
typedef struct {
    uint8_t *out;
    uint64_t acc;
    int filled;
} lb_bitw;

static inline void lb_bits_put(lb_bitw *w, const int8_t *c, int n, int bits) {
    if (bits == 8) {
        memcpy(w->out, c, (size_t) n);
        w->out += n;
        return;
    }
    int i = 0;
    if (bits == 4 && w->filled == 0) {
        for (; i + 2 <= n; i += 2) {
            *w->out++ = (uint8_t) ((c[i] & 15) | (c[i + 1] << 4));
        }
    }
    uint32_t mask = (1u << bits) - 1;
    for (; i < n; i++) {
        w->acc |= (uint64_t) ((uint32_t) c[i] & mask) << w->filled;
        w->filled += bits;
        while (w->filled >= 8) {
            *w->out++ = (uint8_t) w->acc;
            w->acc >>= 8;
            w->filled -= 8;
        }
    }
}

static inline void lb_bits_flush(lb_bitw *w) {
    if (w->filled > 0) {
        *w->out++ = (uint8_t) w->acc;
        w->acc = 0;
        w->filled = 0;
    }
}

/* Grouped (midpoints == NULL) or codebook planes. */
static int64_t lb_quantize_planes(const float *src, int64_t rows, int32_t cols, int bits, int32_t group_len,
                                  int symmetric, int f16, const float *mid, float reach, uint8_t *dst, float *scales,
                                  float *zeros) {
    if (cols == 0) {
        return 0;
    }
    int64_t gpr = ((int64_t) cols + group_len - 1) / group_len;
    int64_t row_bytes = ((int64_t) cols * bits + 7) / 8;
    float hi = (float) ((1 << bits) - 1);
    int8_t c[LB_CHUNK];
    for (int64_t r = 0; r < rows; r++) {
        const float *x = src + r * cols;
        lb_bitw w = {dst + r * row_bytes, 0, 0};
        for (int64_t g = 0; g < gpr; g++) {
            int64_t start = g * group_len;
            int64_t len = cols - start < group_len ? cols - start : group_len;
            float mn, mx;
            lb_minmax(x + start, len, &mn, &mx);
            if (!lb_finite(mn) || !lb_finite(mx)) {
                return r + 1;
            }
            float absmax = lb_absmax(mn, mx);
            lb_params p = {0.0f, 0.0f, 0.0f, 0.0f};
            int st;
            if (mid != NULL) {
                st = lb_storable(absmax / reach, absmax, f16, &p.d);
            } else {
                st = lb_params_grouped(bits, symmetric, f16, mn, mx, absmax, &p);
            }
            if (st != LB_OK) {
                return -(r + 1);
            }
            scales[r * gpr + g] = p.d;
            if (zeros != NULL) {
                zeros[r * gpr + g] = p.zero;
            }
            int fill = 0;
            if (p.d == 0.0f) {
                if (mid != NULL) {
                    for (int k = 0; k < 15; k++) {
                        fill += mid[k] < 0.0f;
                    }
                } else {
                    fill = (int) p.add; /* in [0, hi] */
                }
            }
            for (int64_t i = 0; i < len; i += LB_CHUNK) {
                int n = len - i < LB_CHUNK ? (int) (len - i) : LB_CHUNK;
                if (p.d == 0.0f) {
                    memset(c, fill, (size_t) n);
                } else if (mid != NULL) {
                    lb_tier_cb_codes(x + start + i, n, p.d, mid, c);
                } else {
                    lb_tier_codes(x + start + i, n, p.d, p.sub, p.add, 0.0f, hi, c);
                }
                lb_bits_put(&w, c, n, bits);
            }
        }
        lb_bits_flush(&w);
    }
    return 0;
}

int64_t LB_FN(quantize_grouped)(const float *src, int64_t src_off, int64_t rows, int32_t cols, int32_t bits,
                                int32_t group_len, int32_t symmetric, int32_t scale_f16, uint8_t *dst, float *scales,
                                float *zeros) {
    return lb_quantize_planes(src + src_off, rows, cols, bits, group_len, symmetric, scale_f16, NULL, 0.0f, dst,
                              scales, symmetric ? NULL : zeros);
}

int64_t LB_FN(quantize_codebook4)(const float *src, int64_t src_off, int64_t rows, int32_t cols, int32_t group_len,
                                  int32_t scale_f16, const float *midpoints, float reach, uint8_t *dst,
                                  float *scales) {
    return lb_quantize_planes(src + src_off, rows, cols, 4, group_len, 1, scale_f16, midpoints, reach, dst, scales,
                              NULL);
}

/* ---------------------------------------------------------------- dequantize */

static void lb_dequantize_ggml(int kind, const uint8_t *data, int64_t row0, int64_t rows, int32_t cols, float *dst) {
    int bb = kind == LB_Q8_0 ? 34 : kind == LB_Q4_0 ? 18 : 20;
    int64_t full = cols / 32;
    int64_t nb = ((int64_t) cols + 31) / 32;
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *row = data + (row0 + r) * nb * bb;
        float *out = dst + r * cols;
        for (int64_t b = 0; b < full; b++) {
            if (kind == LB_Q8_0) {
                lb_tier_deq_q8_0(row + b * bb, out + b * 32);
            } else {
                lb_tier_deq_q4(row + b * bb, kind == LB_Q4_1, out + b * 32);
            }
        }
        if (full < nb) { /* the partial last block, element by element */
            const uint8_t *blk = row + full * bb;
            float d = lb_f16_to_f32(lb_load_u16(blk));
            float m = kind == LB_Q4_1 ? lb_f16_to_f32(lb_load_u16(blk + 2)) : 0.0f;
            const uint8_t *q = blk + (kind == LB_Q4_1 ? 4 : 2);
            for (int j = 0; j < cols - full * 32; j++) {
                float *o = out + full * 32 + j;
                if (kind == LB_Q8_0) {
                    *o = (float) (int8_t) q[j] * d;
                } else {
                    int code = j < 16 ? q[j] & 15 : q[j - 16] >> 4;
                    *o = kind == LB_Q4_1 ? (float) code * d + m : (float) (code - 8) * d;
                }
            }
        }
    }
}

void LB_FN(dequantize_q8_0)(const uint8_t *data, int64_t row0, int64_t rows, int32_t cols, float *dst,
                            int64_t dst_off) {
    lb_dequantize_ggml(LB_Q8_0, data, row0, rows, cols, dst + dst_off);
}

void LB_FN(dequantize_q4_0)(const uint8_t *data, int64_t row0, int64_t rows, int32_t cols, float *dst,
                            int64_t dst_off) {
    lb_dequantize_ggml(LB_Q4_0, data, row0, rows, cols, dst + dst_off);
}

void LB_FN(dequantize_q4_1)(const uint8_t *data, int64_t row0, int64_t rows, int32_t cols, float *dst,
                            int64_t dst_off) {
    lb_dequantize_ggml(LB_Q4_1, data, row0, rows, cols, dst + dst_off);
}

/* Grouped (levels == NULL): (q - z) * d; codebook: levels[q] * d. */
static void lb_dequantize_planes(const uint8_t *data, const void *scales, const void *zeros, const float *levels,
                                 int64_t row0, int64_t rows, int32_t cols, int bits, int32_t group_len, int symmetric,
                                 int f16, float *dst) {
    if (cols == 0) {
        return;
    }
    int64_t gpr = ((int64_t) cols + group_len - 1) / group_len;
    int64_t row_bytes = ((int64_t) cols * bits + 7) / 8;
    float half = (float) (1 << (bits - 1));
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *row = data + (row0 + r) * row_bytes;
        float *out = dst + r * cols;
        for (int64_t g = 0; g < gpr; g++) {
            int64_t start = g * group_len;
            int64_t end = cols - start < group_len ? cols : start + group_len;
            float d = lb_load_param(scales, (row0 + r) * gpr + g, f16);
            float z = levels != NULL ? 0.0f : symmetric ? half : lb_load_param(zeros, (row0 + r) * gpr + g, f16);
            for (int64_t i = start; i < end; i += LB_CHUNK) {
                int n = end - i < LB_CHUNK ? (int) (end - i) : LB_CHUNK;
                lb_tier_deq_codes(row, bits, i, n, z, d, levels, out + i);
            }
        }
    }
}

void LB_FN(dequantize_grouped)(const uint8_t *data, const void *scales, const void *zeros, int64_t row0, int64_t rows,
                               int32_t cols, int32_t bits, int32_t group_len, int32_t symmetric, int32_t scale_f16,
                               float *dst, int64_t dst_off) {
    lb_dequantize_planes(data, scales, zeros, NULL, row0, rows, cols, bits, group_len, symmetric, scale_f16,
                         dst + dst_off);
}

void LB_FN(dequantize_codebook4)(const uint8_t *data, const void *scales, const float *levels, int64_t row0,
                                 int64_t rows, int32_t cols, int32_t group_len, int32_t scale_f16, float *dst,
                                 int64_t dst_off) {
    lb_dequantize_planes(data, scales, NULL, levels, row0, rows, cols, 4, group_len, 1, scale_f16, dst + dst_off);
}

/* ---------------------------------------------------------------- statistics */

void LB_FN(group_stats)(const float *src, int64_t off, int64_t len, int64_t group_len, float *min, float *max,
                        float *absmax, int64_t out_off) {
    const float *x = src + off;
    for (int64_t g = 0, start = 0; start < len; g++, start += group_len) {
        int64_t n = len - start < group_len ? len - start : group_len;
        float mn, mx;
        lb_minmax(x + start, n, &mn, &mx);
        if (mn != mn || mx != mx) { /* a NaN: Java's min and max keep the first one, bits and all */
            mn = lb_float(0x7F800000u);
            mx = lb_float(0xFF800000u);
            for (int64_t i = start; i < start + n; i++) {
                mn = lb_jmin(mn, x[i]);
                mx = lb_jmax(mx, x[i]);
            }
        }
        min[out_off + g] = mn;
        max[out_off + g] = mx;
        absmax[out_off + g] = lb_jmax(lb_abs(mn), lb_abs(mx));
    }
}

int64_t LB_FN(first_non_finite)(const float *src, int64_t off, int64_t len) {
    return lb_tier_first_non_finite(src + off, len);
}

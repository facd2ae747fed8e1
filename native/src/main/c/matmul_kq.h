/*
 * The ggml blocks beyond Q8_0, Q4_0 and Q4_1 on the integer path (gemm_blocks_i8 in lowbit.h): their layouts
 * (docs/formats.md, dev.lowbit.format.Reference), the scalar reading of every field, and the fp32 steps that every
 * tier takes in the same order.
 *
 * Blocks of 32, Q8_0 activations (one scale d_x per block), per block in order:
 *   Q5_0, IQ4_NL  acc = acc + (d * d_x) * isum            isum = sum w_j x_j, w = code - 16 or the IQ4_NL level
 *   Q5_1          acc = acc + d_x * (d * isum + m * xsum)  isum = sum q_j x_j, xsum = sum x_j
 * K-quants, Q8_K activations (one scale d_x per super-block of 256), per super-block in order:
 *   Q3_K, Q6_K    acc = acc + (d_x * d) * isum
 *   Q2_K, Q4_K, Q5_K  acc = acc + ((d_x * d) * isum - (d_x * dmin) * msum)
 * with isum = sum_s sc_s * (sum_{j in s} w_j x_j) and msum = sum_s m_s * (sum_{j in s} x_j) over the sub-blocks s
 * (w = code, less 4 for Q3_K and 32 for Q6_K). The integer sums are exact in int32 (they stay far inside it), so
 * any grouping gives the same value; the SIMD tiers take the offset off as off * sum_s sc_s * xsum_s, and form
 * msum from the 16-element activation sums (ggml's bsums), which equals the reference's sum over sub-blocks of 32.
 */
#ifndef LOWBIT_MATMUL_KQ_H
#define LOWBIT_MATMUL_KQ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lowbit.h"
#include "matmul_common.h"

static const int8_t KQ_IQ4NL[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* Bytes of one block (super-block) of each kind, and its elements. */
static inline int64_t kq_block_bytes(int kind) {
    switch (kind) {
        case LB_KQ_Q5_0: return 22;
        case LB_KQ_Q5_1: return 24;
        case LB_KQ_IQ4_NL: return 18;
        case LB_KQ_Q2_K: return 84;
        case LB_KQ_Q3_K: return 110;
        case LB_KQ_Q4_K: return 144;
        case LB_KQ_Q5_K: return 176;
        default: return 210; /* Q6_K */
    }
}

static inline int kq_super(int kind) {
    return kind >= LB_KQ_Q2_K;
}

static inline int kq_has_min(int kind) {
    return kind == LB_KQ_Q2_K || kind == LB_KQ_Q4_K || kind == LB_KQ_Q5_K;
}

/* The fp16 super-block scale d and minimum dmin (those with minima) of a block at p, as fp32. */
static inline float kq_d(int kind, const uint8_t *p) {
    switch (kind) {
        case LB_KQ_Q2_K: return mm_f16_to_f32(mm_f16_bits(p + 80));
        case LB_KQ_Q3_K: return mm_f16_to_f32(mm_f16_bits(p + 108));
        case LB_KQ_Q6_K: return mm_f16_to_f32(mm_f16_bits(p + 208));
        default: return mm_f16_to_f32(mm_f16_bits(p));
    }
}

static inline float kq_dmin(int kind, const uint8_t *p) {
    return mm_f16_to_f32(mm_f16_bits(p + (kind == LB_KQ_Q2_K ? 82 : 2)));
}

/* Q4_K / Q5_K: the 6-bit scales (min 0) or minima (min 1) of sub-blocks 0..7 from the 12 bytes at s. */
static inline int kq_scale_min_k4(const uint8_t *s, int j, int min) {
    if (j < 4) {
        return s[j + (min ? 4 : 0)] & 63;
    }
    return min ? (s[j + 4] >> 4) | ((s[j] >> 6) << 4) : (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
}

/* Q3_K: the signed 6-bit scale of sub-block s (0..15) from the 12 bytes at b. */
static inline int kq_scale_q3(const uint8_t *b, int s) {
    int low = s < 8 ? b[s] & 15 : b[s - 8] >> 4;
    int high = (b[8 + s % 4] >> (2 * (s / 4))) & 3;
    return (low | high << 4) - 32;
}

/* Integer scale and minimum of sub-block s of a K-quant super-block at p (Reference.subScale, subMin). */
static inline int kq_sub_scale(int kind, const uint8_t *p, int s) {
    switch (kind) {
        case LB_KQ_Q2_K: return p[s] & 15;
        case LB_KQ_Q3_K: return kq_scale_q3(p + 96, s);
        case LB_KQ_Q6_K: return (int8_t) p[192 + s];
        default: return kq_scale_min_k4(p + 4, s, 0);
    }
}

static inline int kq_sub_min(int kind, const uint8_t *p, int s) {
    return kind == LB_KQ_Q2_K ? p[s] >> 4 : kq_scale_min_k4(p + 4, s, 1);
}

/* The multiplier w of element e of the block at p (Reference.code, less the center or through the levels). */
static inline int kq_weight(int kind, const uint8_t *p, int e) {
    switch (kind) {
        case LB_KQ_Q5_0:
        case LB_KQ_Q5_1: {
            int n = e < 16 ? p[kind == LB_KQ_Q5_0 ? 6 + e : 8 + e] & 15 : p[(kind == LB_KQ_Q5_0 ? 6 : 8) + e - 16] >> 4;
            int h = (p[(kind == LB_KQ_Q5_0 ? 2 : 4) + e / 8] >> (e % 8)) & 1;
            return (n | h << 4) - (kind == LB_KQ_Q5_0 ? 16 : 0);
        }
        case LB_KQ_IQ4_NL:
            return KQ_IQ4NL[e < 16 ? p[2 + e] & 15 : p[2 + e - 16] >> 4];
        case LB_KQ_Q2_K:
            return (p[16 + 32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3;
        case LB_KQ_Q3_K:
            return (((p[32 + 32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3)
                    | ((p[e % 32] >> (4 * (e / 128) + e % 128 / 32)) & 1) << 2) - 4;
        case LB_KQ_Q4_K: {
            uint8_t b = p[16 + 32 * (e / 64) + e % 32];
            return e % 64 >= 32 ? b >> 4 : b & 15;
        }
        case LB_KQ_Q5_K: {
            uint8_t b = p[48 + 32 * (e / 64) + e % 32];
            int n = e % 64 >= 32 ? b >> 4 : b & 15;
            return n | ((p[16 + e % 32] >> (2 * (e / 64) + e % 64 / 32)) & 1) << 4;
        }
        default: { /* Q6_K */
            int n = e / 128, q = e % 128 / 32, l = e % 32;
            uint8_t b = p[64 * n + l + (q & 1) * 32];
            int lo = q >= 2 ? b >> 4 : b & 15;
            return (lo | ((p[128 + 32 * n + l] >> (2 * q)) & 3) << 4) - 32;
        }
    }
}

/* The fp32 step of one block of 32 (d: its scale, m: Q5_1's minimum), exactly as the reference. */
static inline float kq_step32(int kind, float acc, float d, float m, float dx, int32_t isum, int32_t xsum) {
    if (kind == LB_KQ_Q5_1) {
        return acc + dx * (d * (float) isum + m * (float) xsum);
    }
    return acc + (d * dx) * (float) isum;
}

/* The fp32 step of one super-block, exactly as the reference. */
static inline float kq_step256(int kind, float acc, float d, float dmin, float dx, int32_t isum, int32_t msum) {
    if (kq_has_min(kind)) {
        return acc + ((dx * d) * (float) isum - (dx * dmin) * (float) msum);
    }
    return acc + (dx * d) * (float) isum;
}

/* One row and token in the reference's order (the generic tier, and the SIMD tiers' pattern to match). */
static inline float kq_row_scalar(int kind, const uint8_t *row, const int8_t *x, const float *xs, int32_t k) {
    float acc = 0.0f;
    const int64_t bb = kq_block_bytes(kind);
    if (!kq_super(kind)) {
        for (int32_t b = 0; b < k / 32; b++) {
            const uint8_t *p = row + b * bb;
            const int8_t *xb = x + (int64_t) b * 32;
            int32_t isum = 0, xsum = 0;
            for (int j = 0; j < 32; j++) {
                isum += kq_weight(kind, p, j) * xb[j];
                xsum += xb[j];
            }
            float d = mm_f16_to_f32(mm_f16_bits(p));
            float m = kind == LB_KQ_Q5_1 ? mm_f16_to_f32(mm_f16_bits(p + 2)) : 0.0f;
            acc = kq_step32(kind, acc, d, m, xs[b], isum, xsum);
        }
        return acc;
    }
    const int sub = kind == LB_KQ_Q4_K || kind == LB_KQ_Q5_K ? 32 : 16;
    for (int32_t b = 0; b < k / 256; b++) {
        const uint8_t *p = row + b * bb;
        const int8_t *xb = x + (int64_t) b * 256;
        int32_t isum = 0, msum = 0;
        for (int s = 0; s < 256 / sub; s++) {
            int32_t dot = 0, xsum = 0;
            for (int j = s * sub; j < (s + 1) * sub; j++) {
                dot += kq_weight(kind, p, j) * xb[j];
                xsum += xb[j];
            }
            isum += kq_sub_scale(kind, p, s) * dot;
            if (kq_has_min(kind)) {
                msum += kq_sub_min(kind, p, s) * xsum;
            }
        }
        acc = kq_step256(kind, acc, kq_d(kind, p), kq_has_min(kind) ? kq_dmin(kind, p) : 0.0f, xs[b], isum, msum);
    }
    return acc;
}

#endif

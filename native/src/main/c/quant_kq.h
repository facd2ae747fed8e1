/*
 * ggml's blocks beyond Q8_0 / Q4_0 / Q4_1: Q5_0, Q5_1, IQ4_NL (blocks of 32) and the K-quants Q2_K ... Q6_K, Q8_K
 * (super-blocks of 256), quantized as ggml_quantize_chunk does without an importance matrix (quantize_row_*_ref,
 * IQ4_NL's 7-step search) and dequantized as ggml's to_float. Every float operation is ggml's, in ggml's order,
 * rounded once (no fused multiply-add: build.sh passes -ffp-contract=off), so the bytes and floats are ggml's.
 *
 * This header holds the scalar algorithms (the generic tier, and the parts the vector tiers share); the vector
 * tiers run the range searches in lanes (quant_kq_lanes.h). Included by the quant_kq_*.c files only.
 */
#ifndef LOWBIT_QUANT_KQ_H
#define LOWBIT_QUANT_KQ_H

#include <math.h>

#include "quant_common.h"

/* ggml_type ids, the kind argument of the exported functions. */
enum {
    LB_KQ_Q5_0 = 6,
    LB_KQ_Q5_1 = 7,
    LB_KQ_Q2_K = 10,
    LB_KQ_Q3_K = 11,
    LB_KQ_Q4_K = 12,
    LB_KQ_Q5_K = 13,
    LB_KQ_Q6_K = 14,
    LB_KQ_Q8_K = 15,
    LB_KQ_IQ4_NL = 20
};

#define LB_KQ_EPS 1e-15f /* ggml's GROUP_MAX_EPS */

static const int8_t lb_kq_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* ggml's nearest_int: the 1.5 * 2^23 trick on the bits, for every input (beyond 2^22 it wraps as ggml's does). */
static inline int lb_kq_nearest(float f) {
    float v = f + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007FFFFF) - 0x00400000;
}

/* Nonzero when an fp16 store of v is finite: lowbit refuses a block whose stored scale or minimum overflows. */
static inline int lb_kq_f16_ok(float v) {
    return (lb_f32_to_f16(v) & 0x7C00u) != 0x7C00u;
}

static inline float lb_kq_f16_round(float v) {
    return lb_f16_to_f32(lb_f32_to_f16(v));
}

/* Block or super-block bytes and elements of a kind. */
static inline int lb_kq_block_bytes(int kind) {
    switch (kind) {
        case LB_KQ_Q5_0: return 22;
        case LB_KQ_Q5_1: return 24;
        case LB_KQ_IQ4_NL: return 18;
        case LB_KQ_Q2_K: return 84;
        case LB_KQ_Q3_K: return 110;
        case LB_KQ_Q4_K: return 144;
        case LB_KQ_Q5_K: return 176;
        case LB_KQ_Q6_K: return 210;
        default: return 292; /* Q8_K */
    }
}

static inline int lb_kq_block_elems(int kind) {
    return kind == LB_KQ_Q5_0 || kind == LB_KQ_Q5_1 || kind == LB_KQ_IQ4_NL ? 32 : 256;
}

/* ggml's best_index_int8 over the 16 IQ4_NL levels: the nearest level, the upper one on a tie. */
static inline int lb_kq_best_index(float x) {
    const int8_t *val = lb_kq_iq4nl;
    if (x <= val[0]) {
        return 0;
    }
    if (x >= val[15]) {
        return 15;
    }
    int ml = 0, mu = 15;
    while (mu - ml > 1) {
        int mav = (ml + mu) / 2;
        if (x < val[mav]) {
            mu = mav;
        } else {
            ml = mav;
        }
    }
    return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

/* ---------------------------------------------------------------- codes and packing */

#if defined(__AVX2__)
/* The vector tiers: the element-wise steps below in 8 (AVX2) or 16 (AVX-512) float lanes, bytes 32 at a time. */
#if defined(__AVX512F__)
#define LB_KQ_VW 16
#else
#define LB_KQ_VW 8
#endif
typedef float lbk_f __attribute__((vector_size(4 * LB_KQ_VW)));
typedef int32_t lbk_i __attribute__((vector_size(4 * LB_KQ_VW)));
typedef uint8_t lbk_bw __attribute__((vector_size(LB_KQ_VW)));
typedef uint8_t lbk_b32 __attribute__((vector_size(32)));

static inline lbk_b32 lbk_load32(const uint8_t *p) {
    lbk_b32 v;
    memcpy(&v, p, 32);
    return v;
}

static inline void lbk_store32(uint8_t *p, lbk_b32 v) {
    memcpy(p, &v, 32);
}
#endif

/*
 * L[i] = clamp(nearest(v / dd), lo, hi) + add for i < n (a multiple of 16), v = x[i] + dm when has_dm, else x[i]:
 * the code of an element once its sub-block's scale (and minimum) are fixed.
 */
static inline void lb_kq_codes(const float *x, int n, float dd, float dm, int has_dm, int lo, int hi, int add,
                               uint8_t *L) {
#if defined(LB_KQ_VW)
    for (int i = 0; i < n; i += LB_KQ_VW) {
        lbk_f v;
        memcpy(&v, x + i, sizeof v);
        if (has_dm) {
            v = v + dm;
        }
        v = v / dd + 12582912.0f;
        lbk_i l = ((lbk_i) v & 0x007FFFFF) - 0x00400000;
        lbk_i m = l < lo;
        l = (m & lo) | (~m & l);
        m = l > hi;
        l = (m & hi) | (~m & l);
        lbk_bw b = __builtin_convertvector(l + add, lbk_bw);
        memcpy(L + i, &b, sizeof b);
    }
#else
    for (int i = 0; i < n; ++i) {
        int l = lb_kq_nearest((has_dm ? x[i] + dm : x[i]) / dd);
        L[i] = (uint8_t) ((l < lo ? lo : l > hi ? hi : l) + add);
    }
#endif
}

#include "quant_kq_search.h"

/* ---------------------------------------------------------------- packing, shared by every tier */

/* 32 codes 0..31 as Q5's qh (fifth bits, element j at bit j) and qs (element j low nibble, j + 16 high nibble). */
static inline void lb_kq_pack5(const uint8_t *L, uint8_t *qh, uint8_t *qs) {
    uint32_t h = 0;
    for (int j = 0; j < 16; ++j) {
        qs[j] = (uint8_t) ((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4));
        h |= ((L[j] & 0x10u) >> 4) << j;
        h |= ((L[j + 16] & 0x10u) >> 4) << (j + 16);
    }
    qh[0] = (uint8_t) h;
    qh[1] = (uint8_t) (h >> 8);
    qh[2] = (uint8_t) (h >> 16);
    qh[3] = (uint8_t) (h >> 24);
}

/* 256 codes 0..3 as Q2_K / Q3_K's 64 bytes: byte j / 4 + l of each half holds elements l, l + 32, l + 64, l + 96. */
static inline void lb_kq_pack2(const uint8_t *L, uint8_t *qs) {
#if defined(LB_KQ_VW)
    for (int j = 0; j < 256; j += 128) {
        lbk_b32 a = lbk_load32(L + j), b = lbk_load32(L + j + 32), c = lbk_load32(L + j + 64);
        lbk_b32 d = lbk_load32(L + j + 96);
        lbk_store32(qs + j / 4, a | (b << 2) | (c << 4) | (d << 6));
    }
    return;
#endif
    for (int j = 0; j < 256; j += 128) {
        for (int l = 0; l < 32; ++l) {
            qs[j / 4 + l] = (uint8_t) (L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
        }
    }
}

/* The 8 6-bit scales and 8 6-bit minima of Q4_K / Q5_K into 12 bytes (get_scale_min_k4's layout). */
static inline void lb_kq_pack_k4(const uint8_t *ls, const uint8_t *lm, uint8_t *scales) {
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            scales[j] = ls[j];
            scales[j + 4] = lm[j];
        } else {
            scales[j + 4] = (uint8_t) ((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            scales[j - 4] |= (uint8_t) ((ls[j] >> 4) << 6);
            scales[j - 0] |= (uint8_t) ((lm[j] >> 4) << 6);
        }
    }
}

static inline void lb_kq_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t) ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t) ((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

/* Q3_K's 16 6-bit scales l (0..63) into 12 bytes. */
static inline void lb_kq_pack_q3_scales(const int *l6, uint8_t *scales) {
    memset(scales, 0, 12);
    for (int j = 0; j < 16; ++j) {
        int l = l6[j];
        if (j < 8) {
            scales[j] = (uint8_t) (l & 0xF);
        } else {
            scales[j - 8] |= (uint8_t) ((l & 0xF) << 4);
        }
        l >>= 4;
        scales[j % 4 + 8] |= (uint8_t) (l << (2 * (j / 4)));
    }
}

static inline int lb_kq_q3_scale(const uint8_t *scales, int j) {
    int sc = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
    return (sc | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

/* ---------------------------------------------------------------- blocks after their searches */

/* Q2_K from its 16 sub-blocks' scales and minima (make_qkx2_quants) and their codes L. */
static inline int lb_kq_q2_k_finish(const float *x, const float *scales, const float *mins, uint8_t *L,
                                    uint8_t *y) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
        if (scales[j] > max_scale) {
            max_scale = scales[j];
        }
        if (mins[j] > max_min) {
            max_min = mins[j];
        }
    }
    uint8_t *sc = y;
    float d = 0.f, dmin = 0.f;
    if (max_scale > 0) {
        float iscale = 15.f / max_scale;
        for (int j = 0; j < 16; ++j) {
            sc[j] = (uint8_t) lb_kq_nearest(iscale * scales[j]);
        }
        d = max_scale / 15.f;
    } else {
        memset(sc, 0, 16);
    }
    if (max_min > 0) {
        float iscale = 15.f / max_min;
        for (int j = 0; j < 16; ++j) {
            sc[j] |= (uint8_t) (lb_kq_nearest(iscale * mins[j]) << 4);
        }
        dmin = max_min / 15.f;
    }
    if (!lb_kq_f16_ok(d) || !lb_kq_f16_ok(dmin)) {
        return LB_RANGE;
    }
    lb_store_f16(y + 80, d);
    lb_store_f16(y + 82, dmin);
    float df = lb_kq_f16_round(d), mf = lb_kq_f16_round(dmin);
    for (int j = 0; j < 16; ++j) {
        float dd = df * (float) (sc[j] & 0xF);
        if (dd == 0.0f) {
            continue;
        }
        float dm = mf * (float) (sc[j] >> 4);
        lb_kq_codes(x + 16 * j, 16, dd, dm, 1, 0, 3, 0, L + 16 * j);
    }
    lb_kq_pack2(L, y + 16);
    return LB_OK;
}

/* Q3_K from its 16 sub-blocks' scales (make_q3_quants) and codes L (0..7). */
static inline int lb_kq_q3_k_finish(const float *x, const float *scales, int8_t *L, uint8_t *y) {
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
        float a = lb_abs(scales[j]);
        if (a > amax) {
            amax = a;
            max_scale = scales[j];
        }
    }
    uint8_t *sb = y + 96;
    float d = 0.f;
    if (max_scale != 0.0f) {
        float iscale = -32.f / max_scale;
        int l6[16];
        for (int j = 0; j < 16; ++j) {
            int8_t l = (int8_t) lb_kq_nearest(iscale * scales[j]);
            l6[j] = (l < -32 ? -32 : l > 31 ? 31 : l) + 32;
        }
        lb_kq_pack_q3_scales(l6, sb);
        d = 1 / iscale;
    } else {
        memset(sb, 0, 12);
    }
    if (!lb_kq_f16_ok(d)) {
        return LB_RANGE;
    }
    lb_store_f16(y + 108, d);
    float df = lb_kq_f16_round(d);
    for (int j = 0; j < 16; ++j) {
        float dd = df * (float) lb_kq_q3_scale(sb, j);
        if (dd == 0.0f) {
            continue;
        }
        lb_kq_codes(x + 16 * j, 16, dd, 0.0f, 0, -4, 3, 4, (uint8_t *) L + 16 * j);
    }
    uint8_t *hmask = y;
#if defined(LB_KQ_VW)
    lbk_b32 hv = {0};
    for (int k = 0; k < 8; ++k) { /* element 32 k + l: bit k of hmask[l] when its code is above 3 */
        lbk_b32 v = lbk_load32((const uint8_t *) L + 32 * k);
        hv |= (v >> 2) << k;
        lbk_store32((uint8_t *) L + 32 * k, v & 3);
    }
    lbk_store32(hmask, hv);
    lb_kq_pack2((const uint8_t *) L, y + 32);
    return LB_OK;
#endif
    memset(hmask, 0, 32);
    int m = 0;
    uint8_t hm = 1;
    for (int j = 0; j < 256; ++j) {
        if (L[j] > 3) {
            hmask[m] |= hm;
            L[j] = (int8_t) (L[j] - 4);
        }
        if (++m == 32) {
            m = 0;
            hm = (uint8_t) (hm << 1);
        }
    }
    lb_kq_pack2((const uint8_t *) L, y + 32);
    return LB_OK;
}

/* Q4_K (nmax 15) or Q5_K (nmax 31) from its 8 sub-blocks' scales and minima (make_qkx2_quants) and codes L. */
static inline int lb_kq_q45_k_finish(int nmax, const float *x, const float *scales, const float *mins, uint8_t *L,
                                     uint8_t *y) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        if (scales[j] > max_scale) {
            max_scale = scales[j];
        }
        if (mins[j] > max_min) {
            max_min = mins[j];
        }
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; ++j) {
        uint8_t a = (uint8_t) lb_kq_nearest(inv_scale * scales[j]);
        uint8_t b = (uint8_t) lb_kq_nearest(inv_min * mins[j]);
        ls[j] = a < 63 ? a : 63;
        lm[j] = b < 63 ? b : 63;
    }
    float d = max_scale / 63.f, dmin = max_min / 63.f;
    if (!lb_kq_f16_ok(d) || !lb_kq_f16_ok(dmin)) {
        return LB_RANGE;
    }
    lb_store_f16(y, d);
    lb_store_f16(y + 2, dmin);
    lb_kq_pack_k4(ls, lm, y + 4);
    float df = lb_kq_f16_round(d), mf = lb_kq_f16_round(dmin);
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        lb_kq_scale_min_k4(j, y + 4, &sc, &m);
        float dd = df * (float) sc;
        if (dd == 0.0f) {
            continue;
        }
        float dm = mf * (float) m;
        lb_kq_codes(x + 32 * j, 32, dd, dm, 1, 0, nmax, 0, L + 32 * j);
    }
#if defined(LB_KQ_VW)
    for (int c = 0; c < 4; ++c) {
        lbk_b32 a = lbk_load32(L + 64 * c), b = lbk_load32(L + 64 * c + 32);
        if (nmax == 15) {
            lbk_store32(y + 16 + 32 * c, a | (b << 4));
        } else {
            lbk_store32(y + 48 + 32 * c, (a & 15) | ((b & 15) << 4));
            lbk_b32 h = ((a >> 4) << (2 * c)) | ((b >> 4) << (2 * c + 1));
            lbk_store32(y + 16, c == 0 ? h : lbk_load32(y + 16) | h);
        }
    }
    return LB_OK;
#endif
    if (nmax == 15) {
        uint8_t *q = y + 16;
        for (int j = 0; j < 256; j += 64) {
            for (int l = 0; l < 32; ++l) {
                q[l] = (uint8_t) (L[j + l] | (L[j + l + 32] << 4));
            }
            q += 32;
        }
        return LB_OK;
    }
    uint8_t *qh = y + 16, *ql = y + 48;
    memset(qh, 0, 32);
    uint8_t m1 = 1, m2 = 2;
    for (int n = 0; n < 256; n += 64) {
        for (int j = 0; j < 32; ++j) {
            int l1 = L[n + j];
            if (l1 > 15) {
                l1 -= 16;
                qh[j] |= m1;
            }
            int l2 = L[n + j + 32];
            if (l2 > 15) {
                l2 -= 16;
                qh[j] |= m2;
            }
            ql[j] = (uint8_t) (l1 | (l2 << 4));
        }
        m1 = (uint8_t) (m1 << 2);
        m2 = (uint8_t) (m2 << 2);
        ql += 32;
    }
    return LB_OK;
}

/* Q6_K from its 16 sub-blocks' scales (make_qx_quants) and codes L (0..63). */
static inline int lb_kq_q6_k_finish(const float *x, const float *scales, int8_t *L, uint8_t *y) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
        float a = lb_abs(scales[ib]);
        if (a > max_abs_scale) {
            max_abs_scale = a;
            max_scale = scales[ib];
        }
    }
    if (max_abs_scale < LB_KQ_EPS) {
        memset(y, 0, 210);
        return LB_OK;
    }
    float iscale = -128.f / max_scale;
    float d = 1 / iscale;
    if (!lb_kq_f16_ok(d)) {
        return LB_RANGE;
    }
    lb_store_f16(y + 208, d);
    int8_t *sc = (int8_t *) (y + 192);
    for (int ib = 0; ib < 16; ++ib) {
        int l = lb_kq_nearest(iscale * scales[ib]);
        sc[ib] = (int8_t) (l < 127 ? l : 127);
    }
    float df = lb_kq_f16_round(d);
    for (int j = 0; j < 16; ++j) {
        float dd = df * (float) sc[j];
        if (dd == 0.0f) {
            continue;
        }
        lb_kq_codes(x + 16 * j, 16, dd, 0.0f, 0, -32, 31, 32, (uint8_t *) L + 16 * j);
    }
    uint8_t *ql = y, *qh = y + 128;
#if defined(LB_KQ_VW)
    for (int j = 0; j < 256; j += 128) {
        const uint8_t *u = (const uint8_t *) L + j;
        lbk_b32 a = lbk_load32(u), b = lbk_load32(u + 32), c = lbk_load32(u + 64), d = lbk_load32(u + 96);
        lbk_store32(ql + j / 2, (a & 15) | ((c & 15) << 4));
        lbk_store32(ql + j / 2 + 32, (b & 15) | ((d & 15) << 4));
        lbk_store32(qh + j / 4, (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((d >> 4) << 6));
    }
    return LB_OK;
#endif
    for (int j = 0; j < 256; j += 128) {
        for (int l = 0; l < 32; ++l) {
            uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
            uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
            ql[l + 0] = (uint8_t) (q1 | (q3 << 4));
            ql[l + 32] = (uint8_t) (q2 | (q4 << 4));
            qh[l] = (uint8_t) ((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4)
                               | ((L[j + l + 96] >> 4) << 6));
        }
        ql += 64;
        qh += 32;
    }
    return LB_OK;
}

/* ---------------------------------------------------------------- whole blocks, scalar */

static inline int lb_kq_q5_0_block(const float *x, uint8_t *y) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
        if (amax < lb_abs(x[j])) {
            amax = lb_abs(x[j]);
            max = x[j];
        }
    }
    float d = max / -16.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (!lb_kq_f16_ok(d)) {
        return LB_RANGE;
    }
    lb_store_f16(y, d);
    uint8_t L[32];
    for (int j = 0; j < 32; ++j) {
        int8_t t = (int8_t) lb_truncate(x[j] * id + 16.5f);
        L[j] = (uint8_t) (t < 31 ? t : 31);
    }
    lb_kq_pack5(L, y + 2, y + 6);
    return LB_OK;
}

static inline int lb_kq_q5_1_block(const float *x, uint8_t *y) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < 32; j++) {
        if (x[j] < min) {
            min = x[j];
        }
        if (x[j] > max) {
            max = x[j];
        }
    }
    float d = (max - min) / 31.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (!lb_kq_f16_ok(d) || !lb_kq_f16_ok(min)) {
        return LB_RANGE;
    }
    lb_store_f16(y, d);
    lb_store_f16(y + 2, min);
    uint8_t L[32];
    for (int j = 0; j < 32; ++j) {
        L[j] = (uint8_t) lb_truncate((x[j] - min) * id + 0.5f);
    }
    lb_kq_pack5(L, y + 4, y + 8);
    return LB_OK;
}

static inline int lb_kq_iq4nl_block(const float *x, uint8_t *y) {
    float d = lb_kq_iq4nl_scale(x);
    if (!lb_kq_f16_ok(d)) {
        return LB_RANGE;
    }
    lb_store_f16(y, d);
    float id = d != 0.0f ? 1 / d : 0;
    for (int j = 0; j < 16; ++j) {
        y[2 + j] = (uint8_t) (lb_kq_best_index(id * x[j]) | (lb_kq_best_index(id * x[j + 16]) << 4));
    }
    return LB_OK;
}

static inline int lb_kq_q2_k_block(const float *x, uint8_t *y) {
    uint8_t L[256];
    float mins[16], scales[16], weights[16];
    for (int j = 0; j < 16; ++j) {
        for (int l = 0; l < 16; ++l) {
            weights[l] = lb_abs(x[16 * j + l]);
        }
        scales[j] = lb_kq_qkx2(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, 1);
    }
    return lb_kq_q2_k_finish(x, scales, mins, L, y);
}

static inline int lb_kq_q3_k_block(const float *x, uint8_t *y) {
    int8_t L[256];
    float scales[16];
    for (int j = 0; j < 16; ++j) {
        scales[j] = lb_kq_q3(16, 4, x + 16 * j, L + 16 * j);
    }
    return lb_kq_q3_k_finish(x, scales, L, y);
}

static inline int lb_kq_q45_k_block(int nmax, const float *x, uint8_t *y) {
    uint8_t L[256];
    float mins[8], scales[8], weights[32];
    for (int j = 0; j < 8; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) {
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        }
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) {
            weights[l] = av_x + lb_abs(x[32 * j + l]);
        }
        if (nmax == 15) {
            scales[j] = lb_kq_qkx2(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], -1.f, 0.1f, 20, 0);
        } else {
            scales[j] = lb_kq_qkx2(32, 31, x + 32 * j, weights, L + 32 * j, &mins[j], -0.5f, 0.1f, 15, 0);
        }
    }
    return lb_kq_q45_k_finish(nmax, x, scales, mins, L, y);
}

static inline int lb_kq_q6_k_block(const float *x, uint8_t *y) {
    int8_t L[256];
    float scales[16];
    for (int ib = 0; ib < 16; ++ib) {
        scales[ib] = lb_kq_qx(16, 32, x + 16 * ib, L + 16 * ib);
    }
    return lb_kq_q6_k_finish(x, scales, L, y);
}

/* Q8_K codes from iscale = -127 / max (the first element of largest magnitude), and the sums of 16. */
static inline void lb_kq_q8_k_codes(const float *x, float iscale, uint8_t *y) {
    int8_t *qs = (int8_t *) (y + 4);
    for (int j = 0; j < 256; ++j) {
        int v = lb_kq_nearest(iscale * x[j]);
        qs[j] = (int8_t) (v < 127 ? v : 127);
    }
    for (int j = 0; j < 16; ++j) {
        int sum = 0;
        for (int ii = 0; ii < 16; ++ii) {
            sum += qs[j * 16 + ii];
        }
        y[260 + 2 * j] = (uint8_t) sum;
        y[261 + 2 * j] = (uint8_t) (sum >> 8);
    }
}

/* Q8_K: fp32 d, never refused; a block of zeros gets d 0, codes 0 and sums 0. */
static inline int lb_kq_q8_k_block(const float *x, uint8_t *y) {
    float max = 0, amax = 0;
    for (int j = 0; j < 256; ++j) {
        float ax = lb_abs(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    if (amax == 0.0f) {
        memset(y, 0, 292);
        return LB_OK;
    }
    float iscale = -127.f / max;
    lb_kq_q8_k_codes(x, iscale, y);
    float d = 1 / iscale;
    memcpy(y, &d, 4);
    return LB_OK;
}

static inline int lb_kq_scalar_block(int kind, const float *x, uint8_t *y) {
    switch (kind) {
        case LB_KQ_Q5_0: return lb_kq_q5_0_block(x, y);
        case LB_KQ_Q5_1: return lb_kq_q5_1_block(x, y);
        case LB_KQ_IQ4_NL: return lb_kq_iq4nl_block(x, y);
        case LB_KQ_Q2_K: return lb_kq_q2_k_block(x, y);
        case LB_KQ_Q3_K: return lb_kq_q3_k_block(x, y);
        case LB_KQ_Q4_K: return lb_kq_q45_k_block(15, x, y);
        case LB_KQ_Q5_K: return lb_kq_q45_k_block(31, x, y);
        case LB_KQ_Q6_K: return lb_kq_q6_k_block(x, y);
        default: return lb_kq_q8_k_block(x, y);
    }
}

/* ---------------------------------------------------------------- dequantize, scalar */

static inline void lb_kq_deq_block(int kind, const uint8_t *b, float *y) {
    switch (kind) {
        case LB_KQ_Q5_0:
        case LB_KQ_Q5_1: {
            int q51 = kind == LB_KQ_Q5_1;
            float d = lb_f16_to_f32(lb_load_u16(b));
            float m = q51 ? lb_f16_to_f32(lb_load_u16(b + 2)) : 0.0f;
            const uint8_t *qhp = b + (q51 ? 4 : 2), *qs = qhp + 4;
            uint32_t qh = (uint32_t) qhp[0] | ((uint32_t) qhp[1] << 8) | ((uint32_t) qhp[2] << 16)
                          | ((uint32_t) qhp[3] << 24);
            for (int j = 0; j < 16; ++j) {
                int x0 = (qs[j] & 0x0F) | (int) (((qh >> j) << 4) & 0x10);
                int x1 = (qs[j] >> 4) | (int) ((qh >> (j + 12)) & 0x10);
                if (q51) {
                    y[j] = (float) x0 * d + m;
                    y[j + 16] = (float) x1 * d + m;
                } else {
                    y[j] = (float) (x0 - 16) * d;
                    y[j + 16] = (float) (x1 - 16) * d;
                }
            }
            return;
        }
        case LB_KQ_IQ4_NL: {
            float d = lb_f16_to_f32(lb_load_u16(b));
            for (int j = 0; j < 16; ++j) {
                y[j] = d * (float) lb_kq_iq4nl[b[2 + j] & 0xF];
                y[j + 16] = d * (float) lb_kq_iq4nl[b[2 + j] >> 4];
            }
            return;
        }
        case LB_KQ_Q2_K: {
            float d = lb_f16_to_f32(lb_load_u16(b + 80)), min = lb_f16_to_f32(lb_load_u16(b + 82));
            const uint8_t *q = b + 16;
            int is = 0;
            for (int n = 0; n < 256; n += 128) {
                for (int shift = 0; shift < 8; shift += 2) {
                    for (int h = 0; h < 2; ++h) {
                        uint8_t sc = b[is++];
                        float dl = d * (float) (sc & 0xF), ml = min * (float) (sc >> 4);
                        for (int l = 0; l < 16; ++l) {
                            *y++ = dl * (float) ((q[l + 16 * h] >> shift) & 3) - ml;
                        }
                    }
                }
                q += 32;
            }
            return;
        }
        case LB_KQ_Q3_K: {
            float d_all = lb_f16_to_f32(lb_load_u16(b + 108));
            const uint8_t *q = b + 32, *hm = b;
            uint8_t m = 1;
            int is = 0;
            for (int n = 0; n < 256; n += 128) {
                for (int shift = 0; shift < 8; shift += 2) {
                    for (int h = 0; h < 2; ++h) {
                        float dl = d_all * (float) lb_kq_q3_scale(b + 96, is++);
                        for (int l = 0; l < 16; ++l) {
                            int v = ((q[l + 16 * h] >> shift) & 3) - ((hm[l + 16 * h] & m) ? 0 : 4);
                            *y++ = dl * (float) v;
                        }
                    }
                    m = (uint8_t) (m << 1);
                }
                q += 32;
            }
            return;
        }
        case LB_KQ_Q4_K:
        case LB_KQ_Q5_K: {
            int q5 = kind == LB_KQ_Q5_K;
            float d = lb_f16_to_f32(lb_load_u16(b)), min = lb_f16_to_f32(lb_load_u16(b + 2));
            const uint8_t *ql = b + (q5 ? 48 : 16), *qh = b + 16;
            uint8_t u1 = 1, u2 = 2;
            for (int is = 0; is < 8; is += 2) {
                uint8_t sc, m;
                lb_kq_scale_min_k4(is, b + 4, &sc, &m);
                float d1 = d * (float) sc, m1 = min * (float) m;
                lb_kq_scale_min_k4(is + 1, b + 4, &sc, &m);
                float d2 = d * (float) sc, m2 = min * (float) m;
                for (int l = 0; l < 32; ++l) {
                    int v = (ql[l] & 0xF) + (q5 && (qh[l] & u1) ? 16 : 0);
                    *y++ = d1 * (float) v - m1;
                }
                for (int l = 0; l < 32; ++l) {
                    int v = (ql[l] >> 4) + (q5 && (qh[l] & u2) ? 16 : 0);
                    *y++ = d2 * (float) v - m2;
                }
                ql += 32;
                u1 = (uint8_t) (u1 << 2);
                u2 = (uint8_t) (u2 << 2);
            }
            return;
        }
        case LB_KQ_Q6_K: {
            float d = lb_f16_to_f32(lb_load_u16(b + 208));
            const uint8_t *ql = b, *qh = b + 128;
            const int8_t *sc = (const int8_t *) (b + 192);
            for (int n = 0; n < 256; n += 128) {
                for (int l = 0; l < 32; ++l) {
                    int is = l / 16;
                    int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    y[l] = d * (float) sc[is] * (float) q1;
                    y[l + 32] = d * (float) sc[is + 2] * (float) q2;
                    y[l + 64] = d * (float) sc[is + 4] * (float) q3;
                    y[l + 96] = d * (float) sc[is + 6] * (float) q4;
                }
                y += 128;
                ql += 64;
                qh += 32;
                sc += 8;
            }
            return;
        }
        default: { /* Q8_K */
            float d;
            memcpy(&d, b, 4);
            for (int j = 0; j < 256; ++j) {
                y[j] = d * (float) (int8_t) b[4 + j];
            }
            return;
        }
    }
}

#endif

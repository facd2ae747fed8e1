/*
 * The integer-path tiles of Q4_1 and grouped 4- and 8-bit weights, shared by matmul_planes_avx2.c and
 * matmul_planes_avx512.c. Each includes this after defining its block-sum primitives:
 *   mg_x mg_prep(mode, sub, need_sum, x)  one token's block of 32 codes, prepared once for the 4 rows of a tile;
 *                                          xsum its exact sum when need_sum;
 *   __m256i mg_dot(mode, q, &x)            8 int32 lanes whose sum is the block's exact sum of (u - sub) * x_j,
 *                                          u the stored codes at q, sub 128, 8 or 0.
 * Modes: see matmul_planes.h.
 *
 * Tiles of 4 rows by 2 tokens (or 1): a hadd tree turns the 4 rows' lanes into 4 block sums, and the fp32 step of
 * matmul_planes.h runs on those 4 lanes with the same IEEE operations as the scalar step. The last 1 to 3 rows
 * run in a tile whose missing rows repeat the last one (stored nowhere), so no element of y depends on the tiling.
 * Defines the tier's exported gemm_q4_1_i8 and gemm_grouped_i8 (LB_FN): include it once per tier.
 */
#ifndef LOWBIT_MATMUL_PLANES_TILES_IMPL_H
#define LOWBIT_MATMUL_PLANES_TILES_IMPL_H

/* The weights' side of a call. */
typedef struct {
    const void *scales, *zeros;
    int f16;
    int32_t nb;   /* blocks of 32 per row */
    int32_t full; /* blocks read in place; the partial last one is read from a zero-padded copy */
    int32_t bpg;  /* blocks per group */
    int64_t bpb;  /* bytes per block */
    float zoff;   /* WeightRows.codeOffset */
} mg_w;

/* One block of the 4 rows (codes at q0..q3) against nt tokens' blocks x0, x1 with scales dx0, dx1. */
static inline __attribute__((always_inline)) void mg_block(const int mode, const int step, const int sub, const int nt,
                                                           const uint8_t *q0, const uint8_t *q1, const uint8_t *q2,
                                                           const uint8_t *q3, const int8_t *x0, const int8_t *x1,
                                                           float dx0, float dx1, __m128 dw, __m128 zm, __m128 *acc0,
                                                           __m128 *acc1) {
    const int need_sum = step != MG_CENTERED;
    mg_x xa = mg_prep(mode, sub, need_sum, x0);
    *acc0 = mg_step4(step, *acc0, dw, zm, dx0, xa.xsum,
                     mg_hsum4(mg_dot(mode, q0, &xa), mg_dot(mode, q1, &xa), mg_dot(mode, q2, &xa), mg_dot(mode, q3, &xa)));
    if (nt == 2) {
        mg_x xb = mg_prep(mode, sub, need_sum, x1);
        *acc1 = mg_step4(step, *acc1, dw, zm, dx1, xb.xsum,
                         mg_hsum4(mg_dot(mode, q0, &xb), mg_dot(mode, q1, &xb), mg_dot(mode, q2, &xb),
                                  mg_dot(mode, q3, &xb)));
    }
}

/*
 * Rows w0..w3 (nr of them real, the rest repeats; gb their first parameter index) by nt tokens from t: y for the
 * real ones. Groups outside, their blocks inside: whole blocks in place, then the partial last one from tail.
 */
static inline __attribute__((always_inline)) void mg_tile_i8(const int mode, const int step, const int sub,
                                                             const int nt, const mg_w *p, const uint8_t *const *wr,
                                                             const uint8_t (*tail)[32], const int64_t *gb,
                                                             const int8_t *xc, int64_t pk, const float *xs,
                                                             int32_t xs_tok, int32_t xs_blk, int32_t t, float *y,
                                                             int64_t ldy, int32_t r, int32_t nr) {
    const int64_t cb = mode == MG_N4 ? 4 : 0; /* the codes' offset in a block */
    const int64_t bpb = p->bpb;
    const int32_t nb = p->nb, full = p->full, bpg = p->bpg;
    const int f16 = p->f16;
    const uint8_t *w0 = wr[0], *w1 = wr[1], *w2 = wr[2], *w3 = wr[3];
    const int8_t *x0 = xc + t * pk;
    const int8_t *x1 = nt == 2 ? x0 + pk : x0;
    const float *s0 = xs + (int64_t) t * xs_tok;
    const float *s1 = nt == 2 ? s0 + xs_tok : s0;
    __m128 acc0 = _mm_setzero_ps();
    __m128 acc1 = _mm_setzero_ps();
    __m128 dw = _mm_setzero_ps();
    __m128 zm = _mm_setzero_ps();
    for (int32_t g = 0, b = 0; b < nb; g++) {
        if (mode == MG_N4) { /* d and m head each block (a group of one) */
            const int64_t o = (int64_t) g * MM_Q4_1_BYTES;
            dw = _mm_cvtph_ps(_mm_setr_epi16((short) lb_load_u16(w0 + o), (short) lb_load_u16(w1 + o),
                                             (short) lb_load_u16(w2 + o), (short) lb_load_u16(w3 + o), 0, 0, 0, 0));
            zm = _mm_cvtph_ps(_mm_setr_epi16((short) lb_load_u16(w0 + o + 2), (short) lb_load_u16(w1 + o + 2),
                                             (short) lb_load_u16(w2 + o + 2), (short) lb_load_u16(w3 + o + 2), 0, 0, 0,
                                             0));
        } else {
            const int64_t gi[4] = {gb[0] + g, gb[1] + g, gb[2] + g, gb[3] + g};
            dw = mg_param4(p->scales, f16, gi);
            if (step == MG_ASYM) {
                zm = _mm_sub_ps(mg_param4(p->zeros, f16, gi), _mm_set1_ps(p->zoff));
            }
        }
        const int32_t be = b + bpg < nb ? b + bpg : nb;
        const int32_t bf = be < full ? be : full;
        for (; b < bf; b++) {
            const int64_t o = b * bpb + cb;
            mg_block(mode, step, sub, nt, w0 + o, w1 + o, w2 + o, w3 + o, x0 + b * 32, x1 + b * 32,
                     s0[(int64_t) b * xs_blk], s1[(int64_t) b * xs_blk], dw, zm, &acc0, &acc1);
        }
        for (; b < be; b++) { /* the row's partial last block */
            mg_block(mode, step, sub, nt, tail[0], tail[1], tail[2], tail[3], x0 + b * 32, x1 + b * 32,
                     s0[(int64_t) b * xs_blk], s1[(int64_t) b * xs_blk], dw, zm, &acc0, &acc1);
        }
    }
    for (int j = 0; j < nt; j++) {
        float *yt = y + (t + j) * ldy + r;
        __m128 acc = j == 0 ? acc0 : acc1;
        if (nr == 4) {
            _mm_storeu_ps(yt, acc);
        } else {
            float lanes[4];
            _mm_storeu_ps(lanes, acc);
            for (int i = 0; i < nr; i++) {
                yt[i] = lanes[i];
            }
        }
    }
}

/*
 * The integer path over rows [r0, r1) and tokens [t0, t1). Q4_1 passes k = nb * 32 (whole blocks, no planes);
 * grouped weights their planes, group_len and the code rows of ceil(k * bits / 8) bytes.
 */
static inline __attribute__((always_inline)) void mg_gemm_i8(const int mode, const int step, const int sub,
                                                             const uint8_t *w, const void *scales, const void *zeros,
                                                             int32_t f16, int32_t k, int32_t group_len,
                                                             const int8_t *xc, const float *xs, int32_t xs_tok,
                                                             int32_t xs_blk, int32_t r0, int32_t r1, int32_t t0,
                                                             int32_t t1, float *y, int64_t ldy) {
    mg_w p;
    p.scales = scales;
    p.zeros = zeros;
    p.f16 = f16;
    p.nb = (k + 31) / 32;
    p.bpb = mode == MG_W8 ? 32 : mode == MG_W4 ? 16 : MM_Q4_1_BYTES;
    p.full = mode == MG_N4 ? p.nb : k / 32;
    p.bpg = mode == MG_N4 ? 1 : mg_blocks_per_group(k, group_len);
    p.zoff = mode == MG_W8 ? 128.0f : 0.0f;
    const int64_t row_bytes = mode == MG_N4 ? (int64_t) p.nb * MM_Q4_1_BYTES : mg_row_bytes(k, mode == MG_W8 ? 8 : 4);
    const int32_t gpr = mode == MG_N4 ? p.nb : mg_groups(k, group_len);
    const int64_t pk = (int64_t) p.nb * 32;
    uint8_t tail[4][32];
    memset(tail, 0, sizeof tail);
    for (int32_t r = r0; r < r1; r += 4) {
        const int32_t nr = r1 - r < 4 ? r1 - r : 4;
        const uint8_t *wr[4];
        int64_t gb[4];
        for (int i = 0; i < 4; i++) {
            int32_t ri = i < nr ? r + i : r1 - 1;
            wr[i] = w + ri * row_bytes;
            gb[i] = (int64_t) ri * gpr;
            if (p.full < p.nb) { /* the row's bytes after its whole blocks, zero padded */
                memcpy(tail[i], wr[i] + p.full * p.bpb, (size_t) (row_bytes - p.full * p.bpb));
            }
        }
        int32_t t = t0;
        for (; t + 2 <= t1; t += 2) {
            mg_tile_i8(mode, step, sub, 2, &p, wr, (const uint8_t (*)[32]) tail, gb, xc, pk, xs, xs_tok, xs_blk, t, y,
                       ldy, r, nr);
        }
        if (t < t1) {
            mg_tile_i8(mode, step, sub, 1, &p, wr, (const uint8_t (*)[32]) tail, gb, xc, pk, xs, xs_tok, xs_blk, t, y,
                       ldy, r, nr);
        }
    }
}

void LB_FN(gemm_q4_1_i8)(const uint8_t *w, const int8_t *xc, const float *xs, int32_t nb, int32_t xs_tok,
                         int32_t xs_blk, int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy) {
    mg_gemm_i8(MG_N4, MG_Q4_1, 0, w, NULL, NULL, 1, nb * 32, 32, xc, xs, xs_tok, xs_blk, r0, r1, t0, t1, y, ldy);
}

void LB_FN(gemm_grouped_i8)(const uint8_t *w, const void *scales, const void *zeros, int32_t k, int32_t bits,
                            int32_t group_len, int32_t symmetric, int32_t scale_f16, const int8_t *xc, const float *xs,
                            int32_t xs_tok, int32_t xs_blk, int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y,
                            int64_t ldy) {
    if (bits == 8) {
        if (symmetric) {
            mg_gemm_i8(MG_W8, MG_CENTERED, 128, w, scales, zeros, scale_f16, k, group_len, xc, xs, xs_tok, xs_blk, r0,
                       r1, t0, t1, y, ldy);
        } else {
            mg_gemm_i8(MG_W8, MG_ASYM, 128, w, scales, zeros, scale_f16, k, group_len, xc, xs, xs_tok, xs_blk, r0, r1,
                       t0, t1, y, ldy);
        }
    } else if (symmetric) {
        mg_gemm_i8(MG_W4, MG_CENTERED, 8, w, scales, zeros, scale_f16, k, group_len, xc, xs, xs_tok, xs_blk, r0, r1,
                   t0, t1, y, ldy);
    } else {
        mg_gemm_i8(MG_W4, MG_ASYM, 0, w, scales, zeros, scale_f16, k, group_len, xc, xs, xs_tok, xs_blk, r0, r1, t0,
                   t1, y, ldy);
    }
}

#endif

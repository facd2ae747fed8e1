/*
 * The range searches of quant_kq.h in LB_KQ_W lanes (8 on AVX2, 16 on AVX-512), one sub-block (or block of 32)
 * per lane: each lane performs exactly the scalar sequence of float operations of its sub-block (sums in element
 * order, separate multiplies and adds, true divisions, the same nearest_int on the bits), and a branch of the
 * scalar code becomes a per-lane select, so every lane's result is the scalar result. Written with GCC's vector
 * extensions, which the tier's flags compile to AVX2 or AVX-512 instructions. The tier's .c file defines
 * LB_KQ_W and lb_kq_vsqrt, then includes this file; it defines lb_kq_tier_row, lb_kq_tier_deq_row and
 * lb_kq_tier_finite for quant_kq_impl.h.
 */
#ifndef LOWBIT_QUANT_KQ_LANES_H
#define LOWBIT_QUANT_KQ_LANES_H

#include "quant_kq.h"

#define W LB_KQ_W

typedef float lbv_f __attribute__((vector_size(4 * W)));
typedef int32_t lbv_i __attribute__((vector_size(4 * W)));

#define LB_ALIGNED __attribute__((aligned(64)))

static inline lbv_f lbv_load(const float *p) {
    lbv_f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline lbv_i lbv_loadi(const int32_t *p) {
    lbv_i v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline lbv_f lbv_sel(lbv_i m, lbv_f a, lbv_f b) {
    return (lbv_f) ((m & (lbv_i) a) | (~m & (lbv_i) b));
}

static inline lbv_i lbv_seli(lbv_i m, lbv_i a, lbv_i b) {
    return (m & a) | (~m & b);
}

static inline lbv_f lbv_abs(lbv_f a) {
    return (lbv_f) ((lbv_i) a & 0x7FFFFFFF);
}

/* s in every lane, its sign of zero kept. */
static inline lbv_f lbv_splat(float s) {
    lbv_f v;
    for (int k = 0; k < W; k++) {
        v[k] = s;
    }
    return v;
}

static inline lbv_i lbv_spliti(int32_t s) {
    return (lbv_i) {} + s;
}

static inline lbv_f lbv_cvt(lbv_i i) {
    return __builtin_convertvector(i, lbv_f);
}

/* nearest_int in every lane. */
static inline lbv_i lbv_nearest(lbv_f f) {
    lbv_f v = f + 12582912.0f;
    return ((lbv_i) v & 0x007FFFFF) - 0x00400000;
}

static inline lbv_i lbv_clamp(lbv_i v, int lo, int hi) {
    v = lbv_seli(v < lo, lbv_spliti(lo), v);
    return lbv_seli(v > hi, lbv_spliti(hi), v);
}

static inline int lbv_any(lbv_i m) {
    int32_t a[W];
    memcpy(a, &m, sizeof a);
    int r = 0;
    for (int k = 0; k < W; k++) {
        r |= a[k];
    }
    return r != 0;
}

/* ---------------------------------------------------------------- searches in lanes */

/* lb_kq_qkx2 in lanes: x and w are n x W (element i of lane k at i * W + k); L receives n x W codes. */
static inline void lbv_qkx2(int n, int nmax, const float *x, const float *w, int32_t *L, float *scale_out,
                            float *min_out, float rmin, float rdelta, int nstep, int use_mad) {
    lbv_i Lv[32], Laux[32];
    lbv_f min = lbv_load(x), max = min;
    lbv_f sum_w = lbv_load(w);
    lbv_f sum_x = sum_w * min;
    for (int i = 1; i < n; ++i) {
        lbv_f xi = lbv_load(x + i * W);
        min = lbv_sel(xi < min, xi, min);
        max = lbv_sel(xi > max, xi, max);
        lbv_f wi = lbv_load(w + i * W);
        sum_w = sum_w + wi;
        sum_x = sum_x + wi * xi;
    }
    min = lbv_sel(min > 0.0f, lbv_splat(0.0f), min);
    lbv_i flat = max == min;
    lbv_f iscale = (float) nmax / (max - min);
    lbv_f scale = 1.0f / iscale;
    lbv_f best_error = lbv_splat(0.0f);
    for (int i = 0; i < n; ++i) {
        lbv_f xi = lbv_load(x + i * W);
        Lv[i] = lbv_clamp(lbv_nearest(iscale * (xi - min)), 0, nmax);
        lbv_f diff = scale * lbv_cvt(Lv[i]) + min - xi;
        diff = use_mad ? lbv_abs(diff) : diff * diff;
        best_error = best_error + lbv_load(w + i * W) * diff;
    }
    for (int is = 0; is <= nstep; ++is) {
        float num = rmin + rdelta * (float) is + (float) nmax;
        iscale = num / (max - min);
        lbv_f sum_l = lbv_splat(0.0f), sum_l2 = sum_l, sum_xl = sum_l;
        for (int i = 0; i < n; ++i) {
            lbv_f xi = lbv_load(x + i * W);
            Laux[i] = lbv_clamp(lbv_nearest(iscale * (xi - min)), 0, nmax);
            lbv_f wi = lbv_load(w + i * W);
            lbv_f fl = lbv_cvt(Laux[i]);
            sum_l = sum_l + wi * fl;
            sum_l2 = sum_l2 + wi * fl * fl;
            sum_xl = sum_xl + wi * fl * xi;
        }
        lbv_f D = sum_w * sum_l2 - sum_l * sum_l;
        lbv_i ok = (D > 0.0f) & ~flat;
        if (!lbv_any(ok)) {
            continue;
        }
        lbv_f this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        lbv_f this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        lbv_i pos = this_min > 0.0f;
        this_min = lbv_sel(pos, lbv_splat(0.0f), this_min);
        this_scale = lbv_sel(pos, sum_xl / sum_l2, this_scale);
        lbv_f cur_error = lbv_splat(0.0f);
        for (int i = 0; i < n; ++i) {
            lbv_f diff = this_scale * lbv_cvt(Laux[i]) + this_min - lbv_load(x + i * W);
            diff = use_mad ? lbv_abs(diff) : diff * diff;
            cur_error = cur_error + lbv_load(w + i * W) * diff;
        }
        lbv_i better = ok & (cur_error < best_error);
        for (int i = 0; i < n; ++i) {
            Lv[i] = lbv_seli(better, Laux[i], Lv[i]);
        }
        best_error = lbv_sel(better, cur_error, best_error);
        scale = lbv_sel(better, this_scale, scale);
        min = lbv_sel(better, this_min, min);
    }
    for (int i = 0; i < n; ++i) {
        lbv_i l = lbv_seli(flat, lbv_spliti(0), Lv[i]);
        memcpy(L + i * W, &l, sizeof l);
    }
    scale = lbv_sel(flat, lbv_splat(0.0f), scale);
    lbv_f the_min = -min;
    memcpy(scale_out, &scale, sizeof scale);
    memcpy(min_out, &the_min, sizeof the_min);
}

/* The first element of largest magnitude of each lane (ggml's strict "ax > amax" scan) and that magnitude. */
static inline void lbv_amax(int n, const float *x, lbv_f *amax_out, lbv_f *max_out) {
    lbv_f amax = lbv_splat(0.0f), max = amax;
    for (int i = 0; i < n; ++i) {
        lbv_f xi = lbv_load(x + i * W);
        lbv_f ax = lbv_abs(xi);
        lbv_i gt = ax > amax;
        amax = lbv_sel(gt, ax, amax);
        max = lbv_sel(gt, xi, max);
    }
    *amax_out = amax;
    *max_out = max;
}

/* lb_kq_qx (make_qx_quants, rmse_type 1, w = x * x) in lanes. */
static inline void lbv_qx(int n, int nmax, const float *x, int32_t *L, float *scale_out) {
    lbv_i Lv[16], Laux[16];
    lbv_f amax, max;
    lbv_amax(n, x, &amax, &max);
    lbv_i zero = amax < LB_KQ_EPS;
    lbv_f iscale = (float) -nmax / max;
    lbv_f sumlx = lbv_splat(0.0f), suml2 = sumlx;
    for (int i = 0; i < n; ++i) {
        lbv_f xi = lbv_load(x + i * W);
        lbv_i l = lbv_clamp(lbv_nearest(iscale * xi), -nmax, nmax - 1);
        Lv[i] = l + nmax;
        lbv_f wi = xi * xi, fl = lbv_cvt(l);
        sumlx = sumlx + wi * xi * fl;
        suml2 = suml2 + wi * fl * fl;
    }
    lbv_f scale = lbv_sel(suml2 != 0.0f, sumlx / suml2, lbv_splat(0.0f));
    lbv_f best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) {
            continue;
        }
        float num = -((float) nmax + 0.1f * (float) is);
        iscale = num / max;
        sumlx = suml2 = lbv_splat(0.0f);
        for (int i = 0; i < n; ++i) {
            lbv_f xi = lbv_load(x + i * W);
            lbv_i l = lbv_clamp(lbv_nearest(iscale * xi), -nmax, nmax - 1);
            Laux[i] = l + nmax;
            lbv_f wi = xi * xi, fl = lbv_cvt(l);
            sumlx = sumlx + wi * xi * fl;
            suml2 = suml2 + wi * fl * fl;
        }
        lbv_i upd = (suml2 > 0.0f) & (sumlx * sumlx > best * suml2) & ~zero;
        if (!lbv_any(upd)) {
            continue;
        }
        for (int i = 0; i < n; ++i) {
            Lv[i] = lbv_seli(upd, Laux[i], Lv[i]);
        }
        scale = lbv_sel(upd, sumlx / suml2, scale);
        best = lbv_sel(upd, scale * sumlx, best);
    }
    for (int i = 0; i < n; ++i) {
        lbv_i l = lbv_seli(zero, lbv_spliti(0), Lv[i]);
        memcpy(L + i * W, &l, sizeof l);
    }
    scale = lbv_sel(zero, lbv_splat(0.0f), scale);
    memcpy(scale_out, &scale, sizeof scale);
}

/* lb_kq_q3 (make_q3_quants with do_rmse) in lanes; a lane leaves the refinement when its pass changed nothing. */
static inline void lbv_q3(int n, int nmax, const float *x, int32_t *L, float *scale_out) {
    lbv_i Lv[16];
    lbv_f amax, max;
    lbv_amax(n, x, &amax, &max);
    lbv_i zero = amax < LB_KQ_EPS;
    lbv_f iscale = (float) -nmax / max;
    lbv_f sumlx = lbv_splat(0.0f), suml2 = sumlx;
    for (int i = 0; i < n; ++i) {
        lbv_f xi = lbv_load(x + i * W);
        Lv[i] = lbv_clamp(lbv_nearest(iscale * xi), -nmax, nmax - 1);
        lbv_f wi = xi * xi, fl = lbv_cvt(Lv[i]);
        sumlx = sumlx + wi * xi * fl;
        suml2 = suml2 + wi * fl * fl;
    }
    lbv_i active = ~zero;
    for (int itry = 0; itry < 5 && lbv_any(active); ++itry) {
        lbv_i changed = lbv_spliti(0);
        for (int i = 0; i < n; ++i) {
            lbv_f xi = lbv_load(x + i * W);
            lbv_f wi = xi * xi, fl = lbv_cvt(Lv[i]);
            lbv_f slx = sumlx - wi * xi * fl;
            lbv_f sl2 = suml2 - wi * fl * fl;
            lbv_i nl = lbv_clamp(lbv_nearest(xi * sl2 / slx), -nmax, nmax - 1);
            lbv_f fn = lbv_cvt(nl);
            lbv_f slx2 = slx + wi * xi * fn;
            lbv_f sl22 = sl2 + wi * fn * fn;
            lbv_i upd = active & (slx > 0.0f) & (nl != Lv[i]) & (sl22 > 0.0f)
                        & (slx2 * slx2 * suml2 > sumlx * sumlx * sl22);
            Lv[i] = lbv_seli(upd, nl, Lv[i]);
            sumlx = lbv_sel(upd, slx2, sumlx);
            suml2 = lbv_sel(upd, sl22, suml2);
            changed = changed | upd;
        }
        active = active & changed;
    }
    for (int i = 0; i < n; ++i) {
        lbv_i l = lbv_seli(zero, lbv_spliti(0), Lv[i] + nmax);
        memcpy(L + i * W, &l, sizeof l);
    }
    lbv_f scale = lbv_sel(suml2 > 0.0f, sumlx / suml2, lbv_splat(0.0f));
    scale = lbv_sel(zero, lbv_splat(0.0f), scale);
    memcpy(scale_out, &scale, sizeof scale);
}

/*
 * lb_kq_best_index in lanes, with the level itself: the levels at or below x and above it bracket x, and the
 * nearer wins (the upper on a tie); below the first level 0, at or above the last (or NaN) 15.
 */
static inline lbv_i lbv_best_index(lbv_f x, lbv_f *q) {
    const int8_t *val = lb_kq_iq4nl;
    lbv_i cnt = lbv_spliti(0);
    lbv_f lower = lbv_splat((float) val[0]), upper = lbv_splat((float) val[15]);
    for (int k = 1; k < 16; ++k) {
        lbv_i le = lbv_splat((float) val[k]) <= x;
        cnt = cnt - le;
        lower = lbv_sel(le, lbv_splat((float) val[k]), lower);
    }
    for (int k = 15; k >= 1; --k) {
        upper = lbv_sel(lbv_splat((float) val[k]) > x, lbv_splat((float) val[k]), upper);
    }
    lbv_i down = (x - lower) < (upper - x);
    lbv_i idx = cnt + 1 + down; /* down is -1 where the lower level wins */
    lbv_f lv = lbv_sel(down, lower, upper);
    lbv_i lo = x <= (float) val[0];
    lbv_i hi = (x >= (float) val[15]) | (x != x);
    idx = lbv_seli(lo, lbv_spliti(0), lbv_seli(hi, lbv_spliti(15), idx));
    *q = lbv_sel(lo, lbv_splat((float) val[0]), lbv_sel(hi, lbv_splat((float) val[15]), lv));
    return idx;
}

/* lb_kq_iq4nl_scale in lanes: x is 32 x W, one block per lane. */
static inline lbv_f lbv_iq4nl_scale(const float *x) {
    lbv_f amax, max;
    lbv_amax(32, x, &amax, &max);
    lbv_i zero = amax < LB_KQ_EPS;
    lbv_f d = -max / (float) lb_kq_iq4nl[0];
    lbv_f id = 1.0f / d;
    lbv_f sumqx = lbv_splat(0.0f), sumq2 = sumqx;
    for (int j = 0; j < 32; ++j) {
        lbv_f xj = lbv_load(x + j * W), q;
        lbv_best_index(id * xj, &q);
        lbv_f w = xj * xj;
        sumqx = sumqx + w * q * xj;
        sumq2 = sumq2 + w * q * q;
    }
    d = sumqx / sumq2;
    lbv_f best = d * sumqx;
    for (int itry = -7; itry <= 7; ++itry) {
        id = (float) (itry + lb_kq_iq4nl[0]) / max;
        sumqx = sumq2 = lbv_splat(0.0f);
        for (int j = 0; j < 32; ++j) {
            lbv_f xj = lbv_load(x + j * W), q;
            lbv_best_index(id * xj, &q);
            lbv_f w = xj * xj;
            sumqx = sumqx + w * q * xj;
            sumq2 = sumq2 + w * q * q;
        }
        lbv_i upd = (sumq2 > 0.0f) & (sumqx * sumqx > best * sumq2);
        d = lbv_sel(upd, sumqx / sumq2, d);
        best = lbv_sel(upd, d * sumqx, best);
    }
    return lbv_sel(zero, lbv_splat(0.0f), d);
}

/* ---------------------------------------------------------------- rows */

/* W blocks of n from p[k] (k < W) into xt (element i of lane k at i * W + k). */
static inline void lbv_transpose(const float *const *p, int n, float *xt) {
    for (int k = 0; k < W; k++) {
        for (int i = 0; i < n; i++) {
            xt[i * W + k] = p[k][i];
        }
    }
}

#define LB_KQ_CHUNK 8 /* super-blocks searched before their blocks are written */

/* Q2_K ... Q6_K: the sub-blocks of up to 8 super-blocks searched W at a time, then each super-block written. */
static inline int lbv_kquant_row(int kind, const float *x, int32_t cols, uint8_t *out) {
    int n = kind == LB_KQ_Q4_K || kind == LB_KQ_Q5_K ? 32 : 16;
    int S = 256 / n;
    int bb = lb_kq_block_bytes(kind);
    int nb = cols / 256;
    float scales[LB_KQ_CHUNK * 16], mins[LB_KQ_CHUNK * 16];
    int32_t Lt[32 * W] LB_ALIGNED;
    float xt[32 * W] LB_ALIGNED, wt[32 * W] LB_ALIGNED, sc[W] LB_ALIGNED, mn[W] LB_ALIGNED;
    uint8_t L[LB_KQ_CHUNK * 256];
    const float *p[W];
    for (int b0 = 0; b0 < nb; b0 += LB_KQ_CHUNK) {
        int nbc = nb - b0 < LB_KQ_CHUNK ? nb - b0 : LB_KQ_CHUNK;
        int nsub = nbc * S;
        const float *xc = x + (int64_t) b0 * 256;
        for (int s = 0; s < nsub; s += W) {
            for (int k = 0; k < W; k++) { /* lanes past the chunk repeat its first sub-block; they are dropped */
                p[k] = xc + (int64_t) (s + k < nsub ? s + k : s) * n;
            }
            lbv_transpose(p, n, xt);
            switch (kind) {
                case LB_KQ_Q2_K:
                    for (int i = 0; i < n * W; i++) {
                        wt[i] = lb_abs(xt[i]);
                    }
                    lbv_qkx2(16, 3, xt, wt, Lt, sc, mn, -0.5f, 0.1f, 15, 1);
                    break;
                case LB_KQ_Q4_K:
                case LB_KQ_Q5_K: {
                    lbv_f sum_x2 = lbv_splat(0.0f);
                    for (int i = 0; i < 32; i++) {
                        lbv_f xi = lbv_load(xt + i * W);
                        sum_x2 = sum_x2 + xi * xi;
                    }
                    lbv_f av_x = lb_kq_vsqrt(sum_x2 / 32.0f);
                    for (int i = 0; i < 32; i++) {
                        lbv_f w = av_x + lbv_abs(lbv_load(xt + i * W));
                        memcpy(wt + i * W, &w, sizeof w);
                    }
                    if (kind == LB_KQ_Q4_K) {
                        lbv_qkx2(32, 15, xt, wt, Lt, sc, mn, -1.f, 0.1f, 20, 0);
                    } else {
                        lbv_qkx2(32, 31, xt, wt, Lt, sc, mn, -0.5f, 0.1f, 15, 0);
                    }
                    break;
                }
                case LB_KQ_Q3_K:
                    lbv_q3(16, 4, xt, Lt, sc);
                    break;
                default: /* Q6_K */
                    lbv_qx(16, 32, xt, Lt, sc);
                    break;
            }
            for (int k = 0; k < W && s + k < nsub; k++) {
                scales[s + k] = sc[k];
                mins[s + k] = mn[k];
                for (int i = 0; i < n; i++) {
                    L[(s + k) * n + i] = (uint8_t) Lt[i * W + k];
                }
            }
        }
        for (int j = 0; j < nbc; j++) {
            const float *xb = xc + j * 256;
            uint8_t *y = out + (int64_t) (b0 + j) * bb;
            uint8_t *Lb = L + j * 256;
            int st;
            switch (kind) {
                case LB_KQ_Q2_K: st = lb_kq_q2_k_finish(xb, scales + j * S, mins + j * S, Lb, y); break;
                case LB_KQ_Q3_K: st = lb_kq_q3_k_finish(xb, scales + j * S, (int8_t *) Lb, y); break;
                case LB_KQ_Q4_K: st = lb_kq_q45_k_finish(15, xb, scales + j * S, mins + j * S, Lb, y); break;
                case LB_KQ_Q5_K: st = lb_kq_q45_k_finish(31, xb, scales + j * S, mins + j * S, Lb, y); break;
                default: st = lb_kq_q6_k_finish(xb, scales + j * S, (int8_t *) Lb, y); break;
            }
            if (st != LB_OK) {
                return LB_RANGE;
            }
        }
    }
    return LB_OK;
}

/* Q5_0, Q5_1 and IQ4_NL: W blocks of 32 at a time, one per lane. */
static inline int lbv_block32_row(int kind, const float *x, int32_t cols, uint8_t *out) {
    int bb = lb_kq_block_bytes(kind);
    int nb = cols / 32;
    float xt[32 * W] LB_ALIGNED, dv[W] LB_ALIGNED, mv[W] LB_ALIGNED;
    int32_t Lt[32 * W] LB_ALIGNED;
    const float *p[W];
    for (int b0 = 0; b0 < nb; b0 += W) {
        for (int k = 0; k < W; k++) {
            p[k] = x + (int64_t) (b0 + k < nb ? b0 + k : b0) * 32;
        }
        lbv_transpose(p, 32, xt);
        lbv_f d, id;
        lbv_f m = lbv_splat(0.0f);
        if (kind == LB_KQ_Q5_0) {
            lbv_f amax = lbv_splat(0.0f), max = amax;
            for (int j = 0; j < 32; ++j) { /* ggml's "amax < fabsf(v)" */
                lbv_f v = lbv_load(xt + j * W);
                lbv_i gt = amax < lbv_abs(v);
                amax = lbv_sel(gt, lbv_abs(v), amax);
                max = lbv_sel(gt, v, max);
            }
            d = max / -16.0f;
            id = lbv_sel(d != 0.0f, 1.0f / d, lbv_splat(0.0f));
            for (int j = 0; j < 32; ++j) {
                lbv_i t = __builtin_convertvector(lbv_load(xt + j * W) * id + 16.5f, lbv_i);
                t = (t << 24) >> 24; /* the int8_t cast */
                t = lbv_seli(t < 31, t, lbv_spliti(31));
                memcpy(Lt + j * W, &t, sizeof t);
            }
        } else if (kind == LB_KQ_Q5_1) {
            lbv_f min = lbv_splat(FLT_MAX), max = lbv_splat(-FLT_MAX);
            for (int j = 0; j < 32; ++j) {
                lbv_f v = lbv_load(xt + j * W);
                min = lbv_sel(v < min, v, min);
                max = lbv_sel(v > max, v, max);
            }
            d = (max - min) / 31.0f;
            id = lbv_sel(d != 0.0f, 1.0f / d, lbv_splat(0.0f));
            m = min;
            for (int j = 0; j < 32; ++j) {
                lbv_i t = __builtin_convertvector((lbv_load(xt + j * W) - min) * id + 0.5f, lbv_i);
                memcpy(Lt + j * W, &t, sizeof t);
            }
        } else {
            d = lbv_iq4nl_scale(xt);
            id = lbv_sel(d != 0.0f, 1.0f / d, lbv_splat(0.0f));
            for (int j = 0; j < 32; ++j) {
                lbv_f q;
                lbv_i t = lbv_best_index(id * lbv_load(xt + j * W), &q);
                memcpy(Lt + j * W, &t, sizeof t);
            }
        }
        memcpy(dv, &d, sizeof d);
        memcpy(mv, &m, sizeof m);
        for (int k = 0; k < W && b0 + k < nb; k++) {
            uint8_t *y = out + (int64_t) (b0 + k) * bb;
            if (!lb_kq_f16_ok(dv[k]) || (kind == LB_KQ_Q5_1 && !lb_kq_f16_ok(mv[k]))) {
                return LB_RANGE;
            }
            uint8_t L[32];
            for (int j = 0; j < 32; j++) {
                L[j] = (uint8_t) Lt[j * W + k];
            }
            lb_store_f16(y, dv[k]);
            if (kind == LB_KQ_Q5_0) {
                lb_kq_pack5(L, y + 2, y + 6);
            } else if (kind == LB_KQ_Q5_1) {
                lb_store_f16(y + 2, mv[k]);
                lb_kq_pack5(L, y + 4, y + 8);
            } else {
                for (int j = 0; j < 16; ++j) {
                    y[2 + j] = (uint8_t) (L[j] | (L[j + 16] << 4));
                }
            }
        }
    }
    return LB_OK;
}

/* Q8_K, element-wise in W lanes: the first element of largest magnitude, then codes and sums. */
static inline int lbv_q8_k_row(const float *x, int32_t cols, uint8_t *out) {
    for (int32_t b = 0; b < cols / 256; b++) {
        const float *xb = x + (int64_t) b * 256;
        uint8_t *y = out + (int64_t) b * 292;
        lbv_i m = lbv_spliti(0);
        for (int i = 0; i < 256; i += W) {
            lbv_i a = (lbv_i) lbv_load(xb + i) & 0x7FFFFFFF;
            m = lbv_seli(a > m, a, m);
        }
        int32_t ma[W];
        memcpy(ma, &m, sizeof ma);
        int32_t amax = 0;
        for (int k = 0; k < W; k++) {
            amax = ma[k] > amax ? ma[k] : amax;
        }
        if (amax == 0) {
            memset(y, 0, 292);
            continue;
        }
        int j = 0;
        while ((int32_t) (lb_bits(xb[j]) & 0x7FFFFFFFu) != amax) {
            j++;
        }
        float iscale = -127.f / xb[j];
        int8_t *qs = (int8_t *) (y + 4);
        for (int i = 0; i < 256; i += W) {
            lbv_i v = lbv_nearest(iscale * lbv_load(xb + i));
            v = lbv_seli(v < 127, v, lbv_spliti(127));
            int32_t va[W];
            memcpy(va, &v, sizeof va);
            for (int k = 0; k < W; k++) {
                qs[i + k] = (int8_t) va[k];
            }
        }
        for (int g = 0; g < 16; ++g) {
            int sum = 0;
            for (int ii = 0; ii < 16; ++ii) {
                sum += qs[g * 16 + ii];
            }
            y[260 + 2 * g] = (uint8_t) sum;
            y[261 + 2 * g] = (uint8_t) (sum >> 8);
        }
        float d = 1 / iscale;
        memcpy(y, &d, 4);
    }
    return LB_OK;
}

static inline int lbv_row(int kind, const float *x, int32_t cols, uint8_t *out) {
    switch (kind) {
        case LB_KQ_Q5_0:
        case LB_KQ_Q5_1:
        case LB_KQ_IQ4_NL: return lbv_block32_row(kind, x, cols, out);
        case LB_KQ_Q8_K: return lbv_q8_k_row(x, cols, out);
        default: return lbv_kquant_row(kind, x, cols, out);
    }
}

static inline int lbv_finite(const float *x, int64_t n) {
    lbv_i bad = lbv_spliti(0);
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        bad = bad | (((lbv_i) lbv_load(x + i) & 0x7F800000) == 0x7F800000);
    }
    for (; i < n; i++) {
        if (!lb_finite(x[i])) {
            return 0;
        }
    }
    return !lbv_any(bad);
}

/* ---------------------------------------------------------------- dequantize */

/* y[i] = dl[i / n] * q[i], then - ml[i / n] (mode 1) or + ml[i / n] (mode 2), W values at a time (n >= W). */
static inline void lbv_deq_apply(const int32_t *q, int count, int n, const float *dl, const float *ml, int mode,
                                 float *y) {
    for (int i = 0; i < count; i += W) {
        int s = i / n;
        lbv_f v = lbv_splat(dl[s]) * lbv_cvt(lbv_loadi(q + i));
        if (mode == 1) {
            v = v - ml[s];
        } else if (mode == 2) {
            v = v + ml[s];
        }
        memcpy(y + i, &v, sizeof v);
    }
}

/* One block: its codes (less their offset) and per-sub-block multipliers, then the products in lanes. */
static inline void lbv_deq_block(int kind, const uint8_t *b, float *y) {
    int32_t q[256] LB_ALIGNED;
    float dl[16], ml[16];
    switch (kind) {
        case LB_KQ_Q5_0:
        case LB_KQ_Q5_1: {
            int q51 = kind == LB_KQ_Q5_1;
            const uint8_t *qhp = b + (q51 ? 4 : 2), *qs = qhp + 4;
            uint32_t qh = (uint32_t) qhp[0] | ((uint32_t) qhp[1] << 8) | ((uint32_t) qhp[2] << 16)
                          | ((uint32_t) qhp[3] << 24);
            for (int j = 0; j < 16; ++j) {
                q[j] = ((qs[j] & 0x0F) | (int) (((qh >> j) << 4) & 0x10)) - (q51 ? 0 : 16);
                q[j + 16] = ((qs[j] >> 4) | (int) ((qh >> (j + 12)) & 0x10)) - (q51 ? 0 : 16);
            }
            dl[0] = lb_f16_to_f32(lb_load_u16(b));
            ml[0] = q51 ? lb_f16_to_f32(lb_load_u16(b + 2)) : 0.0f;
            lbv_deq_apply(q, 32, 32, dl, ml, q51 ? 2 : 0, y);
            return;
        }
        case LB_KQ_IQ4_NL:
            for (int j = 0; j < 16; ++j) {
                q[j] = lb_kq_iq4nl[b[2 + j] & 0xF];
                q[j + 16] = lb_kq_iq4nl[b[2 + j] >> 4];
            }
            dl[0] = lb_f16_to_f32(lb_load_u16(b));
            lbv_deq_apply(q, 32, 32, dl, ml, 0, y);
            return;
        case LB_KQ_Q2_K: {
            float d = lb_f16_to_f32(lb_load_u16(b + 80)), min = lb_f16_to_f32(lb_load_u16(b + 82));
            for (int e = 0; e < 256; ++e) {
                int r = e % 128;
                q[e] = (b[16 + 32 * (e / 128) + r % 32] >> (2 * (r / 32))) & 3;
            }
            for (int s = 0; s < 16; ++s) {
                dl[s] = d * (float) (b[s] & 0xF);
                ml[s] = min * (float) (b[s] >> 4);
            }
            lbv_deq_apply(q, 256, 16, dl, ml, 1, y);
            return;
        }
        case LB_KQ_Q3_K: {
            float d_all = lb_f16_to_f32(lb_load_u16(b + 108));
            for (int e = 0; e < 256; ++e) {
                int r = e % 128;
                int v = (b[32 + 32 * (e / 128) + r % 32] >> (2 * (r / 32))) & 3;
                q[e] = v - ((b[r % 32] >> (e / 32)) & 1 ? 0 : 4);
            }
            for (int s = 0; s < 16; ++s) {
                dl[s] = d_all * (float) lb_kq_q3_scale(b + 96, s);
            }
            lbv_deq_apply(q, 256, 16, dl, ml, 0, y);
            return;
        }
        case LB_KQ_Q4_K:
        case LB_KQ_Q5_K: {
            int q5 = kind == LB_KQ_Q5_K;
            float d = lb_f16_to_f32(lb_load_u16(b)), min = lb_f16_to_f32(lb_load_u16(b + 2));
            const uint8_t *ql = b + (q5 ? 48 : 16), *qh = b + 16;
            for (int e = 0; e < 256; ++e) {
                int c = e / 64, r = e % 64;
                int v = r < 32 ? ql[32 * c + r] & 0xF : ql[32 * c + r - 32] >> 4;
                if (q5 && ((qh[r % 32] >> (2 * c + (r >= 32))) & 1)) {
                    v += 16;
                }
                q[e] = v;
            }
            for (int s = 0; s < 8; ++s) {
                uint8_t sc, m;
                lb_kq_scale_min_k4(s, b + 4, &sc, &m);
                dl[s] = d * (float) sc;
                ml[s] = min * (float) m;
            }
            lbv_deq_apply(q, 256, 32, dl, ml, 1, y);
            return;
        }
        case LB_KQ_Q6_K: {
            float d = lb_f16_to_f32(lb_load_u16(b + 208));
            for (int e = 0; e < 256; ++e) {
                int n = e / 128, k = (e % 128) / 32, l = e % 32;
                uint8_t lo = b[64 * n + l + 32 * (k & 1)];
                int v = (k < 2 ? lo & 0xF : lo >> 4) | (((b[128 + 32 * n + l] >> (2 * k)) & 3) << 4);
                q[e] = v - 32;
            }
            for (int s = 0; s < 16; ++s) {
                dl[s] = d * (float) (int8_t) b[192 + s];
            }
            lbv_deq_apply(q, 256, 16, dl, ml, 0, y);
            return;
        }
        default: { /* Q8_K */
            memcpy(dl, b, 4);
            for (int e = 0; e < 256; ++e) {
                q[e] = (int8_t) b[4 + e];
            }
            lbv_deq_apply(q, 256, 256, dl, ml, 0, y);
            return;
        }
    }
}

static inline void lbv_deq_row(int kind, const uint8_t *row, int32_t cols, float *out) {
    int n = lb_kq_block_elems(kind), bb = lb_kq_block_bytes(kind);
    for (int32_t b = 0; b < cols / n; b++) {
        lbv_deq_block(kind, row + (int64_t) b * bb, out + (int64_t) b * n);
    }
}

#define lb_kq_tier_row lbv_row
#define lb_kq_tier_deq_row lbv_deq_row
#define lb_kq_tier_finite lbv_finite

#undef W

#endif

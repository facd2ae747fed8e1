/*
 * The ggml blocks beyond Q8_0, Q4_0 and Q4_1 on the integer path with 256-bit vectors, included by
 * matmul_kq_avx2.c (KQ_VNNI 0) and matmul_kq_avx512.c (KQ_VNNI 1, AVX-512 VNNI on 256-bit vectors).
 *
 * Four rows at a time (then one), each token's activations loaded once per chunk of 32 for the four rows, the
 * weight stream prefetched a few blocks ahead; with VNNI, K-quants take two tokens at a time, each chunk of weights
 * unpacked once for both. K-quants, per super-block and row:
 *  - the codes are unpacked chunk by chunk (32 codes) into unsigned bytes u = w + off (shifts and masks; the
 *    offset off is 32 for Q6_K, 4 for Q3_K, 0 otherwise), never stored;
 *  - AVX2: vpmaddubsw(u, x) forms int16 pair sums (at most 2 * 63 * 128 = 16128: no saturation), and vpmaddwd
 *    multiplies them by the sub-block scale of their 16 elements and adds them in pairs into 8 int32 lanes;
 *    VNNI: vpdpbusd sums 4 products u * x per int32 lane (at most 4 * 63 * 128 = 32256, inside int16). Q4_K and
 *    Q5_K (one scale per chunk): vpdpwssd multiplies those lanes by the chunk's scale, broadcast from memory, and
 *    adds them up: no shuffle at all for the scales. The others (a scale per 16 elements): vpackssdw packs two
 *    chunks' lanes into int16 exactly, and one vpdpwssd multiplies them by their scales (one vpshufb) and adds
 *    them: three multiplying instructions per 64 elements;
 *  - the offset comes off as off * sum_g sc_g * bsum_g, and msum = sum_g m_g * bsum_g, both by vpmaddwd on the
 *    16 activation sums bsum_g of 16 codes that the call computes once per token;
 *  - the 8 lanes of the four rows are added into one vector of four exact isums, and the fp32 step of
 *    matmul_kq.h runs in four float lanes, one per row: each lane takes the reference's operations in its order.
 * Blocks of 32: the codes unpacked into one vector (Q5_0, Q5_1: nibbles and the fifth bit from qh, unsigned;
 * IQ4_NL: its levels by vpshufb, signed, multiplied as |x| times w with x's sign, at most 2 * 128 * 127 per pair),
 * the 32 products summed into int32 lanes (vpdpbusd with VNNI, vpmaddubsw then vpmaddwd with AVX2), then the
 * four rows' sums and the fp32 step as above.
 */
#include <immintrin.h>
#include "matmul_kq.h"

#define KQ_INLINE static inline __attribute__((always_inline))
#define KQ_ROWS 4
#define KQ_PREFETCH 8 /* blocks ahead */

KQ_INLINE __m256i kq_ld(const void *p) {
    return _mm256_loadu_si256((const __m256i *) p);
}

/* acc + the pair sums of u * x (int16) times s (int16), added in pairs into int32 lanes. */
KQ_INLINE __m256i kq_dot(__m256i acc, __m256i u, __m256i x, __m256i s) {
    __m256i p = _mm256_maddubs_epi16(u, x);
#if KQ_VNNI
    return _mm256_dpwssd_epi32(acc, p, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, s));
#endif
}

#if KQ_VNNI
/*
 * acc + d * s per int32 lane, d's lanes in int16 range and s the int32 at *s broadcast from memory (EVEX {1to8}), as
 * the int16 pair (s, 0): a load, not a shuffle. Inline assembly, since GCC otherwise broadcasts from a register.
 */
KQ_INLINE __m256i kq_dpwssd_bcast(__m256i acc, __m256i d, const int32_t *s) {
    __asm__("vpdpwssd %[s]%{1to8%}, %[d], %[acc]" : [acc] "+v"(acc) : [d] "v"(d), [s] "m"(*s));
    return acc;
}
#endif

/* Chunk c (elements 32c .. 32c + 31) of the K-quant super-block at p, as unsigned bytes w + off. */
KQ_INLINE __m256i kq_chunk(const int kind, const uint8_t *p, const int c) {
    const __m256i m4 = _mm256_set1_epi8(15);
    const int h = c / 4, j = c % 4;
    switch (kind) {
        case LB_KQ_Q2_K:
            return _mm256_and_si256(_mm256_srli_epi16(kq_ld(p + 16 + 32 * h), 2 * j), _mm256_set1_epi8(3));
        case LB_KQ_Q3_K: {
            __m256i lo = _mm256_and_si256(_mm256_srli_epi16(kq_ld(p + 32 + 32 * h), 2 * j), _mm256_set1_epi8(3));
            __m256i hm = kq_ld(p);
            const int sh = 4 * h + j; /* the hmask bit of this chunk, moved to bit 2 */
            __m256i hb = sh >= 2 ? _mm256_srli_epi16(hm, sh - 2) : _mm256_slli_epi16(hm, 2 - sh);
            return _mm256_or_si256(lo, _mm256_and_si256(hb, _mm256_set1_epi8(4)));
        }
        case LB_KQ_Q4_K: {
            __m256i q = kq_ld(p + 16 + 32 * (c / 2));
            return _mm256_and_si256(c & 1 ? _mm256_srli_epi16(q, 4) : q, m4);
        }
        case LB_KQ_Q5_K: {
            __m256i q = kq_ld(p + 48 + 32 * (c / 2));
            __m256i lo = _mm256_and_si256(c & 1 ? _mm256_srli_epi16(q, 4) : q, m4);
            __m256i hm = kq_ld(p + 16); /* bit c of qh[l] is element 32c + l's fifth bit: moved to bit 4 */
            __m256i hb = c < 4 ? _mm256_slli_epi16(hm, 4 - c) : _mm256_srli_epi16(hm, c - 4);
            return _mm256_or_si256(lo, _mm256_and_si256(hb, _mm256_set1_epi8(16)));
        }
        default: { /* Q6_K: ql nibbles, 2 high bits from qh */
            __m256i q = kq_ld(p + 64 * h + 32 * (j & 1));
            __m256i lo = _mm256_and_si256(j >= 2 ? _mm256_srli_epi16(q, 4) : q, m4);
            __m256i hm = kq_ld(p + 128 + 32 * h);
            __m256i hb = j == 0 ? _mm256_slli_epi16(hm, 4)
                                : j == 1 ? _mm256_slli_epi16(hm, 2) : j == 2 ? hm : _mm256_srli_epi16(hm, 2);
            return _mm256_or_si256(lo, _mm256_and_si256(hb, _mm256_set1_epi8(0x30)));
        }
    }
}

/* Q2_K, Q3_K, Q6_K: the 16 scales of the super-block at p as int16, and (Q2_K) its 16 minima in *m16. */
KQ_INLINE __m256i kq_scales(const int kind, const uint8_t *p, __m256i *m16) {
    const __m128i m4 = _mm_set1_epi8(15);
    switch (kind) {
        case LB_KQ_Q2_K: {
            __m128i v = _mm_loadu_si128((const __m128i *) p);
            *m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), m4));
            return _mm256_cvtepu8_epi16(_mm_and_si128(v, m4));
        }
        case LB_KQ_Q3_K: {
            __m128i v = _mm_loadl_epi64((const __m128i *) (p + 96));
            __m128i low = _mm_unpacklo_epi64(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4));
            uint32_t hb;
            memcpy(&hb, p + 104, 4);
            /* scale 4q + j takes bits 2q, 2q + 1 of byte j of hb */
            __m128i high = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32((int) hb), _mm_setr_epi32(0, 2, 4, 6)),
                                         _mm_set1_epi8(3));
            __m128i s = _mm_sub_epi8(_mm_or_si128(low, _mm_slli_epi16(high, 4)), _mm_set1_epi8(32));
            return _mm256_cvtepi8_epi16(s);
        }
        default: /* Q6_K */
            return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (p + 192)));
    }
}

/* Lane i: the sum of the 8 int32 lanes of a[i] (R = 4), or lane 0: the sum of a[0]'s (R = 1). */
KQ_INLINE __m128i kq_hsum(const int R, const __m256i *a) {
    if (R == 4) {
        __m256i t = _mm256_hadd_epi32(_mm256_hadd_epi32(a[0], a[1]), _mm256_hadd_epi32(a[2], a[3]));
        return _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    }
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a[0]), _mm256_extracti128_si256(a[0], 1));
    s = _mm_hadd_epi32(s, s);
    return _mm_hadd_epi32(s, s);
}

/* The fp16 values at p[i] + off of the R rows as fp32 lanes (exact). */
KQ_INLINE __m128 kq_f16(const int R, const uint8_t *const *p, const int off) {
    if (R == 4) {
        return _mm_cvtph_ps(_mm_setr_epi16((short) mm_f16_bits(p[0] + off), (short) mm_f16_bits(p[1] + off),
                                           (short) mm_f16_bits(p[2] + off), (short) mm_f16_bits(p[3] + off), 0, 0,
                                           0, 0));
    }
    return _mm_cvtph_ps(_mm_setr_epi16((short) mm_f16_bits(p[0] + off), 0, 0, 0, 0, 0, 0, 0));
}

KQ_INLINE void kq_store(const int R, float *y, __m128 acc) {
    if (R == 4) {
        _mm_storeu_ps(y, acc);
    } else {
        _mm_store_ss(y, acc);
    }
}

KQ_INLINE void kq_prefetch(const uint8_t *p, const int64_t bytes) {
    for (int64_t o = 0; o < bytes; o += 64) {
        _mm_prefetch((const char *) (p + o), _MM_HINT_T0);
    }
}

/*
 * Q4_K / Q5_K: the 8 scales (bytes 0-7) and the 8 minima (bytes 8-15) of the super-block at p, 6 bits each, from
 * its 12 bytes at p + 4 (j < 4: the low 6 bits of bytes j and j + 4; j >= 4: a nibble of byte j + 4 and the top 2
 * bits of byte j - 4, or j).
 */
KQ_INLINE __m128i kq_k4_scales(const uint8_t *p) {
    const __m128i s = _mm_loadu_si128((const __m128i *) (p + 4));
    const __m128i a = _mm_shuffle_epi8(s, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    const __m128i b = _mm_shuffle_epi8(s, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    const __m128i low = _mm_or_si128(
            _mm_and_si128(a, _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0)),
            _mm_and_si128(_mm_srli_epi16(a, 4), _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15)));
    return _mm_or_si128(low, _mm_and_si128(_mm_srli_epi16(b, 2), _mm_set1_epi8(0x30)));
}

/*
 * R K-quant rows from row0 (stride row_bytes) times tokens [t0, t1), T at a time (T = 2 only with VNNI: each chunk
 * of weights is unpacked once for both tokens), into y[t * ldy + r ...]. sums holds the activation sums of the
 * call's tokens from ts. The loops over rows and tokens are unrolled, so that the accumulators stay in registers.
 */
KQ_INLINE void kq_rows_k(const int kind, const int R, const int T, const uint8_t *row0, const int64_t row_bytes,
                         const int8_t *xc, const float *xs, const int16_t *sums, const int32_t ts, const int32_t k,
                         const int32_t t0, const int32_t t1, float *y, const int64_t ldy) {
    const int32_t nsb = k / 256;
    const int64_t bb = kq_block_bytes(kind);
    const int min = kq_has_min(kind);
    const int k4 = kind == LB_KQ_Q4_K || kind == LB_KQ_Q5_K; /* one scale and minimum per 32 elements */
    const int dOff = kind == LB_KQ_Q2_K ? 80 : kind == LB_KQ_Q3_K ? 108 : kind == LB_KQ_Q6_K ? 208 : 0;
    const int mOff = kind == LB_KQ_Q2_K ? 82 : 2;
    for (int32_t t = t0; t + T <= t1; t += T) {
        const int8_t *x[2];
        const int16_t *bs[2];
        __m128 acc[2];
#pragma GCC unroll 2
        for (int u = 0; u < T; u++) {
            x[u] = xc + (int64_t) (t + u) * k;
            bs[u] = sums + (int64_t) (t + u - ts) * (k / 16);
            acc[u] = _mm_setzero_ps();
        }
        for (int32_t b = 0; b < nsb; b++) {
            const uint8_t *p[KQ_ROWS];
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                p[i] = row0 + i * row_bytes + b * bb;
                kq_prefetch(p[i] + KQ_PREFETCH * bb, bb);
            }
            __m256i bsv[2];
#pragma GCC unroll 2
            for (int u = 0; u < T; u++) {
                bsv[u] = kq_ld(bs[u] + 16 * b);
            }
            /* k4: v holds the 8 scales and 8 minima as bytes; otherwise sc the 16 scales as int16 */
            __m256i sc[KQ_ROWS], ia[KQ_ROWS][2], ma[KQ_ROWS][2], tv[KQ_ROWS];
            __m128i v[KQ_ROWS];
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
#pragma GCC unroll 2
                for (int u = 0; u < T; u++) {
                    ia[i][u] = _mm256_setzero_si256();
                    ma[i][u] = _mm256_setzero_si256();
                }
                if (k4) {
                    v[i] = kq_k4_scales(p[i]);
                    sc[i] = _mm256_broadcastsi128_si256(v[i]);
                    continue;
                }
                __m256i m16 = _mm256_setzero_si256();
                sc[i] = kq_scales(kind, p[i], &m16);
#pragma GCC unroll 2
                for (int u = 0; u < T; u++) {
                    if (kind == LB_KQ_Q6_K || kind == LB_KQ_Q3_K) { /* the offset off: - off * sum_g sc_g bsum_g */
                        __m256i o = _mm256_madd_epi16(sc[i], bsv[u]);
                        ia[i][u] = _mm256_sub_epi32(_mm256_setzero_si256(), kind == LB_KQ_Q6_K
                                                    ? _mm256_slli_epi32(o, 5) : _mm256_slli_epi32(o, 2));
                    }
                    if (min) {
                        ma[i][u] = _mm256_madd_epi16(m16, bsv[u]);
                    }
                }
            }
#if KQ_VNNI
            if (k4) {
                /* One scale per chunk: vpdpbusd sums 4 products per int32 lane (|sum| < 2^15, so the lane's high
                   16 bits are its sign), and vpdpwssd multiplies the lane by the scale broadcast from memory as the
                   int16 pair (sc, 0). The scales go through memory so that no shuffle unit broadcasts them. */
                int32_t sc32[KQ_ROWS][8];
#pragma GCC unroll 4
                for (int i = 0; i < R; i++) {
                    _mm256_storeu_si256((__m256i *) sc32[i], _mm256_cvtepu8_epi32(v[i]));
                }
#pragma GCC unroll 8
                for (int c = 0; c < 8; c++) {
                    __m256i xv[2];
#pragma GCC unroll 2
                    for (int u = 0; u < T; u++) {
                        xv[u] = kq_ld(x[u] + (int64_t) b * 256 + 32 * c);
                    }
#pragma GCC unroll 4
                    for (int i = 0; i < R; i++) {
                        const __m256i w = kq_chunk(kind, p[i], c);
#pragma GCC unroll 2
                        for (int u = 0; u < T; u++) {
                            const __m256i d = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, xv[u]);
                            ia[i][u] = kq_dpwssd_bcast(ia[i][u], d, &sc32[i][c]);
                        }
                    }
                }
            } else {
                /* A scale per 16 elements, two chunks at a time: vpdpbusd sums 4 products per int32 lane, vpackssdw
                   keeps them exactly in int16 (at most 4 * 63 * 128 = 32256), and one vpdpwssd scales and adds the
                   two chunks' lanes. After vpackssdw, int16 lanes 0-3 of each half are chunk c's and lanes 4-7 chunk
                   c + 1's; the low half holds elements 0..15 of each chunk, the high half 16..31, and the scales
                   come from the half of the 16 that tv holds in both lanes. */
#define KQ_W(e) ((short) ((2 * (e) + 1) << 8 | 2 * (e)))
#define KQ_W4(e) KQ_W(e), KQ_W(e), KQ_W(e), KQ_W(e)
#pragma GCC unroll 4
                for (int c = 0; c < 8; c += 2) {
                    __m256i x0[2], x1[2];
#pragma GCC unroll 2
                    for (int u = 0; u < T; u++) {
                        x0[u] = kq_ld(x[u] + (int64_t) b * 256 + 32 * c);
                        x1[u] = kq_ld(x[u] + (int64_t) b * 256 + 32 * c + 32);
                    }
                    const int q = c % 4;
                    const __m256i ctrl = _mm256_setr_m128i(_mm_setr_epi16(KQ_W4(2 * q), KQ_W4(2 * q + 2)),
                                                           _mm_setr_epi16(KQ_W4(2 * q + 1), KQ_W4(2 * q + 3)));
#pragma GCC unroll 4
                    for (int i = 0; i < R; i++) {
                        if (q == 0) {
                            tv[i] = _mm256_permute4x64_epi64(sc[i], c < 4 ? 0x44 : 0xEE);
                        }
                        const __m256i w0 = kq_chunk(kind, p[i], c), w1 = kq_chunk(kind, p[i], c + 1);
                        const __m256i s = _mm256_shuffle_epi8(tv[i], ctrl);
#pragma GCC unroll 2
                        for (int u = 0; u < T; u++) {
                            const __m256i d0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w0, x0[u]);
                            const __m256i d1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w1, x1[u]);
                            ia[i][u] = _mm256_dpwssd_epi32(ia[i][u], _mm256_packs_epi32(d0, d1), s);
                        }
                    }
                }
#undef KQ_W4
#undef KQ_W
            }
#else
            /* one token at a time (T = 1) */
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++) {
                const __m256i xv = kq_ld(x[0] + (int64_t) b * 256 + 32 * c);
                const int q = c % 4;
                /* k4: every int16 lane takes scale c; else lanes 0-7 that of elements 32c..32c+15 and lanes 8-15
                   that of 32c+16..32c+31, from the half of the 16 scales that tv holds in both lanes */
                const __m256i ctrl = k4 ? _mm256_set1_epi16((short) (0x8000 | c))
                                        : _mm256_setr_m128i(_mm_set1_epi16((short) ((4 * q + 1) << 8 | 4 * q)),
                                                            _mm_set1_epi16((short) ((4 * q + 3) << 8 | (4 * q + 2))));
#pragma GCC unroll 4
                for (int i = 0; i < R; i++) {
                    if (!k4 && q == 0) {
                        tv[i] = _mm256_permute4x64_epi64(sc[i], c < 4 ? 0x44 : 0xEE);
                    }
                    const __m256i s = _mm256_shuffle_epi8(k4 ? sc[i] : tv[i], ctrl);
                    ia[i][0] = kq_dot(ia[i][0], kq_chunk(kind, p[i], c), xv, s);
                }
            }
#endif
            const __m128 d = kq_f16(R, p, dOff);
            const __m128 dm = min ? kq_f16(R, p, mOff) : _mm_setzero_ps();
#pragma GCC unroll 2
            for (int u = 0; u < T; u++) {
                __m256i iu[KQ_ROWS];
#pragma GCC unroll 4
                for (int i = 0; i < R; i++) {
                    iu[i] = ia[i][u];
                }
                const __m128 dx = _mm_set1_ps(xs[(int64_t) (t + u) * nsb + b]);
                const __m128 is = _mm_cvtepi32_ps(kq_hsum(R, iu));
                if (min) {
                    __m128i msum;
                    if (k4) { /* the minima times the sums of 32: two rows per vector */
                        const __m128i x32 = _mm_hadd_epi16(_mm256_castsi256_si128(bsv[u]),
                                                           _mm256_extracti128_si256(bsv[u], 1));
                        const __m256i x2 = _mm256_broadcastsi128_si256(x32);
                        if (R == 4) {
                            __m256i m01 = _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_unpackhi_epi64(v[0], v[1])), x2);
                            __m256i m23 = _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_unpackhi_epi64(v[2], v[3])), x2);
                            __m256i h = _mm256_hadd_epi32(m01, m23); /* lanes: rows 0, 2 | rows 1, 3 */
                            h = _mm256_hadd_epi32(h, h);
                            msum = _mm_unpacklo_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
                        } else {
                            __m128i m = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_unpackhi_epi64(v[0], v[0])), x32);
                            m = _mm_hadd_epi32(m, m);
                            msum = _mm_hadd_epi32(m, m);
                        }
                    } else {
                        __m256i mu[KQ_ROWS];
#pragma GCC unroll 4
                        for (int i = 0; i < R; i++) {
                            mu[i] = ma[i][u];
                        }
                        msum = kq_hsum(R, mu);
                    }
                    const __m128 ms = _mm_cvtepi32_ps(msum);
                    acc[u] = _mm_add_ps(acc[u], _mm_sub_ps(_mm_mul_ps(_mm_mul_ps(dx, d), is),
                                                           _mm_mul_ps(_mm_mul_ps(dx, dm), ms)));
                } else {
                    acc[u] = _mm_add_ps(acc[u], _mm_mul_ps(_mm_mul_ps(dx, d), is));
                }
            }
        }
#pragma GCC unroll 2
        for (int u = 0; u < T; u++) {
            kq_store(R, y + (int64_t) (t + u) * ldy, acc[u]);
        }
    }
}

/* The 32 codes of a block of 32 at p: Q5_0, Q5_1 unsigned (0..31), IQ4_NL its signed levels. */
KQ_INLINE __m256i kq_block32(const int kind, const uint8_t *p) {
    const __m256i m4 = _mm256_set1_epi8(15);
    const int qs = kind == LB_KQ_Q5_0 ? 6 : kind == LB_KQ_Q5_1 ? 8 : 2;
    __m128i v = _mm_loadu_si128((const __m128i *) (p + qs));
    __m256i n = _mm256_and_si256(_mm256_setr_m128i(v, _mm_srli_epi16(v, 4)), m4);
    if (kind == LB_KQ_IQ4_NL) {
        __m128i lv = _mm_loadu_si128((const __m128i *) KQ_IQ4NL);
        return _mm256_shuffle_epi8(_mm256_setr_m128i(lv, lv), n);
    }
    uint32_t qh;
    memcpy(&qh, p + (kind == LB_KQ_Q5_0 ? 2 : 4), 4);
    /* byte j takes byte j / 8 of qh, then its bit j % 8 */
    __m256i h = _mm256_shuffle_epi8(_mm256_set1_epi32((int) qh),
                                    _mm256_setr_epi64x(0, 0x0101010101010101LL, 0x0202020202020202LL,
                                                       0x0303030303030303LL));
    const __m256i bit = _mm256_set1_epi64x((long long) 0x8040201008040201ULL);
    h = _mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit);
    return _mm256_or_si256(n, _mm256_and_si256(h, _mm256_set1_epi8(16)));
}

/* 8 int32 lanes that add up to sum u * x (u unsigned bytes, x signed). */
KQ_INLINE __m256i kq_dot32(__m256i u, __m256i x) {
#if KQ_VNNI
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, x);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1));
#endif
}

/* R rows of blocks of 32 from row0 times tokens [t0, t1). */
KQ_INLINE void kq_rows_32(const int kind, const int R, const uint8_t *row0, const int64_t row_bytes,
                          const int8_t *xc, const float *xs, const int16_t *sums, const int32_t k, const int32_t t0,
                          const int32_t t1, float *y, const int64_t ldy) {
    const int32_t nb = k / 32;
    const int64_t bb = kq_block_bytes(kind);
    for (int32_t t = t0; t < t1; t++) {
        const int8_t *x = xc + (int64_t) t * k;
        const int16_t *xsum = sums + (int64_t) (t - t0) * nb;
        __m128 acc = _mm_setzero_ps();
        for (int32_t b = 0; b < nb; b++) {
            const uint8_t *p[KQ_ROWS];
            __m256i a[KQ_ROWS];
            const __m256i xv = kq_ld(x + (int64_t) b * 32);
            const __m256i ax = _mm256_abs_epi8(xv); /* IQ4_NL: |x| as unsigned bytes, 128 included */
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                p[i] = row0 + i * row_bytes + b * bb;
                if ((b & 3) == 0) {
                    kq_prefetch(p[i] + 4 * KQ_PREFETCH * bb, 4 * bb);
                }
                __m256i wv = kq_block32(kind, p[i]);
                a[i] = kind == LB_KQ_IQ4_NL ? kq_dot32(ax, _mm256_sign_epi8(wv, xv)) : kq_dot32(wv, xv);
            }
            __m128i isum = kq_hsum(R, a);
            const __m128 dx = _mm_set1_ps(xs[(int64_t) t * nb + b]);
            const __m128 d = kq_f16(R, p, 0);
            if (kind == LB_KQ_Q5_1) {
                const __m128 m = kq_f16(R, p, 2);
                const __m128 xs_f = _mm_set1_ps((float) xsum[b]);
                acc = _mm_add_ps(acc, _mm_mul_ps(dx, _mm_add_ps(_mm_mul_ps(d, _mm_cvtepi32_ps(isum)),
                                                                _mm_mul_ps(m, xs_f))));
            } else {
                if (kind == LB_KQ_Q5_0) {
                    isum = _mm_sub_epi32(isum, _mm_set1_epi32(16 * xsum[b]));
                }
                acc = _mm_add_ps(acc, _mm_mul_ps(_mm_mul_ps(d, dx), _mm_cvtepi32_ps(isum)));
            }
        }
        kq_store(R, y + (int64_t) t * ldy, acc);
    }
}

/*
 * The activation sums of tokens [t0, t1), once per call: the sum of each run of len codes (16 for the K-quants,
 * ggml's bsums; 32 for the blocks of 32), token t's at s + (t - t0) * (k / len), |sum| <= 4096. vpsadbw sums the
 * codes plus 128 (top bit flipped) per 8 bytes; 8 * 128 comes off each.
 */
static int16_t *kq_sums(const int8_t *xc, int32_t k, int32_t t0, int32_t t1, int32_t len) {
    const int64_t per = k / len;
    int16_t *s = malloc((size_t) ((t1 - t0) * per) * sizeof(int16_t) + 1);
    if (s == NULL) {
        return NULL;
    }
    const __m256i flip = _mm256_set1_epi8((char) 0x80);
    for (int32_t t = t0; t < t1; t++) {
        const int8_t *x = xc + (int64_t) t * k;
        int16_t *o = s + (int64_t) (t - t0) * per;
        for (int32_t j = 0; j < k; j += 32) {
            const __m256i q = _mm256_sad_epu8(_mm256_xor_si256(kq_ld(x + j), flip), _mm256_setzero_si256());
            /* 64-bit lanes 0, 1: codes 0..7, 8..15; lanes 2, 3: codes 16..23, 24..31 */
            const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
            const int32_t s0 = _mm_cvtsi128_si32(lo) + _mm_extract_epi32(lo, 2) - 16 * 128;
            const int32_t s1 = _mm_cvtsi128_si32(hi) + _mm_extract_epi32(hi, 2) - 16 * 128;
            if (len == 16) {
                o[j / 16] = (int16_t) s0;
                o[j / 16 + 1] = (int16_t) s1;
            } else {
                o[j / 32] = (int16_t) (s0 + s1);
            }
        }
    }
    return s;
}

/* R rows of kind from row0: K-quants two tokens at a time with VNNI (then one), blocks of 32 one at a time. */
KQ_INLINE void kq_tile(const int kind, const int R, const uint8_t *row0, const int64_t row_bytes, const int8_t *xc,
                       const float *xs, const int16_t *sums, int32_t k, int32_t t0, int32_t t1, float *y, int64_t ldy) {
    if (!kq_super(kind)) {
        kq_rows_32(kind, R, row0, row_bytes, xc, xs, sums, k, t0, t1, y, ldy);
        return;
    }
#if KQ_VNNI
    const int32_t pairs = t0 + (t1 - t0) / 2 * 2;
    kq_rows_k(kind, R, 2, row0, row_bytes, xc, xs, sums, t0, k, t0, pairs, y, ldy);
    kq_rows_k(kind, R, 1, row0, row_bytes, xc, xs, sums, t0, k, pairs, t1, y, ldy);
#else
    kq_rows_k(kind, R, 1, row0, row_bytes, xc, xs, sums, t0, k, t0, t1, y, ldy);
#endif
}

KQ_INLINE void kq_run(const int kind, const uint8_t *w, const int8_t *xc, const float *xs, const int16_t *sums,
                      int32_t k, int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy) {
    const int64_t row_bytes = (int64_t) (k / (kq_super(kind) ? 256 : 32)) * kq_block_bytes(kind);
    int32_t r = r0;
    for (; r + KQ_ROWS <= r1; r += KQ_ROWS) {
        kq_tile(kind, KQ_ROWS, w + r * row_bytes, row_bytes, xc, xs, sums, k, t0, t1, y + r, ldy);
    }
    for (; r < r1; r++) {
        kq_tile(kind, 1, w + r * row_bytes, row_bytes, xc, xs, sums, k, t0, t1, y + r, ldy);
    }
}

int32_t LB_FN(gemm_blocks_i8)(int32_t kind, const uint8_t *w, const int8_t *xc, const float *xs, int32_t k,
                              int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy) {
    if (r0 >= r1 || t0 >= t1) {
        return 0;
    }
    int16_t *sums = kq_sums(xc, k, t0, t1, kq_super(kind) ? 16 : 32);
    if (sums == NULL) {
        return -1;
    }
    switch (kind) {
        case LB_KQ_Q5_0: kq_run(LB_KQ_Q5_0, w, xc, xs, sums, k, r0, r1, t0, t1, y, ldy); break;
        case LB_KQ_Q5_1: kq_run(LB_KQ_Q5_1, w, xc, xs, sums, k, r0, r1, t0, t1, y, ldy); break;
        case LB_KQ_IQ4_NL: kq_run(LB_KQ_IQ4_NL, w, xc, xs, sums, k, r0, r1, t0, t1, y, ldy); break;
        case LB_KQ_Q2_K: kq_run(LB_KQ_Q2_K, w, xc, xs, sums, k, r0, r1, t0, t1, y, ldy); break;
        case LB_KQ_Q3_K: kq_run(LB_KQ_Q3_K, w, xc, xs, sums, k, r0, r1, t0, t1, y, ldy); break;
        case LB_KQ_Q4_K: kq_run(LB_KQ_Q4_K, w, xc, xs, sums, k, r0, r1, t0, t1, y, ldy); break;
        case LB_KQ_Q5_K: kq_run(LB_KQ_Q5_K, w, xc, xs, sums, k, r0, r1, t0, t1, y, ldy); break;
        default: kq_run(LB_KQ_Q6_K, w, xc, xs, sums, k, r0, r1, t0, t1, y, ldy); break;
    }
    free(sums);
    return 0;
}

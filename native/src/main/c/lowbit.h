/*
 * lowbit native kernels: every exported function.
 *
 * Each kernel exists once per CPU tier, with the tier as a suffix: lowbit_<name>_generic, _avx2, _avx512.
 * A source file defines its functions through LB_FN(name), which pastes the tier that build.sh passes as
 * -DLB_TIER; LB_ALL_TIERS declares the three names at once. lowbit_caps() says which tiers the CPU runs.
 *
 * The Java side (dev.lowbit.bindings.nativelib) checks every length, offset and format parameter before a call:
 * these functions trust their arguments. Pointers need no alignment. Formats are those of docs/formats.md.
 */
#ifndef LOWBIT_H
#define LOWBIT_H

#include <stdint.h>

#define LOWBIT_ABI_VERSION 1

#define LB_CAT3_(a, b, c) a##b##_##c
#define LB_CAT3(a, b, c) LB_CAT3_(a, b, c)
#define LB_FN(name) LB_CAT3(lowbit_, name, LB_TIER)

#define LB_ALL_TIERS(ret, name, params) \
    ret lowbit_##name##_generic params; \
    ret lowbit_##name##_avx2 params;    \
    ret lowbit_##name##_avx512 params;

/* 0 = generic, 1 = avx2 (AVX2, FMA, F16C, BMI2 and YMM state), 2 = avx512 (F, BW, VL, DQ, VNNI and ZMM state). */
int lowbit_caps(void);

/* LOWBIT_ABI_VERSION; the Java side refuses a library with another one. */
int lowbit_abi_version(void);

/* --- quant --- */
/*
 * Quantize: rows x cols fp32 values at src + src_off (row stride cols) into rows x rowBytes(cols) bytes at dst,
 * exactly as dev.lowbit.kernels.ScalarQuantKernels does (codes, stored scales, zero points, padding bits).
 * Every quantize returns 0 when all rows were written; r + 1 when row r holds a NaN or an infinity (found
 * through the group statistics); -(r + 1) when a group of row r needs a scale (or Q4_1 minimum) that the
 * scale type cannot store. Either way rows before r are complete and later ones untouched.
 */

/* ggml Q8_0 / Q4_0 / Q4_1 blocks of 32 (34 / 18 / 20 bytes); a partial last block has zero padding codes. */
LB_ALL_TIERS(int64_t, quantize_q8_0, (const float *src, int64_t src_off, int64_t rows, int32_t cols, uint8_t *dst))
LB_ALL_TIERS(int64_t, quantize_q4_0, (const float *src, int64_t src_off, int64_t rows, int32_t cols, uint8_t *dst))
LB_ALL_TIERS(int64_t, quantize_q4_1, (const float *src, int64_t src_off, int64_t rows, int32_t cols, uint8_t *dst))

/*
 * Grouped integer planes: bits in {2, 3, 4, 8}; group_len 32, 64, 128, or cols for one group per row (cols > 0);
 * symmetric 1 or 0; scale_f16 1 for fp16 scales, 0 for fp32. scales (and zeros, asymmetric only, else NULL)
 * receive rows x groupsPerRow floats: the values of the stored scales and zero points, not their encoding.
 */
LB_ALL_TIERS(int64_t, quantize_grouped, (const float *src, int64_t src_off, int64_t rows, int32_t cols,
                                         int32_t bits, int32_t group_len, int32_t symmetric, int32_t scale_f16,
                                         uint8_t *dst, float *scales, float *zeros))

/*
 * 4-bit codebook: index = number of the 15 midpoints below x / d, with d = absmax / reach rounded to the scale
 * type (never widened). scales receives rows x groupsPerRow floats as above.
 */
LB_ALL_TIERS(int64_t, quantize_codebook4, (const float *src, int64_t src_off, int64_t rows, int32_t cols,
                                           int32_t group_len, int32_t scale_f16, const float *midpoints, float reach,
                                           uint8_t *dst, float *scales))

/*
 * Dequantize rows [row0, row0 + rows) of a tensor with cols columns into dst + dst_off (row stride cols).
 * data is the tensor's whole code plane (row r starts at r x rowBytes(cols)); scales and zeros its whole
 * planes in their stored encoding (fp16 or fp32). Values are computed as Reference.value does, no FMA.
 */
LB_ALL_TIERS(void, dequantize_q8_0, (const uint8_t *data, int64_t row0, int64_t rows, int32_t cols,
                                     float *dst, int64_t dst_off))
LB_ALL_TIERS(void, dequantize_q4_0, (const uint8_t *data, int64_t row0, int64_t rows, int32_t cols,
                                     float *dst, int64_t dst_off))
LB_ALL_TIERS(void, dequantize_q4_1, (const uint8_t *data, int64_t row0, int64_t rows, int32_t cols,
                                     float *dst, int64_t dst_off))
/* zeros is NULL for symmetric formats (implicit zero point 2^(bits-1)). */
LB_ALL_TIERS(void, dequantize_grouped, (const uint8_t *data, const void *scales, const void *zeros, int64_t row0,
                                        int64_t rows, int32_t cols, int32_t bits, int32_t group_len,
                                        int32_t symmetric, int32_t scale_f16, float *dst, int64_t dst_off))
/* levels: the 16 fp32 levels. */
LB_ALL_TIERS(void, dequantize_codebook4, (const uint8_t *data, const void *scales, const float *levels, int64_t row0,
                                          int64_t rows, int32_t cols, int32_t group_len, int32_t scale_f16,
                                          float *dst, int64_t dst_off))

/*
 * Minimum, maximum and absolute maximum of each group of group_len (> 0) elements of src[off, off + len), the last
 * group possibly shorter, written at min/max/absmax[out_off + g]; NaN and signed zeros as Java's Math.min/max.
 */
LB_ALL_TIERS(void, group_stats, (const float *src, int64_t off, int64_t len, int64_t group_len,
                                 float *min, float *max, float *absmax, int64_t out_off))

/* Index of the first NaN or infinity in src[off, off + len), relative to off, or -1. */
LB_ALL_TIERS(int64_t, first_non_finite, (const float *src, int64_t off, int64_t len))
/*
 * ggml blocks Q5_0, Q5_1, IQ4_NL and Q2_K ... Q6_K, Q8_K (kind: the ggml_type id, 6, 7, 20, 10 ... 15; cols a
 * multiple of the block length, 32 or 256): ggml_quantize_chunk's bytes without an importance matrix (Q8_K:
 * quantize_row_q8_K_ref's, with zero sums for a block of zeros) and to_float's floats, on every tier
 * (quant_kq.h). quantize_kq returns as the quantizers above; a block whose fp16 scale or minimum would overflow
 * is refused (-(r + 1)). dequantize_kq takes the row range as dequantize_q8_0 does.
 */
LB_ALL_TIERS(int64_t, quantize_kq, (int32_t kind, const float *src, int64_t src_off, int64_t rows, int32_t cols,
                                    uint8_t *dst))
LB_ALL_TIERS(void, dequantize_kq, (int32_t kind, const uint8_t *data, int64_t row0, int64_t rows, int32_t cols,
                                   float *dst, int64_t dst_off))
/* --- end quant --- */

/* --- matmul --- */
/*
 * Integer path of MatmulKernels.gemmInt8 for ggml weights times int8 activations: Q8_0 (W8A8) and
 * Q4_0 (W4A8). Arguments:
 *   w       weight rows of nb blocks each: row r at w + r * nb * 34 (Q8_0) or r * nb * 18 (Q4_0);
 *           rows [r0, r1) are read.
 *   xc      activation codes: token t at xc + t * nb * 32, k padded to nb * 32 with zero codes;
 *           tokens [t0, t1) are read.
 *   xs      activation scales: block b of token t at xs[t * xs_tok + b * xs_blk] (xs_blk 1: one
 *           scale per block of 32, Q8_0 activations; xs_blk 0: one scale per token).
 *   y       y[t * ldy + r] for r in [r0, r1) and t in [t0, t1); nothing else is written.
 * Each y element is sum over blocks b, in order, of (d_w * d_x) * isum, isum the block's exact int32
 * sum of w_j * x_j (Q4_0: w_j = nibble - 8), one fp32 rounding per operation and no fused
 * multiply-add: ScalarMatmulKernels' order, so every tier gives the Java reference's bits.
 * Requires 0 <= r0 <= r1, 0 <= t0 <= t1, nb >= 0, ldy >= r1, xs and y 4-byte aligned.
 */
#define LB_GEMM_I8_PARAMS (const uint8_t *w, const int8_t *xc, const float *xs, int32_t nb, int32_t xs_tok, \
                           int32_t xs_blk, int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy)
LB_ALL_TIERS(void, gemm_q8_0_i8, LB_GEMM_I8_PARAMS)
LB_ALL_TIERS(void, gemm_q4_0_i8, LB_GEMM_I8_PARAMS)

/*
 * Weight-only path of MatmulKernels.gemmF32 for Q8_0 and Q4_0 weights times fp32 activations:
 *   w       weight rows of ceil(k / 32) blocks (row r at w + r * ceil(k / 32) * 34, or * 18);
 *   x       token t's k activations at x + t * k (no padding: a partial last block reads only k);
 *   y       y[t * ldy + r] = sum_c W[r][c] * x[t][c] for r in [r0, r1), t in [t0, t1).
 * generic: the scalar reference's order and bits. avx2 / avx512: per whole block, products in 8 / 16
 * lanes with FMA, times the block's scale by FMA, lanes added first to last once per row and token,
 * a partial last block in the reference's order: within the bound of reordering, and the same bits
 * whatever the ranges. Requires 0 <= r0 <= r1, 0 <= t0 <= t1, k >= 0, ldy >= r1, x and y 4-byte aligned.
 */
#define LB_GEMM_F32_PARAMS (const uint8_t *w, const float *x, int32_t k, int32_t r0, int32_t r1, int32_t t0, \
                            int32_t t1, float *y, int64_t ldy)
LB_ALL_TIERS(void, gemm_q8_0_f32, LB_GEMM_F32_PARAMS)
LB_ALL_TIERS(void, gemm_q4_0_f32, LB_GEMM_F32_PARAMS)
/*
 * Integer path for the row-interleaved layouts q8_0x8 and q4_0x8 (docs/formats.md, matmul_x8_impl.h):
 * the same arguments and the same result as gemm_q8_0_i8 / gemm_q4_0_i8 on the plain rows, bit for bit,
 * with w holding groups of 8 rows: group g's nb superblocks of 272 (Q8_0x8) or 144 (Q4_0x8) bytes at
 * w + g * nb * 272 (or 144). Requires r0 a multiple of 8 and the groups up to ceil(r1 / 8) present;
 * rows past r1 in the last group are read but not written.
 */
LB_ALL_TIERS(void, gemm_q8_0x8_i8, LB_GEMM_I8_PARAMS)
LB_ALL_TIERS(void, gemm_q4_0x8_i8, LB_GEMM_I8_PARAMS)
/*
 * Weight-only path for the interleaved layouts: gemm_q8_0_f32 / gemm_q4_0_f32's arguments and result, bit for bit
 * at the same tier, with w interleaved as above and r0 a multiple of 8. Each group of 8 rows is unpacked into a
 * buffer of 8 plain rows (malloc'd per call) first. Returns 0, or -1 with nothing written when that buffer cannot
 * be allocated.
 */
LB_ALL_TIERS(int32_t, gemm_q8_0x8_f32, LB_GEMM_F32_PARAMS)
LB_ALL_TIERS(int32_t, gemm_q4_0x8_f32, LB_GEMM_F32_PARAMS)
/*
 * Integer path for i8_rowx16 (dev.lowbit.format.Int8RowTensor, docs/formats.md): symmetric int8 weights with one
 * fp32 scale per row, rows in groups of 16 (group g at w + g * (128 + ceil(k / 4) * 64): 16 fp32 scales, 16 int32
 * code sums, then chunk c's 4 codes of row i at 128 + 64c + 4i), times int8 activations with one scale per token:
 *   xc      token t's codes at xc + t * pk (pk >= 4 * ceil(k / 4); the codes past k are read, not used);
 *   xs      token t's scale at xs[t * xs_tok];
 *   y       y[t * ldy + r] = (d_w[r] * d_x[t]) * (float) isum for r in [r0, r1), t in [t0, t1), isum the
 *           exact int32 sum over all k columns of w * x, two fp32 roundings, no fused multiply-add.
 * Every tier gives these bits. The avx512 tier adds 128 to the activations (vpdpbusd takes them unsigned) and
 * takes 128 times the row's code sum back off. Requires k <= 65536, r0 a multiple of 16, the groups up to
 * ceil(r1 / 16) present. Returns 0, or -1 with nothing written when its activation buffer cannot be allocated.
 */
#define LB_GEMM_I8ROW_PARAMS (const uint8_t *w, const int8_t *xc, const float *xs, int32_t k, int32_t pk, \
                              int32_t xs_tok, int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy)
LB_ALL_TIERS(int32_t, gemm_i8_rowx16_i8, LB_GEMM_I8ROW_PARAMS)
/* --- end matmul --- */

/* --- matmul, grouped formats --- */
/*
 * Q4_1 (ggml blocks of 20 bytes: fp16 d, fp16 m, 16 bytes of nibbles as Q4_0's), grouped integer planes and
 * 4-bit codebooks: the other formats of MatmulKernels.gemmInt8 / gemmF32, with the ranges and conventions of
 * the section above. Grouped weights are given by their planes, as dequantize_grouped takes them: w the whole
 * code plane (row r at r * ceil(k * bits / 8)), scales and zeros (NULL when symmetric) in their stored
 * encoding (scale_f16 1: fp16, 0: fp32), group_len 32, 64, 128, or k for one group per row (k > 0).
 *
 * Integer path (Q4_1: as gemm_q4_0_i8; grouped: bits 4 or 8, activations as there, nb = ceil(k / 32)): per
 * block the exact int32 sums isum = sum w_j x_j and xsum = sum x_j, then the reference's fp32 step in its
 * order (matmul_planes.h): every tier gives ScalarMatmulKernels' bits. The activations' padding codes are 0.
 *
 * Weight-only path (Q4_1: as gemm_q4_0_f32; grouped: bits 2, 3, 4 or 8; levels non-NULL: a 4-bit codebook
 * with those 16 fp32 levels, bits 4, zeros NULL): generic in the reference's order (its bits); avx2 / avx512
 * per group s = sum v x in 8 / 16 lanes with FMA, acc = acc + d * s by FMA, lanes added first to last once
 * per row and token: within the bound of reordering and the same bits whatever the ranges.
 */
LB_ALL_TIERS(void, gemm_q4_1_i8, LB_GEMM_I8_PARAMS)
LB_ALL_TIERS(void, gemm_q4_1_f32, LB_GEMM_F32_PARAMS)
LB_ALL_TIERS(void, gemm_grouped_i8, (const uint8_t *w, const void *scales, const void *zeros, int32_t k,
                                     int32_t bits, int32_t group_len, int32_t symmetric, int32_t scale_f16,
                                     const int8_t *xc, const float *xs, int32_t xs_tok, int32_t xs_blk, int32_t r0,
                                     int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy))
LB_ALL_TIERS(void, gemm_grouped_f32, (const uint8_t *w, const void *scales, const void *zeros, const float *levels,
                                      int32_t k, int32_t bits, int32_t group_len, int32_t symmetric,
                                      int32_t scale_f16, const float *x, int32_t r0, int32_t r1, int32_t t0,
                                      int32_t t1, float *y, int64_t ldy))
/* --- end matmul, grouped formats --- */

/* --- matmul, ggml blocks beyond Q8_0, Q4_0 and Q4_1 --- */
/*
 * Integer path of MatmulKernels.gemmInt8 for the ggml blocks of matmul_kq.h: kind LB_KQ_Q5_0, LB_KQ_Q5_1,
 * LB_KQ_IQ4_NL (blocks of 32, Q8_0 activations: one scale per block of 32, xs[t * (k / 32) + b]) or LB_KQ_Q2_K ..
 * LB_KQ_Q6_K (super-blocks of 256, Q8_K activations: one scale per super-block, xs[t * (k / 256) + b]).
 *   w   weight rows, row r at w + r * (k / block) * blockBytes; rows [r0, r1) are read.
 *   xc  activation codes, token t at xc + t * k; tokens [t0, t1) are read.
 *   y   y[t * ldy + r] for r in [r0, r1), t in [t0, t1); nothing else is written.
 * Per row and token, blocks (super-blocks) in order: the exact int32 sums of ScalarMatmulKernels, then its fp32
 * step, one rounding per operation and no fused multiply-add: every tier gives the Java reference's bits.
 * Requires k a multiple of the block (256 for the K-quants, 32 otherwise), 0 <= r0 <= r1, 0 <= t0 <= t1,
 * ldy >= r1, xs and y 4-byte aligned. Returns 0, or -1 with nothing written when the per-call buffer of
 * activation sums cannot be allocated.
 */
#define LB_KQ_Q5_0 0
#define LB_KQ_Q5_1 1
#define LB_KQ_IQ4_NL 2
#define LB_KQ_Q2_K 3
#define LB_KQ_Q3_K 4
#define LB_KQ_Q4_K 5
#define LB_KQ_Q5_K 6
#define LB_KQ_Q6_K 7
LB_ALL_TIERS(int32_t, gemm_blocks_i8, (int32_t kind, const uint8_t *w, const int8_t *xc, const float *xs, int32_t k,
                                       int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y, int64_t ldy))
/* --- end matmul, ggml blocks beyond Q8_0, Q4_0 and Q4_1 --- */

#endif

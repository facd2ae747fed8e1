/*
 * Shared by matmul_generic.c, matmul_avx2.c and matmul_avx512.c: the fp16 scale of a ggml block,
 * and the fp32 step that every tier does the same way.
 *
 * The fp32 part fixes the result. For one row r and token t, blocks are visited in order and
 *     acc = acc + (d_w * d_x) * (float) isum
 * with isum the block's exact int32 sum, one rounding per operation and no fused multiply-add
 * (the build passes -ffp-contract=off). That is ScalarMatmulKernels' order, so every tier gives
 * the Java reference's bits, and an element of y never depends on which other rows or tokens the
 * same call computes.
 */
#ifndef LOWBIT_MATMUL_COMMON_H
#define LOWBIT_MATMUL_COMMON_H

#include <stdint.h>
#include <string.h>

/* ggml block sizes in bytes: fp16 scale, then 32 int8 codes or 16 bytes of nibbles. */
#define MM_Q8_0_BYTES 34
#define MM_Q4_0_BYTES 18

static inline uint16_t mm_f16_bits(const uint8_t *p) {
    return (uint16_t) (p[0] | (p[1] << 8));
}

/* Exact fp16 -> fp32, subnormals and infinities included, as Java's Float.float16ToFloat. */
static inline float mm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t) (h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else {
        float sub = (float) man * 0x1p-24f; /* man < 2^10: exact */
        memcpy(&bits, &sub, sizeof bits);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/*
 * The weight-only path's sum over the first n (<= 32) elements of one Q8_0 or Q4_0 block, in the
 * scalar reference's order: s = s + v * x element by element.
 */
static inline float mm_block_f32(const int q4, const uint8_t *blk, const float *x, int32_t n) {
    float s = 0.0f;
    for (int32_t j = 0; j < n; j++) {
        int v = q4 ? ((j < 16 ? blk[2 + j] & 15 : blk[2 + j - 16] >> 4) - 8) : (int8_t) blk[2 + j];
        s = s + (float) v * x[j];
    }
    return s;
}

/*
 * The lanes of an fp32 accumulator added first to last, one rounding per addition: the fixed order in
 * which the SIMD tiers finish a weight-only sum, whatever the rows and tokens around it.
 */
#if defined(__AVX2__)
#include <immintrin.h>
static inline float mm_lanes8_in_order(__m256 v) {
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    float sum = 0.0f;
    for (int i = 0; i < 8; i++) {
        sum = sum + lanes[i];
    }
    return sum;
}
#endif
#if defined(__AVX512F__)
static inline float mm_lanes16_in_order(__m512 v) {
    float lanes[16];
    _mm512_storeu_ps(lanes, v);
    float sum = 0.0f;
    for (int i = 0; i < 16; i++) {
        sum = sum + lanes[i];
    }
    return sum;
}
#endif

#endif

// W4A16: grouped int4 weights times fp16 or bf16 activations, fp32 accumulation, on tensor cores
// (mma.sync.m16n8k16, sm_80 and later). y[t * ldy + r] = sum_g d[g][r] * sum_{c in g} (q[r][c] - z[g][r]) * x[t][c].
//
// Weights come reshuffled (Marlin-style, W4A16Weights on the host): for each tile of 16 rows x 16 columns, lane L
// of a warp holds in one 32-bit word exactly the eight codes of its mma A fragment, nibble i*4 + s for register
// s (s = 0..3) and half i, and four consecutive column tiles lie together so that each lane loads 16 bytes:
// word ((rowTile * (K / 64) + kt / 4) * 32 + L) * 4 + kt % 4.
// A code becomes fp16/bf16 without a conversion instruction: lop3 puts the nibble into the low mantissa bits of
// 1024.0 (fp16, 0x6400) or 128.0 (bf16, 0x4300), and one fused multiply-add by 1 subtracts 1024 + z (128 + z),
// which is exact. Each warp of a block takes a slice of K; the block adds the slices in a fixed order.
// scales and zeros are fp32, [group][rows]. Needs rows % 16 == 0, K % 64 == 0, group length a multiple of 16.
#include "lowbit_common.cuh"

#define LB_W4_WARPS 8

template <bool BF16>
__device__ __forceinline__ u32 lb_nibbles_to_half2(u32 w, int s, u32 negMagicZero) {
    u32 shifted = w >> (4 * s);
    const u32 magic = BF16 ? 0x43004300u : 0x64006400u;
    u32 h;
    asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(h) : "r"(shifted), "r"(0x000F000Fu), "r"(magic));
    u32 r;
    if (BF16) {
        asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(r) : "r"(h), "r"(0x3F803F80u), "r"(negMagicZero));
    } else {
        asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(r) : "r"(h), "r"(0x3C003C00u), "r"(negMagicZero));
    }
    return r;
}

// -(magic + z) in both halves.
template <bool BF16>
__device__ __forceinline__ u32 lb_neg_magic_zero(float z) {
    u16 h;
    if (BF16) {
        asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(-(128.0f + z)));
    } else {
        asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(-(1024.0f + z)));
    }
    return (u32) h | ((u32) h << 16);
}

template <bool BF16>
__device__ __forceinline__ void lb_mma(float* c, u32 a0, u32 a1, u32 a2, u32 a3, u32 b0, u32 b1) {
    if (BF16) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                     "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    } else {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                     "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
}

template <bool BF16, int NT>
__device__ __forceinline__ void lb_w4a16(const uint4* __restrict__ qweight, const float* __restrict__ scales,
                                         const float* __restrict__ zeros, int rows, int K, int groupLen,
                                         const u16* __restrict__ x, int n, float* __restrict__ y, int ldy) {
    __shared__ float red[LB_W4_WARPS][16][8 * NT];
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    int g = lane >> 2;
    int q = lane & 3;
    int rt = blockIdx.x;
    int tokBase = blockIdx.y * 8 * NT;
    int r0 = rt * 16 + g;
    int r1 = r0 + 8;
    int chunks = K / 64;
    int per = (chunks + LB_W4_WARPS - 1) / LB_W4_WARPS;
    int chBegin = warp * per;
    int chEnd = min(chunks, chBegin + per);

    float acc[NT][4];
    float part[NT][4];
#pragma unroll
    for (int j = 0; j < NT; j++) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            acc[j][i] = 0.0f;
            part[j][i] = 0.0f;
        }
    }
    const u32* xrow[NT];
    bool live[NT];
#pragma unroll
    for (int j = 0; j < NT; j++) {
        int tok = tokBase + j * 8 + g;
        live[j] = tok < n;
        xrow[j] = (const u32*) (x + (long long) (live[j] ? tok : 0) * K);
    }
    int curGroup = -1;
    float d0 = 0.0f;
    float d1 = 0.0f;
    u32 nz0 = 0;
    u32 nz1 = 0;
    const uint4* wp = qweight + (long long) rt * chunks * 32 + lane;
    uint4 cur = make_uint4(0, 0, 0, 0);
    if (chBegin < chEnd) {
        cur = __ldg(wp + (long long) chBegin * 32);
    }
    for (int ch = chBegin; ch < chEnd; ch++) {
        uint4 next = cur;
        if (ch + 1 < chEnd) {
            next = __ldg(wp + (long long) (ch + 1) * 32);
        }
        u32 words[4] = {cur.x, cur.y, cur.z, cur.w};
#pragma unroll
        for (int s4 = 0; s4 < 4; s4++) {
            int k0 = (ch * 4 + s4) * 16;
            int group = k0 / groupLen;
            if (group != curGroup) {
                if (curGroup >= 0) {
#pragma unroll
                    for (int j = 0; j < NT; j++) {
                        acc[j][0] += d0 * part[j][0];
                        acc[j][1] += d0 * part[j][1];
                        acc[j][2] += d1 * part[j][2];
                        acc[j][3] += d1 * part[j][3];
#pragma unroll
                        for (int i = 0; i < 4; i++) {
                            part[j][i] = 0.0f;
                        }
                    }
                }
                curGroup = group;
                long long at = (long long) group * rows;
                d0 = __ldg(scales + at + r0);
                d1 = __ldg(scales + at + r1);
                nz0 = lb_neg_magic_zero<BF16>(__ldg(zeros + at + r0));
                nz1 = lb_neg_magic_zero<BF16>(__ldg(zeros + at + r1));
            }
            u32 w = words[s4];
            u32 a0 = lb_nibbles_to_half2<BF16>(w, 0, nz0);
            u32 a1 = lb_nibbles_to_half2<BF16>(w, 1, nz1);
            u32 a2 = lb_nibbles_to_half2<BF16>(w, 2, nz0);
            u32 a3 = lb_nibbles_to_half2<BF16>(w, 3, nz1);
#pragma unroll
            for (int j = 0; j < NT; j++) {
                u32 b0 = 0;
                u32 b1 = 0;
                if (live[j]) {
                    b0 = __ldg(xrow[j] + k0 / 2 + q);
                    b1 = __ldg(xrow[j] + k0 / 2 + q + 4);
                }
                lb_mma<BF16>(part[j], a0, a1, a2, a3, b0, b1);
            }
        }
        cur = next;
    }
    if (curGroup >= 0) {
#pragma unroll
        for (int j = 0; j < NT; j++) {
            acc[j][0] += d0 * part[j][0];
            acc[j][1] += d0 * part[j][1];
            acc[j][2] += d1 * part[j][2];
            acc[j][3] += d1 * part[j][3];
        }
    }
    // C fragment: c0, c1 are row g, tokens 2q and 2q + 1 of the tile; c2, c3 the same tokens of row g + 8.
#pragma unroll
    for (int j = 0; j < NT; j++) {
        red[warp][g][j * 8 + 2 * q] = acc[j][0];
        red[warp][g][j * 8 + 2 * q + 1] = acc[j][1];
        red[warp][g + 8][j * 8 + 2 * q] = acc[j][2];
        red[warp][g + 8][j * 8 + 2 * q + 1] = acc[j][3];
    }
    __syncthreads();
    for (int i = threadIdx.x; i < 16 * 8 * NT; i += blockDim.x) {
        int row = i % 16;
        int tk = i / 16;
        float s = 0.0f;
#pragma unroll
        for (int w = 0; w < LB_W4_WARPS; w++) {
            s += red[w][row][tk];
        }
        int tok = tokBase + tk;
        if (tok < n) {
            y[(long long) tok * ldy + rt * 16 + row] = s;
        }
    }
}

#define LB_W4A16_ENTRY(NAME, BF16, NT)                                                                         \
    extern "C" __global__ void __launch_bounds__(LB_W4_WARPS * 32)                                             \
    NAME(const uint4* __restrict__ qweight, const float* __restrict__ scales, const float* __restrict__ zeros,  \
         int rows, int K, int groupLen, const u16* __restrict__ x, int n, float* __restrict__ y, int ldy) {    \
        lb_w4a16<BF16, NT>(qweight, scales, zeros, rows, K, groupLen, x, n, y, ldy);                          \
    }

LB_W4A16_ENTRY(lb_w4a16_f16_t8, false, 1)
LB_W4A16_ENTRY(lb_w4a16_f16_t16, false, 2)
LB_W4A16_ENTRY(lb_w4a16_f16_t32, false, 4)
LB_W4A16_ENTRY(lb_w4a16_bf16_t8, true, 1)
LB_W4A16_ENTRY(lb_w4a16_bf16_t16, true, 2)
LB_W4A16_ENTRY(lb_w4a16_bf16_t32, true, 4)

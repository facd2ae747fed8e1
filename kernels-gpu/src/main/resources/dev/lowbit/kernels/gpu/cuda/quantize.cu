// Quantization of fp32 rows into every lowbit format, bit for bit what the scalar reference writes
// (docs/formats.md, "How lowbit quantizes"). Two paths:
//   lb_quantize_groups   one warp per group of at most 128 elements (ggml blocks, groups of 32/64/128);
//   lb_row_params + lb_quantize_row_encode   whole-row groups: a block reduces the row, then one thread per
//                                            output byte encodes it.
// status[0] receives the smallest flat index of a NaN or infinity, status[1] the smallest flat group index whose
// scale does not fit its type; both start at ~0 (the host clears them to 0xff bytes).
#include "lowbit_common.cuh"

extern "C" __global__ void lb_quantize_groups(const float* __restrict__ src, int rows, int cols, int groupLen,
                                              int kind, int bits, int symmetric, int f16,
                                              const float* __restrict__ codebook, // 16 levels, 15 midpoints, reach
                                              u8* __restrict__ data, u8* __restrict__ scales,
                                              u8* __restrict__ zeros, u64* __restrict__ status) {
    __shared__ u8 codesAll[8][128];
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    int gpr = (cols + groupLen - 1) / groupLen;
    long long group = (long long) blockIdx.x * (blockDim.x >> 5) + warp;
    if (group >= (long long) rows * gpr) {
        return;
    }
    int row = (int) (group / gpr);
    int g = (int) (group % gpr);
    int start = g * groupLen;
    int len = min(groupLen, cols - start);
    const float* x = src + (long long) row * cols + start;
    u8* codes = codesAll[warp];

    float v[4];
    float mn = __int_as_float(0x7f800000);
    float mx = -mn;
    bool finite = true;
    long long firstBad = -1;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int e = lane + 32 * i;
        v[i] = 0.0f;
        if (e < len) {
            v[i] = x[e];
            if (!lb_finite(v[i])) {
                finite = false;
                long long at = (long long) row * cols + start + e;
                if (firstBad < 0 || at < firstBad) {
                    firstBad = at;
                }
            } else {
                mn = lb_jmin(mn, v[i]);
                mx = lb_jmax(mx, v[i]);
            }
        }
    }
    if (!finite) {
        atomicMin(&status[0], (u64) firstBad);
    }
    if (!__all_sync(0xffffffffu, finite)) {
        return;
    }
    bool ggml = kind == LB_Q8_0 || kind == LB_Q4_0 || kind == LB_Q4_1;
    bool bad = false;
    LbParams p = {};
    LbGgml gp = {};
    if (ggml) { // the launch's kind is the same for every lane
        gp = lb_ggml_params(kind, x, len, &bad);
    } else {
        lb_warp_minmax(&mn, &mx, 32);
        p = lb_params(kind, bits, symmetric != 0, f16 != 0, codebook[31], mn, mx, &bad);
    }
    if (bad) {
        if (lane == 0) {
            atomicMin(&status[1], (u64) group);
        }
        return;
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int e = lane + 32 * i;
        if (e < groupLen) {
            codes[e] = e >= len ? 0 : ggml ? lb_ggml_code(kind, gp, v[i]) : (u8) lb_code(kind, p, codebook + 16, v[i]);
        }
    }
    __syncwarp();
    if (ggml) {
        int blockBytes = kind == LB_Q8_0 ? 34 : (kind == LB_Q4_0 ? 18 : 20);
        int header = kind == LB_Q4_1 ? 4 : 2;
        u8* out = data + (long long) row * gpr * blockBytes + (long long) g * blockBytes;
        if (lane == 0) {
            u16 d = lb_f2h(gp.d);
            out[0] = (u8) d;
            out[1] = (u8) (d >> 8);
            if (kind == LB_Q4_1) {
                u16 m = lb_f2h(gp.sub);
                out[2] = (u8) m;
                out[3] = (u8) (m >> 8);
            }
        }
        for (int j = lane; j < blockBytes - header; j += 32) {
            out[header + j] = lb_group_byte(kind, bits, codes, len, j);
        }
    } else {
        long long rowBytes = ((long long) cols * bits + 7) / 8;
        long long groupByte = (long long) start * bits / 8;
        int nbytes = (int) (((long long) (start + len) * bits + 7) / 8 - groupByte);
        u8* out = data + (long long) row * rowBytes + groupByte;
        for (int j = lane; j < nbytes; j += 32) {
            out[j] = lb_group_byte(kind, bits, codes, len, j);
        }
        if (lane == 0) {
            lb_store_param(scales, group, f16 != 0, p.d);
            if (kind == LB_GROUPED && !symmetric) {
                lb_store_param(zeros, group, f16 != 0, p.zero);
            }
        }
    }
}

// Fast path for whole groups of 32, 64 or 128 (ggml blocks included) when cols is a multiple of the group length:
// groupLen / 4 lanes per group, four consecutive elements per lane (one 16-byte load), so that the reductions and
// the parameter rule are shared by four elements. Lanes of a group combine their codes by shuffles where a stored
// byte holds codes of two lanes (the two halves of a Q4 block, 3-bit fields).
extern "C" __global__ void lb_quantize_groups_vec4(const float* __restrict__ src, int rows, int cols, int groupLen,
                                                   int kind, int bits, int symmetric, int f16,
                                                   const float* __restrict__ codebook, u8* __restrict__ data,
                                                   u8* __restrict__ scales, u8* __restrict__ zeros,
                                                   u64* __restrict__ status) {
    const unsigned full = 0xffffffffu;
    int lanesPerGroup = groupLen >> 2;
    int sub = threadIdx.x & (lanesPerGroup - 1);
    int gpr = cols / groupLen;
    long long group = ((long long) blockIdx.x * blockDim.x + threadIdx.x) / lanesPerGroup;
    bool active = group < (long long) rows * gpr;
    long long g = active ? group : 0;
    int row = (int) (g / gpr);
    int gi = (int) (g % gpr);
    long long first = (long long) row * cols + (long long) gi * groupLen + 4 * sub;
    float4 v4 = active ? __ldg((const float4*) (src + first)) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    float v[4] = {v4.x, v4.y, v4.z, v4.w};
    bool finite = true;
    float mn = __int_as_float(0x7f800000);
    float mx = -mn;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        if (!lb_finite(v[i])) {
            if (finite && active) {
                atomicMin(&status[0], (u64) (first + i));
            }
            finite = false;
        } else {
            mn = lb_jmin(mn, v[i]);
            mx = lb_jmax(mx, v[i]);
        }
    }
    if (!__all_sync(full, finite)) {
        return;
    }
    if (!active) {
        mn = __int_as_float(0x7f800000);
        mx = -mn;
    }
    bool ggml = kind == LB_Q8_0 || kind == LB_Q4_0 || kind == LB_Q4_1;
    bool bad = false;
    LbParams p = {};
    LbGgml gp = {};
    if (ggml) { // the launch's kind is the same for every lane; a lane past the end reads its own zeros
        float own[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        gp = lb_ggml_params(kind, active ? src + first - 4 * sub : own, active ? groupLen : 4, &bad);
    } else {
        lb_warp_minmax(&mn, &mx, lanesPerGroup);
        p = lb_params(kind, bits, symmetric != 0, f16 != 0, codebook[31], mn, mx, &bad);
    }
    bool write = active && !bad;
    if (active && bad && sub == 0) {
        atomicMin(&status[1], (u64) group);
    }
    u32 c[4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        c[i] = bad ? 0u : ggml ? (u32) lb_ggml_code(kind, gp, v[i]) : (u32) lb_code(kind, p, codebook + 16, v[i]);
    }
    if (ggml) {
        int blockBytes = kind == LB_Q8_0 ? 34 : (kind == LB_Q4_0 ? 18 : 20);
        u8* out = data + g * blockBytes;
        // Codes 16..31 of a Q4 block sit in the high nibbles of bytes 0..15: lane sub + 4 holds them.
        u32 mine = (c[0] & 15) | ((c[1] & 15) << 8) | ((c[2] & 15) << 16) | ((c[3] & 15) << 24);
        u32 high = __shfl_down_sync(full, mine, 4);
        if (!write) {
            return;
        }
        if (sub == 0) {
            u16 d = lb_f2h(gp.d);
            out[0] = (u8) d;
            out[1] = (u8) (d >> 8);
            if (kind == LB_Q4_1) {
                u16 m = lb_f2h(gp.sub);
                out[2] = (u8) m;
                out[3] = (u8) (m >> 8);
            }
        }
        if (kind == LB_Q8_0) {
#pragma unroll
            for (int i = 0; i < 4; i++) {
                out[2 + 4 * sub + i] = (u8) c[i];
            }
        } else if (sub < 4) {
            int header = kind == LB_Q4_1 ? 4 : 2;
#pragma unroll
            for (int i = 0; i < 4; i++) {
                out[header + 4 * sub + i] = (u8) ((c[i] & 15) | (((high >> (8 * i)) & 15) << 4));
            }
        }
        return;
    }
    long long rowBytes = (long long) cols * bits / 8;
    u8* out = data + (long long) row * rowBytes + (long long) gi * groupLen * bits / 8;
    // 3-bit: two lanes' twelve bits make three bytes, written by the even lane.
    u32 twelve = c[0] | (c[1] << 3) | (c[2] << 6) | (c[3] << 9);
    u32 partner = __shfl_down_sync(full, twelve, 1);
    if (!write) {
        return;
    }
    switch (bits) {
    case 8:
        *(u32*) (out + 4 * sub) = c[0] | (c[1] << 8) | (c[2] << 16) | (c[3] << 24);
        break;
    case 4:
        *(u16*) (out + 2 * sub) = (u16) (c[0] | (c[1] << 4) | (c[2] << 8) | (c[3] << 12));
        break;
    case 2:
        out[sub] = (u8) (c[0] | (c[1] << 2) | (c[2] << 4) | (c[3] << 6));
        break;
    default:
        if ((sub & 1) == 0) {
            u32 both = twelve | (partner << 12);
            u8* o = out + (sub >> 1) * 3;
            o[0] = (u8) both;
            o[1] = (u8) (both >> 8);
            o[2] = (u8) (both >> 16);
        }
        break;
    }
    if (sub == 0) {
        lb_store_param(scales, group, f16 != 0, p.d);
        if (kind == LB_GROUPED && !symmetric) {
            lb_store_param(zeros, group, f16 != 0, p.zero);
        }
    }
}

// Whole-row groups of at most LB_ROW_MAX elements in one pass: a block of 1024 threads holds its row in registers
// (LB_ROW_PER elements each), reduces it, computes the row's parameters once, puts the codes in shared memory and
// writes the packed bytes, so the row is read once.
#define LB_ROW_THREADS 1024
#define LB_ROW_PER 16
#define LB_ROW_MAX (LB_ROW_THREADS * LB_ROW_PER)

extern "C" __global__ void __launch_bounds__(LB_ROW_THREADS)
lb_quantize_rows_fused(const float* __restrict__ src, int rows, int cols, int kind, int bits, int symmetric, int f16,
                       const float* __restrict__ codebook, u8* __restrict__ data, u8* __restrict__ scales,
                       u8* __restrict__ zeros, u64* __restrict__ status) {
    __shared__ u8 codes[LB_ROW_MAX];
    __shared__ float sparams[4];
    int row = blockIdx.x;
    int tid = threadIdx.x;
    const float* x = src + (long long) row * cols;
    float v[LB_ROW_PER];
    float mn = __int_as_float(0x7f800000);
    float mx = -mn;
    int nonFinite = 0;
#pragma unroll
    for (int i = 0; i < LB_ROW_PER; i++) {
        int c = tid + i * LB_ROW_THREADS;
        v[i] = c < cols ? x[c] : 0.0f;
        if (c < cols) {
            if (!lb_finite(v[i])) {
                if (!nonFinite) {
                    atomicMin(&status[0], (u64) ((long long) row * cols + c));
                }
                nonFinite = 1;
            } else {
                mn = lb_jmin(mn, v[i]);
                mx = lb_jmax(mx, v[i]);
            }
        }
    }
    lb_block_minmax_any(&mn, &mx, &nonFinite);
    if (tid == 0) {
        float nan = __int_as_float(0x7fc00000);
        sparams[0] = nan;
        if (!nonFinite) {
            bool bad = false;
            LbParams p = lb_params(kind, bits, symmetric != 0, f16 != 0, codebook[31], mn, mx, &bad);
            if (bad) {
                atomicMin(&status[1], (u64) row);
            } else {
                lb_store_param(scales, row, f16 != 0, p.d);
                if (kind == LB_GROUPED && !symmetric) {
                    lb_store_param(zeros, row, f16 != 0, p.zero);
                }
                sparams[0] = p.d;
                sparams[1] = p.sub;
                sparams[2] = p.add;
                sparams[3] = p.zero;
            }
        }
    }
    __syncthreads();
    if (sparams[0] != sparams[0]) {
        return;
    }
    LbParams p;
    p.d = sparams[0];
    p.sub = sparams[1];
    p.add = sparams[2];
    p.zero = sparams[3];
    p.lo = 0;
    p.hi = (1 << bits) - 1;
#pragma unroll
    for (int i = 0; i < LB_ROW_PER; i++) {
        int c = tid + i * LB_ROW_THREADS;
        if (c < cols) {
            codes[c] = (u8) lb_code(kind, p, codebook + 16, v[i]);
        }
    }
    __syncthreads();
    long long rowBytes = ((long long) cols * bits + 7) / 8;
    u8* out = data + (long long) row * rowBytes;
    for (int j = tid; j < rowBytes; j += LB_ROW_THREADS) {
        out[j] = lb_group_byte(kind, bits, codes, cols, j);
    }
}

// Whole-row groups, step 1: one block per row reduces min and max and writes the row's parameters, both to the
// planes and, as {d, sub, add, zero}, to params for the encoding step (d = NaN marks a row left unwritten).
extern "C" __global__ void lb_row_params(const float* __restrict__ src, int rows, int cols,
                                         int kind, int bits, int symmetric, int f16,
                                         const float* __restrict__ codebook, u8* __restrict__ scales,
                                         u8* __restrict__ zeros, float4* __restrict__ params,
                                         u64* __restrict__ status) {
    int row = blockIdx.x;
    const float* x = src + (long long) row * cols;
    float mn = __int_as_float(0x7f800000);
    float mx = -mn;
    int nonFinite = 0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = x[c];
        if (!lb_finite(v)) {
            if (!nonFinite) {
                atomicMin(&status[0], (u64) ((long long) row * cols + c));
            }
            nonFinite = 1;
        } else {
            mn = lb_jmin(mn, v);
            mx = lb_jmax(mx, v);
        }
    }
    lb_block_minmax_any(&mn, &mx, &nonFinite);
    if (threadIdx.x != 0) {
        return;
    }
    float nan = __int_as_float(0x7fc00000);
    if (nonFinite) {
        params[row] = make_float4(nan, 0.0f, 0.0f, 0.0f);
        return;
    }
    bool bad = false;
    LbParams p = lb_params(kind, bits, symmetric != 0, f16 != 0, codebook[31], mn, mx, &bad);
    if (bad) {
        atomicMin(&status[1], (u64) row);
        params[row] = make_float4(nan, 0.0f, 0.0f, 0.0f);
        return;
    }
    lb_store_param(scales, row, f16 != 0, p.d);
    if (kind == LB_GROUPED && !symmetric) {
        lb_store_param(zeros, row, f16 != 0, p.zero);
    }
    params[row] = make_float4(p.d, p.sub, p.add, p.zero);
}

// Whole-row groups, step 2: one thread per byte of the code plane recomputes the codes that the byte holds.
extern "C" __global__ void lb_quantize_row_encode(const float* __restrict__ src, int rows, int cols,
                                                  int kind, int bits, const float* __restrict__ codebook,
                                                  const float4* __restrict__ params, u8* __restrict__ data) {
    long long rowBytes = ((long long) cols * bits + 7) / 8;
    long long at = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (at >= rowBytes * rows) {
        return;
    }
    int row = (int) (at / rowBytes);
    int j = (int) (at % rowBytes);
    float4 q = params[row];
    if (q.x != q.x) {
        return;
    }
    LbParams p;
    p.d = q.x;
    p.sub = q.y;
    p.add = q.z;
    p.zero = q.w;
    p.lo = 0;
    p.hi = (1 << bits) - 1;
    const float* x = src + (long long) row * cols;
    int first = (8 * j) / bits;
    int last = (8 * j + 7) / bits;
    u32 acc = 0;
    for (int i = first; i <= last && i < cols; i++) {
        u32 c = (u32) lb_code(kind, p, codebook + 16, x[i]);
        acc |= c << (i * bits - 8 * j + 8);
    }
    data[at] = (u8) (acc >> 8);
}

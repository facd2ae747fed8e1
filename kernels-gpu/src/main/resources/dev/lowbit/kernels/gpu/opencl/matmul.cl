// GEMV family (after common.cl). One work-group of LANES work-items per (row, token): lane l takes blocks of 32
// columns l, l + LANES, ... and sums each block in column order as the scalar reference does; the lanes' sums
// are then added in a tree, so the result is within the reordering bound of ScalarMatmulKernels' order.
// Rows are relative to the uploaded slice; row_ptr holds the slice's rows + 1 absolute CSR offsets.

#define LANES 32

// Adds the lanes' partial sums in a tree; lane 0 gets the total.
float lane_sum(float acc, __local float *part) {
    int lid = (int) get_local_id(0);
    part[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = LANES / 2; s > 0; s >>= 1) {
        if (lid < s) {
            part[lid] += part[lid + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return part[0];
}

// The multiplier of the scale for the fp32 path (ScalarMatmulKernels.value): code minus zero point, or the level.
float weight_value(int kind, int q, float z, __global const float *levels) {
    if (kind == KIND_Q8_0) return (float) q;
    if (kind == KIND_Q4_0) return (float) (q - 8);
    if (kind == KIND_GROUPED) return (float) q - z;
    return levels[q];
}

// Weight-only path: y[t * rows + r] = sum_c W[r][c] * x[t * k + c], outliers added last in column order.
__kernel void gemv_f32(__global const uchar *data, __global const uchar *scales, __global const uchar *zeros,
                       __global const float *levels, int rows, int k, int kind, int bits, int gl, int sym, int f32,
                       __global const int *row_ptr, __global const int *col_idx, __global const float *values,
                       __global const float *x, __global float *y, __local float *part) {
    int lid = (int) get_local_id(0);
    size_t grp = get_group_id(0);
    int r = (int) (grp % (size_t) rows);
    int t = (int) (grp / (size_t) rows);
    int gpr = (k + gl - 1) / gl;
    ulong rowBase = (ulong) r * row_bytes(kind, bits, k);
    __global const float *xt = x + (size_t) t * (size_t) k;
    float acc = 0.0f;
    for (int b = lid; b * 32 < k; b += LANES) {
        int c0 = b * 32;
        int c1 = min(k, c0 + 32);
        int g = c0 / gl;
        float d = load_scale(data, scales, rowBase, r, g, gpr, kind, f32);
        float z = load_zero(data, zeros, rowBase, r, g, gpr, kind, bits, sym, f32);
        if (kind == KIND_Q4_1) {
            float sq = 0.0f;
            float sx = 0.0f;
            for (int c = c0; c < c1; c++) {
                sq += (float) load_code(data, rowBase, kind, bits, c) * xt[c];
                sx += xt[c];
            }
            acc += d * sq + z * sx;
        } else {
            float s = 0.0f;
            for (int c = c0; c < c1; c++) {
                s += weight_value(kind, load_code(data, rowBase, kind, bits, c), z, levels) * xt[c];
            }
            acc += d * s;
        }
    }
    float total = lane_sum(acc, part);
    if (lid == 0) {
        for (int e = row_ptr[r]; e < row_ptr[r + 1]; e++) {
            total += values[e] * xt[col_idx[e]];
        }
        y[(size_t) t * (size_t) rows + (size_t) r] = total;
    }
}

// The signed weight code the integer path multiplies (WeightRows.codes): q for Q8_0 and Q4_1, q - 8 for Q4_0,
// u - 2^(b-1) for symmetric grouped, u - off for asymmetric grouped (off = 128 for 8 bits, else 0).
int int_code(int kind, int bits, int sym, int off, int q) {
    if (kind == KIND_Q4_0) return q - 8;
    if (kind == KIND_GROUPED) return sym ? q - (1 << (bits - 1)) : q - off;
    return q;
}

// The exact int32 sums of one block of 32 columns: sum_j w_j * x_j and sum_j x_j (padding codes are 0).
int2 block_sums(__global const uchar *data, ulong rowBase, int kind, int bits, int sym, int off, int k, int c0,
                       __global const char *xc) {
    int isum = 0;
    int xsum = 0;
    for (int j = 0; j < 32; j++) {
        int c = c0 + j;
        int w = c < k ? int_code(kind, bits, sym, off, load_code(data, rowBase, kind, bits, c)) : 0;
        int xv = (int) xc[c];
        isum += w * xv;
        xsum += xv;
    }
    return (int2) (isum, xsum);
}

// Integer path: int8 (or int4) weight codes times int8 activation codes (paddedK per token), exact int32 sums per
// block, then scaled in fp32 as ScalarMatmulKernels.gemmInt8 does. xs holds spt scales per token (spt == 1: one per
// token). Outliers times their dequantized activation are added last in column order.
__kernel void gemv_int8(__global const uchar *data, __global const uchar *scales, __global const uchar *zeros,
                        int rows, int k, int kind, int bits, int gl, int sym, int f32, int off,
                        __global const int *row_ptr, __global const int *col_idx, __global const float *values,
                        __global const char *xcodes, __global const float *xs, int spt, __global float *y,
                        __local float *part) {
    int lid = (int) get_local_id(0);
    size_t grp = get_group_id(0);
    int r = (int) (grp % (size_t) rows);
    int t = (int) (grp / (size_t) rows);
    int gpr = (k + gl - 1) / gl;
    int pk = (k + 31) & ~31;
    ulong rowBase = (ulong) r * row_bytes(kind, bits, k);
    __global const char *xc = xcodes + (size_t) t * (size_t) pk;
    int centered = kind == KIND_Q8_0 || kind == KIND_Q4_0 || (kind == KIND_GROUPED && sym);
    float acc = 0.0f;
    for (int b = lid; b * 32 < k; b += LANES) {
        int g = b * 32 / gl;
        int2 s = block_sums(data, rowBase, kind, bits, sym, off, k, b * 32, xc);
        float dw = load_scale(data, scales, rowBase, r, g, gpr, kind, f32);
        float dx = xs[(size_t) t * (size_t) spt + (size_t) (spt == 1 ? 0 : b)];
        if (centered) {
            acc += (dw * dx) * (float) s.x;
        } else if (kind == KIND_Q4_1) {
            float m = load_zero(data, zeros, rowBase, r, g, gpr, kind, bits, sym, f32);
            acc += dx * (dw * (float) s.x + m * (float) s.y);
        } else {
            float z = load_zero(data, zeros, rowBase, r, g, gpr, kind, bits, sym, f32);
            acc += (dw * dx) * ((float) s.x - (z - (float) off) * (float) s.y);
        }
    }
    float total = lane_sum(acc, part);
    if (lid == 0) {
        for (int e = row_ptr[r]; e < row_ptr[r + 1]; e++) {
            int c = col_idx[e];
            total += values[e] * ((float) xc[c] * xs[(size_t) t * (size_t) spt + (size_t) (spt == 1 ? 0 : c / 32)]);
        }
        y[(size_t) t * (size_t) rows + (size_t) r] = total;
    }
}

// The int32 block sums alone, one work-item per (token, row, block): out[((t * rows) + r) * nb + b] = (isum, xsum).
// The GEMV above uses the same block_sums; tests compare these with sums recomputed on the host, bit for bit.
__kernel void int8_block_sums(__global const uchar *data, int rows, int k, int kind, int bits, int sym, int off,
                              __global const char *xcodes, int n, __global int2 *out) {
    int nb = (k + 31) / 32;
    size_t id = get_global_id(0);
    if (id >= (size_t) n * (size_t) rows * (size_t) nb) {
        return;
    }
    int b = (int) (id % (size_t) nb);
    int r = (int) ((id / (size_t) nb) % (size_t) rows);
    int t = (int) (id / ((size_t) nb * (size_t) rows));
    int pk = (k + 31) & ~31;
    ulong rowBase = (ulong) r * row_bytes(kind, bits, k);
    out[id] = block_sums(data, rowBase, kind, bits, sym, off, k, b * 32, xcodes + (size_t) t * (size_t) pk);
}

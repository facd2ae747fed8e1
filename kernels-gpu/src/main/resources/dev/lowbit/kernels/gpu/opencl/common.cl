// lowbit OpenCL kernels: shared definitions (OpenCL C 1.2). See docs/formats.md for the layouts and
// kernels-java's ScalarQuantKernels / ScalarMatmulKernels for the arithmetic these kernels reproduce.
// Helpers are plain functions, not `inline`: C99's bare inline emits no definition, which a compiler that
// declines to inline cannot link.

// The reference never fuses a multiply and an add (Q4_1's q * d + m is a product, then a sum).
#pragma OPENCL FP_CONTRACT OFF

#define KIND_Q8_0 0
#define KIND_Q4_0 1
#define KIND_Q4_1 2
#define KIND_GROUPED 3
#define KIND_CODEBOOK4 4

// fp16 <-> fp32 with integer operations only, so that the result does not depend on the device's half support.
// Exact for every fp16 value; the narrowing rounds to nearest, ties to even, as Java's Float.floatToFloat16.
float f16_to_f32(uint h) {
    uint s = (h & 0x8000u) << 16;
    uint e = (h >> 10) & 0x1fu;
    uint m = h & 0x3ffu;
    if (e == 0u) {
        return as_float(as_uint((float) m * 0x1p-24f) | s); // subnormal or zero: m * 2^-24, exact
    }
    if (e == 31u) {
        return as_float(s | 0x7f800000u | (m << 13));
    }
    return as_float(s | ((e + 112u) << 23) | (m << 13));
}

uint f32_to_f16(float f) {
    uint x = as_uint(f);
    uint sign = (x >> 16) & 0x8000u;
    uint ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {
        return sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0u);
    }
    if (ax >= 0x477ff000u) { // 65520 and above round to infinity
        return sign | 0x7c00u;
    }
    if (ax >= 0x38800000u) { // fp16 normal range: drop 13 mantissa bits
        uint h = (((ax >> 23) - 112u) << 10) | ((ax >> 13) & 0x3ffu);
        uint rem = ax & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0u)) {
            h++; // a carry into the exponent is the right result
        }
        return sign | h;
    }
    uint e = ax >> 23;
    if (e < 102u) { // below 2^-25: rounds to zero
        return sign;
    }
    uint m = (ax & 0x7fffffu) | 0x800000u;
    uint shift = 126u - e; // 14 .. 24: the value in units of 2^-24 is m >> shift
    uint h = m >> shift;
    uint rem = m & ((1u << shift) - 1u);
    uint halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (h & 1u) != 0u)) {
        h++;
    }
    return sign | h;
}

// Java's Math.min / Math.max: NaN propagates and -0.0 is below +0.0.
float jmin(float a, float b) {
    if (isnan(a)) return a;
    if (isnan(b)) return b;
    if (a == b) return as_float(as_uint(a) | as_uint(b));
    return a < b ? a : b;
}

float jmax(float a, float b) {
    if (isnan(a)) return a;
    if (isnan(b)) return b;
    if (a == b) return as_float(as_uint(a) & as_uint(b));
    return a > b ? a : b;
}

int block_bytes(int kind) {
    return kind == KIND_Q8_0 ? 34 : kind == KIND_Q4_0 ? 18 : 20;
}

int is_ggml(int kind) {
    return kind <= KIND_Q4_1;
}

// Bytes of the data plane per row (QuantFormat.rowBytes).
ulong row_bytes(int kind, int bits, int cols) {
    if (is_ggml(kind)) {
        return (ulong) ((cols + 31) / 32) * (ulong) block_bytes(kind);
    }
    return ((ulong) cols * (ulong) bits + 7ul) / 8ul;
}

uint load_u16(__global const uchar *p, ulong at) {
    return (uint) p[at] | ((uint) p[at + 1] << 8);
}

float load_f32(__global const uchar *p, ulong at) {
    return as_float((uint) p[at] | ((uint) p[at + 1] << 8) | ((uint) p[at + 2] << 16) | ((uint) p[at + 3] << 24));
}

// A per-group parameter (scale or zero point) of a plane format, stored as fp16 or fp32.
float load_param(__global const uchar *plane, ulong index, int f32) {
    return f32 ? load_f32(plane, index * 4ul) : f16_to_f32(load_u16(plane, index * 2ul));
}

// The stored code of element c of the row at byte rowBase (Reference.code): a signed int8 for Q8_0, a nibble for
// Q4_0 and Q4_1 (element j < 16 in the low nibble of byte j, j + 16 in its high nibble), else a bits-wide field.
int load_code(__global const uchar *data, ulong rowBase, int kind, int bits, int c) {
    if (is_ggml(kind)) {
        ulong block = rowBase + (ulong) (c / 32) * (ulong) block_bytes(kind);
        int j = c % 32;
        if (kind == KIND_Q8_0) {
            return (int) (char) data[block + 2 + j];
        }
        uint b = data[block + (kind == KIND_Q4_0 ? 2 : 4) + (j & 15)];
        return (int) (j < 16 ? b & 15u : b >> 4);
    }
    ulong bit = (ulong) c * (ulong) bits;
    ulong at = rowBase + (bit >> 3);
    uint shift = (uint) (bit & 7ul);
    uint v = data[at];
    if (shift + (uint) bits > 8u) {
        v |= (uint) data[at + 1] << 8;
    }
    return (int) ((v >> shift) & ((1u << bits) - 1u));
}

// Scale of group g of row r (Reference.scale): from the block header (ggml) or the scales plane.
float load_scale(__global const uchar *data, __global const uchar *scales, ulong rowBase, int r, int g, int gpr,
                        int kind, int f32) {
    if (is_ggml(kind)) {
        return f16_to_f32(load_u16(data, rowBase + (ulong) g * (ulong) block_bytes(kind)));
    }
    return load_param(scales, (ulong) r * (ulong) gpr + (ulong) g, f32);
}

// Zero point of group g of row r (Reference.zero): the Q4_1 minimum, the grouped zero point, or 0.
float load_zero(__global const uchar *data, __global const uchar *zeros, ulong rowBase, int r, int g, int gpr,
                       int kind, int bits, int sym, int f32) {
    if (kind == KIND_Q4_1) {
        return f16_to_f32(load_u16(data, rowBase + (ulong) g * 20ul + 2ul));
    }
    if (kind == KIND_GROUPED) {
        return sym ? (float) (1 << (bits - 1)) : load_param(zeros, (ulong) r * (ulong) gpr + (ulong) g, f32);
    }
    return 0.0f;
}

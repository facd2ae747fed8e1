// Quantize, dequantize and group statistics (after common.cl). Built with -cl-fp32-correctly-rounded-divide-sqrt:
// every division here must round as Java's does, or codes and scales would differ from the reference on ties.
// The parameter rules are GroupParams' in kernels-java, step for step, and ggml's blocks GgmlBlocks'.

#define STATUS_NON_FINITE 1
#define STATUS_SCALE_RANGE 2
#define MIN_NORMAL_F16 0x1p-14f

float round_to(float v, int f32) {
    return f32 ? v : f16_to_f32(f32_to_f16(v));
}

// ScaleType.nextAway: the next storable magnitude away from zero, sign kept.
float next_away(float v, int f32) {
    if (f32) {
        return copysign(as_float(as_uint(fabs(v)) + 1u), v);
    }
    return f16_to_f32((f32_to_f16(v) + 1u) & 0xffffu);
}

// GroupParams.storable; returns non-zero when no storable scale exists.
int storable(float d, float extent, int f32, float *out) {
    if (!isfinite(d)) {
        return 1;
    }
    float r = round_to(d, f32);
    if (r == 0.0f && extent > 0.0f) {
        r = next_away(copysign(0.0f, d), f32);
    }
    if (!isfinite(r)) {
        return 1;
    }
    *out = r;
    return 0;
}

// GroupParams.widen: only subnormal scales can leave the extreme element more than half a step out.
int widen(float d, float extent, int limit, int f32, float *out) {
    float r;
    if (storable(d, extent, f32, &r)) {
        return 1;
    }
    if (fabs(r) >= (f32 ? FLT_MIN : MIN_NORMAL_F16)) {
        *out = r;
        return 0;
    }
    while (extent > 0.0f && extent / fabs(r) > (float) limit + 0.5f) {
        r = next_away(r, f32);
    }
    *out = r;
    return 0;
}

// GroupParams.widenStrict: asymmetric ranges must fit in limit steps.
int widen_strict(float d, float extent, int limit, int f32, float *out) {
    float r;
    if (storable(d, extent, f32, &r)) {
        return 1;
    }
    while (extent > 0.0f && extent / fabs(r) > (float) limit) {
        r = next_away(r, f32);
    }
    *out = r;
    return 0;
}

// GroupParams.uniform of a grouped format: p = {scale, sub, add, stored zero}; non-zero when the scale type cannot
// hold the group.
int uniform_params(int kind, int bits, int sym, int f32, float mn, float mx, float absmax, float *p) {
    float d;
    p[1] = 0.0f;
    p[2] = 0.0f;
    p[3] = 0.0f;
    if (sym) {
        int mid = 1 << (bits - 1);
        if (widen(absmax / (float) (mid - 1), absmax, mid - 1, f32, &d)) return 1;
        p[2] = (float) mid;
        p[3] = (float) mid;
    } else {
        int qmax = (1 << bits) - 1;
        float lo = jmin(mn, 0.0f);
        float hi = jmax(mx, 0.0f);
        float range = hi - lo;
        if (widen_strict(range / (float) qmax, range, qmax, f32, &d)) return 1;
        float z = d == 0.0f ? 0.0f : rint(-lo / d) + 0.0f; // + 0 turns -0 into +0
        p[2] = z;
        p[3] = z;
    }
    p[0] = d;
    return 0;
}

// The code of x: clamp(rint((x - sub) / d) + add, lo, hi), or the codebook index (midpoints below x / d).
int code_of(float x, int kind, float d, float sub, float add, float lo, float hi, __global const float *mid) {
    if (kind == KIND_CODEBOOK4) {
        float v = d == 0.0f ? 0.0f : x / d;
        int idx = 0;
        for (int i = 0; i < 15; i++) {
            idx += mid[i] < v ? 1 : 0;
        }
        return idx;
    }
    float q = d == 0.0f ? add : rint((x - sub) / d) + add;
    return (int) fmin(fmax(q, lo), hi);
}

// x86's truncation (cvttss2si, what ggml's casts compile to), with INT_MIN for a NaN or beyond the int range.
int trunc_x86(float t) {
    return t > -2147483648.0f && t < 2147483648.0f ? (int) t : INT_MIN;
}

// A ggml block by ggml's rules (GgmlBlocks in kernels-java): d in fp32, codes by id = 1/d, d (and Q4_1's minimum)
// rounded to fp16 only to be stored. Q8_0: roundf(x * id), half away from zero; Q4: min(15, trunc((x - sub) * id +
// add)). Returns the status.
int ggml_block(__global const float *x, int len, int kind, __global uchar *data, ulong o, __global float *scale,
               __global float *zero) {
    float d;
    float sub = 0.0f;
    float add = 0.0f;
    if (kind == KIND_Q8_0) {
        float amax = 0.0f;
        for (int i = 0; i < len; i++) {
            amax = fmax(amax, fabs(x[i]));
        }
        d = amax / 127.0f;
    } else if (kind == KIND_Q4_0) {
        float amax = 0.0f;
        float m = 0.0f;
        for (int i = 0; i < len; i++) {
            if (amax < fabs(x[i])) { // the first element of largest magnitude
                amax = fabs(x[i]);
                m = x[i];
            }
        }
        d = m / -8.0f;
        add = 8.5f;
    } else {
        float lo = FLT_MAX;
        float hi = -FLT_MAX;
        for (int i = 0; i < len; i++) {
            lo = x[i] < lo ? x[i] : lo;
            hi = x[i] > hi ? x[i] : hi;
        }
        if (!isfinite(round_to(lo, 0))) {
            return STATUS_SCALE_RANGE;
        }
        d = (hi - lo) / 15.0f;
        sub = lo;
        add = 0.5f;
    }
    if (!isfinite(round_to(d, 0))) {
        return STATUS_SCALE_RANGE;
    }
    float inv = d != 0.0f ? 1.0f / d : 0.0f;
    *scale = d;
    *zero = sub;
    uint h = f32_to_f16(d);
    data[o] = (uchar) h;
    data[o + 1] = (uchar) (h >> 8);
    if (kind == KIND_Q8_0) {
        for (int j = 0; j < 32; j++) {
            float t = j < len ? x[j] * inv : 0.0f;
            data[o + 2 + j] = (uchar) trunc_x86(t + (t < 0.0f ? -0.49999997f : 0.49999997f));
        }
        return 0;
    }
    if (kind == KIND_Q4_1) {
        uint m = f32_to_f16(sub);
        data[o + 2] = (uchar) m;
        data[o + 3] = (uchar) (m >> 8);
    }
    ulong q = o + (kind == KIND_Q4_0 ? 2 : 4);
    for (int j = 0; j < 16; j++) {
        uint a = j < len ? (uint) (min(15, trunc_x86((x[j] - sub) * inv + add)) & 15) : 0u;
        uint b = j + 16 < len ? (uint) (min(15, trunc_x86((x[j + 16] - sub) * inv + add)) & 15) : 0u;
        data[q + j] = (uchar) (a | (b << 4));
    }
    return 0;
}

// One work-item per group of `rows` rows of `cols` values: statistics, parameters, codes, packed bytes.
// scales/zeros receive each group's stored scale and zero point as fp32; status each group's failure (0 when
// none), which the host hands to the scalar reference so that errors are the reference's.
__kernel void quantize(__global const float *src, int rows, int cols, int kind, int bits, int gl, int sym, int f32,
                       __global const float *mid, float reach, __global uchar *data, __global float *scales,
                       __global float *zeros, __global int *status) {
    int gpr = (cols + gl - 1) / gl;
    size_t id = get_global_id(0);
    if (id >= (size_t) rows * (size_t) gpr) {
        return;
    }
    int r = (int) (id / (size_t) gpr);
    int g = (int) (id % (size_t) gpr);
    int start = g * gl;
    int end = min(cols, start + gl);
    __global const float *x = src + (size_t) r * (size_t) cols;
    float mn = INFINITY;
    float mx = -INFINITY;
    for (int i = start; i < end; i++) {
        mn = jmin(mn, x[i]);
        mx = jmax(mx, x[i]);
    }
    status[id] = 0;
    if (!isfinite(mn) || !isfinite(mx)) {
        status[id] = STATUS_NON_FINITE;
        return;
    }
    ulong rowBase = (ulong) r * row_bytes(kind, bits, cols);
    if (is_ggml(kind)) {
        status[id] = ggml_block(x + start, end - start, kind, data, rowBase + (ulong) g * (ulong) block_bytes(kind),
                                scales + id, zeros + id);
        return;
    }
    float absmax = jmax(fabs(mn), fabs(mx));
    float p[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (kind == KIND_CODEBOOK4) {
        if (storable(absmax / reach, absmax, f32, &p[0])) {
            status[id] = STATUS_SCALE_RANGE;
            return;
        }
    } else if (uniform_params(kind, bits, sym, f32, mn, mx, absmax, p)) {
        status[id] = STATUS_SCALE_RANGE;
        return;
    }
    float d = p[0];
    scales[id] = d;
    zeros[id] = p[3];
    float lo = 0.0f;
    float hi = (float) ((1 << bits) - 1);
    // A group of 32, 64 or 128 codes starts on a byte boundary for every width, so its bytes are its own.
    ulong o = rowBase + (ulong) start * (ulong) bits / 8ul;
    uint acc = 0u;
    int filled = 0;
    for (int i = start; i < end; i++) {
        acc |= (uint) code_of(x[i], kind, d, p[1], p[2], lo, hi, mid) << filled;
        filled += bits;
        while (filled >= 8) {
            data[o++] = (uchar) acc;
            acc >>= 8;
            filled -= 8;
        }
    }
    if (filled > 0) {
        data[o] = (uchar) acc;
    }
}

// One work-item per element of `rows` rows: Reference.value of its code (outliers are the host's).
__kernel void dequantize(__global const uchar *data, __global const uchar *scales, __global const uchar *zeros,
                         __global const float *levels, int rows, int cols, int kind, int bits, int gl, int sym, int f32,
                         __global float *dst) {
    size_t id = get_global_id(0);
    if (id >= (size_t) rows * (size_t) cols) {
        return;
    }
    int r = (int) (id / (size_t) cols);
    int c = (int) (id % (size_t) cols);
    int g = c / gl;
    int gpr = (cols + gl - 1) / gl;
    ulong rowBase = (ulong) r * row_bytes(kind, bits, cols);
    int q = load_code(data, rowBase, kind, bits, c);
    float d = load_scale(data, scales, rowBase, r, g, gpr, kind, f32);
    float z = load_zero(data, zeros, rowBase, r, g, gpr, kind, bits, sym, f32);
    float v;
    if (kind == KIND_Q8_0) {
        v = (float) q * d;
    } else if (kind == KIND_Q4_0) {
        v = (float) (q - 8) * d;
    } else if (kind == KIND_Q4_1) {
        v = (float) q * d + z;
    } else if (kind == KIND_GROUPED) {
        v = ((float) q - z) * d;
    } else {
        v = levels[q] * d;
    }
    dst[id] = v;
}

// One work-item per group of len values: minimum, maximum, absolute maximum, Java's min/max semantics.
__kernel void group_stats(__global const float *src, int len, int gl, __global float *mn, __global float *mx,
                          __global float *absmax) {
    int groups = (len + gl - 1) / gl;
    int g = (int) get_global_id(0);
    if (g >= groups) {
        return;
    }
    float lo = INFINITY;
    float hi = -INFINITY;
    for (int i = g * gl; i < min(len, g * gl + gl); i++) {
        lo = jmin(lo, src[i]);
        hi = jmax(hi, src[i]);
    }
    mn[g] = lo;
    mx[g] = hi;
    absmax[g] = jmax(fabs(lo), fabs(hi));
}

// first[0] starts at len and ends at the smallest index of a NaN or infinity, if any.
__kernel void first_non_finite(__global const float *src, int len, __global int *first) {
    int i = (int) get_global_id(0);
    if (i < len && !isfinite(src[i])) {
        atomic_min(first, i);
    }
}

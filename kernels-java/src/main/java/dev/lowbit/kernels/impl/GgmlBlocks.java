package dev.lowbit.kernels.impl;

import dev.lowbit.format.QuantFormat;

/**
 * ggml's block rules, which lowbit's Q8_0, Q4_0 and Q4_1 follow so that every implementation writes the bytes
 * ggml's {@code ggml_quantize_chunk} writes (its reference quantizers, {@code quantize_row_q8_0_ref},
 * {@code _q4_0_ref} and {@code _q4_1_ref}): the scale {@code d} is found in fp32, every code is computed with
 * {@code id = 1/d} (0 when {@code d} is 0) and the fp32 {@code d}, and only then are {@code d} (and Q4_1's minimum)
 * rounded to fp16 for storage, to nearest even.
 * <ul>
 *   <li>Q8_0: {@code d = absmax/127}, {@code q = roundf(x·id)}, C's {@code roundf}: half away from zero.</li>
 *   <li>Q4_0: {@code m} is the first element of largest magnitude (0 for a block of zeros), {@code d = m/−8},
 *       {@code q = min(15, trunc(x·id + 8.5))}. A block of zeros stores {@code d = −0}.</li>
 *   <li>Q4_1: {@code min} and {@code max} by strict comparisons in element order (a zero minimum keeps the sign
 *       of the block's first zero), {@code d = (max − min)/15}, {@code q = min(15, trunc((x − min)·id + 0.5))};
 *       the block stores {@code fp16(d)} and {@code fp16(min)}.</li>
 * </ul>
 * The casts are x86's ({@link #truncate}). ggml defines whole blocks of 32; a row's partial last block (lowbit allows any row length) takes the same rules
 * over its elements, its missing codes stored as 0. A block whose {@code d} or minimum overflows fp16 is refused
 * ({@link GroupParams.ScaleRangeException}) where ggml would store an infinity.
 */
public final class GgmlBlocks {
    /** The float just below 1/2: {@code trunc(t + copySign(HALF_BELOW, t))} is {@code roundf(t)}. */
    public static final float HALF_BELOW = 0.49999997f;

    private GgmlBlocks() {
    }

    /**
     * The parameters of block {@code x[from, from + len)} of a ggml format ({@code len} in 1..32, every element
     * finite), into {@code p} = {d, id, sub, add}: the fp32 scale, its inverse (0 for a zero scale), and the
     * {@code sub} and {@code add} of the Q4 codes (Q4_1's minimum, which is also its stored {@code m}; 8.5 or 0.5).
     *
     * @throws GroupParams.ScaleRangeException if {@code fp16(d)} or Q4_1's {@code fp16(min)} is infinite
     */
    public static void params(QuantFormat.Kind kind, float[] x, int from, int len, float[] p) {
        float d;
        float sub = 0f;
        float add = 0f;
        switch (kind) {
            case Q8_0 -> {
                float amax = 0f;
                for (int i = from; i < from + len; i++) {
                    amax = Math.max(amax, Math.abs(x[i]));
                }
                d = amax / 127f;
            }
            case Q4_0 -> {
                float amax = 0f;
                float m = 0f;
                for (int i = from; i < from + len; i++) {
                    if (amax < Math.abs(x[i])) {
                        amax = Math.abs(x[i]);
                        m = x[i];
                    }
                }
                d = m / -8f;
                add = 8.5f;
            }
            case Q4_1 -> {
                float min = Float.MAX_VALUE;
                float max = -Float.MAX_VALUE;
                for (int i = from; i < from + len; i++) {
                    if (x[i] < min) {
                        min = x[i];
                    }
                    if (x[i] > max) {
                        max = x[i];
                    }
                }
                d = (max - min) / 15f;
                sub = min;
                add = 0.5f;
                if (Float.isInfinite(Float.float16ToFloat(Float.floatToFloat16(min)))) {
                    throw new GroupParams.ScaleRangeException("minimum", min);
                }
            }
            default -> throw new IllegalArgumentException(kind + " is not a ggml block format");
        }
        if (!Float.isFinite(d) || Float.isInfinite(Float.float16ToFloat(Float.floatToFloat16(d)))) {
            throw new GroupParams.ScaleRangeException("scale", d);
        }
        p[0] = d;
        p[1] = d != 0f ? 1f / d : 0f;
        p[2] = sub;
        p[3] = add;
    }

    /** The code of {@code v} with the parameters {@link #params} gave: Q8_0's int8, or Q4's 0..15. */
    public static int code(QuantFormat.Kind kind, float v, float id, float sub, float add) {
        if (kind == QuantFormat.Kind.Q8_0) {
            float t = v * id;
            return (byte) truncate(t + Math.copySign(HALF_BELOW, t));
        }
        return Math.min(15, truncate((v - sub) * id + add)) & 15;
    }

    /**
     * x86's float-to-int truncation ({@code cvttss2si}), which ggml's C casts compile to: toward zero, and
     * {@link Integer#MIN_VALUE} for a NaN or a value beyond the int range. Only a block whose scale is so small that
     * {@code id} overflows to infinity (absmax below about 4e-37) reaches that case; its codes are then 0.
     */
    public static int truncate(float t) {
        return t > -0x1p31f && t < 0x1p31f ? (int) t : Integer.MIN_VALUE;
    }

    /**
     * Codes of block {@code x[from, from + len)} into {@code codes[at, at + len)}; returns the parameters as
     * {@link #params} does.
     */
    static void block(QuantFormat.Kind kind, float[] x, int from, int len, byte[] codes, int at, float[] p) {
        params(kind, x, from, len, p);
        for (int i = 0; i < len; i++) {
            codes[at + i] = (byte) code(kind, x[from + i], p[1], p[2], p[3]);
        }
    }
}

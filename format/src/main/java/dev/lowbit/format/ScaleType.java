package dev.lowbit.format;

/** How a grouped or codebook format stores its per-group scales and zero points. */
public enum ScaleType {
    F16(2),
    F32(4);

    private final int bytes;

    ScaleType(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per stored value. */
    public int bytes() {
        return bytes;
    }

    /** Rounds {@code v} to the nearest value this type can store (ties to even). */
    public float round(float v) {
        return this == F32 ? v : Float.float16ToFloat(Float.floatToFloat16(v));
    }

    /**
     * The smallest storable value strictly greater in magnitude than {@code v}, with the sign of
     * {@code v}; used to widen a scale so that no element lands beyond the largest code.
     */
    public float nextAway(float v) {
        if (this == F32) {
            return Math.copySign(Math.nextUp(Math.abs(v)), v);
        }
        short h = Float.floatToFloat16(v);
        // fp16 magnitudes are ordered like their bit patterns, so one step up the bits is one ulp.
        return Float.float16ToFloat((short) (h + 1));
    }

    /** The largest storable value not above {@code v}. */
    public float roundDown(float v) {
        float r = round(v);
        if (r <= v) {
            return r;
        }
        return this == F32 ? Math.nextDown(v) : Float.float16ToFloat(stepDown16(Float.floatToFloat16(r)));
    }

    private static short stepDown16(short h) {
        if (h == 0) {
            return (short) 0x8001; // +0 -> smallest negative subnormal
        }
        return (short) (h < 0 ? h + 1 : h - 1); // negative: magnitude grows; positive: shrinks
    }
}

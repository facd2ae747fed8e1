package dev.lowbit.models;

import dev.lowbit.format.Layouts;

import java.lang.foreign.MemorySegment;

/**
 * The element types of dense (unquantized) tensors, named as safetensors names them: how many bytes an
 * element takes, and, for the float types lowbit quantizes (F32, F16, BF16), how it becomes fp32. Tensors
 * of the other types (position ids, token-type tables, masks) are read and written back byte for byte but
 * never converted.
 */
public enum DType {
    F64(8),
    F32(4),
    F16(2),
    BF16(2),
    /** 8-bit float, 4 exponent and 3 mantissa bits (OCP FP8 E4M3). */
    F8_E4M3(1),
    /** 8-bit float, 5 exponent and 2 mantissa bits (OCP FP8 E5M2). */
    F8_E5M2(1),
    I64(8),
    I32(4),
    I16(2),
    I8(1),
    U64(8),
    U32(4),
    U16(2),
    U8(1),
    /** One byte per element, 0 or 1. */
    BOOL(1);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }

    /** Whether lowbit converts this type to fp32 and quantizes it: F32, F16 and BF16. */
    public boolean quantizable() {
        return this == F32 || this == F16 || this == BF16;
    }

    /** The type safetensors calls {@code name} (its dtype string, which is also this enum's name), or null. */
    public static DType ofSafetensors(String name) {
        for (DType t : values()) {
            if (t.name().equals(name)) {
                return t;
            }
        }
        return null;
    }

    /** Element {@code i} of little-endian {@code seg} as fp32 (exact); only for {@link #quantizable()} types. */
    float get(MemorySegment seg, long i) {
        return switch (this) {
            case F32 -> seg.getAtIndex(Layouts.F32, i);
            case F16 -> Float.float16ToFloat(seg.getAtIndex(Layouts.F16, i));
            case BF16 -> Float.intBitsToFloat(seg.getAtIndex(Layouts.F16, i) << 16);
            default -> throw new IllegalStateException(this + " does not convert to fp32");
        };
    }
}

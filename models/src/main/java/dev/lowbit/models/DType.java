package dev.lowbit.models;

import dev.lowbit.format.Layouts;

import java.lang.foreign.MemorySegment;

/** The element types of dense (unquantized) tensors: how many bytes an element takes and how it becomes fp32. */
public enum DType {
    F32(4),
    F16(2),
    BF16(2);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }

    /** Element {@code i} of little-endian {@code seg} as fp32 (exact for every type here). */
    float get(MemorySegment seg, long i) {
        return switch (this) {
            case F32 -> seg.getAtIndex(Layouts.F32, i);
            case F16 -> Float.float16ToFloat(seg.getAtIndex(Layouts.F16, i));
            case BF16 -> Float.intBitsToFloat(seg.getAtIndex(Layouts.F16, i) << 16);
        };
    }
}

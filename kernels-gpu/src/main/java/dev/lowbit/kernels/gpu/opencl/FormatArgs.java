package dev.lowbit.kernels.gpu.opencl;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.ScaleType;
import dev.lowbit.bindings.opencl.ClKernel;

/**
 * A format as the kernels take it: {@code kind} (the {@code KIND_*} codes of common.cl), code width, group length for
 * a row of {@code cols}, symmetric, and whether parameters are fp32.
 */
record FormatArgs(int kind, int bits, int groupLength, boolean symmetric, boolean f32) {

    static FormatArgs of(QuantFormat f, int cols) {
        int kind = switch (f.kind()) {
            case Q8_0 -> 0;
            case Q4_0 -> 1;
            case Q4_1 -> 2;
            case GROUPED -> 3;
            case CODEBOOK4 -> 4;
            default -> throw new IllegalArgumentException("the OpenCL kernels take Q8_0, Q4_0, Q4_1, grouped and"
                    + " codebook formats, not " + f);
        };
        return new FormatArgs(kind, f.bits(), f.groupLength(cols), f.symmetric(), f.scaleType() == ScaleType.F32);
    }

    /** Sets kind, bits, group length, symmetric and f32 as five consecutive int arguments from {@code index}. */
    void set(ClKernel k, int index) {
        k.arg(index, kind).arg(index + 1, bits).arg(index + 2, groupLength).arg(index + 3, symmetric ? 1 : 0)
                .arg(index + 4, f32 ? 1 : 0);
    }
}

package dev.lowbit.kernels.impl;

import dev.lowbit.format.Int8RowTensor;
import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.MatmulKernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The rules of {@code PackedWeights.pack}: which layout each implementation has a fast path for, and the repacking
 * of grouped symmetric codes into ggml blocks.
 */
public final class WeightPacking {
    private WeightPacking() {
    }

    /** Native kernels read {@code q8_0x8}/{@code q4_0x8} directly; the others unpack it at every call. */
    public static boolean hasInterleavedKernel(MatmulKernels kernels) {
        return kernels instanceof NativeMatmulKernels;
    }

    /**
     * Native, Vector API and scalar kernels each have a kernel of their own for {@code i8_rowx16}; others (GPU) run
     * the scalar reference on the host. The Vector API's is compared by identity, which needs no Vector API class
     * where it cannot run.
     */
    public static boolean hasInt8RowKernel(MatmulKernels kernels) {
        return kernels instanceof NativeMatmulKernels || kernels == ScalarMatmulKernels.INSTANCE
                || kernels == KernelProvider.vectorMatmul();
    }

    /**
     * Symmetric 8-bit codes with one scale per row and no outliers: the values of {@link Int8RowTensor}, whose
     * kernel sums each row in int32 and scales once (the fastest integer path, on VNNI).
     */
    public static boolean rowScaled(QuantizedTensor t) {
        QuantFormat f = t.format();
        return f.kind() == QuantFormat.Kind.GROUPED && f.bits() == 8 && f.symmetric() && f.groupsPerRow(t.cols()) == 1
                && t.outliers() == null && t.cols() <= Int8RowTensor.MAX_COLS;
    }

    /**
     * The same values as Q8_0 or Q4_0 when {@code t} is grouped, symmetric, 8 or 4 bits, in groups of 32 with fp16
     * scales: those are ggml's blocks with the codes re-based ({@code q - 128} as int8, or the nibble {@code q}
     * itself, since Q4_0 also subtracts 8). Else null.
     */
    public static QuantizedTensor asGgml(QuantizedTensor t, Arena arena) {
        QuantFormat f = t.format();
        if (f.kind() != QuantFormat.Kind.GROUPED || !f.symmetric() || f.groupSize() != 32
                || f.scaleType() != ScaleType.F16 || (f.bits() != 8 && f.bits() != 4) || t.cols() % 32 != 0) {
            return null;
        }
        QuantFormat g = f.bits() == 8 ? QuantFormat.Q8_0 : QuantFormat.Q4_0;
        int rows = t.rows();
        int cols = t.cols();
        int nb = cols / 32;
        MemorySegment out = arena.allocate(g.rowBytes(cols) * rows, 64);
        MemorySegment data = t.data();
        MemorySegment scales = t.scales();
        long rowIn = f.rowBytes(cols);
        for (int r = 0; r < rows; r++) {
            for (int b = 0; b < nb; b++) {
                long o = (long) (r * nb + b) * g.blockBytes();
                out.set(Layouts.F16, o, scales.getAtIndex(Layouts.F16, (long) r * nb + b));
                if (f.bits() == 8) {
                    for (int j = 0; j < 32; j++) {
                        int q = Byte.toUnsignedInt(data.get(Layouts.U8, r * rowIn + b * 32L + j));
                        out.set(Layouts.U8, o + 2 + j, (byte) (q - 128));
                    }
                } else {
                    for (int j = 0; j < 16; j++) {
                        int lo = nibble(data, r * rowIn, b * 32 + j);
                        int hi = nibble(data, r * rowIn, b * 32 + j + 16);
                        out.set(Layouts.U8, o + 2 + j, (byte) (lo | hi << 4));
                    }
                }
            }
        }
        return QuantizedTensor.of(g, rows, cols, out, null, null, null).withOutliers(t.outliers());
    }

    private static int nibble(MemorySegment data, long row, int i) {
        int b = Byte.toUnsignedInt(data.get(Layouts.U8, row + i / 2));
        return (i & 1) == 0 ? b & 15 : b >>> 4;
    }
}

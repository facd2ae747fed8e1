package dev.lowbit.kernels.impl;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.bindings.nativelib.NativeLibrary;
import dev.lowbit.bindings.nativelib.NativeQuant;
import dev.lowbit.kernels.Codebook;
import dev.lowbit.kernels.QuantKernels;

import java.lang.foreign.MemorySegment;

/**
 * The C kernels of {@code liblowbit} (through {@link NativeQuant}) for every format: quantize, dequantize, group
 * statistics and the non-finite search, bit for bit what {@link ScalarQuantKernels} returns. Each call does a
 * whole row. A group whose scale the format cannot store is handed to the scalar reference, which throws the
 * reference's own exception for it.
 */
public final class NativeQuantKernels implements QuantKernels {
    private static final NativeQuantKernels SELECTED =
            NativeQuant.selected() == null ? null : new NativeQuantKernels(NativeQuant.selected());

    private final NativeQuant nq;
    private final String name;

    private NativeQuantKernels(NativeQuant nq) {
        this.nq = nq;
        this.name = "native-" + nq.tier().suffix();
    }

    /**
     * The kernels at {@link NativeLibrary#tier()}, or null when the library is unavailable
     * ({@link NativeLibrary#unavailableReason()} says why).
     *
     * @throws IllegalArgumentException when {@code -Dlowbit.native.tier} asks for a tier this CPU lacks
     */
    public static NativeQuantKernels create() {
        if (!NativeLibrary.available()) {
            return null;
        }
        NativeLibrary.tier(); // throws on a bad -Dlowbit.native.tier
        return SELECTED;
    }

    /** The kernels at {@code tier}, for tests of every tier this CPU runs. */
    public static NativeQuantKernels forTier(NativeLibrary.Tier tier) {
        return new NativeQuantKernels(NativeQuant.forTier(tier));
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int quantizeGgmlRows(QuantFormat f, MemorySegment src, int cols, int r0, int r1, MemorySegment data) {
        if (!f.isGgml() || !f.fitsRow(cols)) {
            return r0;
        }
        long rowBytes = f.rowBytes(cols);
        // Calls of about 2^18 values, so that a critical call holds off the garbage collector briefly.
        int step = Math.max(1, (1 << 18) / Math.max(1, cols));
        for (int a = r0; a < r1; a += step) {
            int b = Math.min(r1, a + step);
            long r = nq.quantize(f, src, (long) a * cols, b - a, cols, data.asSlice(a * rowBytes, (b - a) * rowBytes),
                    MemorySegment.NULL, MemorySegment.NULL, MemorySegment.NULL, 0f);
            if (r != 0) {
                return a + (int) (Math.abs(r) - 1);
            }
        }
        return r1;
    }

    @Override
    public boolean quantizeRow(QuantFormat f, Codebook cb, float[] src, int off, int cols, byte[] rowBytes,
                               float[] scales, float[] zeros) {
        if (cols < 0 || off < 0 || off > src.length - cols) {
            throw new IllegalArgumentException("row [" + off + ", " + off + " + " + cols + ") is outside src of "
                    + src.length);
        }
        boolean planes = !f.isGgml();
        MemorySegment sc = planes ? MemorySegment.ofArray(scales) : MemorySegment.NULL;
        MemorySegment ze = f.hasZeroPlane() ? MemorySegment.ofArray(zeros) : MemorySegment.NULL;
        MemorySegment mid = MemorySegment.NULL;
        float reach = 0f;
        if (f.hasLevels()) {
            mid = MemorySegment.ofArray(cb.midpoints());
            reach = cb.reach();
        }
        long r = nq.quantize(f, MemorySegment.ofArray(src), off, 1, cols, MemorySegment.ofArray(rowBytes), sc, ze, mid,
                reach);
        if (r == 0) {
            return true;
        }
        if (r > 0) {
            return false;
        }
        // A scale out of the type's range: the reference throws the same exception, message and all.
        return ScalarQuantKernels.INSTANCE.quantizeRow(f, cb, src, off, cols, rowBytes, scales, zeros);
    }

    @Override
    public void dequantizeRow(QuantizedTensor t, int row, float[] dst, int off) {
        QuantFormat f = t.format();
        if (row < 0 || row >= t.rows()) {
            throw new IllegalArgumentException("row " + row + " is outside [0, " + t.rows() + ")");
        }
        MemorySegment levels = f.hasLevels() ? MemorySegment.ofArray(t.levels())
                : MemorySegment.NULL;
        nq.dequantize(f, t.data(), orNull(t.scales()), orNull(t.zeros()), levels, row, 1, t.cols(),
                MemorySegment.ofArray(dst), off);
    }

    @Override
    public void groupStats(float[] src, int off, int len, int groupLen, float[] min, float[] max, float[] absmax,
                           int outOff) {
        nq.groupStats(MemorySegment.ofArray(src), off, len, groupLen, MemorySegment.ofArray(min),
                MemorySegment.ofArray(max), MemorySegment.ofArray(absmax), outOff);
    }

    @Override
    public int firstNonFinite(float[] src, int off, int len) {
        return (int) nq.firstNonFinite(MemorySegment.ofArray(src), off, len);
    }

    private static MemorySegment orNull(MemorySegment s) {
        return s == null ? MemorySegment.NULL : s;
    }
}

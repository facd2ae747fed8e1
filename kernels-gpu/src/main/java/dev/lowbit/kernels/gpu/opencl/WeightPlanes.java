package dev.lowbit.kernels.gpu.opencl;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.bindings.opencl.ClBuffer;
import dev.lowbit.bindings.opencl.ClContext;

import java.lang.foreign.MemorySegment;

/**
 * Rows {@code [r0, r1)} of a quantized tensor copied to the device: code plane, scales, zero points, levels, and the
 * outliers' CSR (row pointers of the slice, absolute into the whole column and value planes). A plane the format
 * lacks is a 1-byte placeholder, since kernels take every argument. Closing releases them all.
 */
final class WeightPlanes implements AutoCloseable {
    final ClBuffer data;
    final ClBuffer scales;
    final ClBuffer zeros;
    final ClBuffer levels;
    final ClBuffer rowPtr;
    final ClBuffer colIdx;
    final ClBuffer values;
    final int rows;

    WeightPlanes(ClContext ctx, QuantizedTensor t, int r0, int r1, boolean withOutliers) {
        QuantFormat f = t.format();
        int cols = t.cols();
        rows = r1 - r0;
        long rowBytes = f.rowBytes(cols);
        long params = (long) f.groupsPerRow(cols) * f.scaleType().bytes();
        ClBuffer d = null, s = null, z = null, l = null, rp = null, ci = null, v = null;
        try {
            d = upload(ctx, t.data(), r0 * rowBytes, rows * rowBytes);
            s = upload(ctx, t.scales(), r0 * params, rows * params);
            z = upload(ctx, t.zeros(), r0 * params, rows * params);
            float[] lv = t.levels();
            l = upload(ctx, lv == null ? null : MemorySegment.ofArray(lv), 0, lv == null ? 0 : 64);
            SparseOutliers o = withOutliers ? t.outliers() : null;
            if (o == null) {
                rp = ctx.buffer(4L * (rows + 1)); // all zero: no outliers
                rp.write(0, MemorySegment.ofArray(new int[rows + 1]));
                ci = ctx.buffer(1);
                v = ctx.buffer(1);
            } else {
                rp = upload(ctx, o.rowPtrPlane(), 4L * r0, 4L * (rows + 1));
                ci = upload(ctx, o.colIdxPlane(), 0, o.colIdxPlane().byteSize());
                v = upload(ctx, o.valuesPlane(), 0, o.valuesPlane().byteSize());
            }
        } catch (RuntimeException e) {
            for (ClBuffer b : new ClBuffer[] {d, s, z, l, rp, ci, v}) {
                if (b != null) {
                    b.close();
                }
            }
            throw e;
        }
        data = d;
        scales = s;
        zeros = z;
        levels = l;
        rowPtr = rp;
        colIdx = ci;
        values = v;
    }

    /** A buffer holding {@code bytes} of {@code seg} from {@code offset}, or a 1-byte placeholder when empty. */
    static ClBuffer upload(ClContext ctx, MemorySegment seg, long offset, long bytes) {
        ClBuffer b = ctx.buffer(Math.max(1, seg == null ? 0 : bytes));
        if (seg != null && bytes > 0) {
            try {
                b.write(0, seg.asSlice(offset, bytes));
            } catch (RuntimeException e) {
                b.close();
                throw e;
            }
        }
        return b;
    }

    /** A buffer holding {@code n} floats of {@code a} from {@code off} (at least 1 byte). */
    static ClBuffer upload(ClContext ctx, float[] a, int off, int n) {
        return upload(ctx, MemorySegment.ofArray(a), (long) off * 4, (long) n * 4);
    }

    /** Reads {@code n} floats from the start of {@code b} into {@code a[off...]}. */
    static void read(ClBuffer b, float[] a, int off, int n) {
        b.read(0, MemorySegment.ofArray(a).asSlice((long) off * 4, (long) n * 4));
    }

    static int[] readInts(ClBuffer b, int n) {
        int[] out = new int[n];
        b.read(0, MemorySegment.ofArray(out));
        return out;
    }

    static float[] readFloats(ClBuffer b, int n) {
        float[] out = new float[n];
        b.read(0, MemorySegment.ofArray(out));
        return out;
    }

    @Override
    public void close() {
        for (ClBuffer b : new ClBuffer[] {data, scales, zeros, levels, rowPtr, colIdx, values}) {
            b.close();
        }
    }
}

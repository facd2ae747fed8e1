package dev.lowbit.kernels.gpu.opencl;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.bindings.opencl.ClBuffer;
import dev.lowbit.bindings.opencl.ClContext;
import dev.lowbit.bindings.opencl.ClKernel;
import dev.lowbit.kernels.Codebook;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.QuantKernels;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.QuantOptions;
import dev.lowbit.kernels.TensorPlanes;
import dev.lowbit.kernels.ThreadPool;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * The quantize family on an OpenCL device (quant.cl): one work-item per group computes the group's statistics,
 * its parameters by {@code GroupParams}' rules, the codes and their packed bytes, so codes and scales equal the
 * scalar reference's bit for bit. {@link #quantizeGgmlRows} quantizes a whole row range in one launch, and
 * {@link #quantize(QuantFormat, float[], int, int, Arena, QuantOptions)} a whole matrix of any format.
 *
 * <p>A group that holds a NaN or an infinity, or that needs a scale its type cannot store, is flagged by the
 * device; the row then goes the reference's way: {@code false} for a non-finite value (so that {@code QuantOps}
 * finds it and applies its policy), and for a scale out of range the scalar reference is run on the row, which
 * throws the reference's exception and message.
 */
public final class OpenClQuantKernels implements QuantKernels {
    private static final int STATUS_NON_FINITE = 1;

    private final OpenClKernels k;
    private final ClContext ctx;

    OpenClQuantKernels(OpenClKernels k) {
        this.k = k;
        this.ctx = k.ctx;
    }

    @Override
    public String name() {
        return "opencl";
    }

    /** The device's output of one quantize launch: the data plane, per-group scales, zero points and statuses. */
    private final class Launch implements AutoCloseable {
        final ClBuffer data;
        final int[] status;
        final float[] scales;
        final float[] zeros;

        Launch(QuantFormat f, Codebook cb, MemorySegment src, int rows, int cols) {
            FormatArgs a = FormatArgs.of(f, cols);
            int groups = rows * f.groupsPerRow(cols);
            float[] mid = cb == null ? new float[15] : cb.midpoints();
            try (ClBuffer in = WeightPlanes.upload(ctx, src, 0, src.byteSize());
                 ClBuffer m = WeightPlanes.upload(ctx, mid, 0, 15);
                 ClBuffer sc = ctx.buffer(4L * groups);
                 ClBuffer ze = ctx.buffer(4L * groups);
                 ClBuffer st = ctx.buffer(4L * groups)) {
                data = ctx.buffer(Math.max(1, rows * f.rowBytes(cols)));
                try {
                    ClKernel q = k.quantize;
                    synchronized (k) {
                        q.arg(0, in).arg(1, rows).arg(2, cols);
                        a.set(q, 3);
                        q.arg(8, m).arg(9, cb == null ? 1f : cb.reach()).arg(10, data).arg(11, sc).arg(12, ze)
                                .arg(13, st);
                        q.launch(groups, 0);
                        status = WeightPlanes.readInts(st, groups);
                        scales = WeightPlanes.readFloats(sc, groups);
                        zeros = WeightPlanes.readFloats(ze, groups);
                    }
                } catch (RuntimeException e) {
                    data.close();
                    throw e;
                }
            }
        }

        /** The first flagged group at or after {@code from}, or -1. */
        int firstFlagged(int from) {
            for (int g = from; g < status.length; g++) {
                if (status[g] != 0) {
                    return g;
                }
            }
            return -1;
        }

        @Override
        public void close() {
            data.close();
        }
    }

    @Override
    public boolean quantizeRow(QuantFormat f, Codebook cb, float[] src, int off, int cols, byte[] rowBytes,
                               float[] scales, float[] zeros) {
        if (cols == 0) {
            return true;
        }
        int gpr = f.groupsPerRow(cols);
        try (Launch l = new Launch(f, cb, MemorySegment.ofArray(src).asSlice(4L * off, 4L * cols), 1, cols)) {
            int bad = l.firstFlagged(0);
            if (bad >= 0) {
                if (l.status[bad] == STATUS_NON_FINITE) {
                    return false;
                }
                // The reference throws its scale-range exception for this row; it must not quantize it.
                if (KernelProvider.scalar().quantizeRow(f, cb, src, off, cols, rowBytes, scales, zeros)) {
                    throw new IllegalStateException(name() + " flagged group " + bad + " as beyond the " + f.scaleType()
                            + " range, but the scalar reference quantizes the row");
                }
                return false;
            }
            int n = (int) f.rowBytes(cols);
            l.data.read(0, MemorySegment.ofArray(rowBytes).asSlice(0, n));
            System.arraycopy(l.scales, 0, scales, 0, gpr);
            if (zeros != null) {
                System.arraycopy(l.zeros, 0, zeros, 0, gpr);
            }
            return true;
        }
    }

    /**
     * Quantizes a whole {@code rows x cols} matrix of any format in one launch: the tensor {@code QuantOps} makes
     * (with these kernels or with the scalar reference), bit for bit, without a launch per row for the plane
     * formats. When the device flags any group (a NaN or infinity, a scale beyond its type), the matrix goes
     * through {@code QuantOps} instead, which applies {@code o}'s non-finite policy and reports the reference's
     * errors.
     */
    public QuantizedTensor quantize(QuantFormat f, float[] src, int rows, int cols, Arena arena, QuantOptions o) {
        Objects.requireNonNull(f, "format");
        Objects.requireNonNull(o, "options");
        QuantOps.checkShape(rows, cols, src == null ? -1 : src.length, "src");
        TensorPlanes dst = TensorPlanes.allocate(f, rows, cols, arena);
        Codebook cb = f.hasLevels() ? Codebook.of(o.levels()) : null;
        float[] levels = cb == null ? null : cb.levels();
        if (rows == 0 || cols == 0) {
            return QuantizedTensor.of(f, rows, cols, dst.data(), dst.scales(), dst.zeros(), levels);
        }
        try (Launch l = new Launch(f, cb, MemorySegment.ofArray(src), rows, cols)) {
            if (l.firstFlagged(0) >= 0) {
                return new QuantOps(this, ThreadPool.callerThread()).quantizeInto(src, dst, o);
            }
            l.data.read(0, dst.data());
            if (!f.isGgml()) {
                writeParams(dst.scales(), f.scaleType(), l.scales);
                if (f.hasZeroPlane()) {
                    writeParams(dst.zeros(), f.scaleType(), l.zeros);
                }
            }
        }
        return QuantizedTensor.of(f, rows, cols, dst.data(), dst.scales(), dst.zeros(), levels);
    }

    /** Stores per-group values (already exact in the type) as fp16 or fp32. */
    private static void writeParams(MemorySegment plane, ScaleType t, float[] v) {
        for (int i = 0; i < v.length; i++) {
            if (t == ScaleType.F16) {
                plane.setAtIndex(Layouts.F16, i, Float.floatToFloat16(v[i]));
            } else {
                plane.setAtIndex(Layouts.F32, i, v[i]);
            }
        }
    }

    @Override
    public int quantizeGgmlRows(QuantFormat f, MemorySegment src, int cols, int r0, int r1, MemorySegment data) {
        if (!f.isGgml()) {
            throw new IllegalArgumentException(f + " is not a ggml block format");
        }
        int rows = r1 - r0;
        if (rows <= 0 || cols == 0) {
            return Math.max(r0, r1);
        }
        long rowBytes = f.rowBytes(cols);
        MemorySegment in = src.asSlice((long) r0 * cols * 4, (long) rows * cols * 4);
        try (Launch l = new Launch(f, null, in, rows, cols)) {
            int bad = l.firstFlagged(0);
            int done = bad < 0 ? rows : bad / f.groupsPerRow(cols);
            if (done > 0) {
                l.data.read(0, data.asSlice(r0 * rowBytes, done * rowBytes));
            }
            return r0 + done;
        }
    }

    /**
     * Dequantizes rows {@code [r0, r1)} of {@code t} (without outliers) in one launch into {@code dst[off...]},
     * {@code cols} values per row.
     */
    public void dequantizeRows(QuantizedTensor t, int r0, int r1, float[] dst, int off) {
        int cols = t.cols();
        int rows = r1 - r0;
        if (r0 < 0 || r1 > t.rows() || rows < 0) {
            throw new IllegalArgumentException("rows [" + r0 + ", " + r1 + ") are outside the tensor's " + t.rows());
        }
        if (off < 0 || (long) off + (long) rows * cols > dst.length) {
            throw new IllegalArgumentException("dst holds " + dst.length + " values, too few for " + rows + " rows of "
                    + cols + " at " + off);
        }
        if (rows == 0 || cols == 0) {
            return;
        }
        FormatArgs a = FormatArgs.of(t.format(), cols);
        long n = (long) rows * cols;
        try (WeightPlanes w = new WeightPlanes(ctx, t, r0, r1, false);
             ClBuffer out = ctx.buffer(4 * n)) {
            ClKernel q = k.dequantize;
            synchronized (k) {
                q.arg(0, w.data).arg(1, w.scales).arg(2, w.zeros).arg(3, w.levels).arg(4, rows).arg(5, cols);
                a.set(q, 6);
                q.arg(11, out);
                q.launch(n, 0);
                out.read(0, MemorySegment.ofArray(dst).asSlice(4L * off, 4 * n));
            }
        }
    }

    @Override
    public void dequantizeRow(QuantizedTensor t, int row, float[] dst, int off) {
        dequantizeRows(t, row, row + 1, dst, off);
    }

    @Override
    public void groupStats(float[] src, int off, int len, int groupLen, float[] min, float[] max, float[] absmax,
                           int outOff) {
        if (len == 0) {
            return;
        }
        int groups = (len + groupLen - 1) / groupLen;
        try (ClBuffer in = WeightPlanes.upload(ctx, src, off, len);
             ClBuffer lo = ctx.buffer(4L * groups);
             ClBuffer hi = ctx.buffer(4L * groups);
             ClBuffer am = ctx.buffer(4L * groups)) {
            ClKernel q = k.groupStats;
            synchronized (k) {
                q.arg(0, in).arg(1, len).arg(2, groupLen).arg(3, lo).arg(4, hi).arg(5, am);
                q.launch(groups, 0);
                WeightPlanes.read(lo, min, outOff, groups);
                WeightPlanes.read(hi, max, outOff, groups);
                WeightPlanes.read(am, absmax, outOff, groups);
            }
        }
    }

    @Override
    public int firstNonFinite(float[] src, int off, int len) {
        if (len == 0) {
            return -1;
        }
        try (ClBuffer in = WeightPlanes.upload(ctx, src, off, len);
             ClBuffer first = ctx.buffer(4)) {
            first.write(0, MemorySegment.ofArray(new int[] {len}));
            ClKernel q = k.firstNonFinite;
            int i;
            synchronized (k) {
                q.arg(0, in).arg(1, len).arg(2, first);
                q.launch(len, 0);
                i = WeightPlanes.readInts(first, 1)[0];
            }
            return i == len ? -1 : i;
        }
    }
}

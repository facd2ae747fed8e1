package dev.lowbit.kernels;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.kernels.impl.GroupParams;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Quantize, dequantize and group statistics over whole matrices: checks every argument before any
 * work, handles non-finite input, adds outliers, and splits rows over a {@link ThreadPool}. Rows are
 * independent, so the result does not depend on the pool or the number of threads. Memory
 * from a confined arena can only be touched by its owner thread, so such calls run on the caller.
 */
public final class QuantOps {
    /** Elements per chunk at least (1 MB of fp32): below that, handing work to another thread costs more than it saves. */
    private static final long PARALLEL_MIN_ELEMENTS = 1 << 18;

    private final QuantKernels kernels;
    private final ThreadPool pool;
    private final int parallelism;

    /**
     * @param kernels the implementation to use
     * @param pool    where row chunks run; null for {@link ThreadPool#common()}
     */
    public QuantOps(QuantKernels kernels, ThreadPool pool) {
        this.kernels = Objects.requireNonNull(kernels, "kernels");
        this.pool = pool == null ? ThreadPool.common() : pool;
        this.parallelism = this.pool.parallelism();
    }

    /** The start-up choice of {@link KernelProvider} on the common pool. */
    public static QuantOps get() {
        return Default.INSTANCE;
    }

    private static final class Default {
        static final QuantOps INSTANCE = new QuantOps(KernelProvider.kernels(), null);
    }

    public QuantKernels kernels() {
        return kernels;
    }

    /** The same kernels on {@code pool} (null for {@link ThreadPool#common()}). */
    public QuantOps withPool(ThreadPool pool) {
        return new QuantOps(kernels, pool);
    }

    // ---------------------------------------------------------------- quantize

    /** Quantizes {@code src} (row-major {@code rows x cols}) into new planes in {@code arena}. */
    public QuantizedTensor quantize(QuantFormat f, float[] src, int rows, int cols, Arena arena) {
        return quantize(f, src, rows, cols, arena, QuantOptions.DEFAULT);
    }

    public QuantizedTensor quantize(QuantFormat f, float[] src, int rows, int cols, Arena arena, QuantOptions o) {
        checkShape(rows, cols, src == null ? -1 : src.length, "src");
        return quantize(f, new Source(src, null, cols), rows, TensorPlanes.allocate(f, rows, cols, arena), o);
    }

    /** Quantizes fp32 values (native byte order) from a segment of exactly {@code rows*cols*4} bytes. */
    public QuantizedTensor quantize(QuantFormat f, MemorySegment src, int rows, int cols, Arena arena, QuantOptions o) {
        checkShape(rows, cols, src == null ? -1 : src.byteSize() / 4, "src");
        checkBytes(src, rows, cols);
        return quantize(f, new Source(null, src, cols), rows, TensorPlanes.allocate(f, rows, cols, arena), o);
    }

    /** Quantizes into caller-owned planes, which the returned tensor views. */
    public QuantizedTensor quantizeInto(float[] src, TensorPlanes dst, QuantOptions o) {
        checkShape(dst.rows(), dst.cols(), src == null ? -1 : src.length, "src");
        return quantize(dst.format(), new Source(src, null, dst.cols()), dst.rows(), dst, o);
    }

    /** Quantizes a segment of fp32 values into caller-owned planes. */
    public QuantizedTensor quantizeInto(MemorySegment src, TensorPlanes dst, QuantOptions o) {
        checkShape(dst.rows(), dst.cols(), src == null ? -1 : src.byteSize() / 4, "src");
        checkBytes(src, dst.rows(), dst.cols());
        return quantize(dst.format(), new Source(null, src, dst.cols()), dst.rows(), dst, o);
    }

    private QuantizedTensor quantize(QuantFormat f, Source src, int rows, TensorPlanes dst, QuantOptions o) {
        Objects.requireNonNull(f, "format");
        Objects.requireNonNull(o, "options");
        if (!dst.format().equals(f)) {
            throw new IllegalArgumentException("planes are for " + dst.format() + ", not " + f);
        }
        int cols = src.cols;
        Codebook cb = f.hasLevels() ? Codebook.of(o.levels()) : null;
        long rowBytes = f.rowBytes(cols);
        int gpr = f.groupsPerRow(cols);
        Failure fail = new Failure();
        forRows(rows, cols, shareable(src.segment, dst.data(), dst.scales(), dst.zeros()), (from, to) -> {
            float[] scratch = src.array == null || o.nonFinite() == NonFinitePolicy.CLAMP ? new float[cols] : null;
            byte[] rowBuf = new byte[(int) rowBytes];
            float[] scales = new float[gpr];
            float[] zeros = new float[gpr];
            int first = from;
            if (f.isGgml()) {
                first = kernels.quantizeGgmlRows(f, src.array != null ? MemorySegment.ofArray(src.array) : src.segment,
                        cols, from, to, dst.data());
            }
            for (int r = first; r < to && !fail.before(r); r++) {
                float[] buf;
                int off;
                if (src.array != null) {
                    buf = src.array;
                    off = r * cols;
                } else {
                    MemorySegment.copy(src.segment, java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED,
                            (long) r * cols * 4, scratch, 0, cols);
                    buf = scratch;
                    off = 0;
                }
                try {
                    if (!kernels.quantizeRow(f, cb, buf, off, cols, rowBuf, scales, zeros)) {
                        // The kernel saw a NaN or infinity in its statistics; find the first one.
                        int bad = kernels.firstNonFinite(buf, off, cols);
                        if (bad < 0) {
                            throw new IllegalStateException(kernels.name() + " reported a non-finite value in row " + r
                                    + " that is not there");
                        }
                        if (o.nonFinite() == NonFinitePolicy.REJECT) {
                            fail.record(r, nonFiniteMessage(buf[off + bad], r, cols, bad)
                                    + "; pass NonFinitePolicy.CLAMP to clamp it");
                            return;
                        }
                        if (buf != scratch) {
                            System.arraycopy(buf, off, scratch, 0, cols);
                        }
                        clampNonFinite(scratch, 0, cols);
                        buf = scratch;
                        off = 0;
                        if (!kernels.quantizeRow(f, cb, scratch, 0, cols, rowBuf, scales, zeros)) {
                            throw new IllegalStateException("row " + r + " is still not finite after clamping");
                        }
                    }
                } catch (GroupParams.ScaleRangeException e) {
                    fail.record(r, GroupParams.refusal(f, cb, buf, off, cols, r, e));
                    return;
                }
                if (!f.isGgml()) {
                    String beyond = gridBeyondFloat(f, cb, scales, buf, off, cols, r);
                    if (beyond != null) {
                        fail.record(r, beyond);
                        return;
                    }
                }
                MemorySegment.copy(rowBuf, 0, dst.data(), Layouts.U8, r * rowBytes, (int) rowBytes);
                if (!f.isGgml()) {
                    writeParams(dst.scales(), f.scaleType(), (long) r * gpr, scales, gpr);
                    if (f.hasZeroPlane()) {
                        writeParams(dst.zeros(), f.scaleType(), (long) r * gpr, zeros, gpr);
                    }
                }
            }
        });
        fail.rethrow();
        return QuantizedTensor.of(f, rows, cols, dst.data(), dst.scales(), dst.zeros(), cb == null ? null : cb.levels());
    }

    /**
     * The message for the first group of row {@code r} whose grid ends beyond the largest float (its scale
     * times the farthest code distance overflows, for weights within a few ulps of 3.4e38 in fp32 scales),
     * so that a code would decode to infinity; null when every group's grid is finite. The check runs on the
     * stored scales, whichever kernels computed them.
     */
    private static String gridBeyondFloat(QuantFormat f, Codebook cb, float[] scales, float[] src, int off, int cols,
                                          int r) {
        float steps = f.isGgml() ? 0f
                : f.hasLevels() ? cb.reach()
                : f.symmetric() ? 1 << (f.bits() - 1) : f.maxCode();
        int gl = f.groupLength(cols);
        for (int g = 0, start = 0; start < cols; g++, start += gl) {
            if (!Float.isFinite(scales[g] * steps)) {
                int end = Math.min(cols, start + gl);
                int at = ScaleRule.argAbsMax(src, off + start, off + end);
                return ScaleRule.gridBeyondFloat(f, r, g, start, end, src[at], at - off);
            }
        }
        return null;
    }

    private static void writeParams(MemorySegment plane, ScaleType t, long at, float[] v, int n) {
        if (t == ScaleType.F32) {
            MemorySegment.copy(v, 0, plane, Layouts.F32, at * 4, n);
        } else {
            for (int i = 0; i < n; i++) {
                plane.setAtIndex(Layouts.F16, at + i, Float.floatToFloat16(v[i]));
            }
        }
    }

    /**
     * {@link NonFinitePolicy#CLAMP} on one row {@code row[off, off + n)}, in place: NaN becomes 0 and an
     * infinity the row's largest finite magnitude with its sign (0 when the row has no finite value).
     */
    public static void clampNonFinite(float[] row, int off, int n) {
        float big = 0f;
        for (int i = off; i < off + n; i++) {
            if (Float.isFinite(row[i])) {
                big = Math.max(big, Math.abs(row[i]));
            }
        }
        for (int i = off; i < off + n; i++) {
            float v = row[i];
            if (Float.isNaN(v)) {
                row[i] = 0f;
            } else if (Float.isInfinite(v)) {
                row[i] = Math.copySign(big, v);
            }
        }
    }

    /**
     * The refusal of a NaN or infinity {@code v} at column {@code col} of row {@code row} in a matrix of
     * {@code cols} columns, shared by {@link QuantOps} and the methods of the {@code algorithms} module:
     * {@code value NaN at index 4 (row 1, column 1) is not finite}.
     */
    public static String nonFiniteMessage(float v, int row, int cols, int col) {
        return "value " + v + " at index " + ((long) row * cols + col) + " (row " + row + ", column " + col
                + ") is not finite";
    }

    // ---------------------------------------------------------------- dequantize

    /** Dequantizes {@code t}, outliers included, into {@code dst} (row-major, exactly {@code rows*cols}). */
    public void dequantize(QuantizedTensor t, float[] dst) {
        Objects.requireNonNull(t, "tensor");
        checkShape(t.rows(), t.cols(), dst == null ? -1 : dst.length, "dst");
        int cols = t.cols();
        forRows(t.rows(), cols, shareable(t), (from, to) -> {
            for (int r = from; r < to; r++) {
                kernels.dequantizeRow(t, r, dst, r * cols);
                addOutliers(t.outliers(), r, dst, r * cols);
            }
        });
    }

    /** Dequantizes into a segment of exactly {@code rows*cols*4} bytes (fp32, native order). */
    public void dequantize(QuantizedTensor t, MemorySegment dst) {
        Objects.requireNonNull(t, "tensor");
        checkShape(t.rows(), t.cols(), dst == null ? -1 : dst.byteSize() / 4, "dst");
        checkBytes(dst, t.rows(), t.cols());
        if (dst.isReadOnly()) {
            throw new IllegalArgumentException("dst is read-only");
        }
        int cols = t.cols();
        forRows(t.rows(), cols, shareable(t) && shareable(dst), (from, to) -> {
            float[] row = new float[cols];
            for (int r = from; r < to; r++) {
                kernels.dequantizeRow(t, r, row, 0);
                addOutliers(t.outliers(), r, row, 0);
                MemorySegment.copy(row, 0, dst, java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, (long) r * cols * 4, cols);
            }
        });
    }

    private static void addOutliers(SparseOutliers o, int r, float[] dst, int off) {
        if (o == null) {
            return;
        }
        for (int j = o.rowPtr(r), end = o.rowPtr(r + 1); j < end; j++) {
            dst[off + o.col(j)] += o.value(j);
        }
    }

    // ---------------------------------------------------------------- statistics

    /**
     * Minimum, maximum and absolute maximum per group of {@code groupSize} elements of each row
     * ({@link QuantFormat#ROW} for whole rows). Non-finite values propagate as Java's min/max do.
     */
    public GroupStats groupStats(float[] src, int rows, int cols, int groupSize) {
        checkShape(rows, cols, src == null ? -1 : src.length, "src");
        if (groupSize < 0) {
            throw new IllegalArgumentException("groupSize must be positive or ROW (0), got " + groupSize);
        }
        int gl = groupSize == QuantFormat.ROW ? Math.max(cols, 1) : groupSize;
        int gpr = cols == 0 ? 0 : (cols + gl - 1) / gl;
        int n = Math.multiplyExact(rows, gpr);
        float[] min = new float[n];
        float[] max = new float[n];
        float[] absmax = new float[n];
        forRows(rows, cols, true, (from, to) -> {
            for (int r = from; r < to; r++) {
                kernels.groupStats(src, r * cols, cols, gl, min, max, absmax, r * gpr);
            }
        });
        return new GroupStats(rows, gpr, min, max, absmax);
    }

    // ---------------------------------------------------------------- plumbing

    private record Source(float[] array, MemorySegment segment, int cols) {
    }

    private interface RowRange {
        void run(int from, int to);
    }

    /** A thread that never starts: a segment it may access is not confined to the caller. */
    private static final Thread OTHER_THREAD = new Thread(() -> { });

    /** Whether every given segment can be used from the pool's threads (a confined arena's cannot). */
    private static boolean shareable(MemorySegment... segments) {
        for (MemorySegment s : segments) {
            if (s != null && !s.isAccessibleBy(OTHER_THREAD)) {
                return false;
            }
        }
        return true;
    }

    private static boolean shareable(QuantizedTensor t) {
        SparseOutliers o = t.outliers();
        return shareable(t.data(), t.scales(), t.zeros())
                && (o == null || shareable(o.rowPtrPlane(), o.colIdxPlane(), o.valuesPlane()));
    }

    /**
     * Runs {@code body} over row ranges: inline for small work or memory confined to the calling
     * thread, else in chunks on the pool.
     */
    private void forRows(int rows, int cols, boolean parallel, RowRange body) {
        long elements = (long) rows * cols;
        int chunks = (int) Math.min(rows, Math.min((long) parallelism * 4, elements / PARALLEL_MIN_ELEMENTS));
        if (chunks <= 1 || !parallel) {
            body.run(0, rows);
            return;
        }
        List<Runnable> work = new ArrayList<>(chunks);
        for (int c = 0; c < chunks; c++) {
            int from = (int) ((long) rows * c / chunks);
            int to = (int) ((long) rows * (c + 1) / chunks);
            work.add(() -> body.run(from, to));
        }
        pool.runAll(work);
    }

    /** Keeps the failure of the lowest row, so that the message does not depend on scheduling. */
    private static final class Failure {
        private final AtomicLong row = new AtomicLong(Long.MAX_VALUE);
        private volatile String message;

        synchronized void record(int r, String msg) {
            if (r < row.get()) {
                row.set(r);
                message = msg;
            }
        }

        boolean before(int r) {
            return row.get() < r;
        }

        void rethrow() {
            if (message != null) {
                throw new IllegalArgumentException(message);
            }
        }
    }

    /**
     * The shape check of every entry point: {@code rows x cols} non-negative and {@code have} ({@code -1} for a
     * missing input) equal to their product, else an {@code IllegalArgumentException} naming {@code name}.
     */
    public static void checkShape(int rows, int cols, long have, String name) {
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("shape must be non-negative, got rows=" + rows + ", cols=" + cols);
        }
        if (have < 0) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        if (have != (long) rows * cols) {
            throw new IllegalArgumentException(name + " holds " + have + " values but rows*cols = " + rows + "*" + cols
                    + " = " + (long) rows * cols);
        }
    }

    private static void checkBytes(MemorySegment seg, int rows, int cols) {
        if (seg.byteSize() != (long) rows * cols * 4) {
            throw new IllegalArgumentException("segment is " + seg.byteSize() + " bytes, not rows*cols*4 = "
                    + (long) rows * cols * 4);
        }
    }
}

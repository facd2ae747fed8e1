package dev.lowbit.algorithms;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.Parallel;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.TensorPlanes;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;

/** Plumbing every method shares: argument checks, rows over an executor, plane writing, error sums. */
final class Rows {
    private Rows() {
    }

    interface RowBody {
        void run(int row);
    }

    static void checkShape(int rows, int cols, long have, String name) {
        QuantOps.checkShape(rows, cols, have, name);
    }

    /** Checks shape and values: a NaN or infinity is refused with its index. */
    static void checkInput(float[] w, int rows, int cols) {
        checkShape(rows, cols, w == null ? -1 : w.length, "w");
        for (int i = 0; i < w.length; i++) {
            if (!Float.isFinite(w[i])) {
                throw new IllegalArgumentException("value " + w[i] + " at index " + i + " (row " + i / Math.max(cols, 1)
                        + ", column " + i % Math.max(cols, 1) + ") is not finite");
            }
        }
    }

    static Executor orCommon(Executor e) {
        return e == null ? ForkJoinPool.commonPool() : e;
    }

    /**
     * Runs {@code body} for every row, in contiguous chunks on {@code executor} (inline when
     * {@code parallel} is false, for memory confined to the caller). Each row's work depends only
     * on the row, so the result does not depend on how rows are split.
     */
    static void forEach(int rows, Executor executor, boolean parallel, RowBody body) {
        int threads = executor instanceof ForkJoinPool p ? p.getParallelism() : Runtime.getRuntime().availableProcessors();
        int chunks = parallel ? Math.min(rows, threads * 4) : 1;
        if (chunks <= 1) {
            for (int r = 0; r < rows; r++) {
                body.run(r);
            }
            return;
        }
        List<Runnable> pieces = new ArrayList<>(chunks);
        for (int c = 0; c < chunks; c++) {
            int from = (int) ((long) rows * c / chunks);
            int to = (int) ((long) rows * (c + 1) / chunks);
            pieces.add(() -> {
                for (int r = from; r < to; r++) {
                    body.run(r);
                }
            });
        }
        Parallel.runAll(pieces, executor);
    }

    private static final Thread OTHER_THREAD = new Thread(() -> { });

    /** Whether planes in {@code arena} can be written from executor threads (a confined arena's cannot). */
    static boolean shareable(Arena arena) {
        MemorySegment probe = arena.allocate(1);
        return probe.isAccessibleBy(OTHER_THREAD);
    }

    /** {@code v} rounded to the scale type; a positive value never becomes 0; too large for the type is refused. */
    static float storable(float v, ScaleType t, int row) {
        float r = t.round(v);
        if (r == 0f && v != 0f) {
            r = t.nextAway(Math.copySign(0f, v));
        }
        if (!Float.isFinite(r)) {
            throw new IllegalArgumentException("row " + row + ": a group needs the value " + v + ", beyond the " + t
                    + " range" + (t == ScaleType.F16 ? "; use F32 scales" : ""));
        }
        return r;
    }

    /** Writable planes for one format and shape; rows are filled by {@link #writeRow}. */
    static final class Planes {
        final QuantFormat format;
        final int rows;
        final int cols;
        final int groupsPerRow;
        final TensorPlanes planes;

        Planes(QuantFormat format, int rows, int cols, Arena arena) {
            this.format = format;
            this.rows = rows;
            this.cols = cols;
            this.groupsPerRow = format.groupsPerRow(cols);
            this.planes = TensorPlanes.allocate(format, rows, cols, arena);
        }

        /** Packs row {@code r}'s codes and writes its scales (and zero points), which must be storable. */
        void writeRow(int r, int[] codes, float[] scales, float[] zeros) {
            int bits = format.bits();
            long rowBytes = format.rowBytes(cols);
            byte[] buf = new byte[(int) rowBytes];
            long acc = 0;
            int have = 0;
            int at = 0;
            for (int c = 0; c < cols; c++) {
                acc |= (long) codes[c] << have;
                have += bits;
                while (have >= 8) {
                    buf[at++] = (byte) acc;
                    acc >>>= 8;
                    have -= 8;
                }
            }
            if (have > 0) {
                buf[at] = (byte) acc;
            }
            MemorySegment.copy(buf, 0, planes.data(), Layouts.U8, r * rowBytes, buf.length);
            write(planes.scales(), (long) r * groupsPerRow, scales);
            if (format.hasZeroPlane()) {
                write(planes.zeros(), (long) r * groupsPerRow, zeros);
            }
        }

        private void write(MemorySegment plane, long at, float[] v) {
            for (int g = 0; g < groupsPerRow; g++) {
                if (format.scaleType() == ScaleType.F32) {
                    plane.setAtIndex(Layouts.F32, at + g, v[g]);
                } else {
                    plane.setAtIndex(Layouts.F16, at + g, Float.floatToFloat16(v[g]));
                }
            }
        }

        QuantizedTensor tensor(float[] levels) {
            return QuantizedTensor.of(format, rows, cols, planes.data(), planes.scales(), planes.zeros(), levels);
        }
    }

    /** Squared error and energy, row by row in double, of {@code w} against its reconstruction {@code wh}. */
    static double[] rowErrors(float[] w, float[] wh, int rows, int cols) {
        double[] e = new double[rows];
        for (int r = 0; r < rows; r++) {
            e[r] = squaredError(w, wh, r * cols, cols);
        }
        return e;
    }

    static double squaredError(float[] w, float[] wh, int off, int n) {
        double s = 0;
        for (int i = off; i < off + n; i++) {
            double d = (double) w[i] - wh[i];
            s += d * d;
        }
        return s;
    }

    static double energy(float[] w) {
        double s = 0;
        for (float v : w) {
            s += (double) v * v;
        }
        return s;
    }

    static double sum(double[] v) {
        double s = 0;
        for (double x : v) {
            s += x;
        }
        return s;
    }

    /** A result for a tensor that decodes by itself: dequantizes it with lowbit's kernels and measures the error. */
    static QuantResult measure(String method, QuantizedTensor t, float[] w, Executor executor, long outliers,
                               float[] exponents, float[] ranges, double[] rowInitialError) {
        float[] wh = new float[w.length];
        QuantOps.get().withExecutor(executor).dequantize(t, wh);
        double[] rowError = rowErrors(w, wh, t.rows(), t.cols());
        return new QuantResult(method, t, sum(rowError), energy(w), rowError, outliers, exponents, true, ranges,
                rowInitialError);
    }
}

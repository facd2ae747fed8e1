package dev.lowbit.algorithms;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.NonFinitePolicy;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.ScaleRule;
import dev.lowbit.kernels.TensorPlanes;
import dev.lowbit.kernels.ThreadPool;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/** Plumbing every method shares: argument checks, rows over a thread pool, plane writing, error sums. */
final class Rows {
    private Rows() {
    }

    interface RowBody {
        void run(int row);
    }

    static void checkShape(int rows, int cols, long have, String name) {
        QuantOps.checkShape(rows, cols, have, name);
    }

    /**
     * Checks shape and values: the first NaN or infinity is refused with its index, row and column, in the words
     * of {@link QuantOps#nonFiniteMessage} (every method runs this check before any work).
     */
    static void checkInput(float[] w, int rows, int cols) {
        checkShape(rows, cols, w == null ? -1 : w.length, "w");
        for (int i = 0; i < w.length; i++) {
            if (!Float.isFinite(w[i])) {
                throw new IllegalArgumentException(QuantOps.nonFiniteMessage(w[i], i / cols, cols, i % cols));
            }
        }
    }

    /** {@code w} itself for {@link NonFinitePolicy#REJECT}; for CLAMP a copy with every row clamped by QuantOps' rule. */
    static float[] applyPolicy(float[] w, int rows, int cols, NonFinitePolicy policy) {
        if (policy == null) {
            throw new IllegalArgumentException("policy must not be null");
        }
        if (policy == NonFinitePolicy.REJECT) {
            return w;
        }
        checkShape(rows, cols, w == null ? -1 : w.length, "w");
        float[] c = w.clone();
        for (int r = 0; r < rows; r++) {
            QuantOps.clampNonFinite(c, r * cols, cols);
        }
        return c;
    }

    static ThreadPool orCommon(ThreadPool e) {
        return e == null ? ThreadPool.common() : e;
    }

    /**
     * Runs {@code body} for every row, in contiguous chunks on {@code pool} (inline when
     * {@code parallel} is false, for memory confined to the caller). Each row's work depends only
     * on the row, so the result does not depend on how rows are split; nor does a failure: a chunk
     * stops at its first failing row, and the failure of the lowest row is thrown.
     */
    static void forEach(int rows, ThreadPool pool, boolean parallel, RowBody body) {
        int threads = pool.parallelism();
        int chunks = parallel ? Math.min(rows, threads * 4) : 1;
        if (chunks <= 1) {
            for (int r = 0; r < rows; r++) {
                body.run(r);
            }
            return;
        }
        List<Runnable> pieces = new ArrayList<>(chunks);
        LowestFailure lowest = new LowestFailure();
        for (int c = 0; c < chunks; c++) {
            int from = (int) ((long) rows * c / chunks);
            int to = (int) ((long) rows * (c + 1) / chunks);
            pieces.add(() -> {
                for (int r = from; r < to; r++) {
                    try {
                        body.run(r);
                    } catch (RuntimeException e) {
                        lowest.record(r, e);
                        return;
                    }
                }
            });
        }
        pool.runAll(pieces);
        lowest.rethrow();
    }

    /** The failure of the lowest row among those recorded. */
    private static final class LowestFailure {
        private int row = Integer.MAX_VALUE;
        private RuntimeException failure;

        synchronized void record(int r, RuntimeException e) {
            if (r < row) {
                row = r;
                failure = e;
            }
        }

        synchronized void rethrow() {
            if (failure != null) {
                throw failure;
            }
        }
    }

    private static final Thread OTHER_THREAD = new Thread(() -> { });

    /** Whether planes in {@code arena} can be written from the pool's threads (a confined arena's cannot). */
    static boolean shareable(Arena arena) {
        MemorySegment probe = arena.allocate(1);
        return probe.isAccessibleBy(OTHER_THREAD);
    }

    /**
     * Group {@code group} of row {@code row}: columns {@code [from, to)} of the row that starts at {@code w[rowOff]},
     * for the messages of {@link #storable}.
     */
    record Group(float[] w, int rowOff, int row, int group, int from, int to) {
    }

    /**
     * {@code v}, the {@code what} ("scale", "zero point") of group {@code at}, by {@link ScaleRule#round}: rounded
     * to the scale type, a non-zero value never 0. A value the type cannot hold is refused in one line that
     * names the row, the group and its largest-magnitude weight ({@link ScaleRule#beyondRange}).
     */
    static float storable(float v, ScaleType t, String what, Group at) {
        float r = ScaleRule.round(v, v != 0f, t);
        if (!Float.isFinite(r)) {
            int c = ScaleRule.argAbsMax(at.w(), at.rowOff() + at.from(), at.rowOff() + at.to()) - at.rowOff();
            throw new IllegalArgumentException(ScaleRule.beyondRange(null, t, at.row(), at.group(), at.from(), at.to(),
                    at.w()[at.rowOff() + c], c, what, v));
        }
        return r;
    }

    /** A scale of group {@code at} by {@link #storable}. */
    static float storable(float v, ScaleType t, Group at) {
        return storable(v, t, "scale", at);
    }

    /**
     * The min-max grid of lowbit's round to nearest ({@code GroupParams.uniform}, bit for bit) for a group whose
     * values lie in {@code [min, max]}, into {@code out} = {scale, zero point}: symmetric, {@code absmax/(2^(b-1)-1)}
     * with the zero point {@code 2^(b-1)}; asymmetric, the range widened to hold 0 over {@code 2^b - 1} steps with
     * the integer zero point {@code rint(-lo/d)}. The grid holds 0, so no element decodes further from its value
     * than 0 is. Refused, naming the group, when the range is wider than the largest float or the scale type
     * cannot hold the scale.
     */
    static void minMaxGrid(float min, float max, boolean symmetric, int bits, ScaleType t, Group at, float[] out) {
        float lo = Math.min(min, 0f);
        float hi = Math.max(max, 0f);
        if (symmetric) {
            int half = 1 << (bits - 1);
            float absmax = Math.max(-lo, hi);
            out[0] = widen(absmax / (half - 1), absmax, half - 1, t, false, at);
            out[1] = half;
        } else {
            int maxq = (1 << bits) - 1;
            float range = hi - lo;
            if (!Float.isFinite(range)) {
                throw spanTooWide(at);
            }
            float d = widen(range / maxq, range, maxq, t, true, at);
            out[0] = d;
            out[1] = d == 0f ? 0f : (float) Math.rint(-lo / d) + 0f;
        }
    }

    /**
     * {@code d} rounded to the scale type, never 0 for a non-zero extent; widened (strict: until
     * {@code extent/d <= limit}; else until {@code extent/d <= limit + 0.5}, only for subnormal fp16) as
     * lowbit's quantizer widens.
     */
    private static float widen(float d, float extent, int limit, ScaleType t, boolean strict, Group at) {
        float r = storable(d, t, at);
        if (r == 0f && extent > 0f) {
            r = t.nextAway(0f);
        }
        if (!strict && Math.abs(r) >= (t == ScaleType.F16 ? 0x1p-14f : Float.MIN_NORMAL)) {
            return r;
        }
        float lim = strict ? limit : limit + 0.5f;
        while (extent > 0f && extent / Math.abs(r) > lim) {
            r = t.nextAway(r);
        }
        return r;
    }

    /** The refusal of group {@code at}, whose values lie further apart than the largest float. */
    static IllegalArgumentException spanTooWide(Group at) {
        int a = at.rowOff() + at.from();
        int b = at.rowOff() + at.to();
        int cl = a;
        int ch = a;
        for (int i = a; i < b; i++) {
            cl = at.w()[i] < at.w()[cl] ? i : cl;
            ch = at.w()[i] > at.w()[ch] ? i : ch;
        }
        return new IllegalArgumentException(ScaleRule.spanTooWide(null, at.row(), at.group(), at.from(), at.to(),
                at.w()[cl], cl - at.rowOff(), at.w()[ch], ch - at.rowOff()));
    }

    /** {@code Σ x²} over {@code x[from, to)}, in double. */
    static double energy(float[] x, int from, int to) {
        double s = 0;
        for (int i = from; i < to; i++) {
            s += (double) x[i] * x[i];
        }
        return s;
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
    static QuantResult measure(String method, QuantizedTensor t, float[] w, ThreadPool pool, long outliers,
                               float[] exponents, float[] ranges, double[] rowInitialError) {
        float[] wh = new float[w.length];
        QuantOps.get().withPool(pool).dequantize(t, wh);
        double[] rowError = rowErrors(w, wh, t.rows(), t.cols());
        return new QuantResult(method, t, sum(rowError), energy(w), rowError, outliers, exponents, true, ranges,
                rowInitialError);
    }
}

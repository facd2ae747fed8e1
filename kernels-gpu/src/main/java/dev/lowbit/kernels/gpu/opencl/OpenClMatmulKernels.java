package dev.lowbit.kernels.gpu.opencl;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.bindings.opencl.ClBuffer;
import dev.lowbit.bindings.opencl.ClContext;
import dev.lowbit.bindings.opencl.ClKernel;
import dev.lowbit.kernels.MatmulKernels;
import dev.lowbit.kernels.QuantizedActivations;

import java.lang.foreign.MemorySegment;

/**
 * The GEMV family on an OpenCL device (matmul.cl): one work-group of 32 work-items per (row, token), each taking
 * every 32nd block of 32 columns, summed as the scalar reference sums a block, then added across the work-group in
 * a tree. Integer block sums are exact; fp32 results are within the bound of that order (see the tests).
 * Each {@code MatmulKernels} call copies the rows and tokens it needs to the device and the results back;
 * {@link #upload} keeps weights on the device for repeated products.
 */
public final class OpenClMatmulKernels implements MatmulKernels {
    /** Work-items per (row, token): {@code LANES} in matmul.cl. */
    static final int LANES = 32;

    private final OpenClKernels k;
    private final ClContext ctx;

    OpenClMatmulKernels(OpenClKernels k) {
        this.k = k;
        this.ctx = k.ctx;
    }

    @Override
    public String name() {
        return "opencl";
    }

    /** The integer path's weight code offset (WeightRows.codeOffset): 128 for asymmetric 8-bit codes, else 0. */
    static int codeOffset(QuantFormat f) {
        return f.hasZeroPlane() && f.bits() == 8 ? 128 : 0;
    }

    /** Whether the integer path takes {@code f} (as {@code MatmulOps} checks): ggml formats and 8- or 4-bit grouped. */
    static boolean intPath(QuantFormat f) {
        return !f.hasLevels() && (f.bits() == 8 || f.bits() == 4);
    }

    @Override
    public void gemmInt8(QuantizedTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y,
                         int ldy) {
        if (r1 <= r0 || t1 <= t0) {
            return;
        }
        try (WeightPlanes wp = new WeightPlanes(ctx, w, r0, r1, true)) {
            gemmInt8(wp, w.format(), w.cols(), x, t0, t1, y, ldy, r0);
        }
    }

    @Override
    public void gemmF32(QuantizedTensor w, float[] x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        if (r1 <= r0 || t1 <= t0) {
            return;
        }
        try (WeightPlanes wp = new WeightPlanes(ctx, w, r0, r1, true)) {
            gemmF32(wp, w.format(), w.cols(), x, t0, t1, y, ldy, r0);
        }
    }

    /**
     * Copies {@code w} (all planes, outliers included) to the device once, for repeated products with
     * {@link #gemv(DeviceWeights, float[], int, float[])} and {@link #gemv(DeviceWeights, QuantizedActivations, float[])}:
     * the same kernels as the {@code MatmulKernels} methods without the copy of the weights in every call.
     */
    public DeviceWeights upload(QuantizedTensor w) {
        return new DeviceWeights(w, new WeightPlanes(ctx, w, 0, w.rows(), true));
    }

    /** Weights resident on the device; closing releases their buffers. */
    public static final class DeviceWeights implements AutoCloseable {
        private final QuantFormat format;
        private final int rows;
        private final int cols;
        private final WeightPlanes planes;

        private DeviceWeights(QuantizedTensor w, WeightPlanes planes) {
            this.format = w.format();
            this.rows = w.rows();
            this.cols = w.cols();
            this.planes = planes;
        }

        public QuantFormat format() {
            return format;
        }

        public int rows() {
            return rows;
        }

        public int cols() {
            return cols;
        }

        @Override
        public void close() {
            planes.close();
        }
    }

    /** Weight-only path on resident weights: {@code y[t * rows + r]} for {@code n} tokens {@code x[t * cols + c]}. */
    public void gemv(DeviceWeights w, float[] x, int n, float[] y) {
        if (n < 0 || x.length != (long) n * w.cols || y.length != (long) n * w.rows) {
            throw new IllegalArgumentException("x must hold n*cols = " + (long) n * w.cols + " values and y n*rows = "
                    + (long) n * w.rows + ", got " + x.length + " and " + y.length);
        }
        if (n > 0 && w.rows > 0) {
            gemmF32(w.planes, w.format, w.cols, x, 0, n, y, w.rows, 0);
        }
    }

    /** Integer path on resident weights: {@code y[t * rows + r]} for the {@code x.n()} tokens of {@code x}. */
    public void gemv(DeviceWeights w, QuantizedActivations x, float[] y) {
        if (!intPath(w.format)) {
            throw new IllegalArgumentException("the integer path takes Q8_0, Q4_0, Q4_1 and grouped 8- or 4-bit weights, "
                    + "not " + w.format);
        }
        if (x.k() != w.cols || y.length != (long) x.n() * w.rows) {
            throw new IllegalArgumentException("activations have k=" + x.k() + " for " + w.cols + " columns, and y must hold "
                    + (long) x.n() * w.rows + " values, got " + y.length);
        }
        if (x.n() > 0 && w.rows > 0) {
            gemmInt8(w.planes, w.format, w.cols, x, 0, x.n(), y, w.rows, 0);
        }
    }

    private void gemmInt8(WeightPlanes wp, QuantFormat f, int kk, QuantizedActivations x, int t0, int t1, float[] y,
                          int ldy, int r0) {
        if (!intPath(f)) {
            throw new IllegalArgumentException("the integer path takes Q8_0, Q4_0, Q4_1 and grouped 8- or 4-bit weights, "
                    + "not " + f);
        }
        int rows = wp.rows;
        int n = t1 - t0;
        int pk = x.paddedK();
        int spt = x.scalesPerToken();
        FormatArgs a = FormatArgs.of(f, kk);
        float[] out = new float[rows * n];
        try (ClBuffer xc = WeightPlanes.upload(ctx, MemorySegment.ofArray(x.codes()), (long) t0 * pk, (long) n * pk);
             ClBuffer xs = WeightPlanes.upload(ctx, x.scales(), t0 * spt, n * spt);
             ClBuffer yb = ctx.buffer(4L * out.length)) {
            ClKernel g = k.gemvInt8;
            synchronized (k) {
                g.arg(0, wp.data).arg(1, wp.scales).arg(2, wp.zeros).arg(3, rows).arg(4, kk);
                a.set(g, 5);
                g.arg(10, codeOffset(f)).arg(11, wp.rowPtr).arg(12, wp.colIdx).arg(13, wp.values).arg(14, xc)
                        .arg(15, xs).arg(16, spt).arg(17, yb).local(18, 4L * LANES);
                g.launch((long) rows * n * LANES, LANES);
                WeightPlanes.read(yb, out, 0, out.length);
            }
        }
        scatter(out, rows, n, r0, t0, y, ldy);
    }

    private void gemmF32(WeightPlanes wp, QuantFormat f, int kk, float[] x, int t0, int t1, float[] y, int ldy, int r0) {
        int rows = wp.rows;
        int n = t1 - t0;
        FormatArgs a = FormatArgs.of(f, kk);
        float[] out = new float[rows * n];
        try (ClBuffer xb = WeightPlanes.upload(ctx, x, t0 * kk, n * kk);
             ClBuffer yb = ctx.buffer(4L * out.length)) {
            ClKernel g = k.gemvF32;
            synchronized (k) {
                g.arg(0, wp.data).arg(1, wp.scales).arg(2, wp.zeros).arg(3, wp.levels).arg(4, rows).arg(5, kk);
                a.set(g, 6);
                g.arg(11, wp.rowPtr).arg(12, wp.colIdx).arg(13, wp.values).arg(14, xb).arg(15, yb)
                        .local(16, 4L * LANES);
                g.launch((long) rows * n * LANES, LANES);
                WeightPlanes.read(yb, out, 0, out.length);
            }
        }
        scatter(out, rows, n, r0, t0, y, ldy);
    }

    /** {@code y[(t0 + t) * ldy + r0 + r] = out[t * rows + r]}. */
    private static void scatter(float[] out, int rows, int n, int r0, int t0, float[] y, int ldy) {
        for (int t = 0; t < n; t++) {
            System.arraycopy(out, t * rows, y, (t0 + t) * ldy + r0, rows);
        }
    }

    /**
     * The exact int32 sums of every block of the integer path, as the GEMV kernel forms them:
     * {@code out[((t * rows) + r) * nb + b]} is {@code {sum_j w_j x_j, sum_j x_j}} for block {@code b} of row {@code r}
     * and token {@code t}, {@code nb = ceil(k / 32)}. For tests.
     */
    int[] blockSums(QuantizedTensor w, QuantizedActivations x) {
        QuantFormat f = w.format();
        int rows = w.rows();
        int kk = w.cols();
        int nb = (kk + 31) / 32;
        int n = x.n();
        long items = (long) n * rows * nb;
        if (items == 0) {
            return new int[0];
        }
        FormatArgs a = FormatArgs.of(f, kk);
        try (WeightPlanes wp = new WeightPlanes(ctx, w, 0, rows, false);
             ClBuffer xc = WeightPlanes.upload(ctx, MemorySegment.ofArray(x.codes()), 0, x.codes().length);
             ClBuffer out = ctx.buffer(8 * items)) {
            ClKernel g = k.int8BlockSums;
            synchronized (k) {
                g.arg(0, wp.data).arg(1, rows).arg(2, kk).arg(3, a.kind()).arg(4, a.bits()).arg(5, a.symmetric() ? 1 : 0)
                        .arg(6, codeOffset(f)).arg(7, xc).arg(8, n).arg(9, out);
                g.launch(items, 0);
                return WeightPlanes.readInts(out, (int) (2 * items));
            }
        }
    }
}

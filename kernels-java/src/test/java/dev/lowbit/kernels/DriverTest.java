package dev.lowbit.kernels;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.testkit.Formats;
import dev.lowbit.testkit.Inputs;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ForkJoinPool;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Threading, segment sources, outliers and group statistics. */
class DriverTest {

    @Test
    void resultDoesNotDependOnThreads() throws Exception {
        int rows = 517;
        int cols = 1031;
        float[] x = Inputs.gaussian(3, rows * cols);
        ForkJoinPool two = new ForkJoinPool(2);
        ExecutorService three = Executors.newFixedThreadPool(3);
        try (Arena arena = Arena.ofShared()) { // shared, so that pool threads may write the planes
            for (QuantFormat f : new QuantFormat[] {QuantFormat.Q4_0, QuantFormat.grouped(3, 64, false, ScaleType.F16),
                    QuantFormat.codebook4(128, ScaleType.F32)}) {
                QuantizedTensor one = new QuantOps(KernelProvider.kernels(), ThreadPool.callerThread()).quantize(f, x, rows, cols, arena);
                for (QuantOps ops : new QuantOps[] {new QuantOps(KernelProvider.kernels(), ThreadPool.of(two)),
                        new QuantOps(KernelProvider.kernels(), ThreadPool.of(three, 3)), QuantOps.get()}) {
                    QuantizedTensor t = ops.quantize(f, x, rows, cols, arena);
                    VectorMatchesScalarTest.assertPlaneEquals(f + " data", one.data(), t.data());
                    VectorMatchesScalarTest.assertPlaneEquals(f + " scales", one.scales(), t.scales());
                    VectorMatchesScalarTest.assertPlaneEquals(f + " zeros", one.zeros(), t.zeros());
                    float[] a = new float[x.length];
                    float[] b = new float[x.length];
                    new QuantOps(KernelProvider.kernels(), ThreadPool.callerThread()).dequantize(one, a);
                    ops.dequantize(t, b);
                    assertArrayEquals(a, b);
                }
            }
        } finally {
            two.shutdown();
            three.shutdown();
        }
    }

    @Test
    void segmentSourceAndDestinationMatchArrays() {
        int rows = 33;
        int cols = 257;
        float[] x = Inputs.gaussian(4, rows * cols);
        QuantOps ops = QuantOps.get();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(4L * x.length);
            MemorySegment.copy(x, 0, src, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, x.length);
            QuantFormat f = QuantFormat.grouped(4, 32, true, ScaleType.F16);
            QuantizedTensor a = ops.quantize(f, x, rows, cols, arena);
            QuantizedTensor b = ops.quantize(f, src, rows, cols, arena, QuantOptions.DEFAULT);
            VectorMatchesScalarTest.assertPlaneEquals("data", a.data(), b.data());
            VectorMatchesScalarTest.assertPlaneEquals("scales", a.scales(), b.scales());
            float[] y = new float[x.length];
            ops.dequantize(a, y);
            MemorySegment dst = arena.allocate(4L * x.length);
            ops.dequantize(a, dst);
            assertArrayEquals(y, dst.toArray(ValueLayout.JAVA_FLOAT));
        }
    }

    @Test
    void outliersAreAddedBack() {
        int rows = 4;
        int cols = 70;
        float[] w = Inputs.gaussian(8, rows * cols);
        w[2 * cols + 5] = 40f;
        w[3 * cols + 69] = -55f;
        float[] original = w.clone();
        QuantOps ops = QuantOps.get();
        try (Arena arena = Arena.ofConfined()) {
            SparseOutliers o = SparseOutliers.extract(w, rows, cols, 35f, arena);
            assertEquals(2, o.nnz());
            assertEquals(0f, w[2 * cols + 5]);
            QuantizedTensor t = ops.quantize(QuantFormat.Q8_0, w, rows, cols, arena).withOutliers(o);
            float[] y = new float[w.length];
            ops.dequantize(t, y);
            assertEquals(Reference.dequantize(t, 2, 5), y[2 * cols + 5]);
            assertEquals(40f, y[2 * cols + 5], 0f); // the dense part at an outlier is code 0 exactly
            assertEquals(-55f, y[3 * cols + 69], 0f);
            for (int i = 0; i < w.length; i++) {
                assertEquals(original[i], y[i], 0.05f, "element " + i);
            }
        }
    }

    @Test
    void groupStatsMatchNaiveLoops() {
        int rows = 5;
        int cols = 203;
        float[] x = Inputs.gaussian(6, rows * cols);
        for (int gs : new int[] {32, 64, 128, QuantFormat.ROW, 7}) {
            GroupStats s = QuantOps.get().groupStats(x, rows, cols, gs);
            GroupStats ref = new QuantOps(KernelProvider.scalar(), ThreadPool.callerThread()).groupStats(x, rows, cols, gs);
            assertArrayEquals(ref.min(), s.min());
            assertArrayEquals(ref.max(), s.max());
            assertArrayEquals(ref.absmax(), s.absmax());
            int gl = gs == 0 ? cols : gs;
            for (int r = 0; r < rows; r++) {
                for (int g = 0; g * gl < cols; g++) {
                    float lo = Float.MAX_VALUE;
                    float hi = -Float.MAX_VALUE;
                    for (int c = g * gl; c < Math.min(cols, (g + 1) * gl); c++) {
                        lo = Math.min(lo, x[r * cols + c]);
                        hi = Math.max(hi, x[r * cols + c]);
                    }
                    int at = r * s.groupsPerRow() + g;
                    assertEquals(lo, s.min()[at]);
                    assertEquals(hi, s.max()[at]);
                    assertEquals(Math.max(-lo, hi), s.absmax()[at]);
                }
            }
        }
    }

    @Test
    void zeroShapes() {
        try (Arena arena = Arena.ofConfined()) {
            for (QuantFormat f : Formats.all()) {
                QuantizedTensor t = QuantOps.get().quantize(f, new float[0], 0, 5, arena);
                assertEquals(0, t.data().byteSize());
                QuantizedTensor u = QuantOps.get().quantize(f, new float[0], 3, 0, arena);
                assertEquals(0, u.data().byteSize());
                QuantOps.get().dequantize(u, new float[0]);
            }
        }
    }
}

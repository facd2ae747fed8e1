package dev.lowbit.algorithms;

import dev.lowbit.testkit.Matrices;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.kernels.ThreadPool;
import dev.lowbit.kernels.KernelProvider;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ForkJoinPool;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Every method gives the same bytes and the same numbers on 1, 2 and 3 threads and inline. */
class ThreadCountTest {
    static final int ROWS = 37;
    static final int COLS = 300;

    @Test
    void resultsDoNotDependOnThreads() throws Exception {
        float[] w = Matrices.draw(Matrices.Law.STUDENT_T3, 12, ROWS * COLS);
        ExecutorService one = Executors.newFixedThreadPool(1);
        ExecutorService three = Executors.newFixedThreadPool(3);
        ForkJoinPool two = new ForkJoinPool(2);
        try {
            for (int bits : new int[] {4, 3}) {
                QuantSpec spec = new QuantSpec(bits, 64, ScaleType.F16);
                List<Function<ThreadPool, Quantizer>> makers = new ArrayList<>();
                for (String name : Quantizers.NAMES) {
                    if (!name.equals("nf4") || bits == 4) {
                        makers.add(ex -> Quantizers.byName(name, spec, ex));
                    }
                }
                makers.add(ex -> new Nupes(spec, true, 0.1f, 1f, 1e-3f, 50, ex, KernelProvider.methods()));
                for (Function<ThreadPool, Quantizer> make : makers) {
                    try (Arena a1 = Arena.ofShared(); Arena a2 = Arena.ofShared(); Arena a3 = Arena.ofShared();
                         Arena confined = Arena.ofConfined()) {
                        QuantResult base = make.apply(ThreadPool.of(one, 1)).quantize(w, ROWS, COLS, a1);
                        String what = base.method() + " at " + bits + " bits";
                        same(base, make.apply(ThreadPool.of(three, 3)).quantize(w, ROWS, COLS, a2), what + ", 3 threads");
                        same(base, make.apply(ThreadPool.of(two)).quantize(w, ROWS, COLS, a3), what + ", fork-join of 2");
                        same(base, make.apply(ThreadPool.of(three, 3)).quantize(w, ROWS, COLS, confined), what + ", confined arena");
                    }
                }
            }
        } finally {
            one.shutdown();
            three.shutdown();
            two.shutdown();
        }
    }

    private static void same(QuantResult a, QuantResult b, String what) {
        QuantizedTensor x = a.tensor();
        QuantizedTensor y = b.tensor();
        assertEquals(x.format(), y.format(), what);
        assertArrayEquals(bytes(x.data()), bytes(y.data()), what + ": codes");
        assertArrayEquals(bytes(x.scales()), bytes(y.scales()), what + ": scales");
        assertArrayEquals(bytes(x.zeros()), bytes(y.zeros()), what + ": zeros");
        assertArrayEquals(x.levels(), y.levels(), what + ": levels");
        SparseOutliers ox = x.outliers();
        SparseOutliers oy = y.outliers();
        assertEquals(ox == null, oy == null, what);
        if (ox != null) {
            assertArrayEquals(bytes(ox.rowPtrPlane()), bytes(oy.rowPtrPlane()), what + ": outlier rows");
            assertArrayEquals(bytes(ox.colIdxPlane()), bytes(oy.colIdxPlane()), what + ": outlier columns");
            assertArrayEquals(bytes(ox.valuesPlane()), bytes(oy.valuesPlane()), what + ": outlier values");
        }
        assertArrayEquals(a.rowError(), b.rowError(), what + ": row errors");
        assertEquals(a.squaredError(), b.squaredError(), 0, what);
        assertArrayEquals(a.exponents(), b.exponents(), what + ": exponents");
        assertArrayEquals(a.ranges(), b.ranges(), what + ": ranges");
        assertArrayEquals(a.rowInitialError(), b.rowInitialError(), what + ": initial errors");
    }

    private static byte[] bytes(MemorySegment s) {
        return s == null ? null : s.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
    }
}

package dev.lowbit.bench;

import dev.lowbit.algorithms.QuantResult;
import dev.lowbit.algorithms.QuantSpec;
import dev.lowbit.algorithms.Quantizer;
import dev.lowbit.algorithms.Quantizers;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.ThreadPool;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;

/**
 * One data-free method quantizing a {@code rows x cols} matrix of seeded Gaussian values (the defaults:
 * EasyQuant, 4 bits, groups of 64, 4096 x 4096), rows split over {@code threads} workers. Scores are
 * seconds per matrix, measured once per iteration (a matrix takes seconds). Setup quantizes once and
 * refuses to report a time for a result that is not finite or, for EasyQuant, where a row ended worse
 * than at its initial range.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx4g"})
@Warmup(iterations = 1)
@Measurement(iterations = 3)
public class MethodsBench {

    @Param({"easyquant"})
    public String method;

    @Param({"4"})
    public int bits;

    /** Group size, or 0 for whole rows. */
    @Param({"64"})
    public int group;

    @Param({"1", "2"})
    public int threads;

    @Param({"4096"})
    public int rows;

    @Param({"4096"})
    public int cols;

    private ForkJoinPool pool;
    private Quantizer quantizer;
    private float[] w;

    @Setup(Level.Trial)
    public void setup() {
        pool = new ForkJoinPool(threads);
        quantizer = Quantizers.byName(method, new QuantSpec(bits, group == 0 ? QuantFormat.ROW : group, ScaleType.F16), ThreadPool.of(pool));
        w = QuantizeBench.gaussian(42, Math.multiplyExact(rows, cols));
        try (Arena arena = Arena.ofShared()) {
            QuantResult r = quantizer.quantize(w, rows, cols, arena);
            if (!(r.relativeError() >= 0 && r.relativeError() < 1)) {
                throw new IllegalStateException(method + " gives relative error " + r.relativeError());
            }
            if (r.rowInitialError() != null) {
                for (int i = 0; i < rows; i++) {
                    if (r.rowError()[i] > r.rowInitialError()[i]) {
                        throw new IllegalStateException(method + ": row " + i + " ends at error " + r.rowError()[i]
                                + ", above its initial " + r.rowInitialError()[i]);
                    }
                }
            }
            System.out.printf("%n%s %d-bit g%d on %dx%d: relative error %.4e, outliers %.3f%%%n", method, bits, group,
                    rows, cols, r.relativeError(), 100 * r.outlierFraction());
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.shutdown();
    }

    @Benchmark
    public double quantize() {
        try (Arena arena = Arena.ofShared()) {
            return quantizer.quantize(w, rows, cols, arena).squaredError();
        }
    }
}

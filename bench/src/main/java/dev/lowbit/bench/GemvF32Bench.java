package dev.lowbit.bench;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
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

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

/**
 * The memory-bound reference for {@link GemvBench}: a plain fp32 GEMV in the Vector API, one fused
 * multiply-add dot per row. {@code cold} cycles through enough matrices to exceed 200 MB per pass.
 * GB/s of weights is {@code 4 rows k / 1000 / score}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xms4g", "-Xmx4g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class GemvF32Bench {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    @Param({"1", "2"})
    public int threads;

    @Param({"true", "false"})
    public boolean cold;

    @Param({"4096"})
    public int rows;

    @Param({"4096"})
    public int k;

    private ForkJoinPool pool;
    private float[][] weights;
    private float[] x;
    private float[] y;
    private int next;

    @Setup(Level.Trial)
    public void setup() {
        pool = new ForkJoinPool(threads);
        int count = cold ? (int) ((200L << 20) / (4L * rows * k) + 1) : 1;
        weights = new float[count][];
        for (int i = 0; i < count; i++) {
            weights[i] = QuantizeBench.gaussian(11 + i, rows * k);
        }
        x = QuantizeBench.gaussian(12, k);
        y = new float[rows];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.shutdown();
    }

    @Benchmark
    public float[] gemv() {
        float[] w = weights[next];
        next = next + 1 == weights.length ? 0 : next + 1;
        if (threads == 1) {
            rows(w, 0, rows);
        } else {
            pool.submit(() -> IntStream.range(0, threads).parallel()
                    .forEach(t -> rows(w, rows * t / threads, rows * (t + 1) / threads))).join();
        }
        return y;
    }

    private void rows(float[] w, int r0, int r1) {
        for (int r = r0; r < r1; r++) {
            FloatVector acc = FloatVector.zero(S);
            int o = r * k;
            int c = 0;
            for (; c + S.length() <= k; c += S.length()) {
                acc = FloatVector.fromArray(S, w, o + c).fma(FloatVector.fromArray(S, x, c), acc);
            }
            float s = acc.reduceLanes(VectorOperators.ADD);
            for (; c < k; c++) {
                s += w[o + c] * x[c];
            }
            y[r] = s;
        }
    }
}

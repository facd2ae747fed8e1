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

import java.util.Arrays;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

/**
 * The machine's own limits, to set beside the kernels: reading, writing and copying a {@code size}-value
 * fp32 array (256 MB at 64M values, far beyond the caches) on {@code threads} threads, each thread
 * taking one contiguous slice. GB/s is {@code size * 4 / 1000 / score} for read and write, and twice
 * that for copy (read plus write).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xms2g", "-Xmx2g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class MemoryBench {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    @Param({"1", "2"})
    public int threads;

    @Param({"67108864"})
    public int size;

    private ForkJoinPool pool;
    private float[] a;
    private float[] b;

    @Setup(Level.Trial)
    public void setup() {
        pool = new ForkJoinPool(threads);
        a = QuantizeBench.gaussian(1, size);
        b = new float[size];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.shutdown();
    }

    private int from(int t) {
        return (int) ((long) size * t / threads) / S.length() * S.length();
    }

    @Benchmark
    public float read() {
        return pool.submit(() -> IntStream.range(0, threads).parallel()
                .mapToObj(t -> sum(a, from(t), t == threads - 1 ? size : from(t + 1)))
                .reduce(0f, Float::sum)).join();
    }

    @Benchmark
    public float[] write() {
        pool.submit(() -> IntStream.range(0, threads).parallel()
                .forEach(t -> Arrays.fill(b, from(t), t == threads - 1 ? size : from(t + 1), 1f))).join();
        return b;
    }

    @Benchmark
    public float[] copy() {
        pool.submit(() -> IntStream.range(0, threads).parallel().forEach(t -> {
            int lo = from(t);
            int hi = t == threads - 1 ? size : from(t + 1);
            System.arraycopy(a, lo, b, lo, hi - lo);
        })).join();
        return b;
    }

    /** Four independent accumulators, so that the loop waits on memory rather than on additions. */
    private static float sum(float[] x, int from, int to) {
        FloatVector s0 = FloatVector.zero(S);
        FloatVector s1 = FloatVector.zero(S);
        FloatVector s2 = FloatVector.zero(S);
        FloatVector s3 = FloatVector.zero(S);
        int step = 4 * S.length();
        int i = from;
        for (; i + step <= to; i += step) {
            s0 = s0.add(FloatVector.fromArray(S, x, i));
            s1 = s1.add(FloatVector.fromArray(S, x, i + S.length()));
            s2 = s2.add(FloatVector.fromArray(S, x, i + 2 * S.length()));
            s3 = s3.add(FloatVector.fromArray(S, x, i + 3 * S.length()));
        }
        float r = s0.add(s1).add(s2.add(s3)).reduceLanes(VectorOperators.ADD);
        for (; i < to; i++) {
            r += x[i];
        }
        return r;
    }
}

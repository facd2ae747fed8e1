package dev.lowbit.bench;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.QuantKernels;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.QuantOptions;
import dev.lowbit.kernels.TensorPlanes;
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
import java.util.SplittableRandom;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;

/**
 * Quantize and dequantize of a {@code size}-value fp32 matrix ({@code size / cols} rows of {@code cols}).
 * 64M values (256 MB of fp32) is far beyond the caches ("cold"); 64K values (256 KB) stays in L2 ("hot").
 * Scores are microseconds per operation; GB/s on the fp32 side is {@code size * 4 / 1000 / score}
 * ({@link Report} prints it from a JSON result file). Setup refuses to run a kernel whose output
 * differs from the scalar reference ({@link Checks}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
// 256 MB of input and 256 MB of dequantized output at 64M values, allocated once per trial.
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xms2g", "-Xmx12g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class QuantizeBench {

    @Param({"q8_0", "q4_0", "q4_1", "q4_k", "q6_k", "int8_sym_g32_f16", "int4_asym_g64_f16", "int3_asym_g128_f16", "int2_asym_g64_f16",
            "cb4_g64_f16"})
    public String format;

    @Param({"native", "vector", "scalar"})
    public String impl;

    @Param({"1", "2"})
    public int threads;

    @Param({"67108864", "65536"})
    public int size;

    @Param({"4096"})
    public int cols;

    private ForkJoinPool pool;
    private Arena arena;
    private QuantOps ops;
    private float[] src;
    private float[] dst;
    private TensorPlanes planes;
    private QuantizedTensor tensor;

    @Setup(Level.Trial)
    public void setup() {
        QuantFormat f = QuantFormat.parse(format);
        if (size % cols != 0) {
            throw new IllegalArgumentException("size " + size + " is not a multiple of cols " + cols);
        }
        QuantKernels k = switch (impl) {
            case "scalar" -> KernelProvider.scalar();
            case "vector" -> KernelProvider.vector();
            case "native" -> KernelProvider.nativeKernels();
            default -> throw new IllegalArgumentException("impl must be scalar, vector or native, not " + impl);
        };
        if (k == null) {
            throw new IllegalStateException(impl + " kernels cannot run here: " + (impl.equals("native")
                    ? KernelProvider.nativeUnavailable() : KernelProvider.vectorUnavailable()));
        }
        pool = new ForkJoinPool(threads);
        arena = Arena.ofShared();
        ops = new QuantOps(k, ThreadPool.of(pool));
        src = gaussian(42, size);
        dst = new float[size];
        planes = TensorPlanes.allocate(f, size / cols, cols, arena);
        tensor = ops.quantizeInto(src, planes, QuantOptions.DEFAULT);
        Checks.sameAsScalar(ops, f, src, size / cols, cols);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.shutdown();
        arena.close();
    }

    @Benchmark
    public QuantizedTensor quantize() {
        return ops.quantizeInto(src, planes, QuantOptions.DEFAULT);
    }

    @Benchmark
    public float[] dequantize() {
        ops.dequantize(tensor, dst);
        return dst;
    }

    static float[] gaussian(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian(); // weights-like values, never NaN or infinite; fast enough for 64M
        }
        return a;
    }
}

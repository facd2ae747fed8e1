package dev.lowbit.bench;

import dev.lowbit.format.InterleavedTensor;
import dev.lowbit.format.Int8RowTensor;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.MatmulKernels;
import dev.lowbit.kernels.MatmulOps;
import dev.lowbit.kernels.PackedWeights;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.QuantizedActivations;
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
 * W8A8 GEMM, int8 weights times int8 activations quantized per token beforehand (the kernel alone), hot: one
 * matrix. {@code layout}: {@code i8_rowx16} ({@link Int8RowTensor}: one scale per row, int32 sums over whole rows,
 * 16 rows by 4 columns per vector for VNNI) or {@code q8_0x8} ({@link InterleavedTensor}: Q8_0 blocks of 32 with
 * fp16 scales, 8 rows interleaved, one fp32 step per block). The default shapes are all-MiniLM-L6-v2's linear
 * layers (rows x k: 1152 x 384 for q, k, v; 1536 x 384 up; 384 x 1536 down) at 28 tokens, its sentences' mean
 * length. Scores are microseconds per call; GOP/s is {@code 2 rows k n / 1000 / score}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 2, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xms2g", "-Xmx2g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class Int8RowGemmBench {

    @Param({"i8_rowx16", "q8_0x8"})
    public String layout;

    @Param({"native"})
    public String impl;

    @Param({"1"})
    public int threads;

    @Param({"28"})
    public int n;

    /** rows x k. */
    @Param({"1152x384", "1536x384", "384x1536"})
    public String shape;

    private ForkJoinPool pool;
    private Arena arena;
    private MatmulOps ops;
    private PackedWeights weights;
    private QuantizedActivations x;
    private float[] y;

    @Setup(Level.Trial)
    public void setup() {
        String[] rk = shape.split("x");
        int rows = Integer.parseInt(rk[0]);
        int k = Integer.parseInt(rk[1]);
        MatmulKernels m = MatmulChecks.kernels(impl);
        pool = new ForkJoinPool(threads);
        arena = Arena.ofShared();
        ops = new MatmulOps(m, KernelProvider.kernels(), ThreadPool.of(pool));
        float[] w = QuantizeBench.gaussian(7, rows * k);
        QuantOps q = new QuantOps(KernelProvider.kernels(), ThreadPool.of(pool));
        x = ops.quantizeActivations(QuantizeBench.gaussian(8, n * k), n, k, ActivationFormat.PER_TOKEN_INT8);
        y = new float[n * rows];
        MatmulOps ref = new MatmulOps(KernelProvider.scalarMatmul(), KernelProvider.scalar(), ThreadPool.callerThread());
        float[] want = new float[n * rows];
        switch (layout) {
            case "i8_rowx16" -> {
                weights = PackedWeights.of(Int8RowTensor.of(q.quantize(QuantFormat.grouped(8, QuantFormat.ROW, true,
                        ScaleType.F16), w, rows, k, arena), arena));
                ops.gemm(weights, x, y);
                ref.gemm(weights, x, want);
            }
            case "q8_0x8" -> {
                QuantizedTensor plain = q.quantize(QuantFormat.Q8_0, w, rows, k, arena);
                weights = PackedWeights.of(InterleavedTensor.of(plain, arena));
                ops.gemm(weights, x, y);
                ref.gemm(PackedWeights.of(plain), x, want);
            }
            default -> throw new IllegalArgumentException("layout must be i8_rowx16 or q8_0x8, not " + layout);
        }
        for (int i = 0; i < y.length; i++) {
            if (Float.floatToRawIntBits(y[i]) != Float.floatToRawIntBits(want[i])) {
                throw new IllegalStateException(impl + " " + layout + ": y[" + i + "] = " + y[i] + ", reference " + want[i]);
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.shutdown();
        arena.close();
    }

    @Benchmark
    public float[] gemm() {
        ops.gemm(weights, x, y);
        return y;
    }
}

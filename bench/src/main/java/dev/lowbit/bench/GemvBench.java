package dev.lowbit.bench;

import dev.lowbit.format.InterleavedTensor;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.MatmulKernels;
import dev.lowbit.kernels.MatmulOps;
import dev.lowbit.kernels.PackedWeights;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.ThreadPool;
import dev.lowbit.testkit.Ggml;
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
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;

/**
 * {@code y = W x} for a {@code rows x k} quantized matrix and {@code n} tokens. {@code cold} cycles
 * through enough matrices to exceed 200 MB of weights per pass, so every call streams its weights from
 * DRAM; hot reuses one. {@code path}: {@code int8} quantizes the activations to Q8_0 (Q8_K for the K-quants
 * Q2_K to Q6_K) inside the call and runs the integer path (W8A8 for Q8_0, W4A8 for Q4_0); {@code fp32} is the
 * weight-only path. The weights are lowbit's quantized rows, or, for a format lowbit does not quantize itself,
 * the bytes ggml's {@code ggml_quantize_chunk} writes ({@link Ggml}), which lowbit's quantizers reproduce.
 * Scores are microseconds per call: GB/s of weights is {@code weightBytes / 1000 / score} and GOP/s
 * is {@code 2 rows k n / 1000 / score} (the report prints both). {@code layout}: {@code plain} rows, or
 * {@code x8}, the rows interleaved in groups of 8 ({@link InterleavedTensor}, Q8_0 and Q4_0 only).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xms4g", "-Xmx4g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class GemvBench {
    private static final long COLD_BYTES = 200L << 20;

    @Param({"q8_0", "q4_0", "q4_k", "q6_k", "q5_k", "q3_k", "q2_k", "q5_0", "q5_1", "iq4_nl"})
    public String format;

    @Param({"int8", "fp32"})
    public String path;

    @Param({"plain"})
    public String layout;

    @Param({"native", "vector"})
    public String impl;

    @Param({"1", "2"})
    public int threads;

    /** Tokens: 1 is GEMV; the GEMM runs use 8, 32 and 512. */
    @Param({"1"})
    public int n;

    @Param({"true", "false"})
    public boolean cold;

    @Param({"4096"})
    public int rows;

    @Param({"4096"})
    public int k;

    /**
     * What runs the pieces: {@code fj}, a {@code ForkJoinPool} of {@code threads} threads (the caller waits), or
     * {@code workers}, lowbit's {@link ThreadPool.Workers} ({@code threads - 1} spinning workers and the caller).
     */
    @Param({"fj"})
    public String pool;

    private ForkJoinPool fjPool;
    private ThreadPool.Workers workers;
    private Arena arena;
    private MatmulOps ops;
    private PackedWeights[] weights;
    private float[] x;
    private float[] y;
    private int next;
    private ActivationFormat act;

    /** {@code w} quantized by lowbit, or by ggml where lowbit has no quantizer for {@code f}. */
    private QuantizedTensor quantize(QuantOps q, QuantFormat f, float[] w, int rows, int k) {
        try {
            return q.quantize(f, w, rows, k, arena);
        } catch (UnsupportedOperationException e) {
            String why = Ggml.unavailable();
            if (why != null) {
                throw new IllegalStateException(f + ": " + e.getMessage() + ", and ggml cannot quantize it here: " + why, e);
            }
            byte[] b = Ggml.get().quantize(Ggml.Type.valueOf(f.kind().name()), w, rows, k);
            MemorySegment data = arena.allocate(b.length, 64);
            MemorySegment.copy(b, 0, data, ValueLayout.JAVA_BYTE, 0, b.length);
            return QuantizedTensor.of(f, rows, k, data, null, null, null);
        }
    }

    @Setup(Level.Trial)
    public void setup() {
        QuantFormat f = QuantFormat.parse(format);
        MatmulKernels m = MatmulChecks.kernels(impl);
        fjPool = new ForkJoinPool(threads);
        arena = Arena.ofShared();
        ops = switch (pool) {
            case "fj" -> new MatmulOps(m, KernelProvider.kernels(), ThreadPool.of(fjPool));
            case "workers" -> new MatmulOps(m, KernelProvider.kernels(), workers = new ThreadPool.Workers(threads));
            default -> throw new IllegalArgumentException("pool must be fj or workers, not " + pool);
        };
        long bytes = rows * f.rowBytes(k);
        int count = cold ? (int) (COLD_BYTES / bytes + 1) : 1;
        QuantizedTensor[] plain = new QuantizedTensor[count];
        float[] w = QuantizeBench.gaussian(7, rows * k);
        QuantOps q = new QuantOps(KernelProvider.kernels(), ThreadPool.of(fjPool));
        for (int i = 0; i < count; i++) {
            w[i] += 1f; // each matrix differs from the others in one value
            plain[i] = quantize(q, f, w, rows, k);
        }
        x = QuantizeBench.gaussian(8, n * k);
        y = new float[n * rows];
        act = MatmulChecks.activations(f);
        MatmulChecks.sameAsScalar(ops, plain[0], x, n, path.equals("int8"));
        weights = new PackedWeights[count];
        switch (layout) {
            case "plain" -> {
                for (int i = 0; i < count; i++) {
                    weights[i] = PackedWeights.of(plain[i]);
                }
            }
            case "x8" -> {
                for (int i = 0; i < count; i++) {
                    weights[i] = PackedWeights.of(InterleavedTensor.of(plain[i], arena));
                }
                MatmulChecks.sameAsPlain(ops, plain[0], weights[0], x, n, path.equals("int8"));
            }
            default -> throw new IllegalArgumentException("layout must be plain or x8, not " + layout);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        fjPool.shutdown();
        if (workers != null) {
            workers.close();
        }
        arena.close();
    }

    @Benchmark
    public float[] gemm() {
        PackedWeights w = weights[next];
        next = next + 1 == weights.length ? 0 : next + 1;
        if (path.equals("int8")) {
            ops.gemm(w, x, n, y, act);
        } else {
            ops.gemm(w, x, n, y);
        }
        return y;
    }
}

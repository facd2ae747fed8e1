package dev.lowbit.bench;

import com.github.tjake.jlama.math.VectorMath;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.tensor.AbstractTensor;
import com.github.tjake.jlama.tensor.FloatBufferTensor;
import com.github.tjake.jlama.tensor.TensorShape;
import com.github.tjake.jlama.tensor.operations.PanamaTensorOperations;
import com.github.tjake.jlama.tensor.operations.TensorOperations;
import com.github.tjake.jlama.tensor.operations.TensorOperationsProvider;
import com.github.tjake.jlama.util.MachineSpec;
import com.github.tjake.jlama.util.PhysicalCoreExecutor;
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
import org.openjdk.jmh.annotations.Warmup;

import java.nio.FloatBuffer;
import java.util.concurrent.TimeUnit;

/**
 * Peer benchmark: {@link GemvBench}'s GEMV ({@code n = 1}) done by Jlama 0.8.4 (jlama-core, in this
 * benchmarks jar only), on the same seeded weights and activation, with the same {@code cold} rule (cycle
 * through enough weight matrices to exceed 200 MB per pass).
 *
 * <p><b>What Jlama is asked to do, and how.</b> The weights are an fp32 {@code FloatBufferTensor}
 * quantized with Jlama's own {@code AbstractTensor.quantize(DType)}, the call its model loaders make on
 * each projection matrix: {@code DType.Q4} gives a {@code Q4ByteBufferTensor}, {@code DType.I8} a
 * {@code Q8ByteBufferTensor}. Each call then does what a Jlama layer does for one token: the fp32
 * activation row is quantized to Jlama's Q8 ({@code TensorOperations.quantize(x, DType.I8, 0, k)}, Jlama's
 * {@code maybeQuantize} with the working quantization type {@code I8} that its loaders are normally
 * given), the product is {@code TensorOperations.dotProductChunk(y, xq, W, 0, k, rowStart, rowCount)}
 * as in its MLP and attention blocks, and the quantized activation is handed back to Jlama's tensor cache
 * by closing it (try-with-resources, as its blocks do). All of that is inside the timed method, as
 * lowbit's int8 path quantizes its activations inside its call. For Q4 weights this runs Jlama's
 * I8 x Q4 kernel ({@code GemmerI8Q4_512} or {@code _256}, after the machine's preferred vector width).
 *
 * <p><b>Q8 weights.</b> Jlama 0.8.4's Vector API operations have no kernel for {@code Q8ByteBufferTensor}
 * weights: {@code PanamaTensorOperations.batchDotProduct} handles F32 x {F32, BF16, Q4}, I8 x Q4 and
 * BF16 x BF16 and throws {@code UnsupportedOperationException} otherwise, with either activation type.
 * {@code -p format=q8_0} shows the gap: its setup stops with an {@link IllegalStateException} saying
 * so, and no number is reported for it.
 *
 * <p><b>Implementation.</b> The Vector API one, {@code PanamaTensorOperations}, forced with
 * {@code -Djlama.force_panama_tensor_operations=true} (set in the fork's flags and again in setup, before
 * Jlama's provider is first touched) and checked; setup prints its name and Jlama's vector type. Jlama's
 * provider turns the Vector API's bounds checks off ({@code jdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0})
 * when it is first loaded, as in every Jlama run; setup touches it first so that this takes effect here too.
 *
 * <p><b>Threads.</b> {@code threads = 2} uses Jlama's own parallel path, {@code VectorMath.pchunk} on its
 * {@code PhysicalCoreExecutor} with the thread count set by {@code PhysicalCoreExecutor.overrideThreadCount}
 * (what Jlama's {@code threadCount} option does): the rows split into {@code threads} equal chunks, one
 * {@code dotProductChunk} each, on a ForkJoinPool of that many threads. {@code threads = 1} makes one
 * {@code dotProductChunk} call over all rows on the benchmark thread: with one executor thread,
 * {@code pchunk} would instead issue a call per row, through the pool, around the same row kernel.
 * The executor is process-wide and takes its thread count once, so each trial needs its own fork
 * ({@code -f 0} stops with a message if the counts differ).
 *
 * <p>Setup checks the result against the dense fp32 product computed in double from the unquantized
 * weights (cosine similarity at least 0.99) and refuses to run otherwise. Scores are microseconds per call;
 * the report counts {@link #weightBytes} of weights per call and {@code 2 rows k} operations.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xms4g", "-Xmx4g",
        "-Djlama.force_panama_tensor_operations=true"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class JlamaGemvBench {
    private static final long COLD_BYTES = 200L << 20;
    private static final double MIN_COSINE = 0.99;

    /** Jlama's block: 32 values per fp32 scale, for both its Q4 and its Q8 tensors. */
    private static final int BLOCK = 32;

    /** q4_0 only by default: Jlama has no Q8-weight kernel (see above); {@code -p format=q8_0} shows the refusal. */
    @Param({"q4_0"})
    public String format;

    @Param({"1", "2"})
    public int threads;

    @Param({"true", "false"})
    public boolean cold;

    @Param({"4096"})
    public int rows;

    @Param({"4096"})
    public int k;

    private TensorOperations ops;
    private AbstractTensor[] weights;
    private FloatBufferTensor x;
    private FloatBufferTensor y;
    private int next;

    /**
     * Bytes a Jlama weight tensor of {@code rows x k} occupies: the codes ({@code k / 2} bytes a row for
     * Q4, two values a byte; {@code k} for Q8) plus one fp32 scale per block of 32 ({@code 4 k / 32} bytes
     * a row), so {@code rows * (k/2 + k/8)} for Q4 (0.625 bytes a weight) and {@code rows * (k + k/8)}
     * for Q8 (1.125 bytes a weight).
     */
    static long weightBytes(String format, long rows, long k) {
        long codes = switch (format) {
            case "q4_0" -> k / 2;
            case "q8_0" -> k;
            default -> throw new IllegalArgumentException("no Jlama tensor for format " + format);
        };
        return rows * (codes + 4 * (k / BLOCK));
    }

    @Setup(Level.Trial)
    public void setup() {
        if (k % BLOCK != 0) {
            throw new IllegalArgumentException("Jlama's blocks need k to be a multiple of " + BLOCK + ", not " + k);
        }
        DType qtype = switch (format) {
            case "q4_0" -> DType.Q4;
            case "q8_0" -> DType.I8;
            default -> throw new IllegalArgumentException("no Jlama tensor for format " + format);
        };
        System.setProperty("jlama.force_panama_tensor_operations", "true");
        ops = TensorOperationsProvider.get(); // first, so its static setup runs before any vector is made
        if (!(ops instanceof PanamaTensorOperations)) {
            throw new IllegalStateException("Jlama picked " + ops.getClass().getName() + " (" + ops.name()
                    + "), not its Vector API PanamaTensorOperations");
        }
        // Jlama's executor takes its thread count once, before its first use (quantizing to Q8 uses it).
        try {
            PhysicalCoreExecutor.overrideThreadCount(threads);
        } catch (IllegalStateException e) {
            if (PhysicalCoreExecutor.instance.get().getCoreCount() != threads) {
                throw new IllegalStateException("Jlama's executor already runs "
                        + PhysicalCoreExecutor.instance.get().getCoreCount() + " threads, " + threads
                        + " wanted: run each trial in its own fork", e);
            }
        }
        System.out.printf("Jlama: %s (%s), vector type %s, executor threads %d%n", ops.name(),
                ops.getClass().getSimpleName(), MachineSpec.VECTOR_TYPE, PhysicalCoreExecutor.instance.get().getCoreCount());

        float[] w = QuantizeBench.gaussian(7, rows * k);
        x = new FloatBufferTensor(FloatBuffer.wrap(QuantizeBench.gaussian(8, k)), TensorShape.of(1, k), false);
        y = new FloatBufferTensor(1, rows);
        FloatBufferTensor dense = new FloatBufferTensor(FloatBuffer.wrap(w), TensorShape.of(rows, k), false);
        int count = cold ? (int) (COLD_BYTES / weightBytes(format, rows, k) + 1) : 1;
        weights = new AbstractTensor[count];
        for (int i = 0; i < count; i++) {
            w[i] += 1f; // each matrix differs from the others in one value, as in GemvBench
            dense.set(w[i], i / k, i % k);
            weights[i] = dense.quantize(qtype);
            if (weights[i].dType() != qtype) {
                throw new IllegalStateException("Jlama quantized to " + weights[i].dType() + ", not " + qtype);
            }
            if (i == 0) {
                check(w); // before the other matrices are made: q8_0 stops here
            }
        }
        next = 0;
    }

    /** Jlama's result for {@code weights[0]} against {@code W x} in double from the fp32 weights. */
    private void check(float[] w) {
        try {
            gemv();
        } catch (UnsupportedOperationException e) {
            throw new IllegalStateException("Jlama 0.8.4's " + ops.getClass().getSimpleName() + " has no kernel for "
                    + weights[0].dType() + " weights with I8 (Q8) activations; its batchDotProduct covers F32 x {F32, BF16, Q4},"
                    + " I8 x Q4 and BF16 x BF16, so there is no Jlama number for format=" + format, e);
        }
        float[] xv = QuantizeBench.gaussian(8, k);
        double dot = 0;
        double nr = 0;
        double nj = 0;
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int c = 0; c < k; c++) {
                s += (double) w[r * k + c] * xv[c];
            }
            double j = y.get(0, r);
            dot += s * j;
            nr += s * s;
            nj += j * j;
        }
        double cos = dot / Math.sqrt(nr * nj);
        System.out.printf("Jlama %s GEMV vs dense fp32: cosine similarity %.6f%n", format, cos);
        if (!(cos >= MIN_COSINE)) {
            throw new IllegalStateException(String.format(
                    "Jlama's %s GEMV is wrong: cosine similarity with the dense fp32 product is %.6f, below %.2f",
                    format, cos, MIN_COSINE));
        }
    }

    @Benchmark
    public AbstractTensor gemv() {
        AbstractTensor w = weights[next];
        next = next + 1 == weights.length ? 0 : next + 1;
        try (AbstractTensor xq = ops.quantize(x, DType.I8, 0, k)) {
            if (threads == 1) {
                ops.dotProductChunk(y, xq, w, 0, k, 0, rows);
            } else {
                VectorMath.pchunk(0, rows, (start, size) -> ops.dotProductChunk(y, xq, w, 0, k, start, size));
            }
        }
        return y;
    }
}

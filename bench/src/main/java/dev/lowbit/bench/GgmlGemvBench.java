package dev.lowbit.bench;

import dev.lowbit.testkit.Ggml;
import dev.lowbit.testkit.GgmlMatmul;
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

import java.util.concurrent.TimeUnit;

/**
 * The peer of {@link GemvBench}: the real ggml ({@link Ggml}, the prebuilt libraries of the npm package
 * {@code @node-llama-cpp/linux-x64} 3.22.1, the CPU variant ggml itself would load) computing {@code y = W x} as a
 * one-node {@code MUL_MAT} graph ({@link GgmlMatmul}), on the same shapes, tokens, threads and cold or hot weights,
 * the weights in ggml's plain layout as {@code ggml_quantize_chunk} writes them. ggml quantizes the activations to
 * its format's {@code vec_dot_type} inside each call (Q8_0; Q8_K for the K-quants; Q8_1 for Q5_1), as GemvBench's
 * {@code int8} path does (Q8_0, or Q8_K for the K-quants), and starts its threads in each call
 * ({@code ggml_graph_compute_with_ctx}). Run both in one JMH invocation to compare them:
 * {@code 'GemvBench.gemm$|GgmlGemvBench'}. Without the package ({@code bin/fetch-ggml}) the set-up fails, saying so.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 3, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xms4g", "-Xmx4g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class GgmlGemvBench {
    private static final long COLD_BYTES = 200L << 20;

    @Param({"q8_0", "q4_0", "q4_k", "q6_k", "q5_k", "q3_k", "q2_k", "q5_0", "q5_1", "iq4_nl"})
    public String format;

    @Param({"1", "2"})
    public int threads;

    @Param({"1"})
    public int n;

    @Param({"true", "false"})
    public boolean cold;

    @Param({"4096"})
    public int rows;

    @Param({"4096"})
    public int k;

    private GgmlMatmul[] mats;
    private int next;

    @Setup(Level.Trial)
    public void setup() {
        String why = Ggml.unavailable();
        if (why != null) {
            throw new IllegalStateException(why);
        }
        Ggml g = Ggml.get();
        Ggml.Type type = Ggml.Type.valueOf(format.toUpperCase(java.util.Locale.ROOT));
        long bytes = g.rowSize(type, k) * rows;
        int count = cold ? (int) (COLD_BYTES / bytes + 1) : 1;
        float[] w = QuantizeBench.gaussian(7, rows * k);
        float[] x = QuantizeBench.gaussian(8, n * k);
        mats = new GgmlMatmul[count];
        for (int i = 0; i < count; i++) {
            w[i] += 1f; // each matrix differs from the others in one value, as in GemvBench
            mats[i] = new GgmlMatmul(g, type, g.quantize(type, w, rows, k), rows, k, n, threads);
            mats[i].input(x);
        }
        System.out.println("# ggml " + Ggml.PACKAGE + ", CPU variant " + g.variant() + ", " + count + " matrices");
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        for (GgmlMatmul m : mats) {
            m.close();
        }
    }

    @Benchmark
    public GgmlMatmul gemm() {
        GgmlMatmul m = mats[next];
        next = next + 1 == mats.length ? 0 : next + 1;
        m.compute();
        return m;
    }
}

package dev.lowbit.bench;

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
import java.lang.invoke.MethodHandle;

import java.util.concurrent.TimeUnit;

/**
 * The peer of {@link QuantizeBench}: the real ggml ({@link Ggml}, npm package {@code @node-llama-cpp/linux-x64}
 * 3.22.1) quantizing the same {@code size} fp32 values ({@code size / cols} rows), on one thread as ggml does.
 * {@code chunk} is {@code ggml_quantize_chunk}, the weight quantizer lowbit's bytes are checked against (the
 * reference, scalar C); {@code fromFloat} is the CPU library's {@code from_float}, its SIMD activation quantizer,
 * row by row (Q8_0 ties to even and a reciprocal of its own, so its bytes can differ from the reference's on ties).
 * Native memory in and out. Scores are microseconds per pass; {@link Report} prints GB/s of the fp32 side.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 3, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xms2g", "-Xmx4g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class GgmlQuantizeBench {

    @Param({"q8_0", "q4_0", "q4_k", "q6_k"})
    public String format;

    @Param({"67108864", "65536"})
    public int size;

    @Param({"4096"})
    public int cols;

    private Arena arena;
    private Ggml g;
    private Ggml.Type type;
    private MemorySegment src;
    private MemorySegment dst;
    private MethodHandle fromFloat;
    private long rowBytes;

    @Setup(Level.Trial)
    public void setup() {
        String why = Ggml.unavailable();
        if (why != null) {
            throw new IllegalStateException(why);
        }
        g = Ggml.get();
        type = Ggml.Type.valueOf(format.toUpperCase(java.util.Locale.ROOT));
        arena = Arena.ofShared();
        src = arena.allocate((long) size * 4, 64);
        src.copyFrom(MemorySegment.ofArray(QuantizeBench.gaussian(1, size)));
        rowBytes = g.rowSize(type, cols);
        dst = arena.allocate(rowBytes * (size / cols), 64);
        fromFloat = g.fromFloatHandle(type);
        System.out.println("# ggml " + Ggml.PACKAGE + ", CPU variant " + g.variant());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public MemorySegment chunk() {
        g.quantizeChunk(type, src, dst, size / cols, cols);
        return dst;
    }

    @Benchmark
    public MemorySegment fromFloat() throws Throwable {
        int rows = size / cols;
        for (int r = 0; r < rows; r++) {
            fromFloat.invokeExact(src.asSlice((long) r * cols * 4), dst.asSlice(r * rowBytes), (long) cols);
        }
        return dst;
    }
}

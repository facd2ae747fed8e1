package dev.lowbit.bench;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.gpu.opencl.OpenClKernels;
import dev.lowbit.kernels.gpu.opencl.OpenClMatmulKernels;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.KernelProvider;
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
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * The OpenCL kernels on the device {@code ClContext} picks (a GPU when there is one, else PoCL's CPU device, whose
 * numbers say little about a GPU). {@code gemv}: {@code y = W x} for one token on weights kept on the device
 * ({@code OpenClMatmulKernels.upload}), {@code int8} with the activations quantized to Q8_0 on the host before the
 * call, {@code fp32} the weight-only path; {@code gemvCopy} is the {@code MatmulKernels} path, which copies the
 * weights to the device in every call; {@code quantize} quantizes the {@code rows x k} fp32 matrix (one launch for
 * the ggml formats) and copies it back. Scores are microseconds per call. Setup checks every kernel against the
 * scalar reference first and refuses to run on a mismatch.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 3, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xms2g", "-Xmx2g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class OpenClBench {
    @Param({"q8_0", "q4_0"})
    public String format;

    @Param({"int8", "fp32"})
    public String path;

    @Param({"4096"})
    public int rows;

    @Param({"4096"})
    public int k;

    private OpenClKernels cl;
    private Arena arena;
    private QuantizedTensor weights;
    private PackedWeights packed;
    private OpenClMatmulKernels.DeviceWeights resident;
    private MatmulOps ops;
    private QuantOps quant;
    private float[] w;
    private float[] x;
    private QuantizedActivations xq;
    private float[] y;

    @Setup(Level.Trial)
    public void setup() {
        String why = OpenClKernels.unavailableReason();
        if (why != null) {
            throw new IllegalStateException("OpenCL cannot run here: " + why);
        }
        cl = OpenClKernels.open();
        System.out.println("OpenCL device: " + cl.deviceDescription());
        QuantFormat f = QuantFormat.parse(format);
        arena = Arena.ofShared();
        w = QuantizeBench.gaussian(7, rows * k);
        x = QuantizeBench.gaussian(8, k);
        y = new float[rows];
        weights = QuantOps.get().quantize(f, w, rows, k, arena);
        packed = PackedWeights.of(weights);
        ops = new MatmulOps(cl.matmul(), KernelProvider.kernels(), ThreadPool.callerThread());
        MatmulChecks.sameAsScalar(ops, weights, x, 1, path.equals("int8"));
        xq = ops.quantizeActivations(x, 1, k, ActivationFormat.Q8_0);
        resident = cl.matmul().upload(weights);
        float[] a = new float[rows];
        if (path.equals("int8")) {
            ops.gemm(packed, xq, a);
        } else {
            ops.gemm(packed, x, 1, a);
        }
        if (!Arrays.equals(a, gemv())) {
            throw new IllegalStateException("resident weights give another result than the per-call path");
        }
        if (cl.quantUnavailableReason() == null) {
            quant = new QuantOps(cl.quant(), ThreadPool.callerThread());
            Checks.sameAsScalar(quant, f, w, rows, k);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        resident.close();
        cl.close();
        arena.close();
    }

    @Benchmark
    public float[] gemv() {
        if (path.equals("int8")) {
            cl.matmul().gemv(resident, xq, y);
        } else {
            cl.matmul().gemv(resident, x, 1, y);
        }
        return y;
    }

    @Benchmark
    public float[] gemvCopy() {
        if (path.equals("int8")) {
            ops.gemm(packed, xq, y);
        } else {
            ops.gemm(packed, x, 1, y);
        }
        return y;
    }

    @Benchmark
    public byte quantize() {
        if (quant == null) {
            throw new IllegalStateException(cl.quantUnavailableReason());
        }
        try (Arena a = Arena.ofConfined()) {
            QuantizedTensor q = quant.quantize(QuantFormat.parse(format), w, rows, k, a);
            return q.data().get(ValueLayout.JAVA_BYTE, q.data().byteSize() - 1);
        }
    }
}

package dev.lowbit.kernels.gpu.opencl;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.MatmulKernels;
import dev.lowbit.kernels.MatmulOps;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.QuantizedActivations;
import dev.lowbit.kernels.ThreadPool;
import dev.lowbit.kernels.PackedWeights;
import dev.lowbit.testkit.Activations;
import dev.lowbit.testkit.Bounds;
import dev.lowbit.testkit.Inputs;
import dev.lowbit.testkit.MatmulTester;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The OpenCL GEMV family against the scalar reference on the CPU and against an exact recomputation in double
 * (the test kit's {@link Bounds}): integer block sums bit for bit, fp32 results within the rounding
 * their order allows. The kernels sum each block of 32 in column order, blocks per lane, and the 32 lanes in a
 * tree: at most {@code 32 + ceil(k / 1024) + 5} roundings deep against the reference's {@code 32 + k / 32}.
 */
class OpenClMatmulTest {
    private static final int[] K = MatmulTester.K;

    private static OpenClKernels cl;
    private static MatmulOps gpu;
    private static final MatmulOps CPU = ops(KernelProvider.scalarMatmul());
    private static final QuantOps QUANT = new QuantOps(KernelProvider.scalar(), ThreadPool.callerThread());

    @BeforeAll
    static void open() {
        cl = TestInputs.openIfAvailable();
        if (cl != null) {
            gpu = ops(cl.matmul());
        }
    }

    @BeforeEach
    void assumeDevice() {
        TestInputs.assumeDevice();
    }

    @AfterAll
    static void close() {
        if (cl != null) {
            cl.close();
        }
    }

    static MatmulOps ops(MatmulKernels k) {
        return new MatmulOps(k, KernelProvider.scalar(), ThreadPool.callerThread());
    }

    static List<QuantFormat> intFormats() {
        return TestInputs.intFormats();
    }

    static List<QuantFormat> allFormats() {
        return TestInputs.allFormats();
    }

    static QuantizedTensor weights(QuantFormat f, int rows, int k, long seed, boolean outliers, Arena arena) {
        return Inputs.weights(Inputs::normal, QUANT::quantize, f, rows, k, seed, outliers, arena);
    }

    static Activations view(QuantizedActivations x) {
        return new Activations(x.format() == ActivationFormat.PER_TOKEN_INT8, x.n(), x.k(), x.codes(), x.scales());
    }

    static QuantizedActivations of(Activations x) {
        return new QuantizedActivations(x.perToken() ? ActivationFormat.PER_TOKEN_INT8 : ActivationFormat.Q8_0, x.n(),
                x.k(), x.codes(), x.scales());
    }

    /** The kit's tester on the reference's weights and activations, {@link TestInputs#gaussian} values. */
    static MatmulTester tester() {
        return new MatmulTester("opencl").values(Inputs::normal).weights(QUANT::quantize)
                .activations((x, n, k, kind) -> view(CPU.quantizeActivations(x, n, k,
                        ActivationFormat.valueOf(kind.name()))));
    }

    /** Within the bound of {@link Bounds#checkAgainstExact} (its lanes' tree included) on every row length. */
    @ParameterizedTest
    @MethodSource("intFormats")
    void integerPathWithinTheBoundOfItsOrder(QuantFormat f) {
        tester().format(f).k(K).rows(1, 3, 17).tokens(1, 2, 5)
                .testInt8(null, (w, x, y) -> gpu.gemm(PackedWeights.of(w), of(x), y), MatmulTester.Check.BOUND);
    }

    /**
     * With unit scales every partial sum is an integer, so any order of additions is exact: the device must then
     * equal the reference bit for bit, codes and activations over their full ranges. The block sums themselves are
     * compared with sums recomputed on the host.
     */
    @ParameterizedTest
    @MethodSource("intFormats")
    void integerSumsAreExact(QuantFormat f) {
        tester().format(f).k(31, 32, 97, 300, 1000).rows(6).tokens(4).kinds(Activations.Kind.Q8_0)
                .also(OpenClMatmulTest::blockSumsAreExact).testExactSums(int8(CPU), int8(gpu), MatmulTester.Check.VALUES);
    }

    /** The device's block sums of {@code x} against {@code w}: the sums recomputed on the host. */
    static void blockSumsAreExact(QuantizedTensor w, Activations x, String what) {
        int rows = w.rows();
        int k = x.k();
        int n = x.n();
        int pk = x.paddedK();
        byte[] xc = x.codes();
        int[] sums = cl.matmul().blockSums(w, of(x));
        int nb = (k + 31) / 32;
        for (int t = 0; t < n; t++) {
            for (int r = 0; r < rows; r++) {
                for (int blk = 0; blk < nb; blk++) {
                    long isum = 0;
                    long xsum = 0;
                    for (int c = blk * 32; c < blk * 32 + 32; c++) {
                        int xv = xc[t * pk + c];
                        xsum += xv;
                        if (c < k) {
                            isum += (long) signedCode(w, r, c) * xv;
                        }
                    }
                    int at = 2 * ((t * rows + r) * nb + blk);
                    if (sums[at] != isum || sums[at + 1] != xsum) {
                        fail(what + ": token " + t + " row " + r + " block " + blk + ": sums (" + sums[at] + ", "
                                + sums[at + 1] + "), exact (" + isum + ", " + xsum + ")");
                    }
                }
            }
        }
    }

    static MatmulTester.Int8Gemm int8(MatmulOps ops) {
        return (w, x, y) -> ops.gemm(PackedWeights.of(w), of(x), y);
    }

    /** The code the integer path multiplies: centred where the zero point is a constant, as WeightRows.codes. */
    static int signedCode(QuantizedTensor w, int r, int c) {
        QuantFormat f = w.format();
        int q = Reference.code(w, r, c);
        return switch (f.kind()) {
            case Q4_0 -> q - 8;
            case GROUPED -> f.symmetric() ? q - (1 << (f.bits() - 1)) : q - OpenClMatmulKernels.codeOffset(f);
            default -> q;
        };
    }

    /**
     * Every weight code at Q8_0's, Q4_0's and 8-bit grouped's extremes and every activation code at -128 or 127,
     * over k = 4096: each block sums 32 * 16384 = 524288 in magnitude, and the row 128 such blocks.
     */
    @Test
    void largestMagnitudesDoNotOverflow() {
        tester().formats(List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.grouped(8, 128, true, ScaleType.F32)))
                .k(4096).rows(2).tokens(1).kinds(Activations.Kind.Q8_0).testExtremes(int8(CPU), int8(gpu));
    }

    /**
     * The weight-only path within {@link Bounds#checkFp32AgainstExact}: the lanes' tree adds 5 levels, inside the
     * (k + 4) allowed for every k >= 1.
     */
    @ParameterizedTest
    @MethodSource("allFormats")
    void fp32PathWithinTheReorderingBound(QuantFormat f) {
        tester().format(f).k(K).rows(1, 5).tokens(2).weightSeed((k, rows) -> k + rows).inputSeed((k, n) -> k + 7)
                .testF32(null, (w, x, n, y) -> gpu.gemm(PackedWeights.of(w), x, n, y), MatmulTester.Check.BOUND);
    }

    /**
     * Each element of y is computed the same way whatever rows and tokens a call covers: tiles of the matrix, at
     * offsets and with a leading dimension, give the bits of the whole call.
     */
    @Test
    void tilesGiveTheBitsOfTheWholeCall() {
        int rows = 23;
        int k = 200;
        int n = 5;
        try (Arena arena = Arena.ofConfined()) {
            for (QuantFormat f : List.of(QuantFormat.Q4_0, QuantFormat.grouped(4, 64, false, ScaleType.F16),
                    QuantFormat.codebook4(QuantFormat.ROW, ScaleType.F32))) {
                QuantizedTensor w = weights(f, rows, k, 99, true, arena);
                float[] x = TestInputs.gaussian(5, n * k);
                float[] whole = new float[n * rows];
                float[] tiled = new float[n * rows];
                MatmulKernels m = cl.matmul();
                m.gemmF32(w, x, 0, rows, 0, n, whole, rows);
                for (int[] tile : new int[][] {{0, 7, 0, 2}, {7, 23, 0, 2}, {0, 11, 2, 5}, {11, 23, 2, 5}}) {
                    m.gemmF32(w, x, tile[0], tile[1], tile[2], tile[3], tiled, rows);
                }
                assertEquals(Arrays.toString(whole), Arrays.toString(tiled), f + " fp32 path");
                if (OpenClMatmulKernels.intPath(f)) {
                    QuantizedActivations xa = CPU.quantizeActivations(x, n, k, ActivationFormat.Q8_0);
                    m.gemmInt8(w, xa, 0, rows, 0, n, whole, rows);
                    Arrays.fill(tiled, Float.NaN);
                    for (int[] tile : new int[][] {{0, 16, 0, 5}, {16, 23, 0, 3}, {16, 23, 3, 5}}) {
                        m.gemmInt8(w, xa, tile[0], tile[1], tile[2], tile[3], tiled, rows);
                    }
                    assertEquals(Arrays.toString(whole), Arrays.toString(tiled), f + " integer path");
                }
            }
        }
    }

    /** Resident weights give the bits of the per-call path, and their buffers are released on close. */
    @Test
    void residentWeightsGiveTheBitsOfThePerCallPath() {
        int rows = 37;
        int k = 321;
        int n = 3;
        int base = cl.liveObjects();
        try (Arena arena = Arena.ofConfined()) {
            for (QuantFormat f : List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1,
                    QuantFormat.grouped(3, 32, false, ScaleType.F16), QuantFormat.codebook4(64, ScaleType.F16))) {
                QuantizedTensor w = weights(f, rows, k, 17, true, arena);
                float[] x = TestInputs.gaussian(3, n * k);
                float[] a = new float[n * rows];
                float[] b = new float[n * rows];
                try (OpenClMatmulKernels.DeviceWeights dw = cl.matmul().upload(w)) {
                    gpu.gemm(PackedWeights.of(w), x, n, a);
                    cl.matmul().gemv(dw, x, n, b);
                    assertEquals(Arrays.toString(a), Arrays.toString(b), f + " fp32 path");
                    if (OpenClMatmulKernels.intPath(f)) {
                        QuantizedActivations xa = CPU.quantizeActivations(x, n, k, ActivationFormat.Q8_0);
                        gpu.gemm(PackedWeights.of(w), xa, a);
                        cl.matmul().gemv(dw, xa, b);
                        assertEquals(Arrays.toString(a), Arrays.toString(b), f + " integer path");
                    }
                }
            }
        }
        assertEquals(base, cl.liveObjects());
    }

    /** Activations quantized on the device (MatmulOps over the OpenCL quantize kernels) are the reference's. */
    @Test
    void activationsQuantizedOnTheDeviceAreTheReferences() {
        org.junit.jupiter.api.Assumptions.assumeTrue(cl.quantUnavailableReason() == null,
                () -> "skipped: " + cl.quantUnavailableReason());
        MatmulOps device = new MatmulOps(cl.matmul(), cl.quant(), ThreadPool.callerThread());
        for (int k : new int[] {1, 31, 32, 33, 300}) {
            int n = 3;
            float[] x = TestInputs.tricky(k, n * k);
            for (ActivationFormat af : new ActivationFormat[] {ActivationFormat.Q8_0, ActivationFormat.PER_TOKEN_INT8}) {
                // (Q8_K, the K-quants' activations, is not a GPU format: the kernels refuse it)
                QuantizedActivations a = CPU.quantizeActivations(x, n, k, af);
                QuantizedActivations b = device.quantizeActivations(x, n, k, af);
                assertEquals(Arrays.toString(a.codes()), Arrays.toString(b.codes()), af + " codes k=" + k);
                assertEquals(Arrays.toString(a.scales()), Arrays.toString(b.scales()), af + " scales k=" + k);
            }
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> device.quantizeActivations(new float[256], 1, 256, ActivationFormat.Q8_K));
        assertEquals("the OpenCL kernels take Q8_0, Q4_0, Q4_1, grouped and codebook formats, not q8_k", e.getMessage());
    }

    @Test
    void everyHandleIsReleased() {
        int base = cl.liveObjects();
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor w = weights(QuantFormat.Q8_0, 9, 64, 1, true, arena);
            float[] x = TestInputs.gaussian(2, 64);
            for (int i = 0; i < 500; i++) {
                gpu.gemm(PackedWeights.of(w), x, 1, new float[9]);
                gpu.gemm(PackedWeights.of(w), x, 1, new float[9], ActivationFormat.Q8_0);
            }
        }
        assertEquals(base, cl.liveObjects());
    }
}

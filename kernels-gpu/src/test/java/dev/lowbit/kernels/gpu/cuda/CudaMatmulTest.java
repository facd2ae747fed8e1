package dev.lowbit.kernels.gpu.cuda;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.bindings.cuda.CublasLt;
import dev.lowbit.bindings.cuda.DeviceMemory;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.MatmulOps;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.QuantizedActivations;
import dev.lowbit.kernels.ThreadPool;
import dev.lowbit.kernels.PackedWeights;
import dev.lowbit.testkit.Activations;
import dev.lowbit.testkit.Formats;
import dev.lowbit.testkit.MatmulTester;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The GPU matrix products against the scalar reference: integer sums bit for bit, float results within the bound
 * that summing in another order allows ({@link GpuTest#bound}).
 */
class CudaMatmulTest extends GpuTest {
    private static final QuantOps SCALAR = new QuantOps(KernelProvider.scalar(), ThreadPool.callerThread());
    private static final MatmulOps SCALAR_MM = new MatmulOps(KernelProvider.scalarMatmul(), KernelProvider.scalar(),
            ThreadPool.callerThread());

    /** sum_c |W[r][c] * x[t][c]| for every (t, r), with W dequantized (outliers included). */
    private static double[] magnitudes(QuantizedTensor w, float[] x, int n) {
        int rows = w.rows();
        int k = w.cols();
        float[] dw = new float[rows * k];
        SCALAR.dequantize(w, dw);
        double[] out = new double[n * rows];
        for (int t = 0; t < n; t++) {
            for (int r = 0; r < rows; r++) {
                double s = 0;
                for (int c = 0; c < k; c++) {
                    s += Math.abs((double) dw[r * k + c] * x[t * k + c]);
                }
                out[t * rows + r] = s;
            }
        }
        return out;
    }

    private static void assertClose(float[] want, float[] got, double[] mags, int k, String what) {
        assertEquals(want.length, got.length);
        for (int i = 0; i < want.length; i++) {
            float b = bound(mags[i], k);
            assertTrue(Math.abs(want[i] - got[i]) <= b, what + ": element " + i + " is " + got[i] + ", the reference "
                    + want[i] + " (bound " + b + ")");
        }
    }

    /** The kit's tester on the reference's weights and activations, every result within {@link GpuTest#bound}. */
    private static MatmulTester tester() {
        return new MatmulTester("cuda").weights(SCALAR::quantize)
                .activations((x, n, k, kind) -> {
                    QuantizedActivations a = SCALAR_MM.quantizeActivations(x, n, k, ActivationFormat.valueOf(kind.name()));
                    return new Activations(a.format() == ActivationFormat.PER_TOKEN_INT8, a.n(), a.k(), a.codes(),
                            a.scales());
                })
                .compare((w, x, n, want, got, what) -> assertClose(want, got, magnitudes(w, x, n), w.cols(), what));
    }

    /** The weight-only path over the kit's sweep: every format, every row length of {@link MatmulTester#K}. */
    @Test
    void weightOnlyPathOverTheKitsSweep() {
        MatmulOps gpu = new MatmulOps(new CudaMatmulKernels(rt), KernelProvider.scalar(), ThreadPool.callerThread());
        tester().formats(Formats.all()).testF32((w, x, n, y) -> SCALAR_MM.gemm(PackedWeights.of(w), x, n, y),
                (w, x, n, y) -> gpu.gemm(PackedWeights.of(w), x, n, y), MatmulTester.Check.NONE);
    }

    /** The integer path over the kit's sweep: every format it takes, both kinds of activations. */
    @Test
    void integerPathOverTheKitsSweep() {
        MatmulOps gpu = new MatmulOps(new CudaMatmulKernels(rt), KernelProvider.scalar(), ThreadPool.callerThread());
        tester().formats(Formats.integerPath()).testInt8(
                (w, x, y) -> SCALAR_MM.gemm(PackedWeights.of(w), of(x), y),
                (w, x, y) -> gpu.gemm(PackedWeights.of(w), of(x), y), MatmulTester.Check.NONE);
    }

    private static QuantizedActivations of(Activations x) {
        return new QuantizedActivations(x.perToken() ? ActivationFormat.PER_TOKEN_INT8 : ActivationFormat.Q8_0, x.n(),
                x.k(), x.codes(), x.scales());
    }

    static Stream<Arguments> matmulCases() {
        List<Arguments> out = new ArrayList<>();
        List<QuantFormat> formats = List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1,
                QuantFormat.grouped(4, 32, true, ScaleType.F16), QuantFormat.grouped(4, 128, false, ScaleType.F32),
                QuantFormat.grouped(8, QuantFormat.ROW, true, ScaleType.F32), QuantFormat.grouped(8, 64, false, ScaleType.F16),
                QuantFormat.grouped(3, 64, true, ScaleType.F16), QuantFormat.grouped(2, 32, false, ScaleType.F32),
                QuantFormat.codebook4(64, ScaleType.F16), QuantFormat.codebook4(QuantFormat.ROW, ScaleType.F32));
        for (QuantFormat f : formats) {
            for (int[] s : new int[][] {{7, 33, 1}, {40, 256, 3}, {33, 1000, 5}, {64, 4096, 16}}) {
                out.add(Arguments.of(f, s[0], s[1], s[2]));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}x{2}, n={3}")
    @MethodSource("matmulCases")
    void weightOnlyPathWithOutliers(QuantFormat f, int rows, int k, int n) {
        float[] w = TestData.matrix(rows, k, rows * 7L + k);
        float[] x = TestData.matrix(n, k, n * 3L + k);
        try (Arena arena = Arena.ofConfined()) {
            float[] dense = w.clone();
            SparseOutliers o = SparseOutliers.extract(dense, rows, k, 3f, arena);
            QuantizedTensor q = SCALAR.quantize(f, dense, rows, k, arena).withOutliers(o);
            float[] want = new float[n * rows];
            SCALAR_MM.gemm(PackedWeights.of(q), x, n, want);
            float[] got = new float[n * rows];
            new MatmulOps(new CudaMatmulKernels(rt), KernelProvider.scalar(), ThreadPool.callerThread())
                    .gemm(PackedWeights.of(q), x, n, got);
            assertClose(want, got, magnitudes(q, x, n), k, f + " fp32 path");
        }
    }

    @ParameterizedTest(name = "{0} {1}x{2}, n={3}")
    @MethodSource("matmulCases")
    void integerPathWithOutliers(QuantFormat f, int rows, int k, int n) {
        assumeTrue(f.kind() != QuantFormat.Kind.CODEBOOK4 && (f.kind() != QuantFormat.Kind.GROUPED || f.bits() == 8
                || f.bits() == 4), "the integer path does not take " + f);
        float[] w = TestData.matrix(rows, k, rows * 5L + k);
        float[] x = TestData.matrix(n, k, n * 11L + k);
        for (ActivationFormat af : new ActivationFormat[] {ActivationFormat.Q8_0, ActivationFormat.PER_TOKEN_INT8}) {
            try (Arena arena = Arena.ofConfined()) {
                float[] dense = w.clone();
                SparseOutliers o = SparseOutliers.extract(dense, rows, k, 3f, arena);
                QuantizedTensor q = SCALAR.quantize(f, dense, rows, k, arena).withOutliers(o);
                QuantizedActivations a = SCALAR_MM.quantizeActivations(x, n, k, af);
                float[] want = new float[n * rows];
                SCALAR_MM.gemm(PackedWeights.of(q), a, want);
                float[] got = new float[n * rows];
                new MatmulOps(new CudaMatmulKernels(rt), KernelProvider.scalar(), ThreadPool.callerThread())
                        .gemm(PackedWeights.of(q), a, got);
                float[] xq = dequantized(a);
                assertClose(want, got, magnitudes(q, xq, n), k, f + " integer path, " + af);
            }
        }
    }

    private static float[] dequantized(QuantizedActivations a) {
        float[] out = new float[a.n() * a.k()];
        for (int t = 0; t < a.n(); t++) {
            for (int c = 0; c < a.k(); c++) {
                out[t * a.k() + c] = a.codes()[t * a.paddedK() + c] * a.scale(t, c / 32);
            }
        }
        return out;
    }

    /** cuBLASLt's int32 products are exact; the epilogue scales them as the per-channel reference does. */
    @Test
    void cublasLtInt8GemmIsExactInItsIntegerPart() {
        assumeTrue(CublasLt.available(), () -> "cuBLASLt is unavailable: " + CublasLt.unavailableReason());
        int rows = 256;
        int k = 512;
        QuantFormat f = QuantFormat.grouped(8, QuantFormat.ROW, true, ScaleType.F32);
        for (int n : new int[] {1, 16, 33}) {
            float[] w = TestData.matrix(rows, k, 21);
            float[] x = TestData.matrix(n, k, 22 + n);
            CudaMatmul mm = new CudaMatmul(rt);
            CudaQuant cq = new CudaQuant(rt);
            try (Arena arena = Arena.ofConfined();
                 CublasLt lt = CublasLt.create(rt.device());
                 DeviceMemory dx = rt.upload(x, 0, x.length)) {
                QuantizedTensor q = SCALAR.quantize(f, w, rows, k, arena);
                try (DeviceTensor dw = DeviceTensor.upload(rt, q);
                     CudaMatmul.Int8Weights iw = mm.int8Weights(dw);
                     CudaQuant.DeviceActivations a = cq.quantizeActivations(dx, n, k, ActivationFormat.PER_TOKEN_INT8);
                     DeviceMemory c = rt.allocate(4L * rows * n);
                     DeviceMemory y = rt.allocate(4L * rows * n)) {
                    mm.int8Gemm(lt, iw, a, c, y, rows);
                    int[] gotC = new int[rows * n];
                    rt.download(c, MemorySegment.ofArray(gotC));
                    QuantizedActivations ha = SCALAR_MM.quantizeActivations(x, n, k, ActivationFormat.PER_TOKEN_INT8);
                    for (int t = 0; t < n; t++) {
                        for (int r = 0; r < rows; r++) {
                            int s = 0;
                            for (int i = 0; i < k; i++) {
                                s += (Reference.code(q, r, i) - 128) * ha.codes()[t * ha.paddedK() + i];
                            }
                            assertEquals(s, gotC[t * rows + r], "C[" + t + "][" + r + "] for n=" + n);
                        }
                    }
                    float[] want = new float[n * rows];
                    SCALAR_MM.gemm(PackedWeights.of(q), ha, want);
                    assertClose(want, rt.downloadFloats(y, n * rows), magnitudes(q, dequantized(ha), n), k,
                            "cuBLASLt int8, n=" + n);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(CudaMatmul.HalfType.class)
    void w4a16MatchesTheReferenceOnRoundedActivations(CudaMatmul.HalfType type) {
        List<QuantFormat> formats = List.of(QuantFormat.Q4_0, QuantFormat.grouped(4, 128, true, ScaleType.F16),
                QuantFormat.grouped(4, 64, false, ScaleType.F32), QuantFormat.grouped(4, QuantFormat.ROW, false, ScaleType.F16));
        for (QuantFormat f : formats) {
            for (int[] s : new int[][] {{16, 64, 1}, {48, 256, 5}, {128, 1024, 16}, {64, 512, 33}}) {
                int rows = s[0];
                int k = s[1];
                int n = s[2];
                if (k % f.groupLength(k) != 0) {
                    continue; // W4A16 takes whole groups only
                }
                float[] w = TestData.matrix(rows, k, rows + k);
                float[] x = TestData.matrix(n, k, n + k + 1);
                float[] xr = new float[x.length];
                short[] bits = new short[x.length];
                for (int i = 0; i < x.length; i++) {
                    float v = Math.max(-60000f, Math.min(60000f, x[i]));
                    bits[i] = type == CudaMatmul.HalfType.F16 ? Float.floatToFloat16(v) : TestData.bf16Bits(v);
                    xr[i] = type == CudaMatmul.HalfType.F16 ? Float.float16ToFloat(bits[i])
                            : Float.intBitsToFloat((bits[i] & 0xFFFF) << 16);
                }
                try (Arena arena = Arena.ofConfined()) {
                    QuantizedTensor q = SCALAR.quantize(f, w, rows, k, arena);
                    float[] want = new float[n * rows];
                    SCALAR_MM.gemm(PackedWeights.of(q), xr, n, want);
                    try (W4A16Weights.OnDevice dw = W4A16Weights.of(q).upload(rt);
                         DeviceMemory dx = rt.upload(MemorySegment.ofArray(bits));
                         DeviceMemory y = rt.allocate(4L * n * rows)) {
                        new CudaMatmul(rt).w4a16(dw, dx, type, n, y, rows);
                        assertClose(want, rt.downloadFloats(y, n * rows), magnitudes(q, xr, n), k,
                                "W4A16 " + type + " " + f + " " + rows + "x" + k + " n=" + n);
                    }
                }
            }
        }
    }

    @Test
    void operandsAreCheckedBeforeLaunch() {
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor q = SCALAR.quantize(QuantFormat.Q8_0, TestData.matrix(8, 64, 1), 8, 64, arena);
            try (DeviceTensor dw = DeviceTensor.upload(rt, q);
                 DeviceMemory x = rt.allocate(4L * 64);
                 DeviceMemory y = rt.allocate(4L * 8)) {
                CudaMatmul mm = new CudaMatmul(rt);
                assertThrows(IllegalArgumentException.class, () -> mm.gemmF32(dw, x, 2, y, 8));
                assertThrows(IllegalArgumentException.class, () -> mm.gemmF32(dw, x, 1, y, 7));
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> mm.int8Weights(dw));
                assertTrue(e.getMessage().contains("per-channel int8"), e.getMessage());
            }
        }
    }
}

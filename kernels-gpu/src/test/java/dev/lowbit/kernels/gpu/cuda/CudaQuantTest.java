package dev.lowbit.kernels.gpu.cuda;

import dev.lowbit.format.Codebooks;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.bindings.cuda.DeviceMemory;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.MatmulOps;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.QuantOptions;
import dev.lowbit.kernels.QuantizedActivations;
import dev.lowbit.kernels.ThreadPool;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Quantize, dequantize and activation quantization on the GPU against the scalar reference, bit for bit. */
class CudaQuantTest extends GpuTest {
    private static final QuantOps SCALAR = new QuantOps(KernelProvider.scalar(), ThreadPool.callerThread());
    private static final MatmulOps SCALAR_MM = new MatmulOps(KernelProvider.scalarMatmul(), KernelProvider.scalar(),
            ThreadPool.callerThread());
    /**
     * Shapes that reach every tail (one column, a block minus and plus one, primes, a row longer than 128) and whole
     * groups of every size (128, 384: the four-elements-per-lane kernel), and whole rows beyond the one-pass kernel's
     * 16384 (the two-pass kernels).
     */
    private static final int[][] SHAPES = {{1, 1}, {3, 31}, {8, 33}, {9, 100}, {16, 257}, {5, 1000}, {2, 128},
        {7, 384}, {2, 16384}, {2, 16385}};

    static Stream<Arguments> formatsAndShapes() {
        List<Arguments> out = new ArrayList<>();
        for (QuantFormat f : TestData.allFormats()) {
            for (int[] s : SHAPES) {
                out.add(Arguments.of(f, s[0], s[1]));
            }
        }
        return out.stream();
    }

    private static float[] levels(QuantFormat f) {
        return f.kind() == QuantFormat.Kind.CODEBOOK4 ? Codebooks.nf4() : null;
    }

    private static byte[] bytes(MemorySegment s) {
        return s == null ? null : s.toArray(ValueLayout.JAVA_BYTE);
    }

    @ParameterizedTest(name = "{0} {1}x{2}")
    @MethodSource("formatsAndShapes")
    void quantizeMatchesTheReference(QuantFormat f, int rows, int cols) {
        long seed = 31L * rows + cols + f.name().hashCode();
        float[] x = TestData.matrix(rows, cols, seed);
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor want = SCALAR.quantize(f, x, rows, cols, arena, QuantOptions.DEFAULT); // NF4 levels
            QuantizedTensor got = new CudaQuant(rt).quantize(f, x, rows, cols, levels(f), arena);
            String where = f + " " + rows + "x" + cols + " seed " + seed;
            assertArrayEquals(bytes(want.data()), bytes(got.data()), "data of " + where);
            assertArrayEquals(bytes(want.scales()), bytes(got.scales()), "scales of " + where);
            assertArrayEquals(bytes(want.zeros()), bytes(got.zeros()), "zeros of " + where);
        }
    }

    @ParameterizedTest(name = "{0} {1}x{2}")
    @MethodSource("formatsAndShapes")
    void dequantizeMatchesTheReferenceWithOutliers(QuantFormat f, int rows, int cols) {
        long seed = 17L * rows + cols + f.name().hashCode();
        float[] x = TestData.matrix(rows, cols, seed);
        try (Arena arena = Arena.ofConfined()) {
            float[] dense = x.clone();
            SparseOutliers o = SparseOutliers.extract(dense, rows, cols, 2.5f, arena);
            QuantizedTensor t = SCALAR.quantize(f, dense, rows, cols, arena).withOutliers(o);
            float[] want = new float[rows * cols];
            SCALAR.dequantize(t, want);
            float[] got = new float[rows * cols];
            new CudaQuant(rt).dequantize(t, got);
            for (int i = 0; i < want.length; i++) {
                assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]),
                        "element " + i + " of " + f + " " + rows + "x" + cols + " seed " + seed);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("activationShapes")
    void activationsMatchTheReference(ActivationFormat format, int n, int k) {
        float[] x = TestData.matrix(n, k, 1000L * n + k);
        QuantizedActivations want = SCALAR_MM.quantizeActivations(x, n, k, format);
        QuantizedActivations got = new CudaQuant(rt).quantizeActivations(x, n, k, format);
        assertArrayEquals(want.codes(), got.codes(), format + " codes " + n + "x" + k);
        assertArrayEquals(want.scales(), got.scales(), format + " scales " + n + "x" + k);
    }

    static Stream<Arguments> activationShapes() {
        List<Arguments> out = new ArrayList<>();
        for (ActivationFormat f : new ActivationFormat[] {ActivationFormat.Q8_0, ActivationFormat.PER_TOKEN_INT8}) {
            for (int[] s : new int[][] {{1, 1}, {3, 31}, {8, 33}, {2, 4096}, {17, 1000}}) {
                out.add(Arguments.of(f, s[0], s[1]));
            }
        }
        return out.stream();
    }

    @Test
    void nonFiniteValuesAreNamed() {
        float[] x = TestData.matrix(4, 100, 3);
        x[2 * 100 + 41] = Float.NaN;
        x[3 * 100 + 7] = Float.POSITIVE_INFINITY;
        CudaQuant q = new CudaQuant(rt);
        for (QuantFormat f : List.of(QuantFormat.Q8_0, QuantFormat.grouped(4, QuantFormat.ROW, true, ScaleType.F16))) {
            try (Arena arena = Arena.ofConfined()) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> q.quantize(f, x, 4, 100, null, arena));
                assertTrue(e.getMessage().contains("index 241 (row 2, column 41)"), e.getMessage());
            }
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> q.quantizeActivations(x, 4, 100, ActivationFormat.PER_TOKEN_INT8));
        assertTrue(e.getMessage().contains("index 241"), e.getMessage());
    }

    @Test
    void scalesBeyondFp16AreRefusedWithTheRow() {
        float[] x = new float[3 * 64];
        x[64 + 5] = 1e7f;
        try (Arena arena = Arena.ofConfined()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new CudaQuant(rt).quantize(QuantFormat.Q8_0, x, 3, 64, null, arena));
            assertTrue(e.getMessage().startsWith("row 1:"), e.getMessage());
        }
    }

    @Test
    void theKernelInterfaceAdapterMatchesScalar() {
        QuantOps gpu = new QuantOps(new CudaQuantKernels(rt), ThreadPool.callerThread());
        for (QuantFormat f : List.of(QuantFormat.Q4_0, QuantFormat.Q8_0, QuantFormat.grouped(3, 64, false, ScaleType.F16),
                QuantFormat.codebook4(QuantFormat.ROW, ScaleType.F32))) {
            float[] x = TestData.matrix(12, 70, 5);
            try (Arena arena = Arena.ofConfined()) {
                QuantizedTensor want = SCALAR.quantize(f, x, 12, 70, arena);
                QuantizedTensor got = gpu.quantize(f, x, 12, 70, arena);
                assertArrayEquals(bytes(want.data()), bytes(got.data()), f.name());
                assertArrayEquals(bytes(want.scales()), bytes(got.scales()), f.name());
                float[] a = new float[12 * 70];
                float[] b = new float[12 * 70];
                SCALAR.dequantize(want, a);
                gpu.dequantize(got, b);
                assertArrayEquals(a, b, f.name());
            }
        }
    }

    @Test
    void theAdapterReportsUnstorableScalesAsTheReferenceDoes() {
        QuantOps gpu = new QuantOps(new CudaQuantKernels(rt), ThreadPool.callerThread());
        float[] x = TestData.matrix(4, 64, 8);
        x[2 * 64 + 9] = 3e9f;
        for (QuantFormat f : List.of(QuantFormat.Q8_0, QuantFormat.grouped(4, 32, false, ScaleType.F16))) {
            try (Arena arena = Arena.ofConfined()) {
                String want = assertThrows(IllegalArgumentException.class,
                        () -> SCALAR.quantize(f, x, 4, 64, arena)).getMessage();
                String got = assertThrows(IllegalArgumentException.class,
                        () -> gpu.quantize(f, x, 4, 64, arena)).getMessage();
                assertEquals(want, got, f.name());
                assertTrue(got.contains("row 2"), got);
            }
        }
    }

    @Test
    void deviceResidentRoundTrip() {
        int rows = 64;
        int cols = 4096;
        float[] x = TestData.matrix(rows, cols, 99);
        CudaQuant q = new CudaQuant(rt);
        try (DeviceMemory src = rt.upload(x, 0, x.length);
             DeviceTensor t = q.quantize(QuantFormat.Q4_0, src, rows, cols, null);
             DeviceMemory back = rt.allocate(4L * rows * cols);
             Arena arena = Arena.ofConfined()) {
            q.dequantize(t, back);
            float[] got = rt.downloadFloats(back, rows * cols);
            float[] want = new float[rows * cols];
            SCALAR.dequantize(SCALAR.quantize(QuantFormat.Q4_0, x, rows, cols, arena), want);
            assertArrayEquals(want, got);
        }
    }
}

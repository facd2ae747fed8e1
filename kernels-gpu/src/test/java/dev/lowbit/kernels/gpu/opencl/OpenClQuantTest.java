package dev.lowbit.kernels.gpu.opencl;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.NonFinitePolicy;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.QuantOptions;
import dev.lowbit.kernels.ThreadPool;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The OpenCL quantize family against the scalar reference on the CPU, bit for bit: the codes, every byte of every
 * plane, the dequantized values, the group statistics, and the errors (non-finite values, scales out of range).
 */
class OpenClQuantTest {
    private static OpenClKernels cl;
    private static QuantOps gpu;
    private static final QuantOps CPU = new QuantOps(KernelProvider.scalar(), ThreadPool.callerThread());

    @BeforeAll
    static void open() {
        cl = TestInputs.openIfAvailable();
        if (cl != null && cl.quantUnavailableReason() == null) {
            gpu = new QuantOps(cl.quant(), ThreadPool.callerThread());
        }
    }

    @BeforeEach
    void assumeDevice() {
        TestInputs.assumeDevice();
        String why = cl.quantUnavailableReason();
        Assumptions.assumeTrue(why == null, () -> "skipped: " + why);
    }

    @AfterAll
    static void close() {
        if (cl != null) {
            cl.close();
        }
    }

    static List<QuantFormat> formats() {
        return TestInputs.allFormats();
    }

    private static final List<BiFunction<Long, Integer, float[]>> INPUTS = List.of(
            TestInputs::gaussian, TestInputs::tricky, TestInputs::magnitudes);

    @ParameterizedTest
    @MethodSource("formats")
    void quantizeEqualsTheReferenceBitForBit(QuantFormat f) {
        int rows = 3;
        try (Arena arena = Arena.ofConfined()) {
            for (int cols : TestInputs.COLS) {
                for (int in = 0; in < INPUTS.size(); in++) {
                    float[] x = INPUTS.get(in).apply(cols * 131L + in, rows * cols);
                    QuantizedTensor want = CPU.quantize(f, x, rows, cols, arena);
                    QuantizedTensor got = gpu.quantize(f, x, rows, cols, arena);
                    String what = f + " cols=" + cols + " input " + in;
                    assertSameCodes(want, got, what);
                    assertSamePlanes(want, got, what);
                    float[] a = new float[rows * cols];
                    float[] b = new float[rows * cols];
                    CPU.dequantize(want, a);
                    gpu.dequantize(want, b);
                    assertSameBits(a, b, "dequantize " + what);
                }
            }
        }
    }

    static void assertSameCodes(QuantizedTensor want, QuantizedTensor got, String what) {
        Reference.Unpacked a = Reference.unpack(want);
        Reference.Unpacked b = Reference.unpack(got);
        for (int i = 0; i < a.codes().length; i++) {
            if (a.codes()[i] != b.codes()[i]) {
                fail(what + ": code of element " + i + " (row " + i / want.cols() + ") is " + b.codes()[i]
                        + ", the reference's " + a.codes()[i]);
            }
        }
        assertSameBits(a.scales(), b.scales(), what + " scales");
        if (a.zeros() != null) {
            assertSameBits(a.zeros(), b.zeros(), what + " zero points");
        }
    }

    static void assertSamePlanes(QuantizedTensor want, QuantizedTensor got, String what) {
        assertSameBytes(want.data(), got.data(), what + " data");
        if (want.scales() != null) {
            assertSameBytes(want.scales(), got.scales(), what + " scales plane");
        }
        if (want.zeros() != null) {
            assertSameBytes(want.zeros(), got.zeros(), what + " zeros plane");
        }
    }

    static void assertSameBytes(MemorySegment a, MemorySegment b, String what) {
        long at = a.mismatch(b);
        if (at >= 0) {
            fail(what + ": byte " + at + " differs: " + (at < b.byteSize() ? b.get(Layouts.U8, at) : "none")
                    + ", the reference's " + (at < a.byteSize() ? a.get(Layouts.U8, at) : "none"));
        }
    }

    static void assertSameBits(float[] a, float[] b, String what) {
        assertEquals(a.length, b.length, what + " length");
        for (int i = 0; i < a.length; i++) {
            if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i])) {
                fail(what + "[" + i + "] is " + b[i] + ", the reference's " + a[i]);
            }
        }
    }

    /** Many rows in one launch (the ggml path) equal the reference too, including fp16 scale edges. */
    @Test
    void ggmlRowRangesInOneLaunch() {
        int rows = 257;
        int cols = 96;
        try (Arena arena = Arena.ofConfined()) {
            for (QuantFormat f : List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1)) {
                float[] x = TestInputs.magnitudes(f.hashCode(), rows * cols);
                // the largest fp16 scales or minimum: Q8_0's 65504 * 127, Q4_0's -8 * 65504, Q4_1's -65504
                x[5] = switch (f.kind()) {
                    case Q8_0 -> 65504f * 127f;
                    case Q4_0 -> -8f * 65504f;
                    default -> -65504f;
                };
                QuantizedTensor want = CPU.quantize(f, x, rows, cols, arena);
                QuantizedTensor got = gpu.quantize(f, x, rows, cols, arena);
                assertSameCodes(want, got, f + " " + rows + "x" + cols);
                assertSamePlanes(want, got, f + " " + rows + "x" + cols);
            }
        }
    }

    /** The whole-matrix entry point (one launch, every format) gives the reference's tensor and errors. */
    @ParameterizedTest
    @MethodSource("formats")
    void wholeMatrixInOneLaunch(QuantFormat f) {
        int rows = 9;
        try (Arena arena = Arena.ofConfined()) {
            for (int cols : new int[] {0, 1, 33, 200, 513}) {
                float[] x = TestInputs.tricky(cols + rows, rows * cols);
                QuantizedTensor want = CPU.quantize(f, x, rows, cols, arena);
                QuantizedTensor got = cl.quant().quantize(f, x, rows, cols, arena, QuantOptions.DEFAULT);
                assertSameCodes(want, got, "whole " + f + " cols=" + cols);
                assertSamePlanes(want, got, "whole " + f + " cols=" + cols);
                assertEquals(f, got.format());
                if (cols > 0) {
                    x[rows * cols - 1] = Float.NaN;
                    IllegalArgumentException a = assertThrows(IllegalArgumentException.class,
                            () -> CPU.quantize(f, x, rows, cols, arena));
                    IllegalArgumentException b = assertThrows(IllegalArgumentException.class,
                            () -> cl.quant().quantize(f, x, rows, cols, arena, QuantOptions.DEFAULT));
                    assertEquals(a.getMessage(), b.getMessage(), "whole " + f + " cols=" + cols);
                }
            }
        }
    }

    @Test
    void nonFiniteValuesAreRefusedOrClampedAsTheReferenceDoes() {
        int rows = 5;
        int cols = 70;
        try (Arena arena = Arena.ofConfined()) {
            for (QuantFormat f : List.of(QuantFormat.Q8_0, QuantFormat.Q4_1, QuantFormat.grouped(3, 64, false, ScaleType.F16),
                    QuantFormat.codebook4(32, ScaleType.F32))) {
                for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                    float[] x = TestInputs.gaussian(3, rows * cols);
                    x[3 * cols + 41] = bad;
                    IllegalArgumentException want = assertThrows(IllegalArgumentException.class,
                            () -> CPU.quantize(f, x, rows, cols, arena));
                    IllegalArgumentException got = assertThrows(IllegalArgumentException.class,
                            () -> gpu.quantize(f, x, rows, cols, arena));
                    assertEquals(want.getMessage(), got.getMessage());
                    QuantOptions clamp = QuantOptions.DEFAULT.withNonFinite(NonFinitePolicy.CLAMP);
                    QuantizedTensor a = CPU.quantize(f, MemorySegment.ofArray(x), rows, cols, arena, clamp);
                    QuantizedTensor b = gpu.quantize(f, MemorySegment.ofArray(x), rows, cols, arena, clamp);
                    assertSamePlanes(a, b, f + " clamped " + bad);
                }
            }
        }
    }

    @Test
    void scalesBeyondTheirTypeAreRefusedAsTheReferenceDoes() {
        int rows = 4;
        int cols = 64;
        try (Arena arena = Arena.ofConfined()) {
            for (QuantFormat f : List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1,
                    QuantFormat.grouped(8, 32, true, ScaleType.F16), QuantFormat.codebook4(64, ScaleType.F16))) {
                float[] x = TestInputs.gaussian(5, rows * cols);
                x[2 * cols + 40] = 1e9f;
                IllegalArgumentException want = assertThrows(IllegalArgumentException.class,
                        () -> CPU.quantize(f, x, rows, cols, arena));
                IllegalArgumentException got = assertThrows(IllegalArgumentException.class,
                        () -> gpu.quantize(f, x, rows, cols, arena));
                assertEquals(want.getMessage(), got.getMessage(), f.toString());
            }
        }
    }

    @Test
    void outliersAreAddedOnDequantize() {
        int rows = 4;
        int cols = 100;
        try (Arena arena = Arena.ofConfined()) {
            float[] x = TestInputs.gaussian(11, rows * cols);
            x[7] = 50f;
            x[rows * cols - 2] = -40f;
            SparseOutliers o = SparseOutliers.extract(x, rows, cols, 20f, arena);
            QuantizedTensor t = CPU.quantize(QuantFormat.Q4_1, x, rows, cols, arena).withOutliers(o);
            float[] a = new float[rows * cols];
            float[] b = new float[rows * cols];
            CPU.dequantize(t, a);
            gpu.dequantize(t, b);
            assertSameBits(a, b, "Q4_1 with outliers");
        }
    }

    @Test
    void groupStatisticsAndFirstNonFiniteMatchTheReference() {
        OpenClQuantKernels k = cl.quant();
        var s = KernelProvider.scalar();
        float[] x = TestInputs.tricky(9, 1000);
        x[100] = -0f;
        x[101] = 0f;
        for (int gl : new int[] {1, 7, 32, 64, 1000}) {
            int groups = (x.length - 3 + gl - 1) / gl;
            float[][] want = {new float[groups + 2], new float[groups + 2], new float[groups + 2]};
            float[][] got = {new float[groups + 2], new float[groups + 2], new float[groups + 2]};
            s.groupStats(x, 3, x.length - 3, gl, want[0], want[1], want[2], 2);
            k.groupStats(x, 3, x.length - 3, gl, got[0], got[1], got[2], 2);
            for (int i = 0; i < 3; i++) {
                assertSameBits(want[i], got[i], "groupStats gl=" + gl + " statistic " + i);
            }
        }
        float[] withNan = x.clone();
        withNan[500] = Float.NaN;
        float[] want = new float[20];
        float[] got = new float[20];
        s.groupStats(withNan, 0, 640, 32, want, want.clone(), want.clone(), 0);
        k.groupStats(withNan, 0, 640, 32, got, got.clone(), got.clone(), 0);
        assertSameBits(want, got, "groupStats minimum with a NaN");
        assertEquals(-1, k.firstNonFinite(x, 0, x.length));
        withNan[900] = Float.NEGATIVE_INFINITY;
        assertEquals(s.firstNonFinite(withNan, 10, 990), k.firstNonFinite(withNan, 10, 990));
        assertEquals(490, k.firstNonFinite(withNan, 10, 990));
        assertEquals(390, k.firstNonFinite(withNan, 510, 490));
        assertEquals(-1, k.firstNonFinite(withNan, 0, 0));
    }

    @Test
    void everyHandleIsReleased() {
        int base = cl.liveObjects();
        try (Arena arena = Arena.ofConfined()) {
            for (int i = 0; i < 200; i++) {
                QuantizedTensor t = gpu.quantize(QuantFormat.Q4_0, TestInputs.gaussian(i, 64), 2, 32, arena);
                gpu.dequantize(t, new float[64]);
            }
        }
        assertEquals(base, cl.liveObjects());
    }
}

package dev.lowbit.kernels;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.testkit.Inputs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad input is an IllegalArgumentException naming the argument and value, before any work. */
class BadInputTest {
    private final QuantOps ops = QuantOps.get();

    static Stream<Arguments> nonFinite() {
        List<Arguments> out = new ArrayList<>();
        for (float bad : new float[] {Float.NaN, -Float.NaN, Float.intBitsToFloat(0xFFC00001), Float.POSITIVE_INFINITY,
                Float.NEGATIVE_INFINITY}) {
            for (QuantFormat f : List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1,
                    QuantFormat.grouped(4, 64, false, ScaleType.F16), QuantFormat.grouped(8, 32, true, ScaleType.F32),
                    QuantFormat.codebook4(64, ScaleType.F16))) {
                for (QuantKernels k : new QuantKernels[] {KernelProvider.scalar(), KernelProvider.kernels()}) {
                    out.add(Arguments.of(bad, f, k));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} in {1} ({2})")
    @MethodSource("nonFinite")
    void nonFiniteIsRejectedWithItsIndex(float bad, QuantFormat f, QuantKernels k) {
        int rows = 300;
        int cols = 301;
        float[] x = Inputs.gaussian(1, rows * cols);
        x[250 * cols + 7] = bad;      // the first bad value...
        x[250 * cols + 290] = bad;    // ...one in the row's partial last block...
        x[299 * cols + 300] = bad;    // ...and a later one in another chunk
        try (Arena arena = Arena.ofShared()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new QuantOps(k, null).quantize(f, x, rows, cols, arena));
            assertTrue(e.getMessage().contains("index " + (250 * cols + 7)), e.getMessage());
            assertTrue(e.getMessage().contains("row 250, column 7"), e.getMessage());
            float[] tail = Inputs.gaussian(2, cols);
            tail[cols - 1] = bad;      // only in the partial last block
            e = assertThrows(IllegalArgumentException.class, () -> new QuantOps(k, null).quantize(f, tail, 1, cols, arena));
            assertTrue(e.getMessage().contains("column " + (cols - 1)), e.getMessage());
        }
    }

    @Test
    void clampPolicyReplacesNonFinite() {
        float[] x = {1f, Float.NaN, -3f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 2f};
        QuantFormat f = QuantFormat.grouped(8, QuantFormat.ROW, true, ScaleType.F32);
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor t = ops.quantize(f, x, 1, 6, arena,
                    QuantOptions.DEFAULT.withNonFinite(NonFinitePolicy.CLAMP));
            float[] y = new float[6];
            ops.dequantize(t, y);
            float step = 3f / 127;
            float[] want = {1f, 0f, -3f, 3f, -3f, 2f};
            for (int i = 0; i < 6; i++) {
                assertEquals(want[i], y[i], step / 2 + 1e-6f, "element " + i);
            }
            assertEquals(1f, x[0]); // the caller's array is untouched
            assertTrue(Float.isNaN(x[1]));
        }
    }

    @Test
    void wrongLengths() {
        try (Arena arena = Arena.ofConfined()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ops.quantize(QuantFormat.Q8_0, new float[10], 3, 4, arena));
            assertTrue(e.getMessage().contains("10") && e.getMessage().contains("12"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> ops.quantize(QuantFormat.Q8_0, new float[0], -1, 0, arena));
            assertThrows(IllegalArgumentException.class, () -> ops.quantize(QuantFormat.Q8_0, (float[]) null, 1, 1, arena));
            MemorySegment seg = arena.allocate(4 * 11);
            assertThrows(IllegalArgumentException.class,
                    () -> ops.quantize(QuantFormat.Q8_0, seg, 3, 4, arena, QuantOptions.DEFAULT));
            QuantizedTensor t = ops.quantize(QuantFormat.Q4_0, new float[12], 3, 4, arena);
            assertThrows(IllegalArgumentException.class, () -> ops.dequantize(t, new float[11]));
            assertThrows(IllegalArgumentException.class, () -> ops.dequantize(t, arena.allocate(4 * 13)));
            TensorPlanes planes = TensorPlanes.allocate(QuantFormat.Q8_0, 3, 4, arena);
            assertThrows(IllegalArgumentException.class, () -> ops.quantizeInto(new float[13], planes, QuantOptions.DEFAULT));
        }
    }

    @Test
    void unsupportedBitsAndGroups() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> QuantFormat.grouped(5, 64, true, ScaleType.F16));
        assertTrue(e.getMessage().contains("5"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> QuantFormat.grouped(4, 48, true, ScaleType.F16));
        assertTrue(e.getMessage().contains("48"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> QuantFormat.codebook4(16, ScaleType.F16));
        assertThrows(IllegalArgumentException.class, () -> QuantFormat.grouped(1, 64, true, ScaleType.F16));
        assertThrows(IllegalArgumentException.class, () -> QuantFormat.parse("q7_k"));
        assertThrows(IllegalArgumentException.class, () -> QuantFormat.parse("int4_sym_g48_f16"));
    }

    @Test
    void badCodebookLevels() {
        float[] unsorted = dev.lowbit.format.Codebooks.nf4();
        unsorted[3] = unsorted[4];
        assertThrows(IllegalArgumentException.class, () -> QuantOptions.DEFAULT.withLevels(unsorted));
        assertThrows(IllegalArgumentException.class, () -> QuantOptions.DEFAULT.withLevels(new float[15]));
    }

    @Test
    void scaleBeyondFp16IsRejectedWithItsRow() {
        float[] x = new float[64];
        x[40] = 1e7f; // needs a Q8_0 scale of 1e7/127 = 78740 > 65504
        try (Arena arena = Arena.ofConfined()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ops.quantize(QuantFormat.Q8_0, x, 2, 32, arena));
            assertTrue(e.getMessage().contains("row 1"), e.getMessage());
            // the same values fit with fp32 scales
            ops.quantize(QuantFormat.grouped(8, 32, true, ScaleType.F32), x, 2, 32, arena);
            float[] huge = {Float.MAX_VALUE, -Float.MAX_VALUE};
            assertThrows(IllegalArgumentException.class,
                    () -> ops.quantize(QuantFormat.grouped(4, 32, false, ScaleType.F32), huge, 1, 2, arena));
        }
    }

    @Test
    void planesOfAnotherFormat() {
        try (Arena arena = Arena.ofConfined()) {
            TensorPlanes planes = TensorPlanes.allocate(QuantFormat.Q8_0, 2, 32, arena);
            assertThrows(IllegalArgumentException.class, () -> new TensorPlanes(QuantFormat.Q4_0, 2, 32, planes.data(),
                    null, null));
        }
    }
}

package dev.lowbit.kernels;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.testkit.Formats;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Extreme magnitudes, subnormals and signed zeros: scalar and vector agree and stay within the bound. */
class BoundaryTest {

    static List<QuantFormat> formats() {
        return Formats.all();
    }

    private static float[] block(float... head) {
        float[] x = new float[64];
        System.arraycopy(head, 0, x, 0, head.length);
        return x;
    }

    /** Rows that every format can hold: subnormals, signed zeros, fp16's edge, one-sided and constant rows. */
    static final float[][] ROWS = {
        block(Float.MIN_VALUE, -Float.MIN_VALUE, 0f, -0f, 3 * Float.MIN_VALUE),
        block(Float.MIN_NORMAL, -Float.MIN_NORMAL / 3),
        block(-0f, -0f, -0f),
        block(1e-7f, -2e-7f, 5.9604645e-8f), // around fp16's smallest subnormal
        block(7.5e-3f, -7.5e-3f, 1e-3f),      // fp16 scales just below the normal range
        block(60000f, -65504f, 65504f),       // Q8_0 scale 65504/127 fits fp16
        block(100f, 101f, 102f, 103f),        // one-sided (all positive) at the head, zeros after
        block(-5f, -5f, -5f),
    };

    @ParameterizedTest
    @MethodSource("formats")
    void edgesStayWithinTheBoundAndMatch(QuantFormat f) {
        QuantOps scalar = new QuantOps(KernelProvider.scalar(), ThreadPool.callerThread());
        QuantOps chosen = new QuantOps(KernelProvider.kernels(), ThreadPool.callerThread());
        for (float[] row : ROWS) {
            float[] x = new float[row.length]; // also every row reversed, so the extremes sit in the last block
            for (int i = 0; i < row.length; i++) {
                x[i] = row[row.length - 1 - i];
            }
            for (float[] in : new float[][] {row, x}) {
                RoundTripBoundTest.check(scalar, f, in, 1, in.length);
                VectorMatchesScalarTest.compare(scalar, chosen, f, in, 1, in.length);
            }
        }
    }

    @Test
    void largestFloatsWithFp32Scales() {
        float[] x = block(Float.MAX_VALUE, -Float.MAX_VALUE / 2, 1f);
        QuantOps ops = QuantOps.get();
        RoundTripBoundTest.check(ops, QuantFormat.codebook4(64, ScaleType.F32), x, 1, x.length);
        // A symmetric 8-bit step of fl(3.4028235e38 / 127) puts code 127 beyond the largest float: refused, never
        // decoded to infinity. Half that range fits.
        float[] half = block(Float.MAX_VALUE / 2, -Float.MAX_VALUE / 4, 1f);
        RoundTripBoundTest.check(ops, QuantFormat.grouped(8, 32, true, ScaleType.F32), half, 1, half.length);
        try (Arena arena = Arena.ofConfined()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ops.quantize(QuantFormat.grouped(8, 32, true, ScaleType.F32), x, 1, 64, arena));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().startsWith("row 0, group 0 (columns 0..31): value "
                    + Float.MAX_VALUE + " at column 0") && e.getMessage().contains("infinity"), e.getMessage());
            // max - min overflows a float: no fp32 scale can step over that range
            assertThrows(IllegalArgumentException.class,
                    () -> ops.quantize(QuantFormat.grouped(8, 32, false, ScaleType.F32), x, 1, 64, arena));
            // fp16 cannot hold the minimum of Q4_1 or a Q8_0 scale this large
            assertThrows(IllegalArgumentException.class, () -> ops.quantize(QuantFormat.Q4_1, block(-70000f), 1, 64, arena));
            assertThrows(IllegalArgumentException.class, () -> ops.quantize(QuantFormat.Q8_0, block(65504f * 128), 1, 64, arena));
        }
    }

    @Test
    void largestCodesAppear() {
        // An asymmetric 8-bit group with min -1 and max 254 uses codes 0 and 255; Q8_0 uses -127 and 127.
        float[] x = block(-1f, 254f);
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor t = QuantOps.get().quantize(QuantFormat.grouped(8, 64, false, ScaleType.F32), x, 1, 64, arena);
            assertEquals(0, Reference.code(t, 0, 0));
            assertEquals(255, Reference.code(t, 0, 1));
            assertEquals(1f, Reference.scale(t, 0, 0));
            QuantizedTensor q = QuantOps.get().quantize(QuantFormat.Q8_0, block(-3f, 3f), 1, 64, arena);
            assertEquals(-127, Reference.code(q, 0, 0));
            assertEquals(127, Reference.code(q, 0, 1));
        }
    }
}

package dev.lowbit.algorithms;

import dev.lowbit.testkit.Matrices;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.QuantOps;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NupesTest {
    static final int ROWS = 32;
    static final int COLS = 384;

    static List<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (Matrices.Law law : Matrices.Law.values()) {
            for (int bits : new int[] {4, 3}) {
                out.add(Arguments.of(law, bits));
            }
        }
        return out;
    }

    @ParameterizedTest(name = "{0}, {1} bits, per tensor")
    @MethodSource("cases")
    void tensorExponentInsideIntervalAndBeatsUniform(Matrices.Law law, int bits) {
        float[] w = Matrices.draw(law, 77L + bits, ROWS * COLS);
        Nupes nupes = new Nupes(new QuantSpec(bits, 64, ScaleType.F16), null);
        try (Arena arena = Arena.ofShared()) {
            QuantResult r = nupes.quantize(w, ROWS, COLS, arena);
            assertEquals(1, r.exponents().length);
            float a = r.exponents()[0];
            assertTrue(a >= nupes.aMin() && a <= nupes.aMax(), "a = " + a + " outside the search interval");
            double uniform = Rows.sum(nupes.rowErrors(w, ROWS, COLS, 1f));
            if (a != 1f) {
                assertTrue(r.squaredError() < uniform, "a = " + a + ": " + r.squaredError() + " not below a = 1: " + uniform);
            }
            assertNotEquals(1f, a, "bell-shaped weights want a < 1");
            assertEquals(Rows.sum(nupes.rowErrors(w, ROWS, COLS, a)), r.squaredError(), 1e-9 * r.squaredError(),
                    "the reported error is E(a)");
            assertEquals(bits == 4, r.exponentsInTensor());
            assertEquals(bits == 4 ? QuantFormat.Kind.CODEBOOK4 : QuantFormat.Kind.GROUPED, r.tensor().format().kind());
            float[] back = new float[w.length];
            Nupes.dequantize(r, back);
            assertEquals(r.squaredError(), Rows.sum(Rows.rowErrors(w, back, ROWS, COLS)), 1e-9 * r.squaredError(),
                    "the tensor and its exponent decode to what was measured");
        }
    }

    @ParameterizedTest(name = "{0}, {1} bits, per channel")
    @MethodSource("cases")
    void channelExponentsInsideIntervalAndBeatUniform(Matrices.Law law, int bits) {
        float[] w = Matrices.draw(law, 91L + bits, ROWS * COLS);
        Nupes nupes = new Nupes(new QuantSpec(bits, 128, ScaleType.F32), true, 0.2f, 1f, 1e-3f, 50, null,
                KernelProvider.methods());
        try (Arena arena = Arena.ofShared()) {
            QuantResult r = nupes.quantize(w, ROWS, COLS, arena);
            assertEquals(ROWS, r.exponents().length);
            assertFalse(r.exponentsInTensor(), "per-row exponents do not fit a per-tensor codebook");
            double[] uniform = nupes.rowErrors(w, ROWS, COLS, 1f);
            int moved = 0;
            for (int row = 0; row < ROWS; row++) {
                float a = r.exponents()[row];
                assertTrue(a >= 0.2f && a <= 1f, "row " + row + ": a = " + a + " outside [0.2, 1]");
                if (a != 1f) {
                    moved++;
                    assertTrue(r.rowError()[row] < uniform[row], "row " + row + ": a = " + a + " is no better than a = 1");
                }
            }
            assertTrue(moved > 0, "no row moved off a = 1");
        }
    }

    @Test
    void uniformWeightsKeepOrBeatTheUniformGrid() {
        // For uniformly distributed weights the uniform grid (a = 1) is about optimal, so the search
        // ends next to 1: it must return 1 itself unless it found something strictly better.
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(8);
        float[] w = new float[ROWS * COLS];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) rnd.nextDouble(-0.05, 0.05);
        }
        for (int bits : new int[] {4, 3, 2}) {
            for (boolean perChannel : new boolean[] {false, true}) {
                Nupes nupes = new Nupes(new QuantSpec(bits, 128, ScaleType.F16), perChannel, 0.1f, 1f, 1e-3f, 50, null,
                        KernelProvider.methods());
                try (Arena arena = Arena.ofConfined()) {
                    QuantResult r = nupes.quantize(w, ROWS, COLS, arena);
                    double[] uniform = nupes.rowErrors(w, ROWS, COLS, 1f);
                    for (int row = 0; row < ROWS; row++) {
                        float a = r.exponents()[perChannel ? row : 0];
                        assertTrue(a >= 0.1f && a <= 1f, "a = " + a);
                        if (a != 1f) {
                            double got = perChannel ? r.rowError()[row] : r.squaredError();
                            double base = perChannel ? uniform[row] : Rows.sum(uniform);
                            assertTrue(got < base, bits + " bits, per " + (perChannel ? "row " + row : "tensor")
                                    + ": a = " + a + " gives " + got + ", a = 1 gives " + base);
                        }
                    }
                }
            }
        }
    }

    @Test
    void codebookHoldsThePowerLevels() {
        float[] w = Matrices.draw(Matrices.Law.GAUSSIAN, 5, 8 * 128);
        try (Arena arena = Arena.ofConfined()) {
            QuantResult r = new Nupes(new QuantSpec(4, 32, ScaleType.F32), null).quantize(w, 8, 128, arena);
            float a = r.exponents()[0];
            float[] levels = r.tensor().levels();
            assertEquals(0f, levels[8], 0f);
            assertEquals(1f, levels[15], 1e-6f);
            assertEquals(-1f, levels[1], 1e-6f);
            assertEquals((float) Math.pow(3 / 7.0, 1 / a), levels[11], 1e-6f);
            // every element's code is the power-domain rounding of the formula
            for (int c = 0; c < 128; c++) {
                float m = Reference.scale(r.tensor(), 0, c / 32);
                double t = Math.signum(w[c]) * Math.pow(Math.abs(w[c]), a) / Math.pow(m, a);
                int q = (int) Math.max(-7, Math.min(7, Math.rint(7 * t)));
                assertEquals(q + 8, Reference.code(r.tensor(), 0, c), 1.0, "column " + c); // a tie may round either way
            }
        }
    }

    @Test
    void uniformExponentIsSymmetricRtn() {
        // With a fixed at 1 the power quantizer is the narrow symmetric grid of lowbit's RTN (F32 scales).
        float[] w = Matrices.draw(Matrices.Law.LAPLACE, 9, 16 * 256);
        QuantSpec spec = new QuantSpec(3, 64, ScaleType.F32);
        try (Arena arena = Arena.ofConfined()) {
            QuantResult n = new Nupes(spec, false, 1f, 1f, 1e-3f, 50, null, KernelProvider.methods()).quantize(w, 16, 256, arena);
            QuantResult rtn = new Rtn(spec, true, null).quantize(w, 16, 256, arena);
            assertArrayEquals(Reference.unpack(rtn.tensor()).codes(), Reference.unpack(n.tensor()).codes());
            assertEquals(rtn.squaredError(), n.squaredError(), 1e-6 * rtn.squaredError());
            assertNull(n.rowInitialError());
            float[] back = new float[w.length];
            QuantOps.get().dequantize(rtn.tensor(), back);
        }
    }
}

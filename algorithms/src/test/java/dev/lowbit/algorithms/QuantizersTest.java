package dev.lowbit.algorithms;

import dev.lowbit.testkit.Matrices;
import dev.lowbit.format.Codebooks;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.QuantOps;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What every method shares (inputs, reports) and what RTN, NF4, MSE clipping and HQQ do in particular. */
class QuantizersTest {
    static final int ROWS = 24;
    static final int COLS = 200;

    @Test
    void reportedErrorIsTheTensorsError() {
        float[] w = Matrices.draw(Matrices.Law.LAPLACE, 2, ROWS * COLS);
        QuantSpec spec = new QuantSpec(4, 32, ScaleType.F16);
        try (Arena arena = Arena.ofConfined()) {
            for (String name : Quantizers.NAMES) {
                QuantResult r = Quantizers.byName(name, spec, null).quantize(w, ROWS, COLS, arena);
                assertEquals(name, r.method());
                float[] back = new float[w.length];
                QuantOps.get().dequantize(r.tensor(), back);
                double err = 0;
                double energy = 0;
                for (int i = 0; i < w.length; i++) {
                    err += ((double) w[i] - back[i]) * ((double) w[i] - back[i]);
                    energy += (double) w[i] * w[i];
                }
                assertEquals(err, r.squaredError(), 1e-9 * err, name);
                assertEquals(err / energy, r.relativeError(), 1e-9, name);
                assertEquals(10 * Math.log10(energy / err), r.sqnrDb(), 1e-6, name);
                assertTrue(r.sqnrDb() > 15 && r.sqnrDb() < 40, name + ": SQNR " + r.sqnrDb());
            }
        }
    }

    @Test
    void segmentInputIsTheArrayInput() {
        float[] w = Matrices.draw(Matrices.Law.GAUSSIAN, 3, ROWS * COLS);
        QuantSpec spec = new QuantSpec(3, 128, ScaleType.F32);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(4L * w.length, 4);
            MemorySegment.copy(w, 0, seg, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, w.length);
            for (String name : new String[] {"rtn", "mse", "hqq", "easyquant", "nupes"}) {
                Quantizer q = Quantizers.byName(name, spec, null);
                QuantResult a = q.quantize(w, ROWS, COLS, arena);
                QuantResult b = q.quantize(seg, ROWS, COLS, arena);
                assertArrayEquals(a.rowError(), b.rowError(), name);
                assertArrayEquals(Reference.unpack(a.tensor()).codes(), Reference.unpack(b.tensor()).codes(), name);
            }
        }
    }

    @Test
    void badInputIsRefused() {
        QuantSpec spec = new QuantSpec(4, 64, ScaleType.F16);
        float[] w = new float[6];
        w[4] = Float.NaN;
        try (Arena arena = Arena.ofConfined()) {
            for (String name : Quantizers.NAMES) {
                Quantizer q = Quantizers.byName(name, spec, null);
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> q.quantize(w, 2, 3, arena));
                assertTrue(e.getMessage().contains("index 4"), e.getMessage());
                assertThrows(IllegalArgumentException.class, () -> q.quantize(new float[5], 2, 3, arena));
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new QuantSpec(5, 64, ScaleType.F16));
        assertThrows(IllegalArgumentException.class, () -> new QuantSpec(4, 48, ScaleType.F16));
        assertThrows(IllegalArgumentException.class, () -> new Nf4(new QuantSpec(3, 64, ScaleType.F16), null));
        assertThrows(IllegalArgumentException.class, () -> Quantizers.byName("gptq", spec, null));
        assertThrows(IllegalArgumentException.class,
                () -> new Nupes(spec, false, 0f, 1f, 1e-3f, 50, null, KernelProvider.methods()));
    }

    @Test
    void zeroRowsExactConstantRowsClose() {
        float[] w = new float[4 * 70];
        java.util.Arrays.fill(w, 70, 140, 0.25f);
        java.util.Arrays.fill(w, 140, 210, -3f);
        QuantSpec spec = new QuantSpec(4, 32, ScaleType.F16);
        try (Arena arena = Arena.ofConfined()) {
            for (String name : Quantizers.NAMES) {
                QuantResult r = Quantizers.byName(name, spec, null).quantize(w, 4, 70, arena);
                assertEquals(0, r.rowError()[0], 0, name + ": a zero row");
                assertEquals(0, r.rowError()[3], 0, name + ": a zero row");
                assertTrue(r.relativeError() < 1e-3, name + ": constant rows, relative error " + r.relativeError());
            }
        }
    }

    @Test
    void nf4IsTheCodebookQuantizerWithNf4Levels() {
        float[] w = Matrices.draw(Matrices.Law.GAUSSIAN, 4, ROWS * COLS);
        try (Arena arena = Arena.ofConfined()) {
            QuantResult r = new Nf4(new QuantSpec(4, 64, ScaleType.F16), null).quantize(w, ROWS, COLS, arena);
            assertEquals(QuantFormat.codebook4(64, ScaleType.F16), r.tensor().format());
            assertArrayEquals(Codebooks.nf4(), r.tensor().levels());
            for (int c = 0; c < COLS; c++) {
                float d = Reference.scale(r.tensor(), 0, c / 64);
                int code = Reference.code(r.tensor(), 0, c);
                float[] lv = Codebooks.nf4();
                for (float l : lv) {
                    assertTrue(Math.abs(w[c] / d - lv[code]) <= Math.abs(w[c] / d - l) + 1e-6f, "column " + c);
                }
            }
        }
    }

    @Test
    void mseGridKeepsTheBestCandidate() {
        float[] w = Matrices.draw(Matrices.Law.STUDENT_T3, 5, ROWS * COLS);
        QuantSpec spec = new QuantSpec(3, 64, ScaleType.F32);
        try (Arena arena = Arena.ofConfined()) {
            QuantResult full = new MseClip(spec, false, 1, 2f, null, KernelProvider.methods()).quantize(w, ROWS, COLS, arena);
            QuantResult grid = new MseClip(spec, false, 80, 2f, null, KernelProvider.methods()).quantize(w, ROWS, COLS, arena);
            QuantResult sym = new MseClip(spec, true, 80, 2f, null, KernelProvider.methods()).quantize(w, ROWS, COLS, arena);
            QuantResult rtnSym = new Rtn(spec, true, null).quantize(w, ROWS, COLS, arena);
            for (int i = 0; i < full.ranges().length; i++) {
                assertTrue(grid.ranges()[i] <= full.ranges()[i] * (1 + 1e-6f), "group " + i + " grew");
                assertTrue(grid.ranges()[i] >= 0.2f * full.ranges()[i] * (1 - 1e-6f), "group " + i + " shrank below 21%");
            }
            // With the squared norm each group picks its best candidate, so every row improves or stays.
            for (int row = 0; row < ROWS; row++) {
                assertTrue(grid.rowError()[row] <= full.rowError()[row] * (1 + 1e-9), "row " + row);
            }
            assertTrue(grid.squaredError() < full.squaredError());
            assertTrue(sym.squaredError() < rtnSym.squaredError());
        }
    }

    @Test
    void hqqIterationsLowerTheError() {
        float[] w = Matrices.draw(Matrices.Law.GAUSSIAN, 6, ROWS * COLS);
        QuantSpec spec = new QuantSpec(4, 64, ScaleType.F32);
        try (Arena arena = Arena.ofConfined()) {
            QuantResult init = new Hqq(spec, 0.7f, 10f, 1.01f, 0, null).quantize(w, ROWS, COLS, arena);
            QuantResult hqq = new Hqq(spec, null).quantize(w, ROWS, COLS, arena);
            assertTrue(hqq.squaredError() < init.squaredError(), hqq.squaredError() + " vs min-max " + init.squaredError());
            assertTrue(hqq.tensor().format().hasZeroPlane());
            // the zero points are free floats, not integers
            Reference.Unpacked u = Reference.unpack(hqq.tensor());
            long fractional = 0;
            for (float z : u.zeros()) {
                if (z != Math.rint(z)) {
                    fractional++;
                }
            }
            assertTrue(fractional > u.zeros().length / 2, "only " + fractional + " fractional zero points");
        }
    }
}

package dev.lowbit.algorithms;

import dev.lowbit.testkit.Matrices;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.kernels.KernelProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EasyQuantTest {
    static final int ROWS = 40;
    static final int COLS = 500; // a partial last group at 64 and 128

    @ParameterizedTest(name = "{0}")
    @EnumSource(Matrices.Law.class)
    void neverWorseThanItsInitialization(Matrices.Law law) {
        for (int bits : new int[] {4, 3, 2}) {
            for (int group : new int[] {64, 128, 0}) {
                float[] w = Matrices.draw(law, 31L * bits + group, ROWS * COLS);
                try (Arena arena = Arena.ofShared()) {
                    QuantResult r = new EasyQuant(new QuantSpec(bits, group, ScaleType.F16), null)
                            .quantize(w, ROWS, COLS, arena);
                    double init = 0;
                    for (int row = 0; row < ROWS; row++) {
                        assertTrue(r.rowError()[row] <= r.rowInitialError()[row], law + " " + bits + " bits g" + group
                                + " row " + row + ": " + r.rowError()[row] + " > initial " + r.rowInitialError()[row]);
                        init += r.rowInitialError()[row];
                    }
                    assertTrue(r.squaredError() < init, "the descent improved nothing (" + law + " " + bits + " bits g"
                            + group + ")");
                }
            }
        }
    }

    @Test
    void coarseScalesStillNeverWorse() {
        // Tiny weights get subnormal fp16 steps, whose rounding is coarse: the best range of the descent
        // can round to a worse stored step than the initial one, and then the initial one must stay.
        float[] w = Matrices.draw(Matrices.Law.GAUSSIAN, 21, ROWS * COLS);
        for (int i = 0; i < w.length; i++) {
            w[i] *= 3e-5f;
        }
        for (int bits : new int[] {4, 3, 2}) {
            try (Arena arena = Arena.ofConfined()) {
                QuantResult r = new EasyQuant(new QuantSpec(bits, 32, ScaleType.F16), 3f, false, 100, 3e-2f, null,
                        KernelProvider.methods()).quantize(w, ROWS, COLS, arena);
                for (int row = 0; row < ROWS; row++) {
                    assertTrue(r.rowError()[row] <= r.rowInitialError()[row], bits + " bits, row " + row + ": "
                            + r.rowError()[row] + " > initial " + r.rowInitialError()[row]);
                }
            }
        }
    }

    @Test
    void outliersAreTheEntriesBeyondNSigmaOfTheirRow() {
        float[] w = Matrices.draw(Matrices.Law.GAUSSIAN, 3, ROWS * COLS);
        try (Arena arena = Arena.ofConfined()) {
            QuantResult r = new EasyQuant(new QuantSpec(4, 128, ScaleType.F16), null).quantize(w, ROWS, COLS, arena);
            SparseOutliers o = r.tensor().outliers();
            long count = 0;
            for (int row = 0; row < ROWS; row++) {
                double mean = 0;
                for (int c = 0; c < COLS; c++) {
                    mean += w[row * COLS + c];
                }
                mean /= COLS;
                double var = 0;
                for (int c = 0; c < COLS; c++) {
                    var += (w[row * COLS + c] - mean) * (w[row * COLS + c] - mean);
                }
                double sigma = Math.sqrt(var / COLS);
                int j = o.rowPtr(row);
                for (int c = 0; c < COLS; c++) {
                    if (Math.abs(w[row * COLS + c] - mean) > 3 * sigma) {
                        assertEquals(c, o.col(j), "row " + row);
                        assertEquals(w[row * COLS + c], o.value(j), 0f);
                        j++;
                        count++;
                    }
                }
                assertEquals(o.rowPtr(row + 1), j, "row " + row + " has other outliers");
            }
            assertEquals(count, r.outliers());
            assertEquals((double) count / (ROWS * COLS), r.outlierFraction(), 0);
            // A Gaussian has 0.27% of its mass beyond 3 sigma: under 1%, as the paper claims.
            assertTrue(r.outlierFraction() > 0.0005 && r.outlierFraction() < 0.01, "fraction " + r.outlierFraction());
        }
    }

    @Test
    void tensorStatisticsAndNoOutliers() {
        float[] w = Matrices.draw(Matrices.Law.STUDENT_T3, 4, ROWS * COLS);
        QuantSpec spec = new QuantSpec(4, 64, ScaleType.F32);
        try (Arena arena = Arena.ofConfined()) {
            QuantResult none = new EasyQuant(spec, Float.POSITIVE_INFINITY, false, 100, 1e-3f, null, KernelProvider.methods())
                    .quantize(w, ROWS, COLS, arena);
            assertEquals(0, none.outliers());
            QuantResult tensor = new EasyQuant(spec, 3f, true, 100, 1e-3f, null, KernelProvider.methods())
                    .quantize(w, ROWS, COLS, arena);
            assertTrue(tensor.outliers() > 0);
            assertTrue(tensor.squaredError() < none.squaredError(), "keeping outliers exact must help heavy tails");
            QuantResult frozen = new EasyQuant(spec, 3f, false, 0, 1e-3f, null, KernelProvider.methods())
                    .quantize(w, ROWS, COLS, arena);
            for (int row = 0; row < ROWS; row++) {
                assertEquals(frozen.rowInitialError()[row], frozen.rowError()[row], 0, "0 steps keep the initial range");
            }
            assertNull(frozen.exponents());
        }
    }
}

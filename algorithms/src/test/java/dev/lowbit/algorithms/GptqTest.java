package dev.lowbit.algorithms;

import dev.lowbit.testkit.Matrices;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.QuantOps;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GPTQ against round to nearest: the same codes when H is the identity (no error feedback), a clearly smaller
 * output error {@code ||(W - Ŵ) X||²} on seeded correlated inputs, dead columns, tails, and refused input.
 */
class GptqTest {

    private static double[] identity(int n) {
        double[] h = new double[n * n];
        for (int i = 0; i < n; i++) {
            h[i * n + i] = 1;
        }
        return h;
    }

    private static byte[] bytes(MemorySegment s) {
        return s == null ? new byte[0] : s.toArray(ValueLayout.JAVA_BYTE);
    }

    @ParameterizedTest(name = "symmetric {0}, {1} bits, group {2}, cols {3}")
    @CsvSource({"false, 4, 32, 256", "true, 4, 32, 256", "false, 4, 64, 200", "true, 3, 128, 300", "false, 8, 0, 96",
            "false, 4, 32, 200"})
    void identityHessianGivesRtnCodes(boolean symmetric, int bits, int group, int cols) {
        int rows = 24;
        float[] w = Matrices.draw(Matrices.Law.STUDENT_T3, 7L + cols, rows * cols);
        QuantSpec spec = new QuantSpec(bits, group, ScaleType.F16);
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor rtn = new Rtn(spec, symmetric, null).quantize(w, rows, cols, arena).tensor();
            QuantizedTensor g = Gptq.quantize(w, rows, cols, identity(cols), spec,
                    Gptq.Options.DEFAULT.withSymmetric(symmetric), null, arena).tensor();
            assertEquals(rtn.format(), g.format());
            assertArrayEquals(bytes(rtn.data()), bytes(g.data()), "codes");
            assertArrayEquals(bytes(rtn.scales()), bytes(g.scales()), "scales");
            assertArrayEquals(bytes(rtn.zeros()), bytes(g.zeros()), "zero points");
        }
    }

    /** Inputs {@code [cols, n]} (column t is token t): 16 latent factors, noise, and 6 channels of 10x variance. */
    static float[] correlatedInputs(long seed, int cols, int n) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int k = 16;
        double[] mix = new double[cols * k];
        for (int i = 0; i < mix.length; i++) {
            mix[i] = gaussian(rnd);
        }
        float[] x = new float[cols * n];
        double[] z = new double[k];
        for (int t = 0; t < n; t++) {
            for (int j = 0; j < k; j++) {
                z[j] = gaussian(rnd);
            }
            for (int c = 0; c < cols; c++) {
                double v = 0.3 * gaussian(rnd);
                for (int j = 0; j < k; j++) {
                    v += mix[c * k + j] * z[j] / 4;
                }
                if (c % 41 == 3) {
                    v *= 10;
                }
                x[c * n + t] = (float) v;
            }
        }
        return x;
    }

    static double[] hessian(float[] x, int cols, int n) {
        double[] h = new double[cols * cols];
        for (int a = 0; a < cols; a++) {
            for (int b = a; b < cols; b++) {
                double s = 0;
                for (int t = 0; t < n; t++) {
                    s += (double) x[a * n + t] * x[b * n + t];
                }
                h[a * cols + b] = 2 * s / n;
                h[b * cols + a] = 2 * s / n;
            }
        }
        return h;
    }

    /** {@code ||(W - Ŵ) X||²} with Ŵ decoded from the tensor. */
    static double outputError(float[] w, QuantizedTensor qt, float[] x, int rows, int cols, int n) {
        float[] wh = new float[rows * cols];
        QuantOps.get().dequantize(qt, wh);
        double total = 0;
        double[] y = new double[n];
        for (int r = 0; r < rows; r++) {
            java.util.Arrays.fill(y, 0);
            for (int c = 0; c < cols; c++) {
                double d = (double) w[r * cols + c] - wh[r * cols + c];
                if (d == 0) {
                    continue;
                }
                for (int t = 0; t < n; t++) {
                    y[t] += d * x[c * n + t];
                }
            }
            for (double v : y) {
                total += v * v;
            }
        }
        return total;
    }

    private static double gaussian(SplittableRandom rnd) {
        double u = 1 - rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd.nextDouble());
    }

    @ParameterizedTest(name = "symmetric {0}, mse grid {1}, act-order {2}, group {3}, cols {4}")
    @CsvSource({"false, false, false, 32, 256", "true, false, false, 32, 256", "false, true, false, 64, 256",
            "false, false, true, 32, 256", "true, true, true, 64, 256", "false, false, false, 32, 200",
            "false, true, false, 128, 300", "false, false, false, 0, 200"})
    void outputErrorClearlyBelowRtn(boolean symmetric, boolean mseGrid, boolean actOrder, int group, int cols) {
        int rows = 48;
        int n = 768;
        float[] w = Matrices.draw(Matrices.Law.GAUSSIAN, 11L + cols + group, rows * cols);
        float[] x = correlatedInputs(5L + cols, cols, n);
        double[] h = hessian(x, cols, n);
        QuantSpec spec = new QuantSpec(4, group, ScaleType.F16);
        Gptq.Options o = new Gptq.Options(symmetric, mseGrid, actOrder, 0.01, 128);
        try (Arena arena = Arena.ofShared()) {
            double rtn = outputError(w, new Rtn(spec, symmetric, null).quantize(w, rows, cols, arena).tensor(), x, rows,
                    cols, n);
            QuantResult g = Gptq.quantize(w, rows, cols, h, spec, o, null, arena);
            assertEquals(spec.grouped(symmetric), g.tensor().format());
            double gptq = outputError(w, g.tensor(), x, rows, cols, n);
            assertTrue(gptq < 0.8 * rtn, "GPTQ " + gptq + " not below 0.8 x RTN " + rtn + " (" + o + ")");
            assertTrue(Double.isFinite(g.squaredError()));
        }
    }

    @Test
    void deadColumnsAreZeroAndDoNotBreakTheFactorization() {
        int rows = 32;
        int cols = 160;
        int n = 512;
        float[] w = Matrices.draw(Matrices.Law.LAPLACE, 3, rows * cols);
        float[] x = correlatedInputs(9, cols, n);
        int[] deadCols = {0, 31, 32, 77, 128, 159};
        for (int c : deadCols) {
            java.util.Arrays.fill(x, c * n, (c + 1) * n, 0f);
        }
        double[] h = hessian(x, cols, n);
        QuantSpec spec = new QuantSpec(4, 32, ScaleType.F16);
        for (boolean actOrder : new boolean[] {false, true}) {
            try (Arena arena = Arena.ofConfined()) {
                QuantResult g = Gptq.quantize(w, rows, cols, h, spec, Gptq.Options.DEFAULT.withActOrder(actOrder), null,
                        arena);
                float[] wh = new float[rows * cols];
                QuantOps.get().dequantize(g.tensor(), wh);
                for (int r = 0; r < rows; r++) {
                    for (int c : deadCols) {
                        assertEquals(0f, wh[r * cols + c], "row " + r + " dead column " + c);
                    }
                }
                double rtn = outputError(w, new Rtn(spec, false, null).quantize(w, rows, cols, arena).tensor(), x, rows,
                        cols, n);
                double gptq = outputError(w, g.tensor(), x, rows, cols, n);
                assertTrue(gptq < 0.8 * rtn, "act-order " + actOrder + ": GPTQ " + gptq + " vs RTN " + rtn);
            }
        }
    }

    @Test
    void allDeadHessianIsRtnOfZeros() {
        int cols = 64;
        float[] w = Matrices.draw(Matrices.Law.GAUSSIAN, 1, 4 * cols);
        try (Arena arena = Arena.ofConfined()) {
            QuantResult g = Gptq.quantize(w, 4, cols, new double[cols * cols], new QuantSpec(4, 32, ScaleType.F16),
                    Gptq.Options.DEFAULT, null, arena);
            float[] wh = new float[4 * cols];
            QuantOps.get().dequantize(g.tensor(), wh);
            assertArrayEquals(new float[4 * cols], wh);
        }
    }

    @Test
    void badInputIsRefusedWithAMessage() {
        int cols = 64;
        float[] w = Matrices.draw(Matrices.Law.GAUSSIAN, 2, 8 * cols);
        QuantSpec spec = new QuantSpec(4, 32, ScaleType.F16);
        try (Arena arena = Arena.ofConfined()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Gptq.quantize(w, 8, cols, identity(cols - 1), spec, Gptq.Options.DEFAULT, null, arena));
            assertTrue(e.getMessage().contains("hessian has 3969 values, not cols*cols = 4096"), e.getMessage());

            double[] nan = identity(cols);
            nan[5 * cols + 7] = Double.NaN;
            e = assertThrows(IllegalArgumentException.class,
                    () -> Gptq.quantize(w, 8, cols, nan, spec, Gptq.Options.DEFAULT, null, arena));
            assertTrue(e.getMessage().contains("(5, 7) is not finite"), e.getMessage());

            float[] wNan = w.clone();
            wNan[100] = Float.NaN;
            e = assertThrows(IllegalArgumentException.class,
                    () -> Gptq.quantize(wNan, 8, cols, identity(cols), spec, Gptq.Options.DEFAULT, null, arena));
            assertTrue(e.getMessage().contains("index 100"), e.getMessage());

            e = assertThrows(IllegalArgumentException.class,
                    () -> Gptq.quantize(w, 8, cols, null, spec, Gptq.Options.DEFAULT, null, arena));
            assertTrue(e.getMessage().contains("hessian must not be null"), e.getMessage());

            double[] asym = identity(cols);
            asym[1] = 0.5;
            e = assertThrows(IllegalArgumentException.class,
                    () -> Gptq.quantize(w, 8, cols, asym, spec, Gptq.Options.DEFAULT, null, arena));
            assertTrue(e.getMessage().contains("not symmetric"), e.getMessage());

            double[] neg = identity(cols);
            neg[3 * cols + 3] = -1;
            e = assertThrows(IllegalArgumentException.class,
                    () -> Gptq.quantize(w, 8, cols, neg, spec, Gptq.Options.DEFAULT, null, arena));
            assertTrue(e.getMessage().contains("diagonal entry 3 is negative"), e.getMessage());

            // Rank one, no dampening: not positive definite.
            double[] rank1 = new double[cols * cols];
            for (int i = 0; i < rank1.length; i++) {
                rank1[i] = 1;
            }
            e = assertThrows(IllegalArgumentException.class, () -> Gptq.quantize(w, 8, cols, rank1, spec,
                    new Gptq.Options(false, false, false, 0, 128), null, arena));
            assertTrue(e.getMessage().contains("not positive definite"), e.getMessage());

            assertThrows(IllegalArgumentException.class, () -> new Gptq.Options(false, false, false, Double.NaN, 128));
            assertThrows(IllegalArgumentException.class, () -> new Gptq.Options(false, false, false, 0.01, 0));
        }
    }

    @Test
    void upperCholeskyOfInverseIsOne() {
        int n = 37;
        float[] x = correlatedInputs(4, n, 200);
        double[] h = hessian(x, n, 200);
        for (int i = 0; i < n; i++) {
            h[i * n + i] += 0.01;
        }
        double[] u = Gptq.upperCholeskyOfInverse(h, n);
        // H · (Uᵀ U) = I.
        double[] inv = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int k = 0; k < n; k++) {
                    s += u[k * n + i] * u[k * n + j];
                }
                inv[i * n + j] = s;
            }
        }
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                assertEquals(0.0, u[i * n + j] * (j < i ? 1 : 0), 0.0, "below the diagonal");
                double s = 0;
                for (int k = 0; k < n; k++) {
                    s += h[i * n + k] * inv[k * n + j];
                }
                assertEquals(i == j ? 1 : 0, s, 1e-8, "(" + i + ", " + j + ")");
            }
        }
    }
}

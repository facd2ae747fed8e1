package dev.lowbit.kernels;

import dev.lowbit.testkit.Matrices;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** The Vector API method kernels against the scalar reference, and the reference against first principles. */
class MethodKernelsTest {
    /** Lengths that hit every tail at 256 and 512 bits. */
    static final int[] LENGTHS = {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 128, 129, 1000, 4099};

    static MethodKernels vectorOrSkip() {
        MethodKernels v = KernelProvider.vectorMethods();
        Assumptions.assumeTrue(v != null, "skipped: the Vector API cannot run here");
        return v;
    }

    /** Values over many magnitudes, both signs, zeros and subnormals. */
    static float[] values(long seed, int n) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = switch (i % 11) {
                case 0 -> 0f;
                case 1 -> -0f;
                case 2 -> Float.MIN_VALUE * (1 + rnd.nextInt(1000));
                case 3 -> (float) Math.pow(10, rnd.nextDouble(-30, 6)) * (rnd.nextBoolean() ? 1 : -1);
                default -> (float) rnd.nextDouble(-2, 2);
            };
        }
        return x;
    }

    @Test
    void scalarPowerIsMathPow() {
        float[] x = values(1, 4099);
        float[] y = new float[x.length];
        KernelProvider.scalarMethods().signedPower(x, 0, y, 0, x.length, 0.37f);
        for (int i = 0; i < x.length; i++) {
            float want = (float) (Math.signum(x[i]) * Math.pow(Math.abs(x[i]), 0.37f));
            assertEquals(want, y[i], 0f, "x = " + x[i]);
        }
        KernelProvider.scalarMethods().inversePower(y, 0, y, 0, y.length, 0.37f);
        for (int i = 0; i < x.length; i++) {
            if (Math.abs(x[i]) > 1e-30f && Math.abs(x[i]) < 1e30f) {
                assertEquals(x[i], y[i], Math.abs(x[i]) * 1e-5f, "the inverse undoes the power at " + x[i]);
            }
        }
    }

    @ParameterizedTest(name = "a = {0}")
    @ValueSource(floats = {-0.3f, 0.1f, 0.37f, 0.5f, 0.731f, 1f, 1.5f, 2.7027028f, 10f})
    void vectorPowerWithinBound(float a) {
        MethodKernels v = vectorOrSkip();
        for (int n : LENGTHS) {
            float[] x = values(n * 31L + Float.floatToIntBits(a), n + 5);
            float[] want = new float[n + 5];
            float[] got = new float[n + 5];
            java.util.Arrays.fill(got, 42f);
            KernelProvider.scalarMethods().signedPower(x, 3, want, 2, n, a);
            v.signedPower(x, 3, got, 2, n, a);
            for (int i = 0; i < n + 5; i++) {
                if (i < 2 || i >= n + 2) {
                    assertEquals(42f, got[i], 0f,
                            "wrote outside [dOff, dOff + n) at " + i);
                    continue;
                }
                float w = want[i];
                float g = got[i];
                if (Float.isInfinite(w) || w == 0f) {
                    assertEquals(w, g, 0f, "x = " + x[i + 1] + ", a = " + a);
                    continue;
                }
                float ulps = Math.abs(g - w) / Math.ulp(w);
                if (ulps > MethodKernels.POWER_ULPS || Math.signum(g) != Math.signum(w)) {
                    fail("signedPower(" + x[i + 1] + ", " + a + "): vector " + g + ", Math.pow " + w + " (" + ulps + " ulps)");
                }
            }
        }
    }

    @ParameterizedTest(name = "norm {0}")
    @ValueSource(floats = {2f, 2.4f, 1f})
    void vectorCandidateErrorsMatchScalar(float p) {
        MethodKernels v = vectorOrSkip();
        for (int n : LENGTHS) {
            float[] x = Matrices.draw(Matrices.Law.STUDENT_T3, n, n + 3);
            int k = 12;
            float[] d = new float[k];
            float[] z = new float[k];
            for (int c = 0; c < k; c++) {
                d[c] = c == 5 ? 0f : 0.2f / 15 * (1 - c / 20f);
                z[c] = c % 2 == 0 ? 8f : 7f;
            }
            double[] want = new double[k];
            double[] got = new double[k];
            KernelProvider.scalarMethods().candidateErrors(x, 3, n, d, z, k, 0, 15, p, want);
            v.candidateErrors(x, 3, n, d, z, k, 0, 15, p, got);
            for (int c = 0; c < k; c++) {
                assertEquals(want[c], got[c], 1e-4 * want[c] + 1e-30, "length " + n + ", candidate " + c);
            }
        }
    }

    @Test
    void candidateErrorsAreTheDirectSum() {
        float[] x = {0.1f, -0.25f, 0.33f, 1.9f, -2.2f};
        float[] d = {0.1f, 0.5f, 0f};
        float[] z = {0f, 1f, 0f};
        double[] out = new double[3];
        KernelProvider.scalarMethods().candidateErrors(x, 0, x.length, d, z, 3, -3, 3, 2f, out);
        // d = 0.1: 0.1 -> 0.1, -0.25 -> -0.2 (tie to even), 0.33 -> 0.3, 1.9 and -2.2 clamp to +-0.3.
        double e0 = sq(0.1f - 1 * 0.1f) + sq(-0.25f - (-2) * 0.1f) + sq(0.33f - 3 * 0.1f) + sq(1.9f - 3 * 0.1f)
                + sq(-2.2f - (-3) * 0.1f);
        assertEquals(e0, out[0], 1e-6);
        // d = 0.5, z = 1: q = clamp(rint(x/0.5 + 1), -3, 3); -2.2 -> rint(-3.4) = -3 -> (-3 - 1)*0.5 = -2.
        double e1 = sq(0.1f - 0f) + sq(-0.25f - 0f) + sq(0.33f - 0.5f) + sq(1.9f - 1f) + sq(-2.2f + 2f);
        assertEquals(e1, out[1], 1e-6);
        double e2 = 0;
        for (float v : x) {
            e2 += sq(v);
        }
        assertEquals(e2, out[2], 1e-9, "a zero scale reconstructs 0");
    }

    private static double sq(double v) {
        return v * v;
    }

    @ParameterizedTest(name = "N = {0}")
    @ValueSource(ints = {1, 3, 7, 127})
    void vectorRangeGradientMatchesScalar(int levels) {
        MethodKernels v = vectorOrSkip();
        for (int n : LENGTHS) {
            float[] x = Matrices.draw(Matrices.Law.LAPLACE, 7L * n + levels, n + 2);
            for (float frac : new float[] {0.3f, 0.8f, 1f, 1.3f}) {
                float delta = 0.06f * frac / levels;
                double[] want = new double[2];
                double[] got = new double[2];
                KernelProvider.scalarMethods().rangeGradient(x, 2, n, delta, levels, want);
                v.rangeGradient(x, 2, n, delta, levels, got);
                assertEquals(want[0], got[0], 1e-4 * want[0] + 1e-30, "loss, length " + n);
                double scale = 0;
                for (int i = 2; i < n + 2; i++) {
                    scale += Math.abs(x[i]) * 2 * 0.06 * frac;
                }
                assertEquals(want[1], got[1], 1e-4 * scale + 1e-30, "gradient, length " + n);
            }
        }
    }

    @Test
    void rangeGradientIsTheStraightThroughDerivative() {
        // Away from rounding ties the loss is smooth in s between jumps; the STE gradient of the
        // clipped part is exact, so with every element clipped it equals dL/ds.
        float[] x = {1f, -2f, 3f, -4f};
        int n = 3;
        float delta = 0.1f; // s = 0.3: every element clipped, Q = +-0.3
        double[] out = new double[2];
        KernelProvider.scalarMethods().rangeGradient(x, 0, x.length, delta, n, out);
        double loss = 0;
        double grad = 0;
        for (float v : x) {
            double e = Math.copySign(0.3f, v) - v;
            loss += e * e;
            grad += 2 * e * Math.signum(v);
        }
        assertEquals(loss, out[0], 1e-5);
        assertEquals(grad, out[1], 1e-5);
        assertTrue(out[1] < 0, "a clipped group wants a larger range");
    }
}

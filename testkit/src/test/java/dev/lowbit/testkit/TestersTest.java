package dev.lowbit.testkit;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

import java.lang.foreign.Arena;
import java.util.HashSet;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The testers find what they are for: an implementation equal to the reference passes every check, one that is off by
 * an ulp, by more than the bound, or in one range of a cut fails, and the failure names the case and its seeds.
 */
class TestersTest {
    /** Q8_0 by the rule of ggml (scale max|w| / 127 in fp16, codes rounded), written with the reference's pack. */
    private static final Inputs.Quantizer Q8_0 = (f, w, rows, k, arena) -> {
        int nb = f.groupsPerRow(k);
        int[] codes = new int[rows * k];
        float[] scales = new float[rows * nb];
        for (int r = 0; r < rows; r++) {
            for (int b = 0; b < nb; b++) {
                float max = 0;
                for (int c = b * 32; c < Math.min(k, b * 32 + 32); c++) {
                    max = Math.max(max, Math.abs(w[r * k + c]));
                }
                float d = Float.float16ToFloat(Float.floatToFloat16(max / 127));
                scales[r * nb + b] = d;
                for (int c = b * 32; c < Math.min(k, b * 32 + 32); c++) {
                    codes[r * k + c] = d == 0 ? 0 : Math.max(-127, Math.min(127, Math.round(w[r * k + c] / d)));
                }
            }
        }
        return Reference.pack(f, rows, k, codes, scales, null, null, arena);
    };

    /** Per block of 32 or per token: scale max|x| / 127, codes rounded. */
    private static final Activations.Quantizer ACTIVATIONS = (x, n, k, kind) -> {
        int pk = Activations.paddedK(k);
        int per = kind.perToken() ? 1 : pk / 32;
        int span = kind.perToken() ? pk : 32;
        byte[] codes = new byte[n * pk];
        float[] scales = new float[n * per];
        for (int t = 0; t < n; t++) {
            for (int b = 0; b < per; b++) {
                float max = 0;
                for (int c = b * span; c < Math.min(k, b * span + span); c++) {
                    max = Math.max(max, Math.abs(x[t * k + c]));
                }
                float d = max / 127;
                scales[t * per + b] = d;
                for (int c = b * span; c < Math.min(k, b * span + span); c++) {
                    codes[t * pk + c] = (byte) (d == 0 ? 0 : Math.round(x[t * k + c] / d));
                }
            }
        }
        return new Activations(kind.perToken(), n, k, codes, scales);
    };

    private static final MatmulTester.Int8Range INT8 = (w, x, r0, r1, t0, t1, y, ldy) -> {
        int k = w.cols();
        for (int t = t0; t < t1; t++) {
            for (int r = r0; r < r1; r++) {
                float acc = 0;
                for (int b = 0; b * 32 < k; b++) {
                    int isum = 0;
                    for (int c = b * 32; c < Math.min(k, b * 32 + 32); c++) {
                        isum += Reference.code(w, r, c) * x.codes()[t * x.paddedK() + c];
                    }
                    acc += isum * (Reference.scale(w, r, b) * x.scale(t, b));
                }
                if (w.outliers() != null) {
                    for (int e = w.outliers().rowPtr(r); e < w.outliers().rowPtr(r + 1); e++) {
                        int c = w.outliers().col(e);
                        acc += w.outliers().value(e) * (x.codes()[t * x.paddedK() + c] * x.scale(t, c / 32));
                    }
                }
                y[t * ldy + r] = acc;
            }
        }
    };

    private static final MatmulTester.Int8Gemm WHOLE = (w, x, y) -> INT8.gemm(w, x, 0, w.rows(), 0, x.n(), y, w.rows());

    private static final MatmulTester.F32Gemm F32 = (w, x, n, y) -> {
        int k = w.cols();
        for (int t = 0; t < n; t++) {
            for (int r = 0; r < w.rows(); r++) {
                float acc = 0;
                for (int c = 0; c < k; c++) {
                    acc += Reference.dequantize(w, r, c) * x[t * k + c];
                }
                y[t * w.rows() + r] = acc;
            }
        }
    };

    private static MatmulTester tester() {
        return new MatmulTester("test").format(QuantFormat.Q8_0).weights(Q8_0).activations(ACTIVATIONS)
                .k(1, 33, 300).rows(1, 5).tokens(1, 3);
    }

    @Test
    void theReferenceAgainstItselfPassesEveryCheck() {
        int cases = tester().splitInThirds(INT8).testInt8(WHOLE, WHOLE, MatmulTester.Check.BITS_AND_BOUND);
        assertEquals(3 * 2 * 2 * 2, cases);
        assertEquals(3 * 2 * 2, tester().testF32(F32, F32, MatmulTester.Check.BITS_AND_BOUND));
        assertEquals(12, tester().testF32(null, F32, MatmulTester.Check.BOUND));
    }

    @Test
    void anUlpOffFailsTheBitsAndNamesTheCase() {
        MatmulTester.Int8Gemm off = (w, x, y) -> {
            WHOLE.gemm(w, x, y);
            y[y.length - 1] = Math.nextUp(y[y.length - 1]);
        };
        AssertionFailedError e = assertThrows(AssertionFailedError.class,
                () -> tester().testInt8(WHOLE, off, MatmulTester.Check.BITS));
        assertTrue(e.getMessage().contains("test q8_0 Q8_0 rows=1 n=1 k=1 (weight seed 32, activation seed 2)"),
                e.getMessage());
        assertEquals(24, tester().testInt8(WHOLE, off, MatmulTester.Check.BOUND), "an ulp is within the bound");
    }

    @Test
    void anErrorBeyondTheBoundFails() {
        MatmulTester.F32Gemm far = (w, x, n, y) -> {
            F32.gemm(w, x, n, y);
            y[0] += 1e-3f * (1 + Math.abs(y[0]));
        };
        AssertionFailedError e = assertThrows(AssertionFailedError.class,
                () -> tester().testF32(null, far, MatmulTester.Check.BOUND));
        assertTrue(e.getMessage().contains("exact") && e.getMessage().contains("seed"), e.getMessage());
        MatmulTester.Int8Gemm farInt = (w, x, y) -> {
            WHOLE.gemm(w, x, y);
            y[0] += 1e-3f * (1 + Math.abs(y[0]));
        };
        assertThrows(AssertionFailedError.class, () -> tester().testInt8(WHOLE, farInt, MatmulTester.Check.BOUND));
    }

    @Test
    void aRangeThatIsNotComputedFailsTheCut() {
        MatmulTester.Int8Range lazy = (w, x, r0, r1, t0, t1, y, ldy) -> {
            if (t0 == 0) {
                INT8.gemm(w, x, r0, r1, t0, t1, y, ldy);
            }
        };
        AssertionFailedError e = assertThrows(AssertionFailedError.class,
                () -> tester().splitInThirds(lazy).testInt8(WHOLE, WHOLE, MatmulTester.Check.BITS));
        assertTrue(e.getMessage().contains("token by token"), e.getMessage());
        assertThrows(AssertionFailedError.class,
                () -> tester().splitInGroups(2, lazy).testInt8(WHOLE, WHOLE, MatmulTester.Check.BITS));
    }

    @Test
    void quantizeTesterComparesEveryPlane() {
        QuantizeTester q = new QuantizeTester("test").format(QuantFormat.Q8_0).k(1, 32, 33, 1100).rows(1, 3)
                .values("tricky", Inputs::tricky);
        QuantizeTester.Dequantizer dq = (t, out) -> {
            for (int r = 0; r < t.rows(); r++) {
                for (int c = 0; c < t.cols(); c++) {
                    out[r * t.cols() + c] = Reference.dequantize(t, r, c);
                }
            }
        };
        assertEquals(4 * 2 * 2, q.test(Q8_0, Q8_0, dq, dq));
        Inputs.Quantizer changed = (f, w, rows, k, arena) -> {
            float[] v = w.clone();
            v[v.length - 1] = 1e4f;
            return Q8_0.quantize(f, v, rows, k, arena);
        };
        AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> q.test(Q8_0, changed));
        assertTrue(e.getMessage().contains("codes differ at byte") && e.getMessage().contains("(seed 32)"),
                e.getMessage());
    }

    @Test
    void formatListsHoldEachFormatOnce() {
        List<QuantFormat> all = Formats.all();
        assertEquals(3 + 4 * 4 * 2 * 2 + 4 * 2, all.size());
        assertEquals(all.size(), new HashSet<>(all).size());
        assertTrue(all.containsAll(Formats.integerPath()));
        assertTrue(all.containsAll(Formats.groupedIntegerPath()));
        assertTrue(all.containsAll(Formats.groupedWeightOnly()));
        assertEquals(19, Formats.integerPath().size());
        assertEquals(all.size() - 2, Formats.groupedWeightOnly().size());
    }

    @Test
    void inputsAreSeeded() {
        assertEquals(100, Inputs.gaussian(5, 100).length);
        assertTrue(java.util.Arrays.equals(Inputs.gaussian(5, 100), Inputs.gaussian(5, 100)));
        assertTrue(!java.util.Arrays.equals(Inputs.gaussian(5, 100), Inputs.gaussian(6, 100)));
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor w = Inputs.weights(Q8_0, QuantFormat.Q8_0, 3, 70, 1, true, arena);
            assertTrue(w.outliers() != null && w.outliers().rowPtr(3) >= 2, "the planted outliers");
        }
    }
}

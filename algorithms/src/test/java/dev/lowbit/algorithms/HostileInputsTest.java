package dev.lowbit.algorithms;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.QuantOps;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every quantization method and ggml format on hostile values: NaN, infinities, values near the float
 * maximum, denormals, the smallest normal, all zeros, constant rows. A method either refuses the matrix
 * with an {@link IllegalArgumentException} whose message is one line, or returns a tensor whose scales
 * and zero points are finite, whose dequantized values are finite, and whose squared error over the
 * finite inputs is no worse than that of all zeros (the sum of their squares): never a silent NaN or a
 * reconstruction far off the input.
 */
class HostileInputsTest {
    private static final int ROWS = 4;
    private static final int COLS = 256;
    private static final long SEED = 20261207L;
    private static final int[] BITS = {2, 3, 4, 8};
    private static final int[] GROUPS = {32, 64, 128, QuantFormat.ROW};

    /** The hostile matrices, by name; each {@code ROWS x COLS}, seeded. */
    static Map<String, float[]> cases() {
        Map<String, float[]> m = new LinkedHashMap<>();
        m.put("nan", gaussian(1, 1f, (i, v) -> i % 17 == 3 ? Float.NaN : v));
        m.put("inf", gaussian(2, 1f, (i, v) -> i % 19 == 2 ? Float.POSITIVE_INFINITY : i % 23 == 5 ? Float.NEGATIVE_INFINITY : v));
        m.put("1e38", gaussian(3, 1f, (i, v) -> i % 29 == 1 ? (i % 2 == 0 ? 1e38f : -1e38f) : v));
        m.put("3.4e38", gaussian(4, 1f, (i, v) -> i % 31 == 7 ? (i % 2 == 0 ? 3.4e38f : -3.4e38f) : v));
        m.put("all 3.4e38", gaussian(5, 1f, (i, v) -> i % 2 == 0 ? Float.MAX_VALUE : -Float.MAX_VALUE));
        m.put("denormal 1e-40", gaussian(6, 1e-40f, (i, v) -> v));
        m.put("denormal 1.4e-45", gaussian(7, 1f, (i, v) -> v > 0.5f ? Float.MIN_VALUE : v < -0.5f ? -Float.MIN_VALUE : 0f));
        m.put("1.2e-38", gaussian(8, 1.2e-38f, (i, v) -> v));
        m.put("zeros", new float[ROWS * COLS]);
        float[] constant = new float[ROWS * COLS];
        float[] values = {0.75f, -3f, 1e-40f, 3.4e38f};
        for (int i = 0; i < constant.length; i++) {
            constant[i] = values[i / COLS];
        }
        m.put("constant rows", constant);
        float[] nonFinite = gaussian(9, 1f, (i, v) -> switch (i / COLS) {
            case 0 -> Float.NaN;
            case 1 -> Float.POSITIVE_INFINITY;
            case 2 -> Float.NEGATIVE_INFINITY;
            default -> v;
        });
        m.put("non-finite rows", nonFinite);
        float[] mixed = gaussian(10, 1f, (i, v) -> switch (i / COLS) {
            case 0 -> v;
            case 1 -> i % 5 == 0 ? Float.NaN : v;
            case 2 -> v * 1e-40f;
            default -> i % 7 == 0 ? (v > 0 ? 3.4e38f : -3.4e38f) : v;
        });
        m.put("mixed rows", mixed);
        return m;
    }

    private interface Edit {
        float at(int i, float v);
    }

    private static float[] gaussian(long salt, float scale, Edit edit) {
        SplittableRandom r = new SplittableRandom(SEED + salt);
        float[] w = new float[ROWS * COLS];
        for (int i = 0; i < w.length; i++) {
            float g = (float) (nextGaussian(r) * scale);
            w[i] = edit.at(i, g);
        }
        return w;
    }

    private static double nextGaussian(SplittableRandom r) {
        double u = r.nextDouble();
        double v = r.nextDouble();
        return Math.sqrt(-2 * Math.log1p(-u)) * Math.cos(2 * Math.PI * v);
    }

    /** A method run: its label and how it turns a matrix into a tensor and its decoded values. */
    private record Run(String label, Function<float[], Decoded> quantize) {
    }

    private record Decoded(QuantizedTensor tensor, float[] values) {
    }

    private static List<Run> runs(Arena arena) {
        List<Run> out = new ArrayList<>();
        List<String> methods = MethodRegistry.planes();
        List<QuantSpec> specs = new ArrayList<>();
        for (int bits : BITS) {
            for (int group : GROUPS) {
                for (ScaleType st : ScaleType.values()) {
                    specs.add(new QuantSpec(bits, group, st));
                }
            }
        }
        for (String method : methods) {
            for (QuantSpec spec : specs) {
                if (!MethodRegistry.get(method).takes(spec.bits())) {
                    continue;
                }
                Quantizer q = MethodRegistry.get(method).quantizer(spec, null);
                String label = method + " " + spec.bits() + "-bit " + (spec.groupSize() == QuantFormat.ROW ? "row" : "g" + spec.groupSize())
                        + " " + spec.scaleType().name().toLowerCase(java.util.Locale.ROOT);
                out.add(new Run(label, w -> {
                    QuantResult r = q.quantize(w, ROWS, COLS, arena);
                    float[] back = new float[w.length];
                    if (r.exponents() != null) {
                        Nupes.dequantize(r, back);
                    } else {
                        QuantOps.get().dequantize(r.tensor(), back);
                    }
                    return new Decoded(r.tensor(), back);
                }));
            }
        }
        for (QuantFormat f : List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1)) {
            out.add(new Run("QuantOps " + f.name(), w -> {
                QuantizedTensor t = QuantOps.get().quantize(f, w, ROWS, COLS, arena);
                float[] back = new float[w.length];
                QuantOps.get().dequantize(t, back);
                return new Decoded(t, back);
            }));
        }
        return out;
    }

    @TestFactory
    List<DynamicTest> everyMethodRefusesOrStaysFiniteAndNoWorseThanZeros() {
        Arena arena = Arena.ofAuto();
        Map<String, float[]> cases = cases();
        List<DynamicTest> tests = new ArrayList<>();
        for (Run run : runs(arena)) {
            for (Map.Entry<String, float[]> c : cases.entrySet()) {
                tests.add(DynamicTest.dynamicTest(run.label + " on " + c.getKey(), () -> check(run, c.getKey(), c.getValue())));
            }
        }
        return tests;
    }

    private static void check(Run run, String name, float[] w) {
        String where = run.label + " on " + name + " (seed " + SEED + ")";
        Decoded d;
        try {
            d = run.quantize.apply(w.clone());
        } catch (IllegalArgumentException refused) {
            String m = refused.getMessage();
            assertNotNull(m, where + ": refused with no message");
            assertTrue(!m.isBlank() && m.indexOf('\n') < 0 && m.indexOf('\r') < 0, where + ": refused with '" + m + "'");
            return;
        }
        QuantizedTensor t = d.tensor;
        QuantFormat f = t.format();
        int groups = f.groupsPerRow(COLS);
        boolean zeros = f.kind() == QuantFormat.Kind.Q4_1 || f.hasZeroPlane();
        for (int r = 0; r < ROWS; r++) {
            for (int g = 0; g < groups; g++) {
                float s = Reference.scale(t, r, g);
                if (!Float.isFinite(s)) {
                    fail(where + ": row " + r + " group " + g + " has scale " + s);
                }
                if (zeros && !Float.isFinite(Reference.zero(t, r, g))) {
                    fail(where + ": row " + r + " group " + g + " has zero point " + Reference.zero(t, r, g));
                }
            }
        }
        double err = 0;
        double energy = 0;
        for (int i = 0; i < w.length; i++) {
            if (!Float.isFinite(d.values[i])) {
                fail(where + ": element " + i + " (row " + i / COLS + ") dequantizes to " + d.values[i] + " from " + w[i]);
            }
            if (Float.isFinite(w[i])) {
                double e = (double) w[i] - d.values[i];
                err += e * e;
                energy += (double) w[i] * w[i];
            }
        }
        if (!(err <= energy * (1 + 1e-6))) {
            fail(where + ": squared error " + err + " over the finite inputs is worse than all zeros' " + energy);
        }
    }
}

package dev.lowbit.algorithms;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.NonFinitePolicy;
import dev.lowbit.kernels.QuantOps;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every method on hostile and tiny weights (zeros, subnormals, the smallest float, values at the edge of the
 * normal range, tiny groups beside ordinary ones, ±1e38, constant rows, one huge outlier) at every width and
 * group size: the result has finite scales and zero points, decodes to finite values, and no group of tiny
 * weights (and no whole tensor) decodes with a larger squared error than all zeros would; or the call refuses
 * in one line that names the row and group. Weights beyond what fp16 scales can step over are refused with
 * the remedy.
 */
class TinyWeightsTest {
    static final long SEED = 20261207L;
    static final int ROWS = 3;
    static final int COLS = 200; // partial last groups at 32, 64 and 128
    static final String[] METHODS = {"rtn", "rtn-sym", "mse", "hqq", "easyquant", "nupes", "nupes-row", "nf4", "gptq",
        "gptq-mse-sym"};

    static Map<String, float[]> inputs() {
        SplittableRandom rnd = new SplittableRandom(SEED);
        int n = ROWS * COLS;
        Map<String, float[]> in = new LinkedHashMap<>();
        float[] zeros = new float[n];
        for (int i = 0; i < n; i += 3) {
            zeros[i] = -0f;
        }
        in.put("all 0", zeros);
        in.put("all 1e-40", filled(n, 1e-40f));
        in.put("all 1.4e-45", filled(n, 1.4e-45f));
        in.put("all 1.2e-38", filled(n, 1.2e-38f));
        float[] tiny = new float[n];
        for (int i = 0; i < n; i++) {
            tiny[i] = (float) (gaussian(rnd) * (i % 2 == 0 ? 1e-40 : 1e-38));
        }
        in.put("tiny of both signs", tiny);
        float[] mixed = new float[n];
        for (int i = 0; i < n; i++) {
            int block = (i % COLS) / 32;
            mixed[i] = (float) (gaussian(rnd) * (block % 2 == 0 ? 1e-40 : 0.02));
        }
        in.put("tiny and ordinary groups", mixed);
        float[] below = new float[n];
        for (int i = 0; i < n; i++) {
            below[i] = (float) (gaussian(rnd) * 1e-8); // fp16 scales below its smallest step
        }
        in.put("gaussian 1e-8", below);
        float[] huge = new float[n];
        for (int i = 0; i < n; i++) {
            huge[i] = (float) ((rnd.nextDouble() * 2 - 1) * 1e38);
        }
        in.put("+-1e38", huge);
        float[] constant = new float[n];
        Arrays.fill(constant, 0, COLS, 0.37f);
        Arrays.fill(constant, COLS, 2 * COLS, -3f);
        Arrays.fill(constant, 2 * COLS, n, 1e-6f);
        in.put("constant rows", constant);
        float[] outlier = new float[n];
        for (int i = 0; i < n; i++) {
            outlier[i] = (float) (gaussian(rnd) * 0.02);
        }
        outlier[COLS + 77] = 3e4f;
        in.put("one huge outlier", outlier);
        return in;
    }

    @Test
    void everyMethodStaysFiniteAndNeverWorseThanZeros() {
        Map<String, float[]> inputs = inputs();
        double[] h = hessian(COLS, SEED);
        List<String> failures = new ArrayList<>();
        int runs = 0;
        try (Arena arena = Arena.ofShared()) {
            for (ScaleType type : ScaleType.values()) {
                for (int bits : new int[] {2, 3, 4, 8}) {
                    for (int group : new int[] {32, 64, 128, QuantFormat.ROW}) {
                        QuantSpec spec = new QuantSpec(bits, group, type);
                        for (String method : METHODS) {
                            if (method.equals("nf4") && bits != 4) {
                                continue;
                            }
                            for (Map.Entry<String, float[]> e : inputs.entrySet()) {
                                String where = method + " " + bits + " bits, group " + (group == 0 ? "row" : group) + ", "
                                        + type + " scales, " + e.getKey() + " (seed " + SEED + ")";
                                boolean mayRefuse = type == ScaleType.F16 && e.getKey().equals("+-1e38");
                                runs++;
                                check(method, spec, e.getValue(), h, mayRefuse, where, arena, failures);
                            }
                        }
                    }
                }
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " of " + runs + " runs failed:\n"
                + String.join("\n", failures.subList(0, Math.min(40, failures.size()))));
    }

    static QuantResult run(String method, QuantSpec spec, float[] w, double[] h, Arena arena) {
        return switch (method) {
            case "rtn-sym" -> new Rtn(spec, true, null).quantize(w, ROWS, COLS, arena);
            case "nupes-row" -> new Nupes(spec, true, 0.1f, 1f, 1e-3f, 50, null, KernelProvider.methods())
                    .quantize(w, ROWS, COLS, arena);
            case "gptq" -> Gptq.quantize(w, ROWS, COLS, h, spec, Gptq.Options.DEFAULT, null, arena);
            case "gptq-mse-sym" -> Gptq.quantize(w, ROWS, COLS, identity(COLS), spec,
                    Gptq.Options.DEFAULT.withMseGrid(true).withSymmetric(true), null, arena);
            default -> Quantizers.byName(method, spec, null).quantize(w, ROWS, COLS, arena);
        };
    }

    private static void check(String method, QuantSpec spec, float[] w, double[] h, boolean mayRefuse, String where,
                              Arena arena, List<String> failures) {
        QuantResult r;
        try {
            r = run(method, spec, w, h, arena);
        } catch (IllegalArgumentException e) {
            String m = String.valueOf(e.getMessage());
            if (!mayRefuse) {
                failures.add(where + ": refused: " + m);
            } else if (m.contains("\n") || !m.startsWith("row ") || !m.contains(", group ")
                    || !m.endsWith("; store scales as F32")) {
                failures.add(where + ": refused without naming the row, group and remedy in one line: " + m);
            }
            return;
        }
        if (mayRefuse) {
            failures.add(where + ": quantized values that F16 scales cannot step over");
            return;
        }
        Reference.Unpacked u = Reference.unpack(r.tensor());
        for (int i = 0; i < u.scales().length; i++) {
            if (!Float.isFinite(u.scales()[i]) || (u.zeros() != null && !Float.isFinite(u.zeros()[i]))) {
                failures.add(where + ": group " + i + " has scale " + u.scales()[i]
                        + (u.zeros() == null ? "" : " and zero point " + u.zeros()[i]));
                return;
            }
        }
        float[] back = new float[w.length];
        if (r.exponentsInTensor()) {
            QuantOps.get().dequantize(r.tensor(), back);
        } else {
            Nupes.dequantize(r, back);
        }
        double err = 0;
        double energy = 0;
        for (int i = 0; i < w.length; i++) {
            if (!Float.isFinite(back[i])) {
                failures.add(where + ": element " + i + " decodes to " + back[i]);
                return;
            }
            double d = (double) w[i] - back[i];
            err += d * d;
            energy += (double) w[i] * w[i];
        }
        if (Math.abs(err - r.squaredError()) > 1e-9 * err) {
            failures.add(where + ": reports squared error " + r.squaredError() + ", decodes to " + err);
        }
        if (method.equals("gptq")) {
            // GPTQ moves error between columns to lower the layer's output error (W - Ŵ)ᵀ H (W - Ŵ), not the weights'
            // own, so a group of tiny weights may take on its neighbours' error: the bound holds for the output.
            double out = 0;
            double zero = 0;
            for (int row = 0; row < ROWS; row++) {
                for (int i = 0; i < COLS; i++) {
                    for (int j = 0; j < COLS; j++) {
                        double hij = h[i * COLS + j];
                        int a = row * COLS + i;
                        int b = row * COLS + j;
                        out += ((double) w[a] - back[a]) * hij * ((double) w[b] - back[b]);
                        zero += (double) w[a] * hij * w[b];
                    }
                }
            }
            if (!(out <= zero)) {
                failures.add(where + ": output error " + out + " above the " + zero + " of all zeros");
            }
            return;
        }
        if (!(err <= energy)) {
            failures.add(where + ": squared error " + err + " above the " + energy + " of all zeros");
        }
        // Every group of tiny weights on its own: the floor may not decode them further away than 0.
        int gl = r.tensor().format().groupLength(COLS);
        for (int row = 0; row < ROWS; row++) {
            for (int from = 0; from < COLS; from += gl) {
                int a = row * COLS + from;
                int b = row * COLS + Math.min(COLS, from + gl);
                double ge = 0;
                double gz = 0;
                boolean tinyGroup = true;
                for (int i = a; i < b; i++) {
                    tinyGroup &= Math.abs(w[i]) < 1e-30f;
                    double d = (double) w[i] - back[i];
                    ge += d * d;
                    gz += (double) w[i] * w[i];
                }
                if (tinyGroup && !(ge <= gz)) {
                    failures.add(where + ": row " + row + ", columns " + from + "..: squared error " + ge
                            + " above the " + gz + " of all zeros");
                    return;
                }
            }
        }
    }

    /** Weights that need a scale beyond fp16: every method names the row, the group, the weight and the remedy. */
    @Test
    void scalesBeyondF16AreRefusedWithTheirGroup() {
        float[] w = new float[ROWS * COLS];
        for (int i = 0; i < w.length; i++) {
            w[i] = (i % 7 - 3) * 0.01f;
        }
        w[COLS + 70] = 1e9f; // row 1, group 2 of 32
        double[] identity = identity(COLS);
        try (Arena arena = Arena.ofConfined()) {
            for (String method : METHODS) {
                for (int bits : new int[] {2, 4, 8}) {
                    if (method.equals("nf4") && bits != 4) {
                        continue;
                    }
                    QuantSpec f16 = new QuantSpec(bits, 32, ScaleType.F16);
                    String where = method + " " + bits + " bits";
                    if (method.equals("easyquant")) {
                        // 1e9 lies far beyond 3 standard deviations of its row: an outlier, kept in fp32.
                        QuantResult r = run(method, f16, w, identity, arena);
                        assertEquals(1, r.outliers(), where);
                        assertEquals(1e9f, r.tensor().outliers().value(0), where);
                        continue;
                    }
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                            () -> run(method, f16, w, identity, arena), where);
                    String m = e.getMessage();
                    assertTrue(m.startsWith("row 1, group 2 (columns 64..95): value 1.0E9 at column 70 needs a scale of "),
                            where + ": " + m);
                    assertTrue(m.endsWith(", beyond the F16 range (largest 65504); store scales as F32"), where + ": " + m);
                    assertTrue(!m.contains("\n"), where + ": " + m);
                    // The same weights with F32 scales quantize, and the outlier comes back within a step.
                    QuantResult r = run(method, new QuantSpec(bits, 32, ScaleType.F32), w, identity, arena);
                    float[] back = new float[w.length];
                    if (r.exponentsInTensor()) {
                        QuantOps.get().dequantize(r.tensor(), back);
                    } else {
                        Nupes.dequantize(r, back);
                    }
                    assertEquals(1e9, back[COLS + 70], 1e9 / 2, where + " with F32 scales");
                }
            }
        }
    }

    /** Of several rows that cannot be stored, the lowest is named, whatever the number of threads. */
    @Test
    void refusalNamesTheLowestRowOnAnyThreads() {
        int rows = 64;
        int cols = 64;
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) {
            w[i] = (i % 5 - 2) * 0.01f;
        }
        w[61 * cols + 3] = 1e9f;
        w[23 * cols + 40] = -1e9f;
        dev.lowbit.kernels.ThreadPool pool = dev.lowbit.kernels.ThreadPool.forkJoin(4);
        try (Arena arena = Arena.ofShared()) {
            for (String method : new String[] {"rtn", "mse", "hqq", "nupes", "nf4"}) {
                for (int attempt = 0; attempt < 5; attempt++) {
                    Quantizer q = Quantizers.byName(method, new QuantSpec(4, 32, ScaleType.F16), pool);
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                            () -> q.quantize(w, rows, cols, arena), method);
                    assertTrue(e.getMessage().startsWith("row 23, group 1 (columns 32..63): value -1.0E9 at column 40"),
                            method + ": " + e.getMessage());
                }
            }
        } finally {
            pool.close();
        }
    }

    /** A group whose values span more than the largest float is refused, F32 scales or not, with both values. */
    @Test
    void spanBeyondTheLargestFloatIsRefused() {
        float[] w = new float[2 * 64];
        w[64 + 3] = -3e38f;
        w[64 + 40] = 3e38f;
        try (Arena arena = Arena.ofConfined()) {
            for (String method : new String[] {"rtn", "mse", "hqq", "gptq"}) {
                QuantSpec spec = new QuantSpec(4, 64, ScaleType.F32);
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> {
                    if ("gptq".equals(method)) {
                        Gptq.quantize(w, 2, 64, identity(64), spec, Gptq.Options.DEFAULT, null, arena);
                    } else {
                        Quantizers.byName(method, spec, null).quantize(w, 2, 64, arena);
                    }
                }, method);
                assertEquals("row 1, group 0 (columns 0..63): the values -3.0E38 (column 3) and 3.0E38 (column 40) lie"
                        + " further apart than the largest float, so no scale steps between them; scale the matrix down",
                        e.getMessage(), method);
            }
        }
    }

    /** Weights at the largest float with F32 scales: EasyQuant's and HQQ's outermost levels stay finite. */
    @Test
    void largestFloatsDecodeToFiniteValues() {
        float max = Float.MAX_VALUE;
        float[] w = new float[3 * 32];
        Arrays.fill(w, 0, 32, max);
        Arrays.fill(w, 32, 64, -max);
        for (int i = 64; i < 96; i++) {
            w[i] = i % 4 == 0 ? max : i % 4 == 1 ? max / 3 : i % 4 == 2 ? 1f : 0f;
        }
        try (Arena arena = Arena.ofConfined()) {
            for (String method : new String[] {"easyquant", "hqq"}) {
                for (int bits : new int[] {2, 3, 4, 8}) {
                    QuantResult r = Quantizers.byName(method, new QuantSpec(bits, 32, ScaleType.F32), null)
                            .quantize(w, 3, 32, arena);
                    float[] back = new float[w.length];
                    QuantOps.get().dequantize(r.tensor(), back);
                    for (int i = 0; i < w.length; i++) {
                        assertTrue(Float.isFinite(back[i]), method + " " + bits + " bits: element " + i + " decodes to "
                                + back[i]);
                    }
                    assertTrue(r.squaredError() <= r.energy(), method + " " + bits + " bits: " + r.squaredError());
                }
            }
        }
    }

    /**
     * HQQ on a group far from 0: its float zero point {@code -min·S} (about -1.5e7 at 8 bits) is beyond fp16, but the
     * weights are not, so the group takes RTN's grid (integer zero point) instead of being refused.
     */
    @Test
    void hqqGroupFarFromZeroFitsF16() {
        float[] w = new float[2 * 64];
        for (int i = 0; i < w.length; i++) {
            w[i] = 60000f + (i % 9) / 8f;
        }
        try (Arena arena = Arena.ofConfined()) {
            QuantResult hqq = new Hqq(new QuantSpec(8, 32, ScaleType.F16), null).quantize(w, 2, 64, arena);
            QuantResult rtn = new Rtn(new QuantSpec(8, 32, ScaleType.F16), false, null).quantize(w, 2, 64, arena);
            assertArrayEquals(Reference.unpack(rtn.tensor()).codes(), Reference.unpack(hqq.tensor()).codes());
            assertEquals(rtn.squaredError(), hqq.squaredError());
        }
    }

    /** The floor on tiny groups: all-1e-40 weights decode to exactly 0, with finite scales. */
    @Test
    void subnormalGroupsDecodeToZero() {
        float[] w = filled(2 * 64, 1e-40f);
        try (Arena arena = Arena.ofConfined()) {
            for (String method : new String[] {"rtn", "mse", "hqq", "easyquant", "nupes", "nf4"}) {
                QuantResult r = Quantizers.byName(method, new QuantSpec(4, 32, ScaleType.F16), null)
                        .quantize(w, 2, 64, arena);
                float[] back = new float[w.length];
                QuantOps.get().dequantize(r.tensor(), back);
                assertTrue(Arrays.equals(new float[w.length], back), method + ": " + Arrays.toString(back));
                for (float s : Reference.unpack(r.tensor()).scales()) {
                    assertEquals(0x1p-24f, s, method + ": the floored scale");
                }
            }
        }
    }

    /** NaN and infinities are refused by every method with the same one-line message naming row and column. */
    @Test
    void nonFiniteWeightsAreRefusedByEveryMethod() {
        float[] bad = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
        double[] identity = identity(COLS);
        try (Arena arena = Arena.ofConfined()) {
            for (float v : bad) {
                float[] w = new float[ROWS * COLS];
                w[2 * COLS + 5] = v;
                w[2 * COLS + 9] = Float.NaN; // only the first is named
                for (String method : METHODS) {
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                            () -> run(method, new QuantSpec(4, 64, ScaleType.F16), w, identity, arena), method);
                    assertEquals("value " + v + " at index " + (2 * COLS + 5) + " (row 2, column 5) is not finite",
                            e.getMessage(), method);
                }
            }
        }
    }

    /**
     * With {@link NonFinitePolicy#CLAMP} every method quantizes the clamped copy (NaN to 0, an infinity to the
     * row's largest finite magnitude): the bytes of quantizing that copy, finite scales and values; a row of
     * infinities only becomes zeros. REJECT is the plain call.
     */
    @Test
    void nonFiniteWeightsAreClampedByEveryMethod() {
        SplittableRandom rnd = new SplittableRandom(SEED);
        float[] w = new float[ROWS * COLS];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (gaussian(rnd) * 0.02);
        }
        w[5] = Float.NaN;
        w[COLS + 17] = Float.POSITIVE_INFINITY;
        w[COLS + 18] = Float.NEGATIVE_INFINITY;
        for (int c = 0; c < COLS; c++) {
            w[2 * COLS + c] = c % 2 == 0 ? Float.POSITIVE_INFINITY : Float.NaN;
        }
        float big = 0f;
        for (int c = 0; c < COLS; c++) {
            big = Float.isFinite(w[COLS + c]) ? Math.max(big, Math.abs(w[COLS + c])) : big;
        }
        float[] clamped = w.clone();
        clamped[5] = 0f;
        clamped[COLS + 17] = big;
        clamped[COLS + 18] = -big;
        Arrays.fill(clamped, 2 * COLS, 3 * COLS, 0f);
        double[] h = hessian(COLS, SEED);
        try (Arena arena = Arena.ofConfined()) {
            for (String method : METHODS) {
                QuantSpec spec = new QuantSpec(4, 64, ScaleType.F16);
                QuantResult got = switch (method) {
                    case "rtn-sym" -> new Rtn(spec, true, null).quantize(w, ROWS, COLS, arena, NonFinitePolicy.CLAMP);
                    case "nupes-row" -> new Nupes(spec, true, 0.1f, 1f, 1e-3f, 50, null, KernelProvider.methods())
                            .quantize(w, ROWS, COLS, arena, NonFinitePolicy.CLAMP);
                    case "gptq" -> Gptq.quantize(w, ROWS, COLS, h, spec, Gptq.Options.DEFAULT, null, arena,
                            NonFinitePolicy.CLAMP);
                    case "gptq-mse-sym" -> Gptq.quantize(w, ROWS, COLS, identity(COLS), spec,
                            Gptq.Options.DEFAULT.withMseGrid(true).withSymmetric(true), null, arena, NonFinitePolicy.CLAMP);
                    default -> Quantizers.byName(method, spec, null).quantize(w, ROWS, COLS, arena, NonFinitePolicy.CLAMP);
                };
                QuantResult want = run(method, spec, clamped, h, arena);
                Reference.Unpacked a = Reference.unpack(got.tensor());
                Reference.Unpacked b = Reference.unpack(want.tensor());
                assertArrayEquals(b.codes(), a.codes(), method);
                assertArrayEquals(b.scales(), a.scales(), method);
                for (float v : a.scales()) {
                    assertTrue(Float.isFinite(v), method + ": scale " + v);
                }
                assertEquals(want.squaredError(), got.squaredError(), method);
                assertTrue(Double.isFinite(got.squaredError()), method);
                if (!method.startsWith("gptq")) {
                    Quantizer q = method.equals("rtn-sym") ? new Rtn(spec, true, null) : method.equals("nupes-row")
                            ? new Nupes(spec, true, 0.1f, 1f, 1e-3f, 50, null, KernelProvider.methods())
                            : Quantizers.byName(method, spec, null);
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                            () -> q.quantize(w, ROWS, COLS, arena, NonFinitePolicy.REJECT), method);
                    assertEquals("value NaN at index 5 (row 0, column 5) is not finite", e.getMessage(), method);
                }
            }
        }
    }

    static double[] identity(int n) {
        double[] h = new double[n * n];
        for (int i = 0; i < n; i++) {
            h[i * n + i] = 1;
        }
        return h;
    }

    /** A seeded Hessian of correlated inputs: each column of 2·cols tokens shares a common component. */
    static double[] hessian(int cols, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int n = 2 * cols;
        float[] x = new float[cols * n];
        double[] common = new double[n];
        for (int t = 0; t < n; t++) {
            common[t] = gaussian(rnd);
        }
        for (int c = 0; c < cols; c++) {
            for (int t = 0; t < n; t++) {
                x[c * n + t] = (float) (0.6 * common[t] + gaussian(rnd));
            }
        }
        return GptqTest.hessian(x, cols, n);
    }

    static float[] filled(int n, float v) {
        float[] x = new float[n];
        Arrays.fill(x, v);
        return x;
    }

    static double gaussian(SplittableRandom rnd) {
        double u = 1 - rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd.nextDouble());
    }
}

package dev.lowbit.kernels;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.impl.ScalarQuantKernels;
import dev.lowbit.testkit.Formats;
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
 * The scale floor and the refusals of {@link ScaleRule}, on every format of {@link QuantOps}: tiny and hostile
 * groups keep finite scales, decode to finite values and never further from their weights than all zeros;
 * ggml blocks of subnormal weights store the documented bytes; a scale beyond its type is refused in one line
 * naming the row, the group or block, the weight and the remedy.
 */
class ScaleRuleTest {
    static final long SEED = 77L;
    static final int ROWS = 3;
    static final int COLS = 200;

    static Map<String, float[]> inputs() {
        SplittableRandom rnd = new SplittableRandom(SEED);
        int n = ROWS * COLS;
        Map<String, float[]> in = new LinkedHashMap<>();
        in.put("all 0", new float[n]);
        for (float v : new float[] {1e-40f, -1e-40f, Float.MIN_VALUE, 1.2e-38f, -1.2e-38f, 3e-8f, -1e-6f}) {
            float[] x = new float[n];
            Arrays.fill(x, v);
            in.put("all " + v, x);
        }
        double[] mags = {1e-40, 1e-38, 1e-8, 0.02};
        float[] mixed = new float[n];
        for (int i = 0; i < n; i++) {
            mixed[i] = (float) (gaussian(rnd) * mags[(i % COLS) / 32 % mags.length]);
        }
        in.put("tiny and ordinary blocks", mixed);
        float[] oneSided = new float[n];
        for (int i = 0; i < n; i++) {
            oneSided[i] = (float) (1e-7 * (1 + rnd.nextDouble())) * (i % COLS < 100 ? 1 : -1);
        }
        in.put("one-sided 1e-7", oneSided);
        float[] outlier = new float[n];
        for (int i = 0; i < n; i++) {
            outlier[i] = (float) (gaussian(rnd) * 0.02);
        }
        outlier[COLS + 77] = 3e4f;
        in.put("one huge outlier", outlier);
        float[] huge = new float[n];
        for (int i = 0; i < n; i++) {
            huge[i] = (float) ((rnd.nextDouble() * 2 - 1) * 1e38);
        }
        in.put("+-1e38", huge);
        return in;
    }

    @Test
    void everyFormatStaysFiniteAndNeverWorseThanZeros() {
        List<String> failures = new ArrayList<>();
        List<QuantOps> impls = List.of(QuantOps.get(), new QuantOps(ScalarQuantKernels.INSTANCE, ThreadPool.callerThread()));
        try (Arena arena = Arena.ofShared()) {
            for (QuantOps ops : impls) {
                for (QuantFormat f : Formats.all()) {
                    for (Map.Entry<String, float[]> e : inputs().entrySet()) {
                        String where = ops.kernels().name() + " " + f + ", " + e.getKey() + " (seed " + SEED + ")";
                        float[] x = e.getValue();
                        boolean huge = e.getKey().equals("+-1e38");
                        QuantizedTensor t;
                        try {
                            t = ops.quantize(f, x, ROWS, COLS, arena);
                        } catch (IllegalArgumentException ex) {
                            boolean f16 = f.isGgml() || f.scaleType() == ScaleType.F16;
                            String m = ex.getMessage();
                            if (!huge || !f16) {
                                failures.add(where + ": refused: " + m);
                            } else if (m.contains("\n") || !m.startsWith("row 0, ") || !m.contains("beyond the F16 range")) {
                                failures.add(where + ": refused without row, group and range in one line: " + m);
                            }
                            continue;
                        }
                        if (huge && (f.isGgml() || f.scaleType() == ScaleType.F16)) {
                            failures.add(where + ": quantized values beyond what F16 scales step over");
                            continue;
                        }
                        check(ops, t, x, where, failures);
                    }
                }
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " failures:\n"
                + String.join("\n", failures.subList(0, Math.min(40, failures.size()))));
    }

    private static void check(QuantOps ops, QuantizedTensor t, float[] x, String where, List<String> failures) {
        Reference.Unpacked u = Reference.unpack(t);
        for (int i = 0; i < u.scales().length; i++) {
            if (!Float.isFinite(u.scales()[i]) || (u.zeros() != null && !Float.isFinite(u.zeros()[i]))) {
                failures.add(where + ": group " + i + " stores scale " + u.scales()[i]);
                return;
            }
        }
        float[] y = new float[x.length];
        ops.dequantize(t, y);
        int gl = t.format().groupLength(COLS);
        for (int r = 0; r < ROWS; r++) {
            for (int from = 0; from < COLS; from += gl) {
                double err = 0;
                double zeros = 0;
                for (int i = r * COLS + from; i < r * COLS + Math.min(COLS, from + gl); i++) {
                    if (!Float.isFinite(y[i])) {
                        failures.add(where + ": element " + i + " decodes to " + y[i]);
                        return;
                    }
                    err += ((double) x[i] - y[i]) * ((double) x[i] - y[i]);
                    zeros += (double) x[i] * x[i];
                }
                if (!(err <= zeros)) {
                    failures.add(where + ": row " + r + ", columns " + from + "..: squared error " + err
                            + " above the " + zeros + " of all zeros");
                    return;
                }
            }
        }
    }

    /**
     * ggml blocks of weights whose scale rounds to 0 in fp16 store ggml's bytes: {@code d} is stored as fp16 0 (Q4_0's
     * {@code d = m/−8} as −0, 0x8000), and the codes come from {@code id = 1/d}, which overflows to infinity for
     * these subnormal values, so every code is x86's truncation of an infinity, 0; a block of zeros has {@code id = 0}
     * and Q4_0's code 8. Every such block decodes to 0 ({@code GgmlParityTest} holds the same blocks to ggml).
     */
    @Test
    void tinyGgmlBlocksStoreGgmlsBytes() {
        float[] tiny = new float[64];
        Arrays.fill(tiny, 1e-40f);
        tiny[33] = -1e-40f;
        Object[][] cases = {
            {QuantFormat.Q8_0, tiny, (short) 0, 0},
            {QuantFormat.Q4_0, tiny, (short) 0x8000, 0},
            {QuantFormat.Q8_0, new float[64], (short) 0, 0},
            {QuantFormat.Q4_0, new float[64], (short) 0x8000, 8},
        };
        try (Arena arena = Arena.ofConfined()) {
            for (QuantOps ops : List.of(QuantOps.get(), new QuantOps(ScalarQuantKernels.INSTANCE, ThreadPool.callerThread()))) {
                for (Object[] c : cases) {
                    QuantFormat f = (QuantFormat) c[0];
                    QuantizedTensor t = ops.quantize(f, (float[]) c[1], 1, 64, arena);
                    String where = ops.kernels().name() + " " + f;
                    for (int b = 0; b < 2; b++) {
                        assertEquals((short) c[2], t.data().get(Layouts.F16, Reference.blockOffset(t, 0, b)), where);
                    }
                    int[] codes = new int[64];
                    Arrays.fill(codes, (int) c[3]);
                    assertArrayEquals(codes, Reference.unpack(t).codes(), where);
                    float[] y = new float[64];
                    ops.dequantize(t, y);
                    for (float v : y) {
                        assertEquals(0f, v, 0f, where);
                    }
                }
                // Q4_1: d = 0 (max = min), the minimum stored as fp16 −0, every code trunc(0.5) = 0: the block
                // decodes to 0·0 + (−0) = 0.
                float[] negative = new float[32];
                Arrays.fill(negative, -1e-40f);
                QuantizedTensor t = ops.quantize(QuantFormat.Q4_1, negative, 1, 32, arena);
                assertEquals(0f, Reference.scale(t, 0, 0));
                assertEquals(-0f, Reference.zero(t, 0, 0));
                float[] y = new float[32];
                ops.dequantize(t, y);
                assertArrayEquals(new float[32], y);
            }
        }
    }

    @Test
    void scalesBeyondTheirTypeAreRefusedWithRowGroupAndValue() {
        float[] big = new float[128];
        big[64 + 40] = 1e7f; // row 1, Q8_0 block 1: a scale of 1e7/127 = 78740 > 65504
        float[] negative = new float[64];
        negative[32 + 3] = -70000f;
        float[] span = new float[64];
        span[32 + 5] = -3e38f;
        span[32 + 6] = 3e38f;
        Object[][] cases = {
            {QuantFormat.Q8_0, big, 2, "row 1, block 1 (columns 32..63): value 1.0E7 at column 40 needs a scale of 78740.16,"
                    + " beyond the F16 range (largest 65504); q8_0 blocks hold fp16 only: store the matrix in a grouped"
                    + " format with scales as F32"},
            {QuantFormat.Q4_1, negative, 1, "row 0, block 1 (columns 32..63): value -70000.0 at column 35 needs a minimum"
                    + " of -70000.0, beyond the F16 range (largest 65504); q4_1 blocks hold fp16 only: store the matrix"
                    + " in a grouped format with scales as F32"},
            {QuantFormat.grouped(8, 32, true, ScaleType.F16), big, 2, "row 1, group 1 (columns 32..63): value 1.0E7 at"
                    + " column 40 needs a scale of 78740.16, beyond the F16 range (largest 65504); store scales as F32"},
            {QuantFormat.codebook4(32, ScaleType.F16), big, 2, "row 1, group 1 (columns 32..63): value 1.0E7 at column 40"
                    + " needs a scale of 1.0E7, beyond the F16 range (largest 65504); store scales as F32"},
            {QuantFormat.grouped(4, 32, false, ScaleType.F32), span, 1, "row 0, group 1 (columns 32..63): the values"
                    + " -3.0E38 (column 37) and 3.0E38 (column 38) lie further apart than the largest float, so no scale"
                    + " steps between them; scale the matrix down"},
        };
        try (Arena arena = Arena.ofConfined()) {
            for (QuantOps ops : List.of(QuantOps.get(), new QuantOps(ScalarQuantKernels.INSTANCE, ThreadPool.callerThread()))) {
                for (Object[] c : cases) {
                    float[] x = (float[]) c[1];
                    int rows = (int) c[2];
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                            () -> ops.quantize((QuantFormat) c[0], x, rows, x.length / rows, arena));
                    assertEquals(c[3], e.getMessage(), ops.kernels().name() + " " + c[0]);
                }
                // Clamping an infinity to the row's largest finite magnitude can leave a span no float covers.
                float[] inf = new float[32];
                inf[0] = -Float.MAX_VALUE;
                inf[9] = Float.POSITIVE_INFINITY;
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ops.quantize(
                        QuantFormat.grouped(4, 32, false, ScaleType.F32), inf, 1, 32, arena,
                        QuantOptions.DEFAULT.withNonFinite(NonFinitePolicy.CLAMP)));
                assertEquals("row 0, group 0 (columns 0..31): the values -3.4028235E38 (column 0) and 3.4028235E38"
                        + " (column 9) lie further apart than the largest float, so no scale steps between them; scale"
                        + " the matrix down", e.getMessage());
            }
        }
    }

    private static double gaussian(SplittableRandom rnd) {
        double u = 1 - rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd.nextDouble());
    }
}

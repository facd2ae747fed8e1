package dev.lowbit.kernels;

import dev.lowbit.format.Codebooks;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.testkit.Formats;
import dev.lowbit.testkit.Inputs;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.util.List;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every element comes back within half a step of its group's stored scale (for codebooks: within
 * the distance to the nearest level). The one exception is Q4_0's ggml rule, where a value of the
 * sign opposite to the block's extreme and beyond 7.5 steps lands on code 15 (7 steps).
 */
class RoundTripBoundTest {

    static List<QuantFormat> formats() {
        return Formats.all();
    }

    @ParameterizedTest
    @MethodSource("formats")
    void withinHalfAStep(QuantFormat f) {
        QuantOps ops = new QuantOps(KernelProvider.kernels(), ThreadPool.callerThread());
        for (int cols : Formats.COLS) {
            check(ops, f, Inputs.gaussian(cols, 3 * cols), 3, cols);
            check(ops, f, Inputs.tricky(cols, 3 * cols), 3, cols);
        }
    }

    static void check(QuantOps ops, QuantFormat f, float[] x, int rows, int cols) {
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor t = ops.quantize(f, x, rows, cols, arena);
            float[] y = new float[x.length];
            ops.dequantize(t, y);
            int gl = f.groupLength(cols);
            float[] levels = t.levels();
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    int i = r * cols + c;
                    float d = Math.abs(Reference.scale(t, r, c / gl));
                    float zero = Reference.zero(t, r, c / gl);
                    double err = Math.abs((double) x[i] - y[i]);
                    double bound = bound(f, x[i], Reference.scale(t, r, c / gl), zero, levels);
                    // Float rounding of x/d, of the product and of an offset: a few ulps of the largest operand.
                    double slack = 4 * Math.ulp(Math.max(Math.max(Math.abs(x[i]), Math.abs(zero * d)),
                            Math.max(Math.abs(zero), f.maxCode() * d)));
                    if (err > bound + slack) {
                        fail(f + " " + rows + "x" + cols + " element " + i + ": x=" + x[i] + " back " + y[i] + " error " + err
                                + " > bound " + bound + " (scale " + d + ")");
                    }
                }
            }
        }
    }

    static double bound(QuantFormat f, float x, float scale, float zero, float[] levels) {
        double d = Math.abs(scale);
        if (f.kind() == QuantFormat.Kind.CODEBOOK4) {
            if (scale == 0f) {
                return 0;
            }
            double v = x / (double) scale;
            double best = Double.MAX_VALUE;
            for (float l : levels) {
                best = Math.min(best, Math.abs(v - l));
            }
            // the choice between two equally near levels is made in float, so allow one rounding of v
            return (best + 1e-6 * Codebooks.reach(levels)) * d;
        }
        if (f.isGgml()) {
            return ggmlBound(f.kind(), x, scale, zero);
        }
        return 0.5 * d;
    }

    /**
     * ggml's blocks take their codes from the fp32 scale {@code d32}, then store {@code d16 = fp16(d32)} (and Q4_1's
     * minimum in fp16): half a step of {@code d32}, plus the stored scale's rounding times the largest code
     * magnitude, plus the minimum's rounding. {@code |d32 − d16|} is at most half an fp16 ulp of {@code d16}; Q4_0's
     * top element ({@code x/d > 7.5}) decodes to code 7.
     */
    static double ggmlBound(QuantFormat.Kind kind, float x, float scale, float zero) {
        double d = Math.abs(scale);
        double h = halfUlp16(scale);
        return switch (kind) {
            case Q8_0 -> 0.5 * (d + h) + 127 * h;
            case Q4_0 -> scale != 0f && x / scale > 7.5f ? Math.abs(x - 7 * (double) scale) + 8 * h
                    : 0.5 * (d + h) + 8 * h;
            default -> 0.5 * (d + h) + 15 * h + halfUlp16(zero);
        };
    }

    /** Half the spacing of fp16 values at {@code v}: 2^-25 below fp16's normal range. */
    static double halfUlp16(float v) {
        float a = Math.abs(v);
        return a < 0x1p-14f ? 0x1p-25 : Math.scalb(1.0, Math.getExponent(a) - 11);
    }
}

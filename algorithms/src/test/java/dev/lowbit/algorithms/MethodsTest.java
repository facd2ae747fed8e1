package dev.lowbit.algorithms;

import dev.lowbit.testkit.Matrices;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.KernelProvider;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every method against RTN on seeded Gaussian and heavy-tailed matrices at 4 and 3 bits, all at the
 * same group size. Asymmetric methods (MSE clipping, HQQ) are held to asymmetric RTN; the symmetric
 * ones (EasyQuant, NUPES) to symmetric RTN on the same narrow grid.
 */
class MethodsTest {
    static final int ROWS = 48;
    static final int COLS = 512;

    static List<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (Matrices.Law law : Matrices.Law.values()) {
            for (int bits : new int[] {4, 3}) {
                for (int group : new int[] {64, 128}) {
                    out.add(Arguments.of(law, bits, group));
                }
            }
        }
        return out;
    }

    @ParameterizedTest(name = "{0}, {1} bits, group {2}")
    @MethodSource("cases")
    void everyMethodBeatsRtn(Matrices.Law law, int bits, int group) {
        float[] w = Matrices.draw(law, 1000L * bits + group, ROWS * COLS);
        QuantSpec spec = new QuantSpec(bits, group, ScaleType.F16);
        try (Arena arena = Arena.ofShared()) {
            double rtnAsym = new Rtn(spec, false, null).quantize(w, ROWS, COLS, arena).squaredError();
            double rtnSym = new Rtn(spec, true, null).quantize(w, ROWS, COLS, arena).squaredError();
            String where = law + " " + bits + " bits g" + group;
            for (Quantizer q : List.of(new MseClip(spec, null), new Hqq(spec, null))) {
                double e = q.quantize(w, ROWS, COLS, arena).squaredError();
                assertTrue(e < rtnAsym, q.name() + " " + e + " not below asymmetric RTN " + rtnAsym + " (" + where + ")");
            }
            for (Quantizer q : List.of(new EasyQuant(spec, null), new Nupes(spec, null),
                    new Nupes(spec, true, 0.1f, 1f, 1e-3f, 50, null, KernelProvider.methods()))) {
                double e = q.quantize(w, ROWS, COLS, arena).squaredError();
                assertTrue(e < rtnSym, q.name() + " " + e + " not below symmetric RTN " + rtnSym + " (" + where + ")");
            }
        }
    }
}

package dev.lowbit.kernels;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.testkit.Formats;
import dev.lowbit.testkit.Inputs;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** The Vector API kernels return exactly the scalar reference's codes, scales and values. */
class VectorMatchesScalarTest {

    static List<QuantFormat> cases() {
        return Formats.all();
    }

    /** The Vector API kernels at this JVM's width (the build runs this class at 512 and at 256 bits). */
    static QuantKernels vectorOrSkip() {
        String why = KernelProvider.vectorUnavailable();
        Assumptions.assumeTrue(why == null, "skipped: " + why);
        return KernelProvider.vector();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void everyRowLength(QuantFormat f) {
        QuantKernels k = vectorOrSkip();
        QuantOps vector = new QuantOps(k, ThreadPool.callerThread());
        QuantOps scalar = new QuantOps(KernelProvider.scalar(), ThreadPool.callerThread());
        long seed = 17L * k.name().hashCode() + f.hashCode();
        for (int cols : Formats.COLS) {
            for (int rows : new int[] {1, 3}) {
                compare(scalar, vector, f, Inputs.gaussian(seed + cols, rows * cols), rows, cols);
                compare(scalar, vector, f, Inputs.tricky(seed + cols, rows * cols), rows, cols);
            }
        }
    }

    @ParameterizedTest(name = "{0}, over 10^6 values")
    @MethodSource("cases")
    void overAMillionValuesOnTwoThreads(QuantFormat f) {
        ThreadPool pool = ThreadPool.forkJoin(2);
        try {
            QuantOps vector = new QuantOps(vectorOrSkip(), pool);
            QuantOps scalar = new QuantOps(KernelProvider.scalar(), ThreadPool.callerThread());
            int rows = 1031;
            int cols = 977; // 1,007,287 values, every dimension with a tail
            compare(scalar, vector, f, Inputs.gaussian(99, rows * cols), rows, cols);
        } finally {
            pool.close();
        }
    }

    static void compare(QuantOps a, QuantOps b, QuantFormat f, float[] x, int rows, int cols) {
        try (Arena arena = Arena.ofShared()) { // shared, so that a pool may write the planes
            QuantizedTensor ta = a.quantize(f, x, rows, cols, arena);
            QuantizedTensor tb = b.quantize(f, x, rows, cols, arena);
            String where = f + " " + rows + "x" + cols;
            assertPlaneEquals(where + " data", ta.data(), tb.data());
            assertPlaneEquals(where + " scales", ta.scales(), tb.scales());
            assertPlaneEquals(where + " zeros", ta.zeros(), tb.zeros());
            float[] da = new float[x.length];
            float[] db = new float[x.length];
            a.dequantize(ta, da);
            b.dequantize(ta, db);
            for (int i = 0; i < x.length; i++) {
                if (Float.floatToRawIntBits(da[i]) != Float.floatToRawIntBits(db[i])) {
                    fail(where + " dequantized value " + i + ": scalar " + da[i] + ", other " + db[i]);
                }
            }
        }
    }

    static void assertPlaneEquals(String what, MemorySegment a, MemorySegment b) {
        if (a == null || b == null) {
            assertEquals(a == null, b == null, what + " presence");
            return;
        }
        long at = a.mismatch(b);
        if (at >= 0) {
            fail(what + " differ at byte " + at + " of " + a.byteSize());
        }
    }
}

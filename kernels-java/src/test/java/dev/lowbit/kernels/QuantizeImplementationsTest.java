package dev.lowbit.kernels;

import dev.lowbit.bindings.nativelib.NativeLibrary.Tier;
import dev.lowbit.testkit.Formats;
import dev.lowbit.testkit.Inputs;
import dev.lowbit.testkit.QuantizeTester;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every quantize implementation (the Vector API at this JVM's width, native C at every tier this CPU runs) over the
 * kit's sweep: every format, every row length of {@link dev.lowbit.testkit.MatmulTester#K}, gaussian and tricky rows,
 * with the reference's bytes and dequantized values.
 */
class QuantizeImplementationsTest {

    /** The Vector API, and native C at every tier in the default JVM (its results do not depend on the vector width). */
    static Stream<String> implementations() {
        if (System.getProperty("lowbit.vector.maxBits") != null) {
            return Stream.of("vector");
        }
        return Stream.concat(Stream.of("vector"), Arrays.stream(Tier.values()).map(Tier::name));
    }

    /** The kernels called {@code impl}, or the test is skipped with the reason. */
    static QuantKernels kernelsOrSkip(String impl) {
        if (impl.equals("vector")) {
            String why = KernelProvider.vectorUnavailable();
            Assumptions.assumeTrue(why == null, () -> "skipped: " + why);
            return KernelProvider.vector();
        }
        return NativeQuantTest.kernelsOrSkip(Tier.valueOf(impl));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void quantizeAndDequantizeGiveTheReferenceBits(String impl) {
        QuantOps candidate = new QuantOps(kernelsOrSkip(impl), ThreadPool.callerThread());
        QuantOps reference = new QuantOps(KernelProvider.scalar(), ThreadPool.callerThread());
        int cases = new QuantizeTester(impl).formats(Formats.all()).rows(1, 3).values("tricky", Inputs::tricky)
                .test(reference::quantize, candidate::quantize, reference::dequantize, candidate::dequantize);
        assertTrue(cases > 0);
    }
}

package dev.lowbit.kernels;

import dev.lowbit.bindings.nativelib.NativeLibrary;
import dev.lowbit.kernels.impl.NativeMatmulKernels;
import dev.lowbit.kernels.impl.NativeQuantKernels;
import dev.lowbit.kernels.impl.ScalarFp32Kernels;
import dev.lowbit.kernels.impl.ScalarMatmulKernels;
import dev.lowbit.kernels.impl.ScalarMethodKernels;
import dev.lowbit.kernels.impl.ScalarQuantKernels;
import dev.lowbit.kernels.impl.VectorSupport;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Native first, then the Vector API, then scalar, for every kernel family at once; a library that cannot load falls
 * back and says why.
 */
class KernelSelectionTest {
    private static final String BROKEN = "cannot load /tmp/x/liblowbit.so: /tmp/x/liblowbit.so: invalid ELF header";

    @Test
    void autoPrefersNative() {
        if (!NativeLibrary.available()) {
            return;
        }
        StringBuilder why = new StringBuilder();
        KernelProvider.Choice c = KernelProvider.select("auto", null, null, why);
        QuantKernels k = c.quant();
        assertTrue(k instanceof NativeQuantKernels, k.name());
        assertEquals("native-" + NativeLibrary.tier().suffix(), k.name());
        assertTrue(why.toString().contains(NativeLibrary.hardwareTier().suffix()), why.toString());
        assertSame(k, KernelProvider.kernels(), "the build runs with the library, so auto picks it");
        assertTrue(c.matmul() instanceof NativeMatmulKernels, c.matmul().name());
        assertTrue(KernelProvider.matmul() instanceof NativeMatmulKernels, KernelProvider.matmul().name());
        // the families without native kernels run on the Vector API beside the native ones
        assertSame(VectorSupport.fp32(), c.fp32());
        assertSame(VectorSupport.methods(), c.methods());
    }

    @Test
    void aBrokenLibraryFallsBackToTheVectorApiAndSaysWhy() {
        StringBuilder why = new StringBuilder();
        KernelProvider.Choice c = KernelProvider.select("auto", BROKEN, null, why);
        assertSame(VectorSupport.quant(), c.quant());
        assertVector(c);
        assertTrue(why.toString().contains("native library unavailable: " + BROKEN), why.toString());

        why.setLength(0);
        c = KernelProvider.select("auto", BROKEN, "jdk.incubator.vector is not loaded", why);
        assertScalar(c);
        assertTrue(why.toString().contains(BROKEN) && why.toString().contains("jdk.incubator.vector"), why.toString());
    }

    @Test
    void forcedChoices() {
        StringBuilder why = new StringBuilder();
        assertScalar(KernelProvider.select("scalar", null, null, why));
        assertEquals("forced by -Dlowbit.kernels=scalar", why.toString());
        why.setLength(0);
        assertVector(KernelProvider.select("vector", null, null, why));
        assertScalar(KernelProvider.select("vector", null, "jdk.incubator.vector is not loaded", new StringBuilder()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> KernelProvider.select("native", BROKEN, null, new StringBuilder()));
        assertTrue(e.getMessage().contains(BROKEN), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> KernelProvider.select("gpu", null, null, new StringBuilder()));
        if (NativeLibrary.available()) {
            KernelProvider.Choice c = KernelProvider.select("native", null, null, new StringBuilder());
            assertTrue(c.quant() instanceof NativeQuantKernels);
            assertTrue(c.matmul() instanceof NativeMatmulKernels);
            assertEquals(KernelProvider.nativeKernels(), c.quant());
            assertSame(VectorSupport.fp32(), c.fp32());
            assertSame(VectorSupport.methods(), c.methods());
        }
    }

    /** {@code -Dlowbit.vector.maxBits} caps the one width, so a cap below 256 bits leaves every family scalar. */
    @Test
    void maxBitsCapsEveryFamily() {
        assertNull(KernelProvider.vectorTooNarrow(512, 512));
        assertNull(KernelProvider.vectorTooNarrow(512, 256));
        assertNull(KernelProvider.vectorTooNarrow(256, 512));
        String narrow = KernelProvider.vectorTooNarrow(512, 128);
        assertNotNull(narrow);
        assertTrue(narrow.contains("vectors of 128 bits") && narrow.contains("lowbit.vector.maxBits"), narrow);
        assertNotNull(KernelProvider.vectorTooNarrow(128, 512));

        StringBuilder why = new StringBuilder();
        assertScalar(KernelProvider.select("auto", BROKEN, narrow, why));
        assertTrue(why.toString().contains(narrow), why.toString());
        assertScalar(KernelProvider.select("vector", null, narrow, new StringBuilder()));
        if (NativeLibrary.available()) {
            KernelProvider.Choice c = KernelProvider.select("auto", null, narrow, new StringBuilder());
            assertTrue(c.quant() instanceof NativeQuantKernels);
            assertSame(ScalarFp32Kernels.INSTANCE, c.fp32());
            assertSame(ScalarMethodKernels.INSTANCE, c.methods());
        }
    }

    /** Every Vector API family runs at the one width of this JVM (256 bits in the build's maxBits=256 run). */
    @Test
    void everyVectorFamilyRunsAtTheOneWidth() {
        String want = "vector-" + VectorSupport.bits();
        assertEquals(want, VectorSupport.quant().name());
        assertEquals(want, VectorSupport.matmul().name());
        assertEquals(want, VectorSupport.fp32().name());
        assertEquals(want, VectorSupport.methods().name());
        Integer cap = Integer.getInteger("lowbit.vector.maxBits");
        if (cap != null) {
            assertTrue(VectorSupport.bits() <= cap, want);
        }
        assertSame(VectorSupport.fp32(), KernelProvider.vectorFp32());
        assertSame(VectorSupport.methods(), KernelProvider.vectorMethods());
    }

    private static void assertScalar(KernelProvider.Choice c) {
        assertSame(ScalarQuantKernels.INSTANCE, c.quant());
        assertSame(ScalarMatmulKernels.INSTANCE, c.matmul());
        assertSame(ScalarFp32Kernels.INSTANCE, c.fp32());
        assertSame(ScalarMethodKernels.INSTANCE, c.methods());
        assertEquals("quantize scalar, matmul scalar, fp32 scalar, methods scalar", c.names());
    }

    private static void assertVector(KernelProvider.Choice c) {
        assertSame(VectorSupport.quant(), c.quant());
        assertSame(VectorSupport.matmul(), c.matmul());
        assertSame(VectorSupport.fp32(), c.fp32());
        assertSame(VectorSupport.methods(), c.methods());
    }
}

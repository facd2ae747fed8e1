package dev.lowbit.kernels;

import dev.lowbit.bindings.nativelib.NativeLibrary;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Native first, then the Vector API, then scalar; a library that cannot load falls back and says why. */
class KernelSelectionTest {
    private static final String BROKEN = "cannot load /tmp/x/liblowbit.so: /tmp/x/liblowbit.so: invalid ELF header";

    @Test
    void autoPrefersNative() {
        if (!NativeLibrary.available()) {
            return;
        }
        StringBuilder why = new StringBuilder();
        QuantKernels k = KernelProvider.select("auto", null, null, why);
        assertTrue(k instanceof NativeQuantKernels, k.name());
        assertEquals("native-" + NativeLibrary.tier().suffix(), k.name());
        assertTrue(why.toString().contains(NativeLibrary.hardwareTier().suffix()), why.toString());
        assertSame(k, KernelProvider.kernels(), "the build runs with the library, so auto picks it");
    }

    @Test
    void aBrokenLibraryFallsBackToTheVectorApiAndSaysWhy() {
        StringBuilder why = new StringBuilder();
        QuantKernels k = KernelProvider.select("auto", BROKEN, null, why);
        assertSame(VectorSupport.create(), k);
        assertTrue(why.toString().contains("native library unavailable: " + BROKEN), why.toString());

        why.setLength(0);
        k = KernelProvider.select("auto", BROKEN, "jdk.incubator.vector is not loaded", why);
        assertSame(ScalarQuantKernels.INSTANCE, k);
        assertTrue(why.toString().contains(BROKEN) && why.toString().contains("jdk.incubator.vector"), why.toString());
    }

    @Test
    void forcedChoices() {
        StringBuilder why = new StringBuilder();
        assertSame(ScalarQuantKernels.INSTANCE, KernelProvider.select("scalar", null, null, why));
        why.setLength(0);
        assertSame(VectorSupport.create(), KernelProvider.select("vector", null, null, why));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> KernelProvider.select("native", BROKEN, null, new StringBuilder()));
        assertTrue(e.getMessage().contains(BROKEN), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> KernelProvider.select("gpu", null, null, new StringBuilder()));
        if (NativeLibrary.available()) {
            assertTrue(KernelProvider.select("native", null, null, new StringBuilder()) instanceof NativeQuantKernels);
            assertEquals(KernelProvider.nativeKernels(), KernelProvider.select("native", null, null, new StringBuilder()));
        }
    }
}

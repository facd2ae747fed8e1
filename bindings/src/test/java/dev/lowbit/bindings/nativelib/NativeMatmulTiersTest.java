package dev.lowbit.bindings.nativelib;

import dev.lowbit.bindings.nativelib.NativeLibrary.Tier;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link NativeMatmul} at every tier the CPU runs: the tier asked for, the selected kernels for the selected tier, and
 * a product bigger than one downcall's share, cut into calls, giving every element.
 */
class NativeMatmulTiersTest {

    private static void requireLibrary() {
        Assumptions.assumeTrue(NativeLibrary.available(), () -> "no native library: " + NativeLibrary.unavailableReason());
    }

    @Test
    void everyTierTheCpuRunsAndNoOther() {
        requireLibrary();
        assertSame(NativeMatmul.selected(), NativeMatmul.of(NativeLibrary.tier()));
        for (Tier t : Tier.values()) {
            if (t.compareTo(NativeLibrary.hardwareTier()) > 0) {
                assertThrows(IllegalArgumentException.class, () -> NativeMatmul.of(t));
            } else {
                assertEquals(t, NativeMatmul.of(t).tier());
            }
        }
    }

    /**
     * Q8_0 rows of 32 ones (scale 1) times tokens of 32 ones, on both paths: every element is 32, whether the tier's
     * share of multiply-adds cuts the product by tokens and rows or not.
     */
    @Test
    void aProductBiggerThanOneCallIsCutAndComplete() {
        requireLibrary();
        int k = 32;
        int rows = 4100; // not a multiple of the tiles, so the last call takes a remainder
        int n = 70;
        assertTrue((long) rows * n * k > NativeMatmul.MAX_MACS);
        byte[] w = new byte[rows * 34];
        for (int r = 0; r < rows; r++) {
            short one = Float.floatToFloat16(1f);
            w[r * 34] = (byte) one;
            w[r * 34 + 1] = (byte) (one >> 8);
            Arrays.fill(w, r * 34 + 2, r * 34 + 34, (byte) 1);
        }
        byte[] xc = new byte[n * k];
        Arrays.fill(xc, (byte) 1);
        float[] xs = new float[n];
        Arrays.fill(xs, 1f);
        float[] x = new float[n * k];
        Arrays.fill(x, 1f);
        for (Tier t : Tier.values()) {
            if (t.compareTo(NativeLibrary.hardwareTier()) > 0) {
                continue;
            }
            NativeMatmul calls = NativeMatmul.of(t);
            float[] y = new float[n * rows];
            calls.gemmInt8(NativeMatmul.Weights.Q8_0, MemorySegment.ofArray(w), MemorySegment.ofArray(xc),
                    MemorySegment.ofArray(xs), 1, 1, 1, 0, rows, 0, n, MemorySegment.ofArray(y), rows);
            assertAll32(y, t + " integer path");
            float[] yf = new float[n * rows];
            calls.gemmF32(NativeMatmul.Weights.Q8_0, MemorySegment.ofArray(w), MemorySegment.ofArray(x), k, 0, rows, 0,
                    n, MemorySegment.ofArray(yf), rows);
            assertAll32(yf, t + " weight-only path");
        }
    }

    @Test
    void rangesAreCheckedBeforeAnyCall() {
        requireLibrary();
        NativeMatmul calls = NativeMatmul.selected();
        MemorySegment w = MemorySegment.ofArray(new byte[34]);
        MemorySegment x = MemorySegment.ofArray(new float[32]);
        MemorySegment y = MemorySegment.ofArray(new float[1]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> calls.gemmF32(NativeMatmul.Weights.Q8_0, w, x, 32, 0, 2, 0, 1, y, 2));
        assertTrue(e.getMessage().startsWith("w holds 34 bytes, the ranges need 68"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> calls.gemmF32(NativeMatmul.Weights.Q8_0, w, x, 32, 0, 1, 0, 1, y.asReadOnly(), 1));
        assertEquals("y must be writable", e.getMessage());
    }

    private static void assertAll32(float[] y, String what) {
        for (int i = 0; i < y.length; i++) {
            if (y[i] != 32f) {
                throw new AssertionError(what + ": element " + i + " is " + y[i] + ", not 32");
            }
        }
    }
}

package dev.lowbit.bindings.cuda;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The cuBLASLt IMMA rules, checked in Java before any call (no GPU needed). */
class Int8GemmShapeTest {

    @Test
    void packedShapesThatCublasLtTakes() {
        Int8GemmShape s = Int8GemmShape.packed(4096, 1, 4096);
        assertEquals(4096, s.lda());
        assertEquals(4096, s.ldb());
        assertEquals(4096, s.ldc());
        assertEquals(4096L * 4096, s.aBytes());
        assertEquals(4096, s.bBytes());
        assertEquals(4L * 4096, s.cBytes());
        assertDoesNotThrow(() -> Int8GemmShape.packed(8192, 8192, 8192));
        assertDoesNotThrow(() -> Int8GemmShape.packed(4, 3, 4)); // n has no rule of its own
    }

    @ParameterizedTest
    @CsvSource({
        "0, 1, 4, 4, 4, 4, m must be at least 1",
        "4, 0, 4, 4, 4, 4, n must be at least 1",
        "4, 1, 0, 4, 4, 4, k must be at least 1",
        "6, 1, 4, 4, 4, 8, m must be a multiple of 4",
        "4, 1, 6, 8, 8, 4, k must be a multiple of 4",
        "4, 1, 8, 4, 8, 4, lda must be at least k = 8",
        "4, 1, 8, 8, 4, 4, ldb must be at least k = 8",
        "8, 1, 4, 4, 4, 4, ldc must be at least m = 8",
        "4, 1, 4, 6, 4, 4, lda must be a multiple of 4",
        "4, 1, 4, 4, 10, 4, ldb must be a multiple of 4",
        "4, 1, 4, 4, 4, 6, ldc must be a multiple of 4",
    })
    void violationsNameTheArgument(int m, int n, int k, long lda, long ldb, long ldc, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Int8GemmShape(m, n, k, lda, ldb, ldc));
        assertTrue(e.getMessage().startsWith(message), e.getMessage());
    }

    @Test
    void leadingDimensionsBeyondInt32AreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Int8GemmShape(4, 1, 4, 1L << 32, 4, 4));
        assertTrue(e.getMessage().contains("int32"), e.getMessage());
    }

    @Test
    void pointersAndBuffersAreChecked() {
        Int8GemmShape s = new Int8GemmShape(8, 2, 16, 32, 16, 8);
        long a = 0x7f0000000000L;
        long b = 0x7f0000100000L;
        long c = 0x7f0000200000L;
        assertDoesNotThrow(() -> s.checkBuffers(a, s.aBytes(), b, s.bBytes(), c, s.cBytes()));
        assertEquals(32L * 7 + 16, s.aBytes());
        assertEquals(4L * (8 + 8), s.cBytes());
        assertThrows(IllegalArgumentException.class, () -> s.checkBuffers(a + 2, s.aBytes(), b, s.bBytes(), c, s.cBytes()));
        assertThrows(IllegalArgumentException.class, () -> s.checkBuffers(a, s.aBytes(), b + 1, s.bBytes(), c, s.cBytes()));
        assertThrows(IllegalArgumentException.class, () -> s.checkBuffers(a, s.aBytes(), b, s.bBytes(), 0, s.cBytes()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> s.checkBuffers(a, s.aBytes() - 1, b, s.bBytes(), c, s.cBytes()));
        assertTrue(e.getMessage().startsWith("A needs " + s.aBytes()), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> s.checkBuffers(a, s.aBytes(), b, s.bBytes(), c, s.cBytes() - 4));
    }
}

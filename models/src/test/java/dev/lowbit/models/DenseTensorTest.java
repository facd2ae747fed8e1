package dev.lowbit.models;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class DenseTensorTest {
    @Test
    void byteCountsAreExact() {
        MemorySegment empty = MemorySegment.ofArray(new byte[0]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new DenseTensor("ids", DType.I64, new long[]{1L << 61}, empty));
        assertEquals("tensor 'ids' shape [2305843009213693952] has a negative dimension or a byte count of I64 that"
                + " overflows 64 bits", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new DenseTensor("w", DType.F32, new long[]{1L << 32, 1L << 31}, empty));
        assertThrows(IllegalArgumentException.class, () -> new DenseTensor("w", DType.F32, new long[]{-1}, empty));
        assertEquals(-1, DenseTensor.elements(new long[]{1L << 32, 1L << 32}));
        assertEquals(0, DenseTensor.elements(new long[]{0, Long.MAX_VALUE}));
        assertEquals(-1, DenseTensor.byteSize(DType.F64, new long[]{1L << 60}));
        assertEquals(24, DenseTensor.byteSize(DType.F64, new long[]{3}));
    }

    @Test
    void onlyTheFloatTypesConvert() {
        byte[] b = {0, 0, (byte) 0x80, 0x3F, 0, 0, 0, (byte) 0xC0};
        assertArrayEquals(new float[]{1f, -2f}, new DenseTensor("w", DType.F32, new long[]{2}, MemorySegment.ofArray(b)).toFloats());
        // BF16 0x3F80 is 1.0, 0xC000 is -2.0.
        byte[] h = {(byte) 0x80, 0x3F, 0, (byte) 0xC0};
        assertArrayEquals(new float[]{1f, -2f}, new DenseTensor("h", DType.BF16, new long[]{2}, MemorySegment.ofArray(h)).toFloats());
        for (DType t : DType.values()) {
            if (t.quantizable()) {
                continue;
            }
            DenseTensor d = new DenseTensor("t", t, new long[]{1}, MemorySegment.ofArray(new byte[t.bytes()]));
            IllegalStateException e = assertThrows(IllegalStateException.class, d::toFloats);
            assertEquals("tensor 't' is " + t + ", which does not convert to floats: only F32, F16 and BF16 tensors do"
                    + " (the others are kept as they are)", e.getMessage());
        }
    }
}

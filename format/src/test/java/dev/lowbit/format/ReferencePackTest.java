package dev.lowbit.format;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReferencePackTest {

    static List<QuantFormat> formats() {
        List<QuantFormat> out = new ArrayList<>(List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1));
        for (int bits : new int[] {2, 3, 4, 8}) {
            for (int g : new int[] {32, 64, 128, QuantFormat.ROW}) {
                out.add(QuantFormat.grouped(bits, g, bits % 2 == 0, bits == 3 ? ScaleType.F32 : ScaleType.F16));
                out.add(QuantFormat.grouped(bits, g, bits % 2 != 0, ScaleType.F32));
            }
        }
        out.add(QuantFormat.codebook4(64, ScaleType.F16));
        out.add(QuantFormat.codebook4(QuantFormat.ROW, ScaleType.F32));
        return out;
    }

    @ParameterizedTest
    @MethodSource("formats")
    void packThenUnpackGivesTheSameCodesAndParameters(QuantFormat f) {
        SplittableRandom r = new SplittableRandom(f.hashCode());
        for (int cols : new int[] {1, 3, 31, 32, 33, 65, 129, 300}) {
            int rows = 3;
            int groups = rows * f.groupsPerRow(cols);
            int[] codes = new int[rows * cols];
            int lo = f.kind() == QuantFormat.Kind.Q8_0 ? -128 : 0;
            int hi = f.kind() == QuantFormat.Kind.Q8_0 ? 127 : f.maxCode();
            for (int i = 0; i < codes.length; i++) {
                codes[i] = lo + r.nextInt(hi - lo + 1);
            }
            float[] scales = new float[groups];
            float[] zeros = f.kind() == QuantFormat.Kind.Q4_1 || f.hasZeroPlane() ? new float[groups] : null;
            for (int g = 0; g < groups; g++) {
                scales[g] = f.scaleType().round((float) r.nextGaussian());
                if (zeros != null) {
                    zeros[g] = f.scaleType().round((float) r.nextGaussian() * 4);
                }
            }
            try (Arena arena = Arena.ofConfined()) {
                QuantizedTensor t = Reference.pack(f, rows, cols, codes, scales, zeros,
                        f.kind() == QuantFormat.Kind.CODEBOOK4 ? Codebooks.nf4() : null, arena);
                assertEquals(rows * f.rowBytes(cols), t.data().byteSize());
                Reference.Unpacked u = Reference.unpack(t);
                assertArrayEquals(codes, u.codes(), f + " codes at cols " + cols);
                assertArrayEquals(scales, u.scales());
                assertArrayEquals(zeros, u.zeros());
            }
        }
    }

    /**
     * Q5_0, Q5_1 and IQ4_NL pack from codes and scales (whole blocks only); the K-quants, whose sub-block scales are
     * integers under a super-block scale, do not, and say so.
     */
    @Test
    void newBlocksPackWholeBlocksAndKQuantsRefuse() {
        for (QuantFormat f : new QuantFormat[] {QuantFormat.Q5_0, QuantFormat.Q5_1, QuantFormat.IQ4_NL}) {
            SplittableRandom r = new SplittableRandom(f.hashCode());
            int rows = 3;
            int cols = 96;
            int groups = rows * f.groupsPerRow(cols);
            int[] codes = new int[rows * cols];
            for (int i = 0; i < codes.length; i++) {
                codes[i] = r.nextInt(f.maxCode() + 1);
            }
            float[] scales = new float[groups];
            float[] zeros = f.hasMinimum() ? new float[groups] : null;
            for (int g = 0; g < groups; g++) {
                scales[g] = ScaleType.F16.round((float) r.nextGaussian());
                if (zeros != null) {
                    zeros[g] = ScaleType.F16.round((float) r.nextGaussian() * 4);
                }
            }
            try (Arena arena = Arena.ofConfined()) {
                QuantizedTensor t = Reference.pack(f, rows, cols, codes, scales, zeros, null, arena);
                Reference.Unpacked u = Reference.unpack(t);
                assertArrayEquals(codes, u.codes(), f + " codes");
                assertArrayEquals(scales, u.scales(), f + " scales");
                assertArrayEquals(zeros, u.zeros(), f + " minima");
                int[] levels = QuantFormat.iq4nlLevels();
                for (int i = 0; i < codes.length; i++) {
                    float d = scales[i / 32];
                    float want = switch (f.kind()) {
                        case Q5_0 -> (codes[i] - 16) * d;
                        case Q5_1 -> codes[i] * d + zeros[i / 32];
                        default -> levels[codes[i]] * d;
                    };
                    assertEquals(want, Reference.dequantize(t, i / cols, i % cols), f + " element " + i);
                }
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> Reference.pack(f, 1, 33, new int[33], new float[2], zeros == null ? null : new float[2],
                                null, arena));
                assertEquals(f + " holds whole blocks of 32 only, but a row has 33", e.getMessage());
            }
        }
        try (Arena arena = Arena.ofConfined()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Reference.pack(QuantFormat.Q4_K, 1, 256, new int[256], new float[8], new float[8], null,
                            arena));
            assertEquals("q4_k cannot be packed from codes and scales: its sub-block scales are integers under a"
                    + " super-block scale; quantize it instead", e.getMessage());
        }
    }

    @Test
    void threeBitFieldsStraddleBytes() {
        // codes 1..8 at 3 bits: bits 0-2 = 1, 3-5 = 2, 6-8 = 3 (straddles), ...
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment row = arena.allocate(3);
            for (int i = 0; i < 8; i++) {
                BitPacking.set(row, 0, 3, i, i);
            }
            // 0b111_110_101_100_011_010_001_000 little-endian over 24 bits
            int v = 0;
            for (int i = 0; i < 8; i++) {
                v |= i << (3 * i);
            }
            assertEquals(v & 0xFF, row.get(Layouts.U8, 0) & 0xFF);
            assertEquals((v >>> 8) & 0xFF, row.get(Layouts.U8, 1) & 0xFF);
            assertEquals((v >>> 16) & 0xFF, row.get(Layouts.U8, 2) & 0xFF);
            for (int i = 0; i < 8; i++) {
                assertEquals(i, BitPacking.get(row, 0, 3, i));
            }
        }
    }

    @Test
    void packRejectsBadInput() {
        try (Arena arena = Arena.ofConfined()) {
            assertThrows(IllegalArgumentException.class,
                    () -> Reference.pack(QuantFormat.Q4_0, 1, 2, new int[] {16, 0}, new float[] {1f}, null, null, arena));
            assertThrows(IllegalArgumentException.class,
                    () -> Reference.pack(QuantFormat.Q8_0, 1, 2, new int[] {1}, new float[] {1f}, null, null, arena));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Reference.pack(QuantFormat.Q8_0, 1, 2, new int[] {1, 2}, new float[] {0.1f}, null, null, arena));
            assertTrue(e.getMessage().contains("F16"), e.getMessage()); // 0.1 is not an fp16 value
            assertThrows(IllegalArgumentException.class,
                    () -> Reference.pack(QuantFormat.Q4_1, 1, 2, new int[] {1, 2}, new float[] {1f}, null, null, arena));
        }
    }

    @Test
    void tensorChecksPlaneSizes() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(34);
            assertThrows(IllegalArgumentException.class, () -> QuantizedTensor.of(QuantFormat.Q8_0, 2, 32, data, null, null, null));
            assertThrows(IllegalArgumentException.class,
                    () -> QuantizedTensor.of(QuantFormat.Q8_0, 1, 32, data, arena.allocate(2), null, null));
            QuantizedTensor t = QuantizedTensor.of(QuantFormat.Q8_0, 1, 32, data, null, null, null);
            assertTrue(t.data().isReadOnly());
        }
    }

    @Test
    void formatNamesRoundTrip() {
        for (QuantFormat f : formats()) {
            assertEquals(f, QuantFormat.parse(f.name()));
        }
    }

    @Test
    void scaleTypeSteps() {
        assertEquals(1.0009765625f, ScaleType.F16.nextAway(1f));
        assertEquals(-1.0009765625f, ScaleType.F16.nextAway(-1f));
        assertEquals(Math.nextUp(1f), ScaleType.F32.nextAway(1f));
        assertEquals(-Math.nextUp(1f), ScaleType.F32.nextAway(-1f));
        assertEquals(0.099975586f, ScaleType.F16.roundDown(0.1f)); // 0.1 rounds up to 0.10004 in fp16
        assertTrue(ScaleType.F16.roundDown(-0.1f) <= -0.1f);
        assertEquals(Float.MIN_VALUE, ScaleType.F32.nextAway(0f));
        assertEquals(Float.float16ToFloat((short) 1), ScaleType.F16.nextAway(0f));
    }

    @Test
    void outliersAreValidated() {
        try (Arena arena = Arena.ofConfined()) {
            assertThrows(IllegalArgumentException.class, // column out of range
                    () -> SparseOutliers.of(1, 4, new int[] {0, 1}, new int[] {4}, new float[] {1f}, arena));
            assertThrows(IllegalArgumentException.class, // columns not increasing
                    () -> SparseOutliers.of(1, 4, new int[] {0, 2}, new int[] {2, 1}, new float[] {1f, 2f}, arena));
            assertThrows(IllegalArgumentException.class, // rowPtr does not end at nnz
                    () -> SparseOutliers.of(2, 4, new int[] {0, 1, 1}, new int[] {0, 1}, new float[] {1f, 2f}, arena));
            assertThrows(IllegalArgumentException.class, // non-finite value
                    () -> SparseOutliers.of(1, 4, new int[] {0, 1}, new int[] {0}, new float[] {Float.NaN}, arena));
            SparseOutliers o = SparseOutliers.of(2, 4, new int[] {0, 1, 2}, new int[] {3, 0}, new float[] {5f, -6f}, arena);
            assertEquals(2, o.nnz());
            assertEquals(3, o.col(0));
            assertEquals(-6f, o.value(1));
        }
    }
}

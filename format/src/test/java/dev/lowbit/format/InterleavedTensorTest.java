package dev.lowbit.format;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The row-interleaved layouts against docs/formats.md: every byte where the layout says, and back. */
class InterleavedTensorTest {

    /** A plain tensor with random codes and scales, every byte of it drawn. */
    private static QuantizedTensor plain(InterleavedTensor.Layout layout, int rows, int cols, long seed, Arena arena) {
        QuantFormat f = layout.plainFormat();
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] codes = new int[rows * cols];
        for (int i = 0; i < codes.length; i++) {
            codes[i] = f.kind() == QuantFormat.Kind.Q8_0 ? rnd.nextInt(256) - 128 : rnd.nextInt(16);
        }
        float[] scales = new float[rows * f.groupsPerRow(cols)];
        for (int i = 0; i < scales.length; i++) {
            scales[i] = Float.float16ToFloat((short) rnd.nextInt(0x7c00));
        }
        return Reference.pack(f, rows, cols, codes, scales, null, null, arena);
    }

    @ParameterizedTest
    @EnumSource(InterleavedTensor.Layout.class)
    void everyByteSitsWhereTheLayoutSays(InterleavedTensor.Layout layout) {
        try (Arena arena = Arena.ofConfined()) {
            for (int rows : new int[] {1, 7, 8, 9, 16, 21}) {
                for (int cols : new int[] {1, 31, 32, 33, 100}) {
                    QuantizedTensor p = plain(layout, rows, cols, rows * 131L + cols, arena);
                    InterleavedTensor x = InterleavedTensor.of(p, arena);
                    int nb = (cols + 31) / 32;
                    int bb = p.format().blockBytes();
                    int sb = layout.superblockBytes();
                    assertEquals(InterleavedTensor.byteSize(layout, rows, cols), x.data().byteSize());
                    assertEquals((rows + 7) / 8 * nb * sb, x.data().byteSize());
                    for (int r = 0; r < (rows + 7) / 8 * 8; r++) {
                        int g = r / 8;
                        int i = r % 8;
                        for (int b = 0; b < nb; b++) {
                            long s = (long) (g * nb + b) * sb;
                            long q = (long) (r * nb + b) * bb;
                            for (int j = 0; j < 2; j++) { // the fp16 scale
                                assertEquals(r < rows ? p.data().get(Layouts.U8, q + j) : 0,
                                        x.data().get(Layouts.U8, s + 2 * i + j), "scale byte, row " + r);
                            }
                            for (int j = 0; j < bb - 2; j++) { // code bytes: chunks of 4 per row
                                assertEquals(r < rows ? p.data().get(Layouts.U8, q + 2 + j) : 0,
                                        x.data().get(Layouts.U8, s + 16 + 32 * (j / 4) + 4 * i + j % 4),
                                        layout + " code byte " + j + ", row " + r + ", block " + b);
                            }
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(InterleavedTensor.Layout.class)
    void plainRowsComeBackByteForByte(InterleavedTensor.Layout layout) {
        try (Arena arena = Arena.ofConfined()) {
            for (int rows : new int[] {0, 1, 8, 13, 24, 30}) {
                int cols = 70;
                QuantizedTensor p = plain(layout, rows, cols, rows, arena);
                InterleavedTensor x = InterleavedTensor.of(p, arena);
                QuantizedTensor back = x.toPlain(arena);
                assertEquals(p.format(), back.format());
                assertArrayEquals(p.data().toArray(Layouts.U8), back.data().toArray(Layouts.U8));
                long rb = p.format().rowBytes(cols);
                for (int r0 = 0; r0 <= rows; r0 += 3) {
                    for (int r1 = r0; r1 <= rows; r1 += 5) {
                        QuantizedTensor part = x.plainRows(r0, r1, arena);
                        assertEquals(r1 - r0, part.rows());
                        assertArrayEquals(p.data().asSlice(r0 * rb, (r1 - r0) * rb).toArray(Layouts.U8),
                                part.data().toArray(Layouts.U8), "rows " + r0 + ".." + r1);
                    }
                }
            }
        }
    }

    @Test
    void outliersComeAlong() {
        try (Arena arena = Arena.ofConfined()) {
            float[] w = new float[10 * 40];
            w[3] = 100f;
            SparseOutliers o = SparseOutliers.extract(w, 10, 40, 50f, arena);
            QuantizedTensor p = plain(InterleavedTensor.Layout.Q4_0_X8, 10, 40, 5, arena).withOutliers(o);
            InterleavedTensor x = InterleavedTensor.of(p, arena);
            assertSame(o, x.outliers());
            assertSame(o, x.toPlain(arena).outliers());
            assertNull(x.plainRows(0, 10, arena).outliers(), "plainRows carries no outliers, even for all rows");
            assertNull(x.withOutliers(null).outliers());
        }
    }

    @Test
    void badInputIsRefused() {
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor q41 = Reference.pack(QuantFormat.Q4_1, 2, 32, new int[64], new float[2], new float[2], null,
                    arena);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> InterleavedTensor.of(q41, arena));
            assertTrue(e.getMessage().contains("only Q8_0 and Q4_0"), e.getMessage());
            MemorySegment wrong = arena.allocate(100);
            e = assertThrows(IllegalArgumentException.class,
                    () -> InterleavedTensor.wrap(InterleavedTensor.Layout.Q8_0_X8, 9, 32, wrong, null));
            assertTrue(e.getMessage().contains("544 bytes"), e.getMessage());
            InterleavedTensor x = InterleavedTensor.of(plain(InterleavedTensor.Layout.Q8_0_X8, 9, 32, 1, arena), arena);
            assertThrows(IllegalArgumentException.class, () -> x.plainRows(3, 2, arena));
            assertThrows(IllegalArgumentException.class, () -> x.plainRows(0, 10, arena));
            assertEquals("q4_0x8", InterleavedTensor.Layout.Q4_0_X8.layoutName());
        }
    }
}

package dev.lowbit.format;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The i8_rowx16 layout against docs/formats.md: every byte where the table says. */
class Int8RowTensorTest {

    @Test
    void everyByteSitsWhereTheLayoutSays() {
        try (Arena arena = Arena.ofConfined()) {
            for (int rows : new int[] {1, 15, 16, 17, 40}) {
                for (int cols : new int[] {1, 3, 4, 5, 64, 70}) {
                    SplittableRandom rnd = new SplittableRandom(rows * 100L + cols);
                    byte[] codes = new byte[rows * cols];
                    float[] scales = new float[rows];
                    for (int i = 0; i < codes.length; i++) {
                        codes[i] = (byte) rnd.nextInt(-128, 128);
                    }
                    for (int r = 0; r < rows; r++) {
                        scales[r] = (float) rnd.nextDouble(1e-4, 1);
                    }
                    Int8RowTensor t = Int8RowTensor.of(codes, scales, rows, cols, arena);
                    int kc = (cols + 3) / 4;
                    long gb = 128 + 64L * kc;
                    assertEquals((rows + 15) / 16 * gb, t.data().byteSize());
                    for (int r = 0; r < (rows + 15) / 16 * 16; r++) {
                        long g = (r / 16) * gb;
                        int i = r % 16;
                        boolean real = r < rows;
                        assertEquals(real ? Float.floatToRawIntBits(scales[r]) : 0,
                                t.data().get(Layouts.I32, g + 4L * i), "scale of row " + r);
                        int sum = 0;
                        for (int c = 0; c < kc * 4; c++) {
                            byte want = real && c < cols ? codes[r * cols + c] : 0;
                            sum += want;
                            assertEquals(want, t.data().get(Layouts.U8, g + 128 + 64L * (c / 4) + 4 * i + c % 4),
                                    "code " + r + "," + c + " of " + rows + "x" + cols);
                        }
                        assertEquals(sum, t.data().get(Layouts.I32, g + 64 + 4L * i), "code sum of row " + r);
                    }
                }
            }
        }
    }
}

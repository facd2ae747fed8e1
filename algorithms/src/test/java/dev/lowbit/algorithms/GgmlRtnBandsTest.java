package dev.lowbit.algorithms;

import dev.lowbit.format.QuantFormat;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** {@link GgmlRtn} over a matrix read a band of rows at a time is the whole matrix's result, blocks and sums. */
class GgmlRtnBandsTest {
    @Test
    void bandsAreTheWholeMatrix() {
        int cols = 256;
        int rows = GgmlRtn.BAND_ELEMENTS / cols + 3; // two bands, the second of 3 rows
        long seed = 31;
        SplittableRandom r = new SplittableRandom(seed);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (r.nextGaussian() * (1 + i % 5));
        }
        for (QuantFormat f : List.of(QuantFormat.Q8_0, QuantFormat.Q4_K)) {
            GgmlRtn q = new GgmlRtn(f, null);
            try (Arena arena = Arena.ofConfined()) {
                QuantResult whole = q.quantize(w, rows, cols, arena);
                int[] calls = {0};
                QuantResult bands = q.quantize((row, n, dst) -> {
                    calls[0]++;
                    System.arraycopy(w, row * cols, dst, 0, n * cols);
                }, rows, cols, arena);
                String what = f + " seed " + seed;
                assertEquals(2, calls[0], what);
                assertEquals(-1, whole.tensor().data().mismatch(bands.tensor().data()), what);
                assertEquals(whole.squaredError(), bands.squaredError(), 0, what);
                assertEquals(whole.energy(), bands.energy(), 0, what);
                assertArrayEquals(whole.rowError(), bands.rowError(), what);
                assertEquals(whole.tensor().format(), bands.tensor().format(), what);
            }
        }
    }
}

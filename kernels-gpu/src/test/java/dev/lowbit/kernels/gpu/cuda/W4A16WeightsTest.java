package dev.lowbit.kernels.gpu.cuda;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.ThreadPool;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The W4A16 reshuffle, on the CPU: each lane's word holds exactly its mma.m16n8k16 A fragment, and the magic
 * numbers turn a nibble into the right fp16/bf16 value. This is the layout contract of w4a16.cu.
 */
class W4A16WeightsTest {
    private static final QuantOps SCALAR = new QuantOps(KernelProvider.scalar(), ThreadPool.callerThread());

    static Stream<QuantFormat> formats() {
        return Stream.of(QuantFormat.Q4_0, QuantFormat.grouped(4, 32, true, ScaleType.F16),
                QuantFormat.grouped(4, 64, false, ScaleType.F16), QuantFormat.grouped(4, 128, true, ScaleType.F32),
                QuantFormat.grouped(4, QuantFormat.ROW, false, ScaleType.F32));
    }

    /**
     * The A fragment of mma.m16n8k16 (PTX ISA, "Matrix fragments for mma.m16n8k16 with floating point type"):
     * element i of lane (g, q) sits at row g + 8 * ((i / 2) % 2), column 2q + i % 2 + 8 * (i / 4); register s holds
     * elements 2s (low half) and 2s + 1 (high half).
     */
    private static int[] fragmentPosition(int lane, int i) {
        int g = lane / 4;
        int q = lane % 4;
        return new int[] {g + 8 * ((i / 2) % 2), 2 * q + i % 2 + 8 * (i / 4)};
    }

    @ParameterizedTest
    @MethodSource("formats")
    void everyLaneWordHoldsItsFragment(QuantFormat f) {
        int rows = 48;
        int k = 256;
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor t = SCALAR.quantize(f, TestData.matrix(rows, k, 7), rows, k, arena);
            W4A16Weights w = W4A16Weights.of(t);
            for (int rt = 0; rt < rows / 16; rt++) {
                for (int kt = 0; kt < k / 16; kt++) {
                    for (int lane = 0; lane < 32; lane++) {
                        // The word the kernel loads: chunk of four column tiles, lane, tile within the chunk.
                        int word = w.words()[((rt * (k / 64) + kt / 4) * 32 + lane) * 4 + kt % 4];
                        for (int i = 0; i < 8; i++) {
                            int s = i / 2;
                            int half = i % 2;
                            int nibble = (word >>> (4 * s + 16 * half)) & 15;
                            int[] at = fragmentPosition(lane, i);
                            int r = 16 * rt + at[0];
                            int c = 16 * kt + at[1];
                            assertEquals(Reference.code(t, r, c), nibble, "row " + r + ", column " + c + ", lane "
                                    + lane + ", element " + i);
                        }
                    }
                }
            }
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < k; c++) {
                    assertEquals(Reference.code(t, r, c), w.code(r, c));
                }
            }
            int gl = f.groupLength(k);
            for (int g = 0; g < k / gl; g++) {
                for (int r = 0; r < rows; r++) {
                    assertEquals(Reference.scale(t, r, g), w.scales()[g * rows + r]);
                    float z = f.kind() == QuantFormat.Kind.Q4_0 ? 8f : Reference.zero(t, r, g);
                    assertEquals(z, w.zeros()[g * rows + r]);
                }
            }
        }
    }

    /** lop3 ORs the nibble into 1024.0 (fp16 0x6400) or 128.0 (bf16 0x4300); subtracting magic + z is exact. */
    @Test
    void magicNumbersGiveTheCodeMinusItsZero() {
        for (int q = 0; q < 16; q++) {
            float h = Float.float16ToFloat((short) (0x6400 | q));
            float b = Float.intBitsToFloat((0x4300 | q) << 16);
            assertEquals(1024f + q, h);
            assertEquals(128f + q, b);
            for (int z = 0; z <= 15; z++) {
                float negH = Float.float16ToFloat(Float.floatToFloat16(-(1024f + z)));
                float negB = TestData.bf16(-(128f + z));
                assertEquals(-(1024f + z), negH);
                assertEquals(-(128f + z), negB);
                // fma(h, 1, -(magic + z)) rounds once; the exact result q - z is representable in both types.
                assertEquals(q - z, TestData.toF16(h + negH));
                assertEquals(q - z, TestData.bf16(b + negB));
            }
        }
    }

    @Test
    void shapesAndFormatsAreChecked() {
        try (Arena arena = Arena.ofConfined()) {
            QuantFormat f = QuantFormat.grouped(4, 32, true, ScaleType.F16);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> W4A16Weights.of(SCALAR.quantize(f, new float[24 * 64], 24, 64, arena)));
            assertTrue(e.getMessage().contains("rows"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> W4A16Weights.of(SCALAR.quantize(f, new float[16 * 96], 16, 96, arena)));
            assertTrue(e.getMessage().contains("k to be a positive multiple of 64"), e.getMessage());
            for (QuantFormat other : List.of(QuantFormat.Q8_0, QuantFormat.Q4_1,
                    QuantFormat.grouped(8, 32, true, ScaleType.F16), QuantFormat.codebook4(32, ScaleType.F16))) {
                e = assertThrows(IllegalArgumentException.class,
                        () -> W4A16Weights.of(SCALAR.quantize(other, new float[16 * 64], 16, 64, arena)));
                assertTrue(e.getMessage().contains("W4A16 takes"), e.getMessage());
            }
        }
    }
}

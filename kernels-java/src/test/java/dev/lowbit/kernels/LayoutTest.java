package dev.lowbit.kernels;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.testkit.Formats;
import dev.lowbit.testkit.Inputs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** ggml block bytes computed by hand, and codes that follow the written rule through the reference unpack. */
class LayoutTest {
    private final QuantOps ops = new QuantOps(KernelProvider.kernels(), ThreadPool.callerThread());

    private static byte[] bytes(QuantizedTensor t) {
        return t.data().toArray(ValueLayout.JAVA_BYTE);
    }

    @Test
    void q8_0Block() {
        // x = j - 16 for j in 0..31: absmax 16, scale 16/127 rounded to fp16.
        float[] x = new float[32];
        for (int j = 0; j < 32; j++) {
            x[j] = j - 16;
        }
        try (Arena arena = Arena.ofConfined()) {
            byte[] b = bytes(ops.quantize(QuantFormat.Q8_0, x, 1, 32, arena));
            // 16/127 = 0.1259843 rounds to fp16 0x3008 = 0.1259766; 16/0.1259766 = 127.006 still rounds
            // to 127, so the scale stays (it widens only past 127.5).
            short h = 0x3008;
            byte[] want = new byte[34];
            want[0] = (byte) h;
            want[1] = (byte) (h >> 8);
            float d = Float.float16ToFloat(h);
            for (int j = 0; j < 32; j++) {
                want[2 + j] = (byte) Math.rint(x[j] / d);
            }
            assertArrayEquals(want, b);
            assertEquals(-127, b[2]);     // -16 / 0.1259766 = -127.006
            assertEquals(0, b[2 + 16]);
            assertEquals(119, b[2 + 31]); // 15 / 0.1259766 = 119.07
        }
    }

    @Test
    void q4_0Block() {
        // Largest magnitude is -8 (at j = 0), so d = -8 / -8 = 1 and q = x + 8; j pairs with j + 16 in one byte.
        float[] x = new float[32];
        for (int j = 0; j < 32; j++) {
            x[j] = (j % 16) - 8; // -8..7, twice
        }
        try (Arena arena = Arena.ofConfined()) {
            byte[] b = bytes(ops.quantize(QuantFormat.Q4_0, x, 1, 32, arena));
            byte[] want = new byte[18];
            want[0] = 0x00;
            want[1] = 0x3C; // fp16 1.0
            for (int j = 0; j < 16; j++) {
                int lo = j;       // code of x[j] = j - 8 is j
                int hi = j;       // x[j + 16] has the same value
                want[2 + j] = (byte) (lo | hi << 4);
            }
            assertArrayEquals(want, b);
        }
    }

    @Test
    void q4_0PositiveExtremeGetsNegativeScale() {
        float[] x = new float[32];
        x[5] = 4f;
        x[6] = -2f;
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor t = ops.quantize(QuantFormat.Q4_0, x, 1, 32, arena);
            assertEquals(-0.5f, Reference.scale(t, 0, 0)); // 4 / -8
            assertEquals(0, Reference.code(t, 0, 5));       // 4 / -0.5 = -8 -> code 0
            assertEquals(12, Reference.code(t, 0, 6));      // -2 / -0.5 = 4 -> code 12
            assertEquals(8, Reference.code(t, 0, 0));       // zero -> code 8
        }
    }

    @Test
    void q4_1Block() {
        // min -1 and max 14 are fp16-exact: d = 15 / 15 = 1, m = -1, q = x + 1.
        float[] x = new float[32];
        for (int j = 0; j < 32; j++) {
            x[j] = (j % 16) - 1;
        }
        try (Arena arena = Arena.ofConfined()) {
            byte[] b = bytes(ops.quantize(QuantFormat.Q4_1, x, 1, 32, arena));
            byte[] want = new byte[20];
            want[1] = 0x3C;            // d = 1.0
            want[3] = (byte) 0xBC;     // m = -1.0
            for (int j = 0; j < 16; j++) {
                want[4 + j] = (byte) (j | j << 4);
            }
            assertArrayEquals(want, b);
        }
    }

    @Test
    void partialBlockPadsWithZeroBits() {
        float[] x = {1f, -1f, 0.5f};
        try (Arena arena = Arena.ofConfined()) {
            byte[] b = bytes(ops.quantize(QuantFormat.Q4_0, x, 1, 3, arena));
            assertEquals(18, b.length);
            for (int j = 3; j < 16; j++) {
                assertEquals(0, b[2 + j] & 0x0F, "padding nibble " + j);
            }
            for (int j = 0; j < 16; j++) {
                assertEquals(0, b[2 + j] & 0xF0, "padding high nibble " + j);
            }
        }
    }

    @Test
    void grouped4BitNibbleOrderAndAsymmetricZero() {
        // One group [0, 15]: range holds 0, d = 1, z = 0; element 2j in the low nibble of byte j.
        float[] x = new float[16];
        for (int j = 0; j < 16; j++) {
            x[j] = j;
        }
        QuantFormat f = QuantFormat.grouped(4, QuantFormat.ROW, false, ScaleType.F32);
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor t = ops.quantize(f, x, 1, 16, arena);
            byte[] b = bytes(t);
            for (int j = 0; j < 8; j++) {
                assertEquals((2 * j) | (2 * j + 1) << 4, b[j] & 0xFF);
            }
            assertEquals(1f, Reference.scale(t, 0, 0));
            assertEquals(0f, Reference.zero(t, 0, 0));
        }
    }

    static List<QuantFormat> formats() {
        return Formats.all();
    }

    /**
     * Unpacked codes equal the written rule: for grouped and codebook formats applied with the unpacked scales and
     * zero points; for ggml's blocks ggml's rule, restated here from the block's values ({@link #ggmlCode}).
     */
    @ParameterizedTest
    @MethodSource("formats")
    void codesFollowTheRule(QuantFormat f) {
        int rows = 3;
        int cols = 129;
        float[] x = Inputs.gaussian(5, rows * cols);
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor t = ops.quantize(f, x, rows, cols, arena);
            Reference.Unpacked u = Reference.unpack(t);
            int gpr = f.groupsPerRow(cols);
            int gl = f.groupLength(cols);
            float[] mids = f.kind() == QuantFormat.Kind.CODEBOOK4 ? dev.lowbit.format.Codebooks.midpoints(t.levels()) : null;
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    int g = r * gpr + c / gl;
                    float d = u.scales()[g];
                    float xi = x[r * cols + c];
                    int want;
                    if (f.isGgml()) {
                        want = ggmlCode(f.kind(), x, r * cols, cols, c);
                    } else if (mids != null) {
                        want = 0;
                        for (float m : mids) {
                            want += m < xi / d ? 1 : 0;
                        }
                    } else {
                        float add = f.symmetric() ? 1 << (f.bits() - 1) : u.zeros()[g];
                        want = (int) Math.max(0, Math.min(f.maxCode(), Math.rint(xi / d) + add));
                    }
                    assertEquals(want, u.codes()[r * cols + c], f + " code at " + r + "," + c);
                }
            }
        }
    }

    /**
     * ggml's code of element {@code c} of the row at {@code x[off, off + cols)} (quantize_row_*_ref of
     * ggml-quants.c): the block's scale in fp32, codes by its inverse; Q8_0 rounds half away from zero, Q4 adds 8.5
     * or 0.5 and truncates. Finite, normal-sized inputs only.
     */
    static int ggmlCode(QuantFormat.Kind kind, float[] x, int off, int cols, int c) {
        int b0 = off + c / 32 * 32;
        int b1 = off + Math.min(cols, c / 32 * 32 + 32);
        float v = x[off + c];
        switch (kind) {
            case Q8_0 -> {
                float amax = 0f;
                for (int i = b0; i < b1; i++) {
                    amax = Math.max(amax, Math.abs(x[i]));
                }
                float d = amax / 127f;
                float t = v * (d != 0f ? 1f / d : 0f);
                return (int) Math.copySign(Math.floor(Math.abs((double) t) + 0.5), t);
            }
            case Q4_0 -> {
                float amax = 0f;
                float m = 0f;
                for (int i = b0; i < b1; i++) {
                    if (Math.abs(x[i]) > amax) {
                        amax = Math.abs(x[i]);
                        m = x[i];
                    }
                }
                float d = m / -8f;
                return Math.min(15, (int) (v * (d != 0f ? 1f / d : 0f) + 8.5f));
            }
            default -> {
                float min = Float.MAX_VALUE;
                float max = -Float.MAX_VALUE;
                for (int i = b0; i < b1; i++) {
                    min = x[i] < min ? x[i] : min;
                    max = x[i] > max ? x[i] : max;
                }
                float d = (max - min) / 15f;
                return Math.min(15, (int) ((v - min) * (d != 0f ? 1f / d : 0f) + 0.5f));
            }
        }
    }
}

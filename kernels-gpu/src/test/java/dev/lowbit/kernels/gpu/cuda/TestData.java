package dev.lowbit.kernels.gpu.cuda;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.ScaleType;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Formats and seeded matrices for the CUDA tests: every format, and rows that reach the boundary cases. */
final class TestData {
    private TestData() {
    }

    /** Every format lowbit defines: ggml blocks, grouped 2/3/4/8 bits, codebooks, all group sizes and scale types. */
    static List<QuantFormat> allFormats() {
        List<QuantFormat> out = new ArrayList<>(List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1));
        int[] groups = {32, 64, 128, QuantFormat.ROW};
        for (ScaleType t : ScaleType.values()) {
            for (int g : groups) {
                for (int bits : new int[] {2, 3, 4, 8}) {
                    out.add(QuantFormat.grouped(bits, g, true, t));
                    out.add(QuantFormat.grouped(bits, g, false, t));
                }
                out.add(QuantFormat.codebook4(g, t));
            }
        }
        return out;
    }

    /**
     * A {@code rows x cols} matrix: rows of gaussians at magnitudes from 1e-4 (subnormal fp16 scales) to 1e3, a row of
     * zeros, a row of negative zeros and a row of one sign; the seed is in the message of any failure.
     */
    static float[] matrix(int rows, int cols, long seed) {
        Random rnd = new Random(seed);
        float[] m = new float[rows * cols];
        float[] mags = {1e-4f, 0.01f, 1f, 30f, 1000f};
        for (int r = 0; r < rows; r++) {
            int kind = r % 8;
            float mag = mags[r % mags.length];
            for (int c = 0; c < cols; c++) {
                float v = switch (kind) {
                    case 5 -> 0f;
                    case 6 -> -0f;
                    case 7 -> mag * (float) Math.abs(rnd.nextGaussian());
                    default -> mag * (float) rnd.nextGaussian();
                };
                m[r * cols + c] = v;
            }
        }
        return m;
    }

    /** {@code x} rounded to fp16. */
    static float toF16(float x) {
        return Float.float16ToFloat(Float.floatToFloat16(x));
    }

    /** The fp16 bits of each value. */
    static short[] f16Bits(float[] x) {
        short[] out = new short[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = Float.floatToFloat16(x[i]);
        }
        return out;
    }

    /** bf16 bits of {@code x}, rounded to nearest even (finite input). */
    static short bf16Bits(float x) {
        int b = Float.floatToRawIntBits(x);
        int rounded = b + 0x7FFF + ((b >>> 16) & 1);
        return (short) (rounded >>> 16);
    }

    static float bf16(float x) {
        return Float.intBitsToFloat((bf16Bits(x) & 0xFFFF) << 16);
    }
}

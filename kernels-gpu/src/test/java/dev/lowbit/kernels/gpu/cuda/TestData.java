package dev.lowbit.kernels.gpu.cuda;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.testkit.Formats;
import dev.lowbit.testkit.Inputs;

import java.util.List;

/** Formats and seeded matrices for the CUDA tests (from the test kit), and fp16/bf16 rounding. */
final class TestData {
    private TestData() {
    }

    /** Every format lowbit defines: ggml blocks, grouped 2/3/4/8 bits, codebooks, all group sizes and scale types. */
    static List<QuantFormat> allFormats() {
        return Formats.all();
    }

    /**
     * {@link Inputs#matrix}: rows of gaussians at magnitudes from 1e-4 (subnormal fp16 scales) to 1e3, a row of zeros,
     * a row of negative zeros and a row of one sign; the seed is in the message of any failure.
     */
    static float[] matrix(int rows, int cols, long seed) {
        return Inputs.matrix(rows, cols, seed);
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

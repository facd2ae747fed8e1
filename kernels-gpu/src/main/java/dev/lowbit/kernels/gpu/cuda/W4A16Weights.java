package dev.lowbit.kernels.gpu.cuda;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.bindings.cuda.DeviceMemory;

import java.util.Objects;

/**
 * Int4 weights reshuffled for the W4A16 tensor-core kernel ({@code w4a16.cu}), Marlin-style: the codes a lane needs
 * for one {@code mma.m16n8k16} A fragment sit in one 32-bit word, and the words of four consecutive 16-column tiles
 * sit together so that a lane loads them with one 16-byte access.
 *
 * <p>For the tile of rows {@code 16 rt .. 16 rt + 15} and columns {@code 16 kt .. 16 kt + 15}, lane {@code L}
 * ({@code g = L / 4}, {@code q = L % 4}) holds the word at index {@code ((rt * (K / 64) + kt / 4) * 32 + L) * 4 + kt % 4}.
 * Its nibble {@code 4 s + 16 h} (register {@code s = 0..3}, half {@code h = 0, 1}) is the code at row
 * {@code 16 rt + g + 8 (s & 1)}, column {@code 16 kt + 2 q + h + 8 (s >> 1)}: the A fragment's element order
 * {a0, a1} {a2, a3} {a4, a5} {a6, a7}. Scales and zero points become fp32 planes indexed {@code [group][row]}.
 *
 * <p>Takes grouped 4-bit weights (symmetric or not, groups of 32, 64, 128 or a row) and Q4_0. Needs
 * {@code rows % 16 == 0} and {@code k % 64 == 0}.
 */
public record W4A16Weights(int rows, int k, int groupLength, int[] words, float[] scales, float[] zeros) {

    /** Threads per block of the kernel: eight warps that split K. */
    static final int THREADS = 256;

    public W4A16Weights {
        Objects.requireNonNull(words, "words");
        checkShape(rows, k, groupLength);
        int groups = k / groupLength;
        if (words.length != rows * (k / 8) || scales.length != groups * rows || zeros.length != groups * rows) {
            throw new IllegalArgumentException("planes do not match " + rows + "x" + k + " with groups of "
                    + groupLength);
        }
    }

    static void checkShape(int rows, int k, int groupLength) {
        if (rows <= 0 || rows % 16 != 0) {
            throw new IllegalArgumentException("W4A16 needs rows to be a positive multiple of 16, got " + rows);
        }
        if (k <= 0 || k % 64 != 0) {
            throw new IllegalArgumentException("W4A16 needs k to be a positive multiple of 64, got " + k);
        }
        if (groupLength % 16 != 0 || k % groupLength != 0) {
            throw new IllegalArgumentException("W4A16 needs a group length that is a multiple of 16 and divides k = "
                    + k + ", got " + groupLength);
        }
    }

    /** Index of the word that holds the code at row {@code r}, column {@code c}, and the nibble within it. */
    static int wordIndex(int k, int r, int c) {
        int rt = r / 16;
        int kt = c / 16;
        int lane = (r % 8) * 4 + (c % 8) / 2;
        return ((rt * (k / 64) + kt / 4) * 32 + lane) * 4 + kt % 4;
    }

    static int nibble(int r, int c) {
        int s = ((r % 16) / 8) | (((c % 16) / 8) << 1);
        int h = c % 2;
        return 4 * s + 16 * h;
    }

    /** The code at row {@code r}, column {@code c}: the inverse of the reshuffle. */
    public int code(int r, int c) {
        return (words[wordIndex(k, r, c)] >>> nibble(r, c)) & 15;
    }

    /** Reshuffles {@code t} (grouped 4-bit or Q4_0, without outliers). */
    public static W4A16Weights of(QuantizedTensor t) {
        QuantFormat f = t.format();
        boolean grouped4 = f.kind() == QuantFormat.Kind.GROUPED && f.bits() == 4;
        if (!grouped4 && f.kind() != QuantFormat.Kind.Q4_0) {
            throw new IllegalArgumentException("W4A16 takes grouped 4-bit or Q4_0 weights, not " + f);
        }
        if (t.outliers() != null) {
            throw new IllegalArgumentException("W4A16 takes weights without outliers");
        }
        int rows = t.rows();
        int k = t.cols();
        int gl = f.groupLength(k);
        checkShape(rows, k, gl);
        int[] words = new int[rows * (k / 8)];
        Reference.Unpacked u = Reference.unpack(t);
        int[] codes = u.codes();
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < k; c++) {
                words[wordIndex(k, r, c)] |= codes[r * k + c] << nibble(r, c);
            }
        }
        int groups = k / gl;
        float[] scales = new float[groups * rows];
        float[] zeros = new float[groups * rows];
        boolean centered = f.centered();
        for (int r = 0; r < rows; r++) {
            for (int g = 0; g < groups; g++) {
                scales[g * rows + r] = Reference.scale(t, r, g);
                // A centered code is (q - c) * d: a zero point of c (8 for Q4_0).
                zeros[g * rows + r] = centered ? f.center() : Reference.zero(t, r, g);
            }
        }
        return new W4A16Weights(rows, k, gl, words, scales, zeros);
    }

    /** The reshuffled planes on a device. */
    public record OnDevice(int rows, int k, int groupLength, DeviceMemory words, DeviceMemory scales,
                           DeviceMemory zeros) implements AutoCloseable {
        @Override
        public void close() {
            words.close();
            scales.close();
            zeros.close();
        }
    }

    /** Copies the planes to the device of {@code rt}. */
    public OnDevice upload(CudaRuntime rt) {
        DeviceMemory w = rt.upload(words);
        DeviceMemory s = null;
        try {
            s = rt.upload(scales, 0, scales.length);
            DeviceMemory z = rt.upload(zeros, 0, zeros.length);
            return new OnDevice(rows, k, groupLength, w, s, z);
        } catch (RuntimeException e) {
            w.close();
            if (s != null) {
                s.close();
            }
            throw e;
        }
    }
}

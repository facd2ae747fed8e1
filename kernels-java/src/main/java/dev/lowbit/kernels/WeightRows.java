package dev.lowbit.kernels;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;

import java.lang.foreign.MemorySegment;

/** Reading one weight row's codes and per-group parameters, for the matmul kernels. */
final class WeightRows {
    private WeightRows() {
    }

    /**
     * Codes of row {@code r} as signed bytes: offsets from the zero point where that is an integer
     * constant (Q8_0: q; Q4_0: q - 8; symmetric grouped: u - 2^(b-1)); else the stored code minus
     * {@link #codeOffset} (Q4_1, asymmetric grouped, codebook). {@code out} must hold {@code paddedK}
     * values; the padding is set to 0.
     */
    static void codes(QuantizedTensor w, int r, byte[] out) {
        QuantFormat f = w.format();
        int k = w.cols();
        MemorySegment d = w.data();
        long base = r * f.rowBytes(k);
        switch (f.kind()) {
            case Q8_0 -> {
                for (int b = 0; b * 32 < k; b++) {
                    MemorySegment.copy(d, Layouts.U8, base + b * 34L + 2, out, b * 32, Math.min(32, k - b * 32));
                }
            }
            case Q4_0, Q4_1 -> {
                int sub = codeSub(f);
                int off = f.kind() == QuantFormat.Kind.Q4_0 ? 2 : 4;
                int bb = f.blockBytes();
                byte[] row = rowBytes(d, base, (int) f.rowBytes(k));
                for (int b = 0; b * 32 < k; b++) {
                    int n = Math.min(32, k - b * 32);
                    for (int j = 0; j < n; j++) {
                        int v = row[b * bb + off + (j & 15)] & 0xFF;
                        out[b * 32 + j] = (byte) ((j < 16 ? v & 15 : v >>> 4) - sub);
                    }
                }
            }
            case GROUPED, CODEBOOK4 -> unpack(rowBytes(d, base, (int) f.rowBytes(k)), f.bits(), k, codeSub(f), out);
        }
        java.util.Arrays.fill(out, k, QuantizedActivations.paddedK(k), (byte) 0);
    }

    /** What {@link #codes} subtracts from every stored code: the stored code is {@code codes()[c] + codeSub(f)}. */
    static int codeSub(QuantFormat f) {
        return switch (f.kind()) {
            case Q8_0, Q4_1 -> 0;
            case Q4_0 -> 8;
            case GROUPED -> f.symmetric() ? 1 << (f.bits() - 1) : codeOffset(f);
            case CODEBOOK4 -> codeOffset(f);
        };
    }

    /** The row's bytes in one bulk copy: reading them one by one through the segment costs far more. */
    private static byte[] rowBytes(MemorySegment d, long base, int n) {
        byte[] row = new byte[n];
        MemorySegment.copy(d, Layouts.U8, base, row, 0, n);
        return row;
    }

    /** Codes of {@code bits} bits packed from the least significant bit on (see BitPacking), minus {@code sub}. */
    private static void unpack(byte[] row, int bits, int k, int sub, byte[] out) {
        switch (bits) {
            case 8 -> {
                for (int c = 0; c < k; c++) {
                    out[c] = (byte) ((row[c] & 0xFF) - sub);
                }
            }
            case 4 -> {
                for (int c = 0; c < k; c++) {
                    int v = row[c >>> 1] & 0xFF;
                    out[c] = (byte) (((c & 1) == 0 ? v & 15 : v >>> 4) - sub);
                }
            }
            default -> { // 2 and 3 bits: a bit accumulator, refilled a byte at a time
                int mask = (1 << bits) - 1;
                int acc = 0;
                int have = 0;
                int at = 0;
                for (int c = 0; c < k; c++) {
                    if (have < bits) {
                        acc |= (row[at++] & 0xFF) << have;
                        have += 8;
                    }
                    out[c] = (byte) ((acc & mask) - sub);
                    acc >>>= bits;
                    have -= bits;
                }
            }
        }
    }

    /**
     * What {@link #codes} subtracts from an uncentered code so that it fits a signed byte: 128 for
     * asymmetric 8-bit codes (0..255), else 0. The zero point moves by the same amount.
     */
    static int codeOffset(QuantFormat f) {
        return f.kind() == QuantFormat.Kind.GROUPED && !f.symmetric() && f.bits() == 8 ? 128 : 0;
    }

    /** Whether {@link #codes} yields values that already are the multiplier of the scale. */
    static boolean centered(QuantFormat f) {
        return switch (f.kind()) {
            case Q8_0, Q4_0 -> true;
            case GROUPED -> f.symmetric();
            default -> false;
        };
    }

    /** Whether the integer path takes this format. */
    static boolean intPath(QuantFormat f) {
        return switch (f.kind()) {
            case Q8_0, Q4_0, Q4_1 -> true;
            case GROUPED -> f.bits() == 8 || f.bits() == 4;
            case CODEBOOK4 -> false;
        };
    }
}

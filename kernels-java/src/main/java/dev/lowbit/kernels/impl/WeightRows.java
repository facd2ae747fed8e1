package dev.lowbit.kernels.impl;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.QuantizedActivations;

import java.lang.foreign.MemorySegment;

/** Reading one weight row's codes and per-group parameters, for the matmul kernels. */
public final class WeightRows {
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
                int off = f.blockCodeOffset();
                int bb = f.blockBytes();
                byte[] row = rowBytes(d, base, (int) f.rowBytes(k));
                int b = 0;
                for (; b * 32 + 32 <= k; b++) { // whole blocks: byte j holds elements j and j + 16
                    for (int j = 0; j < 16; j++) {
                        int v = row[b * bb + off + j] & 0xFF;
                        out[b * 32 + j] = (byte) ((v & 15) - sub);
                        out[b * 32 + 16 + j] = (byte) ((v >>> 4) - sub);
                    }
                }
                for (int c = b * 32; c < k; c++) { // a partial last block
                    int j = c - b * 32;
                    int v = row[b * bb + off + (j & 15)] & 0xFF;
                    out[c] = (byte) ((j < 16 ? v & 15 : v >>> 4) - sub);
                }
            }
            case GROUPED, CODEBOOK4 -> unpack(rowBytes(d, base, (int) f.rowBytes(k)), f.bits(), k, codeSub(f), out);
        }
        java.util.Arrays.fill(out, k, QuantizedActivations.paddedK(k), (byte) 0);
    }

    /** What {@link #codes} subtracts from every stored code: the stored code is {@code codes()[c] + codeSub(f)}. */
    static int codeSub(QuantFormat f) {
        return f.centered() ? f.center() : codeOffset(f);
    }

    /**
     * The scale and zero point of every group of row {@code r}, as {@link Reference#scale} and {@link Reference#zero}
     * give them, read in bulk. {@code zeros} may be null when only the scales are wanted.
     */
    static void params(QuantizedTensor w, int r, float[] scales, float[] zeros) {
        QuantFormat f = w.format();
        int k = w.cols();
        int gpr = f.groupsPerRow(k);
        if (f.isGgml()) {
            int bb = f.blockBytes();
            byte[] row = rowBytes(w.data(), r * f.rowBytes(k), (int) f.rowBytes(k));
            boolean q41 = f.hasMinimum();
            for (int g = 0; g < gpr; g++) {
                scales[g] = Float.float16ToFloat((short) ((row[g * bb] & 0xFF) | (row[g * bb + 1] << 8)));
                if (zeros != null) {
                    zeros[g] = q41 ? Float.float16ToFloat((short) ((row[g * bb + 2] & 0xFF) | (row[g * bb + 3] << 8)))
                            : 0f;
                }
            }
            return;
        }
        long at = (long) r * gpr;
        readParams(w.scales(), f.scaleType(), at, scales, gpr);
        if (zeros == null) {
            return;
        }
        if (f.hasZeroPlane()) {
            readParams(w.zeros(), f.scaleType(), at, zeros, gpr);
        } else {
            float z = f.kind().codes() == QuantFormat.Codes.ZERO_POINT ? Reference.symmetricZero(f) : 0f;
            java.util.Arrays.fill(zeros, 0, gpr, z);
        }
    }

    /** The scale of each block of 32 columns of row {@code r} (its group's scale) at {@code dw[dwo ..]}. */
    static void blockScales(QuantizedTensor w, int r, float[] dw, int dwo) {
        QuantFormat f = w.format();
        int k = w.cols();
        int gpr = f.groupsPerRow(k);
        Scratch s = SCRATCH.get();
        if (s.scales.length < gpr) {
            s.scales = new float[gpr];
        }
        float[] gs = s.scales;
        params(w, r, gs, null);
        int gl = f.groupLength(k);
        int nb = QuantizedActivations.paddedK(k) / 32;
        if (gl >= k) { // one group: the whole row
            java.util.Arrays.fill(dw, dwo, dwo + nb, gs[0]);
            return;
        }
        int per = gl / 32; // groups are 32, 64 or 128 columns: whole blocks
        for (int g = 0, b = 0; b < nb; g++) {
            for (int e = Math.min(nb, b + per); b < e; b++) {
                dw[dwo + b] = gs[g];
            }
        }
    }

    private static void readParams(MemorySegment plane, ScaleType type, long at, float[] out, int n) {
        if (type == ScaleType.F32) {
            MemorySegment.copy(plane, Layouts.F32, at * 4, out, 0, n);
            return;
        }
        Scratch s = SCRATCH.get();
        if (s.halves.length < n) {
            s.halves = new short[n];
        }
        short[] h = s.halves;
        MemorySegment.copy(plane, Layouts.F16, at * 2, h, 0, n);
        for (int i = 0; i < n; i++) {
            out[i] = Float.float16ToFloat(h[i]);
        }
    }

    /** Per-thread scratch for a row's bytes and fp16 parameters, so that reading a row allocates nothing. */
    private static final class Scratch {
        byte[] bytes = new byte[0];
        short[] halves = new short[0];
        float[] scales = new float[0];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * The row's bytes in one bulk copy (reading them one by one through the segment costs far more), in this
     * thread's scratch array: valid until the next call on this thread.
     */
    private static byte[] rowBytes(MemorySegment d, long base, int n) {
        Scratch s = SCRATCH.get();
        if (s.bytes.length < n) {
            s.bytes = new byte[n];
        }
        MemorySegment.copy(d, Layouts.U8, base, s.bytes, 0, n);
        return s.bytes;
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
                int c = 0;
                for (; c + 2 <= k; c += 2) { // byte j: element 2j in the low nibble, 2j + 1 in the high
                    int v = row[c >>> 1] & 0xFF;
                    out[c] = (byte) ((v & 15) - sub);
                    out[c + 1] = (byte) ((v >>> 4) - sub);
                }
                if (c < k) {
                    out[c] = (byte) ((row[c >>> 1] & 15) - sub);
                }
            }
            case 2 -> {
                int c = 0;
                for (; c + 4 <= k; c += 4) { // byte j: elements 4j .. 4j + 3, from bit 0 up
                    int v = row[c >>> 2] & 0xFF;
                    out[c] = (byte) ((v & 3) - sub);
                    out[c + 1] = (byte) (((v >>> 2) & 3) - sub);
                    out[c + 2] = (byte) (((v >>> 4) & 3) - sub);
                    out[c + 3] = (byte) ((v >>> 6) - sub);
                }
                for (; c < k; c++) {
                    out[c] = (byte) (((row[c >>> 2] >>> (2 * (c & 3))) & 3) - sub);
                }
            }
            default -> { // 3 bits: a bit accumulator, refilled a byte at a time
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
        return f.hasZeroPlane() && f.bits() == 8 ? 128 : 0;
    }

    /** Whether {@link #codes} yields values that already are the multiplier of the scale. */
    public static boolean centered(QuantFormat f) {
        return f.centered();
    }

    /** Whether the integer path takes this format: Q8_0, Q4_0, Q4_1 and grouped 8- or 4-bit codes. */
    public static boolean intPath(QuantFormat f) {
        return (!f.isGgml() || f.kind().plain()) && !f.hasLevels() && (f.bits() == 8 || f.bits() == 4);
    }
}

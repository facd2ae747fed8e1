package dev.lowbit.kernels.impl;

import dev.lowbit.format.QuantFormat;

/** Writes unpacked codes (one per byte) into a row's stored bytes, per docs/formats.md. */
final class RowPacker {
    private RowPacker() {
    }

    /**
     * Packs {@code codes[0, cols)} into {@code out}. For ggml formats the block headers take
     * {@code scales} (and {@code zeros} as the Q4_1 minimum) as fp16; padding fields are zero.
     */
    static void pack(QuantFormat f, byte[] codes, int cols, float[] scales, float[] zeros, byte[] out) {
        if (f.isGgml()) {
            for (int b = 0; b * 32 < cols; b++) {
                packBlock(f, codes, b * 32, Math.min(32, cols - b * 32), scales[b], zeros == null ? 0f : zeros[b],
                        out, b * f.blockBytes());
            }
        } else {
            java.util.Arrays.fill(out, 0, (int) f.rowBytes(cols), (byte) 0);
            packBits(f.bits(), codes, cols, out);
        }
    }

    /**
     * Writes one ggml block at {@code out[base]} from {@code len <= 32} codes at {@code codes[from]}:
     * fp16 scale, the fp16 minimum for Q4_1, then the codes; padding fields are zero.
     */
    static void packBlock(QuantFormat f, byte[] codes, int from, int len, float d, float m, byte[] out, int base) {
        java.util.Arrays.fill(out, base, base + f.blockBytes(), (byte) 0);
        putF16(out, base, d);
        int q = base + f.blockCodeOffset();
        if (f.bits() == 8) {
            System.arraycopy(codes, from, out, q, len);
            return;
        }
        if (f.hasMinimum()) {
            putF16(out, base + 2, m);
        }
        for (int j = 0; j < len; j++) {
            int c = codes[from + j];
            out[q + (j & 15)] |= (byte) (j < 16 ? c : c << 4);
        }
    }

    static void packBits(int bits, byte[] codes, int cols, byte[] out) {
        switch (bits) {
            case 8 -> System.arraycopy(codes, 0, out, 0, cols);
            case 4 -> {
                for (int i = 0; i < cols; i++) {
                    out[i >> 1] |= (byte) ((codes[i] & 15) << ((i & 1) << 2));
                }
            }
            case 2 -> {
                for (int i = 0; i < cols; i++) {
                    out[i >> 2] |= (byte) ((codes[i] & 3) << ((i & 3) << 1));
                }
            }
            default -> {
                long acc = 0;
                int filled = 0;
                int o = 0;
                int mask = (1 << bits) - 1;
                for (int i = 0; i < cols; i++) {
                    acc |= (long) (codes[i] & mask) << filled;
                    filled += bits;
                    while (filled >= 8) {
                        out[o++] = (byte) acc;
                        acc >>>= 8;
                        filled -= 8;
                    }
                }
                if (filled > 0) {
                    out[o] = (byte) acc;
                }
            }
        }
    }

    static void putF16(byte[] out, int at, float v) {
        short h = Float.floatToFloat16(v);
        out[at] = (byte) h;
        out[at + 1] = (byte) (h >>> 8);
    }

    /** Reads {@code cols} packed {@code bits}-wide codes of a row into {@code dst} as floats. */
    static void unpackBits(java.lang.foreign.MemorySegment seg, long rowBase, int bits, int cols, float[] dst, int off) {
        switch (bits) {
            case 8 -> {
                for (int i = 0; i < cols; i++) {
                    dst[off + i] = seg.get(dev.lowbit.format.Layouts.U8, rowBase + i) & 0xFF;
                }
            }
            case 4 -> {
                for (int i = 0; i < cols; i++) {
                    int b = seg.get(dev.lowbit.format.Layouts.U8, rowBase + (i >> 1)) & 0xFF;
                    dst[off + i] = (b >>> ((i & 1) << 2)) & 15;
                }
            }
            default -> {
                for (int i = 0; i < cols; i++) {
                    dst[off + i] = dev.lowbit.format.BitPacking.get(seg, rowBase, bits, i);
                }
            }
        }
    }
}

package dev.lowbit.format;

import java.lang.foreign.MemorySegment;

/**
 * Packed code fields in a row: element {@code i} of a row with {@code b}-bit codes occupies bits
 * {@code [i*b, i*b+b)} of the row, counted from the least significant bit of the row's first byte.
 * For 4 bits, element {@code 2j} is the low nibble of byte {@code j}; for 2 bits, element {@code 4j}
 * is bits 0-1 of byte {@code j}. A 3-bit field may straddle two bytes.
 */
public final class BitPacking {
    private BitPacking() {
    }

    /** Reads code {@code i} of the row starting at byte {@code rowBase}. */
    public static int get(MemorySegment seg, long rowBase, int bits, int i) {
        long bit = (long) i * bits;
        long at = rowBase + (bit >>> 3);
        int shift = (int) (bit & 7);
        int v = seg.get(Layouts.U8, at) & 0xFF;
        if (shift + bits > 8) {
            v |= (seg.get(Layouts.U8, at + 1) & 0xFF) << 8;
        }
        return (v >>> shift) & ((1 << bits) - 1);
    }

    /** Writes code {@code i} of the row starting at {@code rowBase}; other fields are kept. */
    public static void set(MemorySegment seg, long rowBase, int bits, int i, int code) {
        int mask = (1 << bits) - 1;
        if ((code & ~mask) != 0) {
            throw new IllegalArgumentException("code " + code + " does not fit in " + bits + " bits");
        }
        long bit = (long) i * bits;
        long at = rowBase + (bit >>> 3);
        int shift = (int) (bit & 7);
        int lo = seg.get(Layouts.U8, at) & 0xFF;
        lo = (lo & ~(mask << shift)) | (code << shift);
        seg.set(Layouts.U8, at, (byte) lo);
        if (shift + bits > 8) {
            int hi = seg.get(Layouts.U8, at + 1) & 0xFF;
            int hiMask = mask >>> (8 - shift);
            hi = (hi & ~hiMask) | (code >>> (8 - shift));
            seg.set(Layouts.U8, at + 1, (byte) hi);
        }
    }
}

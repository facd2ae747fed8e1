package dev.lowbit.format;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The reference pack and unpack of every format, written for clarity: what {@code docs/formats.md}
 * says, in code. Tests treat it as the truth for layouts; kernels must agree with it.
 *
 * <p>Codes are the stored field values: a signed int8 for Q8_0 and Q8_K, a nibble 0..15 for Q4_0, Q4_1 and
 * Q4_K, the 5 (Q5_0, Q5_1, Q5_K), 6 (Q6_K), 3 (Q3_K) or 2 (Q2_K) bits of an element put together from their
 * split fields, an unsigned {@code bits}-wide field for grouped formats, a level index 0..15 for codebooks and
 * IQ4_NL. A scale is that of a scale group ({@link QuantFormat#scaleGroupLength}): a block, a K-quant sub-block
 * (its super-block scale times its own integer scale, in fp32, as ggml computes it), or a group of planes.
 */
public final class Reference {
    private Reference() {
    }

    /** Codes and per-scale-group parameters of a tensor, as plain arrays (scales decoded to fp32). */
    public record Unpacked(int[] codes, float[] scales, float[] zeros) {
    }

    /**
     * The value a code stands for.
     *
     * @param zero the minimum (Q4_1, Q5_1, the K-quants' {@code −dmin·m}) or the grouped zero point; ignored
     *             otherwise
     */
    public static float value(QuantFormat f, int code, float scale, float zero, float[] levels) {
        return switch (f.kind().codes()) {
            case SIGNED -> code * scale;
            case CENTERED -> (code - f.center()) * scale;
            case MINIMUM -> code * scale + zero;
            case ZERO_POINT -> (code - zero) * scale;
            case LEVELS -> levels[code] * scale;
            case FIXED_LEVELS -> IQ4_NL[code] * scale;
        };
    }

    private static final int[] IQ4_NL = QuantFormat.iq4nlLevels();

    /** The implicit zero point of a symmetric grouped format, {@code 2^(bits-1)}. */
    public static float symmetricZero(QuantFormat f) {
        return 1 << (f.bits() - 1);
    }

    /** Byte offset of ggml block {@code b} of row {@code r}. */
    public static long blockOffset(QuantizedTensor t, int r, int b) {
        return r * t.format().rowBytes(t.cols()) + (long) b * t.format().blockBytes();
    }

    private static float f16(MemorySegment d, long at) {
        return Float.float16ToFloat(d.get(Layouts.F16, at));
    }

    private static int u8(MemorySegment d, long at) {
        return d.get(Layouts.U8, at) & 0xFF;
    }

    /**
     * The 6-bit scale ({@code min == false}) or minimum of sub-block {@code j} (0..7) of a Q4_K or Q5_K
     * super-block, from the 12 bytes at {@code at}: ggml's {@code get_scale_min_k4}.
     */
    private static int scaleMinK4(MemorySegment d, long at, int j, boolean min) {
        if (j < 4) {
            return u8(d, at + j + (min ? 4 : 0)) & 63;
        }
        return min ? (u8(d, at + j + 4) >>> 4) | ((u8(d, at + j) >>> 6) << 4)
                : (u8(d, at + j + 4) & 0xF) | ((u8(d, at + j - 4) >>> 6) << 4);
    }

    /** The signed 6-bit scale of sub-block {@code s} (0..15) of a Q3_K super-block, from its 12 bytes at {@code at}. */
    private static int scaleQ3K(MemorySegment d, long at, int s) {
        int low = s < 8 ? u8(d, at + s) & 0xF : u8(d, at + s - 8) >>> 4;
        int high = (u8(d, at + 8 + s % 4) >>> (2 * (s / 4))) & 3;
        return (low | high << 4) - 32;
    }

    /** Whether {@code f} is a K-quant of sub-blocks: Q2_K, Q3_K, Q4_K, Q5_K or Q6_K (not Q8_K). */
    private static boolean subBlocks(QuantFormat f) {
        return f.isGgml() && f.groupSize() > f.kind().scaleGroup();
    }

    private static void checkSubBlocks(QuantFormat f) {
        if (!subBlocks(f)) {
            throw new IllegalArgumentException(f + " has no sub-block scales: it is not Q2_K, Q3_K, Q4_K, Q5_K or Q6_K");
        }
    }

    /**
     * The fp32 value of the fp16 super-block scale {@code d} of super-block {@code b} of row {@code r} of a K-quant
     * (Q2_K to Q6_K), or of Q8_K's fp32 {@code d}.
     */
    public static float superScale(QuantizedTensor t, int r, int b) {
        QuantFormat f = t.format();
        if (f.kind() == QuantFormat.Kind.Q8_K) {
            return t.data().get(Layouts.F32, blockOffset(t, r, b));
        }
        checkSubBlocks(f);
        long at = blockOffset(t, r, b);
        return switch (f.kind()) {
            case Q2_K -> f16(t.data(), at + 80);
            case Q3_K -> f16(t.data(), at + 108);
            case Q6_K -> f16(t.data(), at + 208);
            default -> f16(t.data(), at);
        };
    }

    /** The fp32 value of the fp16 {@code dmin} of super-block {@code b} of row {@code r} (Q2_K, Q4_K, Q5_K). */
    public static float superMin(QuantizedTensor t, int r, int b) {
        QuantFormat f = t.format();
        checkSubBlocks(f);
        if (!f.hasMinimum()) {
            throw new IllegalArgumentException(f + " has no minima");
        }
        return f16(t.data(), blockOffset(t, r, b) + (f.kind() == QuantFormat.Kind.Q2_K ? 82 : 2));
    }

    /**
     * The integer scale of sub-block {@code g} (counted along the row) of row {@code r} of a K-quant: Q2_K's 4 bits,
     * Q3_K's 6 bits less 32, Q4_K's and Q5_K's 6 bits, Q6_K's int8.
     */
    public static int subScale(QuantizedTensor t, int r, int g) {
        QuantFormat f = t.format();
        checkSubBlocks(f);
        int per = f.groupSize() / f.kind().scaleGroup();
        long b = blockOffset(t, r, g / per);
        int s = g % per;
        MemorySegment d = t.data();
        return switch (f.kind()) {
            case Q2_K -> u8(d, b + s) & 0xF;
            case Q3_K -> scaleQ3K(d, b + 96, s);
            case Q6_K -> d.get(Layouts.U8, b + 192 + s);
            default -> scaleMinK4(d, b + 4, s, false);
        };
    }

    /** The integer minimum of sub-block {@code g} of row {@code r} of Q2_K (4 bits), Q4_K or Q5_K (6 bits). */
    public static int subMin(QuantizedTensor t, int r, int g) {
        QuantFormat f = t.format();
        checkSubBlocks(f);
        if (!f.hasMinimum()) {
            throw new IllegalArgumentException(f + " has no minima");
        }
        int per = f.groupSize() / f.kind().scaleGroup();
        long b = blockOffset(t, r, g / per);
        int s = g % per;
        return f.kind() == QuantFormat.Kind.Q2_K ? u8(t.data(), b + s) >>> 4 : scaleMinK4(t.data(), b + 4, s, true);
    }

    /**
     * Scale of scale group {@code g} of row {@code r} ({@link QuantFormat#scaleGroupLength}): a K-quant sub-block's
     * is {@code superScale · subScale}, one fp32 product, as ggml's dequantization computes it.
     */
    public static float scale(QuantizedTensor t, int r, int g) {
        QuantFormat f = t.format();
        if (!f.isGgml()) {
            return readParam(t.scales(), f.scaleType(), (long) r * f.groupsPerRow(t.cols()) + g);
        }
        if (subBlocks(f)) {
            return superScale(t, r, g / (f.groupSize() / f.kind().scaleGroup())) * subScale(t, r, g);
        }
        if (f.kind() == QuantFormat.Kind.Q8_K) {
            return superScale(t, r, g);
        }
        return f16(t.data(), blockOffset(t, r, g));
    }

    /**
     * Zero point of scale group {@code g} of row {@code r}: the minimum of Q4_1 and Q5_1, {@code −(dmin · m)} of
     * Q2_K, Q4_K and Q5_K, the grouped zero point, or 0.
     */
    public static float zero(QuantizedTensor t, int r, int g) {
        QuantFormat f = t.format();
        if (f.hasMinimum()) {
            if (subBlocks(f)) {
                return -(superMin(t, r, g / (f.groupSize() / f.kind().scaleGroup())) * subMin(t, r, g));
            }
            return f16(t.data(), blockOffset(t, r, g) + 2);
        }
        if (f.kind().codes() == QuantFormat.Codes.ZERO_POINT) {
            return f.symmetric() ? symmetricZero(f)
                    : readParam(t.zeros(), f.scaleType(), (long) r * f.groupsPerRow(t.cols()) + g);
        }
        return 0f;
    }

    /** Code of element {@code c} of row {@code r}. */
    public static int code(QuantizedTensor t, int r, int c) {
        QuantFormat f = t.format();
        MemorySegment d = t.data();
        if (!f.isGgml()) {
            return BitPacking.get(d, r * f.rowBytes(t.cols()), f.bits(), c);
        }
        long b = blockOffset(t, r, c / f.groupSize());
        int e = c % f.groupSize();
        long qs = b + f.blockCodeOffset();
        return switch (f.kind()) {
            case Q8_0, Q8_K -> d.get(Layouts.U8, qs + e);
            case Q4_0, Q4_1, IQ4_NL -> nibble(d, qs + (e & 15), e >= 16);
            case Q5_0, Q5_1 -> nibble(d, qs + (e & 15), e >= 16) | ((u8(d, qs - 4 + e / 8) >>> (e % 8)) & 1) << 4;
            case Q2_K -> (u8(d, b + 16 + 32 * (e / 128) + e % 32) >>> (2 * (e % 128 / 32))) & 3;
            case Q3_K -> (u8(d, b + 32 + 32 * (e / 128) + e % 32) >>> (2 * (e % 128 / 32))) & 3
                    | ((u8(d, b + e % 32) >>> (4 * (e / 128) + e % 128 / 32)) & 1) << 2;
            case Q4_K -> nibble(d, b + 16 + 32 * (e / 64) + e % 32, e % 64 >= 32);
            case Q5_K -> nibble(d, b + 48 + 32 * (e / 64) + e % 32, e % 64 >= 32)
                    | ((u8(d, b + 16 + e % 32) >>> (2 * (e / 64) + e % 64 / 32)) & 1) << 4;
            case Q6_K -> {
                int n = e / 128;
                int k = e % 128 / 32;
                int l = e % 32;
                yield nibble(d, b + 64 * n + l + (k & 1) * 32, k >= 2)
                        | ((u8(d, b + 128 + 32 * n + l) >>> (2 * k)) & 3) << 4;
            }
            case GROUPED, CODEBOOK4 -> throw new AssertionError(f);
        };
    }

    private static int nibble(MemorySegment d, long at, boolean high) {
        int v = u8(d, at);
        return high ? v >>> 4 : v & 15;
    }

    /** Dequantizes one element, outliers included. */
    public static float dequantize(QuantizedTensor t, int r, int c) {
        QuantFormat f = t.format();
        int g = c / f.scaleGroupLength(t.cols());
        float v = value(f, code(t, r, c), scale(t, r, g), zero(t, r, g), t.levels());
        SparseOutliers o = t.outliers();
        if (o != null) {
            for (int j = o.rowPtr(r); j < o.rowPtr(r + 1); j++) {
                if (o.col(j) == c) {
                    v += o.value(j);
                }
            }
        }
        return v;
    }

    static float readParam(MemorySegment seg, ScaleType type, long index) {
        return type == ScaleType.F16 ? Float.float16ToFloat(seg.getAtIndex(Layouts.F16, index))
                : seg.getAtIndex(Layouts.F32, index);
    }

    static void writeParam(MemorySegment seg, ScaleType type, long index, float v, String what) {
        if (!Float.isFinite(v) || type.round(v) != v) {
            throw new IllegalArgumentException(what + " " + v + " at index " + index + " is not a finite "
                    + type + " value");
        }
        if (type == ScaleType.F16) {
            seg.setAtIndex(Layouts.F16, index, Float.floatToFloat16(v));
        } else {
            seg.setAtIndex(Layouts.F32, index, v);
        }
    }

    /**
     * Packs codes and per-group parameters into a new tensor. Scales and zero points must be exactly
     * representable in the format's scale type; padding fields are zero.
     *
     * @param codes  {@code rows*cols} codes, row-major
     * @param scales {@code rows*groupsPerRow} scales
     * @param zeros  Q4_1 minima or asymmetric zero points ({@code rows*groupsPerRow}); null otherwise
     * @param levels the 16 codebook levels; null otherwise
     * @throws IllegalArgumentException for a K-quant, whose scales are two integers per sub-block under a
     *         super-block scale and cannot be recovered from the products {@link #unpack} gives
     */
    public static QuantizedTensor pack(QuantFormat f, int rows, int cols, int[] codes, float[] scales, float[] zeros,
                                       float[] levels, Arena arena) {
        if (f.isGgml() && f.groupSize() != QuantFormat.GGML_BLOCK) {
            throw new IllegalArgumentException(f + " cannot be packed from codes and scales: its sub-block scales are"
                    + " integers under a super-block scale; quantize it instead");
        }
        if (!f.fitsRow(cols)) {
            throw new IllegalArgumentException(f + " holds whole blocks of " + f.groupSize() + " only, but a row has "
                    + cols);
        }
        long n = (long) rows * cols;
        int gpr = f.groupsPerRow(cols);
        long groups = (long) rows * gpr;
        if (codes.length != n) {
            throw new IllegalArgumentException("codes must hold rows*cols = " + n + " values, got " + codes.length);
        }
        if (scales.length != groups) {
            throw new IllegalArgumentException("scales must hold " + groups + " values, got " + scales.length);
        }
        boolean wantZeros = f.hasZeros();
        if (wantZeros != (zeros != null) || (zeros != null && zeros.length != groups)) {
            throw new IllegalArgumentException(wantZeros ? f + " needs " + groups + " zero points"
                    : f + " takes no zero points");
        }
        int lo = f.minStoredCode();
        int hi = f.maxStoredCode();
        for (int i = 0; i < codes.length; i++) {
            if (codes[i] < lo || codes[i] > hi) {
                throw new IllegalArgumentException("code " + codes[i] + " at index " + i + " is outside [" + lo + ", " + hi
                        + "] for " + f);
            }
        }
        long rowBytes = f.rowBytes(cols);
        MemorySegment data = arena.allocate(Math.max(1, rows * rowBytes), 64).asSlice(0, rows * rowBytes);
        MemorySegment sc = null;
        MemorySegment ze = null;
        if (f.isGgml()) {
            int codeOff = f.blockCodeOffset();
            boolean byteCodes = f.bits() == 8;
            for (int r = 0; r < rows; r++) {
                for (int b = 0; b < gpr; b++) {
                    long base = r * rowBytes + (long) b * f.blockBytes();
                    writeParam(data, ScaleType.F16, base / 2, scales[r * gpr + b], "scale");
                    if (zeros != null) {
                        writeParam(data.asSlice(base + 2), ScaleType.F16, 0, zeros[r * gpr + b], "minimum");
                    }
                    for (int j = 0; j < 32 && b * 32 + j < cols; j++) {
                        int code = codes[r * cols + b * 32 + j];
                        if (byteCodes) {
                            data.set(Layouts.U8, base + codeOff + j, (byte) code);
                        } else if (f.bits() == 5) {
                            long at = base + codeOff + (j & 15);
                            int old = data.get(Layouts.U8, at) & 0xFF;
                            int low = code & 15;
                            data.set(Layouts.U8, at, (byte) (j < 16 ? (old & 0xF0) | low : (old & 0x0F) | (low << 4)));
                            long h = base + codeOff - 4 + j / 8;
                            data.set(Layouts.U8, h, (byte) (data.get(Layouts.U8, h) | (code >> 4) << (j % 8)));
                        } else {
                            long at = base + codeOff + (j & 15);
                            int old = data.get(Layouts.U8, at) & 0xFF;
                            data.set(Layouts.U8, at, (byte) (j < 16 ? (old & 0xF0) | code : (old & 0x0F) | (code << 4)));
                        }
                    }
                }
            }
        } else {
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    BitPacking.set(data, r * rowBytes, f.bits(), c, codes[r * cols + c]);
                }
            }
            int sb = f.scaleType().bytes();
            sc = arena.allocate(Math.max(1, groups * sb), 64).asSlice(0, groups * sb);
            for (int i = 0; i < groups; i++) {
                writeParam(sc, f.scaleType(), i, scales[i], "scale");
            }
            if (f.hasZeroPlane()) {
                ze = arena.allocate(Math.max(1, groups * sb), 64).asSlice(0, groups * sb);
                for (int i = 0; i < groups; i++) {
                    writeParam(ze, f.scaleType(), i, zeros[i], "zero point");
                }
            }
        }
        return QuantizedTensor.of(f, rows, cols, data, sc, ze, f.hasLevels() ? levels : null);
    }

    /** Unpacks every code and per-group parameter of {@code t} (outliers are not part of it). */
    public static Unpacked unpack(QuantizedTensor t) {
        QuantFormat f = t.format();
        int rows = t.rows();
        int cols = t.cols();
        int gpr = f.scaleGroupsPerRow(cols);
        int[] codes = new int[Math.toIntExact((long) rows * cols)];
        float[] scales = new float[rows * gpr];
        boolean hasZeros = f.hasZeros();
        float[] zeros = hasZeros ? new float[rows * gpr] : null;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                codes[r * cols + c] = code(t, r, c);
            }
            for (int g = 0; g < gpr; g++) {
                scales[r * gpr + g] = scale(t, r, g);
                if (hasZeros) {
                    zeros[r * gpr + g] = zero(t, r, g);
                }
            }
        }
        return new Unpacked(codes, scales, zeros);
    }
}

package dev.lowbit.format;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The reference pack and unpack of every format, written for clarity: what {@code docs/formats.md}
 * says, in code. Tests treat it as the truth for layouts; kernels must agree with it.
 *
 * <p>Codes are the stored field values: a signed int8 for Q8_0, a nibble 0..15 for Q4_0 and Q4_1,
 * an unsigned {@code bits}-wide field for grouped formats, a level index 0..15 for codebooks.
 */
public final class Reference {
    private Reference() {
    }

    /** Codes and per-group parameters of a tensor, as plain arrays (scales decoded to fp32). */
    public record Unpacked(int[] codes, float[] scales, float[] zeros) {
    }

    /**
     * The value a code stands for.
     *
     * @param zero the Q4_1 minimum or the grouped zero point; ignored otherwise
     */
    public static float value(QuantFormat f, int code, float scale, float zero, float[] levels) {
        return switch (f.kind()) {
            case Q8_0 -> code * scale;
            case Q4_0 -> (code - 8) * scale;
            case Q4_1 -> code * scale + zero;
            case GROUPED -> (code - zero) * scale;
            case CODEBOOK4 -> levels[code] * scale;
        };
    }

    /** The implicit zero point of a symmetric grouped format, {@code 2^(bits-1)}. */
    public static float symmetricZero(QuantFormat f) {
        return 1 << (f.bits() - 1);
    }

    /** Byte offset of ggml block {@code b} of row {@code r}. */
    public static long blockOffset(QuantizedTensor t, int r, int b) {
        return r * t.format().rowBytes(t.cols()) + (long) b * t.format().blockBytes();
    }

    /** Scale of group {@code g} of row {@code r}. */
    public static float scale(QuantizedTensor t, int r, int g) {
        QuantFormat f = t.format();
        if (f.isGgml()) {
            return Float.float16ToFloat(t.data().get(Layouts.F16, blockOffset(t, r, g)));
        }
        return readParam(t.scales(), f.scaleType(), (long) r * f.groupsPerRow(t.cols()) + g);
    }

    /** Zero point of group {@code g} of row {@code r}: Q4_1 minimum, grouped zero point, or 0. */
    public static float zero(QuantizedTensor t, int r, int g) {
        QuantFormat f = t.format();
        if (f.hasMinimum()) {
            return Float.float16ToFloat(t.data().get(Layouts.F16, blockOffset(t, r, g) + 2));
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
        return switch (f.kind()) {
            case Q8_0 -> d.get(Layouts.U8, blockOffset(t, r, c / 32) + 2 + c % 32);
            case Q4_0, Q4_1 -> {
                int j = c % 32;
                long at = blockOffset(t, r, c / 32) + f.blockCodeOffset() + (j & 15);
                int b = d.get(Layouts.U8, at) & 0xFF;
                yield j < 16 ? b & 15 : b >>> 4;
            }
            case GROUPED, CODEBOOK4 -> BitPacking.get(d, r * f.rowBytes(t.cols()), f.bits(), c);
        };
    }

    /** Dequantizes one element, outliers included. */
    public static float dequantize(QuantizedTensor t, int r, int c) {
        QuantFormat f = t.format();
        int g = c / f.groupLength(t.cols());
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
     */
    public static QuantizedTensor pack(QuantFormat f, int rows, int cols, int[] codes, float[] scales, float[] zeros,
                                       float[] levels, Arena arena) {
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
        int gpr = f.groupsPerRow(cols);
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

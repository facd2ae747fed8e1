package dev.lowbit.bindings.nativelib;

import dev.lowbit.format.QuantFormat;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.EnumMap;
import java.util.Map;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Downcalls of the quantize family (lowbit.h, "quant"): quantize and dequantize whole row ranges of every format,
 * group statistics, the first non-finite value. Every length, offset and segment size is checked here, before
 * the call, with an {@link IllegalArgumentException} that names the argument; the C code trusts its arguments.
 * Segments may be native or heap (the calls are critical: short, no blocking, no upcalls).
 *
 * <p>{@link #selected()} runs at {@link NativeLibrary#tier()} through {@code static final} handles, which the JIT
 * inlines; {@link #forTier} gives any tier the CPU runs, for tests.
 */
public final class NativeQuant {
    private static final FunctionDescriptor QUANT_GGML = FunctionDescriptor.of(JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG,
            JAVA_INT, ADDRESS);
    private static final FunctionDescriptor QUANT_KQ = FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG,
            JAVA_LONG, JAVA_INT, ADDRESS);
    private static final FunctionDescriptor DEQUANT_KQ = FunctionDescriptor.ofVoid(JAVA_INT, ADDRESS, JAVA_LONG,
            JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final FunctionDescriptor QUANT_GROUPED = FunctionDescriptor.of(JAVA_LONG, ADDRESS, JAVA_LONG,
            JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    private static final FunctionDescriptor QUANT_CODEBOOK = FunctionDescriptor.of(JAVA_LONG, ADDRESS, JAVA_LONG,
            JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_FLOAT, ADDRESS, ADDRESS);
    private static final FunctionDescriptor DEQUANT_GGML = FunctionDescriptor.ofVoid(ADDRESS, JAVA_LONG, JAVA_LONG,
            JAVA_INT, ADDRESS, JAVA_LONG);
    private static final FunctionDescriptor DEQUANT_GROUPED = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS,
            JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final FunctionDescriptor DEQUANT_CODEBOOK = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS,
            JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final FunctionDescriptor GROUP_STATS = FunctionDescriptor.ofVoid(ADDRESS, JAVA_LONG, JAVA_LONG,
            JAVA_LONG, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG);
    private static final FunctionDescriptor FIRST_NON_FINITE = FunctionDescriptor.of(JAVA_LONG, ADDRESS, JAVA_LONG,
            JAVA_LONG);

    private static final Map<NativeLibrary.Tier, NativeQuant> BY_TIER = new EnumMap<>(NativeLibrary.Tier.class);

    private static final NativeQuant SELECTED = selectedOrNull();

    // The selected tier's handles as constants for the JIT; methods pick them when called on SELECTED.
    private static final MethodHandle Q8_0 = SELECTED == null ? null : SELECTED.q8_0;
    private static final MethodHandle Q4_0 = SELECTED == null ? null : SELECTED.q4_0;
    private static final MethodHandle Q4_1 = SELECTED == null ? null : SELECTED.q4_1;
    private static final MethodHandle KQ = SELECTED == null ? null : SELECTED.kq;
    private static final MethodHandle DKQ = SELECTED == null ? null : SELECTED.dkq;
    private static final MethodHandle GROUPED = SELECTED == null ? null : SELECTED.grouped;
    private static final MethodHandle CODEBOOK = SELECTED == null ? null : SELECTED.codebook;
    private static final MethodHandle DQ8_0 = SELECTED == null ? null : SELECTED.dq8_0;
    private static final MethodHandle DQ4_0 = SELECTED == null ? null : SELECTED.dq4_0;
    private static final MethodHandle DQ4_1 = SELECTED == null ? null : SELECTED.dq4_1;
    private static final MethodHandle DGROUPED = SELECTED == null ? null : SELECTED.dgrouped;
    private static final MethodHandle DCODEBOOK = SELECTED == null ? null : SELECTED.dcodebook;
    private static final MethodHandle STATS = SELECTED == null ? null : SELECTED.stats;
    private static final MethodHandle NON_FINITE = SELECTED == null ? null : SELECTED.nonFinite;

    private final NativeLibrary.Tier tier;
    private final MethodHandle q8_0;
    private final MethodHandle q4_0;
    private final MethodHandle q4_1;
    private final MethodHandle kq;
    private final MethodHandle dkq;
    private final MethodHandle grouped;
    private final MethodHandle codebook;
    private final MethodHandle dq8_0;
    private final MethodHandle dq4_0;
    private final MethodHandle dq4_1;
    private final MethodHandle dgrouped;
    private final MethodHandle dcodebook;
    private final MethodHandle stats;
    private final MethodHandle nonFinite;

    private NativeQuant(NativeLibrary.Tier t) {
        tier = t;
        q8_0 = NativeLibrary.downcall("quantize_q8_0", t, QUANT_GGML, true);
        q4_0 = NativeLibrary.downcall("quantize_q4_0", t, QUANT_GGML, true);
        q4_1 = NativeLibrary.downcall("quantize_q4_1", t, QUANT_GGML, true);
        kq = NativeLibrary.downcall("quantize_kq", t, QUANT_KQ, true);
        dkq = NativeLibrary.downcall("dequantize_kq", t, DEQUANT_KQ, true);
        grouped = NativeLibrary.downcall("quantize_grouped", t, QUANT_GROUPED, true);
        codebook = NativeLibrary.downcall("quantize_codebook4", t, QUANT_CODEBOOK, true);
        dq8_0 = NativeLibrary.downcall("dequantize_q8_0", t, DEQUANT_GGML, true);
        dq4_0 = NativeLibrary.downcall("dequantize_q4_0", t, DEQUANT_GGML, true);
        dq4_1 = NativeLibrary.downcall("dequantize_q4_1", t, DEQUANT_GGML, true);
        dgrouped = NativeLibrary.downcall("dequantize_grouped", t, DEQUANT_GROUPED, true);
        dcodebook = NativeLibrary.downcall("dequantize_codebook4", t, DEQUANT_CODEBOOK, true);
        stats = NativeLibrary.downcall("group_stats", t, GROUP_STATS, true);
        nonFinite = NativeLibrary.downcall("first_non_finite", t, FIRST_NON_FINITE, true);
    }

    private static NativeQuant selectedOrNull() {
        if (!NativeLibrary.available()) {
            return null;
        }
        try {
            return forTier(NativeLibrary.tier());
        } catch (IllegalArgumentException e) {
            return null; // a bad -Dlowbit.native.tier; NativeLibrary.tier() reports it to whoever asks
        }
    }

    /** The handles at {@link NativeLibrary#tier()}, or null when the library is unavailable. */
    public static NativeQuant selected() {
        return SELECTED;
    }

    /**
     * The handles at {@code tier}.
     *
     * @throws IllegalStateException    when the library is unavailable
     * @throws IllegalArgumentException when this CPU does not run {@code tier}
     */
    public static synchronized NativeQuant forTier(NativeLibrary.Tier tier) {
        if (tier.compareTo(NativeLibrary.hardwareTier()) > 0) {
            throw new IllegalArgumentException("tier " + tier.suffix() + " is above what this CPU runs ("
                    + NativeLibrary.hardwareTier().suffix() + ")");
        }
        return BY_TIER.computeIfAbsent(tier, NativeQuant::new);
    }

    public NativeLibrary.Tier tier() {
        return tier;
    }

    private boolean isSelected() {
        return this == SELECTED;
    }

    // ---------------------------------------------------------------- quantize

    /**
     * Quantizes {@code rows x cols} fp32 values, row-major from float index {@code srcOff} of {@code src}, exactly
     * as the scalar reference does.
     *
     * @param dst       receives {@code rows * f.rowBytes(cols)} bytes
     * @param scales    plane formats: receives {@code rows * groupsPerRow} fp32 values of the stored scales; else unused
     * @param zeros     asymmetric grouped formats: the stored zero points, as {@code scales}; else unused
     * @param midpoints codebook formats: the 15 level midpoints (fp32); else unused
     * @param reach     codebook formats: the largest level magnitude
     * @return 0 when every row is done; {@code r + 1} when row {@code r} holds a NaN or an infinity;
     *         {@code -(r + 1)} when a group of row {@code r} needs a scale the format cannot store
     */
    public long quantize(QuantFormat f, MemorySegment src, long srcOff, int rows, int cols, MemorySegment dst,
                         MemorySegment scales, MemorySegment zeros, MemorySegment midpoints, float reach) {
        checkShape(rows, cols);
        checkRange("src", src, srcOff, (long) rows * cols, 4);
        long rowBytes = f.rowBytes(cols);
        checkWritable("dst", dst, rows * rowBytes);
        try {
            switch (f.kind()) {
                case Q8_0:
                    return (long) (isSelected() ? Q8_0 : q8_0).invokeExact(src, srcOff, (long) rows, cols, dst);
                case Q4_0:
                    return (long) (isSelected() ? Q4_0 : q4_0).invokeExact(src, srcOff, (long) rows, cols, dst);
                case Q4_1:
                    return (long) (isSelected() ? Q4_1 : q4_1).invokeExact(src, srcOff, (long) rows, cols, dst);
                case Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K:
                    checkWholeBlocks(f, cols);
                    return (long) (isSelected() ? KQ : kq).invokeExact(f.kind().ggmlType(), src, srcOff, (long) rows,
                            cols, dst);
                default:
                    break;
            }
            long groups = (long) rows * f.groupsPerRow(cols);
            checkWritable("scales", scales, groups * 4);
            int gl = groupLength(f, cols);
            int f16 = f.scaleType() == dev.lowbit.format.ScaleType.F16 ? 1 : 0;
            if (f.kind() == QuantFormat.Kind.CODEBOOK4) {
                checkRange("midpoints", midpoints, 0, 15, 4);
                return (long) (isSelected() ? CODEBOOK : codebook).invokeExact(src, srcOff, (long) rows, cols, gl, f16,
                        midpoints, reach, dst, scales);
            }
            MemorySegment z = MemorySegment.NULL;
            if (f.hasZeroPlane()) {
                checkWritable("zeros", zeros, groups * 4);
                z = zeros;
            }
            return (long) (isSelected() ? GROUPED : grouped).invokeExact(src, srcOff, (long) rows, cols, f.bits(), gl,
                    f.symmetric() ? 1 : 0, f16, dst, scales, z);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    // ---------------------------------------------------------------- dequantize

    /**
     * Dequantizes rows {@code [row0, row0 + rows)} of a {@code ? x cols} tensor of format {@code f} (without
     * outliers) into {@code dst}, row-major from float index {@code dstOff}, exactly as the scalar reference does.
     *
     * @param data   the tensor's whole code plane
     * @param scales the whole scale plane (plane formats), in its stored encoding; else unused
     * @param zeros  the whole zero-point plane (asymmetric grouped formats); else unused
     * @param levels the 16 levels (codebook formats); else unused
     */
    public void dequantize(QuantFormat f, MemorySegment data, MemorySegment scales, MemorySegment zeros,
                           MemorySegment levels, int row0, int rows, int cols, MemorySegment dst, long dstOff) {
        checkShape(rows, cols);
        if (row0 < 0) {
            throw new IllegalArgumentException("row0 must be non-negative, got " + row0);
        }
        long end = (long) row0 + rows;
        checkRange("data", data, 0, end * f.rowBytes(cols), 1);
        checkRange("dst", dst, dstOff, (long) rows * cols, 4);
        checkNotReadOnly("dst", dst);
        try {
            switch (f.kind()) {
                case Q8_0 -> (isSelected() ? DQ8_0 : dq8_0).invokeExact(data, (long) row0, (long) rows, cols, dst, dstOff);
                case Q4_0 -> (isSelected() ? DQ4_0 : dq4_0).invokeExact(data, (long) row0, (long) rows, cols, dst, dstOff);
                case Q4_1 -> (isSelected() ? DQ4_1 : dq4_1).invokeExact(data, (long) row0, (long) rows, cols, dst, dstOff);
                case Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K -> {
                    checkWholeBlocks(f, cols);
                    (isSelected() ? DKQ : dkq).invokeExact(f.kind().ggmlType(), data, (long) row0, (long) rows, cols,
                            dst, dstOff);
                }
                case GROUPED, CODEBOOK4 -> {
                    if (cols == 0 || rows == 0) {
                        return;
                    }
                    long groupsEnd = end * f.groupsPerRow(cols);
                    int sb = f.scaleType().bytes();
                    checkRange("scales", scales, 0, groupsEnd, sb);
                    int gl = groupLength(f, cols);
                    int f16 = sb == 2 ? 1 : 0;
                    if (f.kind() == QuantFormat.Kind.CODEBOOK4) {
                        checkRange("levels", levels, 0, 16, 4);
                        (isSelected() ? DCODEBOOK : dcodebook).invokeExact(data, scales, levels, (long) row0,
                                (long) rows, cols, gl, f16, dst, dstOff);
                        return;
                    }
                    MemorySegment z = MemorySegment.NULL;
                    if (f.hasZeroPlane()) {
                        checkRange("zeros", zeros, 0, groupsEnd, sb);
                        z = zeros;
                    }
                    (isSelected() ? DGROUPED : dgrouped).invokeExact(data, scales, z, (long) row0, (long) rows, cols,
                            f.bits(), gl, f.symmetric() ? 1 : 0, f16, dst, dstOff);
                }
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    // ---------------------------------------------------------------- statistics

    /**
     * Min, max and absmax of each group of {@code groupLen} floats of {@code src[off, off + len)} (float indices),
     * the last group possibly shorter, at float index {@code outOff + g} of the three outputs.
     */
    public void groupStats(MemorySegment src, long off, long len, long groupLen, MemorySegment min, MemorySegment max,
                           MemorySegment absmax, long outOff) {
        if (len < 0) {
            throw new IllegalArgumentException("len must be non-negative, got " + len);
        }
        if (groupLen <= 0) {
            throw new IllegalArgumentException("groupLen must be positive, got " + groupLen);
        }
        checkRange("src", src, off, len, 4);
        long groups = (len + groupLen - 1) / groupLen;
        checkWritable("min", min, outOff, groups);
        checkWritable("max", max, outOff, groups);
        checkWritable("absmax", absmax, outOff, groups);
        try {
            (isSelected() ? STATS : stats).invokeExact(src, off, len, groupLen, min, max, absmax, outOff);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /** Index of the first NaN or infinity in floats {@code [off, off + len)} of {@code src}, relative to off, or -1. */
    public long firstNonFinite(MemorySegment src, long off, long len) {
        if (len < 0) {
            throw new IllegalArgumentException("len must be non-negative, got " + len);
        }
        checkRange("src", src, off, len, 4);
        try {
            return (long) (isSelected() ? NON_FINITE : nonFinite).invokeExact(src, off, len);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    // ---------------------------------------------------------------- checks

    private static int groupLength(QuantFormat f, int cols) {
        return f.groupLength(cols);
    }

    /** The ggml blocks past Q8_0, Q4_0 and Q4_1 hold whole blocks only. */
    private static void checkWholeBlocks(QuantFormat f, int cols) {
        if (!f.fitsRow(cols)) {
            throw new IllegalArgumentException(f.kind() + " rows hold whole blocks of " + f.kind().blockElements()
                    + " values, got " + cols + " columns");
        }
    }

    private static void checkShape(int rows, int cols) {
        if (rows < 0) {
            throw new IllegalArgumentException("rows must be non-negative, got " + rows);
        }
        if (cols < 0) {
            throw new IllegalArgumentException("cols must be non-negative, got " + cols);
        }
    }

    /** {@code seg} holds elements {@code [off, off + count)} of {@code size} bytes each. */
    private static void checkRange(String name, MemorySegment seg, long off, long count, int size) {
        if (seg == null) {
            throw new IllegalArgumentException(name + " must not be null");
        }
        if (off < 0) {
            throw new IllegalArgumentException(name + " offset must be non-negative, got " + off);
        }
        long need = Math.multiplyExact(Math.addExact(off, count), (long) size);
        if (seg.byteSize() < need) {
            throw new IllegalArgumentException(name + " is " + seg.byteSize() + " bytes, needs " + need + " (offset "
                    + off + ", " + count + " elements of " + size + " bytes)");
        }
    }

    private static void checkWritable(String name, MemorySegment seg, long bytes) {
        checkRange(name, seg, 0, bytes, 1);
        checkNotReadOnly(name, seg);
    }

    private static void checkWritable(String name, MemorySegment seg, long floatOff, long floats) {
        checkRange(name, seg, floatOff, floats, 4);
        checkNotReadOnly(name, seg);
    }

    private static void checkNotReadOnly(String name, MemorySegment seg) {
        if (seg.isReadOnly()) {
            throw new IllegalArgumentException(name + " is read-only");
        }
    }
}

package dev.lowbit.bindings.nativelib;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.bindings.nativelib.NativeLibrary.Tier;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Objects;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Downcalls of the matmul kernels for Q4_1, grouped integer planes and 4-bit codebooks
 * ({@code native/src/main/c/matmul_planes_*.c}), for a range of rows and a range of tokens per call:
 * <ul>
 *   <li>the integer path ({@link #gemmInt8}): Q4_1 and grouped 4- or 8-bit weights times int8 activations, in
 *       the scalar reference's order on exact int32 block sums (its bits at every tier);</li>
 *   <li>the weight-only path ({@link #gemmF32}): Q4_1, grouped 2-, 3-, 4- and 8-bit weights and 4-bit codebooks
 *       times fp32 activations (generic: the reference's order; AVX2, AVX-512: FMA lanes in a fixed order).</li>
 * </ul>
 * {@link #selected()} calls the tier that {@link NativeLibrary} chose through {@code static final} handles;
 * {@link #of} gives any tier the CPU runs, for tests. Every length, offset and format parameter is checked here;
 * the C code trusts its arguments. The calls are critical and cut into pieces of at most
 * {@link NativeMatmul#MAX_MACS} multiply-adds (an eighth of that in generic C), as {@link NativeMatmul}'s are.
 */
public final class NativeGroupedMatmul {

    private static final FunctionDescriptor Q4_1_I8 = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final FunctionDescriptor Q4_1_F32 = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_INT,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final FunctionDescriptor GROUPED_I8 = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
            JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final FunctionDescriptor GROUPED_F32 = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS,
            ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
            ADDRESS, JAVA_LONG);

    private static final NativeGroupedMatmul SELECTED = NativeLibrary.available()
            ? new NativeGroupedMatmul(NativeLibrary.tier(), true) : null;
    /** The selected tier's handles, constants for the JIT. */
    private static final MethodHandle SEL_Q41_I8 = SELECTED == null ? null : SELECTED.q41i8;
    private static final MethodHandle SEL_Q41_F32 = SELECTED == null ? null : SELECTED.q41f32;
    private static final MethodHandle SEL_GROUPED_I8 = SELECTED == null ? null : SELECTED.groupedI8;
    private static final MethodHandle SEL_GROUPED_F32 = SELECTED == null ? null : SELECTED.groupedF32;

    private final Tier tier;
    private final boolean selected;
    private final long maxMacs;
    private final MethodHandle q41i8;
    private final MethodHandle q41f32;
    private final MethodHandle groupedI8;
    private final MethodHandle groupedF32;

    private NativeGroupedMatmul(Tier tier, boolean selected) {
        this.tier = tier;
        this.selected = selected;
        this.maxMacs = tier == Tier.GENERIC ? NativeMatmul.MAX_MACS / 8 : NativeMatmul.MAX_MACS;
        this.q41i8 = NativeLibrary.downcall("gemm_q4_1_i8", tier, Q4_1_I8, true);
        this.q41f32 = NativeLibrary.downcall("gemm_q4_1_f32", tier, Q4_1_F32, true);
        this.groupedI8 = NativeLibrary.downcall("gemm_grouped_i8", tier, GROUPED_I8, true);
        this.groupedF32 = NativeLibrary.downcall("gemm_grouped_f32", tier, GROUPED_F32, true);
    }

    /**
     * The kernels of the tier {@link NativeLibrary#tier()} chose.
     *
     * @throws IllegalStateException when the library is not available (with the reason)
     */
    public static NativeGroupedMatmul selected() {
        return NativeLibrary.requireSelected(SELECTED);
    }

    /**
     * The kernels of {@code tier}, which must be at most {@link NativeLibrary#hardwareTier()}.
     *
     * @throws IllegalStateException    when the library is not available
     * @throws IllegalArgumentException for a tier this CPU cannot run
     */
    public static NativeGroupedMatmul of(Tier tier) {
        return NativeLibrary.atTier(tier, SELECTED, SELECTED == null ? null : SELECTED.tier,
                t -> new NativeGroupedMatmul(t, false));
    }

    public Tier tier() {
        return tier;
    }

    /** Whether {@link #gemmInt8} takes weights of format {@code f}: Q4_1, grouped 4- or 8-bit codes. */
    public static boolean takesInt8(QuantFormat f) {
        return f.kind() == QuantFormat.Kind.Q4_1
                || f.kind() == QuantFormat.Kind.GROUPED && (f.bits() == 4 || f.bits() == 8);
    }

    /** Whether {@link #gemmF32} takes weights of format {@code f}: Q4_1, grouped codes, 4-bit codebooks. */
    public static boolean takesF32(QuantFormat f) {
        return switch (f.kind()) {
            case Q4_1, GROUPED, CODEBOOK4 -> true;
            default -> false;
        };
    }

    /**
     * {@code y[t * ldy + r]} for rows {@code [r0, r1)} and tokens {@code [t0, t1)}: the integer path of
     * {@code MatmulKernels.gemmInt8} without outliers, in the scalar reference's order, for a tensor of
     * format {@code f} with {@code k} columns.
     *
     * @param data   the code plane (Q4_1: the blocks), row {@code r} at {@code r * f.rowBytes(k)}
     * @param scales the scale plane in its stored type (grouped); ignored for Q4_1
     * @param zeros  the zero-point plane (asymmetric grouped); ignored otherwise
     * @param xc     int8 activation codes, token {@code t} at {@code t * paddedK}, {@code paddedK} = {@code k}
     *               rounded up to a multiple of 32, the padding codes 0
     * @param xs     fp32 activation scales, block {@code b} of token {@code t} at index
     *               {@code t * xsTok + b * xsBlk} ({@code xsBlk} 1 for one scale per block, 0 for one per token)
     * @param y      fp32 output, written only at the elements named above
     * @throws IllegalArgumentException for a format without this kernel, a negative or inverted range, a segment too
     *                                  small for the ranges, a read-only or misaligned output, or a misaligned
     *                                  {@code xs}
     */
    public void gemmInt8(QuantFormat f, int k, MemorySegment data, MemorySegment scales, MemorySegment zeros,
                         MemorySegment xc, MemorySegment xs, int xsTok, int xsBlk, int r0, int r1, int t0, int t1,
                         MemorySegment y, int ldy) {
        Objects.requireNonNull(f, "format");
        if (!takesInt8(f)) {
            throw new IllegalArgumentException("the native integer path takes Q4_1 and grouped 4- or 8-bit weights, not "
                    + f);
        }
        checkK(k);
        Objects.requireNonNull(xc, "xc");
        Objects.requireNonNull(xs, "xs");
        if (xsBlk != 0 && xsBlk != 1) {
            throw new IllegalArgumentException("xsBlk must be 0 or 1, got " + xsBlk);
        }
        if (xsTok < 0) {
            throw new IllegalArgumentException("xsTok must be non-negative, got " + xsTok);
        }
        NativeMatmul.checkRanges(r0, r1, t0, t1, y, ldy);
        if (r0 == r1 || t0 == t1) {
            return;
        }
        checkWeights(f, k, data, scales, zeros, null, r1);
        int nb = (k + 31) / 32;
        NativeMatmul.need("xc", xc, (long) t1 * nb * 32);
        if (nb > 0) {
            NativeMatmul.need("xs", xs, 4 * ((long) (t1 - 1) * xsTok + (long) (nb - 1) * xsBlk + 1));
        }
        NativeMatmul.need("y", y, 4 * ((long) (t1 - 1) * ldy + r1));
        NativeMatmul.aligned("xs", xs);
        NativeMatmul.aligned("y", y);
        boolean q41 = f.kind() == QuantFormat.Kind.Q4_1;
        MemorySegment s = q41 ? MemorySegment.NULL : scales;
        MemorySegment z = f.hasZeroPlane() ? zeros : MemorySegment.NULL;
        int gl = f.groupLength(k);
        int sym = f.symmetric() ? 1 : 0;
        int f16 = f.scaleType().bytes() == 2 ? 1 : 0;
        long perToken = Math.max(1L, (long) nb * 32);
        int tokens = (int) Math.max(1L, Math.min(t1 - t0, maxMacs / (4 * perToken)));
        long cap = maxMacs / (perToken * tokens);
        int rows = r1 - r0 <= cap ? r1 - r0 : (int) Math.max(4L, cap & ~3L); // whole tiles of 4 rows
        for (int t = t0; t < t1; t += tokens) {
            int te = Math.min(t1, t + tokens);
            for (int r = r0; r < r1; r += rows) {
                int re = Math.min(r1, r + rows);
                try {
                    if (q41) {
                        if (selected) {
                            SEL_Q41_I8.invokeExact(data, xc, xs, nb, xsTok, xsBlk, r, re, t, te, y, (long) ldy);
                        } else {
                            q41i8.invokeExact(data, xc, xs, nb, xsTok, xsBlk, r, re, t, te, y, (long) ldy);
                        }
                    } else if (selected) {
                        SEL_GROUPED_I8.invokeExact(data, s, z, k, f.bits(), gl, sym, f16, xc, xs, xsTok, xsBlk, r, re,
                                t, te, y, (long) ldy);
                    } else {
                        groupedI8.invokeExact(data, s, z, k, f.bits(), gl, sym, f16, xc, xs, xsTok, xsBlk, r, re, t,
                                te, y, (long) ldy);
                    }
                } catch (RuntimeException | Error e) {
                    throw e;
                } catch (Throwable e) {
                    throw new AssertionError("native integer matmul of " + f + " failed", e);
                }
            }
        }
    }

    /**
     * {@code y[t * ldy + r] = sum_c W[r][c] * x[t * k + c]} for rows {@code [r0, r1)} and tokens {@code [t0, t1)}:
     * the weight-only path of {@code MatmulKernels.gemmF32} without outliers. The generic tier runs the scalar
     * reference's order; the others sum in FMA lanes, in an order fixed per tier.
     *
     * @param data   the code plane (Q4_1: the blocks), row {@code r} at {@code r * f.rowBytes(k)}
     * @param scales the scale plane in its stored type (grouped, codebook); ignored for Q4_1
     * @param zeros  the zero-point plane (asymmetric grouped); ignored otherwise
     * @param levels the 16 fp32 levels (codebook); ignored otherwise
     * @param x      fp32 activations, token {@code t} at index {@code t * k}
     * @param y      fp32 output, written only at the elements named above
     * @throws IllegalArgumentException for a format without this kernel, a negative or inverted range, a segment too
     *                                  small for the ranges, a read-only output, or a misaligned {@code x},
     *                                  {@code y} or {@code levels}
     */
    public void gemmF32(QuantFormat f, int k, MemorySegment data, MemorySegment scales, MemorySegment zeros,
                        MemorySegment levels, MemorySegment x, int r0, int r1, int t0, int t1, MemorySegment y,
                        int ldy) {
        Objects.requireNonNull(f, "format");
        if (!takesF32(f)) {
            throw new IllegalArgumentException("the native weight-only path takes Q4_1, grouped and codebook weights, not "
                    + f);
        }
        checkK(k);
        Objects.requireNonNull(x, "x");
        NativeMatmul.checkRanges(r0, r1, t0, t1, y, ldy);
        if (r0 == r1 || t0 == t1) {
            return;
        }
        boolean cb = f.hasLevels();
        checkWeights(f, k, data, scales, zeros, cb ? levels : null, r1);
        NativeMatmul.need("x", x, 4L * t1 * k);
        NativeMatmul.need("y", y, 4 * ((long) (t1 - 1) * ldy + r1));
        NativeMatmul.aligned("x", x);
        NativeMatmul.aligned("y", y);
        boolean q41 = f.kind() == QuantFormat.Kind.Q4_1;
        MemorySegment s = q41 ? MemorySegment.NULL : scales;
        MemorySegment z = f.hasZeroPlane() ? zeros : MemorySegment.NULL;
        MemorySegment lv = cb ? levels : MemorySegment.NULL;
        int gl = f.groupLength(k);
        int sym = f.symmetric() ? 1 : 0;
        int f16 = q41 || f.scaleType().bytes() == 2 ? 1 : 0;
        long perToken = Math.max(1L, k);
        int tokens = (int) Math.max(1L, Math.min(t1 - t0, maxMacs / perToken));
        long cap = maxMacs / (perToken * tokens);
        int rows = (int) Math.max(1L, Math.min(r1 - r0, cap));
        for (int t = t0; t < t1; t += tokens) {
            int te = Math.min(t1, t + tokens);
            for (int r = r0; r < r1; r += rows) {
                int re = Math.min(r1, r + rows);
                try {
                    if (q41) {
                        if (selected) {
                            SEL_Q41_F32.invokeExact(data, x, k, r, re, t, te, y, (long) ldy);
                        } else {
                            q41f32.invokeExact(data, x, k, r, re, t, te, y, (long) ldy);
                        }
                    } else if (selected) {
                        SEL_GROUPED_F32.invokeExact(data, s, z, lv, k, f.bits(), gl, sym, f16, x, r, re, t, te, y,
                                (long) ldy);
                    } else {
                        groupedF32.invokeExact(data, s, z, lv, k, f.bits(), gl, sym, f16, x, r, re, t, te, y,
                                (long) ldy);
                    }
                } catch (RuntimeException | Error e) {
                    throw e;
                } catch (Throwable e) {
                    throw new AssertionError("native weight-only matmul of " + f + " failed", e);
                }
            }
        }
    }

    private static void checkK(int k) {
        if (k < 0 || k > Integer.MAX_VALUE - 31) {
            throw new IllegalArgumentException("k must be in [0, 2^31 - 32], got " + k);
        }
    }

    /** The planes that rows [0, r1) of a k-column tensor of format f read. */
    private static void checkWeights(QuantFormat f, int k, MemorySegment data, MemorySegment scales,
                                     MemorySegment zeros, MemorySegment levels, int r1) {
        NativeMatmul.need("data", Objects.requireNonNull(data, "data"), r1 * f.rowBytes(k));
        if (!f.isGgml()) {
            long params = (long) r1 * f.groupsPerRow(k) * f.scaleType().bytes();
            NativeMatmul.need("scales", Objects.requireNonNull(scales, "scales"), params);
            if (f.hasZeroPlane()) {
                NativeMatmul.need("zeros", Objects.requireNonNull(zeros, "zeros"), params);
            }
        }
        if (levels != null || f.hasLevels()) {
            NativeMatmul.need("levels", Objects.requireNonNull(levels, "levels"), 16 * 4);
            NativeMatmul.aligned("levels", levels);
        }
    }
}

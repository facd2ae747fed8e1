package dev.lowbit.bindings.nativelib;

import dev.lowbit.format.InterleavedTensor;
import dev.lowbit.format.Int8RowTensor;
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
 * Downcalls of the matmul kernels, for a range of rows and a range of tokens per call:
 * <ul>
 *   <li>Q8_0 and Q4_0 weights ({@code native/src/main/c/matmul_*.c}) times int8 activations (integer path,
 *       {@link #gemmInt8(Weights, MemorySegment, MemorySegment, MemorySegment, int, int, int, int, int, int, int,
 *       MemorySegment, int)}) or fp32 activations (weight-only path), and their row-interleaved layouts
 *       ({@link InterleavedTensor}); {@code i8_rowx16} weights ({@link Int8RowTensor}) times int8 activations;</li>
 *   <li>Q4_1, grouped integer planes and 4-bit codebooks ({@code matmul_planes_*.c}): the integer path
 *       ({@link #gemmInt8(QuantFormat, int, MemorySegment, MemorySegment, MemorySegment, MemorySegment, MemorySegment,
 *       int, int, int, int, int, int, MemorySegment, int)}) for Q4_1 and grouped 4- or 8-bit weights, in the scalar
 *       reference's order on exact int32 block sums (its bits at every tier); the weight-only path
 *       ({@link #gemmF32(QuantFormat, int, MemorySegment, MemorySegment, MemorySegment, MemorySegment, MemorySegment,
 *       int, int, int, int, MemorySegment, int)}) for Q4_1, grouped 2-, 3-, 4- and 8-bit weights and 4-bit codebooks
 *       (generic: the reference's order; AVX2, AVX-512: FMA lanes in a fixed order).</li>
 *   <li>Q5_0, Q5_1, IQ4_NL and the K-quants Q2_K to Q6_K ({@code matmul_kq_*.c}): the integer path
 *       ({@link #gemmBlocks}) times Q8_0 activations (blocks of 32) or Q8_K activations (K-quants), exact int32 sums
 *       and the scalar reference's fp32 steps in its order (its bits at every tier).</li>
 * </ul>
 * Each tier's downcall handles are looked up once, when that tier is first used. {@link #selected()} calls the tier
 * that {@link NativeLibrary} chose through {@code static final} handles; {@link #of} gives any tier the CPU runs, for
 * tests. Every length, offset and format parameter is checked here; the C code trusts its arguments.
 *
 * <p>The calls are critical (no thread-state change, heap arrays passed in place), which holds off the
 * garbage collector while they run, so one request is cut into calls of at most {@link #MAX_MACS}
 * multiply-adds each (an eighth of that in generic C): about 0.1 ms with AVX2 or AVX-512, at most a few ms
 * in generic C. Each element of {@code y} is computed on its own, so the cut changes no result.
 */
public final class NativeMatmul {

    /** Weight formats with a native integer path, with their block size in bytes. */
    public enum Weights {
        Q8_0(34, "gemm_q8_0_i8", "gemm_q8_0_f32"),
        Q4_0(18, "gemm_q4_0_i8", "gemm_q4_0_f32");

        final int blockBytes;
        final String int8Symbol;
        final String f32Symbol;

        Weights(int blockBytes, String int8Symbol, String f32Symbol) {
            this.blockBytes = blockBytes;
            this.int8Symbol = int8Symbol;
            this.f32Symbol = f32Symbol;
        }

        public int blockBytes() {
            return blockBytes;
        }
    }

    /** Multiply-adds per downcall at most (AVX2, AVX-512; generic C, 10 to 50 times slower, takes an eighth). */
    public static final long MAX_MACS = 1L << 23;

    private static final FunctionDescriptor GEMM_I8 = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final FunctionDescriptor GEMM_F32 = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_INT,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG);

    private static final FunctionDescriptor GEMM_F32_X8 = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG);

    private static final FunctionDescriptor GEMM_I8_ROW = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG);

    private static final FunctionDescriptor Q4_1_I8 = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final FunctionDescriptor Q4_1_F32 = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_INT,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final FunctionDescriptor GROUPED_I8 = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
            JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final FunctionDescriptor BLOCKS_I8 = FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS,
            ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final FunctionDescriptor GROUPED_F32 = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, ADDRESS,
            ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
            ADDRESS, JAVA_LONG);

    /**
     * One tier's downcall handles and its share of multiply-adds per call. A record, so that the JIT takes the
     * handles of a {@code static final} instance as constants.
     */
    private record Handles(Tier tier, long maxMacs, MethodHandle q8_0I8, MethodHandle q4_0I8, MethodHandle q8_0F32,
                           MethodHandle q4_0F32, MethodHandle q8_0x8I8, MethodHandle q4_0x8I8, MethodHandle q8_0x8F32,
                           MethodHandle q4_0x8F32, MethodHandle i8RowI8, MethodHandle q4_1I8, MethodHandle q4_1F32,
                           MethodHandle groupedI8, MethodHandle groupedF32, MethodHandle blocksI8) {
        static Handles lookUp(Tier tier) {
            return new Handles(tier, tier == Tier.GENERIC ? MAX_MACS / 8 : MAX_MACS,
                    NativeLibrary.downcall(Weights.Q8_0.int8Symbol, tier, GEMM_I8, true),
                    NativeLibrary.downcall(Weights.Q4_0.int8Symbol, tier, GEMM_I8, true),
                    NativeLibrary.downcall(Weights.Q8_0.f32Symbol, tier, GEMM_F32, true),
                    NativeLibrary.downcall(Weights.Q4_0.f32Symbol, tier, GEMM_F32, true),
                    NativeLibrary.downcall("gemm_q8_0x8_i8", tier, GEMM_I8, true),
                    NativeLibrary.downcall("gemm_q4_0x8_i8", tier, GEMM_I8, true),
                    NativeLibrary.downcall("gemm_q8_0x8_f32", tier, GEMM_F32_X8, true),
                    NativeLibrary.downcall("gemm_q4_0x8_f32", tier, GEMM_F32_X8, true),
                    NativeLibrary.downcall("gemm_i8_rowx16_i8", tier, GEMM_I8_ROW, true),
                    NativeLibrary.downcall("gemm_q4_1_i8", tier, Q4_1_I8, true),
                    NativeLibrary.downcall("gemm_q4_1_f32", tier, Q4_1_F32, true),
                    NativeLibrary.downcall("gemm_grouped_i8", tier, GROUPED_I8, true),
                    NativeLibrary.downcall("gemm_grouped_f32", tier, GROUPED_F32, true),
                    NativeLibrary.downcall("gemm_blocks_i8", tier, BLOCKS_I8, true));
        }

        /** The handles of {@code tier}, looked up at its first use and then kept. */
        static Handles of(Tier tier) {
            return switch (tier) {
                case GENERIC -> Generic.HANDLES;
                case AVX2 -> Avx2.HANDLES;
                case AVX512 -> Avx512.HANDLES;
            };
        }
    }

    private static final class Generic {
        static final Handles HANDLES = Handles.lookUp(Tier.GENERIC);
    }

    private static final class Avx2 {
        static final Handles HANDLES = Handles.lookUp(Tier.AVX2);
    }

    private static final class Avx512 {
        static final Handles HANDLES = Handles.lookUp(Tier.AVX512);
    }

    /** The selected tier's handles, constants for the JIT. */
    private static final Handles SEL = NativeLibrary.available() ? Handles.of(NativeLibrary.tier()) : null;
    private static final NativeMatmul SELECTED = SEL == null ? null : new NativeMatmul(SEL, true);

    private final Handles handles;
    private final boolean selected;
    private final long maxMacs;

    private NativeMatmul(Handles handles, boolean selected) {
        this.handles = handles;
        this.selected = selected;
        this.maxMacs = handles.maxMacs();
    }

    /**
     * The kernels of the tier {@link NativeLibrary#tier()} chose.
     *
     * @throws IllegalStateException when the library is not available (with the reason)
     */
    public static NativeMatmul selected() {
        return NativeLibrary.requireSelected(SELECTED);
    }

    /**
     * The kernels of {@code tier}, which must be at most {@link NativeLibrary#hardwareTier()}.
     *
     * @throws IllegalStateException    when the library is not available
     * @throws IllegalArgumentException for a tier this CPU cannot run
     */
    public static NativeMatmul of(Tier tier) {
        return NativeLibrary.atTier(tier, SELECTED, SELECTED == null ? null : SELECTED.tier(),
                t -> new NativeMatmul(Handles.of(t), false));
    }

    public Tier tier() {
        return handles.tier();
    }

    /**
     * Whether {@code gemmInt8(QuantFormat, ...)} takes weights of format {@code f}: Q4_1, grouped 4- or 8-bit codes.
     */
    public static boolean takesInt8(QuantFormat f) {
        return f.kind() == QuantFormat.Kind.Q4_1
                || f.kind() == QuantFormat.Kind.GROUPED && (f.bits() == 4 || f.bits() == 8);
    }

    /**
     * Whether {@code gemmF32(QuantFormat, ...)} takes weights of format {@code f}: Q4_1, grouped codes, 4-bit
     * codebooks.
     */
    public static boolean takesF32(QuantFormat f) {
        return switch (f.kind()) {
            case Q4_1, GROUPED, CODEBOOK4 -> true;
            default -> false;
        };
    }

    /**
     * Whether {@link #gemmBlocks} takes weights of format {@code f}: Q5_0, Q5_1, IQ4_NL and the K-quants Q2_K to Q6_K.
     */
    public static boolean takesBlocks(QuantFormat f) {
        return blocksKind(f) >= 0;
    }

    /** The C side's number of the kind of {@code f} ({@code LB_KQ_*} in {@code lowbit.h}), or -1. */
    private static int blocksKind(QuantFormat f) {
        if (!f.isGgml()) {
            return -1;
        }
        return switch (f.kind()) {
            case Q5_0 -> 0;
            case Q5_1 -> 1;
            case IQ4_NL -> 2;
            case Q2_K -> 3;
            case Q3_K -> 4;
            case Q4_K -> 5;
            case Q5_K -> 6;
            case Q6_K -> 7;
            default -> -1;
        };
    }

    /** One downcall over rows {@code [r0, r1)} and tokens {@code [t0, t1)}. */
    @FunctionalInterface
    private interface Chunk {
        void call(int r0, int r1, int t0, int t1) throws Throwable;
    }

    /**
     * Cuts rows {@code [r0, r1)} times tokens {@code [t0, t1)} into downcalls of at most {@link #maxMacs}
     * multiply-adds, {@code perToken} per row and token: as many tokens per call as leave room for {@code align}
     * rows, then as many rows as fit, whole multiples of {@code align} (the last call takes the rest).
     */
    private void inChunks(long perToken, int align, int r0, int r1, int t0, int t1, Chunk chunk) throws Throwable {
        int tokens = (int) Math.max(1L, Math.min(t1 - t0, maxMacs / (align * perToken)));
        long cap = maxMacs / (perToken * tokens);
        int rows = r1 - r0 <= cap ? r1 - r0 : (int) Math.max(align, cap & -align);
        for (int t = t0; t < t1; t += tokens) {
            int te = Math.min(t1, t + tokens);
            for (int r = r0; r < r1; r += rows) {
                chunk.call(r, Math.min(r1, r + rows), t, te);
            }
        }
    }

    /** {@code e} as it was when unchecked, else an {@code AssertionError} that says {@code what} failed. */
    private static RuntimeException rethrow(Throwable e, String what) {
        if (e instanceof RuntimeException re) {
            throw re;
        }
        if (e instanceof Error err) {
            throw err;
        }
        throw new AssertionError("native " + what + " failed", e);
    }

    /**
     * {@code y[t * ldy + r] = sum_b (d_w * d_x) * isum_b} for rows {@code [r0, r1)} and tokens {@code [t0, t1)}:
     * the integer path of {@code MatmulKernels.gemmInt8} without outliers, in the scalar reference's order.
     *
     * @param w     weight rows of {@code nb} ggml blocks of {@code weights} each, row {@code r} at
     *              {@code r * nb * blockBytes}
     * @param xc    int8 activation codes, token {@code t} at {@code t * nb * 32} (zero padded to whole blocks)
     * @param xs    fp32 activation scales, block {@code b} of token {@code t} at index
     *              {@code t * xsTok + b * xsBlk} ({@code xsBlk} 1 for one scale per block, 0 for one per token)
     * @param y     fp32 output, written only at the elements named above
     * @throws IllegalArgumentException for a negative or inverted range, a segment too small for the ranges,
     *                                  a read-only or misaligned output, or a misaligned {@code xs}
     */
    public void gemmInt8(Weights weights, MemorySegment w, MemorySegment xc, MemorySegment xs, int nb, int xsTok,
                         int xsBlk, int r0, int r1, int t0, int t1, MemorySegment y, int ldy) {
        Objects.requireNonNull(weights, "weights");
        check(w, weights.blockBytes, xc, xs, nb, xsTok, xsBlk, r0, r1, t0, t1, y, ldy);
        if (r0 == r1 || t0 == t1) {
            return;
        }
        try {
            inChunks(Math.max(1L, (long) nb * 32), 4, r0, r1, t0, t1, (r, re, t, te) -> { // whole tiles of 4 rows
                if (selected) {
                    if (weights == Weights.Q8_0) {
                        SEL.q8_0I8().invokeExact(w, xc, xs, nb, xsTok, xsBlk, r, re, t, te, y, (long) ldy);
                    } else {
                        SEL.q4_0I8().invokeExact(w, xc, xs, nb, xsTok, xsBlk, r, re, t, te, y, (long) ldy);
                    }
                } else {
                    (weights == Weights.Q8_0 ? handles.q8_0I8() : handles.q4_0I8()).invokeExact(w, xc, xs, nb, xsTok,
                            xsBlk, r, re, t, te, y, (long) ldy);
                }
            });
        } catch (Throwable e) {
            throw rethrow(e, weights.int8Symbol);
        }
    }

    /**
     * {@link #gemmInt8(Weights, MemorySegment, MemorySegment, MemorySegment, int, int, int, int, int, int, int,
     * MemorySegment, int) gemmInt8} for row-interleaved weights: the same result, bit for bit, as the plain rows give.
     *
     * @param w  groups of 8 rows, group {@code g} at {@code g * nb * layout.superblockBytes()}; the groups up to
     *           {@code ceil(r1 / 8)} must be present
     * @param r0 a multiple of 8
     * @throws IllegalArgumentException as {@code gemmInt8} does, and for {@code r0} not a multiple of 8
     */
    public void gemmInt8Interleaved(InterleavedTensor.Layout layout, MemorySegment w, MemorySegment xc, MemorySegment xs,
                                    int nb, int xsTok, int xsBlk, int r0, int r1, int t0, int t1, MemorySegment y,
                                    int ldy) {
        Objects.requireNonNull(layout, "layout");
        if (r0 % InterleavedTensor.ROWS != 0) {
            throw new IllegalArgumentException("r0 must be a multiple of 8 for interleaved rows, got " + r0);
        }
        check(w, 0, xc, xs, nb, xsTok, xsBlk, r0, r1, t0, t1, y, ldy);
        if (r0 == r1 || t0 == t1) {
            return;
        }
        need("w", w, (r1 + 7L) / 8 * nb * layout.superblockBytes());
        try {
            inChunks(Math.max(1L, (long) nb * 32), 8, r0, r1, t0, t1, (r, re, t, te) -> { // whole groups of 8 rows
                if (selected) {
                    if (layout == InterleavedTensor.Layout.Q8_0_X8) {
                        SEL.q8_0x8I8().invokeExact(w, xc, xs, nb, xsTok, xsBlk, r, re, t, te, y, (long) ldy);
                    } else {
                        SEL.q4_0x8I8().invokeExact(w, xc, xs, nb, xsTok, xsBlk, r, re, t, te, y, (long) ldy);
                    }
                } else {
                    (layout == InterleavedTensor.Layout.Q8_0_X8 ? handles.q8_0x8I8() : handles.q4_0x8I8()).invokeExact(
                            w, xc, xs, nb, xsTok, xsBlk, r, re, t, te, y, (long) ldy);
                }
            });
        } catch (Throwable e) {
            throw rethrow(e, layout.layoutName() + " matmul");
        }
    }

    /**
     * {@link #gemmF32(Weights, MemorySegment, MemorySegment, int, int, int, int, int, MemorySegment, int) gemmF32}
     * for row-interleaved weights: the plain rows' result at this tier, bit for bit. Each group of 8 rows is unpacked
     * into a small buffer and multiplied there.
     *
     * @param r0 a multiple of 8
     * @throws IllegalArgumentException as {@code gemmF32} does, and for {@code r0} not a multiple of 8
     * @throws OutOfMemoryError         when the C side cannot allocate its buffer of 8 rows
     */
    public void gemmF32Interleaved(InterleavedTensor.Layout layout, MemorySegment w, MemorySegment x, int k, int r0,
                                   int r1, int t0, int t1, MemorySegment y, int ldy) {
        Objects.requireNonNull(layout, "layout");
        Objects.requireNonNull(w, "w");
        Objects.requireNonNull(x, "x");
        if (r0 % InterleavedTensor.ROWS != 0) {
            throw new IllegalArgumentException("r0 must be a multiple of 8 for interleaved rows, got " + r0);
        }
        if (k < 0 || k > Integer.MAX_VALUE - 31) {
            throw new IllegalArgumentException("k must be in [0, 2^31 - 32], got " + k);
        }
        checkRanges(r0, r1, t0, t1, y, ldy);
        if (r0 == r1 || t0 == t1) {
            return;
        }
        need("w", w, (r1 + 7L) / 8 * ((k + 31) / 32) * layout.superblockBytes());
        need("x", x, 4L * t1 * k);
        need("y", y, 4 * ((long) (t1 - 1) * ldy + r1));
        aligned("x", x);
        aligned("y", y);
        try {
            inChunks(Math.max(1L, k), 8, r0, r1, t0, t1, (r, re, t, te) -> {
                int rc;
                if (selected) {
                    rc = layout == InterleavedTensor.Layout.Q8_0_X8
                            ? (int) SEL.q8_0x8F32().invokeExact(w, x, k, r, re, t, te, y, (long) ldy)
                            : (int) SEL.q4_0x8F32().invokeExact(w, x, k, r, re, t, te, y, (long) ldy);
                } else {
                    rc = (int) (layout == InterleavedTensor.Layout.Q8_0_X8 ? handles.q8_0x8F32() : handles.q4_0x8F32())
                            .invokeExact(w, x, k, r, re, t, te, y, (long) ldy);
                }
                if (rc != 0) {
                    throw new OutOfMemoryError("native " + layout.layoutName() + " matmul could not allocate a buffer of"
                            + " 8 rows of " + k + " columns");
                }
            });
        } catch (Throwable e) {
            throw rethrow(e, layout.layoutName() + " weight-only matmul");
        }
    }

    /**
     * {@code i8_rowx16} weights ({@link Int8RowTensor}) times int8 activations with one scale per token:
     * {@code y[t * ldy + r] = (d_w[r] * d_x[t]) * isum}, {@code isum} the exact int32 sum over all {@code k}
     * columns. Every tier gives these bits.
     *
     * @param w     groups of 16 rows of {@link Int8RowTensor#groupBytes}; the groups up to {@code ceil(r1 / 16)}
     *              must be present
     * @param xc    token {@code t}'s codes at {@code t * pk}
     * @param xs    token {@code t}'s scale at float index {@code t * xsTok}
     * @param pk    the codes' stride, at least {@code 4 * ceil(k / 4)}
     * @param r0    a multiple of 16
     * @throws IllegalArgumentException for {@code k} over {@link Int8RowTensor#MAX_COLS}, a stride below the
     *                                  chunks, a misaligned {@code r0}, and as {@code gemmInt8} does
     * @throws OutOfMemoryError         when the C side cannot allocate its copy of the activations
     */
    public void gemmInt8Rows(MemorySegment w, MemorySegment xc, MemorySegment xs, int k, int pk, int xsTok, int r0,
                             int r1, int t0, int t1, MemorySegment y, int ldy) {
        Objects.requireNonNull(w, "w");
        Objects.requireNonNull(xc, "xc");
        Objects.requireNonNull(xs, "xs");
        if (k < 0 || k > Int8RowTensor.MAX_COLS) {
            throw new IllegalArgumentException("k must be in [0, " + Int8RowTensor.MAX_COLS + "], got " + k);
        }
        if (pk < Int8RowTensor.chunks(k) * Int8RowTensor.CHUNK) {
            throw new IllegalArgumentException("pk must be at least " + Int8RowTensor.chunks(k) * Int8RowTensor.CHUNK
                    + " for k=" + k + ", got " + pk);
        }
        if (xsTok < 0) {
            throw new IllegalArgumentException("xsTok must be non-negative, got " + xsTok);
        }
        if (r0 % Int8RowTensor.ROWS != 0) {
            throw new IllegalArgumentException("r0 must be a multiple of 16 for i8_rowx16 rows, got " + r0);
        }
        checkRanges(r0, r1, t0, t1, y, ldy);
        if (r0 == r1 || t0 == t1) {
            return;
        }
        need("w", w, (r1 + 15L) / 16 * Int8RowTensor.groupBytes(k));
        need("xc", xc, (long) (t1 - 1) * pk + Int8RowTensor.chunks(k) * Int8RowTensor.CHUNK);
        need("xs", xs, 4 * ((long) (t1 - 1) * xsTok + 1));
        need("y", y, 4 * ((long) (t1 - 1) * ldy + r1));
        aligned("xs", xs);
        aligned("y", y);
        try {
            inChunks(Math.max(1L, k), 16, r0, r1, t0, t1, (r, re, t, te) -> { // whole groups of 16 rows
                int rc = selected
                        ? (int) SEL.i8RowI8().invokeExact(w, xc, xs, k, pk, xsTok, r, re, t, te, y, (long) ldy)
                        : (int) handles.i8RowI8().invokeExact(w, xc, xs, k, pk, xsTok, r, re, t, te, y, (long) ldy);
                if (rc != 0) {
                    throw new OutOfMemoryError("native " + Int8RowTensor.LAYOUT_NAME + " matmul could not allocate a "
                            + "copy of " + (te - t) + " tokens of " + k + " activations");
                }
            });
        } catch (Throwable e) {
            throw rethrow(e, Int8RowTensor.LAYOUT_NAME + " matmul");
        }
    }

    /**
     * {@code y[t * ldy + r] = sum_c W[r][c] * x[t * k + c]} for rows {@code [r0, r1)} and tokens {@code [t0, t1)}:
     * the weight-only path of {@code MatmulKernels.gemmF32} without outliers. The generic tier runs the scalar
     * reference's order; the others sum in lanes with FMA, in an order fixed per tier.
     *
     * @param w weight rows of {@code ceil(k / 32)} ggml blocks each
     * @param x fp32 activations, token {@code t} at index {@code t * k}
     * @param y fp32 output, written only at the elements named above
     * @throws IllegalArgumentException for a negative or inverted range, a segment too small for the ranges,
     *                                  a read-only output, or a misaligned {@code x} or {@code y}
     */
    public void gemmF32(Weights weights, MemorySegment w, MemorySegment x, int k, int r0, int r1, int t0, int t1,
                        MemorySegment y, int ldy) {
        Objects.requireNonNull(weights, "weights");
        Objects.requireNonNull(w, "w");
        Objects.requireNonNull(x, "x");
        if (k < 0 || k > Integer.MAX_VALUE - 31) {
            throw new IllegalArgumentException("k must be in [0, 2^31 - 32], got " + k);
        }
        checkRanges(r0, r1, t0, t1, y, ldy);
        if (r0 == r1 || t0 == t1) {
            return;
        }
        need("w", w, (long) r1 * ((k + 31) / 32) * weights.blockBytes); // k + 31 fits: checked above
        need("x", x, 4L * t1 * k);
        need("y", y, 4 * ((long) (t1 - 1) * ldy + r1));
        aligned("x", x);
        aligned("y", y);
        try {
            inChunks(Math.max(1L, k), 1, r0, r1, t0, t1, (r, re, t, te) -> {
                if (selected) {
                    if (weights == Weights.Q8_0) {
                        SEL.q8_0F32().invokeExact(w, x, k, r, re, t, te, y, (long) ldy);
                    } else {
                        SEL.q4_0F32().invokeExact(w, x, k, r, re, t, te, y, (long) ldy);
                    }
                } else {
                    (weights == Weights.Q8_0 ? handles.q8_0F32() : handles.q4_0F32()).invokeExact(w, x, k, r, re, t, te,
                            y, (long) ldy);
                }
            });
        } catch (Throwable e) {
            throw rethrow(e, weights.f32Symbol);
        }
    }

    /**
     * {@code y[t * ldy + r]} for rows {@code [r0, r1)} and tokens {@code [t0, t1)}: the integer path of
     * {@code MatmulKernels.gemmInt8} without outliers, in the scalar reference's order, for a tensor of
     * format {@code f} with {@code k} columns: Q4_1 or grouped 4- or 8-bit codes ({@link #takesInt8}).
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
        checkRanges(r0, r1, t0, t1, y, ldy);
        if (r0 == r1 || t0 == t1) {
            return;
        }
        checkWeights(f, k, data, scales, zeros, null, r1);
        int nb = (k + 31) / 32;
        need("xc", xc, (long) t1 * nb * 32);
        if (nb > 0) {
            need("xs", xs, 4 * ((long) (t1 - 1) * xsTok + (long) (nb - 1) * xsBlk + 1));
        }
        need("y", y, 4 * ((long) (t1 - 1) * ldy + r1));
        aligned("xs", xs);
        aligned("y", y);
        boolean q41 = f.kind() == QuantFormat.Kind.Q4_1;
        MemorySegment s = q41 ? MemorySegment.NULL : scales;
        MemorySegment z = f.hasZeroPlane() ? zeros : MemorySegment.NULL;
        int gl = f.groupLength(k);
        int sym = f.symmetric() ? 1 : 0;
        int f16 = f.scaleType().bytes() == 2 ? 1 : 0;
        try {
            inChunks(Math.max(1L, (long) nb * 32), 4, r0, r1, t0, t1, (r, re, t, te) -> { // whole tiles of 4 rows
                if (q41) {
                    if (selected) {
                        SEL.q4_1I8().invokeExact(data, xc, xs, nb, xsTok, xsBlk, r, re, t, te, y, (long) ldy);
                    } else {
                        handles.q4_1I8().invokeExact(data, xc, xs, nb, xsTok, xsBlk, r, re, t, te, y, (long) ldy);
                    }
                } else if (selected) {
                    SEL.groupedI8().invokeExact(data, s, z, k, f.bits(), gl, sym, f16, xc, xs, xsTok, xsBlk, r, re, t,
                            te, y, (long) ldy);
                } else {
                    handles.groupedI8().invokeExact(data, s, z, k, f.bits(), gl, sym, f16, xc, xs, xsTok, xsBlk, r, re,
                            t, te, y, (long) ldy);
                }
            });
        } catch (Throwable e) {
            throw rethrow(e, "integer matmul of " + f);
        }
    }

    /**
     * {@code y[t * ldy + r] = sum_c W[r][c] * x[t * k + c]} for rows {@code [r0, r1)} and tokens {@code [t0, t1)}:
     * the weight-only path of {@code MatmulKernels.gemmF32} without outliers, for a tensor of format {@code f}: Q4_1,
     * grouped codes or a 4-bit codebook ({@link #takesF32}). The generic tier runs the scalar reference's order; the
     * others sum in FMA lanes, in an order fixed per tier.
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
        checkRanges(r0, r1, t0, t1, y, ldy);
        if (r0 == r1 || t0 == t1) {
            return;
        }
        boolean cb = f.hasLevels();
        checkWeights(f, k, data, scales, zeros, cb ? levels : null, r1);
        need("x", x, 4L * t1 * k);
        need("y", y, 4 * ((long) (t1 - 1) * ldy + r1));
        aligned("x", x);
        aligned("y", y);
        boolean q41 = f.kind() == QuantFormat.Kind.Q4_1;
        MemorySegment s = q41 ? MemorySegment.NULL : scales;
        MemorySegment z = f.hasZeroPlane() ? zeros : MemorySegment.NULL;
        MemorySegment lv = cb ? levels : MemorySegment.NULL;
        int gl = f.groupLength(k);
        int sym = f.symmetric() ? 1 : 0;
        int f16 = q41 || f.scaleType().bytes() == 2 ? 1 : 0;
        try {
            inChunks(Math.max(1L, k), 1, r0, r1, t0, t1, (r, re, t, te) -> {
                if (q41) {
                    if (selected) {
                        SEL.q4_1F32().invokeExact(data, x, k, r, re, t, te, y, (long) ldy);
                    } else {
                        handles.q4_1F32().invokeExact(data, x, k, r, re, t, te, y, (long) ldy);
                    }
                } else if (selected) {
                    SEL.groupedF32().invokeExact(data, s, z, lv, k, f.bits(), gl, sym, f16, x, r, re, t, te, y,
                            (long) ldy);
                } else {
                    handles.groupedF32().invokeExact(data, s, z, lv, k, f.bits(), gl, sym, f16, x, r, re, t, te, y,
                            (long) ldy);
                }
            });
        } catch (Throwable e) {
            throw rethrow(e, "weight-only matmul of " + f);
        }
    }

    /**
     * {@code y[t * ldy + r]} for rows {@code [r0, r1)} and tokens {@code [t0, t1)}: the integer path of
     * {@code MatmulKernels.gemmInt8} without outliers for Q5_0, Q5_1, IQ4_NL and the K-quants Q2_K to Q6_K
     * ({@link #takesBlocks}), in the scalar reference's order: its bits at every tier.
     *
     * @param w  the blocks, row {@code r} at {@code r * f.rowBytes(k)}
     * @param k  columns, a multiple of {@code f}'s block (32, or 256 for the K-quants)
     * @param xc int8 activation codes, token {@code t} at {@code t * k}
     * @param xs fp32 activation scales: Q8_0's, one per block of 32 ({@code t * k / 32 + b}), for Q5_0, Q5_1 and
     *           IQ4_NL; Q8_K's, one per super-block of 256 ({@code t * k / 256 + b}), for the K-quants
     * @param y  fp32 output, written only at the elements named above
     * @throws IllegalArgumentException for a format without this kernel, a {@code k} that is not whole blocks, a
     *                                  negative or inverted range, a segment too small for the ranges, a read-only
     *                                  or misaligned output, or a misaligned {@code xs}
     * @throws OutOfMemoryError         when the C side cannot allocate the activation sums of the call
     */
    public void gemmBlocks(QuantFormat f, int k, MemorySegment w, MemorySegment xc, MemorySegment xs, int r0, int r1,
                           int t0, int t1, MemorySegment y, int ldy) {
        Objects.requireNonNull(f, "format");
        int kind = blocksKind(f);
        if (kind < 0) {
            throw new IllegalArgumentException("the native block path takes Q5_0, Q5_1, IQ4_NL and Q2_K to Q6_K, not "
                    + f);
        }
        int blk = f.groupSize();
        if (k < 0 || k % blk != 0) {
            throw new IllegalArgumentException(f + " rows hold whole blocks of " + blk + ", got k=" + k);
        }
        Objects.requireNonNull(w, "w");
        Objects.requireNonNull(xc, "xc");
        Objects.requireNonNull(xs, "xs");
        checkRanges(r0, r1, t0, t1, y, ldy);
        if (r0 == r1 || t0 == t1) {
            return;
        }
        need("w", w, r1 * f.rowBytes(k));
        need("xc", xc, (long) t1 * k);
        need("xs", xs, 4L * t1 * (k / blk));
        need("y", y, 4 * ((long) (t1 - 1) * ldy + r1));
        aligned("xs", xs);
        aligned("y", y);
        try {
            inChunks(Math.max(1L, k), 4, r0, r1, t0, t1, (r, re, t, te) -> { // whole tiles of 4 rows
                int rc = selected
                        ? (int) SEL.blocksI8().invokeExact(kind, w, xc, xs, k, r, re, t, te, y, (long) ldy)
                        : (int) handles.blocksI8().invokeExact(kind, w, xc, xs, k, r, re, t, te, y, (long) ldy);
                if (rc != 0) {
                    throw new OutOfMemoryError("native " + f + " matmul could not allocate the sums of " + (te - t)
                            + " tokens of " + k + " activations");
                }
            });
        } catch (Throwable e) {
            throw rethrow(e, "integer matmul of " + f);
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
        need("data", Objects.requireNonNull(data, "data"), r1 * f.rowBytes(k));
        if (!f.isGgml()) {
            long params = (long) r1 * f.groupsPerRow(k) * f.scaleType().bytes();
            need("scales", Objects.requireNonNull(scales, "scales"), params);
            if (f.hasZeroPlane()) {
                need("zeros", Objects.requireNonNull(zeros, "zeros"), params);
            }
        }
        if (levels != null || f.hasLevels()) {
            need("levels", Objects.requireNonNull(levels, "levels"), 16 * 4);
            aligned("levels", levels);
        }
    }

    private static void checkRanges(int r0, int r1, int t0, int t1, MemorySegment y, int ldy) {
        Objects.requireNonNull(y, "y");
        if (r0 < 0 || r1 < r0) {
            throw new IllegalArgumentException("rows must satisfy 0 <= r0 <= r1, got r0=" + r0 + ", r1=" + r1);
        }
        if (t0 < 0 || t1 < t0) {
            throw new IllegalArgumentException("tokens must satisfy 0 <= t0 <= t1, got t0=" + t0 + ", t1=" + t1);
        }
        if (ldy < r1) {
            throw new IllegalArgumentException("ldy must be at least r1=" + r1 + ", got " + ldy);
        }
        if (y.isReadOnly()) {
            throw new IllegalArgumentException("y must be writable");
        }
    }

    /** The checks of the integer path; {@code blockBytes} 0 leaves the weights' size to the caller. */
    private static void check(MemorySegment w, int blockBytes, MemorySegment xc, MemorySegment xs, int nb, int xsTok,
                              int xsBlk, int r0, int r1, int t0, int t1, MemorySegment y, int ldy) {
        Objects.requireNonNull(w, "w");
        Objects.requireNonNull(xc, "xc");
        Objects.requireNonNull(xs, "xs");
        if (nb < 0) {
            throw new IllegalArgumentException("nb must be non-negative, got " + nb);
        }
        if (xsBlk != 0 && xsBlk != 1) {
            throw new IllegalArgumentException("xsBlk must be 0 or 1, got " + xsBlk);
        }
        if (xsTok < 0) {
            throw new IllegalArgumentException("xsTok must be non-negative, got " + xsTok);
        }
        checkRanges(r0, r1, t0, t1, y, ldy);
        if (r0 == r1 || t0 == t1) {
            return;
        }
        need("w", w, (long) r1 * nb * blockBytes);
        need("xc", xc, (long) t1 * nb * 32);
        if (nb > 0) {
            need("xs", xs, 4 * ((long) (t1 - 1) * xsTok + (long) (nb - 1) * xsBlk + 1));
        }
        need("y", y, 4 * ((long) (t1 - 1) * ldy + r1));
        aligned("xs", xs);
        aligned("y", y);
    }

    private static void need(String name, MemorySegment s, long bytes) {
        if (s.byteSize() < bytes) {
            throw new IllegalArgumentException(name + " holds " + s.byteSize() + " bytes, the ranges need " + bytes);
        }
    }

    private static void aligned(String name, MemorySegment s) {
        if (s.maxByteAlignment() < 4) {
            throw new IllegalArgumentException(name + " must be 4-byte aligned for fp32 values, got address " + s.address());
        }
    }
}

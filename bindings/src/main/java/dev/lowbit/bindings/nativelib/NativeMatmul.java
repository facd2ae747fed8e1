package dev.lowbit.bindings.nativelib;

import dev.lowbit.format.InterleavedTensor;
import dev.lowbit.format.Int8RowTensor;
import dev.lowbit.bindings.nativelib.NativeLibrary.Tier;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Objects;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Downcalls of the matmul kernels ({@code native/src/main/c/matmul_*.c}): Q8_0 and Q4_0 weights times int8
 * activations (integer path) or fp32 activations (weight-only path), and their row-interleaved layouts
 * ({@link InterleavedTensor}) times int8 activations, for a range of rows and a range of tokens per call. {@link #selected()} calls the tier that {@link NativeLibrary} chose through
 * {@code static final} handles; {@link #of} gives any tier the CPU runs, for tests. Every length and offset
 * is checked here; the C code trusts its arguments.
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

    private static final NativeMatmul SELECTED = NativeLibrary.available() ? new NativeMatmul(NativeLibrary.tier(), true)
            : null;
    /** The selected tier's handles, constants for the JIT. */
    private static final MethodHandle Q8_0_I8 = SELECTED == null ? null : SELECTED.q8;
    private static final MethodHandle Q4_0_I8 = SELECTED == null ? null : SELECTED.q4;
    private static final MethodHandle Q8_0_F32 = SELECTED == null ? null : SELECTED.q8f;
    private static final MethodHandle Q4_0_F32 = SELECTED == null ? null : SELECTED.q4f;
    private static final MethodHandle Q8_0_X8_I8 = SELECTED == null ? null : SELECTED.q8x8;
    private static final MethodHandle Q4_0_X8_I8 = SELECTED == null ? null : SELECTED.q4x8;
    private static final MethodHandle Q8_0_X8_F32 = SELECTED == null ? null : SELECTED.q8x8f;
    private static final MethodHandle Q4_0_X8_F32 = SELECTED == null ? null : SELECTED.q4x8f;
    private static final MethodHandle I8_ROW_I8 = SELECTED == null ? null : SELECTED.i8row;

    private final Tier tier;
    private final boolean selected;
    private final long maxMacs;
    private final MethodHandle q8;
    private final MethodHandle q4;
    private final MethodHandle q8f;
    private final MethodHandle q4f;
    private final MethodHandle q8x8;
    private final MethodHandle q4x8;
    private final MethodHandle q8x8f;
    private final MethodHandle q4x8f;
    private final MethodHandle i8row;

    private NativeMatmul(Tier tier, boolean selected) {
        this.tier = tier;
        this.selected = selected;
        this.maxMacs = tier == Tier.GENERIC ? MAX_MACS / 8 : MAX_MACS;
        this.q8 = NativeLibrary.downcall(Weights.Q8_0.int8Symbol, tier, GEMM_I8, true);
        this.q4 = NativeLibrary.downcall(Weights.Q4_0.int8Symbol, tier, GEMM_I8, true);
        this.q8f = NativeLibrary.downcall(Weights.Q8_0.f32Symbol, tier, GEMM_F32, true);
        this.q4f = NativeLibrary.downcall(Weights.Q4_0.f32Symbol, tier, GEMM_F32, true);
        this.q8x8 = NativeLibrary.downcall("gemm_q8_0x8_i8", tier, GEMM_I8, true);
        this.q4x8 = NativeLibrary.downcall("gemm_q4_0x8_i8", tier, GEMM_I8, true);
        this.q8x8f = NativeLibrary.downcall("gemm_q8_0x8_f32", tier, GEMM_F32_X8, true);
        this.q4x8f = NativeLibrary.downcall("gemm_q4_0x8_f32", tier, GEMM_F32_X8, true);
        this.i8row = NativeLibrary.downcall("gemm_i8_rowx16_i8", tier, GEMM_I8_ROW, true);
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
        return NativeLibrary.atTier(tier, SELECTED, SELECTED == null ? null : SELECTED.tier,
                t -> new NativeMatmul(t, false));
    }

    public Tier tier() {
        return tier;
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
        long perToken = Math.max(1L, (long) nb * 32);
        int tokens = (int) Math.max(1L, Math.min(t1 - t0, maxMacs / (4 * perToken)));
        long cap = maxMacs / (perToken * tokens);
        int rows = r1 - r0 <= cap ? r1 - r0 : (int) Math.max(4L, cap & ~3L); // whole tiles of 4 rows
        for (int t = t0; t < t1; t += tokens) {
            int te = Math.min(t1, t + tokens);
            for (int r = r0; r < r1; r += rows) {
                call(weights, w, xc, xs, nb, xsTok, xsBlk, r, Math.min(r1, r + rows), t, te, y, ldy);
            }
        }
    }

    private void call(Weights weights, MemorySegment w, MemorySegment xc, MemorySegment xs, int nb, int xsTok,
                      int xsBlk, int r0, int r1, int t0, int t1, MemorySegment y, int ldy) {
        try {
            if (selected) {
                if (weights == Weights.Q8_0) {
                    Q8_0_I8.invokeExact(w, xc, xs, nb, xsTok, xsBlk, r0, r1, t0, t1, y, (long) ldy);
                } else {
                    Q4_0_I8.invokeExact(w, xc, xs, nb, xsTok, xsBlk, r0, r1, t0, t1, y, (long) ldy);
                }
            } else {
                (weights == Weights.Q8_0 ? q8 : q4).invokeExact(w, xc, xs, nb, xsTok, xsBlk, r0, r1, t0, t1, y,
                        (long) ldy);
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new AssertionError("native " + weights.int8Symbol + " failed", e);
        }
    }

    /**
     * {@link #gemmInt8} for row-interleaved weights: the same result, bit for bit, as the plain rows give.
     *
     * @param w  groups of 8 rows, group {@code g} at {@code g * nb * layout.superblockBytes()}; the groups up to
     *           {@code ceil(r1 / 8)} must be present
     * @param r0 a multiple of 8
     * @throws IllegalArgumentException as {@link #gemmInt8} does, and for {@code r0} not a multiple of 8
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
        long perToken = Math.max(1L, (long) nb * 32);
        int tokens = (int) Math.max(1L, Math.min(t1 - t0, maxMacs / (8 * perToken)));
        long cap = maxMacs / (perToken * tokens);
        int rows = r1 - r0 <= cap ? r1 - r0 : (int) Math.max(8L, cap & ~7L); // whole groups of 8 rows
        for (int t = t0; t < t1; t += tokens) {
            int te = Math.min(t1, t + tokens);
            for (int r = r0; r < r1; r += rows) {
                callInterleaved(layout, w, xc, xs, nb, xsTok, xsBlk, r, Math.min(r1, r + rows), t, te, y, ldy);
            }
        }
    }

    /**
     * {@link #gemmF32} for row-interleaved weights: the plain rows' result at this tier, bit for bit. Each group of 8
     * rows is unpacked into a small buffer and multiplied there.
     *
     * @param r0 a multiple of 8
     * @throws IllegalArgumentException as {@link #gemmF32} does, and for {@code r0} not a multiple of 8
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
        long perToken = Math.max(1L, k);
        int tokens = (int) Math.max(1L, Math.min(t1 - t0, maxMacs / (8 * perToken)));
        long cap = maxMacs / (perToken * tokens);
        int rows = r1 - r0 <= cap ? r1 - r0 : (int) Math.max(8L, cap & ~7L);
        for (int t = t0; t < t1; t += tokens) {
            int te = Math.min(t1, t + tokens);
            for (int r = r0; r < r1; r += rows) {
                int re = Math.min(r1, r + rows);
                int rc;
                try {
                    if (selected) {
                        rc = layout == InterleavedTensor.Layout.Q8_0_X8
                                ? (int) Q8_0_X8_F32.invokeExact(w, x, k, r, re, t, te, y, (long) ldy)
                                : (int) Q4_0_X8_F32.invokeExact(w, x, k, r, re, t, te, y, (long) ldy);
                    } else {
                        rc = (int) (layout == InterleavedTensor.Layout.Q8_0_X8 ? q8x8f : q4x8f).invokeExact(w, x, k,
                                r, re, t, te, y, (long) ldy);
                    }
                } catch (RuntimeException | Error e) {
                    throw e;
                } catch (Throwable e) {
                    throw new AssertionError("native " + layout.layoutName() + " weight-only matmul failed", e);
                }
                if (rc != 0) {
                    throw new OutOfMemoryError("native " + layout.layoutName() + " matmul could not allocate a buffer of"
                            + " 8 rows of " + k + " columns");
                }
            }
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
     *                                  chunks, a misaligned {@code r0}, and as {@link #gemmInt8} does
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
        long perToken = Math.max(1L, k);
        int tokens = (int) Math.max(1L, Math.min(t1 - t0, maxMacs / (16 * perToken)));
        long cap = maxMacs / (perToken * tokens);
        int rows = r1 - r0 <= cap ? r1 - r0 : (int) Math.max(16L, cap & ~15L); // whole groups of 16 rows
        for (int t = t0; t < t1; t += tokens) {
            int te = Math.min(t1, t + tokens);
            for (int r = r0; r < r1; r += rows) {
                int re = Math.min(r1, r + rows);
                int rc;
                try {
                    rc = selected ? (int) I8_ROW_I8.invokeExact(w, xc, xs, k, pk, xsTok, r, re, t, te, y, (long) ldy)
                            : (int) i8row.invokeExact(w, xc, xs, k, pk, xsTok, r, re, t, te, y, (long) ldy);
                } catch (RuntimeException | Error e) {
                    throw e;
                } catch (Throwable e) {
                    throw new AssertionError("native " + Int8RowTensor.LAYOUT_NAME + " matmul failed", e);
                }
                if (rc != 0) {
                    throw new OutOfMemoryError("native " + Int8RowTensor.LAYOUT_NAME + " matmul could not allocate a "
                            + "copy of " + (te - t) + " tokens of " + k + " activations");
                }
            }
        }
    }

    private void callInterleaved(InterleavedTensor.Layout layout, MemorySegment w, MemorySegment xc, MemorySegment xs,
                                 int nb, int xsTok, int xsBlk, int r0, int r1, int t0, int t1, MemorySegment y,
                                 int ldy) {
        try {
            if (selected) {
                if (layout == InterleavedTensor.Layout.Q8_0_X8) {
                    Q8_0_X8_I8.invokeExact(w, xc, xs, nb, xsTok, xsBlk, r0, r1, t0, t1, y, (long) ldy);
                } else {
                    Q4_0_X8_I8.invokeExact(w, xc, xs, nb, xsTok, xsBlk, r0, r1, t0, t1, y, (long) ldy);
                }
            } else {
                (layout == InterleavedTensor.Layout.Q8_0_X8 ? q8x8 : q4x8).invokeExact(w, xc, xs, nb, xsTok, xsBlk, r0,
                        r1, t0, t1, y, (long) ldy);
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new AssertionError("native " + layout.layoutName() + " matmul failed", e);
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
        long perToken = Math.max(1L, k);
        int tokens = (int) Math.max(1L, Math.min(t1 - t0, maxMacs / perToken));
        long cap = maxMacs / (perToken * tokens);
        int rows = (int) Math.max(1L, Math.min(r1 - r0, cap));
        for (int t = t0; t < t1; t += tokens) {
            int te = Math.min(t1, t + tokens);
            for (int r = r0; r < r1; r += rows) {
                callF32(weights, w, x, k, r, Math.min(r1, r + rows), t, te, y, ldy);
            }
        }
    }

    private void callF32(Weights weights, MemorySegment w, MemorySegment x, int k, int r0, int r1, int t0, int t1,
                         MemorySegment y, int ldy) {
        try {
            if (selected) {
                if (weights == Weights.Q8_0) {
                    Q8_0_F32.invokeExact(w, x, k, r0, r1, t0, t1, y, (long) ldy);
                } else {
                    Q4_0_F32.invokeExact(w, x, k, r0, r1, t0, t1, y, (long) ldy);
                }
            } else {
                (weights == Weights.Q8_0 ? q8f : q4f).invokeExact(w, x, k, r0, r1, t0, t1, y, (long) ldy);
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new AssertionError("native " + weights.f32Symbol + " failed", e);
        }
    }

    static void checkRanges(int r0, int r1, int t0, int t1, MemorySegment y, int ldy) {
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

    static void need(String name, MemorySegment s, long bytes) {
        if (s.byteSize() < bytes) {
            throw new IllegalArgumentException(name + " holds " + s.byteSize() + " bytes, the ranges need " + bytes);
        }
    }

    static void aligned(String name, MemorySegment s) {
        if (s.maxByteAlignment() < 4) {
            throw new IllegalArgumentException(name + " must be 4-byte aligned for fp32 values, got address " + s.address());
        }
    }
}

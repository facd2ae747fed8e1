package dev.lowbit.kernels;

import dev.lowbit.format.Codebooks;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.bindings.nativelib.GuardPages;
import dev.lowbit.bindings.nativelib.NativeLibrary;
import dev.lowbit.bindings.nativelib.NativeLibrary.Tier;
import dev.lowbit.bindings.nativelib.NativeQuant;
import dev.lowbit.kernels.impl.NativeQuantKernels;
import dev.lowbit.kernels.impl.ScalarQuantKernels;
import dev.lowbit.testkit.Formats;
import dev.lowbit.testkit.Inputs;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The native kernels at every tier this CPU runs return exactly what the scalar reference returns: codes, scales,
 * zero points, dequantized floats, statistics, non-finite positions and errors. The guard-page tests call the
 * downcalls on native memory that ends (or starts) at an inaccessible page, so an out-of-bounds access crashes.
 */
class NativeQuantTest {
    private static final QuantOps SCALAR = new QuantOps(ScalarQuantKernels.INSTANCE, ThreadPool.callerThread());

    static NativeQuantKernels kernelsOrSkip(Tier t) {
        Assumptions.assumeTrue(NativeLibrary.available(),
                () -> "skipped: the native library is unavailable: " + NativeLibrary.unavailableReason());
        Assumptions.assumeTrue(t.compareTo(NativeLibrary.hardwareTier()) <= 0,
                () -> "skipped: this CPU runs tiers up to " + NativeLibrary.hardwareTier().suffix() + ", not " + t.suffix());
        return NativeQuantKernels.forTier(t);
    }

    static Stream<Arguments> tiersAndFormats() {
        List<Arguments> out = new ArrayList<>();
        for (Tier t : Tier.values()) {
            for (QuantFormat f : Formats.all()) {
                out.add(Arguments.of(t, f));
            }
        }
        return out.stream();
    }

    static List<QuantFormat> formats() {
        return Formats.all();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("tiersAndFormats")
    void everyRowLength(Tier t, QuantFormat f) {
        QuantOps nat = new QuantOps(kernelsOrSkip(t), ThreadPool.callerThread());
        long seed = 31L * t.ordinal() + f.hashCode();
        for (int cols : Formats.COLS) {
            for (int rows : new int[] {1, 3}) {
                VectorMatchesScalarTest.compare(SCALAR, nat, f, Inputs.gaussian(seed + cols, rows * cols), rows, cols);
                VectorMatchesScalarTest.compare(SCALAR, nat, f, Inputs.tricky(seed + cols, rows * cols), rows, cols);
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("tiersAndFormats")
    void boundaryRows(Tier t, QuantFormat f) {
        QuantOps nat = new QuantOps(kernelsOrSkip(t), ThreadPool.callerThread());
        for (float[] row : BoundaryTest.ROWS) {
            float[] rev = new float[row.length];
            for (int i = 0; i < row.length; i++) {
                rev[i] = row[row.length - 1 - i];
            }
            VectorMatchesScalarTest.compare(SCALAR, nat, f, row, 1, row.length);
            VectorMatchesScalarTest.compare(SCALAR, nat, f, rev, 1, rev.length);
        }
    }

    @ParameterizedTest(name = "{0}, over 10^6 values, every tier")
    @MethodSource("formats")
    void overAMillionValuesOnTwoThreads(QuantFormat f) {
        Assumptions.assumeTrue(NativeLibrary.available(), () -> "skipped: " + NativeLibrary.unavailableReason());
        int rows = 1031;
        int cols = 977; // 1,007,287 values, every dimension with a tail
        float[] x = Inputs.gaussian(99, rows * cols);
        ThreadPool pool = ThreadPool.forkJoin(2);
        try (Arena arena = Arena.ofShared()) {
            QuantizedTensor ref = SCALAR.quantize(f, x, rows, cols, arena);
            float[] want = new float[x.length];
            SCALAR.dequantize(ref, want);
            for (Tier t : Tier.values()) {
                if (t.compareTo(NativeLibrary.hardwareTier()) > 0) {
                    continue;
                }
                QuantOps nat = new QuantOps(NativeQuantKernels.forTier(t), pool);
                QuantizedTensor got = nat.quantize(f, x, rows, cols, arena);
                String where = t.suffix() + " " + f;
                VectorMatchesScalarTest.assertPlaneEquals(where + " data", ref.data(), got.data());
                VectorMatchesScalarTest.assertPlaneEquals(where + " scales", ref.scales(), got.scales());
                VectorMatchesScalarTest.assertPlaneEquals(where + " zeros", ref.zeros(), got.zeros());
                float[] y = new float[x.length];
                nat.dequantize(ref, y);
                assertBitsEqual(where + " dequantized", want, y);
            }
        } finally {
            pool.close();
        }
    }

    static Stream<Arguments> tiersAndSomeFormats() {
        List<Arguments> out = new ArrayList<>();
        for (Tier t : Tier.values()) {
            for (QuantFormat f : List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1,
                    QuantFormat.grouped(4, 64, false, ScaleType.F16), QuantFormat.grouped(3, QuantFormat.ROW, true,
                            ScaleType.F32), QuantFormat.grouped(8, 32, true, ScaleType.F32),
                    QuantFormat.codebook4(64, ScaleType.F16))) {
                out.add(Arguments.of(t, f));
            }
        }
        return out.stream();
    }

    /** A row with a NaN or an infinity anywhere is refused exactly when the reference refuses it, at the same index. */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("tiersAndSomeFormats")
    void nonFiniteRowsAreFound(Tier t, QuantFormat f) {
        NativeQuantKernels k = kernelsOrSkip(t);
        Codebook cb = f.kind() == QuantFormat.Kind.CODEBOOK4 ? Codebook.of(Codebooks.nf4()) : null;
        for (int cols : new int[] {1, 17, 32, 33, 100, 129}) {
            int gpr = Math.max(1, f.groupsPerRow(cols));
            for (float bad : new float[] {Float.NaN, Float.intBitsToFloat(0xFFC00001), Float.POSITIVE_INFINITY,
                    Float.NEGATIVE_INFINITY}) {
                for (int at = 0; at < cols; at += Math.max(1, cols / 7)) {
                    float[] x = Inputs.gaussian(cols + at, cols + 3);
                    x[2 + at] = bad;
                    byte[] row = new byte[(int) f.rowBytes(cols)];
                    boolean ok = k.quantizeRow(f, cb, x, 2, cols, row, new float[gpr], new float[gpr]);
                    assertEquals(false, ok, t + " " + f + " cols " + cols + " bad at " + at);
                    assertEquals(ScalarQuantKernels.INSTANCE.firstNonFinite(x, 2, cols), k.firstNonFinite(x, 2, cols));
                }
                float[] x = Inputs.gaussian(cols, cols);
                assertEquals(-1, k.firstNonFinite(x, 0, cols));
            }
        }
    }

    /**
     * The ggml formats go through one native pass over many rows (quantizeGgmlRows), which stops at a row with a
     * NaN or an infinity and hands it to the row path: the message (REJECT) and every byte (CLAMP) are the
     * reference's, also when the bad row comes after a call's worth of good ones.
     */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void nonFiniteRowsStopTheBulkPassWhereTheReferenceStops(Tier t) {
        QuantOps nat = new QuantOps(kernelsOrSkip(t), ThreadPool.callerThread());
        int cols = 100;
        int rows = 3000; // more than one native call (2^18 values each)
        try (Arena arena = Arena.ofConfined()) {
            for (QuantFormat f : List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1)) {
                for (int badRow : new int[] {0, 5, 2700}) {
                    float[] x = Inputs.gaussian(badRow + f.hashCode(), rows * cols);
                    x[badRow * cols + 37] = Float.NaN;
                    x[(badRow + 1) * cols + 3] = Float.NEGATIVE_INFINITY;
                    IllegalArgumentException want = assertThrows(IllegalArgumentException.class,
                            () -> SCALAR.quantize(f, x, rows, cols, arena));
                    IllegalArgumentException got = assertThrows(IllegalArgumentException.class,
                            () -> nat.quantize(f, x, rows, cols, arena));
                    assertEquals(want.getMessage(), got.getMessage(), t + " " + f + " bad row " + badRow);
                    QuantOptions clamp = QuantOptions.DEFAULT.withNonFinite(NonFinitePolicy.CLAMP);
                    QuantizedTensor a = SCALAR.quantize(f, x, rows, cols, arena, clamp);
                    QuantizedTensor b = nat.quantize(f, x, rows, cols, arena, clamp);
                    VectorMatchesScalarTest.assertPlaneEquals(t + " " + f + " clamped, bad row " + badRow, a.data(),
                            b.data());
                }
            }
        }
    }

    /**
     * Q8_0 takes 16 whole blocks at a time through a vector step (AVX-512) when every block has a plain scale, and
     * the scalar steps otherwise. Chunks here mix zero blocks, exact ties, magnitudes up to fp16's largest scale,
     * one block whose scale needs widening, one with a NaN, and each block's maximum in a different lane, so that
     * a block landing in the wrong lane or a chunk wrongly taken as plain shows up.
     */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void q8_0ChunksOfSixteenBlocks(Tier t) {
        QuantOps nat = new QuantOps(kernelsOrSkip(t), ThreadPool.callerThread());
        int cols = 16 * 32 * 3 + 40; // three whole chunks and a tail
        int rows = 8;
        float[] x = Inputs.gaussian(5, rows * cols);
        for (int r = 0; r < rows; r++) {
            for (int b = 0; b < 48; b++) {
                int at = r * cols + b * 32;
                x[at + (b * 7 + r) % 32] = (b + 1) * 10f; // the block's maximum, at a lane that moves
                if (b % 5 == r % 5) {
                    java.util.Arrays.fill(x, at, at + 32, 0f); // zero block
                }
                if (b % 11 == 3) {
                    for (int j = 0; j < 32; j++) {
                        x[at + j] = (j - 16) * 0.5f + (r == 2 ? 0.25f : 0f); // exact ties
                    }
                }
            }
            if (r == 3) {
                x[r * cols + 20 * 32 + 5] = 127f * 65504f; // the largest plain fp16 scale
            }
            if (r == 4) {
                for (int j = 0; j < 32; j++) {
                    x[r * cols + 17 * 32 + j] = 1e-7f * (j + 1); // needs widening: this chunk takes the scalar steps
                }
            }
        }
        VectorMatchesScalarTest.compare(SCALAR, nat, QuantFormat.Q8_0, x, rows, cols);
        float[] bad = x.clone();
        bad[6 * cols + 33 * 32 + 9] = Float.NaN;
        QuantOptions clamp = QuantOptions.DEFAULT.withNonFinite(NonFinitePolicy.CLAMP);
        try (Arena arena = Arena.ofConfined()) {
            VectorMatchesScalarTest.assertPlaneEquals(t + " q8_0 with a NaN, clamped",
                    SCALAR.quantize(QuantFormat.Q8_0, bad, rows, cols, arena, clamp).data(),
                    nat.quantize(QuantFormat.Q8_0, bad, rows, cols, arena, clamp).data());
        }
    }

    /** Groups that need a scale the type cannot hold fail as the reference fails, with its message. */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void scalesOutOfRangeFailLikeTheReference(Tier t) {
        QuantOps nat = new QuantOps(kernelsOrSkip(t), ThreadPool.callerThread());
        float[] big = new float[64];
        big[40] = 1e7f;
        float[] negative = new float[64];
        negative[3] = -70000f;
        float[] huge = {Float.MAX_VALUE, -Float.MAX_VALUE};
        Object[][] cases = {
            {QuantFormat.Q8_0, big, 2, 32},
            {QuantFormat.Q4_1, negative, 1, 64},
            {QuantFormat.grouped(8, 32, true, ScaleType.F16), big, 2, 32},
            {QuantFormat.grouped(4, 32, false, ScaleType.F32), huge, 1, 2},
            {QuantFormat.codebook4(32, ScaleType.F16), big, 2, 32},
        };
        try (Arena arena = Arena.ofConfined()) {
            for (Object[] c : cases) {
                QuantFormat f = (QuantFormat) c[0];
                float[] x = (float[]) c[1];
                int rows = (int) c[2];
                int cols = (int) c[3];
                IllegalArgumentException want = assertThrows(IllegalArgumentException.class,
                        () -> SCALAR.quantize(f, x, rows, cols, arena));
                IllegalArgumentException got = assertThrows(IllegalArgumentException.class,
                        () -> nat.quantize(f, x, rows, cols, arena));
                assertEquals(want.getMessage(), got.getMessage(), t + " " + f);
            }
        }
    }

    /**
     * Min, max and absmax bit for bit, infinities and signed zeros included; a NaN matches any NaN, since the JIT's
     * Math.min/max intrinsics may return a canonical NaN where the interpreter returns the operand's.
     */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void groupStatsMatch(Tier t) {
        NativeQuantKernels k = kernelsOrSkip(t);
        SplittableRandom r = new SplittableRandom(7);
        float[] special = {0f, -0f, Float.NaN, Float.intBitsToFloat(0x7FC00123), Float.intBitsToFloat(0xFFC00001),
            Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MIN_VALUE, -Float.MAX_VALUE};
        for (int len : new int[] {0, 1, 7, 31, 32, 33, 100, 257, 1000}) {
            for (int gl : new int[] {1, 7, 16, 32, 33, 64, 128, Math.max(len, 1)}) {
                for (int trial = 0; trial < 4; trial++) {
                    float[] x = new float[len + 5];
                    for (int i = 0; i < x.length; i++) {
                        x[i] = trial > 0 && r.nextInt(40) == 0 ? special[r.nextInt(special.length)]
                                : (float) r.nextGaussian();
                        if (trial == 3) {
                            x[i] = r.nextBoolean() ? 0f : -0f;
                        }
                    }
                    int groups = (len + gl - 1) / gl;
                    float[][] a = {new float[groups + 2], new float[groups + 2], new float[groups + 2]};
                    float[][] b = {new float[groups + 2], new float[groups + 2], new float[groups + 2]};
                    ScalarQuantKernels.INSTANCE.groupStats(x, 3, len, gl, a[0], a[1], a[2], 1);
                    k.groupStats(x, 3, len, gl, b[0], b[1], b[2], 1);
                    for (int s = 0; s < 3; s++) {
                        for (int i = 0; i < a[s].length; i++) {
                            if (Float.isNaN(a[s][i]) && Float.isNaN(b[s][i])) {
                                b[s][i] = a[s][i];
                            }
                        }
                        assertBitsEqual(t + " stats " + s + " len " + len + " group " + gl, a[s], b[s]);
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- guard pages

    static Stream<Arguments> guardCases() {
        return tiersAndFormats();
    }

    /**
     * Quantize and dequantize on native memory against guard pages: the source, every output plane, the codebook
     * tables and the destination each end exactly at a PROT_NONE page (the source also starts right after one).
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("guardCases")
    void guardPages(Tier t, QuantFormat f) {
        kernelsOrSkip(t);
        NativeQuant nq = NativeQuant.forTier(t);
        for (int cols : new int[] {0, 1, 7, 31, 33, 129, 257}) {
            int rows = 3;
            float[] x = Inputs.tricky(cols * 7L + t.ordinal(), rows * cols);
            for (boolean startGuard : new boolean[] {false, true}) {
                try (GuardPages g = new GuardPages(); Arena arena = Arena.ofConfined()) {
                    guardedRoundTrip(nq, f, x, rows, cols, g, startGuard, arena);
                }
            }
        }
    }

    private static void guardedRoundTrip(NativeQuant nq, QuantFormat f, float[] x, int rows, int cols, GuardPages g,
                                         boolean srcAfterGuard, Arena arena) {
        String where = nq.tier().suffix() + " " + f + " " + rows + "x" + cols;
        QuantizedTensor ref = SCALAR.quantize(f, x, rows, cols, arena);
        long n = (long) rows * cols;
        MemorySegment src = srcAfterGuard ? g.startingAfterGuard(4 * n) : g.endingAtGuard(4 * n);
        MemorySegment.copy(x, 0, src, ValueLayout.JAVA_FLOAT, 0, (int) n);
        int gpr = f.groupsPerRow(cols);
        MemorySegment dst = g.endingAtGuard(rows * f.rowBytes(cols));
        MemorySegment scales = g.endingAtGuard(4L * rows * gpr);
        MemorySegment zeros = g.endingAtGuard(4L * rows * gpr);
        MemorySegment mid = MemorySegment.NULL;
        float reach = 0f;
        MemorySegment levels = MemorySegment.NULL;
        if (f.kind() == QuantFormat.Kind.CODEBOOK4) {
            Codebook cb = Codebook.of(Codebooks.nf4());
            mid = g.copyEndingAtGuard(MemorySegment.ofArray(cb.midpoints()));
            reach = cb.reach();
            levels = g.copyEndingAtGuard(MemorySegment.ofArray(cb.levels()));
        }
        assertEquals(0L, nq.quantize(f, src, 0, rows, cols, dst, scales, zeros, mid, reach), where);
        VectorMatchesScalarTest.assertPlaneEquals(where + " data", ref.data(), dst);
        for (int r = 0; r < rows; r++) {
            for (int gi = 0; gi < gpr && !f.isGgml(); gi++) {
                int i = r * gpr + gi;
                assertEquals(Float.floatToRawIntBits(Reference.scale(ref, r, gi)),
                        Float.floatToRawIntBits(scales.getAtIndex(ValueLayout.JAVA_FLOAT, i)), where + " scale " + i);
                if (f.hasZeroPlane()) {
                    assertEquals(Float.floatToRawIntBits(Reference.zero(ref, r, gi)),
                            Float.floatToRawIntBits(zeros.getAtIndex(ValueLayout.JAVA_FLOAT, i)), where + " zero " + i);
                }
            }
        }

        float[] want = new float[(int) n];
        SCALAR.dequantize(ref, want);
        MemorySegment data = g.copyEndingAtGuard(ref.data());
        MemorySegment sc = ref.scales() == null ? MemorySegment.NULL : g.copyEndingAtGuard(ref.scales());
        MemorySegment ze = ref.zeros() == null ? MemorySegment.NULL : g.copyEndingAtGuard(ref.zeros());
        MemorySegment out = g.endingAtGuard(4 * n);
        nq.dequantize(f, data, sc, ze, levels, 0, rows, cols, out, 0);
        assertBitsEqual(where + " dequantized", want, out.toArray(ValueLayout.JAVA_FLOAT));
        if (rows > 1) { // the last rows alone, into a destination that ends at the guard
            MemorySegment tail = g.endingAtGuard(4L * (rows - 1) * cols);
            nq.dequantize(f, data, sc, ze, levels, 1, rows - 1, cols, tail, 0);
            float[] got = tail.toArray(ValueLayout.JAVA_FLOAT);
            for (int i = 0; i < got.length; i++) {
                if (Float.floatToRawIntBits(got[i]) != Float.floatToRawIntBits(want[cols + i])) {
                    fail(where + " rows 1.. dequantized value " + i);
                }
            }
        }

        int gl = Math.max(1, f.groupLength(cols));
        long groups = (n + gl - 1) / gl;
        MemorySegment min = g.endingAtGuard(4 * groups);
        MemorySegment max = g.endingAtGuard(4 * groups);
        MemorySegment abs = g.endingAtGuard(4 * groups);
        nq.groupStats(src, 0, n, gl, min, max, abs, 0);
        float[][] ref3 = {new float[(int) groups], new float[(int) groups], new float[(int) groups]};
        ScalarQuantKernels.INSTANCE.groupStats(x, 0, (int) n, gl, ref3[0], ref3[1], ref3[2], 0);
        assertBitsEqual(where + " min", ref3[0], min.toArray(ValueLayout.JAVA_FLOAT));
        assertBitsEqual(where + " max", ref3[1], max.toArray(ValueLayout.JAVA_FLOAT));
        assertBitsEqual(where + " absmax", ref3[2], abs.toArray(ValueLayout.JAVA_FLOAT));
        assertEquals(-1L, nq.firstNonFinite(src, 0, n), where);
    }

    /** Lengths and offsets are checked before the call. */
    @ParameterizedTest
    @EnumSource(Tier.class)
    void badArgumentsAreRefusedBeforeTheCall(Tier t) {
        kernelsOrSkip(t);
        NativeQuant nq = NativeQuant.forTier(t);
        MemorySegment src = MemorySegment.ofArray(new float[64]);
        MemorySegment dst = MemorySegment.ofArray(new byte[68]);
        assertThrows(IllegalArgumentException.class,
                () -> nq.quantize(QuantFormat.Q8_0, src, 1, 1, 64, dst, null, null, null, 0f));
        assertThrows(IllegalArgumentException.class,
                () -> nq.quantize(QuantFormat.Q8_0, src, 0, 1, 64, dst.asSlice(1), null, null, null, 0f));
        assertThrows(IllegalArgumentException.class,
                () -> nq.quantize(QuantFormat.Q8_0, src, -1, 1, 32, dst, null, null, null, 0f));
        assertThrows(IllegalArgumentException.class,
                () -> nq.quantize(QuantFormat.Q8_0, src, 0, 1, 64, dst.asReadOnly(), null, null, null, 0f));
        QuantFormat g = QuantFormat.grouped(4, 32, false, ScaleType.F16);
        MemorySegment sc = MemorySegment.ofArray(new float[2]);
        assertThrows(IllegalArgumentException.class,
                () -> nq.quantize(g, src, 0, 1, 64, dst, sc, MemorySegment.ofArray(new float[1]), null, 0f));
        assertThrows(IllegalArgumentException.class,
                () -> nq.dequantize(QuantFormat.Q8_0, dst, null, null, null, 1, 1, 64, MemorySegment.ofArray(new float[64]), 0));
        assertThrows(IllegalArgumentException.class,
                () -> nq.dequantize(QuantFormat.Q8_0, dst, null, null, null, 0, 1, 64, MemorySegment.ofArray(new float[64]), 1));
        assertThrows(IllegalArgumentException.class,
                () -> nq.groupStats(src, 0, 64, 0, sc, sc, sc, 0));
        assertThrows(IllegalArgumentException.class,
                () -> nq.groupStats(src, 0, 64, 32, sc, sc, sc, 1));
        assertThrows(IllegalArgumentException.class, () -> nq.firstNonFinite(src, 60, 5));
    }

    static void assertBitsEqual(String what, float[] want, float[] got) {
        assertEquals(want.length, got.length, what + " length");
        for (int i = 0; i < want.length; i++) {
            if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i])) {
                fail(what + " differ at " + i + ": reference " + want[i] + " (" + Integer.toHexString(
                        Float.floatToRawIntBits(want[i])) + "), native " + got[i] + " ("
                        + Integer.toHexString(Float.floatToRawIntBits(got[i])) + ")");
            }
        }
    }
}

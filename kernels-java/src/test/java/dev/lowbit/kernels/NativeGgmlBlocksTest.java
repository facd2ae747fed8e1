package dev.lowbit.kernels;

import dev.lowbit.bindings.nativelib.NativeLibrary;
import dev.lowbit.bindings.nativelib.NativeLibrary.Tier;
import dev.lowbit.bindings.nativelib.NativeQuant;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.impl.GroupParams;
import dev.lowbit.kernels.impl.NativeQuantKernels;
import dev.lowbit.kernels.impl.ScalarQuantKernels;
import dev.lowbit.testkit.Ggml;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * ggml's blocks Q5_0, Q5_1, IQ4_NL, Q2_K ... Q6_K and Q8_K at every native tier this CPU runs, against the real
 * ggml ({@link Ggml}): the bytes of {@code ggml_quantize_chunk} without an importance matrix (Q8_K: ggml's
 * {@code quantize_row_q8_K_ref}), the floats of ggml's dequantization of those bytes (the scalar reference's
 * dequantization too), rows that hold a NaN or an infinity reported, and a block whose fp16 scale or minimum
 * overflows (where ggml stores an infinity) refused.
 * The inputs are seeded rows of 256, 512 and 4096 values: Gaussian and uniform at magnitudes from 1e-30 to 3e4,
 * blocks of zeros, zeros but one value, one outlier, constant and one-sided blocks, ± about the largest magnitude
 * whose fp16 scale the format stores, ties on steps of 0.5, subnormals.
 */
class NativeGgmlBlocksTest {
    private static final int[] COLS = {256, 512, 4096};

    @BeforeAll
    static void ggml() {
        String why = Ggml.unavailable();
        Assumptions.assumeTrue(why == null, () -> "skipped: " + why);
        Assumptions.assumeTrue(NativeLibrary.available(),
                () -> "skipped: the native library is unavailable: " + NativeLibrary.unavailableReason());
    }

    /** A format, its ggml type, and about the largest magnitude whose fp16 scale (and minimum) it stores. */
    record Case(QuantFormat format, Ggml.Type type, float big) {
        @Override
        public String toString() {
            return format.kind().name();
        }
    }

    static Stream<Case> formats() {
        return Stream.of(new Case(QuantFormat.Q5_0, Ggml.Type.Q5_0, 1e6f),
                new Case(QuantFormat.Q5_1, Ggml.Type.Q5_1, 65000f),
                new Case(QuantFormat.IQ4_NL, Ggml.Type.IQ4_NL, 7e6f),
                new Case(QuantFormat.Q2_K, Ggml.Type.Q2_K, 9e5f),
                new Case(QuantFormat.Q3_K, Ggml.Type.Q3_K, 8e6f),
                new Case(QuantFormat.Q4_K, Ggml.Type.Q4_K, 4e6f),
                new Case(QuantFormat.Q5_K, Ggml.Type.Q5_K, 4e6f),
                new Case(QuantFormat.Q6_K, Ggml.Type.Q6_K, 2e8f),
                new Case(QuantFormat.Q8_K, Ggml.Type.Q8_K, 3e37f));
    }

    // ---------------------------------------------------------------- the implementations under test

    /** A quantizer of ggml rows under test, with the kernels that dequantize and run {@link QuantOps}. */
    interface Impl {
        String name();

        QuantKernels kernels();

        /**
         * Quantizes {@code rows x cols} values into {@code out}: 0 when done, {@code r + 1} when row {@code r} holds
         * a NaN or an infinity, {@code -(r + 1)} when a block of row {@code r} needs a scale fp16 cannot store.
         */
        long quantize(QuantFormat f, float[] x, int rows, int cols, byte[] out);
    }

    /** A native tier: its rows straight through the binding, as {@code NativeQuantKernels} sends them. */
    static Impl nativeTier(Tier t) {
        NativeQuant nq = NativeQuant.forTier(t);
        NativeQuantKernels k = NativeQuantKernels.forTier(t);
        return new Impl() {
            public String name() {
                return k.name();
            }

            public QuantKernels kernels() {
                return k;
            }

            public long quantize(QuantFormat f, float[] x, int rows, int cols, byte[] out) {
                return nq.quantize(f, MemorySegment.ofArray(x), 0, rows, cols, MemorySegment.ofArray(out),
                        MemorySegment.NULL, MemorySegment.NULL, MemorySegment.NULL, 0f);
            }
        };
    }

    /** Any kernels, row by row through {@link QuantKernels#quantizeRow}, a refusal being its exception. */
    static Impl kernels(QuantKernels k) {
        return new Impl() {
            public String name() {
                return k.name();
            }

            public QuantKernels kernels() {
                return k;
            }

            public long quantize(QuantFormat f, float[] x, int rows, int cols, byte[] out) {
                int rb = (int) f.rowBytes(cols);
                byte[] row = new byte[rb];
                for (int r = 0; r < rows; r++) {
                    try {
                        if (!k.quantizeRow(f, null, x, r * cols, cols, row, null, null)) {
                            return r + 1;
                        }
                    } catch (GroupParams.ScaleRangeException e) {
                        return -(r + 1);
                    }
                    System.arraycopy(row, 0, out, r * rb, rb);
                }
                return 0;
            }
        };
    }

    /** Every native tier this CPU runs (the scalar reference joins through {@link #kernels} once it has them). */
    static List<Impl> implementations() {
        List<Impl> out = new ArrayList<>();
        for (Tier t : Tier.values()) {
            if (t.compareTo(NativeLibrary.hardwareTier()) <= 0) {
                out.add(nativeTier(t));
            }
        }
        out.add(kernels(ScalarQuantKernels.INSTANCE)); // the reference, on the same inputs
        return out;
    }

    /** The dequantizers: every implementation's kernels, and the scalar reference's ({@code Reference}). */
    static List<QuantKernels> dequantizers() {
        List<QuantKernels> out = new ArrayList<>();
        out.add(ScalarQuantKernels.INSTANCE);
        for (Impl impl : implementations()) {
            out.add(impl.kernels());
        }
        return out;
    }

    // ---------------------------------------------------------------- ggml

    private static MethodHandle q8kRef;
    private static MethodHandle q8kToFloat;

    private static synchronized MethodHandle q8k(boolean quantize) {
        if (q8kRef == null) {
            SymbolLookup base = SymbolLookup.libraryLookup(Ggml.get().location().resolve("libggml-base.so"),
                    Arena.global());
            FunctionDescriptor d = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_LONG);
            q8kRef = Linker.nativeLinker().downcallHandle(base.find("quantize_row_q8_K_ref").orElseThrow(), d);
            q8kToFloat = Linker.nativeLinker().downcallHandle(base.find("dequantize_row_q8_K").orElseThrow(), d);
        }
        return quantize ? q8kRef : q8kToFloat;
    }

    /** ggml's bytes of {@code x}; Q8_K through {@code quantize_row_q8_K_ref} into zeroed memory. */
    static byte[] ggmlQuantize(Case c, float[] x, int rows, int cols) {
        if (c.type != Ggml.Type.Q8_K) {
            return Ggml.get().quantize(c.type, x, rows, cols);
        }
        long bytes = c.format.rowBytes(cols) * rows;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment in = a.allocateFrom(ValueLayout.JAVA_FLOAT, x);
            MemorySegment out = a.allocate(bytes, 64);
            q8k(true).invokeExact(in, out, (long) x.length);
            return out.toArray(ValueLayout.JAVA_BYTE);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    static float[] ggmlDequantize(Case c, byte[] data, int n) {
        if (c.type != Ggml.Type.Q8_K) {
            return Ggml.get().dequantize(c.type, data, n);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment in = a.allocateFrom(ValueLayout.JAVA_BYTE, data);
            MemorySegment out = a.allocate(4L * n, 64);
            q8k(false).invokeExact(in, out, (long) n);
            return out.toArray(ValueLayout.JAVA_FLOAT);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Byte offsets of a block's fp16 scales and minima. */
    static int[] halfFields(QuantFormat.Kind k) {
        return switch (k) {
            case Q5_0, IQ4_NL -> new int[] {0};
            case Q5_1, Q4_K, Q5_K -> new int[] {0, 2};
            case Q2_K -> new int[] {80, 82};
            case Q3_K -> new int[] {108};
            case Q6_K -> new int[] {208};
            default -> new int[0];
        };
    }

    /** Whether ggml stored an infinite (or NaN) fp16 scale or minimum in row {@code r}: lowbit refuses that row. */
    static boolean overflows(QuantFormat f, byte[] data, int r, int cols) {
        int bb = f.kind().blockBytes();
        int blocks = cols / f.kind().blockElements();
        for (int b = r * blocks; b < (r + 1) * blocks; b++) {
            for (int o : halfFields(f.kind())) {
                int h = (data[b * bb + o] & 0xFF) | (data[b * bb + o + 1] & 0xFF) << 8;
                if ((h & 0x7C00) == 0x7C00) {
                    return true;
                }
            }
        }
        return false;
    }

    // ---------------------------------------------------------------- inputs

    /** A named input of {@code rows x cols} values, generated from {@code seed}. */
    record Input(String name, long seed, float[] x, int rows, int cols) {
        @Override
        public String toString() {
            return name + " (seed " + seed + ", " + rows + " x " + cols + ")";
        }
    }

    static List<Input> inputs(Case c) {
        List<Input> out = new ArrayList<>();
        long seed = 1000L * c.format.kind().ordinal();
        float[] mags = {1e-3f, 1f, 1e3f, 1e-30f, 3e4f};
        for (int cols : COLS) {
            int rows = cols == 4096 ? 2 : 4;
            for (float m : mags) {
                long s = ++seed;
                SplittableRandom r = new SplittableRandom(s);
                float[] g = new float[rows * cols];
                float[] u = new float[rows * cols];
                for (int i = 0; i < g.length; i++) {
                    g[i] = (float) r.nextGaussian() * m;
                    u[i] = (float) (r.nextDouble() * 2 - 1) * m;
                }
                out.add(new Input("gaussian x " + m, s, g, rows, cols));
                out.add(new Input("uniform x " + m, s, u, rows, cols));
            }
            long s = ++seed;
            out.add(new Input("block edges", s, edges(c, new SplittableRandom(s), rows, cols), rows, cols));
        }
        return out;
    }

    /** Blocks of 32 (inside the super-blocks too) that each take one edge case, in turn. */
    static float[] edges(Case c, SplittableRandom r, int rows, int cols) {
        float big = c.big;
        float[] x = new float[rows * cols];
        for (int i = 0; i < x.length; i++) {
            int block = i / 32;
            int j = i % 32;
            x[i] = switch (block % 14) {
                case 0 -> 0f;                                                              // all zeros
                case 1 -> j == 9 ? -0.75f : 0f;                                            // zeros but one
                case 2 -> j == 7 ? 1000f : (float) r.nextGaussian() * 1e-3f;                 // one outlier
                case 3 -> j == 0 ? -big : (float) r.nextGaussian() * big / 10;              // -max first
                case 4 -> j == 31 ? big : (float) r.nextGaussian() * big / 10;              // +max last
                case 5 -> j % 2 == 0 ? big : -big;                                         // +-max
                case 6 -> -3f;                                                             // constant
                case 7 -> 2.5f;                                                            // constant, positive
                case 8 -> (float) Math.abs(r.nextGaussian());                              // all positive
                case 9 -> (float) -Math.abs(r.nextGaussian()) * 7;                         // all negative
                case 10 -> (r.nextInt(17) - 8) * 0.5f;                                     // ties
                case 11 -> j - 16f;                                                        // a ramp through 0
                case 12 -> (float) r.nextGaussian() * 1e-39f;                              // subnormals
                default -> j % 3 == 1 ? -1e-40f : 1e-40f;                                  // subnormal extremes
            };
        }
        return x;
    }

    // ---------------------------------------------------------------- tests

    @ParameterizedTest(name = "{0}")
    @MethodSource("formats")
    void quantizeGivesGgmlsBytes(Case c) {
        QuantFormat f = c.format;
        for (Input in : inputs(c)) {
            byte[] want = ggmlQuantize(c, in.x, in.rows, in.cols);
            int rb = (int) f.rowBytes(in.cols);
            for (Impl impl : implementations()) {
                boolean anyRefused = false;
                for (int r = 0; r < in.rows; r++) { // one row at a time, so that each row's refusal shows
                    float[] row = Arrays.copyOfRange(in.x, r * in.cols, (r + 1) * in.cols);
                    byte[] got = new byte[rb];
                    long st = impl.quantize(f, row, 1, in.cols, got);
                    if (overflows(f, want, r, in.cols)) {
                        assertEquals(-1, st, c + " " + in + " row " + r + " with " + impl.name()
                                + ": ggml stores an infinite fp16 scale, which lowbit refuses");
                        anyRefused = true;
                        continue;
                    }
                    assertEquals(0, st, c + " " + in + " row " + r + " with " + impl.name());
                    compare(c, in, impl.name(), Arrays.copyOfRange(want, r * rb, (r + 1) * rb), got, r * rb);
                }
                if (!anyRefused) { // all rows in one call, and through QuantOps' multi-row pass
                    byte[] got = new byte[want.length];
                    assertEquals(0, impl.quantize(f, in.x, in.rows, in.cols, got), c + " " + in + " " + impl.name());
                    compare(c, in, impl.name() + " (all rows)", want, got, 0);
                    try (Arena a = Arena.ofConfined()) {
                        QuantizedTensor t = new QuantOps(impl.kernels(), ThreadPool.callerThread())
                                .quantize(f, in.x, in.rows, in.cols, a);
                        compare(c, in, impl.name() + " (QuantOps)", want, t.data().toArray(ValueLayout.JAVA_BYTE), 0);
                    }
                }
            }
        }
    }

    private static void compare(Case c, Input in, String who, byte[] want, byte[] got, int base) {
        assertEquals(want.length, got.length, c + " " + in + " " + who + ": bytes");
        for (int i = 0; i < want.length; i++) {
            if (want[i] != got[i]) {
                int bb = c.format.kind().blockBytes();
                fail(c + " " + in + " with " + who + ": byte " + (base + i) + " (block " + (base + i) / bb
                        + ", offset " + (base + i) % bb + ") is " + got[i] + ", ggml wrote " + want[i]);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("formats")
    void dequantizeGivesGgmlsFloats(Case c) {
        for (Input in : inputs(c)) {
            byte[] blocks = ggmlQuantize(c, in.x, in.rows, in.cols);
            float[] want = ggmlDequantize(c, blocks, in.x.length);
            for (QuantKernels k : dequantizers()) {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment data = a.allocate(blocks.length, 64);
                    data.copyFrom(MemorySegment.ofArray(blocks));
                    QuantizedTensor t = QuantizedTensor.of(c.format, in.rows, in.cols, data, null, null, null);
                    float[] got = new float[in.x.length];
                    for (int r = 0; r < in.rows; r++) {
                        k.dequantizeRow(t, r, got, r * in.cols);
                    }
                    for (int i = 0; i < want.length; i++) {
                        if (Float.floatToIntBits(want[i]) != Float.floatToIntBits(got[i])) {
                            fail(c + " " + in + " with " + k.name() + ": value " + i + " is " + got[i]
                                    + ", ggml's is " + want[i]);
                        }
                    }
                }
            }
        }
    }

    /** Rows at 1e9, whose fp16 scales overflow: ggml stores an infinity, every implementation refuses the row. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("formats")
    void overflowingScalesAreRefused(Case c) {
        QuantFormat f = c.format;
        Assumptions.assumeTrue(halfFields(f.kind()).length > 0, () -> "skipped: " + c + " stores an fp32 scale");
        int cols = 512;
        long seed = 99L + c.format.kind().ordinal();
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] x = new float[cols];
        for (int i = 0; i < cols; i++) {
            x[i] = (float) rnd.nextGaussian() * 1e9f;
        }
        byte[] want = ggmlQuantize(c, x, 1, cols);
        assertTrue(overflows(f, want, 0, cols), c + " (seed " + seed + "): ggml's fp16 scale of a row at 1e9");
        for (Impl impl : implementations()) {
            assertEquals(-1, impl.quantize(f, x, 1, cols, new byte[want.length]), c + " (seed " + seed + ") with "
                    + impl.name());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("formats")
    void nonFiniteRowsAreReported(Case c) {
        QuantFormat f = c.format;
        int cols = 512;
        int rows = 4;
        float[] bad = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
        long seed = 77L + c.format.kind().ordinal();
        SplittableRandom rnd = new SplittableRandom(seed);
        for (Impl impl : implementations()) {
            for (float v : bad) {
                for (int at : new int[] {0, 17, 255, 256, 511}) {
                    for (int badRow = 0; badRow < rows; badRow++) {
                        float[] x = new float[rows * cols];
                        for (int i = 0; i < x.length; i++) {
                            x[i] = (float) rnd.nextGaussian();
                        }
                        x[badRow * cols + at] = v;
                        String what = c + " " + v + " at row " + badRow + " column " + at + " (seed " + seed
                                + ") with " + impl.name();
                        byte[] out = new byte[(int) f.rowBytes(cols) * rows];
                        assertEquals(badRow + 1, impl.quantize(f, x, rows, cols, out), what);
                        byte[] row = new byte[(int) f.rowBytes(cols)];
                        assertFalse(impl.kernels().quantizeRow(f, null, x, badRow * cols, cols, row, null, null),
                                what);
                    }
                }
            }
        }
    }
}

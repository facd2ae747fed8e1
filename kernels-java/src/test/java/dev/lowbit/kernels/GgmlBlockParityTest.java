package dev.lowbit.kernels;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.impl.GgmlQuants;
import dev.lowbit.testkit.Ggml;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
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
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The ggml blocks beyond Q8_0, Q4_0 and Q4_1 (Q5_0, Q5_1, IQ4_NL, Q2_K to Q6_K and Q8_K) against the real ggml
 * ({@link Ggml}, the prebuilt libraries of {@value Ggml#PACKAGE}): lowbit's scalar reference
 * ({@link GgmlQuants#quantizeRow}, directly and through {@link QuantOps} on the scalar kernels) writes the bytes of
 * {@code ggml_quantize_chunk} without an importance matrix (for Q8_K, of {@code quantize_row_q8_K_ref}, bound from
 * {@code libggml-base.so}), and lowbit's dequantization of those bytes (and of random blocks with finite scales)
 * gives the floats of ggml's {@code to_float}, bit for bit. The inputs are seeded (the seed is in every message):
 * gaussian and uniform rows at magnitudes from 1e-30 to 3e4, and rows of structured blocks (zeros, one value among
 * zeros, one outlier, constants, one-sided, values at about the largest magnitude the format's fp16 scales hold,
 * ties on x.5 steps, subnormals), of 256, 512 and 4096 columns. Blocks beyond the fp16 range are refused.
 */
class GgmlBlockParityTest {

    @BeforeAll
    static void ggml() {
        String why = Ggml.unavailable();
        Assumptions.assumeTrue(why == null, () -> "skipped: " + why);
    }

    /** {@code big}: about the largest magnitude whose block the format can store (its fp16 scale and minimum). */
    record Case(QuantFormat format, Ggml.Type type, float big) {
        @Override
        public String toString() {
            return format.name();
        }
    }

    static Stream<Case> kinds() {
        return Stream.of(new Case(QuantFormat.Q5_0, Ggml.Type.Q5_0, 1.045e6f),
                new Case(QuantFormat.Q5_1, Ggml.Type.Q5_1, 65504f),
                new Case(QuantFormat.IQ4_NL, Ggml.Type.IQ4_NL, 7.35e6f),
                new Case(QuantFormat.Q2_K, Ggml.Type.Q2_K, 9.5e5f),
                new Case(QuantFormat.Q3_K, Ggml.Type.Q3_K, 7.4e6f),
                new Case(QuantFormat.Q4_K, Ggml.Type.Q4_K, 4.1e6f),
                new Case(QuantFormat.Q5_K, Ggml.Type.Q5_K, 4.1e6f),
                new Case(QuantFormat.Q6_K, Ggml.Type.Q6_K, 2.6e8f),
                new Case(QuantFormat.Q8_K, Ggml.Type.Q8_K, 1e38f));
    }

    /** A named, seeded input of {@code rows x cols} values. */
    record Input(String name, long seed, float[] x, int rows, int cols) {
        @Override
        public String toString() {
            return name + " (seed " + seed + ", " + rows + " x " + cols + ")";
        }
    }

    private static final float[] MAGNITUDES = {1e-3f, 1f, 1e3f, 1e-30f, 3e4f};
    private static final int[] WIDTHS = {256, 512, 4096};

    /** The inputs of a kind whose largest storable magnitude is {@code big}. */
    static List<Input> inputs(float big) {
        List<Input> out = new ArrayList<>();
        long seed = 100;
        for (float m : MAGNITUDES) {
            float mag = Math.min(m, big / 8); // gaussian tails stay storable
            for (int cols : WIDTHS) {
                int rows = Math.max(1, 8192 / cols);
                out.add(new Input("gaussian x" + mag, seed, gaussian(seed, rows * cols, mag), rows, cols));
                seed++;
                out.add(new Input("uniform x" + mag, seed, uniform(seed, rows * cols, mag), rows, cols));
                seed++;
            }
        }
        for (int cols : WIDTHS) {
            int rows = Math.max(2, 16384 / cols);
            out.add(new Input("structured blocks", seed, structured(seed, rows * cols, big), rows, cols));
            seed++;
        }
        return out;
    }

    static float[] gaussian(long seed, int n, float mag) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian() * mag);
        }
        return a;
    }

    static float[] uniform(long seed, int n, float mag) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) ((r.nextDouble() * 2 - 1) * mag);
        }
        return a;
    }

    /**
     * Blocks of structure: every 32 values one of 14 kinds of block (a K-quant super-block of 256 holds eight of them,
     * so its sub-blocks differ), and every fifth super-block one kind through all its 256 values.
     */
    static float[] structured(long seed, int n, float big) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            int sb = i / 256;
            int kind = sb % 5 == 4 ? (sb / 5) % 14 : (i / 32 + sb) % 14;
            int at = sb % 5 == 4 ? i % 256 : i % 32;
            a[i] = switch (kind) {
                case 0 -> 0f;                                                           // all zeros
                case 1 -> at == 5 ? (float) r.nextGaussian() : 0f;                     // one value among zeros
                case 2 -> at == 7 ? 1000f : (float) r.nextGaussian() * 1e-3f;           // one outlier
                case 3 -> -3f;                                                          // constant, negative
                case 4 -> 0.25f;                                                        // constant, positive
                case 5 -> (float) Math.abs(r.nextGaussian()) + 0.5f;                    // one-sided, positive
                case 6 -> -(float) Math.abs(r.nextGaussian()) * 10f - 1f;               // one-sided, negative
                case 7 -> at == 0 ? -big : (float) r.nextGaussian() * (big / 10);       // -max first
                case 8 -> at == 31 ? big : (float) r.nextGaussian() * (big / 10);       // +max last
                case 9 -> at % 2 == 0 ? big : -big;                                     // ±max
                case 10 -> (r.nextInt(33) - 16) * 0.5f;                                 // ties on x.5 steps
                case 11 -> at % 2 == 1 ? -1e-40f : 1e-40f;                              // subnormals
                case 12 -> (at % 32) - 16f;                                             // a ramp through 0
                default -> (float) r.nextGaussian() * 0.02f;                            // small
            };
        }
        return a;
    }

    /** ggml's bytes of {@code in}: {@code ggml_quantize_chunk}, or {@code quantize_row_q8_K_ref} for Q8_K. */
    static byte[] ggmlBytes(Case c, Input in) {
        if (c.type == Ggml.Type.Q8_K) {
            return q8kRef(in.x);
        }
        return Ggml.get().quantize(c.type, in.x, in.rows, in.cols);
    }

    private static MethodHandle q8kRef;
    private static MethodHandle q8kToFloat;

    /** A {@code void f(const void *x, void *y, int64_t k)} of {@code libggml-base.so}. */
    private static MethodHandle base(String symbol) {
        SymbolLookup base = SymbolLookup.libraryLookup(Ggml.get().location().resolve("libggml-base.so"),
                Arena.global());
        MemorySegment fn = base.find(symbol)
                .orElseThrow(() -> new IllegalStateException("libggml-base.so has no " + symbol));
        return Linker.nativeLinker().downcallHandle(fn, FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_LONG));
    }

    /**
     * ggml's dequantization of {@code blocks}: the type's {@code to_float}, or for Q8_K (whose type traits have none)
     * {@code dequantize_row_q8_K}.
     */
    static synchronized float[] ggmlFloats(Case c, byte[] blocks, int n) {
        if (c.type != Ggml.Type.Q8_K) {
            return Ggml.get().dequantize(c.type, blocks, n);
        }
        if (q8kToFloat == null) {
            q8kToFloat = base("dequantize_row_q8_K");
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment in = a.allocate(blocks.length, 64);
            in.copyFrom(MemorySegment.ofArray(blocks));
            MemorySegment out = a.allocate(JAVA_FLOAT, n);
            q8kToFloat.invokeExact(in, out, (long) n);
            return out.toArray(JAVA_FLOAT);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** {@code quantize_row_q8_K_ref} of {@code x}, into zeroed memory. */
    static synchronized byte[] q8kRef(float[] x) {
        Ggml g = Ggml.get();
        if (q8kRef == null) {
            q8kRef = base("quantize_row_q8_K_ref");
        }
        long bytes = g.rowSize(Ggml.Type.Q8_K, x.length);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment in = a.allocateFrom(JAVA_FLOAT, x);
            MemorySegment out = a.allocate(bytes, 64);
            q8kRef.invokeExact(in, out, (long) x.length);
            return out.toArray(ValueLayout.JAVA_BYTE);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static QuantOps scalar() {
        return new QuantOps(KernelProvider.scalar(), ThreadPool.callerThread());
    }

    private static void assertSameBytes(byte[] want, byte[] got, int blockBytes, String what) {
        assertEquals(want.length, got.length, what + ": bytes");
        for (int i = 0; i < want.length; i++) {
            if (want[i] != got[i]) {
                fail(what + ": byte " + i + " (block " + i / blockBytes + ", byte " + i % blockBytes + " in it) is "
                        + got[i] + ", ggml wrote " + want[i]);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("kinds")
    void quantizeGivesGgmlsBytes(Case c) {
        QuantFormat f = c.format;
        for (Input in : inputs(c.big)) {
            byte[] want = ggmlBytes(c, in);
            byte[] got;
            try (Arena a = Arena.ofConfined()) {
                got = scalar().quantize(f, in.x, in.rows, in.cols, a).data().toArray(ValueLayout.JAVA_BYTE);
            }
            assertSameBytes(want, got, f.blockBytes(), f + " " + in + " through QuantOps");
            int rowBytes = (int) f.rowBytes(in.cols);
            byte[] direct = new byte[want.length];
            byte[] row = new byte[rowBytes];
            for (int r = 0; r < in.rows; r++) {
                assertTrue(GgmlQuants.quantizeRow(f.kind(), in.x, r * in.cols, in.cols, row), in + " row " + r);
                System.arraycopy(row, 0, direct, r * rowBytes, rowBytes);
            }
            assertSameBytes(want, direct, f.blockBytes(), f + " " + in + " by GgmlQuants.quantizeRow");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("kinds")
    void dequantizeGivesGgmlsFloats(Case c) {
        QuantFormat f = c.format;
        for (Input in : inputs(c.big)) {
            byte[] blocks = ggmlBytes(c, in);
            assertSameFloats(f, ggmlFloats(c, blocks, in.x.length), lowbitDequantize(f, blocks, in.rows,
                    in.cols), f + " " + in);
        }
        // Random blocks: any bytes but a finite scale (and minimum)
        for (long seed = 1; seed <= 4; seed++) {
            int rows = 8;
            int cols = 512;
            byte[] blocks = randomBlocks(f, rows * cols / f.groupSize(), seed);
            assertSameFloats(f, ggmlFloats(c, blocks, rows * cols), lowbitDequantize(f, blocks, rows, cols),
                    f + " random blocks (seed " + seed + ")");
        }
    }

    static float[] lowbitDequantize(QuantFormat f, byte[] blocks, int rows, int cols) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment data = a.allocate(blocks.length, 64);
            data.copyFrom(MemorySegment.ofArray(blocks));
            float[] got = new float[rows * cols];
            scalar().dequantize(QuantizedTensor.of(f, rows, cols, data, null, null, null), got);
            return got;
        }
    }

    static void assertSameFloats(QuantFormat f, float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i])) {
                fail(what + ": value " + i + " (block " + i / f.groupSize() + ") is " + got[i] + ", ggml's to_float gives "
                        + want[i]);
            }
        }
    }

    /** Random bytes in every field, with finite scales: fp16 fields drawn without the all-ones exponent. */
    static byte[] randomBlocks(QuantFormat f, int blocks, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int bb = f.blockBytes();
        byte[] b = new byte[blocks * bb];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) r.nextInt(256);
        }
        int[] f16 = switch (f.kind()) {
            case Q5_0, IQ4_NL -> new int[] {0};
            case Q5_1, Q4_K, Q5_K -> new int[] {0, 2};
            case Q2_K -> new int[] {80, 82};
            case Q3_K -> new int[] {108};
            case Q6_K -> new int[] {208};
            default -> new int[0];
        };
        for (int k = 0; k < blocks; k++) {
            for (int at : f16) {
                int h;
                do {
                    h = r.nextInt(1 << 16);
                } while ((h & 0x7C00) == 0x7C00);
                b[k * bb + at] = (byte) h;
                b[k * bb + at + 1] = (byte) (h >> 8);
            }
            if (f.kind() == QuantFormat.Kind.Q8_K) {
                int bits;
                do {
                    bits = r.nextInt();
                } while (!Float.isFinite(Float.intBitsToFloat(bits)));
                for (int j = 0; j < 4; j++) {
                    b[k * bb + j] = (byte) (bits >> (8 * j));
                }
            }
        }
        return b;
    }

    /**
     * A block whose scale (or minimum) would not fit fp16, where ggml stores an infinity: lowbit refuses the row,
     * naming the block.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("kinds")
    void blocksBeyondFp16AreRefused(Case c) {
        Assumptions.assumeTrue(c.format.kind() != QuantFormat.Kind.Q8_K, "Q8_K's scale is fp32");
        int cols = 512;
        float[] x = gaussian(7, cols, 1f);
        int n = c.format.groupSize();
        for (int i = n; i < 2 * n; i++) {
            x[i] = i % 3 == 0 ? -c.big * 8 : c.big * 8;
        }
        byte[] theirs = Ggml.get().quantize(c.type, x, 1, cols);
        float[] back = Ggml.get().dequantize(c.type, theirs, cols);
        boolean infinite = false;
        for (int i = n; i < 2 * n; i++) {
            infinite |= !Float.isFinite(back[i]);
        }
        assertTrue(infinite, c + ": ggml stores a finite block for values of " + c.big * 8);
        try (Arena a = Arena.ofConfined()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> scalar().quantize(c.format, x, 1, cols, a));
            assertTrue(e.getMessage().startsWith("row 0, block 1 (columns " + n + ".." + (2 * n - 1) + ")"),
                    e.getMessage());
            assertTrue(e.getMessage().contains("beyond the F16 range"), e.getMessage());
        }
    }

    /** A row holding a NaN or an infinity is reported (false), wherever it lies, and QuantOps names the value. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("kinds")
    void nonFiniteValuesAreReported(Case c) {
        int cols = 512;
        for (float v : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            for (int at : new int[] {0, 300, cols - 1}) {
                float[] x = gaussian(9, cols, 1f);
                x[at] = v;
                assertFalse(GgmlQuants.quantizeRow(c.format.kind(), x, 0, cols, new byte[(int) c.format.rowBytes(cols)]),
                        c + ": " + v + " at " + at);
                try (Arena a = Arena.ofConfined()) {
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                            () -> scalar().quantize(c.format, x, 1, cols, a));
                    assertTrue(e.getMessage().startsWith("value " + v + " at index " + at), e.getMessage());
                }
            }
        }
    }

    /**
     * Q8_K's {@code from_float} in the CPU library (the SIMD activation quantizer ggml's K-quant products run) beside
     * {@code quantize_row_q8_K_ref}, which lowbit follows.
     */
    @Test
    void q8kFromFloatBesideTheReference() {
        Case c = new Case(QuantFormat.Q8_K, Ggml.Type.Q8_K, 1e38f);
        List<String> differ = new ArrayList<>();
        for (Input in : inputs(c.big)) {
            for (int r = 0; r < in.rows; r++) {
                float[] row = java.util.Arrays.copyOfRange(in.x, r * in.cols, (r + 1) * in.cols);
                byte[] ref = q8kRef(row);
                byte[] cpu = Ggml.get().fromFloat(Ggml.Type.Q8_K, row);
                if (!java.util.Arrays.equals(ref, cpu)) {
                    differ.add(in.toString());
                    break;
                }
            }
        }
        // On every input, the CPU library ggml loads on this machine writes the reference's bytes.
        assertEquals(List.of(), differ, "inputs where Q8_K's from_float (" + Ggml.get().variant()
                + ") differs from quantize_row_q8_K_ref");
    }
}

package dev.lowbit.kernels;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.testkit.Ggml;
import dev.lowbit.testkit.Inputs;
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
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The ggml blocks Q5_0, Q5_1, IQ4_NL, Q2_K to Q6_K and Q8_K against the real ggml ({@link Ggml}): every
 * implementation of {@link #implementations()} writes the bytes of {@code ggml_quantize_chunk} (Q8_K: of
 * {@code quantize_row_q8_K_ref}) and dequantizes them to the floats of ggml's {@code dequantize_row_*}, on seeded
 * rows of 256, 512 and 4096 columns: Gaussian and uniform values at magnitudes from 1e-30 to 3e4, and blocks of
 * zeros, of zeros but one value, with one outlier, constant, one-sided, at ±the largest magnitude whose fp16 scale
 * the format stores, on exact ties and of denormals. A row holding a NaN or an infinity is reported as false, and a
 * block whose fp16 scale would overflow is refused. The build runs this class at the preferred width (512 bits here)
 * and again capped at 256 bits.
 */
class VectorGgmlBlocksTest {

    @BeforeAll
    static void ggml() {
        String why = Ggml.unavailable();
        Assumptions.assumeTrue(why == null, () -> "skipped: " + why);
    }

    /** One implementation of the blocks under test. */
    record Impl(String name, Supplier<QuantKernels> kernels) {
        @Override
        public String toString() {
            return name;
        }
    }

    /** The implementations held to ggml: the Vector API kernels at this JVM's width (another is one more entry). */
    static List<Impl> implementations() {
        List<Impl> out = new ArrayList<>();
        String why = KernelProvider.vectorUnavailable();
        Assumptions.assumeTrue(why == null, () -> "skipped: " + why);
        out.add(new Impl(KernelProvider.vector().name(), KernelProvider::vector));
        out.add(new Impl("scalar", KernelProvider::scalar)); // the reference, on the same inputs
        return out;
    }

    /** {@code big}: about the largest magnitude whose block the format stores (its fp16 scale and minimum). */
    record Case(QuantFormat format, Ggml.Type type, float big) {
        @Override
        public String toString() {
            return format.name();
        }
    }

    static Stream<Case> formats() {
        return Stream.of(new Case(QuantFormat.Q5_0, Ggml.Type.Q5_0, 1e6f),
                new Case(QuantFormat.Q5_1, Ggml.Type.Q5_1, 65000f),
                new Case(QuantFormat.IQ4_NL, Ggml.Type.IQ4_NL, 5e6f),
                new Case(QuantFormat.Q2_K, Ggml.Type.Q2_K, 9e5f),
                new Case(QuantFormat.Q3_K, Ggml.Type.Q3_K, 6e6f),
                new Case(QuantFormat.Q4_K, Ggml.Type.Q4_K, 4e6f),
                new Case(QuantFormat.Q5_K, Ggml.Type.Q5_K, 4e6f),
                new Case(QuantFormat.Q6_K, Ggml.Type.Q6_K, 2e8f),
                new Case(QuantFormat.Q8_K, Ggml.Type.Q8_K, 3e38f));
    }

    /** A named, seeded input of {@code rows x cols} values. */
    record Input(String name, long seed, float[] x, int rows, int cols) {
        @Override
        public String toString() {
            return name + " (seed " + seed + ", " + rows + "x" + cols + ")";
        }
    }

    static final float[] MAGNITUDES = {1e-3f, 1f, 1e3f, 1e-30f, 3e4f};

    /** The inputs of a format whose largest storable magnitude is {@code big}. */
    static List<Input> inputs(float big) {
        List<Input> out = new ArrayList<>();
        long seed = 1;
        for (int cols : new int[] {256, 512, 4096}) {
            int rows = cols == 4096 ? 1 : 3;
            for (float m : MAGNITUDES) {
                out.add(random("gaussian x" + m, seed++, rows, cols, m, big, true));
                out.add(random("uniform x" + m, seed++, rows, cols, m, big, false));
            }
            out.add(edges(seed++, rows, cols, big));
        }
        out.add(new Input("zeros", 0, new float[2 * 256], 2, 256));
        out.add(new Input("tricky", 21, clamp(Inputs.tricky(21, 4 * 512), big), 4, 512));
        out.add(new Input("signed zeros", 22, clamp(Inputs.trickyWithSignedZeros(22, 4 * 512), big), 4, 512));
        out.add(new Input("magnitudes 2^-40..2^9", 23, clamp(Inputs.magnitudes(23, 8 * 4096), big), 8, 4096));
        out.add(random("many gaussian rows", seed++, 32, 4096, 1f, big, true));
        out.add(random("many uniform rows", seed, 32, 4096, 1f, big, false));
        return out;
    }

    static float[] clamp(float[] x, float big) {
        for (int i = 0; i < x.length; i++) {
            x[i] = Math.max(-big, Math.min(big, x[i]));
        }
        return x;
    }

    static Input random(String name, long seed, int rows, int cols, float m, float big, boolean gaussian) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[rows * cols];
        for (int i = 0; i < x.length; i++) {
            double v = gaussian ? r.nextGaussian() : 2 * r.nextDouble() - 1;
            x[i] = (float) Math.max(-big, Math.min(big, v * m));
        }
        return new Input(name, seed, x, rows, cols);
    }

    /** Blocks of 32 of every edge kind, cycling; a K-quant super-block holds eight of them. */
    static Input edges(long seed, int rows, int cols, float big) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[rows * cols];
        for (int i = 0; i < x.length; i++) {
            int block = i / 32;
            int e = i % 32;
            x[i] = switch (block % 13) {
                case 0 -> 0f;                                                       // all zeros
                case 1 -> e == 11 ? -0.75f : 0f;                                    // zeros but one value
                case 2 -> e == 7 ? 1000f : (float) r.nextGaussian() * 1e-3f;        // one outlier
                case 3 -> -3f;                                                      // constant
                case 4 -> (float) r.nextDouble() * 5f;                              // all positive
                case 5 -> -(float) r.nextDouble() * 5f - 1f;                        // all negative
                case 6 -> e == 0 ? -big : (float) r.nextGaussian() * (big / 10);    // -max first
                case 7 -> e == 31 ? big : (float) r.nextGaussian() * (big / 10);    // +max last
                case 8 -> e % 2 == 0 ? big : -big;                                  // ±max
                case 9 -> (r.nextInt(33) - 16) * 0.5f;                              // ties on x.5 steps
                case 10 -> (r.nextInt(9) - 4) * 0.25f + 0.125f * (e % 2);           // more ties
                case 11 -> (float) (r.nextGaussian() * 1e-40);                      // denormals
                default -> e - 16f;                                                 // a ramp through 0
            };
        }
        return new Input("block edges", seed, x, rows, cols);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("formats")
    void quantizeGivesGgmlsBytesAndDequantizeItsFloats(Case c) {
        List<Impl> impls = implementations();
        for (Input in : inputs(c.big)) {
            int cols = in.cols;
            int rb = (int) c.format.rowBytes(cols);
            byte[] want = quantize(c, in.x, in.rows, cols);
            float[] wantValues = dequantize(c, want, in.x.length);
            for (Impl impl : impls) {
                QuantKernels k = impl.kernels.get();
                String where = c + " " + in + " with " + impl;
                byte[] got = new byte[rb];
                float[] scales = new float[c.format.groupsPerRow(cols)];
                float[] zeros = new float[c.format.groupsPerRow(cols)];
                for (int r = 0; r < in.rows; r++) {
                    assertTrue(k.quantizeRow(c.format, null, in.x, r * cols, cols, got, scales, zeros),
                            where + ": row " + r + " reported as not finite");
                    for (int i = 0; i < rb; i++) {
                        if (got[i] != want[r * rb + i]) {
                            fail(where + ": row " + r + " byte " + i + " (block " + i / c.format.blockBytes()
                                    + ", byte " + i % c.format.blockBytes() + " of it) is " + got[i]
                                    + ", ggml wrote " + want[r * rb + i]);
                        }
                    }
                }
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment data = a.allocate(want.length, 64);
                    data.copyFrom(MemorySegment.ofArray(want));
                    QuantizedTensor t = QuantizedTensor.of(c.format, in.rows, cols, data, null, null, null);
                    float[] values = new float[in.x.length];
                    for (int r = 0; r < in.rows; r++) {
                        k.dequantizeRow(t, r, values, r * cols);
                    }
                    for (int i = 0; i < values.length; i++) {
                        if (Float.floatToRawIntBits(values[i]) != Float.floatToRawIntBits(wantValues[i])) {
                            fail(where + ": dequantized value " + i + " is " + values[i] + ", ggml's "
                                    + wantValues[i]);
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("formats")
    void rowsWithNanOrInfinityAreReported(Case c) {
        for (Impl impl : implementations()) {
            QuantKernels k = impl.kernels.get();
            int cols = 512;
            byte[] out = new byte[(int) c.format.rowBytes(cols)];
            float[] p = new float[c.format.groupsPerRow(cols)];
            for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                for (int at : new int[] {0, 37, 300, 511}) {
                    float[] x = random("gaussian", at, 1, cols, 1f, c.big, true).x;
                    x[at] = bad;
                    assertFalse(k.quantizeRow(c.format, null, x, 0, cols, out, p, p),
                            c + " with " + impl + ": " + bad + " at column " + at);
                }
            }
        }
    }

    /** A block whose fp16 scale or minimum would overflow (ggml stores an infinity) is refused. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("formats")
    void scalesBeyondFp16AreRefused(Case c) {
        Assumptions.assumeTrue(c.format.kind() != QuantFormat.Kind.Q8_K, "Q8_K's scale is fp32");
        for (Impl impl : implementations()) {
            QuantKernels k = impl.kernels.get();
            int cols = 256;
            byte[] out = new byte[(int) c.format.rowBytes(cols)];
            float[] p = new float[c.format.groupsPerRow(cols)];
            float[] x = new float[cols];
            for (int i = 0; i < cols; i++) {
                x[i] = (i % 3 == 0 ? -100 : 100) * c.big;
            }
            try {
                k.quantizeRow(c.format, null, x, 0, cols, out, p, p);
                fail(c + " with " + impl + ": a scale beyond fp16 was not refused");
            } catch (RuntimeException e) {
                assertEquals("ScaleRangeException", e.getClass().getSimpleName(), e.toString());
            }
        }
    }

    // ---------------------------------------------------------------- ggml

    static byte[] quantize(Case c, float[] x, int rows, int cols) {
        if (c.type != Ggml.Type.Q8_K) {
            return Ggml.get().quantize(c.type, x, rows, cols);
        }
        return Q8K.run(Q8K.QUANTIZE, x, x.length, c.format.blockBytes());
    }

    static float[] dequantize(Case c, byte[] blocks, int n) {
        if (c.type != Ggml.Type.Q8_K) {
            return Ggml.get().dequantize(c.type, blocks, n);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment in = a.allocate(blocks.length, 64);
            in.copyFrom(MemorySegment.ofArray(blocks));
            MemorySegment out = a.allocate((long) n * 4, 64);
            Q8K.DEQUANTIZE.invokeExact(in, out, (long) n);
            return out.toArray(ValueLayout.JAVA_FLOAT);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** ggml's {@code quantize_row_q8_K_ref} and {@code dequantize_row_q8_K}, from {@code libggml-base.so}. */
    static final class Q8K {
        static final MethodHandle QUANTIZE;
        static final MethodHandle DEQUANTIZE;

        static {
            SymbolLookup base = SymbolLookup.libraryLookup(Ggml.get().location().resolve("libggml-base.so"),
                    Arena.global());
            FunctionDescriptor d = FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_LONG);
            QUANTIZE = Linker.nativeLinker().downcallHandle(base.find("quantize_row_q8_K_ref").orElseThrow(), d);
            DEQUANTIZE = Linker.nativeLinker().downcallHandle(base.find("dequantize_row_q8_K").orElseThrow(), d);
        }

        /** The blocks of {@code x} (zeroed first: an all-zero block leaves its sums unwritten). */
        static byte[] run(MethodHandle h, float[] x, int n, int blockBytes) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment in = a.allocateFrom(ValueLayout.JAVA_FLOAT, x);
                long bytes = (long) n / 256 * blockBytes;
                MemorySegment out = a.allocate(bytes, 64);
                out.fill((byte) 0);
                h.invokeExact(in, out, (long) n);
                return out.toArray(ValueLayout.JAVA_BYTE);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }
    }
}

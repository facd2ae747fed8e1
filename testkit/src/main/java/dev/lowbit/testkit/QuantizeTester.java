package dev.lowbit.testkit;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiPredicate;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Sweeps quantization over formats, row lengths, row counts and kinds of input, on any implementation, against the
 * scalar reference: the codes, scales and zero points byte for byte, and the dequantized values bit for bit. Inputs
 * come from seeds that each failure message names with its case.
 *
 * <pre>{@code
 * new QuantizeTester("vector").formats(Formats.all()).rows(1, 3)
 *         .test(scalar::quantize, vector::quantize);
 * }</pre>
 */
public final class QuantizeTester {
    /** Dequantizes a whole tensor into {@code out} ({@code rows * cols} values). */
    @FunctionalInterface
    public interface Dequantizer {
        void dequantize(QuantizedTensor t, float[] out);
    }

    /** A seed from the row length and the row count. */
    @FunctionalInterface
    public interface Seed {
        long of(int k, int rows);
    }

    private final String name;
    private List<QuantFormat> formats = List.of();
    private int[] ks = MatmulTester.K;
    private BiPredicate<QuantFormat, Integer> kAllowed = (f, k) -> true;
    private int[] rows = {1, 3};
    private Seed seed = (k, r) -> k * 31L + r;
    private final Map<String, Inputs.Source> sources = new LinkedHashMap<>(Map.of("gaussian", Inputs::gaussian));

    /** A tester for the implementation called {@code name} in failure messages. */
    public QuantizeTester(String name) {
        this.name = name;
    }

    public QuantizeTester formats(List<QuantFormat> formats) {
        this.formats = List.copyOf(formats);
        return this;
    }

    public QuantizeTester format(QuantFormat f) {
        return formats(List.of(f));
    }

    /** The row lengths, {@link MatmulTester#K} unless set. */
    public QuantizeTester k(int... ks) {
        this.ks = ks.clone();
        return this;
    }

    /** Which row lengths a format takes here; every one unless set. */
    public QuantizeTester kAllowed(BiPredicate<QuantFormat, Integer> allowed) {
        this.kAllowed = allowed;
        return this;
    }

    public QuantizeTester rows(int... rows) {
        this.rows = rows.clone();
        return this;
    }

    /** The input's seed from k and the row count; {@code k * 31 + rows} unless set. */
    public QuantizeTester seed(Seed seed) {
        this.seed = seed;
        return this;
    }

    /** Adds a kind of input, by name ({@link Inputs#gaussian} is always there). */
    public QuantizeTester values(String kind, Inputs.Source source) {
        sources.put(kind, source);
        return this;
    }

    /** The candidate's tensors against the reference's, plane by plane. Returns the number of cases run. */
    public int test(Inputs.Quantizer reference, Inputs.Quantizer candidate) {
        return run(reference, candidate, null, null);
    }

    /** {@link #test}, and then each tensor dequantized by the candidate against the reference, bit for bit. */
    public int test(Inputs.Quantizer reference, Inputs.Quantizer candidate, Dequantizer referenceDq,
                    Dequantizer candidateDq) {
        return run(reference, candidate, referenceDq, candidateDq);
    }

    private int run(Inputs.Quantizer reference, Inputs.Quantizer candidate, Dequantizer referenceDq,
                    Dequantizer candidateDq) {
        int cases = 0;
        try (Arena arena = Arena.ofShared()) {
            for (QuantFormat f : formats) {
                for (int k : ks) {
                    if (!kAllowed.test(f, k)) {
                        continue;
                    }
                    for (int r : rows) {
                        for (Map.Entry<String, Inputs.Source> src : sources.entrySet()) {
                            long s = seed.of(k, r);
                            float[] x = src.getValue().values(s, r * k);
                            String what = name + " " + f + " " + src.getKey() + " rows=" + r + " k=" + k + " (seed " + s
                                    + ")";
                            QuantizedTensor want = reference.quantize(f, x.clone(), r, k, arena);
                            QuantizedTensor got = candidate.quantize(f, x.clone(), r, k, arena);
                            samePlane("codes", want.data(), got.data(), what);
                            samePlane("scales", want.scales(), got.scales(), what);
                            samePlane("zero points", want.zeros(), got.zeros(), what);
                            if (candidateDq != null) {
                                float[] a = new float[r * k];
                                float[] b = new float[r * k];
                                referenceDq.dequantize(want, a);
                                candidateDq.dequantize(want, b);
                                Bounds.assertSameBits(a, b, what + ", dequantized");
                            }
                            cases++;
                        }
                    }
                }
            }
        }
        return cases;
    }

    private static void samePlane(String plane, MemorySegment want, MemorySegment got, String what) {
        if (want == null || got == null) {
            if (want != got) {
                fail(what + ": " + plane + (want == null ? " are not in the reference" : " are missing"));
            }
            return;
        }
        long at = want.mismatch(got);
        if (at >= 0) {
            String w = at < want.byteSize() ? String.format("0x%02x", want.get(ValueLayout.JAVA_BYTE, at)) : "the end";
            String g = at < got.byteSize() ? String.format("0x%02x", got.get(ValueLayout.JAVA_BYTE, at)) : "the end";
            fail(what + ": " + plane + " differ at byte " + at + " of " + want.byteSize() + ": " + g + ", reference " + w);
        }
    }
}

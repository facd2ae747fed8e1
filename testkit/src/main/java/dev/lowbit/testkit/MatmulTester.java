package dev.lowbit.testkit;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.BiPredicate;
import java.util.function.IntPredicate;

/**
 * Sweeps matrix products over formats, row lengths {@code k}, row counts and token counts, on any implementation,
 * against the scalar reference: bit for bit, within the float bound of {@link Bounds}, or both; optionally cut into
 * ranges of rows and tokens, which must give the bits of the whole call. Weights and activations come from seeds
 * that each failure message names with its case.
 *
 * <pre>{@code
 * new MatmulTester("vector").weights(quantizer).activations(scalarQuantizer)
 *         .formats(Formats.integerPath()).rows(1, 3, 17).tokens(1, 2, 5)
 *         .testInt8(scalar, vector, MatmulTester.Check.BOUND);
 * }</pre>
 */
public final class MatmulTester {
    /** The row lengths every sweep starts from: 1, a block and its neighbours, primes, and two long rows. */
    public static final int[] K = {1, 31, 32, 33, 65, 127, 128, 129, 300, 1100};

    /** An integer-path product of whole weights and activations: {@code y[t * rows + r]}. */
    @FunctionalInterface
    public interface Int8Gemm {
        void gemm(QuantizedTensor w, Activations x, float[] y);
    }

    /** An integer-path product over rows {@code [r0, r1)} and tokens {@code [t0, t1)} into {@code y[t * ldy + r]}. */
    @FunctionalInterface
    public interface Int8Range {
        void gemm(QuantizedTensor w, Activations x, int r0, int r1, int t0, int t1, float[] y, int ldy);
    }

    /** A weight-only product of whole weights and {@code n} tokens of fp32 activations. */
    @FunctionalInterface
    public interface F32Gemm {
        void gemm(QuantizedTensor w, float[] x, int n, float[] y);
    }

    /** A weight-only product over rows {@code [r0, r1)} and tokens {@code [t0, t1)} into {@code y[t * ldy + r]}. */
    @FunctionalInterface
    public interface F32Range {
        void gemm(QuantizedTensor w, float[] x, int r0, int r1, int t0, int t1, float[] y, int ldy);
    }

    /** A seed from the row length and a count (rows for weights, tokens for activations). */
    @FunctionalInterface
    public interface Seed {
        long of(int k, int count);
    }

    /**
     * A comparison of the candidate's result with the reference's, for implementations held to another bound: the
     * weights, the fp32 activations of {@code n} tokens (the integer path's dequantized), and both results.
     */
    @FunctionalInterface
    public interface Comparison {
        void check(QuantizedTensor w, float[] x, int n, float[] want, float[] got, String what);
    }

    /** Weights of format {@code f}, {@code rows} by {@code k}, from {@code seed}: a tester's own construction. */
    @FunctionalInterface
    public interface Weights {
        QuantizedTensor build(QuantFormat f, int rows, int k, long seed, Arena arena);
    }

    /** A further check of an integer-path case: the weights and activations the candidate was given. */
    @FunctionalInterface
    public interface Int8Check {
        void check(QuantizedTensor w, Activations x, String what);
    }

    /** What the candidate's result must satisfy. */
    public enum Check {
        /** The reference's bits. */
        BITS,
        /** The reference's values ({@code 0f == -0f}: a zero's sign may differ with the order of additions). */
        VALUES,
        /** The float bound against the exact sum ({@link Bounds}). */
        BOUND,
        /** Nothing beyond {@link #compare(Comparison)}. */
        NONE,
        /** Both the reference's bits and the bound. */
        BITS_AND_BOUND
    }

    private final String name;
    private List<QuantFormat> formats = List.of();
    private int[] ks = K;
    private BiPredicate<QuantFormat, Integer> kAllowed = (f, k) -> true;
    private int[] rows = {1, 3, 17};
    private int[] tokens = {1, 2, 5};
    private Activations.Kind[] kinds = Activations.Kind.values();
    private Seed weightSeed = (k, r) -> k * 31L + r;
    private Seed inputSeed = (k, n) -> k + n;
    private IntPredicate outliers = k -> k > 64;
    private Inputs.Source source = Inputs::gaussian;
    private Inputs.Quantizer quantizer;
    private Weights builder;
    private Activations.Quantizer activations;
    private boolean boundTheReference;
    private Comparison comparison;
    private int splitRows;
    private boolean split;
    private Int8Range int8Range;
    private F32Range f32Range;
    private boolean uniform;
    private Int8Check also;

    /** A tester for the implementation called {@code name} in failure messages. */
    public MatmulTester(String name) {
        this.name = name;
    }

    public MatmulTester formats(List<QuantFormat> formats) {
        this.formats = List.copyOf(formats);
        return this;
    }

    public MatmulTester format(QuantFormat f) {
        return formats(List.of(f));
    }

    /** The row lengths, {@link #K} unless set. */
    public MatmulTester k(int... ks) {
        this.ks = ks.clone();
        return this;
    }

    /** Which row lengths a format takes here (W4A16 takes whole groups only, say); every one unless set. */
    public MatmulTester kAllowed(BiPredicate<QuantFormat, Integer> allowed) {
        this.kAllowed = allowed;
        return this;
    }

    public MatmulTester rows(int... rows) {
        this.rows = rows.clone();
        return this;
    }

    public MatmulTester tokens(int... tokens) {
        this.tokens = tokens.clone();
        return this;
    }

    /** The activation quantizations the integer path sweeps; both unless set. */
    public MatmulTester kinds(Activations.Kind... kinds) {
        this.kinds = kinds.clone();
        return this;
    }

    /** The weights' seed from k and the row count; {@code k * 31 + rows} unless set. */
    public MatmulTester weightSeed(Seed seed) {
        this.weightSeed = seed;
        return this;
    }

    /** The activations' seed from k and the token count; {@code k + n} unless set. */
    public MatmulTester inputSeed(Seed seed) {
        this.inputSeed = seed;
        return this;
    }

    /** Which row lengths get planted outliers ({@link Inputs#weights}); {@code k > 64} unless set. */
    public MatmulTester outliers(IntPredicate when) {
        this.outliers = when;
        return this;
    }

    /** The generator of weights and activations; {@link Inputs#gaussian} unless set. */
    public MatmulTester values(Inputs.Source source) {
        this.source = source;
        return this;
    }

    /** How weights are quantized (the reference's rule, through any implementation that keeps its bytes). */
    public MatmulTester weights(Inputs.Quantizer quantizer) {
        this.quantizer = quantizer;
        return this;
    }

    /**
     * Builds the weights with {@code builder} instead of quantizing generated values (codes and scales drawn
     * directly, say): the seed is the weight seed, and {@link #outliers} and {@link #values} do not apply to them.
     */
    public MatmulTester buildWeights(Weights builder) {
        this.builder = builder;
        return this;
    }

    /** How activations are quantized for the integer path: the reference's rule. */
    public MatmulTester activations(Activations.Quantizer activations) {
        this.activations = activations;
        return this;
    }

    /** Also holds every result to {@code comparison} against the reference's. */
    public MatmulTester compare(Comparison comparison) {
        this.comparison = comparison;
        return this;
    }

    /** Checks the reference's own result against the bound too (for {@link Check#BOUND}). */
    public MatmulTester boundTheReference() {
        this.boundTheReference = true;
        return this;
    }

    /**
     * Also computes every case token by token with rows cut in two at {@code rows / 3}, through the candidate's
     * ranged call: the same bits as its whole call.
     */
    public MatmulTester splitInThirds(Int8Range range) {
        this.split = true;
        this.splitRows = 0;
        this.int8Range = range;
        return this;
    }

    /** {@link #splitInThirds(Int8Range)} for the weight-only path. */
    public MatmulTester splitF32InThirds(F32Range range) {
        this.split = true;
        this.splitRows = 0;
        this.f32Range = range;
        return this;
    }

    /** Also computes every case token by token in groups of {@code groupRows} rows: the reference's bits. */
    public MatmulTester splitInGroups(int groupRows, Int8Range range) {
        this.split = true;
        this.splitRows = groupRows;
        this.int8Range = range;
        return this;
    }

    /**
     * {@link #testExactSums} also fills every weight with the format's lowest and highest code and every activation
     * with -128 and 127, beside the random draws: all nine pairs.
     */
    public MatmulTester uniformToo() {
        this.uniform = true;
        return this;
    }

    /** {@link #testExactSums} also runs {@code check} on every case. */
    public MatmulTester also(Int8Check check) {
        this.also = check;
        return this;
    }

    /**
     * Unit scales: every partial sum is an integer, so any order of additions is exact, and the candidate must give
     * the reference's result ({@link Check#BITS} or {@link Check#VALUES}). For every format, k, row count, token count
     * and activation kind, weight codes are drawn over their whole range (Q8_0 -128..127, else 0..maxCode; zero
     * points 0..maxCode and Q4_1's minimum -8..8, integers) with the first two at the lowest and highest code, and
     * activation codes over -128..127 with each token's first two at -128 and 127. With {@link #uniformToo()} every
     * weight and every activation also takes one extreme value, and where both do every result must be the exact
     * integer {@code k * w * x}. Returns the number of cases run.
     */
    public int testExactSums(Int8Gemm reference, Int8Gemm candidate, Check check) {
        if (reference == null || (check != Check.BITS && check != Check.VALUES)) {
            throw new IllegalArgumentException("exact sums take a reference and BITS or VALUES");
        }
        int cases = 0;
        try (Arena arena = Arena.ofShared()) {
            for (QuantFormat f : formats) {
                Integer[] wFills = uniform ? new Integer[] {null, lowestCode(f), highestCode(f)} : new Integer[] {null};
                Integer[] xFills = uniform ? new Integer[] {null, -128, 127} : new Integer[] {null};
                for (int k : ks) {
                    if (!kAllowed.test(f, k)) {
                        continue;
                    }
                    for (int r : rows) {
                        for (Integer wFill : wFills) {
                            long ws = f.name().hashCode() * 31L + weightSeed.of(k, r);
                            QuantizedTensor w = unitWeights(f, r, k, wFill, new SplittableRandom(ws), arena);
                            for (int n : tokens) {
                                for (Integer xFill : xFills) {
                                    long xs = f.name().hashCode() * 31L + inputSeed.of(k, n);
                                    for (Activations.Kind kind : kinds) {
                                        Activations x = unitActivations(kind, n, k, xFill, new SplittableRandom(xs));
                                        String what = name + " " + f + " " + kind + " rows=" + r + " n=" + n + " k="
                                                + k + ", weights " + (wFill == null ? "drawn (seed " + ws + ")" : wFill)
                                                + ", activations " + (xFill == null ? "drawn (seed " + xs + ")" : xFill);
                                        float[] a = new float[n * r];
                                        float[] b = new float[n * r];
                                        reference.gemm(w, x, a);
                                        candidate.gemm(w, x, b);
                                        compare(check, a, b, what);
                                        if (wFill != null && xFill != null) {
                                            float want = (float) ((long) signedCode(f, wFill) * xFill * k);
                                            assertAll(want, a, "reference, " + what);
                                            assertAll(want, b, what);
                                        }
                                        if (also != null) {
                                            also.check(w, x, what);
                                        }
                                        cases++;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return cases;
    }

    /**
     * The largest magnitudes: unit scales, every weight code the format's lowest or highest and every activation
     * -128 or 127 (all four pairs), for every format, k, row count, token count and activation kind. Every result is
     * the exact integer {@code k * w * x}: the reference's, and the candidate's, which must also give the reference's
     * bits. Over long rows ({@code k = 4096}) a block sums 32 * 128 * 128 = 2^19 in magnitude, past any 16-bit
     * intermediate. Returns the number of cases run.
     */
    public int testExtremes(Int8Gemm reference, Int8Gemm candidate) {
        int cases = 0;
        try (Arena arena = Arena.ofShared()) {
            for (QuantFormat f : formats) {
                for (int k : ks) {
                    for (int r : rows) {
                        for (int code : new int[] {lowestCode(f), highestCode(f)}) {
                            QuantizedTensor w = unitWeights(f, r, k, code, null, arena);
                            for (int n : tokens) {
                                for (int xv : new int[] {-128, 127}) {
                                    for (Activations.Kind kind : kinds) {
                                        Activations x = unitActivations(kind, n, k, xv, null);
                                        String what = name + " " + f + " " + kind + " rows=" + r + " n=" + n + " k="
                                                + k + ", every weight code " + code + ", every activation " + xv;
                                        float want = (float) ((long) signedCode(f, code) * xv * k);
                                        float[] b = new float[n * r];
                                        candidate.gemm(w, x, b);
                                        assertAll(want, b, what);
                                        if (reference != null) {
                                            float[] a = new float[n * r];
                                            reference.gemm(w, x, a);
                                            assertAll(want, a, "reference, " + what);
                                            Bounds.assertSameBits(a, b, what);
                                        }
                                        cases++;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return cases;
    }

    /**
     * The same implementation on one thread ({@code oneThread}) and split over several ({@code threaded}): for every
     * format, k, row count, token count and activation kind, the same bits. Returns the number of cases run.
     */
    public int testThreadIndependence(Int8Gemm oneThread, Int8Gemm threaded) {
        return testInt8(oneThread, threaded, Check.BITS);
    }

    /**
     * {@link #testThreadIndependence(Int8Gemm, Int8Gemm)} from fp32 activations: the weight-only path, or the integer
     * path with the activations quantized inside the call.
     */
    public int testThreadIndependence(F32Gemm oneThread, F32Gemm threaded) {
        return testF32(oneThread, threaded, Check.BITS);
    }

    /** The lowest code {@link Reference#pack} takes for {@code f}: -128 for Q8_0, whose codes are signed, else 0. */
    public static int lowestCode(QuantFormat f) {
        return f.kind() == QuantFormat.Kind.Q8_0 ? -128 : 0;
    }

    /** The highest code {@link Reference#pack} takes for {@code f}: 127 for Q8_0, else {@link QuantFormat#maxCode}. */
    public static int highestCode(QuantFormat f) {
        return f.kind() == QuantFormat.Kind.Q8_0 ? 127 : f.maxCode();
    }

    /**
     * The weight that {@code code} stands for at unit scale and a zero point (or minimum) of 0: the code less 8
     * (Q4_0) or less {@code 2^(bits-1)} (symmetric grouped), else the code itself.
     */
    public static int signedCode(QuantFormat f, int code) {
        return switch (f.kind()) {
            case Q8_0, Q4_1 -> code;
            case Q4_0 -> code - 8;
            case GROUPED -> f.symmetric() ? code - (1 << (f.bits() - 1)) : code;
            default -> throw new IllegalArgumentException("not an integer-path format: " + f);
        };
    }

    /** Unit scales, every code {@code fill} (zero points 0), or drawn from {@code rnd} when {@code fill} is null. */
    private static QuantizedTensor unitWeights(QuantFormat f, int rows, int k, Integer fill, SplittableRandom rnd,
            Arena arena) {
        int[] codes = new int[rows * k];
        int groups = rows * f.groupsPerRow(k);
        float[] scales = new float[groups];
        Arrays.fill(scales, 1f);
        boolean zeroed = f.kind() == QuantFormat.Kind.Q4_1 || f.hasZeroPlane();
        float[] zeros = zeroed ? new float[groups] : null;
        if (fill != null) {
            Arrays.fill(codes, fill);
        } else {
            int low = lowestCode(f);
            int span = highestCode(f) - low + 1;
            for (int i = 0; i < codes.length; i++) {
                codes[i] = low + rnd.nextInt(span);
            }
            codes[0] = low;
            codes[1] = highestCode(f);
            if (zeroed) {
                for (int g = 0; g < groups; g++) {
                    // Q4_1's minimum m, an integer, so that sums stay integers; a zero point over the codes.
                    zeros[g] = f.kind() == QuantFormat.Kind.Q4_1 ? rnd.nextInt(-8, 9) : rnd.nextInt(f.maxCode() + 1);
                }
            }
        }
        return Reference.pack(f, rows, k, codes, scales, zeros, null, arena);
    }

    /** Unit scales, every code {@code fill} (padding 0), or drawn from {@code rnd} when {@code fill} is null. */
    private static Activations unitActivations(Activations.Kind kind, int n, int k, Integer fill,
            SplittableRandom rnd) {
        int pk = Activations.paddedK(k);
        byte[] codes = new byte[n * pk];
        for (int t = 0; t < n; t++) {
            for (int c = 0; c < k; c++) {
                codes[t * pk + c] = (byte) (fill != null ? fill : rnd.nextInt(-128, 128));
            }
            if (fill == null) {
                codes[t * pk] = -128;
                if (k > 1) {
                    codes[t * pk + 1] = 127;
                }
            }
        }
        float[] scales = new float[kind.perToken() ? n : n * (pk / 32)];
        Arrays.fill(scales, 1f);
        return new Activations(kind.perToken(), n, k, codes, scales);
    }

    private static void assertAll(float want, float[] got, String what) {
        for (int i = 0; i < got.length; i++) {
            if (got[i] != want) {
                org.junit.jupiter.api.Assertions.fail(what + ": y[" + i + "] = " + got[i] + ", exactly " + want);
            }
        }
    }

    /**
     * The integer path: for every format, k, row count, token count and activation kind, the candidate against the
     * reference ({@code null}: the bound alone). Returns the number of cases run.
     */
    public int testInt8(Int8Gemm reference, Int8Gemm candidate, Check check) {
        if (reference == null && check != Check.BOUND) {
            throw new IllegalArgumentException("only the bound can be checked without a reference");
        }
        if ((quantizer == null && builder == null) || activations == null) {
            throw new IllegalStateException("set weights(...) and activations(...) first");
        }
        int cases = 0;
        try (Arena arena = Arena.ofShared()) {
            for (QuantFormat f : formats) {
                for (int k : ks) {
                    if (!kAllowed.test(f, k)) {
                        continue;
                    }
                    for (int r : rows) {
                        long ws = weightSeed.of(k, r);
                        QuantizedTensor w = weights(f, r, k, ws, arena);
                        for (int n : tokens) {
                            long xs = inputSeed.of(k, n);
                            float[] xf = source.values(xs, n * k);
                            for (Activations.Kind kind : kinds) {
                                Activations x = activations.quantize(xf, n, k, kind);
                                String what = name + " " + f + " " + kind + " rows=" + r + " n=" + n + " k=" + k
                                        + " (weight seed " + ws + ", activation seed " + xs + ")";
                                float[] a = new float[n * r];
                                float[] b = new float[n * r];
                                if (reference != null) {
                                    reference.gemm(w, x, a);
                                }
                                candidate.gemm(w, x, b);
                                compare(check, a, b, what);
                                if (comparison != null && reference != null) {
                                    comparison.check(w, dequantized(x), n, a, b, what);
                                }
                                if (check == Check.BOUND || check == Check.BITS_AND_BOUND) {
                                    if (boundTheReference && reference != null) {
                                        Bounds.checkAgainstExact(w, x, a, "reference, " + what);
                                    }
                                    Bounds.checkAgainstExact(w, x, b, what);
                                }
                                if (split && int8Range != null) {
                                    float[] c = new float[n * r];
                                    cut(r, n, (r0, r1, t0, t1) -> int8Range.gemm(w, x, r0, r1, t0, t1, c, r));
                                    Bounds.assertSameBits(b, c, what + ", " + cutName(r));
                                }
                                cases++;
                            }
                        }
                    }
                }
            }
        }
        return cases;
    }

    /**
     * The weight-only path: for every format, k, row count and token count, the candidate against the reference
     * ({@code null}: the bound alone). Returns the number of cases run.
     */
    public int testF32(F32Gemm reference, F32Gemm candidate, Check check) {
        if (reference == null && check != Check.BOUND) {
            throw new IllegalArgumentException("only the bound can be checked without a reference");
        }
        if (quantizer == null && builder == null) {
            throw new IllegalStateException("set weights(...) first");
        }
        int cases = 0;
        try (Arena arena = Arena.ofShared()) {
            for (QuantFormat f : formats) {
                for (int k : ks) {
                    if (!kAllowed.test(f, k)) {
                        continue;
                    }
                    for (int r : rows) {
                        long ws = weightSeed.of(k, r);
                        QuantizedTensor w = weights(f, r, k, ws, arena);
                        for (int n : tokens) {
                            long xs = inputSeed.of(k, n);
                            float[] x = source.values(xs, n * k);
                            String what = name + " " + f + " rows=" + r + " n=" + n + " k=" + k + " (weight seed " + ws
                                    + ", activation seed " + xs + ")";
                            float[] a = new float[n * r];
                            float[] b = new float[n * r];
                            if (reference != null) {
                                reference.gemm(w, x, n, a);
                            }
                            candidate.gemm(w, x, n, b);
                            compare(check, a, b, what);
                            if (comparison != null && reference != null) {
                                comparison.check(w, x, n, a, b, what);
                            }
                            if (check == Check.BOUND || check == Check.BITS_AND_BOUND) {
                                if (boundTheReference && reference != null) {
                                    Bounds.checkFp32AgainstExact(w, x, n, a, "reference, " + what);
                                }
                                Bounds.checkFp32AgainstExact(w, x, n, b, what);
                            }
                            if (split && f32Range != null) {
                                float[] c = new float[n * r];
                                cut(r, n, (r0, r1, t0, t1) -> f32Range.gemm(w, x, r0, r1, t0, t1, c, r));
                                Bounds.assertSameBits(b, c, what + ", " + cutName(r));
                            }
                            cases++;
                        }
                    }
                }
            }
        }
        return cases;
    }

    private QuantizedTensor weights(QuantFormat f, int r, int k, long seed, Arena arena) {
        return builder != null ? builder.build(f, r, k, seed, arena)
                : Inputs.weights(source, quantizer, f, r, k, seed, outliers.test(k), arena);
    }

    /** The values the integer path's activations stand for: each code times its scale. */
    public static float[] dequantized(Activations a) {
        float[] out = new float[a.n() * a.k()];
        for (int t = 0; t < a.n(); t++) {
            for (int c = 0; c < a.k(); c++) {
                out[t * a.k() + c] = a.codes()[t * a.paddedK() + c] * a.scale(t, c / 32);
            }
        }
        return out;
    }

    private interface Piece {
        void run(int r0, int r1, int t0, int t1);
    }

    private void cut(int r, int n, Piece piece) {
        for (int t = 0; t < n; t++) {
            if (splitRows == 0) {
                int rm = r / 3;
                piece.run(0, rm, t, t + 1);
                piece.run(rm, r, t, t + 1);
            } else {
                for (int r0 = 0; r0 < r; r0 += splitRows) {
                    piece.run(r0, Math.min(r, r0 + splitRows), t, t + 1);
                }
            }
        }
    }

    private String cutName(int r) {
        return splitRows == 0 ? "rows cut at " + r / 3 + ", token by token"
                : "group by group of " + splitRows + " rows and token by token";
    }

    private static void compare(Check check, float[] want, float[] got, String what) {
        switch (check) {
            case BITS, BITS_AND_BOUND -> Bounds.assertSameBits(want, got, what);
            case VALUES -> {
                for (int i = 0; i < want.length; i++) {
                    if (want[i] != got[i]) {
                        org.junit.jupiter.api.Assertions.fail(what + ": y[" + i + "] = " + got[i] + ", reference "
                                + want[i]);
                    }
                }
            }
            case BOUND, NONE -> {
            }
        }
    }
}

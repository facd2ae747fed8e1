package dev.lowbit.training;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.lowbit.format.Codebooks;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.QuantOps;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fake-quant operators: forward passes float for float against lowbit's scalar quantizer where it has the
 * same format, backward passes against the closed forms of the STE and against central finite differences.
 */
class FakeQuantTest {
    private static final QuantOps SCALAR = new QuantOps(KernelProvider.scalar(), null);

    private NDManager manager;

    @BeforeEach
    void open() {
        manager = Djl.newManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    // ------------------------------------------------------------------ data

    /** Rows of different magnitudes, one all-zero row, one all-positive and one all-negative row. */
    private static float[] weights(long seed, int rows, int cols) {
        Random rnd = new Random(seed);
        float[] w = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            float mag = (float) Math.pow(10, rnd.nextInt(5) - 3);
            for (int c = 0; c < cols; c++) {
                float v = (float) rnd.nextGaussian() * mag;
                w[r * cols + c] = switch (r) {
                    case 0 -> 0f;
                    case 1 -> Math.abs(v);
                    case 2 -> -Math.abs(v);
                    default -> v;
                };
            }
        }
        return w;
    }

    /** lowbit's scalar quantize-then-dequantize of {@code src} ({@code rows x cols}) in format {@code f}. */
    private static float[] lowbit(QuantFormat f, float[] src, int rows, int cols) {
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor t = SCALAR.quantize(f, src, rows, cols, arena);
            float[] out = new float[rows * cols];
            SCALAR.dequantize(t, out);
            return out;
        }
    }

    private static void assertBitwise(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToIntBits(expected[i]) != Float.floatToIntBits(actual[i])) {
                throw new AssertionError(what + ": element " + i + " is " + actual[i] + ", lowbit gives " + expected[i]);
            }
        }
    }

    private float[] forward(float[] x, Shape shape, Function<NDArray, NDArray> op) {
        return op.apply(manager.create(x, shape)).toFloatArray();
    }

    // ------------------------------------------------------------------ forward against lowbit

    @ParameterizedTest
    @ValueSource(ints = {8, 4, 3, 2})
    void symmetricPerChannelIsLowbitsSymmetricRowFormat(int bits) {
        int rows = 12;
        int cols = 96;
        float[] w = weights(bits, rows, cols);
        float[] expected = lowbit(QuantFormat.grouped(bits, QuantFormat.ROW, true, ScaleType.F32), w, rows, cols);
        assertBitwise(expected, forward(w, new Shape(rows, cols), x -> FakeQuant.symmetric(x, bits, true)),
                "symmetric int" + bits + " per channel");
        // a conv weight [out][in][kh][kw] is out rows of in*kh*kw
        assertBitwise(expected, forward(w, new Shape(rows, 6, 4, 4), x -> FakeQuant.symmetric(x, bits, true)),
                "symmetric int" + bits + " per channel, 4-D");
    }

    @ParameterizedTest
    @ValueSource(ints = {8, 4})
    void symmetricPerTensorIsOneLowbitRow(int bits) {
        float[] w = weights(100 + bits, 8, 32);
        float[] expected = lowbit(QuantFormat.grouped(bits, QuantFormat.ROW, true, ScaleType.F32), w, 1, w.length);
        assertBitwise(expected, forward(w, new Shape(8, 32), x -> FakeQuant.symmetric(x, bits, false)),
                "symmetric int" + bits + " per tensor");
    }

    @ParameterizedTest
    @ValueSource(ints = {8, 4, 3, 2})
    void asymmetricPerChannelIsLowbitsAsymmetricRowFormat(int bits) {
        int rows = 12;
        int cols = 80;
        float[] w = weights(200 + bits, rows, cols);
        float[] expected = lowbit(QuantFormat.grouped(bits, QuantFormat.ROW, false, ScaleType.F32), w, rows, cols);
        assertBitwise(expected, forward(w, new Shape(rows, cols), x -> FakeQuant.asymmetric(x, bits, true)),
                "asymmetric int" + bits + " per channel");
        float[] perTensor = lowbit(QuantFormat.grouped(bits, QuantFormat.ROW, false, ScaleType.F32), w, 1, w.length);
        assertBitwise(perTensor, forward(w, new Shape(rows, cols), x -> FakeQuant.asymmetric(x, bits, false)),
                "asymmetric int" + bits + " per tensor");
    }

    @ParameterizedTest
    @ValueSource(ints = {8, 4, 2})
    void lsqAndAffineWithLowbitsParametersAreLowbitsFormats(int bits) {
        int rows = 10;
        int cols = 64;
        float[] w = weights(300 + bits, rows, cols);
        float[] sym = lowbit(QuantFormat.grouped(bits, QuantFormat.ROW, true, ScaleType.F32), w, rows, cols);
        float[] asym = lowbit(QuantFormat.grouped(bits, QuantFormat.ROW, false, ScaleType.F32), w, rows, cols);
        float[] s = new float[rows];
        float[] d = new float[rows];
        float[] z = new float[rows];
        for (int r = 0; r < rows; r++) {
            float min = Float.POSITIVE_INFINITY;
            float max = Float.NEGATIVE_INFINITY;
            for (int c = 0; c < cols; c++) {
                min = Math.min(min, w[r * cols + c]);
                max = Math.max(max, w[r * cols + c]);
            }
            s[r] = Scales.symmetric(Math.max(-min, max), FakeQuant.qp(bits));
            float[] p = Scales.asymmetric(min, max, (1 << bits) - 1);
            d[r] = p[0];
            z[r] = p[1];
        }
        // the all-zero row 0 has scale 0, which LSQ and the affine step cannot take: compare the other rows
        s[0] = 1f;
        d[0] = 1f;
        float[] lsq = forward(w, new Shape(rows, cols),
                x -> FakeQuant.lsq(x, manager.create(s, new Shape(rows, 1)), bits, true, 0.5f));
        float[] affine = forward(w, new Shape(rows, cols), x -> FakeQuant.affine(x,
                manager.create(d, new Shape(rows, 1)), manager.create(z, new Shape(rows, 1)), bits));
        for (int i = cols; i < w.length; i++) {
            assertEquals(Float.floatToIntBits(sym[i]), Float.floatToIntBits(lsq[i]), "LSQ element " + i);
            assertEquals(Float.floatToIntBits(asym[i]), Float.floatToIntBits(affine[i]), "affine element " + i);
        }
    }

    @Test
    void levelTableWithNf4IsLowbitsCodebookFormat() {
        int rows = 12;
        int cols = 64;
        float[] w = weights(400, rows, cols);
        float[] expected = lowbit(QuantFormat.codebook4(QuantFormat.ROW, ScaleType.F32), w, rows, cols);
        assertBitwise(expected, forward(w, new Shape(rows, cols), x -> FakeQuant.levels(x, Codebooks.nf4(), true)),
                "NF4 per channel");
        float[] perTensor = lowbit(QuantFormat.codebook4(QuantFormat.ROW, ScaleType.F32), w, 1, w.length);
        assertBitwise(perTensor, forward(w, new Shape(rows, cols), x -> FakeQuant.levels(x, Codebooks.nf4(), false)),
                "NF4 per tensor");
    }

    @Test
    void pactForwardIsAlphaTimesTheUnitGrid() {
        Random rnd = new Random(5);
        float[] x = new float[200];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian() * 2f;
        }
        float alpha = 1.7f;
        for (int bits : new int[] {2, 4, 8}) {
            int n = (1 << bits) - 1;
            float[] got = forward(x, new Shape(x.length),
                    v -> FakeQuant.pact(v, manager.create(alpha), bits));
            for (int i = 0; i < x.length; i++) {
                float y = Math.min(Math.max(x[i], 0f), alpha);
                float expected = (float) Math.rint(y * (n / alpha)) * (alpha / n);
                assertEquals(Float.floatToIntBits(expected + 0f), Float.floatToIntBits(got[i]),
                        "PACT int" + bits + " at x = " + x[i]);
            }
        }
    }

    @Test
    void dorefaWeightsLieOnTheGridAndFollowTanh() {
        Random rnd = new Random(6);
        float[] w = new float[300];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) rnd.nextGaussian() * 0.7f;
        }
        for (int bits : new int[] {2, 3, 8}) {
            int n = (1 << bits) - 1;
            float[] got = forward(w, new Shape(w.length), v -> FakeQuant.dorefaWeights(v, bits));
            double max = 0;
            for (float v : w) {
                max = Math.max(max, Math.abs(Math.tanh(v)));
            }
            for (int i = 0; i < w.length; i++) {
                double u = Math.tanh(w[i]) / (2 * max) + 0.5;
                double expected = 2 * (Math.rint(u * n) / n) - 1;
                double level = (got[i] + 1) / 2 * n;
                assertEquals(Math.rint(level), level, 1e-4, "int" + bits + ": " + got[i] + " is not on the grid");
                // float tanh and double tanh may round a value at a boundary differently: at most one step apart
                assertTrue(Math.abs(got[i] - expected) <= 2.0 / n + 1e-6, "int" + bits + " at w = " + w[i]);
                if (Math.abs(u * n - Math.floor(u * n) - 0.5) > 1e-3) {
                    assertEquals(expected, got[i], 1e-6, "int" + bits + " at w = " + w[i]);
                }
            }
        }
    }

    @Test
    void badArgumentsAreRefused() {
        NDArray x = manager.create(new float[] {1f, 2f});
        assertThrows(IllegalArgumentException.class, () -> FakeQuant.symmetric(x, 1, false));
        assertThrows(IllegalArgumentException.class, () -> FakeQuant.levels(x, new float[] {1f, 1f}, false));
        assertThrows(IllegalArgumentException.class, () -> FakeQuant.levels(x, new float[] {0f}, false));
    }

    // ------------------------------------------------------------------ backward

    /** Gradients of {@code Σ c·op(params)} with respect to each of {@code params}. */
    private float[][] gradients(float[] c, Function<NDArray[], NDArray> op, NDArray... params) {
        for (NDArray p : params) {
            p.setRequiresGradient(true);
        }
        try (GradientCollector gc = Engine.getEngine(Djl.ENGINE).newGradientCollector()) {
            NDArray out = op.apply(params);
            NDArray loss = out.mul(manager.create(c, out.getShape())).sum();
            gc.backward(loss);
        }
        float[][] g = new float[params.length][];
        for (int i = 0; i < params.length; i++) {
            g[i] = params[i].getGradient().toFloatArray();
        }
        return g;
    }

    private static float[] cotangent(long seed, int n) {
        Random rnd = new Random(seed);
        float[] c = new float[n];
        for (int i = 0; i < n; i++) {
            c[i] = (float) rnd.nextGaussian();
        }
        return c;
    }

    private static void assertClose(double expected, double actual, double tol, String what) {
        assertTrue(Math.abs(expected - actual) <= tol * Math.max(1, Math.abs(expected)),
                what + ": expected " + expected + ", got " + actual);
    }

    @Test
    void fixedScaleQuantizersPassTheGradientInsideTheRange() {
        int rows = 6;
        int cols = 40;
        float[] w = weights(500, rows, cols);
        float[] c = cotangent(501, w.length);
        Shape shape = new Shape(rows, cols);
        for (Function<NDArray, NDArray> op : java.util.List.<Function<NDArray, NDArray>>of(
                x -> FakeQuant.symmetric(x, 4, true), x -> FakeQuant.asymmetric(x, 4, true),
                x -> FakeQuant.symmetric(x, 8, false), x -> FakeQuant.levels(x, Codebooks.nf4(), true))) {
            // scales from the data clip nothing: the gradient is the cotangent itself
            float[] g = gradients(c, p -> op.apply(p[0]), manager.create(w, shape))[0];
            for (int i = 0; i < w.length; i++) {
                assertEquals(c[i], g[i], "element " + i);
            }
        }
    }

    @Test
    void lsqGradientsAreTheClosedForms() {
        int rows = 4;
        int cols = 50;
        float[] x = cotangent(600, rows * cols);
        float[] c = cotangent(601, rows * cols);
        float[] s = {0.05f, 0.2f, 0.3f, 0.01f}; // small steps clip many elements
        for (boolean signed : new boolean[] {true, false}) {
            int bits = 3;
            int lo = signed ? -FakeQuant.qn(bits) : 0;
            int hi = signed ? FakeQuant.qp(bits) : (1 << bits) - 1;
            float g = FakeQuant.lsqGradScale(x.length, bits, signed);
            float[][] grads = gradients(c, p -> FakeQuant.lsq(p[0], p[1], bits, signed, g),
                    manager.create(x, new Shape(rows, cols)), manager.create(s, new Shape(rows, 1)));
            for (int r = 0; r < rows; r++) {
                double ds = 0;
                for (int j = 0; j < cols; j++) {
                    int i = r * cols + j;
                    float v = x[i] / s[r];
                    boolean inside = v >= lo && v <= hi;
                    assertClose(inside ? c[i] : 0, grads[0][i], 1e-6, "∂/∂x at " + i);
                    ds += c[i] * (v < lo ? lo : v > hi ? hi : Math.rint(v) - (double) v);
                }
                assertClose(g * ds, grads[1][r], 1e-5, "∂/∂s of row " + r + (signed ? ", signed" : ", unsigned"));
            }
        }
    }

    /** Elements whose {@code x/s} lies at least {@code margin} away from every rounding boundary. */
    private static float[] awayFromBoundaries(long seed, int n, float s, float margin, float spread) {
        Random rnd = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; ) {
            float v = (float) rnd.nextGaussian() * spread;
            double f = v / s - Math.floor(v / s);
            if (Math.abs(f - 0.5) > margin) {
                x[i++] = v;
            }
        }
        return x;
    }

    @Test
    void lsqScaleGradientAgreesWithFiniteDifferences() {
        // Away from rounding boundaries x̂ = s·round(x/s) has derivative round(x/s) inside the range and −Qn or Qp
        // where clipped; the STE's gradient differs from it by −x/s inside: the finite difference of the forward
        // pass, less that term, is the gradient.
        int bits = 4;
        float s = 0.05f;
        float[] x = awayFromBoundaries(700, 40, s, 0.1f, 0.3f);
        float[] c = cotangent(701, x.length);
        float g = 1f;
        float grad = gradients(c, p -> FakeQuant.lsq(p[0], p[1], bits, true, g), manager.create(x),
                manager.create(s))[1][0];
        float h = 1e-4f;
        double fd = (loss(x, c, s + h, v -> FakeQuant.lsq(v, manager.create(s + h), bits, true, g))
                - loss(x, c, s - h, v -> FakeQuant.lsq(v, manager.create(s - h), bits, true, g))) / (2 * h);
        double ste = 0;
        for (int i = 0; i < x.length; i++) {
            double v = x[i] / s;
            if (v >= -FakeQuant.qn(bits) && v <= FakeQuant.qp(bits)) {
                ste -= c[i] * v;
            }
        }
        assertClose(fd + ste, grad, 1e-2, "∂/∂s against finite differences");
    }

    private double loss(float[] x, float[] c, float unused, Function<NDArray, NDArray> op) {
        float[] y = op.apply(manager.create(x)).toFloatArray();
        double sum = 0;
        for (int i = 0; i < y.length; i++) {
            sum += (double) c[i] * y[i];
        }
        return sum;
    }

    @Test
    void affineGradientsAreTheClosedForms() {
        int bits = 3;
        int qmax = (1 << bits) - 1;
        float[] x = cotangent(800, 120);
        float[] c = cotangent(801, x.length);
        float delta = 0.2f;
        float zero = 3.3f; // rounds to 3: codes 0..7 cover [-0.6, 0.8]
        float[][] grads = gradients(c, p -> FakeQuant.affine(p[0], p[1], p[2], bits), manager.create(x),
                manager.create(delta), manager.create(zero));
        double dd = 0;
        double dz = 0;
        float zr = (float) Math.rint(zero);
        for (int i = 0; i < x.length; i++) {
            float u = x[i] / delta;
            float q = (float) Math.rint(u) + zr;
            boolean inside = q >= 0 && q <= qmax;
            assertClose(inside ? c[i] : 0, grads[0][i], 1e-6, "∂/∂x at " + i);
            dd += c[i] * (q < 0 ? -zr : q > qmax ? qmax - zr : Math.rint(u) - (double) u);
            dz += inside ? 0 : -c[i] * delta;
        }
        assertClose(dd, grads[1][0], 1e-5, "∂/∂Δ");
        assertClose(dz, grads[2][0], 1e-5, "∂/∂z");
    }

    @Test
    void pactGradientsAreTheClosedFormsAndFiniteDifferences() {
        int bits = 3;
        int n = (1 << bits) - 1;
        float alpha = 1.1f;
        float[] x = awayFromBoundaries(900, 80, alpha / n, 0.1f, 1.5f);
        float[] c = cotangent(901, x.length);
        float[][] grads = gradients(c, p -> FakeQuant.pact(p[0], p[1], bits), manager.create(x),
                manager.create(alpha));
        double da = 0;
        double ste = 0;
        for (int i = 0; i < x.length; i++) {
            boolean inside = x[i] >= 0 && x[i] < alpha;
            assertClose(inside ? c[i] : 0, grads[0][i], 1e-6, "∂/∂x at " + i);
            if (x[i] >= alpha) {
                da += c[i];
            } else if (inside) {
                double yq = Math.rint(x[i] / alpha * n) / n * alpha;
                da += c[i] * (yq - x[i]) / alpha;
                ste -= c[i] * x[i] / alpha;
            }
        }
        assertClose(da, grads[1][0], 1e-5, "∂/∂α");
        // y_q = α·round(n·x/α)/n has derivative y_q/α inside and 1 above: the STE's differs by −x/α inside
        float h = 1e-4f;
        double fd = (loss(x, c, 0, v -> FakeQuant.pact(v, manager.create(alpha + h), bits))
                - loss(x, c, 0, v -> FakeQuant.pact(v, manager.create(alpha - h), bits))) / (2 * h);
        assertClose(fd + ste, grads[1][0], 1e-2, "∂/∂α against finite differences");
    }

    @Test
    void dorefaGradientIsTheTransformsThroughTheMaximum() {
        float[] w = cotangent(1000, 64);
        float[] c = cotangent(1001, w.length);
        float[] g = gradients(c, p -> FakeQuant.dorefaWeights(p[0], 4), manager.create(w))[0];
        // with the STE, the gradient is that of L(w) = Σ c·(tanh(w)/max|tanh(w)|): central differences in double
        double h = 1e-5;
        for (int j = 0; j < w.length; j++) {
            double[] plus = toDouble(w);
            double[] minus = toDouble(w);
            plus[j] += h;
            minus[j] -= h;
            double fd = (unrounded(plus, c) - unrounded(minus, c)) / (2 * h);
            assertClose(fd, g[j], 1e-3, "∂/∂w at " + j);
        }
    }

    private static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            d[i] = x[i];
        }
        return d;
    }

    private static double unrounded(double[] w, float[] c) {
        double max = 0;
        for (double v : w) {
            max = Math.max(max, Math.abs(Math.tanh(v)));
        }
        double sum = 0;
        for (int i = 0; i < w.length; i++) {
            sum += c[i] * (2 * (Math.tanh(w[i]) / (2 * max) + 0.5) - 1);
        }
        return sum;
    }

    @Test
    void levelTableGradientIsZeroOutsideTheOutermostLevels() {
        // LSQ-free level table, per tensor: the scale comes from absmax, so clip by giving levels that do not
        // reach the extremes of the data's sign: levels in [-1, 0.5] with reach 1 clip the positives above 0.5·Δ
        float[] levels = {-1f, -0.5f, 0f, 0.25f, 0.5f};
        float[] x = cotangent(1100, 100);
        float[] c = cotangent(1101, x.length);
        float absmax = 0;
        for (float v : x) {
            absmax = Math.max(absmax, Math.abs(v));
        }
        float d = absmax;
        float[] g = gradients(c, p -> FakeQuant.levels(p[0], levels, false), manager.create(x))[0];
        int clipped = 0;
        for (int i = 0; i < x.length; i++) {
            float v = x[i] / d;
            boolean inside = v >= -1f && v <= 0.5f;
            clipped += inside ? 0 : 1;
            assertEquals(inside ? c[i] : 0f, g[i], 0f, "element " + i); // 0 or −0
        }
        assertTrue(clipped > 0, "some elements lie beyond the last level");
    }
}

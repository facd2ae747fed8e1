package dev.lowbit.training;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Integer-only inference against the fake-quant forward pass it replaces: networks trained for a few dozen steps
 * with LSQ and with DoReFa+PACT at several widths, exported, loaded, and run on 500 test images, every layer's input
 * codes compared with those the fake-quant pass made.
 *
 * <p>The bounds. Both sides compute the same codes and the same integer products; they differ in the order of fp32
 * sums (PyTorch's convolution against the kernel's int32 sums times one scale), in where a scale is applied
 * ({@code c·s} per element against one scale per product) and, for DoReFa, in the weights' last bits (training's
 * {@code 2·(i/n) − 1} in fp32 against the exact grid {@code (i − n/2)·(2/n)}). So a layer's outputs differ by a
 * few ulps, and where an image's codes all agree its logits agree to about 1e-7 of their magnitude (measured: at
 * most 3.2e-7 over all these networks); the bound is 1e-5 of the batch's largest logit. A re-quantization turns
 * an ulp into another code only where a value lies within an ulp of a rounding boundary, so the first layer where an
 * image's codes differ holds one or a few such codes (measured: at most 3; bound 8, where a wrong shift, scale,
 * width or layout changes most codes of a layer). In the MLPs no code differs. In ResNet-20 three images of 500
 * (LSQ W4A4) to about a third (mixed DoReFa) get such a code, and that step, a whole code at 4 bits or less,
 * moves the following layers' values by enough to change more codes downstream (measured: 287 of 70.6M codes
 * in the LSQ network, 0.6% in the mixed DoReFa one). Bounds: at most 2% of the codes differ, at least 40% of the
 * images keep every code, and the predicted class differs on at most 3% of the images (measured: 0 and 1 of 500).
 */
class IntegerNetworkTest {
    static final int IMAGES = 500;
    static final double BOUND = 1e-5;
    static final int FIRST_FLIPS = 8;
    static final double FLIPPED_CODES = 0.02;
    static final double CLEAN_IMAGES = 0.4;
    static final double DISAGREE = 0.03;

    private static FashionMnist.Split test;

    @BeforeAll
    static void dataset() {
        assumeTrue(FashionMnist.available(), "Fashion-MNIST is not in " + FashionMnist.dir()
                + " (apt-get install dataset-fashion-mnist)");
        Djl.threads(1);
        test = Trainer.subset(FashionMnist.test(), IMAGES);
    }

    static FashionMnist.Split testSplit() {
        return test;
    }

    /** A network trained on {@code trainImages} images with the given widths per layer (input widths of layer 0 ignored). */
    static Trainer train(String model, String method, int[] wBits, int[] aBits, int trainImages, int batch, int epochs) throws Exception {
        Trainer.Config c = new Trainer.Config(model, method, 4, 4, Optim.Kind.ADAM, 2e-3f, 0f, epochs, batch, 7,
                trainImages, 20, false, null);
        Trainer t = new Trainer(c);
        LayerQuantizer q = (LayerQuantizer) t.quantizer();
        for (int i = 0; i < wBits.length; i++) {
            q.setWeightBits(i, wBits[i]);
            q.setInputBits(i, aBits[i]);
        }
        t.run(null, Progress.silent());
        return t;
    }

    static int[] widths(String spec, int n) {
        String[] s = spec.split(" ");
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = Integer.parseInt(s[i % s.length]);
        }
        return out;
    }

    /** What a comparison found. */
    record Comparison(double maxLogit, double maxErrClean, double maxErr, int imagesWithFlips, int firstFlips,
                      long flippedCodes, long codes, int disagree) {
    }

    /**
     * Exports {@code t}, loads it, and runs the first {@link #IMAGES} test images through both the fake-quant forward
     * pass (evaluation mode, with a quantizer that records each layer's input codes as it passes them on) and the
     * integer network (which shows its own codes), in batches of 100; checks the bounds of the class comment.
     */
    static Comparison compare(Trainer t, Path dir, String label) throws Exception {
        Path file = dir.resolve(label.replace(' ', '_') + ".safetensors");
        IntegerExport.write(t, file);
        LayerQuantizer lq = (LayerQuantizer) t.quantizer();
        Network network = t.network();
        byte[] bytes = IntegerNetwork.toBytes(test.images());
        double maxLogit = 0;
        double maxErrClean = 0;
        double maxErr = 0;
        int withFlips = 0;
        long flipped = 0;
        long codes = 0;
        int disagree = 0;
        int[] firstFlips = {0};
        try (IntegerNetwork net = IntegerNetwork.load(file, 1); IntegerNetwork two = IntegerNetwork.load(file, 2)) {
            assertEquals(t.widths(), net.widths());
            int batch = 100;
            for (int from = 0; from < IMAGES; from += batch) {
                int b = Math.min(batch, IMAGES - from);
                Map<Integer, int[]> torchCodes = new HashMap<>();
                float[] fake = fakeQuantLogits(network, lq, from, b, torchCodes);
                boolean[] flips = new boolean[b];
                long[] counts = new long[2];
                net.observer = (layer, first, images, c, shift, tokens, features) -> {
                    int[] want = torchCodes.get(layer);
                    int[] here = new int[b];
                    int perImage = tokens / images * features;
                    for (int i = 0; i < tokens * features; i++) {
                        if (want[first * perImage + i] != c[i] + shift) {
                            here[first + i / perImage]++;
                            counts[0]++;
                        }
                    }
                    counts[1] += (long) tokens * features;
                    for (int img = 0; img < b; img++) {
                        if (here[img] > 0 && !flips[img]) {
                            // the first layer where this image's codes differ: a value an ulp from a rounding boundary
                            // gives one code here and there, a wrong code path gives many
                            firstFlips[0] = Math.max(firstFlips[0], here[img]);
                            flips[img] = true;
                        }
                    }
                };
                byte[] part = Arrays.copyOfRange(bytes, from * FashionMnist.PIXELS, (from + b) * FashionMnist.PIXELS);
                float[][] ints = net.logits(part, b);
                net.observer = null;
                float[][] again = two.logits(part, b);
                flipped += counts[0];
                codes += counts[1];
                for (int i = 0; i < b; i++) {
                    // Threads split the work, never a sum: the same logits bit for bit.
                    assertArrayEquals(ints[i], again[i], label + ": 2 threads differ from 1 at image " + (from + i));
                    float[] f = Arrays.copyOfRange(fake, i * FashionMnist.CLASSES, (i + 1) * FashionMnist.CLASSES);
                    double err = 0;
                    for (int c = 0; c < FashionMnist.CLASSES; c++) {
                        err = Math.max(err, Math.abs(f[c] - ints[i][c]));
                        maxLogit = Math.max(maxLogit, Math.abs(f[c]));
                    }
                    maxErr = Math.max(maxErr, err);
                    if (flips[i]) {
                        withFlips++;
                    } else {
                        maxErrClean = Math.max(maxErrClean, err);
                    }
                    disagree += IntegerNetwork.argmax(f) == IntegerNetwork.argmax(ints[i]) ? 0 : 1;
                }
            }
        }
        Comparison r = new Comparison(maxLogit, maxErrClean, maxErr, withFlips, firstFlips[0], flipped, codes, disagree);
        System.out.printf(Locale.ROOT, "%-30s %s: max |logit| %.3f; max error %.3g (%.2g of it) on the %d images whose"
                        + " codes all agree, %.3g over all; %d images with a different code (at most %d in the first layer"
                        + " where they differ; %d of %d codes in all); argmax differs on %d of %d%n", label, t.widths(),
                maxLogit, maxErrClean, maxErrClean / maxLogit, IMAGES - withFlips, maxErr, withFlips, firstFlips[0],
                flipped, codes, disagree, IMAGES);
        assertTrue(maxLogit > 0.5, label + ": the trained network's logits are all near 0: " + maxLogit);
        assertTrue(maxErrClean <= BOUND * maxLogit, label + ": max logit error " + maxErrClean + " above " + BOUND
                + " of " + maxLogit + " on images whose codes all agree");
        assertTrue(firstFlips[0] <= FIRST_FLIPS, label + ": " + firstFlips[0] + " codes of one image differ in the first"
                + " layer where any does");
        assertTrue(flipped <= FLIPPED_CODES * codes, label + ": " + flipped + " of " + codes + " codes differ");
        assertTrue(IMAGES - withFlips >= CLEAN_IMAGES * IMAGES, label + ": only " + (IMAGES - withFlips) + " of " + IMAGES
                + " images have every code the same");
        assertTrue(disagree <= DISAGREE * IMAGES, label + ": predicted classes differ on " + disagree + " of " + IMAGES);
        return r;
    }

    /**
     * The fake-quant logits of test images {@code [from, from+b)}, and in {@code codes} each layer's input codes as
     * the pass made them ({@code [image][y][x][channel]}), read back from its quantized inputs.
     */
    static float[] fakeQuantLogits(Network network, LayerQuantizer lq, int from, int b, Map<Integer, int[]> codes) {
        Quantizer recorder = new Quantizer() {
            @Override
            public NDArray weight(Layer l, NDArray w) {
                return lq.weight(l, w);
            }

            @Override
            public NDArray input(Layer l, NDArray x) {
                NDArray v = lq.input(l, x);
                if (l.index() > 0) {
                    float[] values = v.toFloatArray();
                    long[] shape = v.getShape().getShape();
                    int features = (int) shape[1];
                    int positions = shape.length == 4 ? (int) (shape[2] * shape[3]) : 1;
                    float p = IntegerExport.inputParam(l, lq);
                    int n = (1 << lq.inputBits(l)) - 1;
                    int[] c = new int[values.length];
                    for (int img = 0; img < b; img++) {
                        for (int f = 0; f < features; f++) {
                            for (int q = 0; q < positions; q++) {
                                float value = values[(img * features + f) * positions + q];
                                c[(img * positions + q) * features + f] = lq.method() == LayerQuantizer.Method.LSQ
                                        ? Math.round(value / p) : Math.round(value / p * n);
                            }
                        }
                    }
                    codes.put(l.index(), c);
                }
                return v;
            }

            @Override
            public int weightBits(Layer l) {
                return lq.weightBits(l);
            }

            @Override
            public int inputBits(Layer l) {
                return lq.inputBits(l);
            }

            @Override
            public Map<String, NDArray> parameters() {
                return lq.parameters();
            }

            @Override
            public String describe() {
                return lq.describe();
            }
        };
        NDArray any = network.parameters().values().iterator().next();
        try (NDManager sm = any.getManager().newSubManager()) {
            network.attach(sm);
            for (NDArray a : lq.parameters().values()) {
                a.tempAttach(sm);
            }
            float[] images = Arrays.copyOfRange(test.images(), from * FashionMnist.PIXELS, (from + b) * FashionMnist.PIXELS);
            NDArray x = sm.create(images, new Shape(b, 1, FashionMnist.ROWS, FashionMnist.COLS));
            return network.forward(x, Mode.EVAL, recorder).toFloatArray();
        }
    }

    @ParameterizedTest(name = "mlp {0} {1}")
    @CsvSource({
            "lsq,         4 4, 8 4",
            "lsq,         2 3, 8 3",
            "lsq,         5 6, 8 7",
            "dorefa-pact, 4 4, 8 4",
            "dorefa-pact, 2 3, 8 3",
            "dorefa-pact, 7 8, 8 5",
    })
    void mlpMatchesFakeQuant(String method, String w, String a, @TempDir Path dir) throws Exception {
        try (Trainer t = train("mlp", method, widths(w, 2), widths(a, 2), 2000, 50, 2)) {
            compare(t, dir, "mlp " + method + " W" + w + " A" + a);
        }
    }

    @Test
    void resnetLsqW4A4MatchesFakeQuant(@TempDir Path dir) throws Exception {
        // W4A4 inside, the first and last layers at W8A8, one layer at W5A6 and one at W2A3
        int[] w = widths("4", 20);
        int[] a = widths("4", 20);
        w[0] = 8;
        w[19] = 8;
        a[19] = 8;
        w[5] = 5;
        a[5] = 6;
        w[10] = 2;
        a[10] = 3;
        try (Trainer t = train("resnet20", "lsq", w, a, 320, 16, 2)) {
            compare(t, dir, "resnet20 lsq W4A4");
        }
    }

    @Test
    void resnetDorefaPactMixedMatchesFakeQuant(@TempDir Path dir) throws Exception {
        // every weight width 2..8, inputs 4..8 (W2A3 is in the LSQ network and the MLPs)
        try (Trainer t = train("resnet20", "dorefa-pact", widths("2 3 4 5 6 7 8", 20), widths("4 8 5 6 7", 20),
                320, 16, 2)) {
            compare(t, dir, "resnet20 dorefa-pact mixed");
        }
    }
}

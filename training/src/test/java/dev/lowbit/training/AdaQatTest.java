package dev.lowbit.training;

import ai.djl.ndarray.NDManager;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** AdaQAT's bit-width step, BitOPs term, freezing and oscillation rule, on controlled losses and on real training. */
class AdaQatTest {
    private NDManager manager;
    private Network net;

    @BeforeAll
    static void oneThread() {
        Djl.threads(1);
    }

    @BeforeEach
    void open() {
        manager = Djl.newManager();
        net = Network.create("resnet20", manager, 1);
    }

    @AfterEach
    void close() {
        manager.close();
    }

    private AdaQat adaqat(boolean perLayer, float lambda, float rate, AdaQat.Discretize d) {
        LayerQuantizer q = LayerQuantizer.uniform(LayerQuantizer.Method.DOREFA_PACT, net.layers(), 8, 8, manager);
        return new AdaQat(new AdaQat.Config(perLayer, lambda, rate, 8f, 3, d), net, q);
    }

    private static double innerMacShare(Network net) {
        long inner = 0;
        for (Layer l : net.layers().subList(1, net.layers().size() - 1)) {
            inner += l.macsPerImage();
        }
        return (double) inner / net.macs();
    }

    /**
     * The step is {@code N ← N − η·(L(⌈N⌉) − L(⌈N⌉−1) + λ·Σ MACs·N_other / (64·Σ MACs))}: with a task loss that
     * falls by 0.3 per weight bit and 0.1 per input bit, each variable moves by exactly that.
     */
    @Test
    void theStepIsTheFiniteDifferencePlusTheBitopsTerm() {
        AdaQat a = adaqat(false, 50f, 0.1f, AdaQat.Discretize.CEIL);
        Layer probeLayer = net.layers().get(5);
        java.util.function.ToDoubleFunction<Quantizer> loss = q -> 10 - 0.3 * q.weightBits(probeLayer)
                - 0.1 * q.inputBits(probeLayer);
        int[] probes = {0};
        a.step(10 - 0.3 * 8 - 0.1 * 8, q -> {
            probes[0]++;
            return loss.applyAsDouble(q);
        });
        assertEquals(2, probes[0], "one extra pass per variable");
        double share = innerMacShare(net);
        List<AdaQat.Variable> v = a.variables();
        // L(8) − L(7) = −0.3 for weights, −0.1 for inputs; ∂L_hw/∂N_w = share·N_a/64 = share·8/64.
        double nw = 8 - 0.1 * (-0.3 + 50 * share * 8 / 64);
        double na = 8 - 0.1 * (-0.1 + 50 * share * 8 / 64);
        assertEquals(nw, v.get(0).value(), 1e-6);
        assertEquals(na, v.get(1).value(), 1e-6);
        assertTrue(nw < 8 && nw > 7, "the test moves N_w into (7, 8): " + nw);
        assertEquals(8, a.width(v.get(0)), "⌈N_w⌉");
        // The next step's neighbours are 8 and 7 again, and the BitOPs term uses the relaxed N of the other width.
        a.step(10 - 0.3 * 8 - 0.1 * 8, loss);
        assertEquals(nw - 0.1 * (-0.3 + 50 * share * na / 64), a.variables().get(0).value(), 1e-6);
    }

    @Test
    void theBitopsTermAloneLowersEveryWidthAndTheClampHoldsAtTwo() {
        // Per layer, each width's BitOPs gradient is its layer's share of the multiply-adds: the classifier's
        // is 2·10⁻⁵, so λ must be large to move it.
        AdaQat a = adaqat(true, 64_000f, 1f, AdaQat.Discretize.CEIL);
        assertEquals(39, a.variables().size(), "20 weight widths, 19 input widths");
        assertEquals(1.0, a.hardwareLoss(), 1e-12);
        for (int i = 0; i < 200; i++) {
            a.step(0, q -> 0);
        }
        for (AdaQat.Variable v : a.variables()) {
            assertEquals(2.0, v.value(), 0.0, v.name());
        }
        long first = net.layers().get(0).macsPerImage();
        // Layer 0's input is the 8-bit image.
        assertEquals((first * 2 * 8 + (net.macs() - first) * 2 * 2) / (64.0 * net.macs()), a.hardwareLoss(), 1e-12);
    }

    @Test
    void roundDiscretizationProbesBothNeighbours() {
        AdaQat a = adaqat(false, 0f, 1f, AdaQat.Discretize.ROUND);
        // Move N_w to 6.4: D = 6, neighbours 7 and 6, so one probe at 7 (6 is the training pass).
        a.step(0, q -> q.weightBits(net.layers().get(1)) == 7 ? 1.6 : 0);
        // L(8) − L(7) = 0 − 1.6 → N_w = 8 + 1.6 = clamped 8; use the other direction instead:
        a.step(0, q -> q.weightBits(net.layers().get(1)) == 7 ? -1.6 : 0);
        double n = a.variables().get(0).value();
        assertEquals(6.4, n, 1e-6);
        assertEquals(6, a.width(a.variables().get(0)));
        List<String> probes = new java.util.ArrayList<>();
        Layer l1 = net.layers().get(1);
        a.step(0, q -> {
            probes.add("W" + q.weightBits(l1) + "A" + q.inputBits(l1));
            return 0;
        });
        // N_w = 6.4: the training pass ran at D = 6, so only ⌈6.4⌉ = 7 is probed; N_a = 8: only 7.
        assertEquals(List.of("W7A8", "W6A7"), probes);
    }

    /** Drives N_w by a fixed amount per step: the task loss gap is {@code gap}, λ = 0. */
    private static void move(AdaQat a, double gap, int steps) {
        for (int i = 0; i < steps; i++) {
            a.step(0, q -> -gap);
        }
    }

    @Test
    void aStableWidthFreezesAfterEEpochs() {
        AdaQat a = adaqat(false, 0f, 0.1f, AdaQat.Discretize.CEIL);
        move(a, 1, 15); // 8 → 6.5: D = 7
        assertEquals(7, a.width(a.variables().get(0)));
        assertTrue(a.endEpoch().isEmpty(), "moved this epoch: not stable");
        assertTrue(a.endEpoch().isEmpty());
        assertTrue(a.endEpoch().isEmpty());
        move(a, 0, 5);
        List<String> frozen = a.endEpoch();
        assertEquals(2, frozen.size(), frozen.toString()); // the input width never moved: it freezes too
        assertTrue(frozen.get(0).contains("w frozen at 7 bits (stable for 3 epochs)"), frozen.toString());
        assertTrue(a.variables().get(0).frozen());
        assertTrue(a.done());
        double before = a.variables().get(0).value();
        move(a, 1, 5);
        assertEquals(before, a.variables().get(0).value(), "a frozen width no longer moves");
    }

    @Test
    void anOscillationFreezesAtTheWiderWidthAndOneChangeKeepsTraining() {
        AdaQat a = adaqat(false, 0f, 0.1f, AdaQat.Discretize.CEIL);
        move(a, 1, 5); // 7.5: D = 8
        a.endEpoch();
        move(a, 1, 10); // 6.5: D = 7, one change
        a.endEpoch();
        move(a, 0, 1);
        assertTrue(a.endEpoch().stream().noneMatch(s -> s.startsWith("w ")), "one change: a descent, not an oscillation");
        assertFalse(a.variables().get(0).frozen());
        move(a, -1, 10); // back to 7.5: D = 8, second change, but only one in this epoch
        assertTrue(a.endEpoch().stream().noneMatch(s -> s.startsWith("w ")), "not flipping within its last epoch");
        move(a, 1, 10); // 6.5: D = 7
        move(a, -1, 10); // 7.5: D = 8, still going back and forth
        List<String> frozen = a.endEpoch();
        assertTrue(frozen.stream().anyMatch(s -> s.startsWith("w frozen at 8 bits (oscillated between 7 and 8")),
                frozen.toString());
        assertEquals(8, a.width(a.variables().get(0)));
    }

    @Test
    void jitterWhileCrossingABoundaryIsADescent() {
        AdaQat a = adaqat(false, 0f, 0.1f, AdaQat.Discretize.CEIL);
        move(a, 1, 9); // 7.1: D = 8
        for (int i = 0; i < 3; i++) { // noisy steps about 7: D flips 7, 8, 7, ...
            move(a, 1, 2);
            move(a, -1, 2);
        }
        move(a, 1, 5); // on down to 6.6: D = 7
        a.endEpoch();
        move(a, 0, 3);
        a.endEpoch();
        move(a, 0, 3);
        List<String> frozen = a.endEpoch(); // the window holds 7 and 8 with many changes, its last epoch none
        assertTrue(frozen.stream().noneMatch(s -> s.contains("oscillated")), frozen.toString());
        assertFalse(a.variables().get(0).frozen(), "a descent keeps training");
        move(a, 0, 3);
        frozen = a.endEpoch();
        assertTrue(frozen.stream().anyMatch(s -> s.startsWith("w frozen at 7 bits (stable")), frozen.toString());
    }

    @Test
    void theStateSurvivesACheckpoint() {
        AdaQat a = adaqat(false, 0f, 0.1f, AdaQat.Discretize.CEIL);
        move(a, 1, 15);
        a.endEpoch();
        move(a, 1, 3);
        AdaQat b = adaqat(false, 0f, 0.1f, AdaQat.Discretize.CEIL);
        b.restore(i -> a.state(a.variables().get(i)));
        for (int i = 0; i < 2; i++) {
            assertEquals(a.variables().get(i).value(), b.variables().get(i).value(), 1e-6);
            assertEquals(java.util.Arrays.toString(a.state(a.variables().get(i))),
                    java.util.Arrays.toString(b.state(b.variables().get(i))));
        }
        assertEquals(a.summary(), b.summary());
    }

    /** Real training: with λ > 0, one epoch of the MLP on 2,000 images takes both widths below 8. */
    @Test
    void lambdaLowersTheWidthsFromEightInRealTraining() throws IOException {
        assumeTrue(FashionMnist.available(), "Fashion-MNIST is not in " + FashionMnist.dir()
                + " (apt-get install dataset-fashion-mnist)");
        try (Trainer t = new Trainer(TrainerTest.mlp("adaqat", 8, 8, 1, 2000))) {
            Trainer.Epoch e = t.run(null, Progress.silent()).get(0);
            for (AdaQat.Variable v : t.adaqat().variables()) {
                assertTrue(v.value() < 7, v.name() + " = " + v.value());
            }
            assertTrue(e.bitops() < 0.75 * 64 * t.network().macs(), "BitOPs fell below W8A8's: " + e);
            assertTrue(e.testAccuracy() > 0.5, "and the network still learned (chance is 10%): " + e);
        }
        // λ = 0: the task alone keeps the widths at 8 or close (the loss gap from 8 to 7 bits is tiny).
        Trainer.Config c = new Trainer.Config("mlp", "adaqat", 8, 8, Optim.Kind.SGD, 0.1f, 5e-4f, 1, 64, 7, 2000, 1000,
                true, new AdaQat.Config(false, 0f, 0.5f, 8f, 5, AdaQat.Discretize.CEIL));
        try (Trainer t = new Trainer(c)) {
            t.run(null, Progress.silent());
            for (AdaQat.Variable v : t.adaqat().variables()) {
                assertTrue(v.value() > 7, v.name() + " = " + v.value());
            }
        }
    }
}

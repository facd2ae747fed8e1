package dev.lowbit.training;

import ai.djl.ndarray.NDArray;
import dev.lowbit.format.io.CorruptFileException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.channels.FileChannel;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The training loop on real Fashion-MNIST: it learns, it resumes bit for bit, and it refuses what it cannot use. */
class TrainerTest {
    @BeforeAll
    static void oneThread() {
        Djl.threads(1);
    }

    private static void assumeDataset() {
        assumeTrue(FashionMnist.available(), "Fashion-MNIST is not in " + FashionMnist.dir()
                + " (apt-get install dataset-fashion-mnist)");
    }

    static Trainer.Config mlp(String method, int w, int a, int epochs, int images) {
        return new Trainer.Config("mlp", method, w, a, Optim.Kind.SGD, 0.1f, 5e-4f, epochs, 64, 7, images, 1000, true,
                method.equals("adaqat") ? new AdaQat.Config(false, 2f, 0.5f, 8f, 5, AdaQat.Discretize.CEIL) : null);
    }

    /**
     * Two epochs on 3,000 images: the fp32 MLP reaches 72% on 1,000 test images, and LSQ at W4A4 (both layers,
     * 4-bit inputs) 70% (seen: 76% and 75%; chance is 10%).
     */
    @Test
    void mlpLearnsOnASubset() throws IOException {
        assumeDataset();
        try (Trainer t = new Trainer(mlp("fp32", 8, 8, 2, 3000))) {
            List<Trainer.Epoch> h = t.run(null, Progress.silent());
            assertEquals(2, h.size());
            assertTrue(h.get(1).testAccuracy() >= 0.72, "fp32 MLP: " + h.get(1));
            assertTrue(h.get(1).trainLoss() < h.get(0).trainLoss(), "the loss falls: " + h);
        }
        try (Trainer t = new Trainer(mlp("lsq", 4, 4, 2, 3000))) {
            List<Trainer.Epoch> h = t.run(null, Progress.silent());
            assertEquals("4/8 4/4", h.get(1).widths());
            assertTrue(h.get(1).testAccuracy() >= 0.70, "LSQ W4A4 MLP: " + h.get(1));
        }
    }

    @Test
    void resnet20HasItsShapeParametersAndMultiplyAdds() {
        try (Trainer t = new Trainer(new Trainer.Config("resnet20", "fp32", 8, 8, Optim.Kind.SGD, 0.1f, 0f, 1, 8, 1,
                0, 0, false, null))) {
            Network n = t.network();
            assertEquals(20, n.layers().size());
            long params = 0;
            for (NDArray a : n.parameters().values()) {
                params += a.size();
            }
            assertEquals(269_434, params, "ResNet-20's trainable parameters (convolutions, batch norms, classifier)");
            // conv0 16·9·784, stage 1 six 16·16·9·784, stages 2 and 3 (16→32 and 32→64 at stride 2, five more each),
            // the classifier 64·10
            assertEquals(112_896 + 6 * 1_806_336L + 2 * (903_168 + 5 * 1_806_336L) + 640, n.macs());
            float[] logits = t.logits(FashionMnist.Split.class.cast(tiny()), 0, 3)[2];
            assertEquals(10, logits.length);
        }
    }

    private static FashionMnist.Split tiny() {
        float[] images = new float[3 * FashionMnist.PIXELS];
        for (int i = 0; i < images.length; i++) {
            images[i] = (i * 37 % 256) / 255f;
        }
        return new FashionMnist.Split(images, new byte[] {0, 1, 2}, 3);
    }

    private static Map<String, float[]> state(Trainer t) {
        Map<String, float[]> m = new java.util.LinkedHashMap<>();
        t.network().parameters().forEach((k, v) -> m.put(k, v.toFloatArray()));
        t.quantizer().parameters().forEach((k, v) -> m.put(k, v.toFloatArray()));
        return m;
    }

    /** An interrupted run (mid-epoch, after a checkpoint) resumes and ends with exactly the uninterrupted weights. */
    @Test
    void anInterruptedRunResumesBitForBit(@TempDir Path dir) throws IOException {
        assumeDataset();
        for (String method : List.of("lsq", "adaqat")) {
            Trainer.Config c = mlp(method, 4, 4, 2, 1280);
            Map<String, float[]> straight;
            List<Trainer.Epoch> straightHistory;
            try (Trainer t = new Trainer(c)) {
                straightHistory = t.run(null, Progress.silent());
                straight = state(t);
            }
            Path out = dir.resolve(method + ".safetensors");
            try (Trainer t = Trainer.openOrResume(c, out, null)) {
                t.checkpointSteps = 6;
                t.stopAfterSteps = 27; // epoch 2, step 7: the last checkpoint is at step 6
                assertThrows(InterruptedIOException.class, () -> t.run(out, Progress.silent()));
            }
            try (Trainer t = Trainer.openOrResume(c, out, null)) {
                assertEquals(1, t.epochsDone());
                List<Trainer.Epoch> h = t.run(out, Progress.silent());
                Map<String, float[]> resumed = state(t);
                assertEquals(straight.keySet(), resumed.keySet());
                for (String k : straight.keySet()) {
                    assertArrayEquals(straight.get(k), resumed.get(k), method + " " + k);
                }
                assertEquals(straightHistory.get(1).testAccuracy(), h.get(1).testAccuracy());
                assertEquals(straightHistory.get(1).trainLoss(), h.get(1).trainLoss(), 1e-12);
                assertEquals(straightHistory.get(1).widths(), h.get(1).widths());
            }
            // Finished: opening it again trains nothing more.
            try (Trainer t = Trainer.openOrResume(c, out, null)) {
                assertEquals(2, t.epochsDone());
                assertEquals(2, t.run(out, Progress.silent()).size());
            }
        }
    }

    @Test
    void aCheckpointOfAnotherConfigurationIsRefused(@TempDir Path dir) throws IOException {
        assumeDataset();
        Path out = dir.resolve("run.safetensors");
        try (Trainer t = new Trainer(mlp("lsq", 4, 4, 1, 256))) {
            t.run(out, Progress.silent());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Trainer.openOrResume(mlp("lsq", 3, 4, 1, 256), out, null).close());
        assertTrue(e.getMessage().contains("another configuration"), e.getMessage());
    }

    @Test
    void aDamagedCheckpointIsRefusedByName(@TempDir Path dir) throws IOException {
        assumeDataset();
        Path out = dir.resolve("run.safetensors");
        try (Trainer t = new Trainer(mlp("fp32", 8, 8, 1, 256))) {
            t.run(out, Progress.silent());
        }
        try (Trainer t = Trainer.load(out)) {
            assertEquals(1, t.epochsDone());
        }
        long size = Files.size(out);
        // One bit flipped in the last tensor's bytes.
        Path flipped = dir.resolve("flipped.safetensors");
        Files.copy(out, flipped);
        try (FileChannel ch = FileChannel.open(flipped, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(1);
            ch.read(b, size - 3);
            b.put(0, (byte) (b.get(0) ^ 0x10)).rewind();
            ch.write(b, size - 3);
        }
        CorruptFileException e = assertThrows(CorruptFileException.class, () -> Trainer.load(flipped));
        assertTrue(e.getMessage().contains("fails its checksum"), e.getMessage());
        // Cut short.
        Path cut = dir.resolve("cut.safetensors");
        Files.write(cut, java.util.Arrays.copyOf(Files.readAllBytes(out), (int) size - 100));
        assertThrows(CorruptFileException.class, () -> Trainer.load(cut));
        // Not a checkpoint at all.
        Path text = dir.resolve("text.safetensors");
        Files.writeString(text, "hello");
        assertThrows(IOException.class, () -> Trainer.load(text));
    }

    @Test
    void badSettingsAreRefusedInOneSentence() {
        assertThrows(IllegalArgumentException.class, () -> mlp("lsq", 1, 4, 1, 100));
        assertThrows(IllegalArgumentException.class, () -> mlp("lsq", 4, 9, 1, 100));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LayerQuantizer.checkBits(9));
        assertEquals("widths must be 2..8 bits, got 9", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new AdaQat.Config(false, 1f, 0.01f, 9f, 5, AdaQat.Discretize.CEIL));
        assertThrows(IllegalArgumentException.class, () -> new AdaQat.Config(false, -1f, 0.01f, 8f, 5, AdaQat.Discretize.CEIL));
        assertThrows(IllegalArgumentException.class, () -> mlp("sgdq", 4, 4, 1, 100));
        assertThrows(IllegalArgumentException.class, () -> new Trainer.Config("vgg", "fp32", 8, 8, Optim.Kind.SGD, 0.1f,
                0f, 1, 64, 1, 0, 0, false, null));
        assertThrows(IllegalArgumentException.class, () -> new Trainer.Config("mlp", "fp32", 8, 8, Optim.Kind.SGD, 0.1f,
                0f, 0, 64, 1, 0, 0, false, null));
        assertThrows(IllegalArgumentException.class, () -> new Trainer.Config("mlp", "adaqat", 8, 8, Optim.Kind.SGD, 0.1f,
                0f, 1, 64, 1, 0, 0, false, null));
    }

    @Test
    void configurationsRoundTripThroughJson() {
        Trainer.Config c = new Trainer.Config("resnet20", "adaqat", 8, 8, Optim.Kind.ADAM, 0.01f, 1e-4f, 12, 128, 5,
                10_000, 2_000, true, new AdaQat.Config(true, 0.25f, 0.02f, 7.5f, 3, AdaQat.Discretize.ROUND));
        assertEquals(c, Trainer.Config.fromJson(c.toJson()));
        Trainer.Config f = mlp("fp32", 8, 8, 1, 0);
        assertEquals(f, Trainer.Config.fromJson(f.toJson()));
    }
}

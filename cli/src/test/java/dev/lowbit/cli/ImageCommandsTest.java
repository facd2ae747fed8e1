package dev.lowbit.cli;

import dev.lowbit.training.Djl;
import dev.lowbit.training.FashionMnist;
import dev.lowbit.training.IntegerNetwork;
import dev.lowbit.training.Optim;
import dev.lowbit.training.Progress;
import dev.lowbit.training.Trainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.lowbit.cli.CommandsTest.lowbit;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@code lowbit export-image} and {@code lowbit eval-image} on a small MLP trained here. */
class ImageCommandsTest {
    private static Trainer.Config config(String method) {
        return new Trainer.Config("mlp", method, 4, 4, Optim.Kind.ADAM, 2e-3f, 0f, 1, 50, 3, 1000, 20, false, null);
    }

    @Test
    void badArgumentsEndWithOneLineAndStatus2() {
        CommandsTest.Ran r = lowbit("eval-image", "--model", "x.safetensors", "--threads", "0");
        assertEquals(2, r.status());
        assertEquals("lowbit eval-image: --threads must be a whole number from 1 to 256, got '0'"
                + " (see 'lowbit eval-image --help')\n", r.err());
        r = lowbit("eval-image", "--model", "x.onnx");
        assertEquals(2, r.status());
        assertEquals("lowbit eval-image: --model must name a .safetensors file, got 'x.onnx' (see 'lowbit eval-image --help')\n",
                r.err());
        r = lowbit("eval-image", "--model", "x.safetensors", "--images", "10001");
        assertEquals(2, r.status());
        r = lowbit("export-image", "--run", "x.safetensors");
        assertEquals(2, r.status());
        assertEquals("lowbit export-image: missing required option: '--out=FILE' (see 'lowbit export-image --help')\n", r.err());
    }

    @Test
    void exportThenEvaluate(@TempDir Path dir) throws Exception {
        assumeTrue(FashionMnist.available(), "Fashion-MNIST is not in " + FashionMnist.dir());
        Djl.threads(1);
        Path checkpoint = dir.resolve("run.safetensors");
        Path fp32 = dir.resolve("fp32.safetensors");
        try (Trainer t = new Trainer(config("lsq")); Trainer f = new Trainer(config("fp32"))) {
            t.run(checkpoint, Progress.silent());
            f.run(fp32, Progress.silent());
        }
        Path model = dir.resolve("mlp-int.safetensors");
        CommandsTest.Ran e = lowbit("export-image", "--run", checkpoint.toString(), "--out", model.toString());
        assertEquals(0, e.status(), e.err());
        assertTrue(e.out().startsWith(model + ": mlp, lsq, widths W/A 4/8 4/4, "), e.out());
        assertEquals(1, lowbit("export-image", "--run", checkpoint.toString(), "--out", model.toString()).status(),
                "an existing --out without --force");

        CommandsTest.Ran r = lowbit("eval-image", "--model", model.toString(), "--images", "300", "--threads", "2");
        assertEquals(0, r.status(), r.err());
        Matcher m = Pattern.compile("accuracy ([0-9.]+)% \\((\\d+) of 300 test images\\), \\d+ images/s on 2 threads")
                .matcher(r.out());
        assertTrue(m.find(), r.out());
        FashionMnist.Split test = FashionMnist.test();
        try (IntegerNetwork net = IntegerNetwork.load(model, 1)) {
            FashionMnist.Split first = new FashionMnist.Split(Arrays.copyOf(test.images(), 300 * FashionMnist.PIXELS),
                    Arrays.copyOf(test.labels(), 300), 300);
            assertEquals(Math.round(net.accuracy(first) * 300), Long.parseLong(m.group(2)));
        }
        assertTrue(r.err().contains("eval-image 300 images: done in"), r.err());
        assertFalse(r.out().contains("fake-quant"), "training measured another number of test images: " + r.out());

        // on the test images training measured, beside the fake-quant accuracy the export recorded
        Trainer.Epoch last;
        try (Trainer t = Trainer.load(checkpoint)) {
            last = t.history().get(t.history().size() - 1);
        }
        int tested = config("lsq").testImages();
        r = lowbit("eval-image", "--model", model.toString(), "--images", Integer.toString(tested));
        assertEquals(0, r.status(), r.err());
        m = Pattern.compile("accuracy ([0-9.]+)% \\(\\d+ of " + tested + " test images\\).*\n"
                + "fake-quant in training \\(epoch (\\d+)\\): ([0-9.]+)%; integer-only ([-+][0-9.]+) points\n").matcher(r.out());
        assertTrue(m.find(), r.out());
        assertEquals(last.epoch(), Integer.parseInt(m.group(2)));
        assertEquals(100 * last.testAccuracy(), Double.parseDouble(m.group(3)), 0.005);
        assertEquals(Double.parseDouble(m.group(1)) - Double.parseDouble(m.group(3)), Double.parseDouble(m.group(4)),
                0.0101);

        CommandsTest.Ran refused = lowbit("export-image", "--run", fp32.toString(), "--out", dir.resolve("f.safetensors").toString());
        assertEquals(1, refused.status());
        assertEquals("lowbit export-image: an fp32 run has no integer form: train with lsq, dorefa-pact or adaqat to"
                + " deploy a network integer-only\n", refused.err());
        assertTrue(Files.notExists(dir.resolve("f.safetensors")));
    }
}

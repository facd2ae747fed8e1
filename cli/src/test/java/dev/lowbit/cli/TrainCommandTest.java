package dev.lowbit.cli;

import dev.lowbit.training.AdaQat;
import dev.lowbit.training.Checkpoint;
import dev.lowbit.training.FashionMnist;
import dev.lowbit.training.Optim;
import dev.lowbit.training.Trainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@code lowbit train} and {@code lowbit train-report}: options to configuration, bad command lines, a tiny run. */
class TrainCommandTest {
    @TempDir
    Path dir;

    /** The command as picocli fills it from {@code args}, not run. */
    static TrainCommand parse(String... args) {
        List<String> all = new ArrayList<>(List.of("train"));
        all.addAll(List.of(args));
        PrintStream sink = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        CommandLine.ParseResult parsed = Main.commandLine(sink, sink).parseArgs(all.toArray(String[]::new));
        return (TrainCommand) parsed.subcommand().commandSpec().userObject();
    }

    @Test
    void defaults() {
        TrainCommand c = parse("--model", "mlp", "--method", "lsq", "--widths", "W4A4", "--out", "x.safetensors");
        assertEquals(new Trainer.Config("mlp", "lsq", 4, 4, Optim.Kind.SGD, 0.1f, 5e-4f, 30, 128, 1, 0, 0, true, null),
                c.config());
        assertEquals(1, c.threadCount());
        assertEquals("x.safetensors", c.outOption);
        assertEquals(null, c.init);
    }

    @Test
    void everyOptionReachesTheConfiguration() {
        TrainCommand c = parse("--model", "resnet20", "--method", "dorefa-pact", "--widths", "w3a2", "--optimizer", "adam",
                "--lr", "0.001", "--weight-decay", "0", "--epochs", "5", "--batch", "64", "--seed", "7",
                "--train-images", "1000", "--test-images", "500", "--no-augment", "--init", "fp32.safetensors",
                "--threads", "2", "--out", "y.safetensors");
        assertEquals(new Trainer.Config("resnet20", "dorefa-pact", 3, 2, Optim.Kind.ADAM, 0.001f, 0f, 5, 64, 7, 1000, 500,
                false, null), c.config());
        assertEquals(2, c.threadCount());
        assertEquals("fp32.safetensors", c.init);

        assertEquals(new Trainer.Config("resnet20", "fp32", 0, 0, Optim.Kind.SGD, 0.1f, 5e-4f, 30, 128, 1, 0, 0, true, null),
                parse("--model", "resnet20", "--method", "fp32", "--out", "f.safetensors").config());
    }

    @Test
    void adaqatSettings() {
        Trainer.Config d = parse("--model", "resnet20", "--method", "adaqat", "--lambda", "0.5", "--out", "a.safetensors").config();
        assertEquals(AdaQat.Config.defaults(0.5f), d.adaqat());
        assertEquals("adaqat", d.method());
        Trainer.Config c = parse("--model", "mlp", "--method", "adaqat", "--lambda", "0", "--bit-rate", "0.05",
                "--bits-init", "6", "--stable-epochs", "3", "--per-layer", "--discretize", "round", "--epochs", "12",
                "--out", "a.safetensors").config();
        assertEquals(new AdaQat.Config(true, 0f, 0.05f, 6f, 3, AdaQat.Discretize.ROUND), c.adaqat());
        assertEquals(12, c.epochs());
    }

    static Stream<List<String>> badCommandLines() {
        return Stream.of(
                List.of("missing required option: '--out=CHECKPOINT'"),
                List.of("missing required options: '--model=M', '--method=M'", "--out", "x.safetensors"),
                List.of("--model must be resnet20 or mlp, got 'vgg'", "--model", "vgg", "--method", "fp32"),
                List.of("--method must be one of fp32, lsq, dorefa-pact, adaqat, got 'gptq'", "--method", "gptq"),
                List.of("--method lsq needs --widths, e.g. --widths W4A4", "--method", "lsq"),
                List.of("--widths must be W<w>A<a> with widths from 2 to 8 bits, e.g. W4A4, got '4x4'", "--method", "lsq",
                        "--widths", "4x4"),
                List.of("--widths takes widths from 2 to 8 bits, got 'W9A4'", "--method", "dorefa-pact", "--widths", "W9A4"),
                List.of("--widths takes widths from 2 to 8 bits, got 'W4A1'", "--method", "lsq", "--widths", "W4A1"),
                List.of("--widths is for lsq and dorefa-pact; fp32 has none", "--method", "fp32", "--widths", "W4A4"),
                List.of("--widths is for lsq and dorefa-pact; adaqat learns its widths", "--method", "adaqat", "--lambda", "1",
                        "--widths", "W4A4"),
                List.of("--lambda is for --method adaqat, not lsq", "--method", "lsq", "--widths", "W4A4", "--lambda", "1"),
                List.of("--per-layer is for --method adaqat, not fp32", "--method", "fp32", "--per-layer"),
                List.of("--discretize is for --method adaqat, not fp32", "--method", "fp32", "--discretize", "ceil"),
                List.of("--method adaqat needs --lambda, the weight of the BitOPs term (e.g. --lambda 0.5)", "--method", "adaqat"),
                List.of("--lambda must be a number of 0 or more, got '-1'", "--method", "adaqat", "--lambda", "-1"),
                List.of("--bit-rate must be a number above 0, got '0'", "--method", "adaqat", "--lambda", "1", "--bit-rate", "0"),
                List.of("--bits-init must be a width from 2 to 8, got '9'", "--method", "adaqat", "--lambda", "1",
                        "--bits-init", "9"),
                List.of("--stable-epochs must be a whole number from 1 to 1000000, got '0'", "--method", "adaqat", "--lambda",
                        "1", "--stable-epochs", "0"),
                List.of("--discretize must be ceil or round, got 'floor'", "--method", "adaqat", "--lambda", "1",
                        "--discretize", "floor"),
                List.of("--optimizer must be sgd or adam, got 'rmsprop'", "--method", "fp32", "--optimizer", "rmsprop"),
                List.of("--lr must be a number above 0, got '0'", "--method", "fp32", "--lr", "0"),
                List.of("--lr must be a number above 0, got 'fast'", "--method", "fp32", "--lr", "fast"),
                List.of("--weight-decay must be a number of 0 or more, got 'NaN'", "--method", "fp32", "--weight-decay", "NaN"),
                List.of("--epochs must be a whole number from 1 to 1000000, got '0'", "--method", "fp32", "--epochs", "0"),
                List.of("--batch must be a whole number from 2 to 60000, got '1'", "--method", "fp32", "--batch", "1"),
                List.of("--train-images must be a whole number from 0 to 60000, got '70000'", "--method", "fp32",
                        "--train-images", "70000"),
                List.of("--test-images must be a whole number from 0 to 10000, got '-1'", "--method", "fp32",
                        "--test-images", "-1"),
                List.of("--seed must be a whole number, got '1.5'", "--method", "fp32", "--seed", "1.5"),
                List.of("--threads must be a whole number from 1 to 1024, got '0'", "--method", "fp32", "--threads", "0"),
                List.of("--out must name a .safetensors file, got 'x.txt'", "--method", "fp32", "--out", "x.txt"),
                List.of("unknown option '--frobnicate'", "--method", "fp32", "--frobnicate"));
    }

    @ParameterizedTest
    @MethodSource("badCommandLines")
    void badCommandLineIsOneLineAndStatus2(List<String> messageAndArgs) {
        List<String> args = new ArrayList<>(List.of("train"));
        String message = messageAndArgs.get(0);
        List<String> given = messageAndArgs.subList(1, messageAndArgs.size());
        // what a case leaves out and its message is not about: --model mlp, --method fp32, an --out in the test's folder
        if (!given.contains("--model") && !message.contains("'--model=")) {
            args.addAll(List.of("--model", "mlp"));
        }
        if (!given.contains("--method") && !message.contains("'--method=")) {
            args.addAll(List.of("--method", "fp32"));
        }
        args.addAll(given);
        if (!given.contains("--out") && !message.contains("'--out=")) {
            args.addAll(List.of("--out", dir.resolve("never.safetensors").toString()));
        }
        CommandsTest.Ran r = CommandsTest.lowbit(args.toArray(String[]::new));
        assertEquals(2, r.status(), args + ": " + r.err());
        CommandsTest.oneClearMessage(r, args.toString());
        assertEquals("lowbit train: " + message + " (see 'lowbit train --help')", r.err().strip(),
                args.toString());
        assertTrue(Files.notExists(dir.resolve("never.safetensors")));
    }

    /** A tiny MLP run: written, resumed as finished, refused under other options, refused when damaged; its report. */
    @Test
    void tinyRunResumesAndReports() throws Exception {
        assumeTrue(FashionMnist.available(), "Fashion-MNIST is not in " + FashionMnist.dir());
        Path run = dir.resolve("mlp-lsq.safetensors");
        String[] args = {"train", "--model", "mlp", "--method", "lsq", "--widths", "W4A4", "--epochs", "1",
                "--train-images", "300", "--test-images", "200", "--batch", "100", "--out", run.toString()};
        CommandsTest.Ran first = CommandsTest.lowbit(args);
        assertEquals(0, first.status(), first.err());
        assertTrue(Files.isRegularFile(run));
        assertEquals(1, first.out().lines().count(), first.out());
        String summary = first.out().strip();
        assertTrue(summary.matches("mlp lsq W4A4, epoch 1 of 1: test accuracy \\d+\\.\\d\\d%, \\S+( [kMG])? BitOPs per image "
                + "\\(1/\\d+\\.\\d of fp32\\), widths 4/8 4/4 \\(W/A by layer\\), checkpoint " + java.util.regex.Pattern.quote(run.toString())),
                summary);
        assertTrue(first.err().contains("epoch 1/1"), first.err());
        byte[] bytes = Files.readAllBytes(run);

        // Finished: the second run reads it, trains nothing and leaves it as it was.
        CommandsTest.Ran second = CommandsTest.lowbit(args);
        assertEquals(0, second.status(), second.err());
        assertEquals(first.out(), second.out());
        assertTrue(second.err().contains("holds its epoch of this run: nothing to train"), second.err());
        assertTrue(!second.err().contains("epoch 1/1"), second.err());
        assertArrayEquals(bytes, Files.readAllBytes(run));

        // Other options: refused with the trainer's reason, the checkpoint untouched.
        String[] other = args.clone();
        other[other.length - 3] = "50"; // --batch
        CommandsTest.Ran refused = CommandsTest.lowbit(other);
        assertEquals(1, refused.status(), refused.err());
        assertTrue(refused.err().startsWith("lowbit train: " + run + " holds a run of another configuration"), refused.err());
        assertArrayEquals(bytes, Files.readAllBytes(run));

        // Damaged: one line, status 1.
        Path bad = dir.resolve("damaged.safetensors");
        byte[] flipped = bytes.clone();
        flipped[flipped.length - 5] ^= 0x40;
        Files.write(bad, flipped);
        String[] damaged = args.clone();
        damaged[damaged.length - 1] = bad.toString();
        CommandsTest.Ran d = CommandsTest.lowbit(damaged);
        assertEquals(1, d.status(), d.err());
        CommandsTest.oneClearMessage(d, "damaged checkpoint");
        assertTrue(d.err().contains(bad.toString()) && d.err().contains("checksum"), d.err());
        Path truncated = dir.resolve("truncated.safetensors");
        Files.write(truncated, Arrays.copyOf(bytes, bytes.length / 2));
        damaged[damaged.length - 1] = truncated.toString();
        CommandsTest.Ran t = CommandsTest.lowbit(damaged);
        assertEquals(1, t.status(), t.err());
        CommandsTest.oneClearMessage(t, "truncated checkpoint");

        // --init that is not there
        String[] init = args.clone();
        init[init.length - 1] = dir.resolve("new.safetensors").toString();
        List<String> withInit = new ArrayList<>(List.of(init));
        withInit.addAll(List.of("--init", dir.resolve("absent.safetensors").toString()));
        CommandsTest.Ran i = CommandsTest.lowbit(withInit.toArray(String[]::new));
        assertEquals(1, i.status(), i.err());
        CommandsTest.oneClearMessage(i, "absent --init");
        assertTrue(i.err().contains("no such file"), i.err());

        // The report of the run.
        Path html = dir.resolve("report.html");
        CommandsTest.Ran report = CommandsTest.lowbit("train-report", "--out", html.toString(), run.toString());
        assertEquals(0, report.status(), report.err());
        assertTrue(report.out().contains("mlp-lsq") && report.out().contains("HTML report: " + html.toAbsolutePath()),
                report.out());
        String page = Files.readString(html);
        assertEquals(2, page.split("<svg ", -1).length - 1, "accuracy against BitOPs, accuracy per epoch");
        assertTrue(page.contains("mlp-lsq"));
    }

    @Test
    void trainReportRefusesWhatIsNotARun() throws Exception {
        Path garbage = dir.resolve("garbage.safetensors");
        Files.writeString(garbage, "not a checkpoint");
        Path html = dir.resolve("r.html");
        CommandsTest.Ran g = CommandsTest.lowbit("train-report", "--out", html.toString(), garbage.toString());
        assertEquals(1, g.status(), g.err());
        CommandsTest.oneClearMessage(g, "not a checkpoint");
        assertTrue(g.err().startsWith("lowbit train-report: " + garbage), g.err());

        Path noHistory = dir.resolve("nohistory.safetensors");
        Checkpoint.write(noHistory, Map.of("x", Checkpoint.Tensor.of(new float[] {1})), Map.of("training.config",
                new Trainer.Config("mlp", "fp32", 0, 0, Optim.Kind.SGD, 0.1f, 0f, 1, 8, 1, 0, 0, true, null).toJson()));
        CommandsTest.Ran h = CommandsTest.lowbit("train-report", "--out", html.toString(), noHistory.toString());
        assertEquals(1, h.status(), h.err());
        CommandsTest.oneClearMessage(h, "no history");
        assertEquals("lowbit train-report: " + noHistory + ": no training history (training.history)", h.err().strip());
        assertTrue(Files.notExists(html));

        CommandsTest.Ran txt = CommandsTest.lowbit("train-report", "--out", dir.resolve("r.txt").toString(), garbage.toString());
        assertEquals(2, txt.status(), txt.err());
        CommandsTest.oneClearMessage(txt, "--out r.txt");
        CommandsTest.Ran none = CommandsTest.lowbit("train-report", "--out", html.toString());
        assertEquals(2, none.status(), none.err());
        CommandsTest.oneClearMessage(none, "no run");
    }
}

package dev.lowbit.cli;

import dev.lowbit.algorithms.MethodRegistry;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.Safetensors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The commands as a user runs them: help, exit statuses, messages, and what they write, on a small model. */
class CommandsTest {
    @TempDir
    static Path dir;
    private static Path small;

    /** What one run printed. */
    record Ran(int status, String out, String err) {
    }

    static Ran lowbit(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            status = Main.run(List.of(args), o, e);
        }
        return new Ran(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** A safetensors model of two seeded Gaussian matrices (rows of 160: two groups of 64 and a partial one) and a bias. */
    @BeforeAll
    static void smallModel() throws Exception {
        Random rnd = new Random(42);
        Map<String, DenseTensor> dense = new LinkedHashMap<>();
        dense.put("layer.0.weight", DenseTensor.ofFloats("layer.0.weight", new long[]{48, 160}, gaussian(rnd, 48 * 160)));
        dense.put("layer.0.bias", DenseTensor.ofFloats("layer.0.bias", new long[]{48}, gaussian(rnd, 48)));
        dense.put("layer.1.weight", DenseTensor.ofFloats("layer.1.weight", new long[]{32, 96}, gaussian(rnd, 32 * 96)));
        small = dir.resolve("small.safetensors");
        Safetensors.write(small, dense, Map.of(), Map.of("note", "test model"));
    }

    static float[] gaussian(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    @Test
    void everyCommandHasHelp() {
        Ran top = lowbit("--help");
        assertEquals(0, top.status());
        for (Command c : Main.commands()) {
            assertTrue(top.out().contains(c.name()), top.out());
            Ran h = lowbit(c.name(), "--help");
            assertEquals(0, h.status(), c.name());
            assertTrue(h.out().startsWith("Usage: lowbit " + c.name()), h.out());
            assertEquals("", h.err());
        }
        assertEquals(2, lowbit().status(), "no command: the help on stderr and status 2");
    }

    static Stream<List<String>> badCommandLines() {
        String m = "--model";
        return Stream.of(
                List.of("frobnicate"),
                List.of("quantize"),
                List.of("quantize", m, "x.onnx"),
                List.of("quantize", m, "x.onnx", "--out", "y.bin"),
                List.of("quantize", m, "x.txt", "--out", "y.safetensors"),
                List.of("quantize", m, "x.onnx", "--out", "y.safetensors", "--method", "gptq"),
                List.of("quantize", m, "x.onnx", "--out", "y.safetensors", "--bits", "5"),
                List.of("quantize", m, "x.onnx", "--out", "y.safetensors", "--bits"),
                List.of("quantize", m, "x.onnx", "--out", "y.safetensors", "--group", "48"),
                List.of("quantize", m, "x.onnx", "--out", "y.safetensors", "--method", "nf4", "--bits", "3"),
                List.of("quantize", m, "x.onnx", "--out", "y.gguf", "--method", "hqq"),
                List.of("quantize", m, "x.onnx", "--out", "y.gguf", "--group", "64"),
                List.of("quantize", m, "x.onnx", "--out", "y.safetensors", "--threads", "0"),
                List.of("quantize", m, "x.onnx", "--out", "y.safetensors", "--layers", "(["),
                List.of("quantize", m, "x.onnx", "--out", "y.safetensors", "--frobnicate"),
                List.of("quantize", m, "x.onnx", "--out", "y.safetensors", "extra"),
                List.of("inspect"),
                List.of("inspect", "a.onnx", "b.onnx"),
                List.of("inspect", "a.bin"),
                List.of("report", "--bits", "4,7"),
                List.of("report", "--methods", "rtn,gptq"),
                List.of("report", "--html", "x.txt"),
                List.of("demo", "--bits", "4"),
                List.of("demo", "now"));
    }

    static void oneClearMessage(Ran r, String what) {
        assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), what + ": " + r.err());
        assertTrue(r.err().startsWith("lowbit"), what + ": " + r.err());
        assertEquals(1, r.err().lines().count(), what + ": " + r.err());
        assertEquals("", r.out(), what);
    }

    /**
     * A usage error: status 2 and exactly one line on stderr, {@code lowbit COMMAND: MESSAGE (see 'lowbit COMMAND
     * --help')}, whose message contains {@code says}.
     */
    static void usageError(Ran r, String command, String says, String what) {
        assertEquals(2, r.status(), what + ": " + r.err());
        oneClearMessage(r, what);
        String line = r.err().strip();
        String name = command.isEmpty() ? "lowbit" : "lowbit " + command;
        assertTrue(line.startsWith(name + ": "), what + ": " + line);
        assertTrue(line.endsWith(" (see '" + name + " --help')"), what + ": " + line);
        assertTrue(line.contains(says), what + ": no '" + says + "' in " + line);
    }

    @ParameterizedTest
    @MethodSource("badCommandLines")
    void badArgumentsGiveStatusTwoAndOneMessage(List<String> args) {
        Ran r = lowbit(args.toArray(String[]::new));
        usageError(r, args.get(0).equals("frobnicate") ? "" : args.get(0), "", args.toString());
    }

    @Test
    void badFilesGiveStatusOneAndOneMessage() throws Exception {
        Path junk = dir.resolve("junk.safetensors");
        Files.write(junk, new byte[]{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
        Path junkOnnx = dir.resolve("junk.onnx");
        Files.write(junkOnnx, "not a model".getBytes(StandardCharsets.UTF_8));
        Path junkGguf = dir.resolve("junk.gguf");
        Files.write(junkGguf, "GGUF".getBytes(StandardCharsets.UTF_8));
        String out = dir.resolve("out.safetensors").toString();
        List<List<String>> cases = List.of(
                List.of("inspect", dir.resolve("missing.onnx").toString()),
                List.of("inspect", junk.toString()),
                List.of("inspect", junkOnnx.toString()),
                List.of("inspect", junkGguf.toString()),
                List.of("quantize", "--model", junk.toString(), "--out", out),
                List.of("quantize", "--model", junkOnnx.toString(), "--out", out),
                List.of("quantize", "--model", small.toString(), "--out", dir.resolve("no/such/dir/x.safetensors").toString()),
                List.of("quantize", "--model", small.toString(), "--out", out, "--layers", "nothing-matches"),
                List.of("report", "--model", dir.resolve("missing.gguf").toString()));
        for (List<String> c : cases) {
            Ran r = lowbit(c.toArray(String[]::new));
            assertEquals(1, r.status(), c + ": " + r.err());
            oneClearMessage(r, c.toString());
        }
        assertFalse(Files.exists(Path.of(out)), "nothing is written when the command fails");
        // A lowbit format that GGUF cannot hold is refused before any work: no progress line.
        Path hqq = dir.resolve("hqq.safetensors");
        assertEquals(0, lowbit("quantize", "--model", small.toString(), "--method", "hqq", "--layers", "layer.0",
                "--out", hqq.toString()).status());
        Ran r = lowbit("quantize", "--model", hqq.toString(), "--method", "q4_0", "--out", dir.resolve("x.gguf").toString());
        assertEquals(1, r.status(), r.err());
        oneClearMessage(r, "int4 tensor into GGUF");
        assertTrue(r.err().contains("layer.0.weight") && r.err().contains("GGUF"), r.err());
    }

    @Test
    void quantizeWritesWhatInspectLists() throws Exception {
        for (String method : MethodRegistry.planes()) {
            Path out = dir.resolve("small-" + method + ".safetensors");
            Ran r = lowbit("quantize", "--model", small.toString(), "--out", out.toString(), "--method", method,
                    "--bits", "4", "--group", "64", "--threads", "2");
            assertEquals(0, r.status(), method + ": " + r.err());
            assertTrue(r.out().contains("quantized 2, kept as they were 1 (not 2-D 1)"), r.out());
            assertTrue(r.err().contains(method), "one progress line names the method: " + r.err());
            try (Arena arena = Arena.ofConfined()) {
                Safetensors.Contents c = Safetensors.read(out, arena);
                assertEquals(List.of("layer.0.weight", "layer.1.weight"), new ArrayList<>(c.quantized().keySet()));
                assertEquals(List.of("layer.0.bias"), new ArrayList<>(c.dense().keySet()));
                QuantizedTensor q = c.quantized().get("layer.0.weight");
                assertEquals(48, q.rows());
                assertEquals(160, q.cols());
                assertEquals("test model", c.metadata().get("note"), "the source's metadata is kept");
                assertTrue(c.metadata().get("quantized_by").contains(method), c.metadata().toString());
            }
            Ran i = lowbit("inspect", out.toString());
            assertEquals(0, i.status(), i.err());
            String format = switch (method) {
                case "rtn", "mse", "hqq" -> "int4_asym_g64_f16";
                case "rtn-sym" -> "int4_sym_g64_f16";
                case "easyquant" -> "int4_sym_g64_f16 + ";
                default -> "cb4_g64_f16";
            };
            assertTrue(i.out().contains(format), method + ": " + i.out());
            assertTrue(i.out().contains("layer.0.bias"), i.out());
        }
    }

    @Test
    void reportPrintsLayersAndTotalsAndWritesHtml() throws Exception {
        Path html = dir.resolve("r.html");
        Ran r = lowbit("report", "--model", small.toString(), "--methods", "rtn,hqq,nupes,nf4", "--bits", "4,3",
                "--group", "32", "--html", html.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("layer.0.weight") && r.out().contains("layer.1.weight"), r.out());
        assertTrue(r.out().contains("hqq/3") && r.out().contains("nupes/4"), r.out());
        assertTrue(r.out().contains("not run: nf4 at 3 bits"), r.out());
        String page = Files.readString(html);
        assertTrue(page.startsWith("<!DOCTYPE html>") && page.contains("<svg") && page.contains("</html>"), page);
        assertFalse(page.contains("src=\"http") || page.contains("href=\"http"), "self-contained: nothing fetched");
        assertTrue(page.contains("layer.1.weight"));
        assertTrue(page.lines().noneMatch(l -> l.contains("NaN")), "no NaN in the page");
    }

    @Test
    void progressIsOnePlainLinePerRunWhenNotATerminal() {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        PrintStream err = new PrintStream(b, true, StandardCharsets.UTF_8);
        Progress p = new Progress(err, "work", 100);
        for (int i = 0; i < 100; i++) {
            p.add(1);
        }
        p.finish("fine");
        String s = b.toString(StandardCharsets.UTF_8);
        assertFalse(s.contains("\r"), s);
        assertEquals(1, s.lines().count(), s);
        assertTrue(s.startsWith("work: done in ") && s.endsWith(", fine\n"), s);
    }

    @Test
    void exponentsParseBack() {
        float[] a = {0.71354765f, 1f, 0.1f, Math.nextUp(0.5f)};
        StringBuilder sb = new StringBuilder();
        for (float f : a) {
            sb.append(sb.isEmpty() ? "" : ",").append(f);
        }
        assertTrue(Arrays.equals(a, QuantizeCommand.parseExponents(sb.toString())));
    }
}

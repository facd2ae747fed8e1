package dev.lowbit.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static dev.lowbit.cli.CommandsTest.lowbit;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every command's usage errors, each one line {@code lowbit COMMAND: MESSAGE (see 'lowbit COMMAND --help')} and
 * status 2: an unknown option, a bad value, a missing required option or value; and {@code lowbit --version}.
 */
class UsageErrorsTest {

    /** A command line and the exact line it must print. */
    record Case(List<String> args, String line) {
        @Override
        public String toString() {
            return String.join(" ", args);
        }
    }

    private static Case c(String line, String... args) {
        return new Case(List.of(args), line);
    }

    private static String see(String command) {
        return " (see 'lowbit " + command + " --help')";
    }

    static Stream<Case> cases() {
        String m = "--model";
        return Stream.of(
                c("lowbit: unknown command 'frobnicate' (see 'lowbit --help')", "frobnicate"),
                c("lowbit: unknown command 'quantze'; did you mean quantize? (see 'lowbit --help')", "quantze"),
                c("lowbit: unknown option '--frob' (see 'lowbit --help')", "--frob"),

                c("lowbit demo: unknown option '--bits'" + see("demo"), "demo", "--bits", "4"),
                c("lowbit demo: --threads must be a whole number from 1 to 1024, got 'two'" + see("demo"),
                        "demo", "--threads", "two"),
                c("lowbit demo: missing required parameter for option '--html' (FILE)" + see("demo"), "demo", "--html"),

                c("lowbit quantize: unknown option '--modle'; did you mean --model?" + see("quantize"),
                        "quantize", "--modle", "x.onnx", "--out", "y.safetensors"),
                c("lowbit quantize: --bits must be 2, 3, 4 or 8, got '5'" + see("quantize"),
                        "quantize", m, "x.onnx", "--out", "y.safetensors", "--bits", "5"),
                c("lowbit quantize: --group must be 32, 64, 128 or row, got '48'" + see("quantize"),
                        "quantize", m, "x.onnx", "--out", "y.safetensors", "--group", "48"),
                c("lowbit quantize: --non-finite must be refuse or clamp, got 'zero'" + see("quantize"),
                        "quantize", m, "x.onnx", "--out", "y.safetensors", "--non-finite", "zero"),
                c("lowbit quantize: --scales must be f16 or f32, got 'bf16'" + see("quantize"),
                        "quantize", m, "x.onnx", "--out", "y.safetensors", "--scales", "bf16"),
                c("lowbit quantize: missing required option: '--out=FILE'" + see("quantize"), "quantize", m, "x.onnx"),
                c("lowbit quantize: option '--bits' (B) should be specified only once" + see("quantize"),
                        "quantize", m, "x.onnx", "--out", "y.safetensors", "--bits", "4", "--bits", "8"),

                c("lowbit inspect: unknown option '--all'" + see("inspect"), "inspect", "--all", "x.onnx"),
                c("lowbit inspect: FILE must name a .onnx, .safetensors or .gguf file, got 'x.bin'" + see("inspect"),
                        "inspect", "x.bin"),
                c("lowbit inspect: inspect needs a FILE (or --model minilm)" + see("inspect"), "inspect"),
                c("lowbit inspect: unexpected argument 'y.onnx'" + see("inspect"), "inspect", "x.onnx", "y.onnx"),

                c("lowbit report: unknown option '--method'; did you mean --methods?" + see("report"),
                        "report", "--method", "rtn"),
                c("lowbit report: --bits must be 2, 3, 4 or 8, got '7'" + see("report"), "report", "--bits", "4,7"),
                c("lowbit report: missing required parameter for option '--model' (FILE)" + see("report"),
                        "report", "--model"),

                c("lowbit eval: unknown option '--bitz'; did you mean --bits?" + see("eval"), "eval", "--bitz", "8"),
                c("lowbit eval: --bits takes 8 (W8A8) and/or 4 (W4A8), comma-separated, got '8,2'" + see("eval"),
                        "eval", "--bits", "8,2"),
                c("lowbit eval: missing required parameter for option '--sentences' (N)" + see("eval"),
                        "eval", "--sentences"),

                c("lowbit export: unknown option '--zip'" + see("export"),
                        "export", m, "minilm", "--out", "x.onnx", "--zip"),
                c("lowbit export: --model must be minilm (the built-in all-MiniLM-L6-v2), got 'bert'" + see("export"),
                        "export", m, "bert", "--out", "x.onnx"),
                c("lowbit export: --out must name a .onnx or .safetensors file, got 'x.gguf'" + see("export"),
                        "export", m, "minilm", "--out", "x.gguf"),
                c("lowbit export: missing required option: '--out=FILE'" + see("export"), "export", m, "minilm"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void oneLineStatusTwo(Case c) {
        CommandsTest.Ran r = lowbit(c.args().toArray(String[]::new));
        assertEquals(2, r.status(), c + ": " + r.err());
        assertEquals(c.line() + "\n", r.err(), c.toString());
        assertEquals("", r.out(), c.toString());
    }

    @Test
    void evalBitsHelpAndErrorStateTheSameList() {
        String help = lowbit("eval", "--help").out();
        String error = lowbit("eval", "--bits", "3").err();
        assertTrue(help.replaceAll("\\s+", " ").contains("--bits=B[,B] " + EvalCommand.BITS_ALLOWED + " (default 8,4)"),
                help);
        assertTrue(error.contains("--bits takes " + EvalCommand.BITS_ALLOWED + ", got '3'"), error);
    }

    @Test
    void versionNamesTheBuildAndTheKernels() {
        for (String flag : new String[]{"--version", "-V"}) {
            CommandsTest.Ran r = lowbit(flag);
            assertEquals(0, r.status(), r.err());
            List<String> lines = r.out().lines().toList();
            assertEquals(2, lines.size(), r.out());
            assertTrue(lines.get(0).matches("lowbit \\d+\\.\\d+\\.\\d+(-SNAPSHOT)?"), lines.get(0));
            assertEquals("kernels: " + Version.kernels(), lines.get(1));
        }
        assertEquals("native avx512 (AVX-512 VNNI)", Version.describe("native-avx512"));
        assertEquals("vector 512-bit", Version.describe("vector-512"));
        assertEquals("scalar", Version.describe("scalar"));
    }

    @Test
    void completionScriptCompletesCommandsAndValues() {
        CommandsTest.Ran r = lowbit("completion");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith("#!/usr/bin/env bash"), r.out());
        for (String word : new String[]{"quantize", "export", "rtn-sym", "--non-finite", "refuse"}) {
            assertTrue(r.out().contains(word), "completion script lacks " + word);
        }
        assertTrue(Arrays.stream(lowbit("--help").out().split("\n")).anyMatch(l -> l.trim().startsWith("completion ")));
    }
}

package dev.lowbit.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every {@code bin/lowbit} command in README.md's code blocks, as written, in README order, through {@link Main#run}:
 * each must exit with status 0. The JVM cannot change its working folder, so the file names they take
 * ({@code model.onnx}, {@code report.html}, ...) are resolved in this test's own folder, where the commands before
 * them wrote them.
 */
class ReadmeCommandsTest {
    @TempDir
    Path dir;

    /** A {@code bin/lowbit} line of a fenced code block, without {@code bin/lowbit} and its trailing comment. */
    static List<List<String>> readmeCommands() throws Exception {
        String readme = Files.readString(Path.of("..", "README.md"));
        List<List<String>> commands = new ArrayList<>();
        Matcher block = Pattern.compile("(?ms)^```[a-z]*\\n(.*?)^```").matcher(readme);
        while (block.find()) {
            for (String line : block.group(1).split("\n")) {
                String l = line.strip();
                if (!l.startsWith("bin/lowbit ")) {
                    continue;
                }
                l = l.substring("bin/lowbit ".length()).replaceFirst("\\s+#.*$", "").strip();
                assertFalse(l.contains("'") || l.contains("\"") || l.contains("$") || l.contains("&&"),
                        "a README command this test cannot run as written: " + line);
                commands.add(List.of(l.split("\\s+")));
            }
        }
        return commands;
    }

    @Test
    void everyReadmeCommandRunsAsWritten() throws Exception {
        List<List<String>> commands = readmeCommands();
        List<String> names = commands.stream().map(c -> c.get(0)).toList();
        assertTrue(names.containsAll(List.of("demo", "export", "quantize", "inspect", "report", "eval")), names.toString());
        assertTrue(names.indexOf("export") < names.indexOf("quantize"), "export writes the model that quantize reads");
        for (List<String> c : commands) {
            List<String> args = new ArrayList<>();
            for (String a : c) {
                args.add(a.matches("[^-/][^/]*\\.(onnx|safetensors|gguf|html)") ? dir.resolve(a).toString() : a);
            }
            if (c.get(0).equals("eval")) {
                // Running eval takes minutes, even on the README's 200 sentences: its arguments are parsed and checked
                // here as the command does, and EvalCommandTest.smallRun runs the command end to end on 40 sentences.
                ByteArrayOutputStream sink = new ByteArrayOutputStream();
                PrintStream p = new PrintStream(sink, true, StandardCharsets.UTF_8);
                CommandLine.ParseResult parsed = Main.commandLine(p, p).parseArgs(args.toArray(String[]::new));
                EvalCommand eval = (EvalCommand) parsed.subcommand().commandSpec().userObject();
                EvalCommand.Plan plan = eval.plan();
                assertTrue(plan.gptq() && plan.quantizations().size() == 2, plan.toString());
                continue;
            }
            CommandsTest.Ran r = CommandsTest.lowbit(args.toArray(String[]::new));
            assertEquals(0, r.status(), "bin/lowbit " + String.join(" ", c) + ":\n" + r.err());
            assertFalse(r.out().isEmpty(), String.join(" ", c));
        }
        for (String written : new String[]{"model.onnx", "model.safetensors", "model-hqq4.safetensors",
                "model-q4_1.gguf", "report.html"}) {
            assertTrue(Files.isRegularFile(dir.resolve(written)), written);
        }
    }
}

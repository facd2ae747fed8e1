package dev.lowbit.cli;

import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.Safetensors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code lowbit quantize} in a child JVM, disturbed from outside: sent SIGTERM while it writes, or its
 * input truncated by another process while it still reads it through a memory map. Either way it leaves
 * no temporary file and no output; a changed input is one line and exit status 1, never a crash.
 */
class QuantizeInterruptTest {
    @TempDir
    static Path dir;
    private static Path model;

    /**
     * 16 matrices of 512 x 1024 to quantize (which takes long enough to truncate the input meanwhile) and
     * a 1-D tensor of 96 MB that is copied through from the mapped input (long enough to interrupt).
     */
    @BeforeAll
    static void bigModel() throws Exception {
        Random rnd = new Random(11);
        Map<String, DenseTensor> dense = new LinkedHashMap<>();
        for (int i = 0; i < 16; i++) {
            String n = "layer." + i + ".weight";
            dense.put(n, DenseTensor.ofFloats(n, new long[]{512, 1024}, CommandsTest.gaussian(rnd, 512 * 1024)));
        }
        float[] big = new float[24 << 20];
        for (int i = 0; i < big.length; i++) {
            big[i] = i * 0x1p-20f;
        }
        dense.put("table", DenseTensor.ofFloats("table", new long[]{big.length}, big));
        model = dir.resolve("big.safetensors");
        Safetensors.write(model, dense, Map.of(), Map.of());
    }

    /** A child {@code lowbit} whose stderr is collected as it comes. */
    private record Child(Process process, StringBuffer err, java.util.concurrent.CountDownLatch kernels) {
        String text() throws InterruptedException {
            return err.toString();
        }
    }

    private static Child lowbit(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:-CreateCoredumpOnCrash", "-XX:ErrorFile=" + dir.resolve("hs_err_%p.log"),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).start();
        StringBuffer err = new StringBuffer();
        java.util.concurrent.CountDownLatch kernels = new java.util.concurrent.CountDownLatch(1);
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
                for (String l; (l = r.readLine()) != null; ) {
                    err.append(l).append('\n');
                    if (l.startsWith("lowbit kernels")) {
                        kernels.countDown();
                    }
                }
            } catch (java.io.IOException e) {
                err.append("(stderr: ").append(e).append(")\n");
            }
            kernels.countDown();
        });
        t.setDaemon(true);
        t.start();
        return new Child(p, err, kernels);
    }

    private static List<Path> leftovers(Path folder) throws Exception {
        try (Stream<Path> s = Files.list(folder)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList();
        }
    }

    /** SIGTERM while the output's temporary file is being written: nothing is left behind. */
    @Test
    void sigtermLeavesNoTemporaryFile() throws Exception {
        Path folder = Files.createDirectories(dir.resolve("sigterm"));
        Path out = folder.resolve("out.safetensors");
        Child c = lowbit("quantize", "--model", model.toString(), "--method", "q8_0", "--out", out.toString());
        Process p = c.process();
        boolean seen = false;
        while (p.isAlive() && !seen) {
            // The output's temporary file, not the probe that checks the folder before the work.
            seen = leftovers(folder).stream().anyMatch(f -> f.getFileName().toString().startsWith("out.safetensors"));
        }
        p.destroy(); // SIGTERM
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        String err = c.text();
        assertTrue(seen, "the temporary file was never seen; stderr: " + err);
        assertEquals(List.of(), leftovers(folder), err);
        assertFalse(err.contains("SIGSEGV") || err.contains("SIGBUS") || err.contains("fatal error"), err);
        if (Files.exists(out)) {
            // The rename won the race with the signal: then the file is complete.
            assertEquals(0, p.exitValue(), err);
        } else {
            assertEquals(143, p.exitValue(), err);
        }
    }

    /**
     * The input shrinks after it was mapped, before its tensors are copied (and, for the safetensors
     * output, checksummed): one line naming the change, exit status 1, no output, no temporary file.
     */
    @ParameterizedTest
    @CsvSource({"out.safetensors, hqq, 4", "out.gguf, rtn-sym, 8"})
    void anInputTruncatedWhileReadGivesOneLine(String name, String method, String bits) throws Exception {
        Path input = dir.resolve("shrinking-" + name + ".safetensors");
        Files.copy(model, input);
        Path folder = Files.createDirectories(dir.resolve("truncated-" + name));
        Path out = folder.resolve(name);
        Child c = lowbit("quantize", "--model", input.toString(), "--method", method, "--bits", bits, "--out",
                out.toString());
        Process p = c.process();
        // The kernels' line comes once the model is mapped and read, as quantizing starts.
        assertTrue(c.kernels().await(120, TimeUnit.SECONDS));
        try (FileChannel ch = FileChannel.open(input, StandardOpenOption.WRITE)) {
            ch.truncate(4096);
        }
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        Thread.sleep(100); // the reader thread takes the last line
        String text = c.text();
        assertEquals(1, p.exitValue(), text);
        String last = text.strip().lines().reduce((a, b) -> b).orElse("");
        assertTrue(last.startsWith("lowbit quantize: ") && last.contains(input.toString())
                && last.contains("changed while being read"), text);
        assertFalse(text.contains("\tat ") || text.contains("InternalError") || text.contains("SIGBUS"), text);
        assertFalse(Files.exists(out));
        assertEquals(List.of(), leftovers(folder), text);
    }
}

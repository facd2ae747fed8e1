package dev.lowbit.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code lowbit eval} in a child JVM, sent SIGTERM once it has printed its first progress line: it stops at the next
 * batch, closes its ONNX Runtime sessions and exits with the signal's status (143) or 1, never with a crash.
 */
class EvalSignalTest {
    @TempDir
    Path dir;

    @Test
    void sigtermDuringEvalExitsCleanly() throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElseThrow());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("--add-modules") || a.startsWith("--enable-native-access") || a.startsWith("-Xss")) {
                cmd.add(a);
            }
        }
        // A crash would write its hs_err file here, inside the test's own folder.
        cmd.add("-XX:ErrorFile=" + dir.resolve("hs_err_pid%p.log"));
        cmd.add("-Djava.io.tmpdir=" + dir); // the native libraries the child extracts, too
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Main.class.getName());
        cmd.addAll(List.of("eval", "--sentences", "400", "--speed-sentences", "64", "--rounds", "2", "--threads", "2",
                "--batches", "8", "--bits", "8"));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("LOWBIT_DEBUG", "1"); // a stack trace, should anything fail
        // stderr goes to a file: Process.destroy() closes the pipes, and what the child prints while it stops counts.
        Path errFile = dir.resolve("err.txt");
        Process p = pb.directory(dir.toFile()).redirectOutput(dir.resolve("out.txt").toFile())
                .redirectError(errFile.toFile()).start();
        String e;
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!Files.readString(errFile).contains(": done in ")) {
                assertTrue(p.isAlive(), "the run ended before its first progress line:\n" + Files.readString(errFile));
                assertTrue(System.nanoTime() < deadline, "no progress line within 120 s:\n" + Files.readString(errFile));
                Thread.sleep(20);
            }
            assertTrue(p.isAlive(), "the run ended before the signal:\n" + Files.readString(errFile));
            p.destroy(); // SIGTERM
            assertTrue(p.waitFor(90, TimeUnit.SECONDS), "still running 90 s after SIGTERM:\n" + Files.readString(errFile));
            e = Files.readString(errFile);
        } finally {
            p.destroyForcibly();
        }
        int status = p.exitValue();
        assertTrue(status == 143 || status == 1, "exit status " + status + "; stderr:\n" + e);
        assertTrue(e.contains("\nlowbit eval: stopped by SIGTERM/SIGINT; every encoder is closed\n"),
                "status " + status + ": the run says it stopped, once its encoders are closed:\n" + e + "\nstdout:\n"
                        + Files.readString(dir.resolve("out.txt")));
        for (String crash : new String[]{"SIGSEGV", "hs_err", "A fatal error"}) {
            assertFalse(e.contains(crash), crash + " in stderr:\n" + e);
        }
        try (var files = Files.list(dir)) {
            assertEquals(List.of(), files.map(f -> f.getFileName().toString()).filter(n -> n.startsWith("hs_err")).toList());
        }
    }
}

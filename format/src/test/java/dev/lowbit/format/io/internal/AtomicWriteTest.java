package dev.lowbit.format.io.internal;

import dev.lowbit.format.io.MappedInputException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AtomicWriteTest {
    @TempDir
    Path dir;

    private List<String> names() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static AtomicWrite.Body bytes(String s) {
        return ch -> ch.write(ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void writesAndListsNothingAfterwards() throws IOException {
        Path target = dir.resolve("out.bin");
        AtomicWrite.write(target, ch -> {
            List<Path> pending = List.copyOf(AtomicWrite.pending());
            assertEquals(1, pending.stream().filter(p -> p.getParent().equals(dir.toAbsolutePath())).count(), pending.toString());
            String tmp = pending.getFirst().getFileName().toString();
            assertTrue(tmp.startsWith("out.bin") && tmp.endsWith(".tmp"), tmp);
            assertTrue(Files.exists(pending.getFirst()));
            ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3}));
        });
        assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(target));
        assertEquals(List.of("out.bin"), names());
        assertTrue(AtomicWrite.pending().stream().noneMatch(p -> p.startsWith(dir.toAbsolutePath())));
    }

    @Test
    void errorsNameTheTargetNotTheTemporaryFile() throws IOException {
        Path target = dir.resolve("out.bin");
        Files.writeString(target, "old");

        // An error of the file system about the temporary file names the target instead.
        FileSystemException fse = assertThrows(FileSystemException.class, () -> AtomicWrite.write(target, ch -> {
            Path tmp = AtomicWrite.pending().stream().filter(p -> p.startsWith(dir.toAbsolutePath())).findFirst().orElseThrow();
            throw new FileSystemException(tmp.toString(), null, "No space left on device");
        }));
        assertEquals(target.toString(), fse.getFile());
        assertEquals(target + ": No space left on device", fse.getMessage());

        // A bare I/O error (what FileChannel.write throws for a full disk) gets the target in front.
        IOException bare = assertThrows(IOException.class, () -> AtomicWrite.write(target, ch -> {
            throw new IOException("No space left on device");
        }));
        assertEquals(target + ": No space left on device", bare.getMessage());

        // Errors about another file (the input being copied) pass unchanged.
        MappedInputException input = new MappedInputException(dir.resolve("in.bin"), 0, 10, null);
        assertSame(input, assertThrows(IOException.class, () -> AtomicWrite.write(target, ch -> {
            throw input;
        })));

        Path missing = dir.resolve("no/such/dir/out.bin");
        NoSuchFileException nsf = assertThrows(NoSuchFileException.class, () -> AtomicWrite.write(missing, bytes("x")));
        assertEquals(missing.toString(), nsf.getFile());
        assertFalse(nsf.getMessage().contains(".tmp"), nsf.getMessage());

        Path sub = Files.createDirectory(dir.resolve("sub"));
        IOException isDir = assertThrows(IOException.class, () -> AtomicWrite.write(sub, bytes("x")));
        assertEquals(sub + " is a directory", isDir.getMessage());
        assertTrue(Files.isDirectory(sub));

        assertEquals("old", Files.readString(target), "a failed write leaves the old file");
        assertEquals(List.of("out.bin", "sub"), names(), "and no temporary file");
    }

    /**
     * A child JVM blocks inside a write; SIGTERM (what {@link Process#destroy} sends) runs the shutdown hook,
     * which deletes the temporary file. SIGKILL, which runs no hook, shows that the check can see a leftover.
     */
    @Test
    void sigtermLeavesNoTemporaryFile() throws Exception {
        Path term = Files.createDirectory(dir.resolve("term"));
        assertEquals(List.of(), stopped(term, "TERM"), "after SIGTERM");
        Path kill = Files.createDirectory(dir.resolve("kill"));
        List<String> left = stopped(kill, "KILL");
        assertEquals(1, left.size(), "after SIGKILL: " + left);
        assertTrue(left.getFirst().startsWith("blocked.bin") && left.getFirst().endsWith(".tmp"), left.toString());
    }

    /** SIGINT (Ctrl-C) runs the same hook. */
    @Test
    void sigintLeavesNoTemporaryFile() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeFalse(sigintIgnored(),
                "SIGINT is ignored by this JVM (started as a background job), and a child inherits that, so it would "
                        + "never reach the child's hook");
        Path interrupt = Files.createDirectory(dir.resolve("int"));
        assertEquals(List.of(), stopped(interrupt, "INT"), "after SIGINT");
    }

    /** Whether this process ignores SIGINT ({@code SigIgn} in {@code /proc/self/status}, signal 2 is bit 1). */
    private static boolean sigintIgnored() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("SigIgn:")) {
                return (Long.parseUnsignedLong(line.substring(7).trim(), 16) & 0b10) != 0;
            }
        }
        return false;
    }

    /** Runs {@link Blocked} writing into {@code into}, stops it with {@code signal}, and returns what is left there. */
    private static List<String> stopped(Path into, String signal) throws Exception {
        // Surefire runs in the module's folder; the child takes the compiled classes from the class path.
        String cp = String.join(File.pathSeparator, Path.of("target", "classes").toAbsolutePath().toString(),
                Path.of("target", "test-classes").toAbsolutePath().toString());
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:-CreateCoredumpOnCrash", "-cp", cp, Blocked.class.getName(), into.toString())
                .redirectErrorStream(true).start();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            // The JVM may say things of its own first (JAVA_TOOL_OPTIONS, warnings).
            String line;
            int seen = 0;
            while ((line = out.readLine()) != null && !line.equals("writing") && seen++ < 20) {
                continue;
            }
            assertEquals("writing", line, "the child never started its write");
            try (Stream<Path> s = Files.list(into)) {
                assertEquals(1, s.filter(f -> f.getFileName().toString().endsWith(".tmp")).count(),
                        "the temporary file exists while the write blocks");
            }
            switch (signal) {
                case "TERM" -> p.destroy();
                case "KILL" -> p.destroyForcibly();
                default -> assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).start().waitFor());
            }
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the child did not stop");
        } finally {
            p.destroyForcibly();
        }
        try (Stream<Path> s = Files.list(into)) {
            return s.map(f -> f.getFileName().toString()).sorted().toList();
        }
    }

    /** The child: starts a write into {@code args[0]} whose body writes a little, says so, then blocks. */
    public static final class Blocked {
        public static void main(String[] args) throws IOException {
            AtomicWrite.write(Path.of(args[0], "blocked.bin"), ch -> {
                ch.write(ByteBuffer.wrap(new byte[4096]));
                System.out.println("writing");
                System.out.flush();
                try {
                    Thread.sleep(Long.MAX_VALUE);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
        }
    }
}

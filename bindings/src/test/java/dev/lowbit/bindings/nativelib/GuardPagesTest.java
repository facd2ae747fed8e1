package dev.lowbit.bindings.nativelib;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Guard pages place memory against an inaccessible page, and touching that page kills the process. */
class GuardPagesTest {

    @Test
    void segmentsTouchTheirGuards() {
        try (GuardPages g = new GuardPages()) {
            for (long n : new long[] {0, 1, 3, 4095, 4096, 4097, 100_000}) {
                MemorySegment end = g.endingAtGuard(n);
                assertEquals(n, end.byteSize());
                assertEquals(0, (end.address() + n) % 4096, "ends on a page boundary");
                MemorySegment start = g.startingAfterGuard(n);
                assertEquals(0, start.address() % 4096, "starts on a page boundary");
                if (n > 0) {
                    end.set(ValueLayout.JAVA_BYTE, n - 1, (byte) 7); // the last byte is writable
                    start.set(ValueLayout.JAVA_BYTE, 0, (byte) 7);
                    assertEquals(7, end.get(ValueLayout.JAVA_BYTE, n - 1));
                }
            }
        }
    }

    /**
     * Reads one byte past a guarded segment in a child JVM: it must die of the fault, not pass. The crash report
     * and anything the child extracts to its temporary folder stay in this test's own folder.
     */
    @Test
    void readingPastTheEndCrashes(@TempDir Path dir) throws Exception {
        // Surefire runs in the module's folder; the child takes the compiled classes from the class path.
        List<String> path = List.of(Path.of("target", "classes").toAbsolutePath().toString(),
                Path.of("target", "test-classes").toAbsolutePath().toString());
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:-CreateCoredumpOnCrash", "-XX:ErrorFile=" + dir.resolve("hs_err.log"),
                "-Djava.io.tmpdir=" + dir,
                "--enable-native-access=ALL-UNNAMED", "-cp", String.join(File.pathSeparator, path),
                OverRead.class.getName());
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "child JVM did not finish");
        assertTrue(out.contains("in bounds: 7"), out);
        assertNotEquals(0, p.exitValue(), out);
        assertTrue(out.contains("SIGSEGV") || out.contains("SIGBUS"), out);
        assertTrue(!out.contains("past the end:"), out);
        assertTrue(Files.isRegularFile(dir.resolve("hs_err.log")), "the crash report is in the test's folder: " + out);
    }

    /** The child: reads the last byte of a guarded segment, then the byte after it through a widened view. */
    public static final class OverRead {
        public static void main(String[] args) {
            GuardPages g = new GuardPages();
            MemorySegment s = g.endingAtGuard(10);
            s.set(ValueLayout.JAVA_BYTE, 9, (byte) 7);
            System.out.println("in bounds: " + s.get(ValueLayout.JAVA_BYTE, 9));
            System.out.flush();
            MemorySegment wider = MemorySegment.ofAddress(s.address()).reinterpret(11);
            System.out.println("past the end: " + wider.get(ValueLayout.JAVA_BYTE, 10));
        }
    }
}

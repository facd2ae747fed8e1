package dev.lowbit.kernels;

import dev.lowbit.bindings.nativelib.NativeLibrary;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * End to end, in a child JVM: with {@code -Dlowbit.native.path} at a missing or a corrupt file the kernels fall
 * back to the Vector API, the log line names the cause, and quantizing still works.
 */
class NativeFallbackTest {

    /** The child: prints the chosen kernels after quantizing a row with them. */
    public static final class Probe {
        public static void main(String[] args) {
            float[] x = {1f, -2f, 3f};
            byte[] row = new byte[34];
            boolean ok = KernelProvider.kernels().quantizeRow(dev.lowbit.format.QuantFormat.Q8_0, null, x, 0, 3, row,
                    new float[1], new float[1]);
            System.out.println("chosen: " + KernelProvider.kernels().name() + " ok " + ok);
        }
    }

    private static String run(String... props) throws Exception {
        List<String> cp = new ArrayList<>();
        for (Class<?> c : new Class<?>[] {KernelProvider.class, NativeLibrary.class, dev.lowbit.format.QuantFormat.class}) {
            cp.add(Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString());
        }
        cp.add(Path.of("target", "test-classes").toAbsolutePath().toString());
        // and where the lowbit-native jar (or its classes folder) is, so that the bundled library can load
        String res = "dev/lowbit/native/linux-x86_64/liblowbit.so";
        java.net.URL url = ClassLoader.getSystemClassLoader().getResource(res);
        if (url != null) {
            String u = url.toString();
            if (u.startsWith("jar:")) {
                cp.add(Path.of(java.net.URI.create(u.substring(4, u.indexOf("!/")))).toString());
            } else {
                cp.add(Path.of(url.toURI()).toString().replace(res.replace('/', File.separatorChar), ""));
            }
        }
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"));
        cmd.addAll(List.of(props));
        cmd.addAll(List.of("-cp", String.join(File.pathSeparator, cp), Probe.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "child JVM did not finish");
        assertEquals(0, p.exitValue(), out);
        return out;
    }

    @Test
    void missingLibraryFallsBack(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("gone").resolve("liblowbit.so");
        String out = run("-Dlowbit.native.path=" + missing);
        assertTrue(out.contains("chosen: vector-") && out.contains("ok true"), out);
        assertTrue(out.contains("native library unavailable: the library file " + missing + " is missing"), out);
    }

    @Test
    void corruptLibraryFallsBackWithTheLoadersMessage(@TempDir Path dir) throws Exception {
        Path corrupt = dir.resolve("liblowbit.so");
        byte[] junk = new byte[8192];
        new Random(3).nextBytes(junk);
        Files.write(corrupt, junk);
        String out = run("-Dlowbit.native.path=" + corrupt);
        assertTrue(out.contains("chosen: vector-") && out.contains("ok true"), out);
        assertTrue(out.contains("native library unavailable: cannot load " + corrupt + ": "), out);
        assertTrue(out.contains("ELF") || out.contains("too short"), out);
    }

    @Test
    void theBundledLibraryIsChosenAndCanBeDisabled() throws Exception {
        if (!NativeLibrary.available()) {
            return;
        }
        String out = run();
        assertTrue(out.contains("chosen: native-" + NativeLibrary.hardwareTier().suffix() + " ok true"), out);
        out = run("-Dlowbit.native.tier=generic");
        assertTrue(out.contains("chosen: native-generic ok true"), out);
        out = run("-Dlowbit.native=false");
        assertTrue(out.contains("chosen: vector-") && out.contains("disabled by -Dlowbit.native=false"), out);
    }
}

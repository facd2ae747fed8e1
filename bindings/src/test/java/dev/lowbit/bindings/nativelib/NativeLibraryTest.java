package dev.lowbit.bindings.nativelib;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Loading liblowbit: the bundled library, the failure reasons, the CPU tier and its override. */
class NativeLibraryTest {

    private static boolean linuxX64() {
        String arch = System.getProperty("os.arch");
        return System.getProperty("os.name").startsWith("Linux") && (arch.equals("amd64") || arch.equals("x86_64"));
    }

    /** The build puts the library in the lowbit-native jar, so here it must load. */
    @Test
    void bundledLibraryLoads() {
        if (!linuxX64()) {
            assertTrue(NativeLibrary.unavailableReason().contains("linux-x86_64"), NativeLibrary.unavailableReason());
            return;
        }
        assertTrue(NativeLibrary.available(), () -> "unavailable: " + NativeLibrary.unavailableReason());
        assertNull(NativeLibrary.unavailableReason());
    }

    @Test
    void missingFileIsAReason(@TempDir Path dir) {
        Path missing = dir.resolve("nothing-here.so");
        NativeLibrary.Loaded l = NativeLibrary.tryLoad(missing);
        assertNull(l.lookup());
        assertTrue(l.reason().contains("missing") && l.reason().contains(missing.toString()), l.reason());
    }

    @Test
    void corruptFileIsAReasonWithTheLoadersMessage(@TempDir Path dir) throws IOException {
        Path corrupt = dir.resolve("liblowbit.so");
        byte[] junk = new byte[4096];
        new Random(1).nextBytes(junk);
        Files.write(corrupt, junk);
        NativeLibrary.Loaded l = NativeLibrary.tryLoad(corrupt);
        assertNull(l.lookup());
        // glibc says "invalid ELF header" (or "file too short"); either way the path and a cause are named
        assertTrue(l.reason().startsWith("cannot load " + corrupt + ": "), l.reason());
        assertTrue(l.reason().length() > ("cannot load " + corrupt + ": ").length() + 5, l.reason());
        if (linuxX64()) {
            assertTrue(l.reason().contains("ELF") || l.reason().contains("too short"), l.reason());
        }
    }

    @Test
    void anotherLibraryIsNotLowbit() {
        Path libm = Path.of("/lib/x86_64-linux-gnu/libm.so.6");
        if (!Files.exists(libm)) {
            return;
        }
        NativeLibrary.Loaded l = NativeLibrary.tryLoad(libm);
        assertNull(l.lookup());
        assertTrue(l.reason().contains("not a lowbit library"), l.reason());
    }

    /** lowbit_caps() agrees with the flags the kernel reports in /proc/cpuinfo. */
    @Test
    void hardwareTierMatchesCpuinfo() throws IOException {
        if (!linuxX64() || !NativeLibrary.available()) {
            return;
        }
        Set<String> flags = new HashSet<>();
        for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
            if (line.startsWith("flags")) {
                flags.addAll(Arrays.asList(line.substring(line.indexOf(':') + 1).trim().split("\\s+")));
                break;
            }
        }
        boolean avx2 = flags.containsAll(Set.of("avx", "avx2", "fma", "f16c", "bmi2"));
        boolean avx512 = avx2 && flags.containsAll(Set.of("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"));
        NativeLibrary.Tier want = avx512 ? NativeLibrary.Tier.AVX512 : avx2 ? NativeLibrary.Tier.AVX2
                : NativeLibrary.Tier.GENERIC;
        assertEquals(want, NativeLibrary.hardwareTier(), "cpuinfo flags " + flags);
    }

    @Test
    void tierCanBeLoweredNotRaised() {
        if (!NativeLibrary.available()) {
            return;
        }
        String old = System.getProperty("lowbit.native.tier");
        try {
            System.setProperty("lowbit.native.tier", "generic");
            assertEquals(NativeLibrary.Tier.GENERIC, NativeLibrary.tier());
            System.clearProperty("lowbit.native.tier");
            assertEquals(NativeLibrary.hardwareTier(), NativeLibrary.tier());
            System.setProperty("lowbit.native.tier", "sse9");
            assertThrows(IllegalArgumentException.class, NativeLibrary::tier);
            if (NativeLibrary.hardwareTier() != NativeLibrary.Tier.AVX512) {
                System.setProperty("lowbit.native.tier", "avx512");
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, NativeLibrary::tier);
                assertTrue(e.getMessage().contains("avx512") && e.getMessage().contains(NativeLibrary.hardwareTier().suffix()),
                        e.getMessage());
            }
        } finally {
            if (old == null) {
                System.clearProperty("lowbit.native.tier");
            } else {
                System.setProperty("lowbit.native.tier", old);
            }
        }
    }

    @Test
    void everyTierHasTheAbiSymbols() {
        if (!NativeLibrary.available()) {
            return;
        }
        for (NativeLibrary.Tier t : NativeLibrary.Tier.values()) {
            assertNotNull(NativeLibrary.downcall("first_non_finite", t, java.lang.foreign.FunctionDescriptor.of(
                    java.lang.foreign.ValueLayout.JAVA_LONG, java.lang.foreign.ValueLayout.ADDRESS,
                    java.lang.foreign.ValueLayout.JAVA_LONG, java.lang.foreign.ValueLayout.JAVA_LONG), true));
        }
        assertThrows(IllegalStateException.class, () -> NativeLibrary.downcall("no_such_kernel",
                NativeLibrary.Tier.GENERIC, java.lang.foreign.FunctionDescriptor.ofVoid(), false));
    }
}

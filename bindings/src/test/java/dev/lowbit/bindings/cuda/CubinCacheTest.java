package dev.lowbit.bindings.cuda;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The cubin cache's keys and its memory and disk levels, with a stand-in compiler (no GPU needed). */
class CubinCacheTest {

    /** A compiler that records its calls and returns the inputs' bytes, so that a wrong hit shows. */
    private static final class Recording implements CubinCache.Compiler {
        final AtomicInteger calls = new AtomicInteger();

        @Override
        public byte[] compile(String source, String name, Map<String, String> headers, String arch,
                              List<String> options) {
            calls.incrementAndGet();
            return (arch + ":" + source + ":" + headers + ":" + options).getBytes(StandardCharsets.UTF_8);
        }
    }

    private static final Map<String, String> H = Map.of("lowbit_common.cuh", "#pragma once\n");
    private static final List<String> O = List.of("--std=c++17");

    @Test
    void keyDependsOnSourceArchHeadersOptionsAndCompiler() {
        CubinCache c = new CubinCache(new Recording(), "nvrtc-13.0", null);
        String k = c.key("a", H, "sm_90a", O);
        assertTrue(k.endsWith("-sm_90a"), k);
        assertEquals(k, c.key("a", H, "sm_90a", O));
        assertNotEquals(k, c.key("b", H, "sm_90a", O));
        assertNotEquals(k, c.key("a", H, "sm_80", O));
        assertNotEquals(k, c.key("a", Map.of("lowbit_common.cuh", "#pragma once\n// changed\n"), "sm_90a", O));
        assertNotEquals(k, c.key("a", H, "sm_90a", List.of("--std=c++17", "-DX=1")));
        assertNotEquals(k, new CubinCache(new Recording(), "nvrtc-13.1", null).key("a", H, "sm_90a", O));
        // Length prefixes keep concatenations apart: ("ab", "c") is not ("a", "bc").
        assertNotEquals(c.key("ab", Map.of("c", ""), "sm_90a", O), c.key("a", Map.of("bc", ""), "sm_90a", O));
    }

    @Test
    void compilesOncePerKeyInMemory() {
        Recording r = new Recording();
        CubinCache c = new CubinCache(r, "v", null);
        byte[] first = c.get("src", "x.cu", H, "sm_90a", O);
        byte[] again = c.get("src", "x.cu", H, "sm_90a", O);
        assertArrayEquals(first, again);
        assertEquals(1, r.calls.get());
        byte[] other = c.get("src", "x.cu", H, "sm_80", O);
        assertEquals(2, r.calls.get());
        assertNotEquals(new String(first, StandardCharsets.UTF_8), new String(other, StandardCharsets.UTF_8));
        assertEquals(2, c.compilations());
    }

    @Test
    void aSecondProcessReadsTheDisk(@TempDir Path dir) throws Exception {
        Recording r1 = new Recording();
        byte[] cubin = new CubinCache(r1, "v", dir).get("src", "x.cu", H, "sm_90a", O);
        assertEquals(1, r1.calls.get());
        try (var files = Files.list(dir)) {
            List<Path> all = files.toList();
            assertEquals(1, all.size(), "one file, no temporary left: " + all);
            assertTrue(all.getFirst().getFileName().toString().endsWith("-sm_90a.cubin"));
        }
        Recording r2 = new Recording();
        CubinCache second = new CubinCache(r2, "v", dir);
        assertArrayEquals(cubin, second.get("src", "x.cu", H, "sm_90a", O));
        assertEquals(0, r2.calls.get());
        assertEquals(0, second.compilations());
        second.get("src2", "x.cu", H, "sm_90a", O);
        assertEquals(1, r2.calls.get());
    }
}

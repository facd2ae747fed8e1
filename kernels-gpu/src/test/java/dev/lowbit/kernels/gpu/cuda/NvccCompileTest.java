package dev.lowbit.kernels.gpu.cuda;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Every shipped kernel source compiles with nvcc to a cubin for Hopper ({@code sm_90a}) and Ampere ({@code sm_80})
 * without an error or a warning, and includes nothing that NVRTC lacks. Needs no GPU, only nvcc (found on PATH or
 * in /usr/local/cuda* /bin); skipped with the reason when there is none.
 */
class NvccCompileTest {
    static final List<String> ARCHS = List.of("sm_90a", "sm_80");
    private static final Pattern INCLUDE = Pattern.compile("^\\s*#\\s*include\\s*([<\"])([^>\"]+)[>\"]",
            Pattern.MULTILINE);

    @TempDir
    static Path dir;

    private static Path nvcc;

    @BeforeAll
    static void extractSources() throws IOException {
        nvcc = findNvcc();
        Files.writeString(dir.resolve(KernelSources.HEADER), KernelSources.read(KernelSources.HEADER));
        for (String s : KernelSources.SOURCES) {
            Files.writeString(dir.resolve(s), KernelSources.read(s));
        }
    }

    /** nvcc on PATH, else the newest /usr/local/cuda* /bin/nvcc; null when there is none. */
    static Path findNvcc() throws IOException {
        String path = System.getenv("PATH");
        if (path != null) {
            for (String d : path.split(java.io.File.pathSeparator)) {
                Path p = Path.of(d, "nvcc");
                if (Files.isExecutable(p)) {
                    return p;
                }
            }
        }
        Path local = Path.of("/usr/local");
        if (!Files.isDirectory(local)) {
            return null;
        }
        try (Stream<Path> s = Files.list(local)) {
            return s.filter(p -> p.getFileName().toString().startsWith("cuda"))
                    .map(p -> p.resolve("bin/nvcc"))
                    .filter(Files::isExecutable)
                    .max(Comparator.comparing(Path::toString))
                    .orElse(null);
        }
    }

    static Stream<Arguments> sourcesAndArchs() {
        List<Arguments> out = new ArrayList<>();
        for (String s : KernelSources.SOURCES) {
            for (String a : ARCHS) {
                out.add(Arguments.of(s, a));
            }
        }
        return out.stream();
    }

    /** Runs nvcc on {@code source} for {@code arch}; returns {exit code, combined output}. */
    static Object[] compile(Path source, String arch) throws Exception {
        Path out = dir.resolve(source.getFileName() + "." + arch + ".cubin");
        List<String> cmd = List.of(nvcc.toString(), "-cubin", "-arch=" + arch, "--std=c++17", "-Werror",
                "all-warnings", "-I" + dir, "-o", out.toString(), source.toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("nvcc did not finish in 300 s: " + cmd);
        }
        if (p.exitValue() == 0) {
            assertTrue(Files.size(out) > 0, "nvcc wrote an empty cubin for " + source);
        }
        return new Object[] {p.exitValue(), text.strip()};
    }

    @ParameterizedTest(name = "{0} for {1}")
    @MethodSource("sourcesAndArchs")
    void compilesWithoutWarnings(String source, String arch) throws Exception {
        assumeTrue(nvcc != null, "nvcc is not installed (not on PATH nor in /usr/local/cuda*/bin)");
        Object[] r = compile(dir.resolve(source), arch);
        assertEquals(0, r[0], "nvcc failed on " + source + " for " + arch + ":\n" + r[1]);
        assertEquals("", r[1], "nvcc printed something (a warning?) for " + source + " on " + arch);
    }

    /** The check above can fail: a warning alone breaks the build. */
    @Test
    void aWarningFailsTheCompilation() throws Exception {
        assumeTrue(nvcc != null, "nvcc is not installed (not on PATH nor in /usr/local/cuda*/bin)");
        Path bad = dir.resolve("warning_probe.cu");
        Files.writeString(bad, "#include \"lowbit_common.cuh\"\n"
                + "extern \"C\" __global__ void probe(float* y) { int unused; y[0] = 1.0f; }\n");
        Object[] r = compile(bad, "sm_80");
        assertNotEquals(0, r[0], "nvcc accepted a source with a warning: " + r[1]);
    }

    /** NVRTC has no host headers: a source may include only the shared header (or NVRTC's own fp16/bf16 ones). */
    @Test
    void sourcesIncludeOnlyWhatNvrtcHas() {
        List<String> allowed = List.of(KernelSources.HEADER, "cuda_fp16.h", "cuda_bf16.h");
        List<String> all = new ArrayList<>(KernelSources.SOURCES);
        all.add(KernelSources.HEADER);
        for (String s : all) {
            Matcher m = INCLUDE.matcher(KernelSources.read(s));
            while (m.find()) {
                assertTrue(allowed.contains(m.group(2)), s + " includes " + m.group(2) + ", which NVRTC does not have");
            }
        }
    }

    /** Every source in the resource folder is in the list that the runtime and this test use. */
    @Test
    void everyShippedSourceIsListed() throws Exception {
        var url = KernelSources.class.getResource("/" + KernelSources.RESOURCE_DIR + KernelSources.HEADER);
        assumeTrue(url != null && url.getProtocol().equals("file"), "sources are not in a folder: " + url);
        try (Stream<Path> s = Files.list(Path.of(url.toURI()).getParent())) {
            List<String> shipped = s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".cu")).sorted().toList();
            assertEquals(KernelSources.SOURCES.stream().sorted().toList(), shipped);
        }
    }
}

package dev.lowbit.gpu.cuda.kernels;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The GPU tests, end to end through the Java bindings, against a stand-in driver: {@code fake_cuda.cpp} exports the
 * driver API and NVRTC entry points that lowbit binds and runs the kernels under the host emulation. A child JVM
 * loads it through {@code -Dlowbit.cuda.driver} and {@code -Dlowbit.cuda.nvrtc} and runs a selection of the GPU
 * tests that the emulation finishes quickly (the parameter sweeps are KernelEmulationTest's): memory, copies and
 * leaks, error names and compiler logs, the cubin cache, status reporting, the kernel-interface adapters,
 * activations, W4A16. This catches what only a real call shows, such as a downcall whose Java types do not match its
 * handle. cuBLASLt is not emulated (its test is skipped there). Skipped with the reason when there is no g++.
 */
class EmulatedDeviceTest {
    @TempDir
    static Path dir;

    static final List<String> SELECTED = List.of(
            "CudaRuntimeTest#tenThousandAllocationsLeakNothing",
            "CudaRuntimeTest#modulesLoadAndUnloadWithoutLeaking",
            "CudaRuntimeTest#copiesRoundTrip",
            "CudaRuntimeTest#driverErrorsCarryTheirName",
            "CudaRuntimeTest#compilerErrorsCarryNameAndLog",
            "CudaRuntimeTest#aSecondRuntimeReadsCubinsFromDisk(java.nio.file.Path)",
            "CudaRuntimeTest#everySourceCompilesWithNvrtcForThisDevice",
            "CudaQuantTest#nonFiniteValuesAreNamed",
            "CudaQuantTest#scalesBeyondFp16AreRefusedWithTheRow",
            "CudaQuantTest#theKernelInterfaceAdapterMatchesScalar",
            "CudaQuantTest#theAdapterReportsUnstorableScalesAsTheReferenceDoes",
            "CudaQuantTest#activationsMatchTheReference(dev.lowbit.kernels.ActivationFormat,int,int)",
            "CudaMatmulTest#operandsAreCheckedBeforeLaunch",
            "CudaMatmulTest#w4a16MatchesTheReferenceOnRoundedActivations(dev.lowbit.gpu.cuda.kernels.CudaMatmul$HalfType)");

    private static Path gxx() {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin").split(java.io.File.pathSeparator)) {
            if (Files.isExecutable(Path.of(d, "g++"))) {
                return Path.of(d, "g++");
            }
        }
        return null;
    }

    private static String location(String className) throws Exception {
        Class<?> c = Class.forName(className);
        return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
    }

    @Test
    void gpuTestsPassAgainstTheEmulatedDriver() throws Exception {
        Path gxx = gxx();
        assumeTrue(gxx != null, "g++ is not installed (not on PATH)");
        Files.writeString(dir.resolve(KernelSources.HEADER), KernelSources.read(KernelSources.HEADER));
        for (String s : KernelSources.SOURCES) {
            Files.writeString(dir.resolve(s), KernelSources.read(s));
        }
        for (String r : List.of("cuda_host_emu.h", "kernels_emu.cpp", "fake_cuda.cpp")) {
            try (InputStream in = EmulatedDeviceTest.class.getResourceAsStream(r)) {
                Files.write(dir.resolve(r), in.readAllBytes());
            }
        }
        Path lib = dir.resolve("libfakecuda.so");
        Process cc = new ProcessBuilder(gxx.toString(), "-std=c++20", "-O1", "-pthread", "-shared", "-fPIC",
                "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas", "-Wno-unused-parameter",
                "-I" + dir, "-o", lib.toString(), dir.resolve("fake_cuda.cpp").toString())
                .redirectErrorStream(true).start();
        String ccOut = new String(cc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!cc.waitFor(300, TimeUnit.SECONDS) || cc.exitValue() != 0) {
            fail("g++ could not build the emulated driver:\n" + ccOut);
        }
        // The class path of the child: lowbit's modules, these tests, and JUnit.
        Set<String> cp = new LinkedHashSet<>();
        for (String c : List.of("dev.lowbit.gpu.cuda.CudaDevice", "dev.lowbit.kernels.KernelProvider",
                "dev.lowbit.gpu.cuda.kernels.CudaRuntime", "dev.lowbit.gpu.cuda.kernels.EmulatedDeviceTest",
                "org.junit.jupiter.api.Test", "org.junit.jupiter.engine.JupiterTestEngine",
                "org.junit.jupiter.params.ParameterizedTest", "org.junit.platform.commons.util.ReflectionUtils",
                "org.junit.platform.engine.TestEngine", "org.junit.platform.launcher.Launcher",
                "org.opentest4j.AssertionFailedError", "org.apiguardian.api.API")) {
            cp.add(location(c));
        }
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Dlowbit.cuda.driver=" + lib, "-Dlowbit.cuda.nvrtc=" + lib,
                "-Dlowbit.cuda.cache=" + dir.resolve("cubin-cache"), "-Dlowbit.native=false",
                "-cp", String.join(java.io.File.pathSeparator, cp),
                GpuTestMain.class.getName(), "--gpu-only"));
        cmd.addAll(SELECTED);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(600, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("the emulated GPU tests did not finish in 600 s:\n" + out);
        }
        assertEquals(0, p.exitValue(), "the GPU tests failed against the emulated driver:\n" + out);
        assertTrue(out.contains(" 0 tests failed"), out);
        // Only the cuBLASLt test may be left out (no cuBLASLt here); everything else ran.
        assertTrue(out.matches("(?s).*\\[\\s+[01] tests aborted\\s+].*"), out);
    }
}

package dev.lowbit.kernels.gpu.cuda;

import dev.lowbit.bindings.cuda.CudaException;
import dev.lowbit.bindings.cuda.CudaModule;
import dev.lowbit.bindings.cuda.DeviceMemory;
import dev.lowbit.bindings.cuda.Nvrtc;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The bindings on a real GPU: errors by name, no leaks, the cubin cache across runtimes. */
class CudaRuntimeTest extends GpuTest {

    @Test
    void tenThousandAllocationsLeakNothing() {
        rt.allocate(1 << 20).close(); // the driver's first allocation of a size may set up a pool of its own
        long before = rt.device().memoryInfo()[0];
        for (int i = 0; i < 10_000; i++) {
            try (DeviceMemory m = rt.allocate(1 << 20)) {
                if (i % 1000 == 0) {
                    m.fill((byte) i);
                }
            }
        }
        long after = rt.device().memoryInfo()[0];
        // A leak of one block per cycle would be 10 GB; the driver may keep a page or two of its own.
        assertTrue(before - after < (4 << 20), "free memory fell from " + before + " to " + after);
    }

    @Test
    void modulesLoadAndUnloadWithoutLeaking() {
        byte[] cubin = rt.cache().get(KernelSources.read("outliers.cu"), "outliers.cu", KernelSources.headers(),
                rt.device().arch(), KernelSources.OPTIONS);
        long before = rt.device().memoryInfo()[0];
        for (int i = 0; i < 200; i++) {
            try (CudaModule m = rt.device().loadModule(cubin)) {
                m.function("lb_outlier_add");
            }
        }
        long after = rt.device().memoryInfo()[0];
        assertTrue(before - after < (4 << 20), "free memory fell from " + before + " to " + after);
    }

    @Test
    void copiesRoundTrip() {
        try (Arena arena = Arena.ofConfined(); DeviceMemory m = rt.allocate(1000)) {
            MemorySegment in = arena.allocate(1000);
            for (int i = 0; i < 1000; i++) {
                in.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7));
            }
            m.copyFrom(in);
            MemorySegment out = arena.allocate(1000);
            m.copyTo(out);
            assertArrayEquals(in.toArray(ValueLayout.JAVA_BYTE), out.toArray(ValueLayout.JAVA_BYTE));
            assertThrows(IllegalArgumentException.class, () -> m.copyFrom(arena.allocate(1001)));
            assertThrows(IllegalArgumentException.class, () -> m.copyTo(arena.allocate(10), 995));
        }
    }

    @Test
    void driverErrorsCarryTheirName() {
        CudaException e = assertThrows(CudaException.class, () -> rt.allocate(1L << 50));
        assertEquals("CUDA_ERROR_OUT_OF_MEMORY", e.errorName());
        assertEquals("cuda", e.library());
    }

    @Test
    void compilerErrorsCarryNameAndLog() {
        CudaException e = assertThrows(CudaException.class, () -> Nvrtc.compile(
                "extern \"C\" __global__ void k(float* y) { y[0] = not_declared; }", "broken.cu", Map.of(),
                rt.device().arch(), List.of()));
        assertEquals("NVRTC_ERROR_COMPILATION", e.errorName());
        assertTrue(e.log().contains("not_declared"), e.log());
    }

    @Test
    void aSecondRuntimeReadsCubinsFromDisk(@TempDir Path dir) {
        String old = System.getProperty("lowbit.cuda.cache");
        System.setProperty("lowbit.cuda.cache", dir.toString());
        try {
            try (CudaRuntime first = CudaRuntime.open(0)) {
                first.function("dequantize.cu", "lb_dequantize");
                assertEquals(1, first.cache().compilations());
            }
            try (CudaRuntime second = CudaRuntime.open(0)) {
                second.function("dequantize.cu", "lb_dequantize");
                second.function("w4a16.cu", "lb_w4a16_f16_t8");
                assertEquals(1, second.cache().compilations(), "only w4a16.cu is new");
            }
        } finally {
            if (old == null) {
                System.clearProperty("lowbit.cuda.cache");
            } else {
                System.setProperty("lowbit.cuda.cache", old);
            }
        }
    }

    @Test
    void everySourceCompilesWithNvrtcForThisDevice() {
        for (String s : KernelSources.SOURCES) {
            byte[] cubin = rt.cache().get(KernelSources.read(s), s, KernelSources.headers(), rt.device().arch(),
                    KernelSources.OPTIONS);
            assertTrue(cubin.length > 0, s);
        }
    }
}

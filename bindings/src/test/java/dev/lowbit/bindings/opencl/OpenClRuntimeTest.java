package dev.lowbit.bindings.opencl;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The OpenCL binding on whatever device is present (PoCL's CPU device in CI): buffers, builds, kernels, the error
 * path (names and build logs), and that 10,000 allocate/free cycles leave no live handle and no memory behind.
 * Skipped, with the reason, where no OpenCL platform is installed.
 */
class OpenClRuntimeTest {
    private static ClContext ctx;

    private static final String ADD_ONE = """
            __kernel void add_one(__global int *a, int n) {
                int i = get_global_id(0);
                if (i < n) a[i] += 1;
            }
            """;

    private static final String UNAVAILABLE = ClContext.unavailableReason();

    @BeforeAll
    static void open() {
        if (UNAVAILABLE != null) {
            System.out.println("OpenCL tests skipped: " + UNAVAILABLE);
            return;
        }
        ctx = ClContext.open();
        System.out.println("OpenCL device: " + ctx.device().describe());
        for (ClDeviceInfo d : ClContext.devices()) {
            System.out.println("OpenCL device available: " + d.describe());
        }
    }

    @BeforeEach
    void assumeDevice() {
        Assumptions.assumeTrue(UNAVAILABLE == null, () -> "skipped: " + UNAVAILABLE);
    }

    @AfterAll
    static void close() {
        if (ctx != null) {
            ctx.close();
        }
    }

    @Test
    void buffersRoundTripAndCheckTheirBounds() {
        int[] a = new SplittableRandom(1).ints(1000).toArray();
        try (ClBuffer b = ctx.buffer(4L * a.length)) {
            b.write(0, MemorySegment.ofArray(a));
            int[] back = new int[a.length];
            b.read(0, MemorySegment.ofArray(back));
            assertArrayEquals(a, back);
            int[] tail = new int[10];
            b.read(4L * 990, MemorySegment.ofArray(tail));
            assertArrayEquals(java.util.Arrays.copyOfRange(a, 990, 1000), tail);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> b.read(4L * 995, MemorySegment.ofArray(new int[10])));
            assertTrue(e.getMessage().contains("does not fit a buffer of 4000 bytes"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> b.write(-1, MemorySegment.ofArray(new int[1])));
        }
        assertThrows(IllegalArgumentException.class, () -> ctx.buffer(0));
    }

    @Test
    void kernelRuns() {
        int[] a = {1, 2, 3, 4, 5};
        try (ClProgram p = ctx.build(ADD_ONE, "-cl-std=CL1.2");
             ClKernel k = p.kernel("add_one");
             ClBuffer b = ctx.buffer(4L * a.length)) {
            b.write(0, MemorySegment.ofArray(a));
            k.arg(0, b).arg(1, a.length).launch(a.length, 0);
            int[] back = new int[a.length];
            b.read(0, MemorySegment.ofArray(back));
            assertArrayEquals(new int[] {2, 3, 4, 5, 6}, back);
        }
    }

    @Test
    void aFailedBuildCarriesItsNameAndLog() {
        OpenClException e = assertThrows(OpenClException.class,
                () -> ctx.build("__kernel void broken(__global int *a) { a[0] = undeclared_name; }", "-cl-std=CL1.2"));
        assertEquals("CL_BUILD_PROGRAM_FAILURE", e.errorName());
        assertEquals(-11, e.code());
        assertTrue(e.log().contains("undeclared_name"), "the build log names the error: " + e.log());
        assertTrue(e.getMessage().contains("CL_BUILD_PROGRAM_FAILURE") && e.getMessage().contains("undeclared_name"),
                e.getMessage());
    }

    @Test
    void failedCallsCarryOpenClNames() {
        try (ClProgram p = ctx.build(ADD_ONE, "")) {
            OpenClException name = assertThrows(OpenClException.class, () -> p.kernel("no_such_kernel"));
            assertEquals("CL_INVALID_KERNEL_NAME", name.errorName());
            try (ClKernel k = p.kernel("add_one")) {
                OpenClException index = assertThrows(OpenClException.class, () -> k.arg(7, 1));
                assertEquals("CL_INVALID_ARG_INDEX", index.errorName());
                OpenClException args = assertThrows(OpenClException.class, () -> k.launch(4, 0));
                assertEquals("CL_INVALID_KERNEL_ARGS", args.errorName(), "arguments were never set");
            }
        }
        OpenClException options = assertThrows(OpenClException.class, () -> ctx.build(ADD_ONE, "-no-such-option"));
        assertTrue(options.errorName().equals("CL_INVALID_BUILD_OPTIONS")
                || options.errorName().equals("CL_BUILD_PROGRAM_FAILURE"), options.errorName());
        assertEquals("CL_OUT_OF_RESOURCES", OpenCl.errorName(-5));
        assertEquals("CL_INVALID_VALUE", OpenCl.errorName(-30));
        assertEquals("CL_MAX_SIZE_RESTRICTION_EXCEEDED", OpenCl.errorName(-72));
        assertEquals("CL_UNKNOWN_ERROR_-999", OpenCl.errorName(-999));
    }

    @Test
    void closedObjectsAreRefused() {
        ClBuffer b = ctx.buffer(16);
        b.close();
        b.close(); // idempotent
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> b.write(0, MemorySegment.ofArray(new int[1])));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }

    /**
     * 10,000 cycles each of a 64 KiB buffer (allocate, write, read, free) and of a kernel object, then 200 program
     * builds: no handle stays live, and the resident set grows by less than 32 MiB (a leaked buffer per cycle would
     * be 625 MiB; a leaked kernel or program costs the runtime's own structures).
     */
    @Test
    void tenThousandCyclesLeakNothing() throws IOException {
        int base = ctx.liveObjects();
        byte[] payload = new byte[1 << 16];
        new SplittableRandom(7).nextBytes(payload);
        byte[] back = new byte[payload.length];
        try (ClProgram p = ctx.build(ADD_ONE, "")) {
            cycles(2_000, payload, back, p); // warm up the runtime's pools, the JIT and the Java heap first
            long before = rssAfterGc();
            cycles(10_000, payload, back, p);
            long cycled = rssAfterGc();
            for (int i = 0; i < 200; i++) {
                ctx.build(ADD_ONE, "").close();
            }
            long after = rssAfterGc();
            System.out.println("OpenCL leak test: VmRSS " + before + " KiB before, " + cycled + " KiB after 10,000 "
                    + "buffer and kernel cycles, " + after + " KiB after 200 builds");
            assertEquals(base + 1, ctx.liveObjects(), "only the program itself is live");
            assertTrue(after - before < 32 * 1024, "VmRSS grew by " + (after - before) + " KiB over 10,000 cycles");
        }
        assertEquals(base, ctx.liveObjects());
        assertArrayEquals(payload, back);
    }

    private static void cycles(int n, byte[] payload, byte[] back, ClProgram p) {
        for (int i = 0; i < n; i++) {
            try (ClBuffer b = ctx.buffer(payload.length)) {
                b.write(0, MemorySegment.ofArray(payload));
                b.read(0, MemorySegment.ofArray(back));
            }
            p.kernel("add_one").close();
        }
    }

    /**
     * The resident set after a full collection: without it the Java heap's own growth (the small objects of
     * 10,000 calls) reads as a leak of about 1 KiB per cycle, and with it the native side is flat.
     */
    private static long rssAfterGc() throws IOException {
        System.gc();
        return rssKiB();
    }

    private static long rssKiB() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }

    @Test
    void closingTheContextClosesWhatIsLeft() {
        ClContext c = ClContext.open();
        try {
            ClProgram p = c.build(ADD_ONE, "");
            p.kernel("add_one");
            c.buffer(8);
            assertEquals(3, c.liveObjects());
        } finally {
            c.close();
        }
        assertEquals(0, c.liveObjects());
        assertThrows(IllegalStateException.class, () -> c.buffer(8));
        c.close(); // idempotent
    }
}

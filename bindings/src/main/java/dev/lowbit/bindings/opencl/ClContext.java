package dev.lowbit.bindings.opencl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static dev.lowbit.bindings.opencl.OpenCl.H;
import static dev.lowbit.bindings.opencl.OpenCl.check;
import static dev.lowbit.bindings.opencl.OpenCl.rethrow;

/**
 * One OpenCL device with its context and one in-order command queue. It makes device buffers
 * ({@link ClBuffer}) and programs ({@link ClProgram}), all {@link AutoCloseable}, and counts the ones still open
 * ({@link #liveObjects()}); closing the context closes what is left, then releases the queue and the context.
 *
 * <p>The device is the first GPU of the first platform that has one, else the first device of any type, unless
 * {@code -Dlowbit.opencl.device=P:D} picks device {@code D} of platform {@code P} (0-based, in the loader's order).
 * All methods may be called from any thread; the queue is shared, so launches are serialized by their callers.
 */
public final class ClContext implements AutoCloseable {
    private final MemorySegment context;
    private final MemorySegment queue;
    private final MemorySegment device;
    private final ClDeviceInfo info;
    private final Set<AutoCloseable> live = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    private ClContext(MemorySegment device, ClDeviceInfo info) {
        this.device = device;
        this.info = info;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment err = a.allocate(ValueLayout.JAVA_INT);
            MemorySegment devs = a.allocate(ValueLayout.ADDRESS);
            devs.set(ValueLayout.ADDRESS, 0, device);
            MemorySegment ctx;
            try {
                ctx = (MemorySegment) H.CREATE_CONTEXT.invokeExact(MemorySegment.NULL, 1, devs, MemorySegment.NULL,
                        MemorySegment.NULL, err);
            } catch (Throwable t) {
                throw rethrow("clCreateContext", t);
            }
            check("clCreateContext", err.get(ValueLayout.JAVA_INT, 0));
            MemorySegment q;
            try {
                q = (MemorySegment) H.CREATE_COMMAND_QUEUE.invokeExact(ctx, device, 0L, err);
            } catch (Throwable t) {
                release("clReleaseContext", ctx, true);
                throw rethrow("clCreateCommandQueue", t);
            }
            int status = err.get(ValueLayout.JAVA_INT, 0);
            if (status != OpenCl.CL_SUCCESS) {
                release("clReleaseContext", ctx, true);
                check("clCreateCommandQueue", status);
            }
            this.context = ctx;
            this.queue = q;
        }
    }

    /**
     * Why no OpenCL device can be opened here, in one sentence (no loader library, no platform, no device), or null
     * when {@link #open()} finds one. Never throws.
     */
    public static String unavailableReason() {
        if (!OpenCl.available()) {
            return OpenCl.unavailableReason();
        }
        try {
            pick();
            return null;
        } catch (OpenClException e) {
            return "no OpenCL platform or device: " + e.getMessage().lines().findFirst().orElse("")
                    + " (install one, e.g. apt-get install pocl-opencl-icd)";
        } catch (RuntimeException e) {
            return "OpenCL cannot be used: " + e.getMessage();
        }
    }

    /** Opens the device {@link ClContext} describes. */
    public static ClContext open() {
        if (!OpenCl.available()) {
            throw new IllegalStateException(OpenCl.unavailableReason());
        }
        MemorySegment d = pick();
        return new ClContext(d, describe(d));
    }

    /** Every device of every platform, for logs and tests: one description each. */
    public static List<ClDeviceInfo> devices() {
        List<ClDeviceInfo> out = new ArrayList<>();
        for (MemorySegment p : platforms()) {
            for (MemorySegment d : devicesOf(p, OpenCl.CL_DEVICE_TYPE_ALL)) {
                out.add(describe(d));
            }
        }
        return out;
    }

    private static MemorySegment pick() {
        String forced = System.getProperty("lowbit.opencl.device");
        List<MemorySegment> platforms = platforms();
        if (forced != null && !forced.isBlank()) {
            String[] pd = forced.trim().split(":");
            try {
                int p = Integer.parseInt(pd[0]);
                int d = Integer.parseInt(pd[1]);
                return devicesOf(platforms.get(p), OpenCl.CL_DEVICE_TYPE_ALL).get(d);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("-Dlowbit.opencl.device must be PLATFORM:DEVICE (0-based indices of an "
                        + "existing device), got '" + forced + "'", e);
            }
        }
        for (MemorySegment p : platforms) {
            List<MemorySegment> gpus = devicesOf(p, OpenCl.CL_DEVICE_TYPE_GPU);
            if (!gpus.isEmpty()) {
                return gpus.getFirst();
            }
        }
        for (MemorySegment p : platforms) {
            List<MemorySegment> any = devicesOf(p, OpenCl.CL_DEVICE_TYPE_ALL);
            if (!any.isEmpty()) {
                return any.getFirst();
            }
        }
        throw new OpenClException("clGetDeviceIDs", -1, OpenCl.errorName(-1), "");
    }

    private static List<MemorySegment> platforms() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(ValueLayout.JAVA_INT);
            int status;
            try {
                status = (int) H.GET_PLATFORM_IDS.invokeExact(0, MemorySegment.NULL, n);
            } catch (Throwable t) {
                throw rethrow("clGetPlatformIDs", t);
            }
            check("clGetPlatformIDs", status);
            int count = n.get(ValueLayout.JAVA_INT, 0);
            MemorySegment ids = a.allocate(ValueLayout.ADDRESS, Math.max(count, 1));
            try {
                status = (int) H.GET_PLATFORM_IDS.invokeExact(count, ids, n);
            } catch (Throwable t) {
                throw rethrow("clGetPlatformIDs", t);
            }
            check("clGetPlatformIDs", status);
            List<MemorySegment> out = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                out.add(ids.getAtIndex(ValueLayout.ADDRESS, i));
            }
            return out;
        }
    }

    private static List<MemorySegment> devicesOf(MemorySegment platform, long type) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(ValueLayout.JAVA_INT);
            int status;
            try {
                status = (int) H.GET_DEVICE_IDS.invokeExact(platform, type, 0, MemorySegment.NULL, n);
            } catch (Throwable t) {
                throw rethrow("clGetDeviceIDs", t);
            }
            if (status == -1) { // CL_DEVICE_NOT_FOUND: none of this type, not an error here
                return List.of();
            }
            check("clGetDeviceIDs", status);
            int count = n.get(ValueLayout.JAVA_INT, 0);
            MemorySegment ids = a.allocate(ValueLayout.ADDRESS, Math.max(count, 1));
            try {
                status = (int) H.GET_DEVICE_IDS.invokeExact(platform, type, count, ids, n);
            } catch (Throwable t) {
                throw rethrow("clGetDeviceIDs", t);
            }
            check("clGetDeviceIDs", status);
            List<MemorySegment> out = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                out.add(ids.getAtIndex(ValueLayout.ADDRESS, i));
            }
            return out;
        }
    }

    private static ClDeviceInfo describe(MemorySegment d) {
        MemorySegment platform = MemorySegment.ofAddress(deviceLong(d, 0x1031, 8)); // CL_DEVICE_PLATFORM
        String p = platformString(platform, OpenCl.CL_PLATFORM_NAME) + ", "
                + platformString(platform, OpenCl.CL_PLATFORM_VERSION);
        long fp = deviceLong(d, OpenCl.CL_DEVICE_SINGLE_FP_CONFIG, 8);
        return new ClDeviceInfo(p, deviceString(d, OpenCl.CL_DEVICE_NAME), deviceString(d, OpenCl.CL_DEVICE_VERSION),
                deviceString(d, OpenCl.CL_DEVICE_OPENCL_C_VERSION), deviceString(d, OpenCl.CL_DRIVER_VERSION),
                (deviceLong(d, OpenCl.CL_DEVICE_TYPE, 8) & OpenCl.CL_DEVICE_TYPE_GPU) != 0,
                deviceLong(d, OpenCl.CL_DEVICE_MAX_WORK_GROUP_SIZE, 8), (fp & OpenCl.CL_FP_DENORM) != 0,
                (fp & OpenCl.CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0,
                deviceLong(d, OpenCl.CL_DEVICE_ENDIAN_LITTLE, 4) != 0);
    }

    private static long deviceLong(MemorySegment d, int param, int bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(8);
            int status;
            try {
                status = (int) H.GET_DEVICE_INFO.invokeExact(d, param, (long) bytes, v, MemorySegment.NULL);
            } catch (Throwable t) {
                throw rethrow("clGetDeviceInfo", t);
            }
            check("clGetDeviceInfo(0x" + Integer.toHexString(param) + ")", status);
            return bytes == 4 ? v.get(ValueLayout.JAVA_INT, 0) & 0xFFFFFFFFL : v.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    private static String deviceString(MemorySegment d, int param) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(ValueLayout.JAVA_LONG);
            int status;
            try {
                status = (int) H.GET_DEVICE_INFO.invokeExact(d, param, 0L, MemorySegment.NULL, n);
            } catch (Throwable t) {
                throw rethrow("clGetDeviceInfo", t);
            }
            check("clGetDeviceInfo(0x" + Integer.toHexString(param) + ")", status);
            long size = n.get(ValueLayout.JAVA_LONG, 0);
            MemorySegment s = a.allocate(Math.max(size, 1));
            try {
                status = (int) H.GET_DEVICE_INFO.invokeExact(d, param, size, s, MemorySegment.NULL);
            } catch (Throwable t) {
                throw rethrow("clGetDeviceInfo", t);
            }
            check("clGetDeviceInfo(0x" + Integer.toHexString(param) + ")", status);
            return cString(s, size);
        }
    }

    private static String platformString(MemorySegment p, int param) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(ValueLayout.JAVA_LONG);
            int status;
            try {
                status = (int) H.GET_PLATFORM_INFO.invokeExact(p, param, 0L, MemorySegment.NULL, n);
            } catch (Throwable t) {
                throw rethrow("clGetPlatformInfo", t);
            }
            check("clGetPlatformInfo(0x" + Integer.toHexString(param) + ")", status);
            long size = n.get(ValueLayout.JAVA_LONG, 0);
            MemorySegment s = a.allocate(Math.max(size, 1));
            try {
                status = (int) H.GET_PLATFORM_INFO.invokeExact(p, param, size, s, MemorySegment.NULL);
            } catch (Throwable t) {
                throw rethrow("clGetPlatformInfo", t);
            }
            check("clGetPlatformInfo(0x" + Integer.toHexString(param) + ")", status);
            return cString(s, size);
        }
    }

    /** The bytes of a NUL-terminated (or {@code size}-long) string as UTF-8, trimmed. */
    static String cString(MemorySegment s, long size) {
        byte[] b = s.asSlice(0, size).toArray(ValueLayout.JAVA_BYTE);
        int end = 0;
        while (end < b.length && b[end] != 0) {
            end++;
        }
        return new String(b, 0, end, StandardCharsets.UTF_8).trim();
    }

    /** The device this context runs on. */
    public ClDeviceInfo device() {
        return info;
    }

    /** A device buffer of {@code bytes} (at least 1), readable and writable by kernels. */
    public ClBuffer buffer(long bytes) {
        requireOpen();
        if (bytes < 1) {
            throw new IllegalArgumentException("a device buffer needs at least 1 byte, got " + bytes);
        }
        return register(new ClBuffer(this, bytes));
    }

    /**
     * Builds {@code source} (OpenCL C) for this device with {@code options} (for example
     * {@code -cl-std=CL1.2}).
     *
     * @throws OpenClException with the device's build log when the build fails
     */
    public ClProgram build(String source, String options) {
        requireOpen();
        return register(new ClProgram(this, source, options == null ? "" : options));
    }

    /** Waits until every command queued so far has finished. */
    public void finish() {
        requireOpen();
        int status;
        try {
            status = (int) H.FINISH.invokeExact(queue);
        } catch (Throwable t) {
            throw rethrow("clFinish", t);
        }
        check("clFinish", status);
    }

    /** Buffers, programs and kernels made by this context and not yet closed. */
    public int liveObjects() {
        return live.size();
    }

    <T extends AutoCloseable> T register(T o) {
        live.add(o);
        return o;
    }

    void unregister(AutoCloseable o) {
        live.remove(o);
    }

    MemorySegment context() {
        return context;
    }

    MemorySegment queue() {
        return queue;
    }

    MemorySegment deviceId() {
        return device;
    }

    void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the OpenCL context is closed");
        }
    }

    /** Closes the objects still open, then releases the queue and the context. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        // Kernels before programs before buffers: a program cannot be released while a kernel holds it.
        for (Class<?> kind : List.of(ClKernel.class, ClProgram.class, ClBuffer.class)) {
            for (AutoCloseable o : List.copyOf(live)) {
                if (kind.isInstance(o)) {
                    try {
                        o.close();
                    } catch (Exception e) {
                        throw rethrow("close", e);
                    }
                }
            }
        }
        closed = true;
        release("clReleaseCommandQueue", queue, false);
        release("clReleaseContext", context, true);
    }

    private static void release(String call, MemorySegment handle, boolean isContext) {
        int status;
        try {
            status = isContext ? (int) H.RELEASE_CONTEXT.invokeExact(handle)
                    : (int) H.RELEASE_COMMAND_QUEUE.invokeExact(handle);
        } catch (Throwable t) {
            throw rethrow(call, t);
        }
        check(call, status);
    }

    @Override
    public String toString() {
        return "ClContext[" + info.describe() + "]";
    }
}

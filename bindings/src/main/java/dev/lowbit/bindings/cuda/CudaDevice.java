package dev.lowbit.bindings.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Locale;

import static dev.lowbit.bindings.cuda.CudaDriver.H;
import static dev.lowbit.bindings.cuda.CudaDriver.check;
import static dev.lowbit.bindings.cuda.CudaDriver.need;
import static dev.lowbit.bindings.cuda.CudaDriver.rethrow;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * One NVIDIA GPU through its primary context ({@code cuDevicePrimaryCtxRetain}), the context the CUDA runtime and
 * PyTorch share. Every call makes the context current on the calling thread first, so a device may be used from
 * any thread. Closing releases the primary context; memory, modules, streams and events are closed on their own.
 */
public final class CudaDevice implements AutoCloseable {
    private final int ordinal;
    private final MemorySegment context;
    private final String name;
    private final int major;
    private final int minor;
    private final int multiprocessors;
    private final int l2Bytes;
    private final int maxSharedOptin;
    private volatile boolean closed;

    private CudaDevice(int ordinal, MemorySegment context, String name, int major, int minor, int sms, int l2,
                       int smem) {
        this.ordinal = ordinal;
        this.context = context;
        this.name = name;
        this.major = major;
        this.minor = minor;
        this.multiprocessors = sms;
        this.l2Bytes = l2;
        this.maxSharedOptin = smem;
    }

    /** Whether {@code libcuda.so.1} loaded and reports at least one device. Never throws. */
    public static boolean available() {
        return unavailableReason() == null;
    }

    /** Why no CUDA device can be used, in one sentence; null when one can. Never throws. */
    public static String unavailableReason() {
        return Probe.REASON;
    }

    private static final class Probe {
        static final String REASON = probe();

        private static String probe() {
            String why = CudaDriver.unavailableReason();
            if (why != null) {
                return why;
            }
            try (Arena arena = Arena.ofConfined()) {
                int rc = (int) need(H.INIT).invokeExact(0);
                if (rc != 0) {
                    return "cuInit failed with " + CudaDriver.errorName(rc) + " (" + rc + ")";
                }
                MemorySegment n = arena.allocate(JAVA_INT);
                rc = (int) need(H.DEVICE_GET_COUNT).invokeExact(n);
                if (rc != 0) {
                    return "cuDeviceGetCount failed with " + CudaDriver.errorName(rc);
                }
                return n.get(JAVA_INT, 0) == 0 ? "the CUDA driver reports no device" : null;
            } catch (Throwable t) {
                return "the CUDA driver failed to start: " + t;
            }
        }
    }

    /**
     * Opens device {@code ordinal} (0 for the first GPU).
     *
     * @throws IllegalStateException when no CUDA device can be used (with the reason)
     * @throws CudaException         when a driver call fails
     */
    public static CudaDevice open(int ordinal) {
        String why = unavailableReason();
        if (why != null) {
            throw new IllegalStateException("no CUDA device: " + why);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment dev = arena.allocate(JAVA_INT);
            check((int) need(H.DEVICE_GET).invokeExact(dev, ordinal), "cuDeviceGet(" + ordinal + ")");
            int d = dev.get(JAVA_INT, 0);
            MemorySegment ctx = arena.allocate(ADDRESS);
            check((int) need(H.PRIMARY_CTX_RETAIN).invokeExact(ctx, d), "cuDevicePrimaryCtxRetain");
            MemorySegment context = ctx.get(ADDRESS, 0);
            check((int) need(H.CTX_SET_CURRENT).invokeExact(context), "cuCtxSetCurrent");
            MemorySegment nameBuf = arena.allocate(256);
            check((int) need(H.DEVICE_GET_NAME).invokeExact(nameBuf, 256, d), "cuDeviceGetName");
            return new CudaDevice(d, context, nameBuf.getString(0),
                    attribute(arena, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d),
                    attribute(arena, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d),
                    attribute(arena, CudaDriver.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d),
                    attribute(arena, CudaDriver.CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, d),
                    attribute(arena, CudaDriver.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, d));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static int attribute(Arena arena, int attribute, int device) throws Throwable {
        MemorySegment out = arena.allocate(JAVA_INT);
        check((int) need(H.DEVICE_GET_ATTRIBUTE).invokeExact(out, attribute, device),
                "cuDeviceGetAttribute(" + attribute + ")");
        return out.get(JAVA_INT, 0);
    }

    /** Makes this device's primary context current on the calling thread. */
    void bind() {
        if (closed) {
            throw new IllegalStateException("the CUDA device " + ordinal + " is closed");
        }
        try {
            check((int) need(H.CTX_SET_CURRENT).invokeExact(context), "cuCtxSetCurrent");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public String name() {
        return name;
    }

    public int ordinal() {
        return ordinal;
    }

    /** Compute capability, e.g. 90 for an H100 (9.0). */
    public int computeCapability() {
        return major * 10 + minor;
    }

    /**
     * The architecture lowbit compiles for: {@code sm_90a} on Hopper (whose {@code a} variant enables
     * the architecture-specific instructions), {@code sm_<major><minor>} on every other device.
     */
    public String arch() {
        return archFor(major, minor);
    }

    static String archFor(int major, int minor) {
        return String.format(Locale.ROOT, "sm_%d%d%s", major, minor, major == 9 && minor == 0 ? "a" : "");
    }

    public int multiprocessors() {
        return multiprocessors;
    }

    public int l2CacheBytes() {
        return l2Bytes;
    }

    /** The most dynamic shared memory one block may opt in to. */
    public int maxSharedMemoryOptin() {
        return maxSharedOptin;
    }

    /** {@code cuMemGetInfo}: free and total device memory in bytes, as {@code {free, total}}. */
    public long[] memoryInfo() {
        bind();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment free = arena.allocate(JAVA_LONG);
            MemorySegment total = arena.allocate(JAVA_LONG);
            check((int) need(H.MEM_GET_INFO).invokeExact(free, total), "cuMemGetInfo");
            return new long[] {free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0)};
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Allocates {@code bytes} of device memory ({@code cuMemAlloc}, 256-byte aligned).
     *
     * @throws IllegalArgumentException for a negative size
     */
    public DeviceMemory allocate(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("bytes must be non-negative, got " + bytes);
        }
        bind();
        if (bytes == 0) {
            return new DeviceMemory(this, 0L, 0L);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_LONG);
            check((int) need(H.MEM_ALLOC).invokeExact(out, bytes), "cuMemAlloc(" + bytes + ")");
            return new DeviceMemory(this, out.get(JAVA_LONG, 0), bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Device memory holding a copy of {@code host}. */
    public DeviceMemory upload(MemorySegment host) {
        DeviceMemory m = allocate(host.byteSize());
        try {
            m.copyFrom(host);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        return m;
    }

    /** Loads a cubin image ({@code cuModuleLoadData}). */
    public CudaModule loadModule(byte[] cubin) {
        bind();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment image = arena.allocate(cubin.length + 1L, 16);
            MemorySegment.copy(cubin, 0, image, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, cubin.length);
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) need(H.MODULE_LOAD_DATA).invokeExact(out, image), "cuModuleLoadData");
            return new CudaModule(this, out.get(ADDRESS, 0));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A non-blocking stream ({@code CU_STREAM_NON_BLOCKING}). */
    public CudaStream createStream() {
        bind();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) need(H.STREAM_CREATE).invokeExact(out, CudaDriver.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
            return new CudaStream(this, out.get(ADDRESS, 0));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A timing event. */
    public CudaEvent createEvent() {
        bind();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) need(H.EVENT_CREATE).invokeExact(out, CudaDriver.CU_EVENT_DEFAULT), "cuEventCreate");
            return new CudaEvent(this, out.get(ADDRESS, 0));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Waits for all work on the device's context ({@code cuCtxSynchronize}). */
    public void synchronize() {
        bind();
        try {
            check((int) need(H.CTX_SYNCHRONIZE).invokeExact(), "cuCtxSynchronize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Releases the primary context. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            check((int) need(H.PRIMARY_CTX_RELEASE).invokeExact(ordinal), "cuDevicePrimaryCtxRelease");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public String toString() {
        return "CudaDevice[" + ordinal + ": " + name + ", " + arch() + ", " + multiprocessors + " SMs]";
    }
}

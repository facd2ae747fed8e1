package dev.lowbit.kernels.gpu.cuda;

import dev.lowbit.bindings.cuda.CubinCache;
import dev.lowbit.bindings.cuda.CudaDevice;
import dev.lowbit.bindings.cuda.CudaFunction;
import dev.lowbit.bindings.cuda.CudaModule;
import dev.lowbit.bindings.cuda.DeviceMemory;
import dev.lowbit.bindings.cuda.Nvrtc;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One GPU with lowbit's kernels: the device's primary context, the cubin cache, and each kernel source compiled
 * (once, on first use) for the device's architecture. Work runs on the legacy default stream, so that the
 * synchronous copies of {@link DeviceMemory} order with the launches. {@link #close()} unloads the modules and
 * releases the context.
 */
public final class CudaRuntime implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("dev.lowbit.kernels.gpu");

    private final CudaDevice device;
    private final CubinCache cache;
    private final Map<String, CudaModule> modules = new HashMap<>();
    private final Map<String, CudaFunction> functions = new HashMap<>();
    private final Map<String, String> headers;
    private boolean closed;

    private CudaRuntime(CudaDevice device, CubinCache cache) {
        this.device = device;
        this.cache = cache;
        this.headers = KernelSources.headers();
    }

    /** Why the CUDA kernels cannot run here (no driver, no device, no NVRTC), in one sentence; null when they can. */
    public static String unavailableReason() {
        String why = CudaDevice.unavailableReason();
        if (why != null) {
            return why;
        }
        why = Nvrtc.unavailableReason();
        return why == null ? null : "NVRTC is unavailable: " + why;
    }

    public static boolean available() {
        return unavailableReason() == null;
    }

    /**
     * Opens device {@code ordinal}.
     *
     * @throws IllegalStateException when the CUDA kernels cannot run here, with {@link #unavailableReason()}
     */
    public static CudaRuntime open(int ordinal) {
        String why = unavailableReason();
        if (why != null) {
            throw new IllegalStateException("the CUDA kernels cannot run: " + why);
        }
        CudaDevice d = CudaDevice.open(ordinal);
        try {
            CudaRuntime rt = new CudaRuntime(d, CubinCache.nvrtc());
            LOG.log(System.Logger.Level.INFO, "lowbit CUDA: " + d + ", NVRTC " + Nvrtc.version());
            return rt;
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
    }

    public CudaDevice device() {
        return device;
    }

    /** The cubin cache; {@link CubinCache#compilations()} counts the NVRTC runs of this process. */
    public CubinCache cache() {
        return cache;
    }

    /** Kernel {@code kernel} of source {@code source}, compiling and loading the source on first use. */
    public synchronized CudaFunction function(String source, String kernel) {
        if (closed) {
            throw new IllegalStateException("the CUDA runtime is closed");
        }
        String key = source + "#" + kernel;
        CudaFunction f = functions.get(key);
        if (f == null) {
            CudaModule m = modules.get(source);
            if (m == null) {
                byte[] cubin = cache.get(KernelSources.read(source), source, headers, device.arch(),
                        KernelSources.OPTIONS);
                m = device.loadModule(cubin);
                modules.put(source, m);
            }
            f = m.function(kernel);
            functions.put(key, f);
        }
        return f;
    }

    /** Launches {@code kernel} of {@code source} on the default stream with a 1-D block. */
    void launch(String source, String kernel, long gridX, int gridY, int block, Object... args) {
        if (gridX < 1 || gridY < 1) {
            return;
        }
        if (gridX > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("the problem is too large for one launch of " + kernel + " ("
                    + gridX + " blocks)");
        }
        function(source, kernel).launch(new int[] {(int) gridX, gridY, 1}, new int[] {block, 1, 1}, 0, null, args);
    }

    /** Waits for all queued work. */
    public void synchronize() {
        device.synchronize();
    }

    // ---------------------------------------------------------------- host <-> device helpers

    /** Device memory holding a copy of {@code host} (heap or native). */
    public DeviceMemory upload(MemorySegment host) {
        if (host.isNative()) {
            return device.upload(host);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment copy = arena.allocate(Math.max(1, host.byteSize()), 16).asSlice(0, host.byteSize());
            copy.copyFrom(host);
            return device.upload(copy);
        }
    }

    /** Device memory holding {@code a[from, from + count)}. */
    public DeviceMemory upload(float[] a, int from, int count) {
        return upload(MemorySegment.ofArray(a).asSlice(4L * from, 4L * count));
    }

    DeviceMemory upload(int[] a) {
        return upload(MemorySegment.ofArray(a));
    }

    DeviceMemory upload(byte[] a) {
        return upload(MemorySegment.ofArray(a));
    }

    /** {@code bytes} of device memory. */
    public DeviceMemory allocate(long bytes) {
        return device.allocate(bytes);
    }

    /** Waits for queued work, then copies the start of {@code src} into {@code dst} (heap or native). */
    public void download(DeviceMemory src, MemorySegment dst) {
        synchronize();
        if (dst.isNative()) {
            src.copyTo(dst);
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment tmp = arena.allocate(Math.max(1, dst.byteSize()), 16).asSlice(0, dst.byteSize());
            src.copyTo(tmp);
            dst.copyFrom(tmp);
        }
    }

    /** Waits for queued work, then returns the first {@code count} floats of {@code src}. */
    public float[] downloadFloats(DeviceMemory src, int count) {
        float[] out = new float[count];
        download(src, MemorySegment.ofArray(out));
        return out;
    }

    /** Two 64-bit status words set to all ones (no error), for kernels that report the first bad index. */
    DeviceMemory statusWords() {
        DeviceMemory s = allocate(16);
        s.fill((byte) 0xFF);
        return s;
    }

    long[] readStatus(DeviceMemory status) {
        long[] out = new long[2];
        download(status, MemorySegment.ofArray(out));
        return out;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<RuntimeException> errors = new ArrayList<>();
        for (CudaModule m : modules.values()) {
            try {
                m.close();
            } catch (RuntimeException e) {
                errors.add(e);
            }
        }
        modules.clear();
        functions.clear();
        device.close();
        if (!errors.isEmpty()) {
            throw errors.getFirst();
        }
    }
}

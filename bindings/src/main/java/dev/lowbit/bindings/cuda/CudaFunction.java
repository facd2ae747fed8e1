package dev.lowbit.bindings.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

import static dev.lowbit.bindings.cuda.CudaDriver.H;
import static dev.lowbit.bindings.cuda.CudaDriver.check;
import static dev.lowbit.bindings.cuda.CudaDriver.need;
import static dev.lowbit.bindings.cuda.CudaDriver.rethrow;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A kernel of a loaded module. Arguments are passed as the kernel declares them: {@link DeviceMemory} (a device
 * pointer), {@link Long} (a 64-bit integer or pointer), {@link Integer} and {@link Float}.
 */
public final class CudaFunction {
    private final CudaModule module;
    private final String name;
    private final MemorySegment handle;

    CudaFunction(CudaModule module, String name, MemorySegment handle) {
        this.module = module;
        this.name = name;
        this.handle = handle;
    }

    public String name() {
        return name;
    }

    /**
     * Allows launches with up to {@code bytes} of dynamic shared memory
     * ({@code CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES}); needed above 48 KiB.
     */
    public void setMaxDynamicSharedMemory(int bytes) {
        int max = module.device().maxSharedMemoryOptin();
        if (bytes < 0 || bytes > max) {
            throw new IllegalArgumentException("dynamic shared memory " + bytes + " is outside [0, " + max
                    + "] for " + module.device().name());
        }
        setAttribute(CudaDriver.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes, "max dynamic shared size");
    }

    /** The share of L1/shared memory to carve out as shared memory, in percent (0..100). */
    public void setPreferredSharedCarveout(int percent) {
        if (percent < 0 || percent > 100) {
            throw new IllegalArgumentException("carveout must be 0..100 percent, got " + percent);
        }
        setAttribute(CudaDriver.CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, percent, "shared carveout");
    }

    private void setAttribute(int attribute, int value, String what) {
        checkOpen();
        module.device().bind();
        try {
            check((int) need(H.FUNC_SET_ATTRIBUTE).invokeExact(handle, attribute, value),
                    "cuFuncSetAttribute(" + name + ", " + what + ")");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Launches the kernel on {@code stream} (null: the legacy default stream) and returns without waiting.
     *
     * @throws IllegalArgumentException for an empty or oversized grid or block, or an argument of another type
     */
    public void launch(int[] grid, int[] block, int sharedBytes, CudaStream stream, Object... args) {
        checkDims("grid", grid, Integer.MAX_VALUE);
        checkDims("block", block, 1024);
        if ((long) block[0] * block[1] * block[2] > 1024) {
            throw new IllegalArgumentException("a block holds at most 1024 threads, got " + block[0] + "x" + block[1]
                    + "x" + block[2]);
        }
        if (grid[1] > 65535 || grid[2] > 65535) {
            throw new IllegalArgumentException("grid y and z must be at most 65535, got " + grid[1] + ", " + grid[2]);
        }
        checkOpen();
        module.device().bind();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = arena.allocate(ADDRESS, Math.max(1, args.length));
            for (int i = 0; i < args.length; i++) {
                int index = i;
                Object a = Objects.requireNonNull(args[i], () -> "kernel argument " + index + " of " + name + " is null");
                MemorySegment slot = switch (a) {
                    case DeviceMemory m -> arena.allocateFrom(JAVA_LONG, m.address());
                    case Long l -> arena.allocateFrom(JAVA_LONG, l);
                    case Integer n -> arena.allocateFrom(JAVA_INT, n);
                    case Float f -> arena.allocateFrom(JAVA_FLOAT, f);
                    default -> throw new IllegalArgumentException("kernel argument " + i + " of " + name
                            + " has unsupported type " + a.getClass().getName());
                };
                params.setAtIndex(ADDRESS, i, slot);
            }
            MemorySegment s = stream == null ? MemorySegment.NULL : stream.handle();
            check((int) need(H.LAUNCH_KERNEL).invokeExact(handle, grid[0], grid[1], grid[2], block[0], block[1],
                    block[2], sharedBytes, s, params, MemorySegment.NULL), "cuLaunchKernel(" + name + ")");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static void checkDims(String what, int[] d, int max) {
        if (d == null || d.length != 3) {
            throw new IllegalArgumentException(what + " must have 3 dimensions");
        }
        for (int v : d) {
            if (v < 1 || v > max) {
                throw new IllegalArgumentException(what + " dimensions must be in [1, " + max + "], got "
                        + java.util.Arrays.toString(d));
            }
        }
    }

    private void checkOpen() {
        if (module.isClosed()) {
            throw new IllegalStateException("the module of " + name + " is closed");
        }
    }
}

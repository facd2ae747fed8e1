package dev.lowbit.bindings.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static dev.lowbit.bindings.cuda.CudaDriver.H;
import static dev.lowbit.bindings.cuda.CudaDriver.check;
import static dev.lowbit.bindings.cuda.CudaDriver.need;
import static dev.lowbit.bindings.cuda.CudaDriver.rethrow;
import static java.lang.foreign.ValueLayout.ADDRESS;

/** A loaded cubin ({@code cuModuleLoadData}); {@link #close()} unloads it and invalidates its functions. */
public final class CudaModule implements AutoCloseable {
    private final CudaDevice device;
    private final MemorySegment handle;
    private boolean closed;

    CudaModule(CudaDevice device, MemorySegment handle) {
        this.device = device;
        this.handle = handle;
    }

    /** The kernel named {@code name} (an {@code extern "C"} name). */
    public synchronized CudaFunction function(String name) {
        if (closed) {
            throw new IllegalStateException("the module is closed");
        }
        device.bind();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) need(H.MODULE_GET_FUNCTION).invokeExact(out, handle, arena.allocateFrom(name)),
                    "cuModuleGetFunction(" + name + ")");
            return new CudaFunction(this, name, out.get(ADDRESS, 0));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    CudaDevice device() {
        return device;
    }

    synchronized boolean isClosed() {
        return closed;
    }

    /** Unloads the module. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        device.bind();
        try {
            check((int) need(H.MODULE_UNLOAD).invokeExact(handle), "cuModuleUnload");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}

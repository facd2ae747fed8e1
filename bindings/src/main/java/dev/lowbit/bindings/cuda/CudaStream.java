package dev.lowbit.bindings.cuda;

import java.lang.foreign.MemorySegment;

import static dev.lowbit.bindings.cuda.CudaDriver.H;
import static dev.lowbit.bindings.cuda.CudaDriver.check;
import static dev.lowbit.bindings.cuda.CudaDriver.need;
import static dev.lowbit.bindings.cuda.CudaDriver.rethrow;

/** A CUDA stream; {@link #close()} destroys it. */
public final class CudaStream implements AutoCloseable {
    private final CudaDevice device;
    private final MemorySegment handle;
    private boolean closed;

    CudaStream(CudaDevice device, MemorySegment handle) {
        this.device = device;
        this.handle = handle;
    }

    synchronized MemorySegment handle() {
        if (closed) {
            throw new IllegalStateException("the stream is closed");
        }
        return handle;
    }

    /** The raw {@code CUstream}, for libraries that take one (cuBLASLt). */
    public MemorySegment rawHandle() {
        return handle();
    }

    /** Waits until all work queued on the stream has finished. */
    public void synchronize() {
        device.bind();
        try {
            check((int) need(H.STREAM_SYNCHRONIZE).invokeExact(handle()), "cuStreamSynchronize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        device.bind();
        try {
            check((int) need(H.STREAM_DESTROY).invokeExact(handle), "cuStreamDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}

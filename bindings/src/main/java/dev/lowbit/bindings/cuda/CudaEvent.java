package dev.lowbit.bindings.cuda;

import java.lang.foreign.MemorySegment;

import static dev.lowbit.bindings.cuda.CudaDriver.H;
import static dev.lowbit.bindings.cuda.CudaDriver.check;
import static dev.lowbit.bindings.cuda.CudaDriver.need;
import static dev.lowbit.bindings.cuda.CudaDriver.rethrow;

/** A timing event; {@link #close()} destroys it. */
public final class CudaEvent implements AutoCloseable {
    private final CudaDevice device;
    private final MemorySegment handle;
    private boolean closed;

    CudaEvent(CudaDevice device, MemorySegment handle) {
        this.device = device;
        this.handle = handle;
    }

    private synchronized MemorySegment handle() {
        if (closed) {
            throw new IllegalStateException("the event is closed");
        }
        return handle;
    }

    /** Records the event on {@code stream} (null: the legacy default stream). */
    public void record(CudaStream stream) {
        device.bind();
        MemorySegment s = stream == null ? MemorySegment.NULL : stream.handle();
        try {
            check((int) need(H.EVENT_RECORD).invokeExact(handle(), s), "cuEventRecord");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Waits for the event. */
    public void synchronize() {
        device.bind();
        try {
            check((int) need(H.EVENT_SYNCHRONIZE).invokeExact(handle()), "cuEventSynchronize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Milliseconds from {@code this} to {@code end}, both recorded and complete. */
    public float elapsedMillis(CudaEvent end) {
        device.bind();
        return CudaDriver.elapsed(handle(), end.handle());
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        device.bind();
        try {
            check((int) need(H.EVENT_DESTROY).invokeExact(handle), "cuEventDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}

package dev.lowbit.bindings.opencl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.lowbit.bindings.opencl.OpenCl.H;
import static dev.lowbit.bindings.opencl.OpenCl.check;
import static dev.lowbit.bindings.opencl.OpenCl.rethrow;

/**
 * One kernel of a {@link ClProgram}: set its arguments, then {@link #launch}. Arguments are state of the kernel
 * object, so one thread at a time may set and launch it (callers synchronize on the kernel).
 * {@link #close()} releases it (idempotent).
 */
public final class ClKernel implements AutoCloseable {
    private final ClContext ctx;
    private final String name;
    private final MemorySegment kernel;
    private boolean closed;

    ClKernel(ClContext ctx, MemorySegment program, String name) {
        this.ctx = ctx;
        this.name = name;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment err = a.allocate(ValueLayout.JAVA_INT);
            MemorySegment k;
            try {
                k = (MemorySegment) H.CREATE_KERNEL.invokeExact(program, a.allocateFrom(name), err);
            } catch (Throwable t) {
                throw rethrow("clCreateKernel", t);
            }
            check("clCreateKernel(" + name + ")", err.get(ValueLayout.JAVA_INT, 0));
            this.kernel = k;
        }
    }

    public String name() {
        return name;
    }

    /** Sets argument {@code index} to a device buffer. */
    public ClKernel arg(int index, ClBuffer buffer) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ValueLayout.ADDRESS);
            v.set(ValueLayout.ADDRESS, 0, buffer.handle());
            set(index, ValueLayout.ADDRESS.byteSize(), v);
        }
        return this;
    }

    /** Sets argument {@code index} to an {@code int}. */
    public ClKernel arg(int index, int value) {
        try (Arena a = Arena.ofConfined()) {
            set(index, 4, a.allocateFrom(ValueLayout.JAVA_INT, value));
        }
        return this;
    }

    /** Sets argument {@code index} to a {@code float}. */
    public ClKernel arg(int index, float value) {
        try (Arena a = Arena.ofConfined()) {
            set(index, 4, a.allocateFrom(ValueLayout.JAVA_FLOAT, value));
        }
        return this;
    }

    /** Sets argument {@code index}, a {@code __local} pointer, to {@code bytes} of local memory. */
    public ClKernel local(int index, long bytes) {
        set(index, bytes, MemorySegment.NULL);
        return this;
    }

    private void set(int index, long size, MemorySegment value) {
        int status;
        try {
            status = (int) H.SET_KERNEL_ARG.invokeExact(handle(), index, size, value);
        } catch (Throwable t) {
            throw rethrow("clSetKernelArg", t);
        }
        check("clSetKernelArg(" + name + ", " + index + ")", status);
    }

    /**
     * Queues the kernel over {@code global} work-items in groups of {@code local} ({@code 0}: the runtime chooses);
     * {@code global} must be a multiple of a non-zero {@code local}. Returns once queued; a read of a buffer it
     * writes, or {@link ClContext#finish()}, waits for it.
     */
    public void launch(long global, long local) {
        if (global < 1 || local < 0 || (local > 0 && global % local != 0)) {
            throw new IllegalArgumentException("global size " + global + " must be positive and a multiple of local size "
                    + local);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment g = a.allocateFrom(ValueLayout.JAVA_LONG, global);
            MemorySegment l = local == 0 ? MemorySegment.NULL : a.allocateFrom(ValueLayout.JAVA_LONG, local);
            int status;
            try {
                status = (int) H.ENQUEUE_ND_RANGE_KERNEL.invokeExact(ctx.queue(), handle(), 1, MemorySegment.NULL, g, l,
                        0, MemorySegment.NULL, MemorySegment.NULL);
            } catch (Throwable t) {
                throw rethrow("clEnqueueNDRangeKernel", t);
            }
            check("clEnqueueNDRangeKernel(" + name + ", " + global + ", " + local + ")", status);
        }
    }

    synchronized MemorySegment handle() {
        if (closed) {
            throw new IllegalStateException("the kernel " + name + " is closed");
        }
        return kernel;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        ctx.unregister(this);
        int status;
        try {
            status = (int) H.RELEASE_KERNEL.invokeExact(kernel);
        } catch (Throwable t) {
            throw rethrow("clReleaseKernel", t);
        }
        check("clReleaseKernel", status);
    }
}

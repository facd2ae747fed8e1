package dev.lowbit.bindings.opencl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.lowbit.bindings.opencl.OpenCl.H;
import static dev.lowbit.bindings.opencl.OpenCl.check;
import static dev.lowbit.bindings.opencl.OpenCl.rethrow;

/**
 * Device memory ({@code cl_mem}) of a fixed size. Reads and writes are blocking and checked against the size in
 * Java first; heap segments pass through a native staging copy. {@link #close()} releases it (idempotent).
 */
public final class ClBuffer implements AutoCloseable {
    private final ClContext ctx;
    private final long size;
    private final MemorySegment mem;
    private boolean closed;

    ClBuffer(ClContext ctx, long size) {
        this.ctx = ctx;
        this.size = size;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment err = a.allocate(ValueLayout.JAVA_INT);
            MemorySegment m;
            try {
                m = (MemorySegment) H.CREATE_BUFFER.invokeExact(ctx.context(), OpenCl.CL_MEM_READ_WRITE, size,
                        MemorySegment.NULL, err);
            } catch (Throwable t) {
                throw rethrow("clCreateBuffer", t);
            }
            check("clCreateBuffer(" + size + " bytes)", err.get(ValueLayout.JAVA_INT, 0));
            this.mem = m;
        }
    }

    /** Bytes of device memory. */
    public long size() {
        return size;
    }

    /** Copies {@code src} into the buffer at byte {@code offset}; returns when the copy is done. */
    public void write(long offset, MemorySegment src) {
        checkRange("write", offset, src.byteSize());
        if (src.byteSize() == 0) {
            return;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment from = src.isNative() ? src : a.allocate(src.byteSize(), 16).copyFrom(src);
            int status;
            try {
                status = (int) H.ENQUEUE_WRITE_BUFFER.invokeExact(ctx.queue(), handle(), OpenCl.CL_TRUE, offset,
                        src.byteSize(), from, 0, MemorySegment.NULL, MemorySegment.NULL);
            } catch (Throwable t) {
                throw rethrow("clEnqueueWriteBuffer", t);
            }
            check("clEnqueueWriteBuffer", status);
        }
    }

    /** Copies {@code dst.byteSize()} bytes from byte {@code offset} of the buffer into {@code dst}. */
    public void read(long offset, MemorySegment dst) {
        checkRange("read", offset, dst.byteSize());
        if (dst.isReadOnly()) {
            throw new IllegalArgumentException("dst is read-only");
        }
        if (dst.byteSize() == 0) {
            return;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment to = dst.isNative() ? dst : a.allocate(dst.byteSize(), 16);
            int status;
            try {
                status = (int) H.ENQUEUE_READ_BUFFER.invokeExact(ctx.queue(), handle(), OpenCl.CL_TRUE, offset,
                        dst.byteSize(), to, 0, MemorySegment.NULL, MemorySegment.NULL);
            } catch (Throwable t) {
                throw rethrow("clEnqueueReadBuffer", t);
            }
            check("clEnqueueReadBuffer", status);
            if (to != dst) {
                dst.copyFrom(to);
            }
        }
    }

    private void checkRange(String what, long offset, long bytes) {
        if (offset < 0 || bytes < 0 || offset > size - bytes) {
            throw new IllegalArgumentException(what + " of " + bytes + " bytes at offset " + offset
                    + " does not fit a buffer of " + size + " bytes");
        }
    }

    synchronized MemorySegment handle() {
        if (closed) {
            throw new IllegalStateException("the device buffer is closed");
        }
        return mem;
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
            status = (int) H.RELEASE_MEM_OBJECT.invokeExact(mem);
        } catch (Throwable t) {
            throw rethrow("clReleaseMemObject", t);
        }
        check("clReleaseMemObject", status);
    }
}

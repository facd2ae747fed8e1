package dev.lowbit.bindings.opencl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.lowbit.bindings.opencl.OpenCl.H;
import static dev.lowbit.bindings.opencl.OpenCl.check;
import static dev.lowbit.bindings.opencl.OpenCl.rethrow;

/**
 * A program built from OpenCL C source for the context's device. A failed build is an {@link OpenClException}
 * whose {@link OpenClException#log()} is the device's build log. {@link #close()} releases it (idempotent).
 */
public final class ClProgram implements AutoCloseable {
    private final ClContext ctx;
    private final MemorySegment program;
    private final String buildLog;
    private boolean closed;

    ClProgram(ClContext ctx, String source, String options) {
        this.ctx = ctx;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment err = a.allocate(ValueLayout.JAVA_INT);
            MemorySegment src = a.allocateFrom(source);
            MemorySegment strings = a.allocate(ValueLayout.ADDRESS);
            strings.set(ValueLayout.ADDRESS, 0, src);
            MemorySegment p;
            try {
                p = (MemorySegment) H.CREATE_PROGRAM_WITH_SOURCE.invokeExact(ctx.context(), 1, strings,
                        MemorySegment.NULL, err);
            } catch (Throwable t) {
                throw rethrow("clCreateProgramWithSource", t);
            }
            check("clCreateProgramWithSource", err.get(ValueLayout.JAVA_INT, 0));
            MemorySegment devs = a.allocate(ValueLayout.ADDRESS);
            devs.set(ValueLayout.ADDRESS, 0, ctx.deviceId());
            int status;
            try {
                status = (int) H.BUILD_PROGRAM.invokeExact(p, 1, devs, a.allocateFrom(options), MemorySegment.NULL,
                        MemorySegment.NULL);
            } catch (Throwable t) {
                releaseQuietly(p);
                throw rethrow("clBuildProgram", t);
            }
            String log;
            try {
                log = log(p, ctx.deviceId());
            } catch (RuntimeException e) {
                releaseQuietly(p);
                throw e;
            }
            if (status != OpenCl.CL_SUCCESS) {
                releaseQuietly(p);
                check("clBuildProgram(" + options + ")", status, log);
            }
            this.program = p;
            this.buildLog = log;
        }
    }

    private static String log(MemorySegment p, MemorySegment device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(ValueLayout.JAVA_LONG);
            int status;
            try {
                status = (int) H.GET_PROGRAM_BUILD_INFO.invokeExact(p, device, OpenCl.CL_PROGRAM_BUILD_LOG, 0L,
                        MemorySegment.NULL, n);
            } catch (Throwable t) {
                throw rethrow("clGetProgramBuildInfo", t);
            }
            check("clGetProgramBuildInfo", status);
            long size = n.get(ValueLayout.JAVA_LONG, 0);
            MemorySegment s = a.allocate(Math.max(size, 1));
            try {
                status = (int) H.GET_PROGRAM_BUILD_INFO.invokeExact(p, device, OpenCl.CL_PROGRAM_BUILD_LOG, size, s,
                        MemorySegment.NULL);
            } catch (Throwable t) {
                throw rethrow("clGetProgramBuildInfo", t);
            }
            check("clGetProgramBuildInfo", status);
            return ClContext.cString(s, size);
        }
    }

    /** The build log of a successful build (often empty). */
    public String buildLog() {
        return buildLog;
    }

    /** The kernel {@code name} of this program. */
    public ClKernel kernel(String name) {
        ctx.requireOpen();
        return ctx.register(new ClKernel(ctx, handle(), name));
    }

    synchronized MemorySegment handle() {
        if (closed) {
            throw new IllegalStateException("the program is closed");
        }
        return program;
    }

    private static void releaseQuietly(MemorySegment p) {
        try {
            int ignored = (int) H.RELEASE_PROGRAM.invokeExact(p);
        } catch (Throwable t) {
            // The build's own failure is the one to report.
        }
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
            status = (int) H.RELEASE_PROGRAM.invokeExact(program);
        } catch (Throwable t) {
            throw rethrow("clReleaseProgram", t);
        }
        check("clReleaseProgram", status);
    }
}

package dev.lowbit.bindings.cuda;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

import static dev.lowbit.bindings.cuda.CudaDriver.H;
import static dev.lowbit.bindings.cuda.CudaDriver.check;
import static dev.lowbit.bindings.cuda.CudaDriver.need;
import static dev.lowbit.bindings.cuda.CudaDriver.rethrow;

/**
 * A block of device memory ({@code cuMemAlloc}), freed by {@link #close()}. Copies check their bounds in Java
 * before the driver sees them. Host segments of copies must be native (off-heap) memory.
 */
public final class DeviceMemory implements AutoCloseable {
    private final CudaDevice device;
    private final long address;
    private final long byteSize;
    private boolean closed;

    DeviceMemory(CudaDevice device, long address, long byteSize) {
        this.device = device;
        this.address = address;
        this.byteSize = byteSize;
    }

    /** The device pointer ({@code CUdeviceptr}); 0 for an empty block. */
    public long address() {
        requireOpen();
        return address;
    }

    public long byteSize() {
        return byteSize;
    }

    public CudaDevice device() {
        return device;
    }

    /** Copies all of {@code host} to the start of this block (synchronous). */
    public void copyFrom(MemorySegment host) {
        copyFrom(host, 0);
    }

    /** Copies all of {@code host} to byte {@code offset} of this block (synchronous). */
    public void copyFrom(MemorySegment host, long offset) {
        long n = checkHost(host, offset);
        if (n == 0) {
            return;
        }
        device.bind();
        try {
            check((int) need(H.MEMCPY_HTOD).invokeExact(address + offset, host, n), "cuMemcpyHtoD");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Copies {@code host.byteSize()} bytes from byte {@code offset} of this block into {@code host} (synchronous). */
    public void copyTo(MemorySegment host, long offset) {
        long n = checkHost(host, offset);
        if (n == 0) {
            return;
        }
        device.bind();
        try {
            check((int) need(H.MEMCPY_DTOH).invokeExact(host, address + offset, n), "cuMemcpyDtoH");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Copies the start of this block into {@code host}. */
    public void copyTo(MemorySegment host) {
        copyTo(host, 0);
    }

    /**
     * Copies {@code bytes} from {@code src} (from its start) to the start of this block, ordered on {@code stream}
     * (null: the legacy default stream).
     */
    public void copyFromAsync(DeviceMemory src, long bytes, CudaStream stream) {
        Objects.requireNonNull(src, "src");
        if (bytes < 0 || bytes > byteSize || bytes > src.byteSize) {
            throw new IllegalArgumentException("bytes " + bytes + " exceed the blocks (" + src.byteSize + " -> "
                    + byteSize + ")");
        }
        if (bytes == 0) {
            return;
        }
        device.bind();
        try {
            MemorySegment s = stream == null ? MemorySegment.NULL : stream.handle();
            check((int) need(H.MEMCPY_DTOD_ASYNC).invokeExact(address, src.address(), bytes, s),
                    "cuMemcpyDtoDAsync");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Sets every byte to {@code value} (synchronous with the host). */
    public void fill(byte value) {
        if (byteSize == 0) {
            return;
        }
        requireOpen();
        device.bind();
        try {
            check((int) need(H.MEMSET_D8).invokeExact(address, value & 0xFF, byteSize), "cuMemsetD8");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private long checkHost(MemorySegment host, long offset) {
        requireOpen();
        Objects.requireNonNull(host, "host");
        if (!host.isNative()) {
            throw new IllegalArgumentException("host memory of a device copy must be native (off-heap)");
        }
        long n = host.byteSize();
        if (offset < 0 || offset > byteSize || n > byteSize - offset) {
            throw new IllegalArgumentException("a copy of " + n + " bytes at offset " + offset + " does not fit "
                    + byteSize + " bytes of device memory");
        }
        return n;
    }

    private synchronized void requireOpen() {
        if (closed) {
            throw new IllegalStateException("device memory is closed");
        }
    }

    /** Frees the block. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (address == 0) {
            return;
        }
        device.bind();
        try {
            check((int) need(H.MEM_FREE).invokeExact(address), "cuMemFree");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}

package dev.lowbit.bindings.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Downcall handles into the CUDA driver API, {@code libcuda.so.1}, with the versioned symbol names that
 * {@code cuda.h} (13.0) maps the plain names to: {@code cuMemAlloc} is {@code cuMemAlloc_v2}, and so on.
 * {@code CUdevice} is an int, {@code CUdeviceptr} a 64-bit integer, every other handle a pointer.
 */
final class CudaDriver {
    private CudaDriver() {
    }

    // cuda.h enum values used by lowbit (checked against /usr/local/cuda-13.0/include/cuda.h).
    static final int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
    static final int CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = 38;
    static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
    static final int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
    static final int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
    static final int CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT = 9;
    static final int CU_STREAM_NON_BLOCKING = 0x1;
    static final int CU_EVENT_DEFAULT = 0x0;

    static final class H {
        static final Loader.Loaded LIB = Loader.open("libcuda.so.1", "lowbit.cuda.driver", false);
        static final MethodHandle GET_ERROR_NAME;
        static final MethodHandle INIT;
        static final MethodHandle DRIVER_GET_VERSION;
        static final MethodHandle DEVICE_GET_COUNT;
        static final MethodHandle DEVICE_GET;
        static final MethodHandle DEVICE_GET_NAME;
        static final MethodHandle DEVICE_GET_ATTRIBUTE;
        static final MethodHandle PRIMARY_CTX_RETAIN;
        static final MethodHandle PRIMARY_CTX_RELEASE;
        static final MethodHandle CTX_SET_CURRENT;
        static final MethodHandle CTX_SYNCHRONIZE;
        static final MethodHandle MEM_GET_INFO;
        static final MethodHandle MEM_ALLOC;
        static final MethodHandle MEM_FREE;
        static final MethodHandle MEMCPY_HTOD;
        static final MethodHandle MEMCPY_DTOH;
        static final MethodHandle MEMCPY_DTOD;
        static final MethodHandle MEMCPY_HTOD_ASYNC;
        static final MethodHandle MEMCPY_DTOH_ASYNC;
        static final MethodHandle MEMCPY_DTOD_ASYNC;
        static final MethodHandle MEMSET_D8;
        static final MethodHandle MODULE_LOAD_DATA;
        static final MethodHandle MODULE_UNLOAD;
        static final MethodHandle MODULE_GET_FUNCTION;
        static final MethodHandle FUNC_SET_ATTRIBUTE;
        static final MethodHandle LAUNCH_KERNEL;
        static final MethodHandle STREAM_CREATE;
        static final MethodHandle STREAM_DESTROY;
        static final MethodHandle STREAM_SYNCHRONIZE;
        static final MethodHandle EVENT_CREATE;
        static final MethodHandle EVENT_DESTROY;
        static final MethodHandle EVENT_RECORD;
        static final MethodHandle EVENT_SYNCHRONIZE;
        static final MethodHandle EVENT_ELAPSED_TIME;

        static {
            Loader.Loaded l = LIB;
            boolean ok = l.lookup() != null;
            FunctionDescriptor iP = FunctionDescriptor.of(JAVA_INT, ADDRESS);
            FunctionDescriptor iPP = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS);
            FunctionDescriptor iI = FunctionDescriptor.of(JAVA_INT, JAVA_INT);
            FunctionDescriptor iV = FunctionDescriptor.of(JAVA_INT);
            FunctionDescriptor iL = FunctionDescriptor.of(JAVA_INT, JAVA_LONG);
            GET_ERROR_NAME = ok ? l.handle("cuGetErrorName", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS)) : null;
            INIT = ok ? l.handle("cuInit", iI) : null;
            DRIVER_GET_VERSION = ok ? l.handle("cuDriverGetVersion", iP) : null;
            DEVICE_GET_COUNT = ok ? l.handle("cuDeviceGetCount", iP) : null;
            DEVICE_GET = ok ? l.handle("cuDeviceGet", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT)) : null;
            DEVICE_GET_NAME = ok ? l.handle("cuDeviceGetName",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT)) : null;
            DEVICE_GET_ATTRIBUTE = ok ? l.handle("cuDeviceGetAttribute",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT)) : null;
            PRIMARY_CTX_RETAIN = ok ? l.handle("cuDevicePrimaryCtxRetain",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT)) : null;
            PRIMARY_CTX_RELEASE = ok ? l.handle("cuDevicePrimaryCtxRelease_v2", iI) : null;
            CTX_SET_CURRENT = ok ? l.handle("cuCtxSetCurrent", iP) : null;
            CTX_SYNCHRONIZE = ok ? l.handle("cuCtxSynchronize", iV) : null;
            MEM_GET_INFO = ok ? l.handle("cuMemGetInfo_v2", iPP) : null;
            MEM_ALLOC = ok ? l.handle("cuMemAlloc_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG)) : null;
            MEM_FREE = ok ? l.handle("cuMemFree_v2", iL) : null;
            MEMCPY_HTOD = ok ? l.handle("cuMemcpyHtoD_v2",
                    FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG)) : null;
            MEMCPY_DTOH = ok ? l.handle("cuMemcpyDtoH_v2",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG)) : null;
            MEMCPY_DTOD = ok ? l.handle("cuMemcpyDtoD_v2",
                    FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG)) : null;
            MEMCPY_HTOD_ASYNC = ok ? l.handle("cuMemcpyHtoDAsync_v2",
                    FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS)) : null;
            MEMCPY_DTOH_ASYNC = ok ? l.handle("cuMemcpyDtoHAsync_v2",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS)) : null;
            MEMCPY_DTOD_ASYNC = ok ? l.handle("cuMemcpyDtoDAsync_v2",
                    FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS)) : null;
            MEMSET_D8 = ok ? l.handle("cuMemsetD8_v2",
                    FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_LONG)) : null;
            MODULE_LOAD_DATA = ok ? l.handle("cuModuleLoadData", iPP) : null;
            MODULE_UNLOAD = ok ? l.handle("cuModuleUnload", iP) : null;
            MODULE_GET_FUNCTION = ok ? l.handle("cuModuleGetFunction",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS)) : null;
            FUNC_SET_ATTRIBUTE = ok ? l.handle("cuFuncSetAttribute",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT)) : null;
            LAUNCH_KERNEL = ok ? l.handle("cuLaunchKernel", FunctionDescriptor.of(JAVA_INT, ADDRESS,
                    JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS))
                    : null;
            STREAM_CREATE = ok ? l.handle("cuStreamCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT)) : null;
            STREAM_DESTROY = ok ? l.handle("cuStreamDestroy_v2", iP) : null;
            STREAM_SYNCHRONIZE = ok ? l.handle("cuStreamSynchronize", iP) : null;
            EVENT_CREATE = ok ? l.handle("cuEventCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT)) : null;
            EVENT_DESTROY = ok ? l.handle("cuEventDestroy_v2", iP) : null;
            EVENT_RECORD = ok ? l.handle("cuEventRecord", iPP) : null;
            EVENT_SYNCHRONIZE = ok ? l.handle("cuEventSynchronize", iP) : null;
            EVENT_ELAPSED_TIME = ok ? l.handle("cuEventElapsedTime_v2",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS)) : null;
        }
    }

    /** Why the driver cannot be used, or null when it loaded. */
    static String unavailableReason() {
        try {
            return H.LIB.reason();
        } catch (LinkageError e) {
            return "libcuda.so.1 lacks a symbol lowbit needs: " + e;
        }
    }

    static MethodHandle need(MethodHandle h) {
        if (h == null) {
            throw new IllegalStateException("the CUDA driver is unavailable: " + unavailableReason());
        }
        return h;
    }

    /** Throws {@link CudaException} with the driver's name for {@code rc} unless it is {@code CUDA_SUCCESS}. */
    static void check(int rc, String call) {
        if (rc != 0) {
            throw new CudaException("cuda", call, rc, errorName(rc), "");
        }
    }

    /** {@code cuGetErrorName}, or {@code CUresult <n>} when the driver does not know the code. */
    static String errorName(int rc) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            int r = (int) need(H.GET_ERROR_NAME).invokeExact(rc, out);
            MemorySegment p = out.get(ADDRESS, 0);
            if (r != 0 || p.equals(MemorySegment.NULL)) {
                return "CUresult " + rc;
            }
            return p.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "CUresult " + rc;
        }
    }

    /** Rethrows what a downcall threw: errors and runtime exceptions as they are, anything else wrapped. */
    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }

    static float elapsed(MemorySegment start, MemorySegment end) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_FLOAT);
            check((int) need(H.EVENT_ELAPSED_TIME).invokeExact(out, start, end), "cuEventElapsedTime");
            return out.get(JAVA_FLOAT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}

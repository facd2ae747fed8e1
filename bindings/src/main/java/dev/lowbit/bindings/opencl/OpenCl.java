package dev.lowbit.bindings.opencl;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The OpenCL runtime, {@code libOpenCL.so.1} (the ICD loader), bound through FFM: one downcall handle per entry
 * point lowbit uses, OpenCL 1.2 only. The library is looked up once; when it is missing {@link #available()} is
 * false and {@link #unavailableReason()} says why, so that callers (and tests) can skip instead of failing.
 * Every status a call returns goes through {@link #check}, which turns a failure into an {@link OpenClException}
 * carrying OpenCL's name for it.
 */
public final class OpenCl {
    /** The ICD loader's file name; a vendor's runtime (PoCL, NVIDIA) is found through it. */
    public static final String LIBRARY = "libOpenCL.so.1";

    // cl.h constants lowbit uses.
    static final int CL_SUCCESS = 0;
    static final long CL_DEVICE_TYPE_GPU = 1L << 2;
    static final long CL_DEVICE_TYPE_ALL = 0xFFFFFFFFL;
    static final int CL_PLATFORM_VERSION = 0x0901;
    static final int CL_PLATFORM_NAME = 0x0902;
    static final int CL_DEVICE_TYPE = 0x1000;
    static final int CL_DEVICE_MAX_WORK_GROUP_SIZE = 0x1004;
    static final int CL_DEVICE_SINGLE_FP_CONFIG = 0x101B;
    static final int CL_DEVICE_ENDIAN_LITTLE = 0x1026;
    static final int CL_DEVICE_NAME = 0x102B;
    static final int CL_DRIVER_VERSION = 0x102D;
    static final int CL_DEVICE_VERSION = 0x102F;
    static final int CL_DEVICE_OPENCL_C_VERSION = 0x103D;
    static final long CL_FP_DENORM = 1L;
    static final long CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT = 1L << 7;
    static final long CL_MEM_READ_WRITE = 1L;
    static final int CL_PROGRAM_BUILD_LOG = 0x1183;
    static final int CL_TRUE = 1;

    private OpenCl() {
    }

    private static final class Lib {
        static final SymbolLookup LOOKUP;
        static final String REASON;

        static {
            SymbolLookup l = null;
            String why = null;
            try {
                l = SymbolLookup.libraryLookup(LIBRARY, Arena.global());
            } catch (IllegalArgumentException e) {
                why = LIBRARY + " cannot be loaded (" + e.getMessage() + "); install an OpenCL ICD loader and a "
                        + "platform, e.g. apt-get install ocl-icd-libopencl1 pocl-opencl-icd";
            } catch (IllegalCallerException e) {
                why = "native access is not enabled for dev.lowbit.bindings; run with "
                        + "--enable-native-access=dev.lowbit.bindings";
            }
            LOOKUP = l;
            REASON = why;
        }
    }

    /** Whether the loader library loaded. It may still have no platform: see {@link ClContext#unavailableReason()}. */
    public static boolean available() {
        return Lib.LOOKUP != null;
    }

    /** Why the library did not load, in one sentence; null when it did. */
    public static String unavailableReason() {
        return Lib.REASON;
    }

    private static MethodHandle handle(String name, FunctionDescriptor fd) {
        if (Lib.LOOKUP == null) {
            return null;
        }
        MemorySegment address = Lib.LOOKUP.find(name).orElse(null);
        return address == null ? null : Linker.nativeLinker().downcallHandle(address, fd);
    }

    /** The downcall handles, created when first used (after {@link #available()} is known to be true). */
    static final class H {
        private H() {
        }

        static final MethodHandle GET_PLATFORM_IDS = handle("clGetPlatformIDs",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        static final MethodHandle GET_PLATFORM_INFO = handle("clGetPlatformInfo",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS));
        static final MethodHandle GET_DEVICE_IDS = handle("clGetDeviceIDs",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS));
        static final MethodHandle GET_DEVICE_INFO = handle("clGetDeviceInfo",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS));
        static final MethodHandle CREATE_CONTEXT = handle("clCreateContext",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        static final MethodHandle RELEASE_CONTEXT = handle("clReleaseContext", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle CREATE_COMMAND_QUEUE = handle("clCreateCommandQueue",
                FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
        static final MethodHandle RELEASE_COMMAND_QUEUE = handle("clReleaseCommandQueue",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle CREATE_BUFFER = handle("clCreateBuffer",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS));
        static final MethodHandle RELEASE_MEM_OBJECT = handle("clReleaseMemObject",
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle ENQUEUE_WRITE_BUFFER = handle("clEnqueueWriteBuffer",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_INT,
                        ADDRESS, ADDRESS));
        static final MethodHandle ENQUEUE_READ_BUFFER = handle("clEnqueueReadBuffer",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_INT,
                        ADDRESS, ADDRESS));
        static final MethodHandle CREATE_PROGRAM_WITH_SOURCE = handle("clCreateProgramWithSource",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        static final MethodHandle BUILD_PROGRAM = handle("clBuildProgram",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        static final MethodHandle GET_PROGRAM_BUILD_INFO = handle("clGetProgramBuildInfo",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS));
        static final MethodHandle RELEASE_PROGRAM = handle("clReleaseProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle CREATE_KERNEL = handle("clCreateKernel",
                FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        static final MethodHandle RELEASE_KERNEL = handle("clReleaseKernel", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle SET_KERNEL_ARG = handle("clSetKernelArg",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, ADDRESS));
        static final MethodHandle ENQUEUE_ND_RANGE_KERNEL = handle("clEnqueueNDRangeKernel",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS,
                        ADDRESS));
        static final MethodHandle FINISH = handle("clFinish", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    /** Throws an {@link OpenClException} named after {@code status} unless it is {@code CL_SUCCESS}. */
    static void check(String call, int status) {
        check(call, status, null);
    }

    /** As {@link #check(String, int)}, attaching {@code log} (a program's build log) to the exception. */
    static void check(String call, int status, String log) {
        if (status != CL_SUCCESS) {
            throw new OpenClException(call, status, errorName(status), log);
        }
    }

    /** Runs a downcall, turning the {@code Throwable} of {@code invokeExact} into an unchecked exception. */
    static RuntimeException rethrow(String call, Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(call + " threw " + t, t);
    }

    /** OpenCL's name for a status code, e.g. {@code CL_OUT_OF_RESOURCES}; {@code CL_UNKNOWN_ERROR_<code>} otherwise. */
    public static String errorName(int status) {
        if (status == -1001) {
            return "CL_PLATFORM_NOT_FOUND_KHR";
        }
        int i = -status;
        if (i >= 0 && i < NAMES.length && NAMES[i] != null) {
            return NAMES[i];
        }
        return "CL_UNKNOWN_ERROR_" + status;
    }

    /** cl.h's names, indexed by minus the status (OpenCL 1.2 through 3.0). */
    private static final String[] NAMES = new String[73];

    static {
        String[] low = {"CL_SUCCESS", "CL_DEVICE_NOT_FOUND", "CL_DEVICE_NOT_AVAILABLE", "CL_COMPILER_NOT_AVAILABLE",
            "CL_MEM_OBJECT_ALLOCATION_FAILURE", "CL_OUT_OF_RESOURCES", "CL_OUT_OF_HOST_MEMORY",
            "CL_PROFILING_INFO_NOT_AVAILABLE", "CL_MEM_COPY_OVERLAP", "CL_IMAGE_FORMAT_MISMATCH",
            "CL_IMAGE_FORMAT_NOT_SUPPORTED", "CL_BUILD_PROGRAM_FAILURE", "CL_MAP_FAILURE",
            "CL_MISALIGNED_SUB_BUFFER_OFFSET", "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST",
            "CL_COMPILE_PROGRAM_FAILURE", "CL_LINKER_NOT_AVAILABLE", "CL_LINK_PROGRAM_FAILURE",
            "CL_DEVICE_PARTITION_FAILED", "CL_KERNEL_ARG_INFO_NOT_AVAILABLE"};
        System.arraycopy(low, 0, NAMES, 0, low.length);
        String[] invalid = {"CL_INVALID_VALUE", "CL_INVALID_DEVICE_TYPE", "CL_INVALID_PLATFORM", "CL_INVALID_DEVICE",
            "CL_INVALID_CONTEXT", "CL_INVALID_QUEUE_PROPERTIES", "CL_INVALID_COMMAND_QUEUE", "CL_INVALID_HOST_PTR",
            "CL_INVALID_MEM_OBJECT", "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR", "CL_INVALID_IMAGE_SIZE", "CL_INVALID_SAMPLER",
            "CL_INVALID_BINARY", "CL_INVALID_BUILD_OPTIONS", "CL_INVALID_PROGRAM", "CL_INVALID_PROGRAM_EXECUTABLE",
            "CL_INVALID_KERNEL_NAME", "CL_INVALID_KERNEL_DEFINITION", "CL_INVALID_KERNEL", "CL_INVALID_ARG_INDEX",
            "CL_INVALID_ARG_VALUE", "CL_INVALID_ARG_SIZE", "CL_INVALID_KERNEL_ARGS", "CL_INVALID_WORK_DIMENSION",
            "CL_INVALID_WORK_GROUP_SIZE", "CL_INVALID_WORK_ITEM_SIZE", "CL_INVALID_GLOBAL_OFFSET",
            "CL_INVALID_EVENT_WAIT_LIST", "CL_INVALID_EVENT", "CL_INVALID_OPERATION", "CL_INVALID_GL_OBJECT",
            "CL_INVALID_BUFFER_SIZE", "CL_INVALID_MIP_LEVEL", "CL_INVALID_GLOBAL_WORK_SIZE", "CL_INVALID_PROPERTY",
            "CL_INVALID_IMAGE_DESCRIPTOR", "CL_INVALID_COMPILER_OPTIONS", "CL_INVALID_LINKER_OPTIONS",
            "CL_INVALID_DEVICE_PARTITION_COUNT", "CL_INVALID_PIPE_SIZE", "CL_INVALID_DEVICE_QUEUE",
            "CL_INVALID_SPEC_ID", "CL_MAX_SIZE_RESTRICTION_EXCEEDED"};
        System.arraycopy(invalid, 0, NAMES, 30, invalid.length);
    }
}

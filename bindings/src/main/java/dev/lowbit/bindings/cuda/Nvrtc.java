package dev.lowbit.bindings.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * NVRTC ({@code libnvrtc.so.13}): compiles CUDA C++ source to a cubin for one architecture at run time. A failed
 * compilation is a {@link CudaException} carrying {@code nvrtcGetErrorString} and the whole compiler log.
 * {@code -Dlowbit.cuda.nvrtc=/path/libnvrtc.so.13} names the library; otherwise the soname and then the toolkit
 * folders are tried (with NVRTC's builtins library opened first from the same folder).
 */
public final class Nvrtc {
    private Nvrtc() {
    }

    private static final class H {
        static final Loader.Loaded LIB = Loader.open("libnvrtc.so.13", "lowbit.cuda.nvrtc", true,
                "libnvrtc-builtins.so.13");
        static final MethodHandle VERSION;
        static final MethodHandle ERROR_STRING;
        static final MethodHandle CREATE;
        static final MethodHandle COMPILE;
        static final MethodHandle LOG_SIZE;
        static final MethodHandle LOG;
        static final MethodHandle CUBIN_SIZE;
        static final MethodHandle CUBIN;
        static final MethodHandle DESTROY;

        static {
            Loader.Loaded l = LIB;
            boolean ok = l.lookup() != null;
            FunctionDescriptor iPP = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS);
            VERSION = ok ? l.handle("nvrtcVersion", iPP) : null;
            ERROR_STRING = ok ? l.handle("nvrtcGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT)) : null;
            // nvrtcCreateProgram(prog*, src, name, numHeaders, headers, includeNames)
            CREATE = ok ? l.handle("nvrtcCreateProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS,
                    JAVA_INT, ADDRESS, ADDRESS)) : null;
            // nvrtcCompileProgram(prog, numOptions, options)
            COMPILE = ok ? l.handle("nvrtcCompileProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS))
                    : null;
            LOG_SIZE = ok ? l.handle("nvrtcGetProgramLogSize", iPP) : null;
            LOG = ok ? l.handle("nvrtcGetProgramLog", iPP) : null;
            CUBIN_SIZE = ok ? l.handle("nvrtcGetCUBINSize", iPP) : null;
            CUBIN = ok ? l.handle("nvrtcGetCUBIN", iPP) : null;
            DESTROY = ok ? l.handle("nvrtcDestroyProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS)) : null;
        }
    }

    /** Why NVRTC cannot be used, in one sentence; null when it loaded. Never throws. */
    public static String unavailableReason() {
        try {
            return H.LIB.reason();
        } catch (LinkageError e) {
            return "libnvrtc.so.13 lacks a symbol lowbit needs: " + e;
        }
    }

    public static boolean available() {
        return unavailableReason() == null;
    }

    private static MethodHandle need(MethodHandle h) {
        if (h == null) {
            throw new IllegalStateException("NVRTC is unavailable: " + unavailableReason());
        }
        return h;
    }

    /** NVRTC's version as {@code major.minor}. */
    public static String version() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment major = arena.allocate(JAVA_INT);
            MemorySegment minor = arena.allocate(JAVA_INT);
            check((int) need(H.VERSION).invokeExact(major, minor), "nvrtcVersion", null);
            return major.get(JAVA_INT, 0) + "." + minor.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
    }

    /**
     * Compiles {@code source} to a cubin for {@code arch} (such as {@code sm_90a}).
     *
     * @param name    the source's file name, as the log names it
     * @param headers files that {@code #include "name"} finds, by name
     * @param options further compiler options ({@code -std=c++17}, {@code -DNAME=value}, ...)
     * @throws CudaException with the compiler log when compilation fails
     */
    public static byte[] compile(String source, String name, Map<String, String> headers, String arch,
                                 List<String> options) {
        if (!arch.matches("sm_[0-9]+a?")) {
            throw new IllegalArgumentException("arch must look like sm_90a or sm_80, got '" + arch + "'");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment prog = arena.allocate(ADDRESS);
            int nh = headers.size();
            MemorySegment hdrs = arena.allocate(ADDRESS, Math.max(1, nh));
            MemorySegment names = arena.allocate(ADDRESS, Math.max(1, nh));
            int i = 0;
            for (Map.Entry<String, String> e : headers.entrySet()) {
                names.setAtIndex(ADDRESS, i, arena.allocateFrom(e.getKey()));
                hdrs.setAtIndex(ADDRESS, i, arena.allocateFrom(e.getValue()));
                i++;
            }
            // Locals, not conditional expressions: invokeExact takes its argument types from the static types, and a
            // conditional in an argument position would be typed Object.
            MemorySegment headerTexts = nh == 0 ? MemorySegment.NULL : hdrs;
            MemorySegment headerNames = nh == 0 ? MemorySegment.NULL : names;
            check((int) need(H.CREATE).invokeExact(prog, arena.allocateFrom(source), arena.allocateFrom(name), nh,
                    headerTexts, headerNames), "nvrtcCreateProgram(" + name + ")", null);
            MemorySegment p = prog.get(ADDRESS, 0);
            try {
                List<String> all = new java.util.ArrayList<>();
                all.add("--gpu-architecture=" + arch);
                all.addAll(options);
                MemorySegment opts = arena.allocate(ADDRESS, all.size());
                for (int j = 0; j < all.size(); j++) {
                    opts.setAtIndex(ADDRESS, j, arena.allocateFrom(all.get(j)));
                }
                int rc = (int) need(H.COMPILE).invokeExact(p, all.size(), opts);
                String log = log(arena, p);
                check(rc, "nvrtcCompileProgram(" + name + ", " + arch + ")", log);
                MemorySegment size = arena.allocate(JAVA_LONG);
                check((int) need(H.CUBIN_SIZE).invokeExact(p, size), "nvrtcGetCUBINSize", log);
                long n = size.get(JAVA_LONG, 0);
                MemorySegment cubin = arena.allocate(Math.max(1, n));
                check((int) need(H.CUBIN).invokeExact(p, cubin), "nvrtcGetCUBIN", log);
                return cubin.asSlice(0, n).toArray(JAVA_BYTE);
            } finally {
                int ignored = (int) need(H.DESTROY).invokeExact(prog);
            }
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
    }

    private static String log(Arena arena, MemorySegment prog) throws Throwable {
        MemorySegment size = arena.allocate(JAVA_LONG);
        if ((int) need(H.LOG_SIZE).invokeExact(prog, size) != 0) {
            return "";
        }
        long n = size.get(JAVA_LONG, 0);
        if (n <= 1) {
            return "";
        }
        MemorySegment buf = arena.allocate(n);
        if ((int) need(H.LOG).invokeExact(prog, buf) != 0) {
            return "";
        }
        return buf.getString(0).strip();
    }

    private static void check(int rc, String call, String log) {
        if (rc != 0) {
            throw new CudaException("nvrtc", call, rc, errorString(rc), log);
        }
    }

    /** {@code nvrtcGetErrorString}, such as {@code NVRTC_ERROR_COMPILATION}. */
    static String errorString(int rc) {
        try {
            MemorySegment s = (MemorySegment) need(H.ERROR_STRING).invokeExact(rc);
            return s.equals(MemorySegment.NULL) ? "nvrtcResult " + rc : s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "nvrtcResult " + rc;
        }
    }
}

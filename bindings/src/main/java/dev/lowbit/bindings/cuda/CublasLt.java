package dev.lowbit.bindings.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cuBLASLt ({@code libcublasLt.so.13}) for one thing: int8 x int8 -> int32 GEMM in the column-major TN form that
 * Hopper's integer kernels take ({@link Int8GemmShape} checks the shape first). A failed call is a
 * {@link CudaException} with {@code cublasLtGetStatusName}. {@link #close()} destroys the handle and frees the
 * workspace.
 */
public final class CublasLt implements AutoCloseable {
    // cublasLt.h, library_types.h and cublas_api.h values.
    static final int CUDA_R_8I = 3;
    static final int CUDA_R_32I = 10;
    static final int CUBLAS_COMPUTE_32I = 72;
    static final int CUBLAS_OP_N = 0;
    static final int CUBLAS_OP_T = 1;
    static final int CUBLASLT_MATMUL_DESC_TRANSA = 3;
    static final int CUBLASLT_MATMUL_DESC_TRANSB = 4;
    static final int CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1;
    /** {@code cublasLtMatmulHeuristicResult_t}: algo (64 bytes), workspaceSize, state, wavesCount, reserved[4]. */
    static final long HEURISTIC_RESULT_BYTES = 96;
    static final long HEURISTIC_STATE_OFFSET = 72;

    /** Workspace offered to cuBLASLt's heuristics (the size PyTorch uses on Hopper). */
    public static final long WORKSPACE_BYTES = 32L << 20;

    private static final class H {
        static final Loader.Loaded LIB = Loader.open("libcublasLt.so.13", "lowbit.cuda.cublasLt", true);
        static final MethodHandle CREATE;
        static final MethodHandle DESTROY;
        static final MethodHandle STATUS_NAME;
        static final MethodHandle DESC_CREATE;
        static final MethodHandle DESC_DESTROY;
        static final MethodHandle DESC_SET;
        static final MethodHandle LAYOUT_CREATE;
        static final MethodHandle LAYOUT_DESTROY;
        static final MethodHandle PREF_CREATE;
        static final MethodHandle PREF_DESTROY;
        static final MethodHandle PREF_SET;
        static final MethodHandle HEURISTIC;
        static final MethodHandle MATMUL;

        static {
            Loader.Loaded l = LIB;
            boolean ok = l.lookup() != null;
            FunctionDescriptor iP = FunctionDescriptor.of(JAVA_INT, ADDRESS);
            FunctionDescriptor set = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG);
            CREATE = ok ? l.handle("cublasLtCreate", iP) : null;
            DESTROY = ok ? l.handle("cublasLtDestroy", iP) : null;
            STATUS_NAME = ok ? l.handle("cublasLtGetStatusName", FunctionDescriptor.of(ADDRESS, JAVA_INT)) : null;
            DESC_CREATE = ok ? l.handle("cublasLtMatmulDescCreate",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT)) : null;
            DESC_DESTROY = ok ? l.handle("cublasLtMatmulDescDestroy", iP) : null;
            DESC_SET = ok ? l.handle("cublasLtMatmulDescSetAttribute", set) : null;
            LAYOUT_CREATE = ok ? l.handle("cublasLtMatrixLayoutCreate",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG)) : null;
            LAYOUT_DESTROY = ok ? l.handle("cublasLtMatrixLayoutDestroy", iP) : null;
            PREF_CREATE = ok ? l.handle("cublasLtMatmulPreferenceCreate", iP) : null;
            PREF_DESTROY = ok ? l.handle("cublasLtMatmulPreferenceDestroy", iP) : null;
            PREF_SET = ok ? l.handle("cublasLtMatmulPreferenceSetAttribute", set) : null;
            HEURISTIC = ok ? l.handle("cublasLtMatmulAlgoGetHeuristic", FunctionDescriptor.of(JAVA_INT, ADDRESS,
                    ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS)) : null;
            MATMUL = ok ? l.handle("cublasLtMatmul", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS,
                    ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                    ADDRESS, JAVA_LONG, ADDRESS)) : null;
        }
    }

    /** Why cuBLASLt cannot be used, or null when it loaded. Never throws. */
    public static String unavailableReason() {
        try {
            return H.LIB.reason();
        } catch (LinkageError e) {
            return "libcublasLt.so.13 lacks a symbol lowbit needs: " + e;
        }
    }

    public static boolean available() {
        return unavailableReason() == null;
    }

    private final CudaDevice device;
    private final MemorySegment handle;
    private final DeviceMemory workspace;
    private boolean closed;

    private CublasLt(CudaDevice device, MemorySegment handle, DeviceMemory workspace) {
        this.device = device;
        this.handle = handle;
        this.workspace = workspace;
    }

    /** A cuBLASLt handle on {@code device} with a {@link #WORKSPACE_BYTES} workspace. */
    public static CublasLt create(CudaDevice device) {
        String why = unavailableReason();
        if (why != null) {
            throw new IllegalStateException("cuBLASLt is unavailable: " + why);
        }
        device.bind();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) H.CREATE.invokeExact(out), "cublasLtCreate");
            MemorySegment h = out.get(ADDRESS, 0);
            try {
                return new CublasLt(device, h, device.allocate(WORKSPACE_BYTES));
            } catch (RuntimeException e) {
                int ignored = (int) H.DESTROY.invokeExact(h);
                throw e;
            }
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
    }

    /**
     * A shape's descriptors and the algorithm cuBLASLt's heuristic chose for it, made once and kept until
     * {@link #close()}, so that a repeated product costs one {@code cublasLtMatmul} call.
     */
    private record Plan(Arena arena, MemorySegment desc, MemorySegment la, MemorySegment lb, MemorySegment lc,
                        MemorySegment algo) {
    }

    private final java.util.Map<Int8GemmShape, Plan> plans = new java.util.HashMap<>();

    private synchronized Plan plan(Int8GemmShape s) throws Throwable {
        if (closed) {
            throw new IllegalStateException("the cuBLASLt handle is closed");
        }
        Plan p = plans.get(s);
        if (p != null) {
            return p;
        }
        Arena arena = Arena.ofShared();
        MemorySegment desc = MemorySegment.NULL;
        MemorySegment la = MemorySegment.NULL;
        MemorySegment lb = MemorySegment.NULL;
        MemorySegment lc = MemorySegment.NULL;
        MemorySegment pref = MemorySegment.NULL;
        boolean done = false;
        try {
            MemorySegment out = arena.allocate(ADDRESS);
            check((int) H.DESC_CREATE.invokeExact(out, CUBLAS_COMPUTE_32I, CUDA_R_32I), "cublasLtMatmulDescCreate");
            desc = out.get(ADDRESS, 0);
            check((int) H.DESC_SET.invokeExact(desc, CUBLASLT_MATMUL_DESC_TRANSA,
                    arena.allocateFrom(JAVA_INT, CUBLAS_OP_T), 4L), "cublasLtMatmulDescSetAttribute(TRANSA)");
            check((int) H.DESC_SET.invokeExact(desc, CUBLASLT_MATMUL_DESC_TRANSB,
                    arena.allocateFrom(JAVA_INT, CUBLAS_OP_N), 4L), "cublasLtMatmulDescSetAttribute(TRANSB)");
            check((int) H.LAYOUT_CREATE.invokeExact(out, CUDA_R_8I, (long) s.k(), (long) s.m(), s.lda()),
                    "cublasLtMatrixLayoutCreate(A)");
            la = out.get(ADDRESS, 0);
            check((int) H.LAYOUT_CREATE.invokeExact(out, CUDA_R_8I, (long) s.k(), (long) s.n(), s.ldb()),
                    "cublasLtMatrixLayoutCreate(B)");
            lb = out.get(ADDRESS, 0);
            check((int) H.LAYOUT_CREATE.invokeExact(out, CUDA_R_32I, (long) s.m(), (long) s.n(), s.ldc()),
                    "cublasLtMatrixLayoutCreate(C)");
            lc = out.get(ADDRESS, 0);
            check((int) H.PREF_CREATE.invokeExact(out), "cublasLtMatmulPreferenceCreate");
            pref = out.get(ADDRESS, 0);
            check((int) H.PREF_SET.invokeExact(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                    arena.allocateFrom(JAVA_LONG, WORKSPACE_BYTES), 8L),
                    "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)");
            MemorySegment results = arena.allocate(HEURISTIC_RESULT_BYTES, 8);
            MemorySegment count = arena.allocate(JAVA_INT);
            check((int) H.HEURISTIC.invokeExact(handle, desc, la, lb, lc, lc, pref, 1, results, count),
                    "cublasLtMatmulAlgoGetHeuristic");
            if (count.get(JAVA_INT, 0) < 1 || results.get(JAVA_INT, HEURISTIC_STATE_OFFSET) != 0) {
                throw new CudaException("cublasLt", "cublasLtMatmulAlgoGetHeuristic(" + s + ")", 15,
                        "CUBLAS_STATUS_NOT_SUPPORTED", "no algorithm for this shape");
            }
            // The algorithm is the result's first member.
            p = new Plan(arena, desc, la, lb, lc, results);
            plans.put(s, p);
            done = true;
            return p;
        } finally {
            destroy(H.PREF_DESTROY, pref);
            if (!done) {
                destroyPlan(desc, la, lb, lc);
                arena.close();
            }
        }
    }

    private static void destroyPlan(MemorySegment desc, MemorySegment la, MemorySegment lb, MemorySegment lc)
            throws Throwable {
        destroy(H.LAYOUT_DESTROY, lc);
        destroy(H.LAYOUT_DESTROY, lb);
        destroy(H.LAYOUT_DESTROY, la);
        destroy(H.DESC_DESTROY, desc);
    }

    /**
     * {@code C = A^T B} for int8 {@code A} ({@code k x m}), int8 {@code B} ({@code k x n}) and int32 {@code C}
     * ({@code m x n}), all column-major, queued on {@code stream} (null: the legacy default stream). The first call
     * for a shape asks cuBLASLt's heuristic for an algorithm; later calls reuse it.
     *
     * @throws IllegalArgumentException when a pointer or buffer breaks the shape's rules (before any call)
     * @throws CudaException            when cuBLASLt fails or has no algorithm for the shape
     */
    public void int8Gemm(Int8GemmShape s, DeviceMemory a, DeviceMemory b, DeviceMemory c, CudaStream stream) {
        s.checkBuffers(a.address(), a.byteSize(), b.address(), b.byteSize(), c.address(), c.byteSize());
        device.bind();
        try (Arena arena = Arena.ofConfined()) {
            Plan p = plan(s);
            MemorySegment alpha = arena.allocateFrom(JAVA_INT, 1);
            MemorySegment beta = arena.allocateFrom(JAVA_INT, 0);
            MemorySegment pa = MemorySegment.ofAddress(a.address());
            MemorySegment pb = MemorySegment.ofAddress(b.address());
            MemorySegment pc = MemorySegment.ofAddress(c.address());
            MemorySegment ws = MemorySegment.ofAddress(workspace.address());
            MemorySegment st = stream == null ? MemorySegment.NULL : stream.handle();
            check((int) H.MATMUL.invokeExact(handle, p.desc(), alpha, pa, p.la(), pb, p.lb(), beta, pc, p.lc(), pc,
                    p.lc(), p.algo(), ws, WORKSPACE_BYTES, st), "cublasLtMatmul");
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        }
    }

    private static void destroy(MethodHandle h, MemorySegment p) throws Throwable {
        if (!p.equals(MemorySegment.NULL)) {
            int ignored = (int) h.invokeExact(p);
        }
    }

    private static void check(int rc, String call) {
        if (rc != 0) {
            throw new CudaException("cublasLt", call, rc, statusName(rc), "");
        }
    }

    /** {@code cublasLtGetStatusName}, such as {@code CUBLAS_STATUS_INVALID_VALUE}. */
    static String statusName(int rc) {
        try {
            MemorySegment s = (MemorySegment) H.STATUS_NAME.invokeExact(rc);
            return s.equals(MemorySegment.NULL) ? "cublasStatus_t " + rc : s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "cublasStatus_t " + rc;
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
            for (Plan p : plans.values()) {
                destroyPlan(p.desc(), p.la(), p.lb(), p.lc());
                p.arena().close();
            }
            plans.clear();
            check((int) H.DESTROY.invokeExact(handle), "cublasLtDestroy");
        } catch (Throwable t) {
            throw CudaDriver.rethrow(t);
        } finally {
            workspace.close();
        }
    }
}

package dev.lowbit.bindings.cuda;

/**
 * A failed CUDA driver, NVRTC or cuBLASLt call. It carries the runtime's own name for the error
 * (such as {@code CUDA_ERROR_OUT_OF_MEMORY}) and, for a compilation, the compiler's log.
 */
public final class CudaException extends RuntimeException {
    private final String library;
    private final String errorName;
    private final int code;
    private final String log;

    public CudaException(String library, String call, int code, String errorName, String log) {
        super(library + ": " + call + " failed with " + errorName + " (" + code + ")"
                + (log == null || log.isEmpty() ? "" : "\n" + log));
        this.library = library;
        this.errorName = errorName;
        this.code = code;
        this.log = log == null ? "" : log;
    }

    /** {@code cuda}, {@code nvrtc} or {@code cublasLt}. */
    public String library() { return library; }

    /** The runtime's name for the error. */
    public String errorName() { return errorName; }

    /** The runtime's numeric status. */
    public int code() { return code; }

    /** The compiler log for NVRTC failures, otherwise empty. */
    public String log() { return log; }
}

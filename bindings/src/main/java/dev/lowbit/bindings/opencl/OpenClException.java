package dev.lowbit.bindings.opencl;

/**
 * A failed OpenCL call. It carries OpenCL's name for the status (such as
 * {@code CL_OUT_OF_RESOURCES}) and, for a program build, the device's build log.
 */
public final class OpenClException extends RuntimeException {
    private final String errorName;
    private final int code;
    private final String log;

    public OpenClException(String call, int code, String errorName, String log) {
        super("OpenCL: " + call + " failed with " + errorName + " (" + code + ")"
                + (log == null || log.isEmpty() ? "" : "\n" + log));
        this.errorName = errorName;
        this.code = code;
        this.log = log == null ? "" : log;
    }

    /** OpenCL's name for the status. */
    public String errorName() { return errorName; }

    /** The numeric status. */
    public int code() { return code; }

    /** The build log for program builds, otherwise empty. */
    public String log() { return log; }
}

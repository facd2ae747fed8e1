package dev.lowbit.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A file that is not a well-formed lowbit file: truncated, a malformed header, a plane of the wrong
 * size, or a checksum mismatch. The message names the file, the plane or field, and the bad value.
 */
public class CorruptFileException extends IOException {
    private static final long serialVersionUID = 1L;

    /** A problem with {@code file}, described by {@code message}. */
    public CorruptFileException(Path file, String message) {
        super(file + ": " + message);
    }

    /** A problem with {@code file} first reported as {@code cause}. */
    public CorruptFileException(Path file, String message, Throwable cause) {
        super(file + ": " + message, cause);
    }
}

package dev.lowbit.io;

import java.io.IOException;
import java.nio.file.Path;

/** A file that is not a well-formed lowbit file: truncated, malformed header, bad plane, or checksum mismatch. */
public class CorruptFileException extends IOException {
    private static final long serialVersionUID = 1L;

    public CorruptFileException(Path file, String message) {
        super(file + ": " + message);
    }

    public CorruptFileException(Path file, String message, Throwable cause) {
        super(file + ": " + message, cause);
    }
}

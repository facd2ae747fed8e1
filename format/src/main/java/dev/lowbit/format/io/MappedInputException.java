package dev.lowbit.format.io;

import java.nio.file.Path;

/**
 * A memory-mapped input file changed while lowbit read it: another process truncated or replaced its
 * contents, so that part of the mapping is no longer backed by the file. The message is one line,
 * {@code <file>: the file changed while being read (it is now N bytes, was M)}. Reading the file again
 * once nothing else writes to it is the remedy.
 */
public class MappedInputException extends java.io.IOException {
    private static final long serialVersionUID = 1L;

    private final transient Path file;

    /**
     * @param file the mapped file, or null when the mapping is not one lowbit made
     * @param now  its size now, or -1 when it can no longer be read
     * @param was  its size when it was mapped
     */
    public MappedInputException(Path file, long now, long was, Throwable cause) {
        super(message(file, now, was), cause);
        this.file = file;
    }

    private static String message(Path file, long now, long was) {
        if (file == null) {
            return "a memory-mapped input file changed while being read (part of its mapping is no longer backed by"
                    + " the file); read it again once nothing else writes to it";
        }
        return file + ": the file changed while being read (" + (now < 0 ? "it can no longer be read" : "it is now "
                + now + " bytes") + ", was " + was + ")";
    }

    /** The file that changed, or null when it is not known. */
    public Path file() {
        return file;
    }
}

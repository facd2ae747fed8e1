package dev.lowbit.format.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A file that is not a well-formed lowbit file: truncated, a malformed header, a plane of the wrong
 * size, or a checksum mismatch. The message names the file, the plane or field, and the bad value, on
 * one line: control characters that the file put into a name (a newline in a tensor name, say) are
 * written as escapes such as {@code \n}.
 */
public class CorruptFileException extends IOException {
    private static final long serialVersionUID = 1L;

    /** A problem with {@code file}, described by {@code message}. */
    public CorruptFileException(Path file, String message) {
        super(oneLine(file + ": " + message));
    }

    /** A problem with {@code file} first reported as {@code cause}. */
    public CorruptFileException(Path file, String message, Throwable cause) {
        super(oneLine(file + ": " + message), cause);
    }

    private static String oneLine(String s) {
        StringBuilder b = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean control = Character.isISOControl(c) || c == '\u2028' || c == '\u2029';
            if (control && b == null) {
                b = new StringBuilder(s.length() + 16).append(s, 0, i);
            }
            if (b != null) {
                switch (c) {
                    case '\n' -> b.append("\\n");
                    case '\r' -> b.append("\\r");
                    case '\t' -> b.append("\\t");
                    default -> {
                        if (control) {
                            b.append(String.format("\\u%04x", (int) c));
                        } else {
                            b.append(c);
                        }
                    }
                }
            }
        }
        return b == null ? s : b.toString();
    }
}

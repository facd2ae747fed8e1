package dev.lowbit.format.io;

/**
 * The bound on tensor names and metadata keys that every lowbit reader and writer applies. Names are
 * matched against user patterns (the {@code --layers} regular expression, for one), and a pattern that
 * backtracks over a name of megabytes can run for minutes; no real model needs a name anywhere near
 * this long.
 */
public final class Names {
    private Names() {
    }

    /** The longest name or key accepted, in UTF-8 bytes. */
    public static final int MAX_BYTES = 4096;

    /** How much of an over-long name a message quotes. */
    private static final int QUOTED = 40;

    /** The length of {@code s} in UTF-8 bytes (a lone surrogate counts as the 1 byte '?' it is written as). */
    public static long utf8Length(String s) {
        long n = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                n += 1;
            } else if (c < 0x800) {
                n += 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                n += 4;
                i++;
            } else if (Character.isSurrogate(c)) {
                n += 1;
            } else {
                n += 3;
            }
        }
        return n;
    }

    /**
     * Why {@code name} is too long, one line starting with {@code what} (e.g. "tensor name"), or null when
     * it is at most {@link #MAX_BYTES} UTF-8 bytes.
     */
    public static String tooLong(String what, String name) {
        long n = utf8Length(name);
        return n <= MAX_BYTES ? null : tooLong(what, n, name);
    }

    /**
     * The message for a {@code what} of {@code bytes} bytes (unsigned, as a file may state it) that starts
     * with {@code start}.
     */
    public static String tooLong(String what, long bytes, String start) {
        // A name past the limit is always longer than what is quoted of it.
        return what + " of " + Long.toUnsignedString(bytes) + " bytes is longer than the " + MAX_BYTES + "-byte limit (it starts '"
                + printable(head(start)) + "...')";
    }

    /** The first characters of {@code name}, quoted, control characters escaped, for a one-line message. */
    public static String start(String name) {
        String head = head(name);
        return "'" + printable(head) + (head.length() < name.length() ? "...'" : "'");
    }

    private static String head(String name) {
        int end = Math.min(name.length(), QUOTED);
        if (end > 0 && end < name.length() && Character.isHighSurrogate(name.charAt(end - 1))) {
            end--;
        }
        return name.substring(0, end);
    }

    /** {@code s} with control characters shown as {@code \\uXXXX}, so that a message stays one line. */
    private static String printable(String s) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }
}

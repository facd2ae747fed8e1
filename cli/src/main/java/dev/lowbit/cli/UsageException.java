package dev.lowbit.cli;

/** A bad command line: the message says what is wrong; {@link Main} adds where to find the help. */
public final class UsageException extends RuntimeException {
    public UsageException(String message) {
        super(message);
    }
}

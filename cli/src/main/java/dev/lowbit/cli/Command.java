package dev.lowbit.cli;

import java.io.PrintStream;
import java.util.List;

/**
 * One subcommand of {@code lowbit}. {@link Main} lists the commands, picks one by {@link #name()} and
 * hands it the remaining arguments; the command writes its results to {@code out} and its progress and
 * messages to {@code err}, and returns the exit status.
 *
 * <p>A command reports a bad argument by throwing {@link UsageException} (exit status 2) and a file it
 * cannot read or write by throwing {@link java.io.IOException} or {@link IllegalArgumentException}
 * (exit status 1); {@link Main} prints the message in one line, without a stack trace.
 */
public interface Command {

    /** The word that selects the command, e.g. {@code quantize}. */
    String name();

    /** One line for {@code lowbit --help}. */
    String summary();

    /**
     * Runs the command.
     *
     * @param args the arguments after the command's name ({@code --help} included: a command prints its
     *             own help for it and returns 0)
     * @return the exit status, 0 on success
     */
    int run(List<String> args, PrintStream out, PrintStream err) throws Exception;
}

package dev.lowbit.cli;

import picocli.CommandLine;

import java.io.PrintStream;
import java.util.concurrent.Callable;

/**
 * One subcommand of {@code lowbit}, a picocli command: its options are annotated fields, which picocli fills
 * from the command line before {@link #run} runs. {@link Main} builds the command line, hands every command
 * the streams to write to, and turns failures into one line and an exit status. The command writes its
 * results to {@code out} and its progress and messages to {@code err}, and returns the exit status.
 *
 * <p>A command reports a bad argument by throwing {@link UsageException} (exit status 2) and a file it
 * cannot read or write by throwing {@link java.io.IOException} or {@link IllegalArgumentException}
 * (exit status 1); {@link Main} prints the message in one line, without a stack trace.
 */
abstract class Command implements Callable<Integer> {
    @CommandLine.Option(names = {"-h", "--help"}, usageHelp = true, description = "print this help and exit")
    boolean help;

    private PrintStream out = System.out;
    private PrintStream err = System.err;

    /** The streams {@link #run} writes to. */
    final Command streams(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
        return this;
    }

    /** The word that selects the command, e.g. {@code quantize}. */
    final String name() {
        return getClass().getAnnotation(CommandLine.Command.class).name();
    }

    /** One line for {@code lowbit --help}. */
    final String summary() {
        return getClass().getAnnotation(CommandLine.Command.class).description()[0];
    }

    @Override
    public final Integer call() throws Exception {
        return run(out, err);
    }

    /** Runs the command once picocli has set its options; returns the exit status, 0 on success. */
    abstract int run(PrintStream out, PrintStream err) throws Exception;
}

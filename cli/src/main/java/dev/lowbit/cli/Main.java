package dev.lowbit.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.List;

/**
 * {@code lowbit COMMAND [ARGS]}: picks the command by name and turns its failures into one line on
 * stderr and an exit status: 0 on success, 1 when a file cannot be read or written or the work fails,
 * 2 for a bad command line. Set {@code LOWBIT_DEBUG=1} to get stack traces as well.
 */
public final class Main {
    private Main() {
    }

    /** Every command, in the order {@code lowbit --help} lists them. */
    static List<Command> commands() {
        return List.of(new DemoCommand(), new QuantizeCommand(), new InspectCommand(), new ReportCommand(),
                new EvalCommand());
    }

    public static void main(String[] args) {
        // The kernels log their choice in one line; without a date and a second line for the source.
        if (System.getProperty("java.util.logging.SimpleFormatter.format") == null) {
            System.setProperty("java.util.logging.SimpleFormatter.format", "%5$s%6$s%n");
        }
        int status = run(List.of(args), System.out, System.err);
        System.out.flush();
        System.exit(status);
    }

    /** Runs {@code lowbit args...} and returns its exit status. */
    public static int run(List<String> args, PrintStream out, PrintStream err) {
        if (args.isEmpty() || args.get(0).equals("--help") || args.get(0).equals("-h") || args.get(0).equals("help")) {
            if (args.size() > 1 && args.get(0).equals("help")) {
                return run(List.of(args.get(1), "--help"), out, err);
            }
            printHelp(args.isEmpty() ? err : out);
            return args.isEmpty() ? 2 : 0;
        }
        String name = args.get(0);
        Command command = commands().stream().filter(c -> c.name().equals(name)).findFirst().orElse(null);
        if (command == null) {
            err.println("lowbit: unknown command '" + name + "'; the commands are "
                    + commands().stream().map(Command::name).toList() + " (lowbit --help)");
            return 2;
        }
        String prefix = "lowbit " + name + ": ";
        try {
            return command.run(args.subList(1, args.size()), out, err);
        } catch (UsageException e) {
            err.println(prefix + e.getMessage());
            err.println("Run 'lowbit " + name + " --help' for its options.");
            return 2;
        } catch (IOException | UncheckedIOException | IllegalArgumentException | IllegalStateException e) {
            debug(e, err);
            err.println(prefix + message(e));
            return 1;
        } catch (OutOfMemoryError e) {
            err.println(prefix + "out of memory; give Java more with JAVA_OPTS=-Xmx8g (or more)");
            return 1;
        } catch (Exception e) {
            debug(e, err);
            err.println(prefix + "internal error, " + e + " (set LOWBIT_DEBUG=1 for the stack trace)");
            return 1;
        }
    }

    private static void debug(Throwable e, PrintStream err) {
        if ("1".equals(System.getenv("LOWBIT_DEBUG"))) {
            e.printStackTrace(err);
        }
    }

    /** One line for an exception, with the file named for the JDK's terse file-system exceptions. */
    static String message(Throwable e) {
        if (e instanceof UncheckedIOException u && u.getCause() != null) {
            String outer = u.getMessage();
            String inner = message(u.getCause());
            return outer == null || outer.equals(u.getCause().toString()) ? inner : outer + ": " + inner;
        }
        if (e instanceof NoSuchFileException f) {
            return "no such file: " + f.getFile();
        }
        if (e instanceof AccessDeniedException f) {
            return "permission denied: " + f.getFile();
        }
        if (e instanceof FileSystemException f && f.getReason() != null) {
            return f.getFile() + ": " + f.getReason();
        }
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }

    static void printHelp(PrintStream out) {
        out.println("Usage: lowbit COMMAND [OPTIONS]");
        out.println();
        out.println("Low-bit quantization of model weights. Commands:");
        for (Command c : commands()) {
            out.printf("  %-10s %s%n", c.name(), c.summary());
        }
        out.println();
        out.println("'lowbit COMMAND --help' describes a command's options.");
    }
}

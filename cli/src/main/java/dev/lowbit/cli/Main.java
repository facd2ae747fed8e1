package dev.lowbit.cli;

import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.List;
import java.util.Locale;

/**
 * {@code lowbit COMMAND [ARGS]}: picks the command by name (picocli parses the options) and turns its
 * failures into one line on stderr and an exit status: 0 on success, 1 when a file cannot be read or
 * written or the work fails, 2 for a bad command line. Set {@code LOWBIT_DEBUG=1} to get stack traces
 * as well.
 */
public final class Main {
    private Main() {
    }

    /** The top level: {@code lowbit --help}, {@code lowbit --version}, and the commands. */
    @CommandLine.Command(name = "lowbit", versionProvider = Version.class,
            synopsisSubcommandLabel = "COMMAND",
            description = "Low-bit quantization of model weights.",
            footer = {"", "'lowbit COMMAND --help' describes a command's options."})
    static final class Top implements Runnable {
        private final PrintStream err;

        Top(PrintStream err) {
            this.err = err;
        }

        @CommandLine.Spec
        CommandSpec spec;

        @CommandLine.Option(names = {"-h", "--help"}, usageHelp = true, description = "print this help and exit")
        boolean help;

        @CommandLine.Option(names = {"-V", "--version"}, versionHelp = true,
                description = "print lowbit's version and the kernels it runs on here, and exit")
        boolean version;

        /** No command: the help, on stderr, and status 2 (see {@link #run(List, PrintStream, PrintStream)}). */
        @Override
        public void run() {
            spec.commandLine().usage(err);
        }
    }

    /** Every command, in the order {@code lowbit --help} lists them. */
    static List<Command> commands() {
        return List.of(new DemoCommand(), new QuantizeCommand(), new InspectCommand(), new ReportCommand(),
                new EvalCommand(), new ExportCommand(), new TrainCommand(), new TrainReportCommand(),
                new ExportImageCommand(), new EvalImageCommand());
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

    /** The picocli command line of {@code lowbit}, writing to {@code out} and {@code err}. */
    static CommandLine commandLine(PrintStream out, PrintStream err) {
        CommandLine top = new CommandLine(new Top(err));
        for (Command c : commands()) {
            top.addSubcommand(c.name(), c.streams(out, err));
            // The help lists the options in the order the command declares them, most used first.
            top.getSubcommands().get(c.name()).getCommandSpec().usageMessage().sortOptions(false).sortSynopsis(false);
        }
        CommandLine completion = new CommandLine(new AutoComplete.GenerateCompletion());
        completion.getCommandSpec().usageMessage().description(
                "print a bash/zsh completion script for lowbit: source <(lowbit completion)");
        completion.getCommandSpec().usageMessage().hidden(false);
        top.addSubcommand("completion", completion);
        CommandLine help = new CommandLine(new CommandLine.HelpCommand());
        help.getCommandSpec().usageMessage().description("print a command's help: lowbit help COMMAND");
        top.addSubcommand("help", help);
        boolean terminal = out == System.out && System.console() != null && System.console().isTerminal();
        top.setColorScheme(CommandLine.Help.defaultColorScheme(terminal ? CommandLine.Help.Ansi.AUTO
                : CommandLine.Help.Ansi.OFF));
        top.setOut(new PrintWriter(out, true, StandardCharsets.UTF_8));
        top.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
        // "@file" is a file name to lowbit, not a file of arguments.
        top.setExpandAtFiles(false);
        top.setUsageHelpWidth(100);
        top.setParameterExceptionHandler((e, args) -> {
            err.println(usageLine(unknownOptionFirst(e, args)));
            return 2;
        });
        top.setExecutionExceptionHandler((e, cl, parsed) -> failure(e, cl.getCommandSpec(), err));
        return top;
    }

    /** Runs {@code lowbit args...} and returns its exit status. */
    public static int run(List<String> args, PrintStream out, PrintStream err) {
        CommandLine top = commandLine(out, err);
        try {
            int status = top.execute(args.toArray(String[]::new));
            // Only the top level's Runnable returns without a status: no command was given.
            return args.isEmpty() ? 2 : status;
        } catch (OutOfMemoryError e) {
            err.println(prefix(commandName(top, args)) + "out of memory; give Java more with JAVA_OPTS=-Xmx8g (or more)");
            return 1;
        }
    }

    private static CommandSpec commandName(CommandLine top, List<String> args) {
        CommandLine sub = args.isEmpty() ? null : top.getSubcommands().get(args.get(0));
        return (sub != null ? sub : top).getCommandSpec();
    }

    private static String prefix(CommandSpec spec) {
        return spec.qualifiedName() + ": ";
    }

    /** The one line of a bad command line: what is wrong, and where the help is. */
    static String usageLine(CommandLine.ParameterException e) {
        CommandSpec spec = e.getCommandLine().getCommandSpec();
        boolean top = spec.parent() == null;
        String message;
        if (e instanceof CommandLine.UnmatchedArgumentException u && !u.getUnmatched().isEmpty()) {
            String word = u.getUnmatched().get(0);
            List<String> suggestions = u.getSuggestions();
            if (top && !u.isUnknownOption()) {
                message = "unknown command '" + word + "'";
            } else if (u.isUnknownOption()) {
                message = "unknown option '" + word + "'";
            } else {
                message = "unexpected argument '" + word + "'";
            }
            if (!suggestions.isEmpty()) {
                message += "; did you mean " + String.join(" or ", suggestions) + "?";
            }
        } else if (e.getCause() instanceof CommandLine.TypeConversionException t) {
            message = t.getMessage(); // lowbit's converters say what is wrong with the option's name
        } else {
            message = lowerFirst(e.getMessage());
            if (message != null && message.endsWith(".")) {
                message = message.substring(0, message.length() - 1);
            }
        }
        return usageLine(spec, message);
    }

    /**
     * The error to report: picocli finds a missing required option before an unknown one, but a mistyped option
     * name ({@code --modle}) is what the user has to fix, so it is reported instead, with picocli's suggestions.
     */
    private static CommandLine.ParameterException unknownOptionFirst(CommandLine.ParameterException e, String[] args) {
        if (!(e instanceof CommandLine.MissingParameterException)) {
            return e;
        }
        CommandSpec spec = e.getCommandLine().getCommandSpec();
        for (String a : args) {
            String name = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
            if (name.startsWith("-") && !name.equals("--") && !name.equals("-") && spec.findOption(name) == null
                    && !spec.subcommands().containsKey(name)) {
                return new CommandLine.UnmatchedArgumentException(e.getCommandLine(), List.of(a));
            }
        }
        return e;
    }

    private static String usageLine(CommandSpec spec, String message) {
        return prefix(spec) + message + " (see '" + spec.qualifiedName() + " --help')";
    }

    /** The status and one line for an exception a command threw. */
    private static int failure(Exception e, CommandSpec spec, PrintStream err) {
        if (e instanceof UsageException) {
            err.println(usageLine(spec, e.getMessage()));
            return 2;
        }
        debug(e, err);
        if (e instanceof IOException || e instanceof UncheckedIOException || e instanceof IllegalArgumentException
                || e instanceof IllegalStateException) {
            err.println(prefix(spec) + message(e));
        } else {
            err.println(prefix(spec) + "internal error, " + e + " (set LOWBIT_DEBUG=1 for the stack trace)");
        }
        return 1;
    }

    private static String lowerFirst(String s) {
        if (s == null || s.isEmpty() || s.length() > 1 && Character.isUpperCase(s.charAt(1))) {
            return s;
        }
        return s.substring(0, 1).toLowerCase(Locale.ROOT) + s.substring(1);
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
}

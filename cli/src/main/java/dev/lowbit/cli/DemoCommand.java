package dev.lowbit.cli;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/** {@code lowbit demo}: the built-in all-MiniLM-L6-v2 through every method at 4 and 3 bits. */
final class DemoCommand implements Command {

    @Override
    public String name() {
        return "demo";
    }

    @Override
    public String summary() {
        return "run the built-in all-MiniLM-L6-v2 through every method at 4 and 3 bits and print the table";
    }

    private static void help(PrintStream out) {
        out.println("Usage: lowbit demo [--html FILE] [--threads N]");
        out.println();
        out.println("Quantizes the 36 weight matrices of all-MiniLM-L6-v2 (10.6M parameters, carried in the");
        out.println("lowbit jar) with " + String.join(", ", Runs.METHODS) + " at 4 and 3 bits,");
        out.println("groups of 64, and prints each one's relative error (total and worst layer), SQNR, outlier");
        out.println("fraction, size and time. 'lowbit report' does the same for any model, per layer, with options.");
        out.println("  --html FILE      also write the HTML report there");
        out.println(Options.THREADS_HELP);
    }

    @Override
    public int run(List<String> argList, PrintStream out, PrintStream err) throws Exception {
        Args args = new Args(name(), argList, Set.of("html", "threads"), Set.of());
        if (args.help()) {
            help(out);
            return 0;
        }
        args.positional(0, 0, "");
        String html = args.get("html", null);
        if (html != null && !html.toLowerCase(java.util.Locale.ROOT).endsWith(".html")) {
            throw new UsageException("--html must name a .html file, got '" + html + "'");
        }
        return ReportCommand.report(args, out, err, null, Runs.METHODS, List.of(4, 3),
                html == null ? null : Path.of(html), false);
    }
}

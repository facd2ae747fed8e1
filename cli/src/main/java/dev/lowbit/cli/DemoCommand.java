package dev.lowbit.cli;

import dev.lowbit.algorithms.MethodRegistry;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;

/** {@code lowbit demo}: the built-in all-MiniLM-L6-v2 through every method at 4 and 3 bits. */
@picocli.CommandLine.Command(name = "demo",
        description = {"run the built-in all-MiniLM-L6-v2 through every method at 4 and 3 bits and print the table",
                "",
                "Quantizes the 36 weight matrices of all-MiniLM-L6-v2 (10.6M parameters, carried in the lowbit jar) "
                        + "with every method at 4 and 3 bits, groups of 64, and prints each one's relative error "
                        + "(total and worst layer), SQNR, outlier fraction, size and time. 'lowbit report' does the "
                        + "same for any model, per layer, with options.",
                ""})
final class DemoCommand extends Command {
    @Option(names = "--html", paramLabel = "FILE", description = "also write the HTML report there")
    String html;

    @Option(names = "--threads", paramLabel = "N", description = Options.THREADS_HELP)
    String threads;

    @Override
    int run(PrintStream out, PrintStream err) throws Exception {
        if (html != null && !html.toLowerCase(java.util.Locale.ROOT).endsWith(".html")) {
            throw new UsageException("--html must name a .html file, got '" + html + "'");
        }
        return ReportCommand.report(out, err, null, MethodRegistry.planes(), List.of(4, 3), "64", html == null ? null : Path.of(html),
                false, null, threads);
    }
}

package dev.lowbit.cli;

import dev.lowbit.algorithms.QuantSpec;
import dev.lowbit.format.ScaleType;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;

/**
 * {@code lowbit report}: several methods at several widths over one model, per layer and in total, as
 * text and as a self-contained HTML page with charts.
 */
final class ReportCommand implements Command {
    static final String DEFAULT_HTML = "lowbit-report.html";

    @Override
    public String name() {
        return "report";
    }

    @Override
    public String summary() {
        return "compare methods and bit-widths on a model, per layer and in total (text and HTML)";
    }

    private static void help(PrintStream out) {
        out.println("Usage: lowbit report [--model FILE] [--methods M,...] [--bits B,...] [--group G] [OPTIONS]");
        out.println();
        out.println("Quantizes every weight matrix of a model with each method at each width (nothing is written");
        out.println("but the report) and prints, per layer and in total: the relative error ||W-Ŵ||²/||W||²,");
        out.println("the worst layer, the SQNR, the outlier fraction, the bytes and the time.");
        out.println("  --model FILE     .onnx, .safetensors or .gguf (default: the built-in all-MiniLM-L6-v2)");
        out.println("  --methods LIST   from " + String.join(",", Runs.METHODS) + " (default all; nf4 runs at 4 bits only)");
        out.println("  --bits LIST      from 2,3,4,8 (default 4,3)");
        out.println("  --group G        group size for every method: " + Options.GROUP_HELP + " (default 64)");
        out.println("  --html FILE      the HTML page (default " + DEFAULT_HTML + ")");
        out.println("  --no-layers      print the totals only (the HTML page has the layers anyway)");
        out.println(Options.LAYERS_HELP);
        out.println(Options.THREADS_HELP);
    }

    @Override
    public int run(List<String> argList, PrintStream out, PrintStream err) throws Exception {
        Args args = new Args(name(), argList, Set.of("model", "methods", "bits", "group", "html", "layers", "threads"),
                Set.of("no-layers"));
        if (args.help()) {
            help(out);
            return 0;
        }
        args.positional(0, 0, "");
        Path html = Path.of(args.get("html", DEFAULT_HTML));
        if (!html.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".html")) {
            throw new UsageException("--html must name a .html file, got '" + html + "'");
        }
        return report(args, out, err, args.get("model", null), Options.methods(args.get("methods", String.join(",", Runs.METHODS))),
                Options.bitsList(args.get("bits", "4,3")), html, !args.flag("no-layers"));
    }

    /** Runs the comparison and prints it; shared with {@code lowbit demo}. */
    static int report(Args args, PrintStream out, PrintStream err, String model, List<String> methods, List<Integer> bits,
                      Path html, boolean layers) throws Exception {
        int group = Options.group(args.get("group", "64"));
        if (html != null) {
            Path parent = html.toAbsolutePath().getParent();
            if (parent != null && !java.nio.file.Files.isDirectory(parent)) {
                throw new IllegalArgumentException("the folder of --html does not exist: " + parent);
            }
        }
        long start = System.nanoTime();
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Options.pool(args)) {
            java.util.regex.Pattern only = Options.layers(args.get("layers", null));
            Weights w = model == null ? Weights.miniLm(only) : Weights.read(Path.of(model), only, arena);
            if (w.matrices().isEmpty()) {
                throw new IllegalArgumentException(w.source() + " has no weight matrix to quantize"
                        + (only != null ? " that matches --layers" : ""));
            }
            err.println(Units.f("%s: %d weight matrices, %s parameters; %s at %s bits, group %s, %d threads",
                    w.source(), w.matrices().size(), Units.count(w.parameters()), String.join(", ", methods),
                    bits.toString().replaceAll("[\\[\\] ]", ""), Options.groupName(group),
                    ((java.util.concurrent.ForkJoinPool) pool).getParallelism()));
            List<Runs.Run> runs = new ArrayList<>();
            List<String> skipped = new ArrayList<>();
            for (int b : bits) {
                QuantSpec spec = new QuantSpec(b, group, ScaleType.F16);
                for (String m : methods) {
                    if (!Runs.supports(m, b)) {
                        skipped.add(m + " at " + b + " bits");
                        continue;
                    }
                    runs.add(Runs.run(m, spec, w, pool, null, null, err));
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            ReportText.print(out, w, runs, layers);
            if (!skipped.isEmpty()) {
                out.println("not run: " + String.join(", ", skipped) + " (NF4 is a 4-bit codebook)");
            }
            out.println(Units.f("%s, %d threads, %.1f s in all (reading the model included)", w.source(),
                    ((java.util.concurrent.ForkJoinPool) pool).getParallelism(), seconds));
            if (html != null) {
                ReportHtml.write(html, w, runs, seconds);
                out.println("HTML report: " + html.toAbsolutePath());
            }
        }
        return 0;
    }
}

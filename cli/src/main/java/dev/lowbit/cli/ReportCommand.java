package dev.lowbit.cli;

import dev.lowbit.algorithms.MethodRegistry;
import dev.lowbit.algorithms.QuantSpec;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.ThreadPool;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code lowbit report}: several methods at several widths over one model, per layer and in total, as
 * text and as a self-contained HTML page with charts.
 */
@picocli.CommandLine.Command(name = "report",
        description = {"compare methods and bit-widths on a model, per layer and in total (text and HTML)",
                "",
                "Quantizes every weight matrix of a model with each method at each width (nothing is written but "
                        + "the report) and prints, per layer and in total: the relative error ||W-Ŵ||²/||W||², the "
                        + "worst layer, the SQNR, the outlier fraction, the bytes and the time.",
                ""})
final class ReportCommand extends Command {
    static final String DEFAULT_HTML = "lowbit-report.html";

    @Option(names = "--model", paramLabel = "FILE",
            description = ".onnx, .safetensors, .gguf or " + BuiltinModel.MINILM_HELP + " (the default)")
    String model;

    @Option(names = "--methods", paramLabel = "LIST", completionCandidates = Options.Methods.class,
            description = "comma-separated, from ${COMPLETION-CANDIDATES} (default all; nf4 runs at 4 bits only)")
    String methods;

    @Option(names = "--bits", paramLabel = "LIST", description = "comma-separated, from 2,3,4,8 (default 4,3)")
    String bits = "4,3";

    @Option(names = "--group", paramLabel = "G", completionCandidates = Options.Groups.class,
            description = "group size for every method: " + Options.GROUP_HELP + " (default 64)")
    String group = "64";

    @Option(names = "--html", paramLabel = "FILE", description = "the HTML page (default " + DEFAULT_HTML + ")")
    String html = DEFAULT_HTML;

    @Option(names = "--no-layers", description = "print the totals only (the HTML page has the layers anyway)")
    boolean noLayers;

    @Option(names = "--layers", paramLabel = "REGEX", description = Options.LAYERS_HELP)
    String layers;

    @Option(names = "--threads", paramLabel = "N", description = Options.THREADS_HELP)
    String threads;

    @Override
    int run(PrintStream out, PrintStream err) throws Exception {
        Path htmlFile = Path.of(html);
        if (!htmlFile.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".html")) {
            throw new UsageException("--html must name a .html file, got '" + html + "'");
        }
        return report(out, err, model, Options.methods(methods == null ? String.join(",", MethodRegistry.planes()) : methods),
                Options.bitsList(bits), group, htmlFile, !noLayers, layers, threads);
    }

    /** Runs the comparison and prints it; shared with {@code lowbit demo}. */
    static int report(PrintStream out, PrintStream err, String model, List<String> methods, List<Integer> bits,
                      String groupOption, Path html, boolean layers, String layersOption, String threads) throws Exception {
        int group = Options.group(groupOption);
        java.util.regex.Pattern only = Options.layers(layersOption);
        if (html != null) {
            Path parent = html.toAbsolutePath().getParent();
            if (parent != null && !java.nio.file.Files.isDirectory(parent)) {
                throw new IllegalArgumentException("the folder of --html does not exist: " + parent);
            }
        }
        long start = System.nanoTime();
        try (Arena arena = Arena.ofShared(); ThreadPool pool = Options.pool(threads)) {
            Weights w = model == null || BuiltinModel.isMiniLm(model) ? Weights.miniLm(only) : Weights.read(Path.of(model), only, arena);
            if (w.matrices().isEmpty()) {
                throw new IllegalArgumentException(w.source() + " has no weight matrix to quantize"
                        + (only != null ? " that matches --layers" : ""));
            }
            err.println(Units.f("%s: %d weight matrices, %s parameters; %s at %s bits, group %s, %d threads",
                    w.source(), w.matrices().size(), Units.count(w.parameters()), String.join(", ", methods),
                    bits.toString().replaceAll("[\\[\\] ]", ""), Options.groupName(group),
                    pool.parallelism()));
            List<Runs.Run> runs = new ArrayList<>();
            List<String> skipped = new ArrayList<>();
            for (int b : bits) {
                QuantSpec spec = new QuantSpec(b, group, ScaleType.F16);
                for (String m : methods) {
                    if (!MethodRegistry.get(m).takes(b)) {
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
                    pool.parallelism(), seconds));
            if (html != null) {
                ReportHtml.write(html, w, runs, seconds);
                out.println("HTML report: " + html.toAbsolutePath());
            }
        }
        return 0;
    }
}

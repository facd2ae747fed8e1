package dev.lowbit.cli;

import dev.lowbit.training.Trainer;
import dev.lowbit.training.TrainingReport;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code lowbit train-report --out report.html RUN.safetensors...}: the runs that {@code lowbit train} wrote, read
 * from their checkpoints, as a table on stdout and as one self-contained HTML page with plots
 * ({@link TrainingReport}).
 */
@picocli.CommandLine.Command(name = "train-report",
        description = {"compare training runs from their checkpoints: a table and an HTML page with plots",
                "",
                "Reads the configuration and the per-epoch history in the checkpoints of 'lowbit train' and writes one "
                        + "self-contained HTML page: a table of the runs (final widths, test accuracy, BitOPs per image "
                        + "and their share of the fp32 network's, images/s), test accuracy against BitOPs, test "
                        + "accuracy per epoch, and for each AdaQAT run its bit-widths over the epochs.",
                ""})
final class TrainReportCommand extends Command {
    @Option(names = "--out", paramLabel = "FILE", required = true, description = "the HTML page (.html)")
    String outOption;

    @Parameters(paramLabel = "RUN", arity = "1..*", description = "checkpoints of 'lowbit train' (.safetensors)")
    List<String> runs;

    @Override
    int run(PrintStream out, PrintStream err) throws Exception {
        Path html = Path.of(outOption);
        if (!html.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".html")) {
            throw new UsageException("--out must name a .html file, got '" + outOption + "'");
        }
        Path parent = html.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new IllegalArgumentException("the folder of --out does not exist: " + parent);
        }
        List<TrainingReport.Run> read = new ArrayList<>();
        for (String r : runs) {
            read.add(TrainingReport.read(Path.of(r)));
        }
        Table t = new Table("run", "model", "method", "final widths", ">epochs", ">test acc", ">BitOPs/image",
                ">of fp32", ">images/s");
        for (TrainingReport.Run r : read) {
            Trainer.Epoch e = r.last();
            t.row(r.label(), r.config().model(), r.methodLabel(), TrainingReport.widthsLabel(e.widths()),
                    e.epoch() + "/" + r.config().epochs(), Units.f("%.2f%%", 100 * e.testAccuracy()),
                    TrainingReport.metric(e.bitops()),
                    Units.f("1/%.1f", TrainingReport.fp32Bitops(r.config().model()) / e.bitops()),
                    Units.f("%.0f", r.imagesPerSecond()));
        }
        t.print(out);
        TrainingReport.write(html, read);
        out.println("HTML report: " + html.toAbsolutePath());
        return 0;
    }
}

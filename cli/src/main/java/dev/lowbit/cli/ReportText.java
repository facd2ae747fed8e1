package dev.lowbit.cli;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/** The report as text tables: per layer (optional), then one line per method and width. */
final class ReportText {
    private ReportText() {
    }

    static void print(PrintStream out, Weights w, List<Runs.Run> runs, boolean layers) {
        if (layers) {
            List<String> head = new ArrayList<>(List.of(">#", "layer", ">rows x cols"));
            for (Runs.Run r : runs) {
                head.add(">" + r.method() + "/" + r.spec().bits());
            }
            Table t = new Table(head.toArray(String[]::new));
            for (int i = 0; i < w.matrices().size(); i++) {
                Weights.Matrix m = w.matrices().get(i);
                List<Object> row = new ArrayList<>(List.of(i, m.name(), m.rows() + "x" + m.cols()));
                for (Runs.Run r : runs) {
                    row.add(Units.f("%.3e", r.layers().get(i).relativeError()));
                }
                t.row(row.toArray());
            }
            t.rule();
            List<Object> total = new ArrayList<>(List.of("", "total", ""));
            for (Runs.Run r : runs) {
                total.add(Units.f("%.3e", r.relativeError()));
            }
            t.row(total.toArray());
            out.println("Relative error ||W-Ŵ||²/||W||² per layer (rows are output channels):");
            t.print(out);
            out.println();
        }
        long params = w.parameters();
        out.println(Units.f("%d weight matrices, %s parameters, %d bytes in fp32:", w.matrices().size(),
                Units.count(params), 4 * params));
        Table t = new Table("method", ">bits", "format", ">rel. error", ">SQNR dB", ">worst layer", "(which)",
                ">outliers", ">bytes", ">bits/weight", ">time s");
        for (Runs.Run r : runs) {
            Runs.Layer worst = r.worst();
            t.row(r.method(), r.spec().bits(), r.layers().get(0).format(), Units.f("%.4e", r.relativeError()),
                    Units.f("%.2f", r.sqnrDb()), Units.f("%.4e", worst.relativeError()),
                    "(#" + r.layers().indexOf(worst) + " " + worst.name() + ")",
                    Units.f("%.3f%%", 100 * r.outlierFraction()), r.bytes(), Units.f("%.3f", 8.0 * r.bytes() / params),
                    Units.f("%.1f", r.seconds()));
        }
        t.print(out);
    }
}

package dev.lowbit.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * The report as one HTML page with no outside resources: a bar chart of each run's total relative
 * error, a chart of the error per layer (log scale), and the tables, all inline SVG and CSS.
 */
final class ReportHtml {
    private ReportHtml() {
    }

    private static final String[] COLORS = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
            "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

    static void write(Path path, Weights w, List<Runs.Run> runs, double seconds) throws IOException {
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>lowbit report: ")
                .append(esc(w.source().getFileName().toString())).append("</title>\n<style>\n")
                .append("body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}\n")
                .append("table{border-collapse:collapse;font-size:13px;margin:1em 0}\n")
                .append("td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\n")
                .append("td:first-child,th:first-child,td.l{text-align:left}\n")
                .append("th{background:#f3f3f3}\nsvg{font-size:12px;font-family:system-ui,sans-serif}\n")
                .append(".note{color:#555;font-size:13px}\n</style></head><body>\n");
        long params = w.parameters();
        h.append("<h1>lowbit report</h1>\n<p>").append(esc(w.source().toString())).append(": ")
                .append(w.matrices().size()).append(" weight matrices, ").append(params).append(" parameters (")
                .append(4 * params).append(" bytes in fp32). Group size ")
                .append(runs.isEmpty() ? "" : Options.groupName(runs.get(0).spec().groupSize()))
                .append(" for every method; ").append(Units.f("%.1f", seconds)).append(" s in all.</p>\n");
        h.append("<p class=\"note\">Relative error is ‖W−Ŵ‖²/‖W‖² summed over the matrices; SQNR is "
                + "10·log10 of its inverse. Lower error is better.</p>\n");
        totalsChart(h, runs);
        h.append("<h2>Totals</h2>\n<table><tr><th>method</th><th>bits</th><th>format</th><th>rel. error</th>"
                + "<th>SQNR dB</th><th>worst layer</th><th>its rel. error</th><th>outliers</th><th>bytes</th>"
                + "<th>bits/weight</th><th>time s</th></tr>\n");
        for (Runs.Run r : runs) {
            Runs.Layer worst = r.worst();
            h.append("<tr><td>").append(esc(r.method())).append("</td><td>").append(r.spec().bits())
                    .append("</td><td class=\"l\">").append(esc(r.layers().get(0).format())).append("</td><td>")
                    .append(Units.f("%.4e", r.relativeError())).append("</td><td>").append(Units.f("%.2f", r.sqnrDb()))
                    .append("</td><td class=\"l\">#").append(r.layers().indexOf(worst)).append(" ").append(esc(worst.name()))
                    .append("</td><td>")
                    .append(Units.f("%.4e", worst.relativeError())).append("</td><td>")
                    .append(Units.f("%.3f%%", 100 * r.outlierFraction())).append("</td><td>").append(r.bytes())
                    .append("</td><td>").append(Units.f("%.3f", 8.0 * r.bytes() / params)).append("</td><td>")
                    .append(Units.f("%.1f", r.seconds())).append("</td></tr>\n");
        }
        h.append("</table>\n");
        layerChart(h, w, runs);
        h.append("<h2>Per layer</h2>\n<table><tr><th>#</th><th>layer</th><th>rows×cols</th>");
        for (Runs.Run r : runs) {
            h.append("<th>").append(esc(r.method())).append(" ").append(r.spec().bits()).append("</th>");
        }
        h.append("</tr>\n");
        for (int i = 0; i < w.matrices().size(); i++) {
            Weights.Matrix m = w.matrices().get(i);
            h.append("<tr><td>").append(i).append("</td><td class=\"l\">").append(esc(m.name())).append("</td><td>")
                    .append(m.rows()).append("×").append(m.cols()).append("</td>");
            for (Runs.Run r : runs) {
                h.append("<td>").append(Units.f("%.3e", r.layers().get(i).relativeError())).append("</td>");
            }
            h.append("</tr>\n");
        }
        h.append("</table>\n<p class=\"note\">Written by <code>lowbit report</code>.</p>\n</body></html>\n");
        // Written beside the target and renamed, so an interrupted write leaves no half page.
        Path tmp = path.toAbsolutePath().resolveSibling("." + path.getFileName() + ".tmp");
        try {
            Files.writeString(tmp, h, StandardCharsets.UTF_8);
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Horizontal bars, one per run, length proportional to the total relative error. */
    private static void totalsChart(StringBuilder h, List<Runs.Run> runs) {
        int bar = 18;
        int left = 130;
        int width = 560;
        int height = runs.size() * (bar + 6) + 30;
        double max = runs.stream().mapToDouble(Runs.Run::relativeError).max().orElse(1);
        h.append("<h2>Total relative error</h2>\n<svg width=\"").append(left + width + 110).append("\" height=\"")
                .append(height).append("\" role=\"img\" aria-label=\"total relative error per method and width\">\n");
        int y = 10;
        for (Runs.Run r : runs) {
            double len = max > 0 ? width * r.relativeError() / max : 0;
            String color = COLORS[Math.floorMod(r.spec().bits() * 3, COLORS.length)];
            h.append(Units.f("<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s %d-bit</text>", left - 6, y + bar - 5,
                    esc(r.method()), r.spec().bits()));
            h.append(Units.f("<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>", left, y, len, bar, color));
            h.append(Units.f("<text x=\"%.1f\" y=\"%d\">%.3e</text>%n", left + len + 4, y + bar - 5, r.relativeError()));
            y += bar + 6;
        }
        h.append(Units.f("<line x1=\"%d\" y1=\"5\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>%n", left, left, y));
        h.append("</svg>\n");
    }

    /** One line per run over the layers, relative error on a log scale. */
    private static void layerChart(StringBuilder h, Weights w, List<Runs.Run> runs) {
        int n = w.matrices().size();
        int left = 70;
        int top = 10;
        int width = 900;
        int height = 320;
        double lo = Double.POSITIVE_INFINITY;
        double hi = 0;
        for (Runs.Run r : runs) {
            for (Runs.Layer l : r.layers()) {
                double e = l.relativeError();
                if (e > 0 && Double.isFinite(e)) {
                    lo = Math.min(lo, e);
                    hi = Math.max(hi, e);
                }
            }
        }
        if (!(hi > 0)) {
            return;
        }
        double l0 = Math.floor(Math.log10(lo));
        double l1 = Math.ceil(Math.log10(hi));
        if (l1 <= l0) {
            l1 = l0 + 1;
        }
        int legend = 22 * ((runs.size() + 3) / 4);
        h.append("<h2>Relative error per layer (log scale)</h2>\n<svg width=\"").append(left + width + 20)
                .append("\" height=\"").append(top + height + 40 + legend)
                .append("\" role=\"img\" aria-label=\"relative error per layer\">\n");
        for (int d = (int) l0; d <= (int) l1; d++) {
            double y = top + height * (l1 - d) / (l1 - l0);
            h.append(Units.f("<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>", left, y, left + width, y));
            h.append(Units.f("<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">1e%d</text>%n", left - 6, y + 4, d));
        }
        for (int i = 0; i < n; i += Math.max(1, n / 12)) {
            double x = left + (n == 1 ? width / 2.0 : width * i / (double) (n - 1));
            h.append(Units.f("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>", x, top + height + 16, i));
        }
        h.append(Units.f("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">layer #</text>%n", left + width / 2,
                top + height + 32));
        for (int k = 0; k < runs.size(); k++) {
            Runs.Run r = runs.get(k);
            String color = COLORS[k % COLORS.length];
            String dash = r.spec().bits() == runs.get(0).spec().bits() ? "" : " stroke-dasharray=\"5,3\"";
            StringBuilder pts = new StringBuilder();
            for (int i = 0; i < n; i++) {
                double e = r.layers().get(i).relativeError();
                double v = e > 0 && Double.isFinite(e) ? Math.log10(e) : l0;
                double x = left + (n == 1 ? width / 2.0 : width * i / (double) (n - 1));
                double y = top + height * (l1 - v) / (l1 - l0);
                pts.append(Units.f("%.1f,%.1f ", x, y));
            }
            h.append("<polyline fill=\"none\" stroke=\"").append(color).append("\" stroke-width=\"1.5\"").append(dash)
                    .append(" points=\"").append(pts.toString().trim()).append("\"><title>").append(esc(r.label()))
                    .append("</title></polyline>\n");
            int lx = left + (k % 4) * 220;
            int ly = top + height + 52 + (k / 4) * 22;
            h.append(Units.f("<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s/>", lx, ly - 4,
                    lx + 24, ly - 4, color, dash));
            h.append(Units.f("<text x=\"%d\" y=\"%d\">%s</text>%n", lx + 30, ly, esc(r.label())));
        }
        h.append("</svg>\n");
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}

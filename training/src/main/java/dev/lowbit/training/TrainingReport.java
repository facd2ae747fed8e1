package dev.lowbit.training;

import ai.djl.ndarray.NDManager;
import dev.lowbit.format.io.Json;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Several training runs side by side, read from their checkpoints (the configuration and the per-epoch history
 * that {@link Trainer} records in the metadata), as one self-contained HTML page: a table of the runs, and inline
 * SVG plots of AdaQAT's bit-widths over the epochs, of test accuracy against BitOPs, and of test accuracy per
 * epoch. The page loads nothing from anywhere.
 */
public final class TrainingReport {
    private TrainingReport() {
    }

    /** One run: its checkpoint file, its configuration and its finished epochs (at least one). */
    public record Run(Path file, Trainer.Config config, List<Trainer.Epoch> history) {
        public Run {
            history = List.copyOf(history);
            if (history.isEmpty()) {
                throw new IllegalArgumentException(file + ": no finished epoch in its training history");
            }
        }

        /** The file's name without {@code .safetensors}: how the plots name the run. */
        public String label() {
            String n = file.getFileName().toString();
            return n.toLowerCase(Locale.ROOT).endsWith(".safetensors") ? n.substring(0, n.length() - ".safetensors".length()) : n;
        }

        /** The last finished epoch. */
        public Trainer.Epoch last() {
            return history.get(history.size() - 1);
        }

        /** Training images per second, averaged over the epochs. */
        public double imagesPerSecond() {
            return history.stream().mapToDouble(Trainer.Epoch::imagesPerSecond).average().orElse(0);
        }

        /** The method as configured, with its nominal widths: {@code lsq W4A4}, {@code adaqat λ=0.5}, {@code fp32}. */
        public String methodLabel() {
            return switch (config.method()) {
                case "fp32" -> "fp32";
                case "adaqat" -> String.format(Locale.ROOT, "adaqat λ=%s", trim(config.adaqat().lambda()));
                default -> config.method() + " W" + config.wBits() + "A" + config.aBits();
            };
        }
    }

    /**
     * Reads the run in {@code checkpoint}.
     *
     * @throws IOException              if the file cannot be read or is not a sound checkpoint
     * @throws IllegalArgumentException if it holds no training configuration or no finished epoch
     */
    public static Run read(Path checkpoint) throws IOException {
        Checkpoint.Contents c = Checkpoint.read(checkpoint);
        String cfg = c.metadata().get(Trainer.KEY_CONFIG);
        if (cfg == null) {
            throw new IllegalArgumentException(checkpoint + " is not a training checkpoint (no " + Trainer.KEY_CONFIG + ")");
        }
        Trainer.Config config;
        try {
            config = Trainer.Config.fromJson(cfg);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(checkpoint + ": " + e.getMessage(), e);
        }
        String h = c.metadata().get(Trainer.KEY_HISTORY);
        if (h == null) {
            throw new IllegalArgumentException(checkpoint + ": no training history (" + Trainer.KEY_HISTORY + ")");
        }
        List<Trainer.Epoch> history = new ArrayList<>();
        try {
            for (Object e : (List<?>) Json.parseDocument(h)) {
                history.add(Trainer.Epoch.fromMap((Map<?, ?>) e));
            }
        } catch (java.text.ParseException | RuntimeException e) {
            throw new IllegalArgumentException(checkpoint + ": damaged training history: " + e.getMessage(), e);
        }
        return new Run(checkpoint, config, history);
    }

    // ------------------------------------------------------------------ the networks' shapes

    /** A model's quantized layers and its fp32 BitOPs per image. */
    private record Shape(List<Layer> layers, double fp32Bitops) {
    }

    private static final Map<String, Shape> SHAPES = new ConcurrentHashMap<>();

    private static Shape shape(String model) {
        return SHAPES.computeIfAbsent(model, k -> {
            try (NDManager m = Djl.newManager()) {
                Network n = Network.create(k, m, 0);
                return new Shape(List.copyOf(n.layers()), n.fp32Bitops());
            }
        });
    }

    /** BitOPs per image of the fp32 network of {@code model} ({@link Network#fp32Bitops()}). */
    public static double fp32Bitops(String model) {
        return shape(model).fp32Bitops();
    }

    // ------------------------------------------------------------------ numbers

    /** A count with a metric prefix and three significant digits: {@code 1.61 G}, {@code 412 M}, {@code 96.0 k}. */
    public static String metric(double v) {
        String[] prefixes = {"", " k", " M", " G", " T", " P"};
        int p = 0;
        double a = Math.abs(v);
        while (a >= 999.5 && p < prefixes.length - 1) {
            a /= 1000;
            v /= 1000;
            p++;
        }
        String digits = a >= 99.95 ? "%.0f" : a >= 9.995 ? "%.1f" : "%.2f";
        return String.format(Locale.ROOT, digits, v) + prefixes[p];
    }

    /**
     * A short name of a run's integer widths ({@link Trainer.Epoch#widths()}, {@code W/A} per layer): {@code fp32},
     * {@code W4A4 (first and last layers W8A8)} when the inner layers share one width, else the widths by layer.
     */
    public static String widthsLabel(String widths) {
        if (widths == null || widths.equals("fp32")) {
            return "fp32";
        }
        String[] t = widths.trim().split("\\s+");
        if (t.length > 2) {
            boolean same = true;
            for (int i = 1; i < t.length - 1; i++) {
                same &= t[i].equals(t[1]);
            }
            if (same) {
                String inner = wa(t[1]);
                String first = wa(t[0]);
                String last = wa(t[t.length - 1]);
                if (first.equals(inner) && last.equals(inner)) {
                    return inner;
                }
                return inner + (first.equals(last) ? " (first and last layers " + first + ")"
                        : " (first layer " + first + ", last " + last + ")");
            }
        }
        return widths.trim() + " (W/A by layer)";
    }

    private static String wa(String token) {
        int s = token.indexOf('/');
        return s < 0 ? token : "W" + token.substring(0, s) + "A" + token.substring(s + 1);
    }

    /** The integer widths {@code {w, a}} of each layer in an epoch's widths, or null for fp32 or a damaged string. */
    private static int[][] widthsByLayer(String widths) {
        if (widths == null || widths.equals("fp32")) {
            return null;
        }
        String[] t = widths.trim().split("\\s+");
        int[][] out = new int[t.length][];
        try {
            for (int i = 0; i < t.length; i++) {
                String[] p = t[i].split("/");
                out[i] = new int[] {Integer.parseInt(p[0]), Integer.parseInt(p[1])};
            }
        } catch (RuntimeException e) {
            return null;
        }
        return out;
    }

    private static String trim(double v) {
        String s = String.format(Locale.ROOT, "%.6g", v);
        if (s.contains("e")) {
            return s;
        }
        if (s.contains(".")) {
            s = s.replaceAll("0+$", "");
            s = s.endsWith(".") ? s.substring(0, s.length() - 1) : s;
        }
        return s;
    }

    private static String pct(double accuracy) {
        return String.format(Locale.ROOT, "%.2f%%", 100 * accuracy);
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    // ------------------------------------------------------------------ the page

    private static final String[] COLORS = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
            "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

    /** The colour of a method in the accuracy-BitOPs plot. */
    private static String methodColor(String method) {
        return switch (method) {
            case "lsq" -> COLORS[0];
            case "dorefa-pact" -> COLORS[1];
            case "adaqat" -> COLORS[2];
            default -> "#555555";
        };
    }

    /** Writes the page for {@code runs} to {@code path}, replacing it atomically. */
    public static void write(Path path, List<Run> runs) throws IOException {
        String page = html(runs);
        Path tmp = path.toAbsolutePath().resolveSibling("." + path.getFileName() + ".tmp");
        try {
            Files.writeString(tmp, page, StandardCharsets.UTF_8);
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** The page for {@code runs}, in the order given. */
    public static String html(List<Run> runs) {
        if (runs.isEmpty()) {
            throw new IllegalArgumentException("no run to report");
        }
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>lowbit training report</title>\n<style>\n")
                .append("body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}\n")
                .append("table{border-collapse:collapse;font-size:13px;margin:1em 0}\n")
                .append("td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\n")
                .append("td:first-child,th:first-child,td.l{text-align:left}\n")
                .append("th{background:#f3f3f3}\nsvg{font-size:12px;font-family:system-ui,sans-serif}\n")
                .append(".note{color:#555;font-size:13px}\n</style></head><body>\n");
        h.append("<h1>lowbit training report</h1>\n<p>").append(runs.size()).append(runs.size() == 1 ? " run" : " runs")
                .append(" of quantization-aware training on Fashion-MNIST (28×28 grey images, 10 classes).</p>\n");
        h.append("<p class=\"note\">BitOPs per image are Σ MACs·bits<sub>w</sub>·bits<sub>a</sub> over the quantized "
                + "layers at the final widths; the fp32 network counts 32×32 bits per multiply-add. Accuracy is top-1 on "
                + "the test images, with the running statistics.</p>\n");
        table(h, runs);
        accuracyBitopsPlot(h, runs);
        epochPlot(h, runs);
        for (Run r : runs) {
            if (r.config().method().equals("adaqat")) {
                widthsPlot(h, r);
            }
        }
        h.append("<p class=\"note\">Written by <code>lowbit train-report</code>.</p>\n</body></html>\n");
        return h.toString();
    }

    private static void table(StringBuilder h, List<Run> runs) {
        h.append("<h2>Runs</h2>\n<table><tr><th>run</th><th>model</th><th>method</th><th>final widths</th>"
                + "<th>epochs</th><th>test accuracy</th><th>best test accuracy</th><th>BitOPs per image</th>"
                + "<th>of fp32 BitOPs</th><th>training images/s</th><th>settings</th></tr>\n");
        for (Run r : runs) {
            Trainer.Config c = r.config();
            Trainer.Epoch e = r.last();
            double best = r.history().stream().mapToDouble(Trainer.Epoch::testAccuracy).max().orElse(0);
            double fp32 = fp32Bitops(c.model());
            h.append("<tr><td>").append(esc(r.label())).append("</td><td class=\"l\">").append(esc(c.model()))
                    .append("</td><td class=\"l\">").append(esc(r.methodLabel())).append("</td><td class=\"l\" title=\"")
                    .append(esc(e.widths())).append("\">").append(esc(widthsLabel(e.widths())))
                    .append(adaqatValues(r)).append("</td><td>")
                    .append(e.epoch()).append(" of ").append(c.epochs()).append("</td><td>").append(pct(e.testAccuracy()))
                    .append("</td><td>").append(pct(best)).append("</td><td>").append(metric(e.bitops()))
                    .append("</td><td>").append(String.format(Locale.ROOT, "1/%.1f", fp32 / e.bitops()))
                    .append("</td><td>").append(String.format(Locale.ROOT, "%.0f", r.imagesPerSecond()))
                    .append("</td><td class=\"l\">").append(esc(settings(c))).append("</td></tr>\n");
        }
        h.append("</table>\n");
    }

    /** AdaQAT's final relaxed widths, e.g. {@code ; N: w=3.42 a=4.07}. */
    private static String adaqatValues(Run r) {
        Map<String, Double> n = r.last().relaxed();
        if (n.isEmpty() || n.size() > 4) {
            return "";
        }
        StringBuilder b = new StringBuilder("; N:");
        n.forEach((k, v) -> b.append(' ').append(esc(k)).append('=').append(String.format(Locale.ROOT, "%.2f", v)));
        return b.toString();
    }

    private static String settings(Trainer.Config c) {
        StringBuilder b = new StringBuilder();
        b.append(c.optimizer().name().toLowerCase(Locale.ROOT)).append(" lr ").append(trim(c.lr()))
                .append(", weight decay ").append(trim(c.weightDecay())).append(", batch ").append(c.batch())
                .append(", seed ").append(c.seed()).append(", ")
                .append(c.trainImages() == 0 ? FashionMnist.TRAIN_SIZE : c.trainImages()).append(" training and ")
                .append(c.testImages() == 0 ? FashionMnist.TEST_SIZE : c.testImages()).append(" test images")
                .append(c.augment() ? ", augmented" : "");
        if (c.adaqat() != null) {
            AdaQat.Config a = c.adaqat();
            b.append("; AdaQAT ").append(a.perLayer() ? "per layer" : "per network").append(", λ ").append(trim(a.lambda()))
                    .append(", η_N ").append(trim(a.rate())).append(", N0 ").append(trim(a.initial())).append(", E ")
                    .append(a.stableEpochs()).append(", D ").append(a.discretize().name().toLowerCase(Locale.ROOT));
        }
        return b.toString();
    }

    // ------------------------------------------------------------------ plots

    /** Test accuracy against BitOPs (log scale): a point per run, fixed-width methods joined, fp32 as a line. */
    private static void accuracyBitopsPlot(StringBuilder h, List<Run> runs) {
        List<Run> quantized = runs.stream().filter(r -> !r.config().method().equals("fp32")).toList();
        List<Run> fp32 = runs.stream().filter(r -> r.config().method().equals("fp32")).toList();
        double lo = Double.POSITIVE_INFINITY;
        double hi = 0;
        for (Run r : quantized) {
            lo = Math.min(lo, r.last().bitops());
            hi = Math.max(hi, r.last().bitops());
        }
        if (quantized.isEmpty()) {
            lo = hi = fp32Bitops(runs.get(0).config().model()) / 64;
        }
        double accLo = 1;
        double accHi = 0;
        for (Run r : runs) {
            accLo = Math.min(accLo, r.last().testAccuracy());
            accHi = Math.max(accHi, r.last().testAccuracy());
        }
        Svg svg = new Svg(1000);
        Panel p = svg.panel(80, 20, 620, 340);
        p.logX(lo, hi);
        p.linearY(100 * accLo, 100 * accHi, 0, 100);
        p.axes("BitOPs per image (log scale)", "test accuracy (%)", (q, v) -> metric(v).replaceAll("\\.0+(?=\\s|$)", ""), Panel::fixed);
        int legendX = 720;
        int legendY = 30;
        // Fixed-width methods: a curve per model and method, through its runs in order of BitOPs.
        Map<String, List<Run>> curves = new LinkedHashMap<>();
        for (Run r : quantized) {
            if (!r.config().method().equals("adaqat")) {
                curves.computeIfAbsent(r.config().model() + " " + r.config().method(), k -> new ArrayList<>()).add(r);
            }
        }
        int dash = 0;
        for (Map.Entry<String, List<Run>> c : curves.entrySet()) {
            List<Run> rs = new ArrayList<>(c.getValue());
            rs.sort(Comparator.comparingDouble(r -> r.last().bitops()));
            String color = methodColor(rs.get(0).config().method());
            String style = dash++ < 2 ? "" : "4,3";
            List<double[]> pts = new ArrayList<>();
            for (Run r : rs) {
                pts.add(new double[] {r.last().bitops(), 100 * r.last().testAccuracy()});
            }
            p.line(pts, color, style, 2, esc(c.getKey()));
            svg.legend(legendX, legendY, color, style, false, esc(c.getKey()));
            legendY += 20;
        }
        boolean anyAdaqat = false;
        for (Run r : quantized) {
            boolean ada = r.config().method().equals("adaqat");
            anyAdaqat |= ada;
            p.point(r.last().bitops(), 100 * r.last().testAccuracy(), methodColor(r.config().method()), ada, r.label(),
                    esc(r.label() + " (" + r.config().model() + " " + r.methodLabel() + "): " + pct(r.last().testAccuracy())
                            + " at " + metric(r.last().bitops()) + " BitOPs, " + widthsLabel(r.last().widths())));
        }
        if (anyAdaqat) {
            svg.legend(legendX, legendY, methodColor("adaqat"), "", true, "AdaQAT (learned widths)");
            legendY += 20;
        }
        for (Run r : fp32) {
            double y = 100 * r.last().testAccuracy();
            String text = r.label() + " (" + r.config().model() + " fp32): " + pct(r.last().testAccuracy());
            p.hline(y, methodColor("fp32"), "6,4", r.label(), esc(text));
            svg.legend(legendX, legendY, methodColor("fp32"), "6,4", false, esc(r.config().model() + " fp32 " + pct(r.last().testAccuracy())));
            legendY += 20;
        }
        h.append("<h2>Test accuracy against BitOPs</h2>\n");
        h.append(svg.render("test accuracy against BitOPs per image", Math.max(400, legendY + 10)));
        h.append("<p class=\"note\">One point per run at its final widths and final test accuracy. LSQ and DoReFa+PACT "
                + "runs of one model are joined in order of BitOPs; AdaQAT runs are diamonds; a dashed horizontal line "
                + "is the accuracy of an fp32 run.</p>\n");
    }

    /** Test accuracy after each epoch, a line per run. */
    private static void epochPlot(StringBuilder h, List<Run> runs) {
        int maxEpoch = 1;
        double lo = 1;
        double hi = 0;
        for (Run r : runs) {
            for (Trainer.Epoch e : r.history()) {
                maxEpoch = Math.max(maxEpoch, e.epoch());
                lo = Math.min(lo, e.testAccuracy());
                hi = Math.max(hi, e.testAccuracy());
            }
        }
        Svg svg = new Svg(1000);
        Panel p = svg.panel(80, 20, 620, 340);
        p.epochX(maxEpoch);
        p.linearY(100 * lo, 100 * hi, 0, 100);
        p.axes("epoch", "test accuracy (%)", Panel::integer, Panel::fixed);
        int legendY = 30;
        for (int k = 0; k < runs.size(); k++) {
            Run r = runs.get(k);
            String color = COLORS[k % COLORS.length];
            String style = k < COLORS.length ? "" : "4,3";
            List<double[]> pts = new ArrayList<>();
            for (Trainer.Epoch e : r.history()) {
                pts.add(new double[] {e.epoch(), 100 * e.testAccuracy()});
            }
            String name = esc(r.label() + " (" + r.config().model() + " " + r.methodLabel() + ")");
            p.line(pts, color, style, 1.8, name, r.label());
            if (pts.size() == 1) {
                p.point(pts.get(0)[0], pts.get(0)[1], color, false, r.label(), name);
            }
            svg.legend(720, legendY, color, style, false, esc(r.label()));
            legendY += 20;
        }
        h.append("<h2>Test accuracy per epoch</h2>\n");
        h.append(svg.render("test accuracy per epoch", Math.max(400, legendY + 10)));
    }

    /** AdaQAT's relaxed widths N and integer widths over the epochs: weights and activations side by side. */
    private static void widthsPlot(StringBuilder h, Run r) {
        AdaQat.Config a = r.config().adaqat();
        List<Layer> layers = shape(r.config().model()).layers();
        // The variables, in the order of the first epoch's map, split into weights and activations.
        List<String> wVars = new ArrayList<>();
        List<String> aVars = new ArrayList<>();
        for (String v : r.history().get(0).relaxed().keySet()) {
            (v.startsWith("a") ? aVars : wVars).add(v);
        }
        int maxEpoch = r.last().epoch();
        Svg svg = new Svg(1000);
        Panel pw = svg.panel(70, 40, 400, 300);
        Panel pa = svg.panel(560, 40, 400, 300);
        svg.text(70 + 200, 24, "middle", "weights: N<tspan baseline-shift=\"sub\" font-size=\"9\">w</tspan>");
        svg.text(560 + 200, 24, "middle", "activations: N<tspan baseline-shift=\"sub\" font-size=\"9\">a</tspan>");
        for (Panel p : List.of(pw, pa)) {
            p.epochX(Math.max(1, maxEpoch), 0);
            p.fixedY(LayerQuantizer.MIN_BITS - 0.25, LayerQuantizer.MAX_BITS + 0.25, LayerQuantizer.MIN_BITS,
                    LayerQuantizer.MAX_BITS, 1);
            p.axes("epoch", "bit-width (bits)", Panel::integer, Panel::integer);
        }
        boolean perLayer = a.perLayer();
        List<String> names = new ArrayList<>();
        for (List<String> vars : List.of(wVars, aVars)) {
            for (String v : vars) {
                String n = perLayer && v.length() > 2 ? v.substring(2) : v;
                if (!names.contains(n)) {
                    names.add(n);
                }
            }
        }
        for (List<String> vars : List.of(wVars, aVars)) {
            Panel p = vars == wVars ? pw : pa;
            for (String v : vars) {
                String n = perLayer && v.length() > 2 ? v.substring(2) : v;
                String color = names.size() <= COLORS.length ? COLORS[names.indexOf(n) % COLORS.length]
                        : hue(names.indexOf(n), names.size());
                int layer = layerOf(v, layers, perLayer);
                List<double[]> relaxed = new ArrayList<>();
                List<double[]> integer = new ArrayList<>();
                relaxed.add(new double[] {0, a.initial()});
                int prev = clampBits(a.discretize().apply(a.initial()));
                integer.add(new double[] {0, prev});
                for (Trainer.Epoch e : r.history()) {
                    Double value = e.relaxed().get(v);
                    if (value == null) {
                        continue;
                    }
                    relaxed.add(new double[] {e.epoch(), value});
                    int w = clampBits(a.discretize().apply(value));
                    int[][] by = widthsByLayer(e.widths());
                    if (layer >= 0 && by != null && layer < by.length) {
                        w = v.startsWith("a") ? by[layer][1] : by[layer][0];
                    }
                    integer.add(new double[] {e.epoch(), prev}); // a step: the width held until the epoch's end
                    integer.add(new double[] {e.epoch(), w});
                    prev = w;
                }
                p.line(integer, color, "4,3", 1.2, esc(v + ": integer width"));
                p.line(relaxed, color, "", 1.8, esc(v + ": relaxed N"), r.label() + ":" + v);
            }
        }
        int legendTop = 40 + 300 + 60;
        int y = legendTop;
        svg.legend(70, y, "#333", "", false, "relaxed N (end of each epoch; epoch 0: N0)");
        svg.legend(420, y, "#333", "4,3", false, "integer width in use: D(N), or the width a variable froze at");
        y += 24;
        int cols = perLayer ? 5 : 2;
        for (int i = 0; i < names.size(); i++) {
            String n = names.get(i);
            String color = names.size() <= COLORS.length ? COLORS[i % COLORS.length] : hue(i, names.size());
            String label = perLayer ? n : (n.equals("w") ? "N_w (weights of the inner layers)" : n.equals("a")
                    ? "N_a (inputs of the inner layers)" : n);
            svg.legend(70 + (i % cols) * (900 / cols), y + (i / cols) * 20, color, "", false, esc(label));
        }
        y += 20 * ((names.size() + cols - 1) / cols);
        h.append("<h2>AdaQAT bit-widths: ").append(esc(r.label())).append("</h2>\n");
        h.append(svg.render("AdaQAT bit-widths of " + esc(r.label()) + " over the epochs", y + 10));
        h.append("<p class=\"note\">").append(esc(r.label())).append(": ").append(esc(r.config().model())).append(", ")
                .append(perLayer ? "one pair of widths per layer" : "one pair of widths for the network (first and last "
                        + "layers at W8A8)").append(", λ ").append(trim(a.lambda())).append(". Final widths ")
                .append(esc(widthsLabel(r.last().widths()))).append(".</p>\n");
    }

    /** The layer whose widths a variable sets (the first of its layers), or -1. */
    private static int layerOf(String variable, List<Layer> layers, boolean perLayer) {
        int n = layers.size();
        boolean weights = !variable.startsWith("a");
        if (perLayer) {
            String name = variable.length() > 2 ? variable.substring(2) : "";
            for (Layer l : layers) {
                if (l.name().equals(name)) {
                    return l.index();
                }
            }
            return -1;
        }
        if (n > 2) {
            return 1;
        }
        // a two-layer network: both layers learn; the first layer's input is the 8-bit image
        return weights ? 0 : n - 1;
    }

    private static int clampBits(int b) {
        return Math.max(LayerQuantizer.MIN_BITS, Math.min(LayerQuantizer.MAX_BITS, b));
    }

    /** Colour {@code i} of {@code n} around the colour wheel, as {@code #rrggbb}. */
    private static String hue(int i, int n) {
        double h = 300.0 * i / Math.max(1, n - 1);
        double s = 0.75;
        double v = 0.8;
        double c = v * s;
        double x = c * (1 - Math.abs((h / 60) % 2 - 1));
        double m = v - c;
        double[] rgb = switch ((int) (h / 60)) {
            case 0 -> new double[] {c, x, 0};
            case 1 -> new double[] {x, c, 0};
            case 2 -> new double[] {0, c, x};
            case 3 -> new double[] {0, x, c};
            case 4 -> new double[] {x, 0, c};
            default -> new double[] {c, 0, x};
        };
        return String.format(Locale.ROOT, "#%02x%02x%02x", Math.round(255 * (rgb[0] + m)), Math.round(255 * (rgb[1] + m)),
                Math.round(255 * (rgb[2] + m)));
    }

    /** One inline SVG: panels, legend entries, text. */
    static final class Svg {
        private final int width;
        private final StringBuilder body = new StringBuilder();

        Svg(int width) {
            this.width = width;
        }

        Panel panel(int left, int top, int w, int h) {
            return new Panel(body, left, top, w, h);
        }

        void text(double x, double y, String anchor, String xml) {
            body.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s</text>%n", x, y, anchor, xml));
        }

        /** A legend entry: a line (or a marker) and its text, {@code xml} already escaped. */
        void legend(int x, int y, String color, String dash, boolean marker, String xml) {
            if (marker) {
                body.append(String.format(Locale.ROOT, "<polygon points=\"%d,%d %d,%d %d,%d %d,%d\" fill=\"%s\" stroke=\"#222\"/>",
                        x + 12, y - 10, x + 18, y - 4, x + 12, y + 2, x + 6, y - 4, color));
            } else {
                body.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s/>",
                        x, y - 4, x + 24, y - 4, color, dash.isEmpty() ? "" : " stroke-dasharray=\"" + dash + "\""));
            }
            body.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">%s</text>%n", x + 30, y, xml));
        }

        String render(String ariaLabel, int height) {
            return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + width + "\" height=\"" + height
                    + "\" viewBox=\"0 0 " + width + " " + height + "\" role=\"img\" aria-label=\"" + ariaLabel + "\">\n"
                    + body + "</svg>\n";
        }
    }

    /** A plot area with its axes: linear or logarithmic x, linear y. */
    static final class Panel {
        private final StringBuilder out;
        private final int left;
        private final int top;
        private final int w;
        private final int h;
        private boolean logX;
        private double x0;
        private double x1;
        private double y0;
        private double y1;
        private final List<Double> xTicks = new ArrayList<>();
        private final List<Double> yTicks = new ArrayList<>();
        private double yStep = 1;

        Panel(StringBuilder out, int left, int top, int w, int h) {
            this.out = out;
            this.left = left;
            this.top = top;
            this.w = w;
            this.h = h;
        }

        /** Epochs {@code first..last} on x, whole numbers. */
        void epochX(int last) {
            epochX(last, 1);
        }

        void epochX(int last, int first) {
            x0 = first - (last == first ? 0.5 : 0);
            x1 = last + (last == first ? 0.5 : 0);
            double step = Math.max(1, Math.ceil(niceStep((last - first) / 8.0)));
            for (double t = first; t <= last + 1e-9; t += step) {
                xTicks.add(t);
            }
        }

        /** A logarithmic x axis from a decade at or below {@code lo} to a decade at or above {@code hi}. */
        void logX(double lo, double hi) {
            logX = true;
            double d0 = Math.floor(Math.log10(lo) - 0.05);
            double d1 = Math.ceil(Math.log10(hi) + 0.05);
            if (d1 <= d0) {
                d1 = d0 + 1;
            }
            x0 = d0;
            x1 = d1;
            for (int d = (int) d0; d <= (int) d1; d++) {
                xTicks.add(Math.pow(10, d));
                if (d1 - d0 <= 2 && d < d1) {
                    xTicks.add(2 * Math.pow(10, d));
                    xTicks.add(5 * Math.pow(10, d));
                }
            }
        }

        /** A linear y axis over {@code [lo, hi]} with some margin and round ticks, within {@code [min, max]}. */
        void linearY(double lo, double hi, double min, double max) {
            double span = hi - lo;
            if (span < 1e-9) {
                span = Math.max(1, Math.abs(hi) * 0.02);
                lo -= span / 2;
                hi += span / 2;
            }
            double step = niceStep(span / 5);
            double a = Math.max(min, Math.floor((lo - 0.1 * span) / step) * step);
            double b = Math.min(max, Math.ceil((hi + 0.1 * span) / step) * step);
            fixedY(a, b, a, b, step);
        }

        void fixedY(double lo, double hi, double firstTick, double lastTick, double step) {
            y0 = lo;
            y1 = hi;
            yStep = step;
            for (double t = firstTick; t <= lastTick + step * 1e-6; t += step) {
                yTicks.add(Math.abs(t) < step * 1e-9 ? 0 : t);
            }
        }

        static double niceStep(double raw) {
            if (!(raw > 0)) {
                return 1;
            }
            double p = Math.pow(10, Math.floor(Math.log10(raw)));
            double f = raw / p;
            return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
        }

        double px(double x) {
            double v = logX ? Math.log10(x) : x;
            return left + w * (v - x0) / (x1 - x0);
        }

        double py(double y) {
            return top + h * (y1 - y) / (y1 - y0);
        }

        interface Format {
            String apply(Panel p, double v);
        }

        static String integer(Panel p, double v) {
            return String.format(Locale.ROOT, "%d", Math.round(v));
        }

        /** Enough decimals for the axis's step. */
        static String fixed(Panel p, double v) {
            int decimals = p.yStep >= 1 ? 0 : (int) Math.ceil(-Math.log10(p.yStep) - 1e-9);
            return String.format(Locale.ROOT, "%." + decimals + "f", v);
        }

        /** The frame, the grid, the ticks and the axes' labels. */
        void axes(String xLabel, String yLabel, Format xFormat, Format yFormat) {
            for (double t : yTicks) {
                double y = py(t);
                out.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>",
                        left, y, left + w, y));
                out.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>%n", left - 6,
                        y + 4, esc(yFormat.apply(this, t))));
            }
            for (double t : xTicks) {
                double x = px(t);
                out.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e4e4e4\"/>",
                        x, top, x, top + h));
                out.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>%n", x,
                        top + h + 16, esc(xFormat.apply(this, t))));
            }
            out.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>%n",
                    left, top, w, h));
            out.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>%n", left + w / 2,
                    top + h + 36, esc(xLabel)));
            out.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 %d %d)\">%s</text>%n",
                    left - 48, top + h / 2, left - 48, top + h / 2, esc(yLabel)));
        }

        /** A polyline through {@code pts} (data coordinates); {@code title} already escaped. */
        void line(List<double[]> pts, String color, String dash, double width, String title) {
            line(pts, color, dash, width, title, null);
        }

        void line(List<double[]> pts, String color, String dash, double width, String title, String run) {
            StringBuilder p = new StringBuilder();
            for (double[] v : pts) {
                p.append(String.format(Locale.ROOT, "%.1f,%.1f ", px(v[0]), py(v[1])));
            }
            out.append("<polyline fill=\"none\" stroke=\"").append(color).append("\" stroke-width=\"")
                    .append(String.format(Locale.ROOT, "%.1f", width)).append('"')
                    .append(dash.isEmpty() ? "" : " stroke-dasharray=\"" + dash + "\"")
                    .append(run == null ? "" : " data-run=\"" + esc(run) + "\"")
                    .append(" points=\"").append(p.toString().trim()).append("\"><title>").append(title)
                    .append("</title></polyline>\n");
        }

        /** A marker at {@code (x, y)}: a circle, or a diamond; {@code title} already escaped. */
        void point(double x, double y, String color, boolean diamond, String run, String title) {
            out.append(String.format(Locale.ROOT, "<g class=\"point\" data-run=\"%s\" transform=\"translate(%.1f,%.1f)\">",
                    esc(run), px(x), py(y)));
            out.append(diamond ? "<polygon points=\"0,-7 7,0 0,7 -7,0\" fill=\"" + color + "\" stroke=\"#222\"/>"
                    : "<circle r=\"4.5\" fill=\"" + color + "\" stroke=\"#222\"/>");
            out.append("<title>").append(title).append("</title></g>\n");
        }

        /** A horizontal reference line across the panel, labelled at its right end. */
        void hline(double y, String color, String dash, String run, String title) {
            double py = py(y);
            out.append(String.format(Locale.ROOT, "<line class=\"reference\" data-run=\"%s\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" "
                    + "y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"%s\"><title>%s</title></line>%n",
                    esc(run), left, py, left + w, py, color, dash, title));
        }
    }
}

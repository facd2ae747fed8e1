package dev.lowbit.training;

import dev.lowbit.format.io.Json;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

import javax.xml.parsers.DocumentBuilderFactory;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The training report on synthetic runs written as checkpoints: its numbers, its SVG, the placing of the points. */
class TrainingReportTest {
    @TempDir
    static Path dir;

    static final Trainer.Config BASE = new Trainer.Config("resnet20", "fp32", 0, 0, Optim.Kind.SGD, 0.1f, 5e-4f, 3, 128,
            1, 0, 0, true, null);

    static Trainer.Config config(String model, String method, int w, int a, AdaQat.Config q) {
        return new Trainer.Config(model, method, w, a, BASE.optimizer(), BASE.lr(), BASE.weightDecay(), BASE.epochs(),
                BASE.batch(), BASE.seed(), BASE.trainImages(), BASE.testImages(), BASE.augment(), q);
    }

    /** An inner-layer widths string of ResNet-20: the first and last layers at 8/8. */
    static String resnetWidths(int w, int a) {
        StringBuilder b = new StringBuilder("8/8");
        for (int i = 1; i < 19; i++) {
            b.append(' ').append(w).append('/').append(a);
        }
        return b.append(" 8/8").toString();
    }

    static Trainer.Epoch epoch(int e, double acc, double bitops, String widths, Map<String, Double> relaxed) {
        return new Trainer.Epoch(e, 1.0 / e, acc - 0.02, acc, 1000 + e, bitops, widths, relaxed);
    }

    /** Writes a checkpoint holding {@code history} the way {@link Trainer#save} records it. */
    static Path write(String name, Trainer.Config c, List<Trainer.Epoch> history) throws IOException {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put(Trainer.KEY_CONFIG, c.toJson());
        meta.put(Trainer.KEY_EPOCH, Integer.toString(history.size()));
        List<Object> h = new ArrayList<>();
        for (Trainer.Epoch e : history) {
            h.add(e.toMap());
        }
        meta.put(Trainer.KEY_HISTORY, Json.write(h));
        Path p = dir.resolve(name + ".safetensors");
        Checkpoint.write(p, Map.of("fc.weight", Checkpoint.Tensor.of(new float[] {1, 2, 3})), meta);
        return p;
    }

    static final double FP32 = 1024.0 * 1e6; // not the real count: the table's ratio is checked against fp32Bitops
    static List<TrainingReport.Run> runs;
    static String html;

    @BeforeAll
    static void runs() throws IOException {
        List<Path> files = new ArrayList<>();
        files.add(write("fp32", BASE, List.of(epoch(1, 0.80, FP32, "fp32", Map.of()), epoch(2, 0.88, FP32, "fp32", Map.of()),
                epoch(3, 0.9125, FP32, "fp32", Map.of()))));
        files.add(write("lsq-w4a4", config("resnet20", "lsq", 4, 4, null), List.of(epoch(1, 0.78, 4e8, resnetWidths(4, 4), Map.of()),
                epoch(2, 0.86, 4e8, resnetWidths(4, 4), Map.of()), epoch(3, 0.9012, 4e8, resnetWidths(4, 4), Map.of()))));
        files.add(write("lsq-w2a2", config("resnet20", "lsq", 2, 2, null), List.of(epoch(1, 0.70, 1.2e8, resnetWidths(2, 2), Map.of()),
                epoch(2, 0.80, 1.2e8, resnetWidths(2, 2), Map.of()), epoch(3, 0.8533, 1.2e8, resnetWidths(2, 2), Map.of()))));
        files.add(write("dorefa-w3a3", config("resnet20", "dorefa-pact", 3, 3, null), List.of(epoch(1, 0.75, 2.4e8,
                resnetWidths(3, 3), Map.of()), epoch(2, 0.8711, 2.4e8, resnetWidths(3, 3), Map.of()))));
        AdaQat.Config q = AdaQat.Config.defaults(0.5f);
        files.add(write("adaqat", config("resnet20", "adaqat", 0, 0, q), List.of(
                epoch(1, 0.77, 9e8, resnetWidths(7, 8), relaxed("w", 6.6, "a", 7.2)),
                epoch(2, 0.84, 5e8, resnetWidths(5, 6), relaxed("w", 4.5, "a", 5.9)),
                epoch(3, 0.8877, 3e8, resnetWidths(4, 5), relaxed("w", 3.2, "a", 4.4)))));
        AdaQat.Config pl = new AdaQat.Config(true, 0.1f, 0.02f, 8f, 2, AdaQat.Discretize.ROUND);
        files.add(write("mlp-adaqat", config("mlp", "adaqat", 0, 0, pl), List.of(
                epoch(1, 0.70, 6e6, "7/8 8/8", relaxed("w.fc1", 7.4, "w.fc2", 7.8, "a.fc2", 7.6)),
                epoch(2, 0.75, 5e6, "6/8 7/7", relaxed("w.fc1", 6.2, "w.fc2", 7.1, "a.fc2", 6.9)))));
        runs = new ArrayList<>();
        for (Path f : files) {
            runs.add(TrainingReport.read(f));
        }
        Path page = dir.resolve("report.html");
        TrainingReport.write(page, runs);
        html = Files.readString(page);
    }

    static Map<String, Double> relaxed(Object... kv) {
        Map<String, Double> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], (Double) kv[i + 1]);
        }
        return m;
    }

    @Test
    void readsTheRuns() {
        assertEquals(6, runs.size());
        TrainingReport.Run lsq = runs.get(1);
        assertEquals("lsq-w4a4", lsq.label());
        assertEquals("lsq W4A4", lsq.methodLabel());
        assertEquals(3, lsq.history().size());
        assertEquals(0.9012, lsq.last().testAccuracy(), 1e-12);
        assertEquals(Map.of("w", 3.2, "a", 4.4), runs.get(4).last().relaxed());
        assertEquals("adaqat λ=0.5", runs.get(4).methodLabel());
    }

    @Test
    void theTableHoldsTheRunsNumbers() {
        double fp32 = TrainingReport.fp32Bitops("resnet20");
        assertTrue(fp32 > 1e9, "ResNet-20 on 28×28 images: some 40M multiply-adds, " + fp32);
        for (String s : new String[] {"91.25%", "90.12%", "85.33%", "87.11%", "88.77%", "75.00%", "fp32", "lsq W4A4",
                "dorefa-pact W3A3", "adaqat λ=0.5", "W4A4 (first and last layers W8A8)", "W4A5 (first and last layers W8A8)",
                "400 M", "120 M", "300 M", "3 of 3", "2 of 3", "N: w=3.20 a=4.40",
                String.format(Locale.ROOT, "1/%.1f", fp32 / 4e8), String.format(Locale.ROOT, "1/%.1f", fp32 / 1.2e8),
                "per layer, λ 0.1, η_N 0.02, N0 8, E 2, D round", "sgd lr 0.1, weight decay 0.0005, batch 128"}) {
            assertTrue(html.contains(s), s);
        }
        assertFalse(html.contains("<script") || html.contains(" src=") || html.contains("href="), "self-contained");
    }

    @Test
    void formats() {
        assertEquals("1.61 G", TrainingReport.metric(1.6123e9));
        assertEquals("412 M", TrainingReport.metric(4.12e8));
        assertEquals("96.0 k", TrainingReport.metric(96_000));
        assertEquals("512", TrainingReport.metric(512));
        assertEquals("1.00 M", TrainingReport.metric(999_999));
        assertEquals("fp32", TrainingReport.widthsLabel("fp32"));
        assertEquals("W4A4", TrainingReport.widthsLabel("4/4 4/4 4/4"));
        assertEquals("W2A3 (first layer W8A8, last W4A4)", TrainingReport.widthsLabel("8/8 2/3 2/3 4/4"));
        assertEquals("8/8 3/4 2/4 8/8 (W/A by layer)", TrainingReport.widthsLabel("8/8 3/4 2/4 8/8"));
        assertEquals("8/8 8/8 (W/A by layer)", TrainingReport.widthsLabel("8/8 8/8"));
    }

    /** Every {@code <svg>...</svg>} of the page, parsed. */
    static List<Document> svgs() throws Exception {
        List<Document> out = new ArrayList<>();
        Matcher m = Pattern.compile("(?s)<svg .*?</svg>").matcher(html);
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(true);
        while (m.find()) {
            out.add(f.newDocumentBuilder().parse(new ByteArrayInputStream(m.group().getBytes(StandardCharsets.UTF_8))));
        }
        return out;
    }

    @Test
    void oneWellFormedSvgPerPlot() throws Exception {
        List<Document> svgs = svgs();
        // accuracy against BitOPs, accuracy per epoch, and one per AdaQAT run
        assertEquals(4, svgs.size());
        assertEquals(svgs.size(), html.split("<svg ", -1).length - 1);
        for (Document d : svgs) {
            assertEquals("http://www.w3.org/2000/svg", d.getDocumentElement().getNamespaceURI());
            String text = d.getDocumentElement().getTextContent();
            assertTrue(text.contains("epoch") || text.contains("BitOPs"), text);
        }
        String[] axes = {"BitOPs per image (log scale)", "test accuracy (%)", "epoch", "bit-width (bits)"};
        for (String a : axes) {
            assertTrue(html.contains(">" + a + "</text>"), a);
        }
    }

    static double[] translate(Element g) {
        Matcher m = Pattern.compile("translate\\(([-\\d.]+),([-\\d.]+)\\)").matcher(g.getAttribute("transform"));
        assertTrue(m.matches(), g.getAttribute("transform"));
        return new double[] {Double.parseDouble(m.group(1)), Double.parseDouble(m.group(2))};
    }

    static List<double[]> points(Element polyline) {
        List<double[]> out = new ArrayList<>();
        for (String p : polyline.getAttribute("points").trim().split("\\s+")) {
            String[] xy = p.split(",");
            out.add(new double[] {Double.parseDouble(xy[0]), Double.parseDouble(xy[1])});
        }
        return out;
    }

    static Element byRun(Document d, String tag, String run) {
        NodeList n = d.getElementsByTagNameNS("*", tag);
        for (int i = 0; i < n.getLength(); i++) {
            Element e = (Element) n.item(i);
            if (e.getAttribute("data-run").equals(run)) {
                return e;
            }
        }
        throw new AssertionError("no " + tag + " of " + run);
    }

    @Test
    void accuracyAgainstBitopsPlacesThePointsByTheirValues() throws Exception {
        Document d = svgs().get(0);
        List<TrainingReport.Run> quantized = runs.stream().filter(r -> !r.config().method().equals("fp32")).toList();
        for (TrainingReport.Run a : quantized) {
            double[] pa = translate(byRun(d, "g", a.label()));
            for (TrainingReport.Run b : quantized) {
                double[] pb = translate(byRun(d, "g", b.label()));
                assertEquals(Double.compare(a.last().bitops(), b.last().bitops()), Double.compare(pa[0], pb[0]),
                        a.label() + " and " + b.label() + " along BitOPs");
                assertEquals(Double.compare(a.last().testAccuracy(), b.last().testAccuracy()), -Double.compare(pa[1], pb[1]),
                        a.label() + " and " + b.label() + " along accuracy");
            }
        }
        // log scale: 1.2e8, 4e8 and 1e9 apart by their logarithms
        double x12 = translate(byRun(d, "g", "lsq-w2a2"))[0];
        double x40 = translate(byRun(d, "g", "lsq-w4a4"))[0];
        double x30 = translate(byRun(d, "g", "adaqat"))[0];
        assertEquals(Math.log(4e8 / 3e8) / Math.log(3e8 / 1.2e8), (x40 - x30) / (x30 - x12), 0.02);
        // AdaQAT is a diamond, the others circles
        assertEquals("polygon", ((Element) byRun(d, "g", "adaqat").getElementsByTagNameNS("*", "polygon").item(0)).getLocalName());
        assertEquals(1, byRun(d, "g", "lsq-w4a4").getElementsByTagNameNS("*", "circle").getLength());
        // the fp32 reference above every point (it is the most accurate run here)
        Element ref = byRun(d, "line", "fp32");
        double yRef = Double.parseDouble(ref.getAttribute("y1"));
        for (TrainingReport.Run r : quantized) {
            assertTrue(yRef < translate(byRun(d, "g", r.label()))[1], r.label());
        }
        // the LSQ curve joins its two runs in order of BitOPs
        NodeList lines = d.getElementsByTagNameNS("*", "polyline");
        boolean found = false;
        for (int i = 0; i < lines.getLength(); i++) {
            Element l = (Element) lines.item(i);
            if (l.getTextContent().equals("resnet20 lsq")) {
                List<double[]> p = points(l);
                assertEquals(2, p.size());
                assertEquals(x12, p.get(0)[0], 0.11);
                assertEquals(x40, p.get(1)[0], 0.11);
                found = true;
            }
        }
        assertTrue(found, "an LSQ curve");
    }

    @Test
    void accuracyPerEpochFollowsEachRun() throws Exception {
        Document d = svgs().get(1);
        List<double[]> all = new ArrayList<>();
        List<Double> values = new ArrayList<>();
        for (TrainingReport.Run r : runs) {
            List<double[]> p = points(byRun(d, "polyline", r.label()));
            assertEquals(r.history().size(), p.size(), r.label());
            for (int i = 0; i < p.size(); i++) {
                all.add(p.get(i));
                values.add(r.history().get(i).testAccuracy());
                if (i > 0) {
                    assertTrue(p.get(i)[0] > p.get(i - 1)[0], "epochs from left to right");
                }
            }
        }
        for (int i = 0; i < all.size(); i++) {
            for (int j = 0; j < all.size(); j++) {
                assertEquals(Double.compare(values.get(i), values.get(j)), -Double.compare(all.get(i)[1], all.get(j)[1]),
                        "higher accuracy, higher on the page");
            }
        }
    }

    @Test
    void adaqatWidthsOverTheEpochs() throws Exception {
        List<Document> svgs = svgs();
        Document d = svgs.get(2);
        assertTrue(html.contains("AdaQAT bit-widths: adaqat</h2>"));
        List<double[]> w = points(byRun(d, "polyline", "adaqat:w"));
        List<double[]> a = points(byRun(d, "polyline", "adaqat:a"));
        assertEquals(4, w.size(), "N0 and three epochs");
        double[] wn = {8, 6.6, 4.5, 3.2};
        double[] an = {8, 7.2, 5.9, 4.4};
        List<double[]> both = new ArrayList<>(w);
        both.addAll(a);
        double[] values = new double[8];
        System.arraycopy(wn, 0, values, 0, 4);
        System.arraycopy(an, 0, values, 4, 4);
        for (int i = 0; i < 8; i++) {
            for (int j = 0; j < 8; j++) {
                assertEquals(Double.compare(values[i], values[j]), -Double.compare(both.get(i)[1], both.get(j)[1]),
                        "wider, higher");
            }
        }
        // bits are linear: 8 → 6.6 → 4.5 spaced by their differences
        assertEquals((8 - 6.6) / (6.6 - 4.5), (w.get(1)[1] - w.get(0)[1]) / (w.get(2)[1] - w.get(1)[1]), 0.02);
        assertTrue(w.get(3)[0] < a.get(0)[0], "weights in the left panel, activations in the right");
        // per layer: one line per layer's variable, two panels
        Document pl = svgs.get(3);
        for (String v : new String[] {"w.fc1", "w.fc2", "a.fc2"}) {
            assertEquals(3, points(byRun(pl, "polyline", "mlp-adaqat:" + v)).size(), v);
        }
        assertTrue(points(byRun(pl, "polyline", "mlp-adaqat:w.fc2")).get(0)[0]
                < points(byRun(pl, "polyline", "mlp-adaqat:a.fc2")).get(0)[0]);
        assertTrue(pl.getDocumentElement().getTextContent().contains("fc1"));
    }

    @Test
    void badInputSaysWhatIsWrongInOneLine() throws Exception {
        Path garbage = dir.resolve("garbage.safetensors");
        Files.writeString(garbage, "not a checkpoint at all");
        IOException e = assertThrows(IOException.class, () -> TrainingReport.read(garbage));
        assertTrue(e.getMessage().startsWith(garbage.toString()), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));

        Path noConfig = dir.resolve("noconfig.safetensors");
        Checkpoint.write(noConfig, Map.of("x", Checkpoint.Tensor.of(new float[] {1})), Map.of());
        IllegalArgumentException c = assertThrows(IllegalArgumentException.class, () -> TrainingReport.read(noConfig));
        assertEquals(noConfig + " is not a training checkpoint (no training.config)", c.getMessage());

        Path noHistory = dir.resolve("nohistory.safetensors");
        Checkpoint.write(noHistory, Map.of("x", Checkpoint.Tensor.of(new float[] {1})), Map.of(Trainer.KEY_CONFIG, BASE.toJson()));
        IllegalArgumentException h = assertThrows(IllegalArgumentException.class, () -> TrainingReport.read(noHistory));
        assertEquals(noHistory + ": no training history (training.history)", h.getMessage());

        Path empty = write("empty", BASE, List.of());
        IllegalArgumentException n = assertThrows(IllegalArgumentException.class, () -> TrainingReport.read(empty));
        assertEquals(empty + ": no finished epoch in its training history", n.getMessage());

        Path damaged = dir.resolve("damaged.safetensors");
        Checkpoint.write(damaged, Map.of("x", Checkpoint.Tensor.of(new float[] {1})),
                Map.of(Trainer.KEY_CONFIG, BASE.toJson(), Trainer.KEY_HISTORY, "[{\"epoch\": 1}]"));
        IllegalArgumentException g = assertThrows(IllegalArgumentException.class, () -> TrainingReport.read(damaged));
        assertTrue(g.getMessage().startsWith(damaged + ": damaged training history"), g.getMessage());
        assertFalse(g.getMessage().contains("\n"));
    }
}

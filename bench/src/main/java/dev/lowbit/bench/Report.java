package dev.lowbit.bench;

import dev.lowbit.format.QuantFormat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Prints a Markdown table from JMH JSON result files ({@code -rf json -rff results.json}): each
 * benchmark with its parameters, its score ± JMH's 99.9% error, and the rates derived from the
 * parameters (1 GB = 1e9 bytes, 1 GOP = 1e9 operations):
 * <ul>
 *   <li>{@code QuantizeBench}, {@code GgmlQuantizeBench}, {@code MemoryBench}: GB/s on the fp32 side, {@code size * 4} bytes per
 *       call (twice that for {@code MemoryBench.copy}, which reads and writes);</li>
 *   <li>{@code GemvBench}: GB/s of quantized weights, {@code rows * rowBytes(format, k)}, and GOP/s,
 *       {@code 2 rows k n} (a multiply and an add per weight and token);</li>
 *   <li>{@code GemvF32Bench}: the same for fp32 weights, {@code 4 rows k} bytes;</li>
 *   <li>{@code GgmlGemvBench}: as {@code GemvBench} (ggml's blocks take the same bytes);</li>
 *   <li>{@code JlamaGemvBench}: the bytes Jlama's weight tensors occupy, codes plus one fp32 scale per
 *       block of 32: {@code rows * (k/2 + 4 k/32)} for its Q4 ({@code format=q4_0}, 0.625 bytes a weight)
 *       and {@code rows * (k + 4 k/32)} for its Q8 ({@code format=q8_0}, 1.125 bytes a weight), see
 *       {@code JlamaGemvBench.weightBytes}; GOP/s {@code 2 rows k} (one token).</li>
 * </ul>
 * The error of a rate is the score's relative error carried over to first order.
 *
 * <p>Usage: {@code java -cp bench/target/benchmarks.jar dev.lowbit.bench.Report results.json...}
 */
public final class Report {
    private Report() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length == 0) {
            System.err.println("usage: Report results.json...");
            System.exit(2);
        }
        System.out.println("| benchmark | parameters | score | GB/s | GOP/s |");
        System.out.println("|---|---|---:|---:|---:|");
        for (String file : args) {
            for (Object o : (List<?>) new Parser(Files.readString(Path.of(file))).value()) {
                Map<?, ?> run = (Map<?, ?>) o;
                Map<?, ?> params = run.get("params") instanceof Map<?, ?> m ? m : Map.of();
                Map<?, ?> pm = (Map<?, ?>) run.get("primaryMetric");
                String bench = (String) run.get("benchmark");
                bench = bench.substring(bench.lastIndexOf('.', bench.lastIndexOf('.') - 1) + 1);
                double score = num(pm.get("score"));
                double err = num(pm.get("scoreError"));
                String unit = (String) pm.get("scoreUnit");
                double seconds = secondsPerOp(score, unit);
                double bytes = Double.NaN;
                double ops = Double.NaN;
                if (bench.startsWith("QuantizeBench") || bench.startsWith("MemoryBench")
                        || bench.startsWith("GgmlQuantizeBench")) {
                    bytes = Long.parseLong(String.valueOf(params.get("size"))) * 4.0
                            * (bench.equals("MemoryBench.copy") ? 2 : 1);
                } else if (bench.startsWith("GemvBench") || bench.startsWith("GemvF32Bench")
                        || bench.startsWith("GgmlGemvBench")) {
                    long rows = Long.parseLong(String.valueOf(params.get("rows")));
                    int k = Integer.parseInt(String.valueOf(params.get("k")));
                    long n = params.containsKey("n") ? Long.parseLong(String.valueOf(params.get("n"))) : 1;
                    bytes = bench.startsWith("GemvF32Bench") ? 4.0 * rows * k
                            : (double) rows * QuantFormat.parse(String.valueOf(params.get("format"))).rowBytes(k);
                    ops = 2.0 * rows * k * n;
                } else if (bench.startsWith("JlamaGemvBench")) {
                    long rows = Long.parseLong(String.valueOf(params.get("rows")));
                    long k = Long.parseLong(String.valueOf(params.get("k")));
                    bytes = JlamaGemvBench.weightBytes(String.valueOf(params.get("format")), rows, k);
                    ops = 2.0 * rows * k;
                }
                StringBuilder p = new StringBuilder();
                params.forEach((key, v) -> p.append(p.isEmpty() ? "" : " ").append(key).append('=').append(v));
                System.out.printf(Locale.ROOT, "| %s | %s | %s ± %s %s | %s | %s |%n", bench, p,
                        fmt(score), fmt(err), unit, rate(bytes / seconds, err / score), rate(ops / seconds, err / score));
            }
        }
    }

    private static String rate(double perSecond, double relErr) {
        if (!Double.isFinite(perSecond)) {
            return "";
        }
        double v = perSecond / 1e9;
        return Double.isFinite(relErr) ? String.format(Locale.ROOT, "%.2f ± %.2f", v, v * relErr)
                : String.format(Locale.ROOT, "%.2f", v);
    }

    /** Seconds per operation from a JMH score in {@code us/op}-style or {@code ops/s}-style units. */
    static double secondsPerOp(double score, String unit) {
        String[] p = unit.split("/");
        if (p[0].equals("ops")) {
            return 1.0 / (score / seconds(p[1]));
        }
        return score * seconds(p[0]);
    }

    private static double seconds(String u) {
        return switch (u) {
            case "ns" -> 1e-9;
            case "us" -> 1e-6;
            case "ms" -> 1e-3;
            case "s" -> 1;
            case "min" -> 60;
            default -> throw new IllegalArgumentException("unknown time unit " + u);
        };
    }

    private static String fmt(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, v >= 100 ? "%.0f" : "%.2f", v) : "n/a";
    }

    private static double num(Object o) {
        return o instanceof Double d ? d : Double.parseDouble(String.valueOf(o)); // JMH writes "NaN" as a string
    }

    /** Just enough JSON: objects, arrays, strings (with escapes), numbers, true/false/null, bare NaN. */
    private static final class Parser {
        private final String s;
        private int i;

        Parser(String s) {
            this.s = s;
        }

        Object value() {
            ws();
            char c = s.charAt(i);
            switch (c) {
                case '{': {
                    Map<String, Object> m = new LinkedHashMap<>();
                    i++;
                    while (ws() != '}') {
                        String k = (String) value();
                        expect(':');
                        m.put(k, value());
                        if (ws() == ',') {
                            i++;
                        }
                    }
                    i++;
                    return m;
                }
                case '[': {
                    List<Object> l = new ArrayList<>();
                    i++;
                    while (ws() != ']') {
                        l.add(value());
                        if (ws() == ',') {
                            i++;
                        }
                    }
                    i++;
                    return l;
                }
                case '"': {
                    StringBuilder b = new StringBuilder();
                    for (i++; s.charAt(i) != '"'; i++) {
                        char d = s.charAt(i);
                        if (d == '\\') {
                            d = s.charAt(++i);
                            switch (d) {
                                case 'n' -> d = '\n';
                                case 't' -> d = '\t';
                                case 'r' -> d = '\r';
                                case 'b' -> d = '\b';
                                case 'f' -> d = '\f';
                                case 'u' -> {
                                    d = (char) Integer.parseInt(s.substring(i + 1, i + 5), 16);
                                    i += 4;
                                }
                                default -> { } // \" \\ \/
                            }
                        }
                        b.append(d);
                    }
                    i++;
                    return b.toString();
                }
                default: {
                    int start = i;
                    while (i < s.length() && ",}] \t\r\n".indexOf(s.charAt(i)) < 0) {
                        i++;
                    }
                    String t = s.substring(start, i);
                    return switch (t) {
                        case "true" -> Boolean.TRUE;
                        case "false" -> Boolean.FALSE;
                        case "null" -> null;
                        default -> Double.parseDouble(t);
                    };
                }
            }
        }

        private char ws() {
            while (Character.isWhitespace(s.charAt(i))) {
                i++;
            }
            return s.charAt(i);
        }

        private void expect(char c) {
            if (ws() != c) {
                throw new IllegalArgumentException("expected '" + c + "' at offset " + i);
            }
            i++;
        }
    }
}

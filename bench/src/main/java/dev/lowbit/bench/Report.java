package dev.lowbit.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Prints a Markdown table from a JMH JSON result file ({@code -rf json -rff FILE}): each benchmark
 * with its parameters, its score (us/op) with the 99.9% error, and GB/s of fp32 values
 * ({@code size * 4} bytes per operation; twice that for {@code MemoryBench.copy}).
 *
 * <p>Usage: {@code java -cp benchmarks.jar dev.lowbit.bench.Report results.json}
 */
public final class Report {
    private Report() {
    }

    private static final Pattern BENCH = Pattern.compile("\"benchmark\"\\s*:\\s*\"([^\"]+)\"");
    private static final Pattern PARAMS = Pattern.compile("\"params\"\\s*:\\s*\\{([^}]*)}");
    private static final Pattern PAIR = Pattern.compile("\"([^\"]+)\"\\s*:\\s*\"([^\"]*)\"");
    private static final Pattern SCORE = Pattern.compile(
            "\"primaryMetric\"\\s*:\\s*\\{\\s*\"score\"\\s*:\\s*([-0-9.eE+NaN]+),\\s*\"scoreError\"\\s*:\\s*\"?([-0-9.eE+NaN]+)\"?");
    private static final Pattern UNIT = Pattern.compile("\"scoreUnit\"\\s*:\\s*\"([^\"]+)\"");

    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            System.err.println("usage: Report RESULTS.json");
            System.exit(2);
        }
        String json = Files.readString(Path.of(args[0]));
        List<String> rows = new ArrayList<>();
        // Each result object begins with "jmhVersion"; split there so that each piece holds one result.
        String[] pieces = json.split("\"jmhVersion\"");
        for (int i = 1; i < pieces.length; i++) {
            String p = pieces[i];
            Matcher b = BENCH.matcher(p);
            Matcher s = SCORE.matcher(p);
            Matcher u = UNIT.matcher(p);
            if (!b.find() || !s.find() || !u.find()) {
                throw new IOException("result " + i + " of " + args[0] + " lacks a benchmark name, score or unit");
            }
            if (!u.group(1).equals("us/op")) {
                throw new IOException("result " + i + " is in " + u.group(1) + ", expected us/op");
            }
            String name = b.group(1).replaceFirst("^dev\\.lowbit\\.bench\\.", "");
            StringBuilder params = new StringBuilder();
            long size = -1;
            Matcher pm = PARAMS.matcher(p);
            if (pm.find()) {
                Matcher kv = PAIR.matcher(pm.group(1));
                while (kv.find()) {
                    if (kv.group(1).equals("size")) {
                        size = Long.parseLong(kv.group(2));
                    }
                    params.append(params.isEmpty() ? "" : ", ").append(kv.group(1)).append('=').append(kv.group(2));
                }
            }
            double us = Double.parseDouble(s.group(1));
            double err = Double.parseDouble(s.group(2));
            double bytes = size * 4.0 * (name.endsWith("MemoryBench.copy") ? 2 : 1);
            String gbs = size < 0 ? "" : String.format(Locale.ROOT, "%.2f", bytes / 1000 / us);
            rows.add(String.format(Locale.ROOT, "| %s | %s | %.1f ± %.1f | %s |", name, params, us, err, gbs));
        }
        System.out.println("| benchmark | parameters | us/op | GB/s |");
        System.out.println("|---|---|---|---|");
        rows.forEach(System.out::println);
    }
}

package dev.lowbit.cli;

import dev.lowbit.format.QuantFormat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ForkJoinPool;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/** The options several commands share, parsed with one message each when wrong. */
final class Options {
    private Options() {
    }

    static final String GROUP_HELP = "32, 64, 128 or row";

    static int bits(String v) {
        return switch (v) {
            case "2" -> 2;
            case "3" -> 3;
            case "4" -> 4;
            case "8" -> 8;
            default -> throw new UsageException("--bits must be 2, 3, 4 or 8, got '" + v + "'");
        };
    }

    static List<Integer> bitsList(String v) {
        List<Integer> out = new ArrayList<>();
        for (String s : v.split(",")) {
            int b = bits(s.trim());
            if (!out.contains(b)) {
                out.add(b);
            }
        }
        return out;
    }

    static int group(String v) {
        return switch (v) {
            case "32" -> 32;
            case "64" -> 64;
            case "128" -> 128;
            case "row" -> QuantFormat.ROW;
            default -> throw new UsageException("--group must be " + GROUP_HELP + ", got '" + v + "'");
        };
    }

    static String groupName(int g) {
        return g == QuantFormat.ROW ? "row" : Integer.toString(g);
    }

    static String method(String v) {
        if (!Runs.METHODS.contains(v)) {
            throw new UsageException("--method must be one of " + String.join(", ", Runs.METHODS) + ", got '" + v + "'");
        }
        return v;
    }

    static List<String> methods(String v) {
        List<String> out = new ArrayList<>();
        for (String s : v.split(",")) {
            String m = s.trim();
            if (!Runs.METHODS.contains(m)) {
                throw new UsageException("--methods takes names from " + String.join(", ", Runs.METHODS) + ", got '" + m + "'");
            }
            if (!out.contains(m)) {
                out.add(m);
            }
        }
        return out;
    }

    static Pattern layers(String v) {
        if (v == null) {
            return null;
        }
        try {
            return Pattern.compile(v);
        } catch (PatternSyntaxException e) {
            throw new UsageException("--layers is not a regular expression: " + e.getDescription() + " in '" + v + "'");
        }
    }

    /** A pool of {@code --threads} workers (default: one per core); the caller closes it. */
    static ExecutorService pool(Args args) {
        int n = args.intValue("threads", Runtime.getRuntime().availableProcessors(), 1, 1024);
        return new ForkJoinPool(n);
    }

    static final String THREADS_HELP = "  --threads N      worker threads (default: one per core, here "
            + Runtime.getRuntime().availableProcessors() + ")";
    static final String LAYERS_HELP = "  --layers REGEX   quantize only the matrices whose name matches REGEX (the others are kept as they are)";
}

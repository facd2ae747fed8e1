package dev.lowbit.cli;

import dev.lowbit.algorithms.MethodRegistry;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.NonFinitePolicy;
import dev.lowbit.kernels.ThreadPool;
import picocli.CommandLine;

import java.util.ArrayList;
import java.util.List;
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
        List<String> methods = MethodRegistry.planes();
        if (!methods.contains(v)) {
            throw new UsageException("--method must be one of " + String.join(", ", methods) + ", got '" + v + "'");
        }
        return v;
    }

    /** The methods of a report ({@link MethodRegistry#planes()}), in the order given, each once. */
    static List<String> methods(String v) {
        List<String> methods = MethodRegistry.planes();
        List<String> out = new ArrayList<>();
        for (String s : v.split(",")) {
            String m = s.trim();
            if (!methods.contains(m)) {
                throw new UsageException("--methods takes names from " + String.join(", ", methods) + ", got '" + m + "'");
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

    /** {@code v} as an int within [min, max], or {@code fallback} when it is null (the option is not given). */
    static int intValue(String name, String v, int fallback, int min, int max) {
        if (v == null) {
            return fallback;
        }
        try {
            int i = Integer.parseInt(v);
            if (i >= min && i <= max) {
                return i;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new UsageException("--" + name + " must be a whole number from " + min + " to " + max + ", got '" + v + "'");
    }

    /** A pool of {@code --threads} workers (null: one per core); the caller closes it. */
    static ThreadPool pool(String threads) {
        int n = intValue("threads", threads, Runtime.getRuntime().availableProcessors(), 1, 1024);
        return ThreadPool.forkJoin(n);
    }

    static final String THREADS_HELP = "worker threads (default: one per core)";
    static final String LAYERS_HELP = "quantize only the matrices whose name matches REGEX (the others are kept as they are)";

    /** The methods of a report, for the help ({@code ${COMPLETION-CANDIDATES}}) and shell completion. */
    static final class Methods implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return MethodRegistry.planes().iterator();
        }
    }

    /** The methods {@code quantize} takes (lowbit's and ggml's rules), for its help and shell completion. */
    static final class QuantizeMethods implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return dev.lowbit.cli.Methods.names().iterator();
        }
    }

    /** The bit widths, for the help and shell completion. */
    static final class Bits implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return List.of("2", "3", "4", "8").iterator();
        }
    }

    /** The group sizes, for the help and shell completion. */
    static final class Groups implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return List.of("32", "64", "128", "row").iterator();
        }
    }

    /** {@code --non-finite refuse|clamp}. */
    static final class NonFinite implements CommandLine.ITypeConverter<NonFinitePolicy>, Iterable<String> {
        @Override
        public NonFinitePolicy convert(String v) {
            return switch (v) {
                case "refuse" -> NonFinitePolicy.REJECT;
                case "clamp" -> NonFinitePolicy.CLAMP;
                default -> throw new CommandLine.TypeConversionException(
                        "--non-finite must be refuse or clamp, got '" + v + "'");
            };
        }

        @Override
        public java.util.Iterator<String> iterator() {
            return List.of("refuse", "clamp").iterator();
        }
    }

    /** {@code --scales f16|f32}. */
    static final class Scales implements CommandLine.ITypeConverter<ScaleType>, Iterable<String> {
        @Override
        public ScaleType convert(String v) {
            return switch (v) {
                case "f16" -> ScaleType.F16;
                case "f32" -> ScaleType.F32;
                default -> throw new CommandLine.TypeConversionException("--scales must be f16 or f32, got '" + v + "'");
            };
        }

        @Override
        public java.util.Iterator<String> iterator() {
            return List.of("f16", "f32").iterator();
        }
    }
}

package dev.lowbit.algorithms;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.ThreadPool;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * Every quantization method lowbit knows, by name, in report order: what widths it takes, whether it needs
 * calibration data, whether the integer kernels run its tensors, how to build its {@link Quantizer} and what a
 * GGUF file can hold of it. Commands and models list and check method names here and nowhere else.
 */
public final class MethodRegistry {
    private MethodRegistry() {
    }

    /** What a method writes and what it needs. */
    public enum Kind {
        /** A data-free method that writes lowbit's formats (grouped planes, a codebook, outliers). */
        PLANES,
        /**
         * ggml's own round-to-nearest rule, writing ggml blocks: one block format ({@code q4_0} ... {@code q6_k}), or
         * one of llama.cpp's mixtures ({@code q4_k_m}, {@code q5_k_m}), which give each tensor its format by
         * llama.cpp's rules around the base format {@link Method#ggml()} (see {@link Method#mixture()}).
         */
        GGML,
        /** A method that needs calibration data (a Hessian), so it has no data-free {@link Quantizer}. */
        CALIBRATED
    }

    /** The widths most methods take. */
    private static final List<Integer> ALL_WIDTHS = List.of(2, 3, 4, 8);

    /** The widths of the integer forward pass: W8A8 and W4A8. */
    private static final List<Integer> INTEGER_WIDTHS = List.of(8, 4);

    /**
     * One method.
     *
     * @param name           its name on the command line and in reports
     * @param kind           what it writes and what it needs
     * @param widths         the bits it takes
     * @param widthNote      how its width is described when another is asked for ({@code nf4 is a 4-bit codebook}),
     *                       or null when it takes every width
     * @param integerWidths  the widths at which the integer kernels run its tensors (8: W8A8, 4: W4A8); empty when
     *                       its tensors have no integer kernel (codebooks, power-mapped codes, ggml's rules)
     * @param ggml           the ggml block format of a {@link Kind#GGML} rule, else null
     */
    public record Method(String name, Kind kind, List<Integer> widths, String widthNote, List<Integer> integerWidths,
                         QuantFormat ggml) {

        public Method {
            widths = List.copyOf(widths);
            integerWidths = List.copyOf(integerWidths);
        }

        /**
         * Whether it is one of llama.cpp's mixtures ({@code q4_k_m}, {@code q5_k_m}): {@link #ggml()} is then its base
         * format, and each tensor gets the format llama.cpp's rules give it.
         */
        public boolean mixture() {
            return kind == Kind.GGML && !name.equals(ggml.name());
        }

        /** Whether it takes {@code bits}. */
        public boolean takes(int bits) {
            return widths.contains(bits);
        }

        /** Whether it needs no calibration data. */
        public boolean dataFree() {
            return kind != Kind.CALIBRATED;
        }

        /** Whether the integer forward pass (W8A8 or W4A8) runs its tensors. */
        public boolean integerKernel() {
            return !integerWidths.isEmpty();
        }

        /** Its width as a phrase, e.g. {@code nf4 is a 4-bit codebook}, {@code q8_0 is 8-bit}; null if any width. */
        public String widthSentence() {
            return widthNote == null ? null : name + " is " + widthNote;
        }

        /** An {@link IllegalArgumentException} unless it takes {@code bits}; one line naming both. */
        public void checkWidth(int bits) {
            if (!takes(bits)) {
                throw new IllegalArgumentException(name + " takes " + widthList(widths) + " bits, not " + bits);
            }
        }

        /**
         * Its data-free quantizer at {@code spec}: {@code rtn} is asymmetric (min-max), {@code rtn-sym} symmetric
         * (the narrow grid), ggml's rules write their blocks (spec's width must be theirs), the others as their
         * classes describe.
         *
         * @param pool where rows run; null for {@link ThreadPool#common()}
         * @throws IllegalArgumentException for a width it does not take, or for a method that needs calibration data
         */
        public Quantizer quantizer(QuantSpec spec, ThreadPool pool) {
            if (kind == Kind.CALIBRATED) {
                throw new IllegalArgumentException(name + " needs calibration data (a Hessian): it has no data-free quantizer");
            }
            checkWidth(spec.bits());
            return switch (name) {
                case "rtn" -> new Rtn(spec, false, pool);
                case "rtn-sym" -> new Rtn(spec, true, pool);
                case "mse" -> new MseClip(spec, pool);
                case "hqq" -> new Hqq(spec, pool);
                case "easyquant" -> new EasyQuant(spec, pool);
                case "nupes" -> new Nupes(spec, pool);
                case "nf4" -> new Nf4(spec, pool);
                default -> new GgmlRtn(ggml, pool);
            };
        }

        /**
         * The quantizer of a {@link Kind#GGML} rule, which takes no spec: its blocks fix width and group. A mixture's is
         * that of its base format; {@code new GgmlRtn(f, pool)} quantizes to any other ggml format {@code f}.
         *
         * @throws IllegalArgumentException for the other kinds
         */
        public Quantizer ggmlQuantizer(ThreadPool pool) {
            if (kind != Kind.GGML) {
                throw new IllegalArgumentException(name + " is not one of ggml's rules");
            }
            return new GgmlRtn(ggml, pool);
        }

        /**
         * The ggml block format that a GGUF file holds this method in at {@code spec}, or null when GGUF cannot hold
         * its grid exactly: ggml's rules as they are; {@code rtn-sym} at 4 or 8 bits in groups of 32 with fp16
         * scales as Q4_0 or Q8_0 blocks (see {@link #ggufRepacked()}); no other.
         */
        public QuantFormat gguf(QuantSpec spec) {
            if (kind == Kind.GGML) {
                return ggml;
            }
            if (name.equals("rtn-sym") && (spec.bits() == 4 || spec.bits() == 8)
                    && spec.groupSize() == QuantFormat.GGML_BLOCK && spec.scaleType() == ScaleType.F16) {
                return spec.bits() == 4 ? QuantFormat.Q4_0 : QuantFormat.Q8_0;
            }
            return null;
        }

        /** Whether its GGUF blocks are its own grouped tensors repacked (rtn-sym), not written as blocks directly. */
        public boolean ggufRepacked() {
            return kind == Kind.PLANES;
        }
    }

    /** Every method, in report order: lowbit's data-free methods, ggml's rules, then the calibrated ones. */
    private static final List<Method> ALL = List.of(
            planes("rtn", ALL_WIDTHS, null, INTEGER_WIDTHS),
            planes("rtn-sym", ALL_WIDTHS, null, INTEGER_WIDTHS),
            planes("mse", ALL_WIDTHS, null, INTEGER_WIDTHS),
            planes("hqq", ALL_WIDTHS, null, INTEGER_WIDTHS),
            planes("easyquant", ALL_WIDTHS, null, INTEGER_WIDTHS),
            planes("nupes", ALL_WIDTHS, null, List.of()),
            planes("nf4", List.of(4), "a 4-bit codebook", List.of()),
            ggml(QuantFormat.Q4_0),
            ggml(QuantFormat.Q4_1),
            ggml(QuantFormat.Q8_0),
            ggml(QuantFormat.Q5_0),
            ggml(QuantFormat.Q5_1),
            ggml(QuantFormat.IQ4_NL),
            ggml(QuantFormat.Q2_K),
            ggml(QuantFormat.Q3_K),
            ggml(QuantFormat.Q4_K),
            ggml(QuantFormat.Q5_K),
            ggml(QuantFormat.Q6_K),
            mixture("q4_k_m", QuantFormat.Q4_K),
            mixture("q5_k_m", QuantFormat.Q5_K),
            new Method("gptq", Kind.CALIBRATED, ALL_WIDTHS, null, INTEGER_WIDTHS, null));

    private static Method planes(String name, List<Integer> widths, String note, List<Integer> integer) {
        return new Method(name, Kind.PLANES, widths, note, integer, null);
    }

    private static Method ggml(QuantFormat f) {
        return new Method(f.name(), Kind.GGML, List.of(f.bits()), f.bits() + "-bit", List.of(), f);
    }

    private static Method mixture(String name, QuantFormat base) {
        return new Method(name, Kind.GGML, List.of(base.bits()), "a mixture based on " + base.bits() + "-bit " + base.name(),
                List.of(), base);
    }

    /** Every method, in report order. */
    public static List<Method> all() {
        return ALL;
    }

    /** The names of the methods that {@code which} accepts, in report order. */
    public static List<String> names(Predicate<Method> which) {
        List<String> out = new ArrayList<>();
        for (Method m : ALL) {
            if (which.test(m)) {
                out.add(m.name());
            }
        }
        return List.copyOf(out);
    }

    /** Every name, in report order. */
    public static List<String> names() {
        return names(m -> true);
    }

    /** lowbit's data-free methods ({@link Kind#PLANES}), in report order: what reports and the demo run. */
    public static List<String> planes() {
        return names(m -> m.kind() == Kind.PLANES);
    }

    /** The method called {@code name}, if there is one. */
    public static Optional<Method> find(String name) {
        for (Method m : ALL) {
            if (m.name().equals(name)) {
                return Optional.of(m);
            }
        }
        return Optional.empty();
    }

    /** The method called {@code name}; an {@link IllegalArgumentException} listing every name if there is none. */
    public static Method get(String name) {
        return find(name).orElseThrow(() -> new IllegalArgumentException(
                "method must be one of " + String.join(", ", names()) + ", got '" + name + "'"));
    }

    /** {@code 2, 3, 4 or 8}. */
    public static String widthList(List<Integer> widths) {
        if (widths.size() == 1) {
            return widths.getFirst().toString();
        }
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < widths.size(); i++) {
            s.append(i == 0 ? "" : i == widths.size() - 1 ? " or " : ", ").append(widths.get(i));
        }
        return s.toString();
    }
}

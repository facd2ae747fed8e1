package dev.lowbit.algorithms;

import java.util.List;
import java.util.concurrent.Executor;

/** The methods by name, each with its defaults, for the command line and for reports. */
public final class Quantizers {
    private Quantizers() {
    }

    /** Every name {@link #byName} knows, in report order. */
    public static final List<String> NAMES = List.of("rtn", "mse", "hqq", "easyquant", "nupes", "nf4");

    /**
     * The method called {@code name} at its defaults: {@code rtn} is asymmetric (min-max), the
     * others as their classes describe.
     *
     * @param executor where rows run; null for the common pool
     */
    public static Quantizer byName(String name, QuantSpec spec, Executor executor) {
        return switch (name) {
            case "rtn" -> new Rtn(spec, false, executor);
            case "mse" -> new MseClip(spec, executor);
            case "hqq" -> new Hqq(spec, executor);
            case "easyquant" -> new EasyQuant(spec, executor);
            case "nupes" -> new Nupes(spec, executor);
            case "nf4" -> new Nf4(spec, executor);
            default -> throw new IllegalArgumentException("method must be one of " + NAMES + ", got '" + name + "'");
        };
    }
}

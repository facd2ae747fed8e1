package dev.lowbit.algorithms;

import dev.lowbit.kernels.ThreadPool;

import java.util.List;

/**
 * The methods that have a class of their own, by name, each with its defaults: the {@link MethodRegistry.Kind#PLANES}
 * methods of {@link MethodRegistry} less {@code rtn-sym} (RTN's symmetric grid).
 */
public final class Quantizers {
    private Quantizers() {
    }

    /** Every name {@link #byName} knows, in report order. */
    public static final List<String> NAMES = MethodRegistry.names(
            m -> m.kind() == MethodRegistry.Kind.PLANES && !m.name().equals("rtn-sym"));

    /**
     * The method called {@code name} at its defaults: {@code rtn} is asymmetric (min-max), the
     * others as their classes describe ({@link MethodRegistry.Method#quantizer}).
     *
     * @param pool where rows run; null for {@link ThreadPool#common()}
     */
    public static Quantizer byName(String name, QuantSpec spec, ThreadPool pool) {
        if (!NAMES.contains(name)) {
            throw new IllegalArgumentException("method must be one of " + NAMES + ", got '" + name + "'");
        }
        return MethodRegistry.get(name).quantizer(spec, pool);
    }
}

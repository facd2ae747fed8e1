package dev.lowbit.kernels;

import dev.lowbit.format.Codebooks;

/**
 * Options of a quantize call.
 *
 * @param levels    the 16 codebook levels for codebook formats (NF4 by default)
 * @param nonFinite what to do with NaN and infinities (reject by default)
 */
public record QuantOptions(float[] levels, NonFinitePolicy nonFinite) {

    public static final QuantOptions DEFAULT = new QuantOptions(Codebooks.nf4(), NonFinitePolicy.REJECT);

    public QuantOptions {
        levels = Codebooks.checkLevels(levels);
        if (nonFinite == null) {
            throw new IllegalArgumentException("nonFinite must not be null");
        }
    }

    @Override
    public float[] levels() {
        return levels.clone();
    }

    public QuantOptions withLevels(float[] levels) {
        return new QuantOptions(levels, nonFinite);
    }

    public QuantOptions withNonFinite(NonFinitePolicy policy) {
        return new QuantOptions(levels, policy);
    }
}

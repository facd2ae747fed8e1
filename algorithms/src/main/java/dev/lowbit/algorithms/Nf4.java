package dev.lowbit.algorithms;

import dev.lowbit.format.Codebooks;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.QuantOptions;
import dev.lowbit.kernels.ThreadPool;

import java.lang.foreign.Arena;

/**
 * NF4 (QLoRA): per-group absmax scale, each element mapped to the nearest of the 16 NormalFloat
 * levels ({@link Codebooks#nf4()}), stored as a 4-bit codebook. QLoRA's block size is 64; here the
 * spec's group size is used so that methods compare at equal grouping. No double quantization of
 * the scales.
 */
public final class Nf4 implements Quantizer {
    private final QuantSpec spec;
    private final ThreadPool pool;

    public Nf4(QuantSpec spec, ThreadPool pool) {
        if (spec == null) {
            throw new IllegalArgumentException("spec must not be null");
        }
        spec.codebook(); // bits must be 4
        this.spec = spec;
        this.pool = Rows.orCommon(pool);
    }

    @Override
    public String name() {
        return "nf4";
    }

    @Override
    public QuantResult quantize(float[] w, int rows, int cols, Arena arena) {
        Rows.checkInput(w, rows, cols);
        QuantizedTensor t = QuantOps.get().withPool(pool)
                .quantize(spec.codebook(), w, rows, cols, arena, QuantOptions.DEFAULT.withLevels(Codebooks.nf4()));
        return Rows.measure(name(), t, w, pool, 0, null, null, null);
    }
}

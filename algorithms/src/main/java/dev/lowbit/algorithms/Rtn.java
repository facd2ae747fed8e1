package dev.lowbit.algorithms;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.ThreadPool;

import java.lang.foreign.Arena;

/**
 * Round to nearest: lowbit's own quantizer ({@link QuantOps}) on a grouped integer format, min-max
 * (asymmetric, range widened to hold 0) or absmax (symmetric, narrow range). The baseline every
 * other method is measured against.
 */
public final class Rtn implements Quantizer {
    private final QuantSpec spec;
    private final boolean symmetric;
    private final ThreadPool pool;

    /**
     * @param pool where rows run; null for {@link ThreadPool#common()}
     */
    public Rtn(QuantSpec spec, boolean symmetric, ThreadPool pool) {
        if (spec == null) {
            throw new IllegalArgumentException("spec must not be null");
        }
        this.spec = spec;
        this.symmetric = symmetric;
        this.pool = Rows.orCommon(pool);
    }

    @Override
    public String name() {
        return "rtn";
    }

    public QuantFormat format() {
        return spec.grouped(symmetric);
    }

    @Override
    public QuantResult quantize(float[] w, int rows, int cols, Arena arena) {
        Rows.checkInput(w, rows, cols);
        QuantizedTensor t = QuantOps.get().withPool(pool).quantize(format(), w, rows, cols, arena);
        return Rows.measure(name(), t, w, pool, 0, null, null, null);
    }
}

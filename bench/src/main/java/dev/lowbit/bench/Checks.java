package dev.lowbit.bench;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.ThreadPool;

import java.lang.foreign.Arena;
import java.util.Arrays;

/** Benchmarks refuse to report a number for a kernel whose result differs from the scalar reference. */
final class Checks {
    private Checks() {
    }

    /** Quantizes and dequantizes the first rows with {@code ops} and with the scalar reference and compares. */
    static void sameAsScalar(QuantOps ops, QuantFormat f, float[] src, int rows, int cols) {
        int n = Math.min(rows, 64);
        float[] part = Arrays.copyOf(src, n * cols);
        QuantOps ref = new QuantOps(KernelProvider.scalar(), ThreadPool.callerThread());
        try (Arena arena = Arena.ofShared()) {
            QuantizedTensor a = ops.quantize(f, part, n, cols, arena);
            QuantizedTensor b = ref.quantize(f, part, n, cols, arena);
            if (a.data().mismatch(b.data()) >= 0 || (a.scales() != null && a.scales().mismatch(b.scales()) >= 0)
                    || (a.zeros() != null && a.zeros().mismatch(b.zeros()) >= 0)) {
                throw new IllegalStateException(ops.kernels().name() + " quantizes " + f + " differently from scalar");
            }
            float[] x = new float[part.length];
            float[] y = new float[part.length];
            ops.dequantize(a, x);
            ref.dequantize(a, y);
            if (!Arrays.equals(x, y)) {
                throw new IllegalStateException(ops.kernels().name() + " dequantizes " + f + " differently from scalar");
            }
            // And both against the element-by-element reference of docs/formats.md, independent of any kernel.
            for (int i = 0; i < x.length; i++) {
                float want = Reference.dequantize(a, i / cols, i % cols);
                if (Float.floatToIntBits(x[i]) != Float.floatToIntBits(want)) {
                    throw new IllegalStateException(ops.kernels().name() + " dequantizes " + f + " to " + x[i]
                            + " at row " + i / cols + ", column " + i % cols + "; the reference gives " + want);
                }
            }
        }
    }
}

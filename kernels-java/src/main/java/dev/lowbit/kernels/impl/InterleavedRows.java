package dev.lowbit.kernels.impl;

import dev.lowbit.format.InterleavedTensor;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.QuantizedActivations;

import java.lang.foreign.Arena;

/**
 * Row-interleaved weights through kernels that have no kernel of their own for them: the rows of the call are
 * unpacked to the plain layout, multiplied by the plain kernel, and the outliers added in the reference's order.
 * The result is the plain kernel's, bit for bit.
 */
public final class InterleavedRows {
    private InterleavedRows() {
    }

    /** The plain kernel's call on rows {@code [0, m)} of the unpacked rows, writing {@code y[t * m + r]}. */
    public interface PlainCall {
        void run(QuantizedTensor plain, int m, float[] y);
    }

    /** The integer path: {@code plain} runs the plain kernel with activations {@code x} on tokens {@code [t0, t1)}. */
    public static void gemmInt8(PlainCall plain, InterleavedTensor w, QuantizedActivations x, int r0, int r1, int t0,
                                int t1, float[] y, int ldy) {
        viaPlain(w, r0, r1, t0, t1, y, ldy, plain);
        if (w.outliers() != null && r0 < r1) {
            OutlierSums.add(w.outliers(), x, r0, r1, t0, t1, y, ldy);
        }
    }

    /** The weight-only path: {@code plain} runs the plain kernel with activations {@code x} on tokens {@code [t0, t1)}. */
    public static void gemmF32(PlainCall plain, InterleavedTensor w, float[] x, int r0, int r1, int t0, int t1,
                               float[] y, int ldy) {
        viaPlain(w, r0, r1, t0, t1, y, ldy, plain);
        if (w.outliers() != null && r0 < r1) {
            OutlierSums.add(w.outliers(), x, w.cols(), r0, r1, t0, t1, y, ldy);
        }
    }

    private static void viaPlain(InterleavedTensor w, int r0, int r1, int t0, int t1, float[] y, int ldy,
                                 PlainCall call) {
        int m = r1 - r0;
        if (m == 0 || t1 == t0) {
            return;
        }
        float[] part = new float[t1 * m];
        try (Arena arena = Arena.ofConfined()) {
            call.run(w.plainRows(r0, r1, arena), m, part);
        }
        for (int t = t0; t < t1; t++) {
            System.arraycopy(part, t * m, y, t * ldy + r0, m);
        }
    }
}

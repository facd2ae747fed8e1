package dev.lowbit.kernels.impl;

import dev.lowbit.format.SparseOutliers;
import dev.lowbit.kernels.QuantizedActivations;

/** The matmuls' last step for kernels that add outliers after their call, in the scalar reference's order. */
final class OutlierSums {
    private OutlierSums() {
    }

    /** The integer path's last step: each outlier times its dequantized activation, in column order. */
    static void add(SparseOutliers o, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        int pk = x.paddedK();
        byte[] codes = x.codes();
        for (int r = r0; r < r1; r++) {
            int e0 = o.rowPtr(r);
            int e1 = o.rowPtr(r + 1);
            if (e0 == e1) {
                continue;
            }
            for (int t = t0; t < t1; t++) {
                float acc = y[t * ldy + r];
                for (int e = e0; e < e1; e++) {
                    int c = o.col(e);
                    acc += o.value(e) * (codes[t * pk + c] * x.scale(t, c / 32));
                }
                y[t * ldy + r] = acc;
            }
        }
    }

    /** The weight-only path's last step: each outlier times its activation, in column order. */
    static void add(SparseOutliers o, float[] x, int k, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        for (int r = r0; r < r1; r++) {
            int e0 = o.rowPtr(r);
            int e1 = o.rowPtr(r + 1);
            if (e0 == e1) {
                continue;
            }
            for (int t = t0; t < t1; t++) {
                float acc = y[t * ldy + r];
                for (int e = e0; e < e1; e++) {
                    acc += o.value(e) * x[t * k + o.col(e)];
                }
                y[t * ldy + r] = acc;
            }
        }
    }
}

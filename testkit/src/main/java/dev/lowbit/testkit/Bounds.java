package dev.lowbit.testkit;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.SparseOutliers;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * What a result must match: the reference's bits, or an exact recomputation in double within the rounding that
 * the order of its sums allows.
 */
public final class Bounds {
    private static final double U = 0x1p-24;

    private Bounds() {
    }

    /** Equal bits, element by element; the first difference fails with both values in decimal and hex. */
    public static void assertSameBits(float[] want, float[] got, String what) {
        for (int i = 0; i < want.length; i++) {
            if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i])) {
                fail(what + ": y[" + i + "] = " + got[i] + " (" + Float.toHexString(got[i]) + "), reference "
                        + want[i] + " (" + Float.toHexString(want[i]) + ")");
            }
        }
    }

    /**
     * The integer path: the reference's integer sums are exact, so recompute them in long and the rest in double.
     * One rounding per product and per addition over at most k/32 blocks plus outliers, 4 ulps per block of headroom
     * for the scale products, and the 16 lanes' sum (or a device's tree over its lanes).
     */
    public static void checkAgainstExact(QuantizedTensor w, Activations x, float[] y, String what) {
        QuantFormat f = w.format();
        int k = w.cols();
        int gl = f.groupLength(k);
        float[] wv = new float[k];
        float[] ws = new float[k];
        for (int r = 0; r < w.rows(); r++) {
            for (int c = 0; c < k; c++) {
                ws[c] = Reference.scale(w, r, c / gl);
                wv[c] = Reference.value(f, Reference.code(w, r, c), ws[c], Reference.zero(w, r, c / gl), w.levels());
            }
            for (int t = 0; t < x.n(); t++) {
                double exact = 0;
                double mag = 0;
                for (int c = 0; c < k; c++) {
                    double term = (double) wv[c] * x.codes()[t * x.paddedK() + c] * (double) x.scale(t, c / 32);
                    exact += term;
                    mag += Math.abs(term) + Math.abs(ws[c] * 16.0 * x.scale(t, c / 32));
                }
                SparseOutliers o = w.outliers();
                if (o != null) {
                    for (int e = o.rowPtr(r); e < o.rowPtr(r + 1); e++) {
                        int c = o.col(e);
                        double term = o.value(e) * (double) x.codes()[t * x.paddedK() + c] * x.scale(t, c / 32);
                        exact += term;
                        mag += Math.abs(term);
                    }
                }
                double bound = (4.0 * (k / 32 + 2) + 8 + 16) * U * mag;
                double err = Math.abs(y[t * w.rows() + r] - exact);
                if (err > bound) {
                    fail(what + " y[" + t + "][" + r + "] = " + y[t * w.rows() + r] + ", exact " + exact + ", error " + err
                            + " > " + bound);
                }
            }
        }
    }

    /**
     * The weight-only path against the exact sum in double: each order of a k-term sum is within (k + 2) u times the
     * sum of the terms' magnitudes (Q4_1, whose two parts cancel, by its parts); {@code k + 4} leaves room for a
     * device's tree over 32 lanes.
     */
    public static void checkFp32AgainstExact(QuantizedTensor w, float[] x, int n, float[] y, String what) {
        int rows = w.rows();
        int k = w.cols();
        QuantizedTensor plain = w.withOutliers(null);
        float[] dense = new float[rows * k];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < k; c++) {
                dense[r * k + c] = Reference.dequantize(plain, r, c);
            }
        }
        for (int t = 0; t < n; t++) {
            for (int r = 0; r < rows; r++) {
                double exact = 0;
                double mag = 0;
                for (int c = 0; c < k; c++) {
                    double term = (double) dense[r * k + c] * x[t * k + c];
                    exact += term;
                    mag += Math.abs(term);
                }
                SparseOutliers o = w.outliers();
                if (o != null) {
                    for (int e = o.rowPtr(r); e < o.rowPtr(r + 1); e++) {
                        double term = o.value(e) * (double) x[t * k + o.col(e)];
                        exact += term;
                        mag += Math.abs(term);
                    }
                }
                if (w.format().kind() == QuantFormat.Kind.Q4_1) {
                    mag *= 4; // d*sum(q x) + m*sum(x) cancels: bound by its parts
                    for (int c = 0; c < k; c++) {
                        mag += Math.abs(Reference.zero(w, r, c / 32) * x[t * k + c]) * 4;
                    }
                }
                double bound = (k + 4) * U * mag + 1e-30;
                float got = y[t * rows + r];
                if (Math.abs(got - exact) > bound) {
                    fail(what + ": y[" + t + "][" + r + "] = " + got + ", exact " + exact + ", bound " + bound);
                }
            }
        }
    }
}

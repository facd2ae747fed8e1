package dev.lowbit.bench;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.MatmulKernels;
import dev.lowbit.kernels.MatmulOps;
import dev.lowbit.kernels.PackedWeights;
import dev.lowbit.kernels.QuantizedActivations;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.ThreadPool;

import java.util.Arrays;

/** Matmul benchmarks refuse to report a number for a kernel that disagrees with the scalar reference. */
final class MatmulChecks {
    private MatmulChecks() {
    }

    /** The activations the integer path of {@code f} takes: Q8_K for the K-quants, Q8_0 otherwise. */
    static ActivationFormat activations(QuantFormat f) {
        return f.isGgml() && f.groupSize() == 256 ? ActivationFormat.Q8_K : ActivationFormat.Q8_0;
    }

    /** The matmul kernels named {@code scalar}, {@code vector} or {@code native}, or an exception saying why not. */
    static MatmulKernels kernels(String impl) {
        MatmulKernels m = switch (impl) {
            case "scalar" -> KernelProvider.scalarMatmul();
            case "vector" -> KernelProvider.vectorMatmul();
            case "native" -> KernelProvider.nativeMatmul();
            default -> throw new IllegalArgumentException("impl must be scalar, vector or native, not " + impl);
        };
        if (m == null) {
            throw new IllegalStateException(impl + " matmuls cannot run here: " + (impl.equals("native")
                    ? KernelProvider.nativeUnavailable() : KernelProvider.vectorUnavailable()));
        }
        return m;
    }

    /**
     * Within {@code bound * 2^-24} times the sum of the magnitudes of the products of the reference:
     * the integer path's block sums are exact in both, and only their fp32 scaling and summing differ
     * in order ({@code bound} about {@code k / 32} plus the lanes); the fp32 path reorders a k-term sum.
     */
    /** The interleaved rows must give the plain rows' result bit for bit, on all rows. */
    static void sameAsPlain(MatmulOps ops, QuantizedTensor plain, PackedWeights wi, float[] x, int n, boolean int8) {
        float[] a = new float[n * plain.rows()];
        float[] b = new float[n * plain.rows()];
        if (int8) {
            ops.gemm(PackedWeights.of(plain), x, n, a, ActivationFormat.Q8_0);
            ops.gemm(wi, x, n, b, ActivationFormat.Q8_0);
        } else {
            ops.gemm(PackedWeights.of(plain), x, n, a);
            ops.gemm(wi, x, n, b);
        }
        for (int i = 0; i < a.length; i++) {
            if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i])) {
                throw new IllegalStateException(ops.kernels().name() + " " + wi.layoutName() + ": y[" + i
                        + "] = " + b[i] + ", plain rows " + a[i]);
            }
        }
    }

    static void sameAsScalar(MatmulOps ops, QuantizedTensor full, float[] xAll, int nAll, boolean int8) {
        // The first 64 rows and 4 tokens: the scalar reference is slow, and every row runs the same code.
        QuantizedTensor w = head(full, Math.min(full.rows(), 64));
        int n = Math.min(nAll, 4);
        int k = w.cols();
        float[] x = Arrays.copyOf(xAll, n * k);
        MatmulOps ref = new MatmulOps(KernelProvider.scalarMatmul(), KernelProvider.scalar(), ThreadPool.callerThread());
        float[] a = new float[n * w.rows()];
        float[] b = new float[n * w.rows()];
        float[] xv = x; // the activations the products use: fp32, or dequantized int8
        double slack;
        if (int8) {
            ActivationFormat af = activations(w.format());
            ops.gemm(PackedWeights.of(w), x, n, a, af);
            ref.gemm(PackedWeights.of(w), x, n, b, af);
            QuantizedActivations q = ref.quantizeActivations(x, n, k, af);
            xv = new float[n * k];
            for (int t = 0; t < n; t++) {
                for (int c = 0; c < k; c++) {
                    xv[t * k + c] = q.codes()[t * q.paddedK() + c] * q.scale(t, c / 32);
                }
            }
            slack = 4.0 * (k / 32 + 2) + 40;
        } else {
            ops.gemm(PackedWeights.of(w), x, n, a);
            ref.gemm(PackedWeights.of(w), x, n, b);
            slack = 2.0 * (k + 4);
        }
        float[] dense = new float[w.rows() * k];
        QuantOps.get().dequantize(w, dense);
        for (int t = 0; t < n; t++) {
            for (int r = 0; r < w.rows(); r++) {
                double mag = 0;
                for (int c = 0; c < k; c++) {
                    mag += Math.abs((double) dense[r * k + c] * xv[t * k + c]);
                }
                double bound = slack * 0x1p-24 * mag;
                int i = t * w.rows() + r;
                if (Math.abs(a[i] - b[i]) > bound) {
                    throw new IllegalStateException(ops.kernels().name() + (int8 ? " integer" : " fp32") + " path: y["
                            + i + "] = " + a[i] + ", reference " + b[i] + ", beyond " + bound);
                }
            }
        }
    }

    /** The first {@code rows} rows of {@code w}, over the same memory. */
    static QuantizedTensor head(QuantizedTensor w, int rows) {
        QuantFormat f = w.format();
        long params = (long) rows * f.groupsPerRow(w.cols()) * f.scaleType().bytes();
        return QuantizedTensor.of(f, rows, w.cols(), w.data().asSlice(0, rows * f.rowBytes(w.cols())),
                w.scales() == null ? null : w.scales().asSlice(0, params),
                w.zeros() == null ? null : w.zeros().asSlice(0, params), w.levels());
    }
}

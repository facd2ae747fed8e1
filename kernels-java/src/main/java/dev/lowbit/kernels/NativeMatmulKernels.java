package dev.lowbit.kernels;

import dev.lowbit.format.InterleavedTensor;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.nativelib.NativeLibrary;
import dev.lowbit.nativelib.NativeLibrary.Tier;
import dev.lowbit.nativelib.NativeMatmul;

import java.lang.foreign.MemorySegment;

/**
 * Matmuls in C through FFM ({@link NativeMatmul}) where a native kernel exists, the Vector API (or the
 * scalar reference) elsewhere.
 *
 * <p>Native, for Q8_0 and Q4_0 weights:
 * <ul>
 *   <li>the integer path, with Q8_0 or per-token int8 activations. The C kernels form each block's sum exactly
 *       in int32 ({@code vpmaddwd}/{@code vpmaddubsw} with AVX2, {@code vpdpbusd} with AVX-512 VNNI) and then take
 *       the scalar reference's fp32 steps in its order, so the results equal {@link ScalarMatmulKernels}' bit
 *       for bit, whatever the tier and however rows and tokens are split;</li>
 *   <li>the weight-only path: the generic tier in the reference's order (its bits), AVX2 and AVX-512 with FMA
 *       in 8 or 16 lanes, within the bound that reordering allows and the same bits whatever the split.</li>
 * </ul>
 * Sparse outliers are added here afterwards, in the reference's order.
 *
 * <p>Delegated to the Vector API (or the scalar reference): Q4_1, grouped codes and codebooks.
 */
public final class NativeMatmulKernels implements MatmulKernels {
    private final NativeMatmul calls;
    private final MatmulKernels fallback;

    private NativeMatmulKernels(NativeMatmul calls, MatmulKernels fallback) {
        this.calls = calls;
        this.fallback = fallback;
    }

    /** The native matmuls at the tier {@link NativeLibrary} chose, or null when the library is not available. */
    public static MatmulKernels create() {
        return NativeLibrary.available() ? new NativeMatmulKernels(NativeMatmul.selected(), fallback()) : null;
    }

    /** The native matmuls at {@code tier}, at most {@link NativeLibrary#hardwareTier()} (for tests). */
    static NativeMatmulKernels forTier(Tier tier) {
        return new NativeMatmulKernels(NativeMatmul.of(tier), fallback());
    }

    private static MatmulKernels fallback() {
        MatmulKernels v = KernelProvider.vectorMatmul();
        return v != null ? v : KernelProvider.scalarMatmul();
    }

    @Override
    public String name() {
        return "native-" + calls.tier().suffix();
    }

    /** What runs the formats and paths that have no C kernel. */
    MatmulKernels fallbackKernels() {
        return fallback;
    }

    @Override
    public void gemmInt8(QuantizedTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        NativeMatmul.Weights weights = weights(w);
        if (weights == null) {
            fallback.gemmInt8(w, x, r0, r1, t0, t1, y, ldy);
            return;
        }
        boolean perBlock = x.format() == ActivationFormat.Q8_0;
        calls.gemmInt8(weights, w.data(), MemorySegment.ofArray(x.codes()), MemorySegment.ofArray(x.scales()),
                x.paddedK() / 32, x.scalesPerToken(), perBlock ? 1 : 0, r0, r1, t0, t1, MemorySegment.ofArray(y), ldy);
        SparseOutliers o = w.outliers();
        if (o != null) {
            addOutliers(o, x, r0, r1, t0, t1, y, ldy);
        }
    }

    /** The reference's last step: each outlier times its dequantized activation, in column order. */
    private static void addOutliers(SparseOutliers o, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y,
                                    int ldy) {
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

    @Override
    public void gemmF32(QuantizedTensor w, float[] x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        NativeMatmul.Weights weights = weights(w);
        if (weights == null) {
            fallback.gemmF32(w, x, r0, r1, t0, t1, y, ldy);
            return;
        }
        int k = w.cols();
        calls.gemmF32(weights, w.data(), MemorySegment.ofArray(x), k, r0, r1, t0, t1, MemorySegment.ofArray(y), ldy);
        SparseOutliers o = w.outliers();
        if (o != null) {
            for (int r = r0; r < r1; r++) {
                for (int t = t0; t < t1; t++) {
                    float acc = y[t * ldy + r];
                    for (int e = o.rowPtr(r); e < o.rowPtr(r + 1); e++) {
                        acc += o.value(e) * x[t * k + o.col(e)];
                    }
                    y[t * ldy + r] = acc;
                }
            }
        }
    }

    /** Row-interleaved Q8_0 or Q4_0: the C kernels of {@code matmul_x8_*.c}, bit for bit the plain rows' result. */
    @Override
    public void gemmInt8(InterleavedTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y,
                         int ldy) {
        boolean perBlock = x.format() == ActivationFormat.Q8_0;
        calls.gemmInt8Interleaved(w.layout(), w.data(), MemorySegment.ofArray(x.codes()),
                MemorySegment.ofArray(x.scales()), x.paddedK() / 32, x.scalesPerToken(), perBlock ? 1 : 0, r0, r1, t0,
                t1, MemorySegment.ofArray(y), ldy);
        if (w.outliers() != null) {
            InterleavedRows.addOutliers(w.outliers(), x, r0, r1, t0, t1, y, ldy);
        }
    }

    /** The native kernel family of {@code w}'s format, or null when it has none. */
    private static NativeMatmul.Weights weights(QuantizedTensor w) {
        return switch (w.format().kind()) {
            case Q8_0 -> NativeMatmul.Weights.Q8_0;
            case Q4_0 -> NativeMatmul.Weights.Q4_0;
            default -> null;
        };
    }
}

package dev.lowbit.kernels.impl;

import dev.lowbit.format.InterleavedTensor;
import dev.lowbit.format.Int8RowTensor;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.bindings.nativelib.NativeLibrary;
import dev.lowbit.bindings.nativelib.NativeLibrary.Tier;
import dev.lowbit.bindings.nativelib.NativeMatmul;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.MatmulKernels;
import dev.lowbit.kernels.QuantizedActivations;

import java.lang.foreign.MemorySegment;

/**
 * Matmuls in C through FFM ({@link NativeMatmul}) where a native kernel exists,
 * the Vector API (or the scalar reference) elsewhere.
 *
 * <p>Native, for Q8_0, Q4_0, Q4_1 and grouped 4- and 8-bit weights (symmetric or not, any group size and scale
 * type):
 * <ul>
 *   <li>the integer path, with Q8_0 or per-token int8 activations. The C kernels form each block's sum exactly
 *       in int32 ({@code vpmaddwd}/{@code vpmaddubsw} with AVX2, {@code vpdpbusd} with AVX-512 VNNI) and then take
 *       the scalar reference's fp32 steps in its order, so the results equal {@link ScalarMatmulKernels}' bit
 *       for bit, whatever the tier and however rows and tokens are split;</li>
 *   <li>the weight-only path, for those and for grouped 2- and 3-bit weights and 4-bit codebooks too: the
 *       generic tier in the reference's order (its bits), AVX2 and AVX-512 with FMA in 8 or 16 lanes, within the
 *       bound that reordering allows and the same bits whatever the split.</li>
 * </ul>
 * Q5_0, Q5_1, IQ4_NL and the K-quants Q2_K to Q6_K take the integer path in C too ({@code matmul_kq_*.c}): exact
 * int32 sums per block (K-quants: per sub-block, scaled in int32 per super-block) and the reference's fp32 steps in
 * its order, its bits at every tier. Sparse outliers are added here afterwards, in the reference's order. Every format has a native kernel on both
 * paths; the fallback remains for what the C code cannot take.
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
    public static NativeMatmulKernels forTier(Tier tier) {
        return new NativeMatmulKernels(NativeMatmul.of(tier), fallback());
    }

    private static MatmulKernels fallback() {
        MatmulKernels v = VectorSupport.unavailable() == null ? VectorSupport.matmul() : null;
        return v != null ? v : ScalarMatmulKernels.INSTANCE;
    }

    @Override
    public String name() {
        return "native-" + calls.tier().suffix();
    }

    /** What runs the formats and paths that have no C kernel. */
    MatmulKernels fallbackKernels() {
        return fallback;
    }

    /** Q5_0, Q5_1, IQ4_NL and the K-quants Q2_K to Q6_K: the C kernels of {@code matmul_kq_*.c}. */
    @Override
    public boolean takesBlocks(QuantFormat f) {
        return NativeMatmul.takesBlocks(f);
    }

    /** The fp32 path of those blocks has no C kernel: it runs on the fallback kernels (the Vector API's). */
    @Override
    public boolean takesBlocksF32(QuantFormat f) {
        return fallback.takesBlocksF32(f);
    }

    @Override
    public void gemmInt8(QuantizedTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        NativeMatmul.Weights weights = weights(w);
        boolean perBlock = x.format() == ActivationFormat.Q8_0;
        if (NativeMatmul.takesBlocks(w.format())) {
            calls.gemmBlocks(w.format(), w.cols(), w.data(), MemorySegment.ofArray(x.codes()),
                    MemorySegment.ofArray(x.scales()), r0, r1, t0, t1, MemorySegment.ofArray(y), ldy);
        } else if (weights != null) {
            calls.gemmInt8(weights, w.data(), MemorySegment.ofArray(x.codes()), MemorySegment.ofArray(x.scales()),
                    x.paddedK() / 32, x.scalesPerToken(), perBlock ? 1 : 0, r0, r1, t0, t1, MemorySegment.ofArray(y),
                    ldy);
        } else if (NativeMatmul.takesInt8(w.format())) {
            calls.gemmInt8(w.format(), w.cols(), w.data(), w.scales(), w.zeros(), MemorySegment.ofArray(x.codes()),
                    MemorySegment.ofArray(x.scales()), x.scalesPerToken(), perBlock ? 1 : 0, r0, r1, t0, t1,
                    MemorySegment.ofArray(y), ldy);
        } else {
            fallback.gemmInt8(w, x, r0, r1, t0, t1, y, ldy);
            return;
        }
        SparseOutliers o = w.outliers();
        if (o != null) {
            OutlierSums.add(o, x, r0, r1, t0, t1, y, ldy);
        }
    }

    @Override
    public void gemmF32(QuantizedTensor w, float[] x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        NativeMatmul.Weights weights = weights(w);
        int k = w.cols();
        if (weights != null) {
            calls.gemmF32(weights, w.data(), MemorySegment.ofArray(x), k, r0, r1, t0, t1, MemorySegment.ofArray(y), ldy);
        } else if (NativeMatmul.takesF32(w.format())) {
            float[] levels = w.levels();
            calls.gemmF32(w.format(), k, w.data(), w.scales(), w.zeros(),
                    levels == null ? null : MemorySegment.ofArray(levels), MemorySegment.ofArray(x), r0, r1, t0, t1,
                    MemorySegment.ofArray(y), ldy);
        } else {
            fallback.gemmF32(w, x, r0, r1, t0, t1, y, ldy);
            return;
        }
        SparseOutliers o = w.outliers();
        if (o != null) {
            OutlierSums.add(o, x, k, r0, r1, t0, t1, y, ldy);
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
            OutlierSums.add(w.outliers(), x, r0, r1, t0, t1, y, ldy);
        }
    }

    /** {@code i8_rowx16}: the C kernels of {@code matmul_i8row_*.c}, the reference's bits at every tier. */
    @Override
    public void gemmInt8(Int8RowTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        Int8RowReference.requirePerToken(x);
        calls.gemmInt8Rows(w.data(), MemorySegment.ofArray(x.codes()), MemorySegment.ofArray(x.scales()), w.cols(),
                x.paddedK(), x.scalesPerToken(), r0, r1, t0, t1, MemorySegment.ofArray(y), ldy);
    }

    /** Row-interleaved Q8_0 or Q4_0 on the weight-only path: the plain rows' result at this tier, bit for bit. */
    @Override
    public void gemmF32(InterleavedTensor w, float[] x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        calls.gemmF32Interleaved(w.layout(), w.data(), MemorySegment.ofArray(x), w.cols(), r0, r1, t0, t1,
                MemorySegment.ofArray(y), ldy);
        if (w.outliers() != null) {
            OutlierSums.add(w.outliers(), x, w.cols(), r0, r1, t0, t1, y, ldy);
        }
    }

    /** The native Q8_0/Q4_0 kernel family of {@code w}'s format, or null (the planes' kernels or none). */
    private static NativeMatmul.Weights weights(QuantizedTensor w) {
        return switch (w.format().kind()) {
            case Q8_0 -> NativeMatmul.Weights.Q8_0;
            case Q4_0 -> NativeMatmul.Weights.Q4_0;
            default -> null;
        };
    }
}

package dev.lowbit.kernels;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;

import java.lang.foreign.MemorySegment;

/**
 * The row-level kernels one implementation provides. {@link QuantOps} adds argument checks,
 * non-finite handling, outliers and threading on top, so an implementation only does arithmetic.
 * Every implementation returns exactly what the scalar reference ({@link KernelProvider#scalar()}) returns.
 */
public interface QuantKernels {

    /** A short name for logs and benchmarks, e.g. {@code scalar} or {@code vector-256}. */
    String name();

    /**
     * Quantizes one row of finite values.
     *
     * @param f        the format
     * @param codebook the codebook levels, midpoints and reach (codebook formats), else null
     * @param src      the row is {@code src[off, off + cols)}
     * @param rowBytes receives {@code f.rowBytes(cols)} bytes: ggml blocks, or packed codes
     * @param scales   receives one stored scale per group (plane formats)
     * @param zeros    receives one stored zero point per group (asymmetric grouped formats)
     * @return false, with the outputs unspecified, when the row holds a NaN or an infinity (found
     *         through the group statistics, so that finite rows pay no separate pass)
     */
    boolean quantizeRow(QuantFormat f, Codebook codebook, float[] src, int off, int cols, byte[] rowBytes,
                     float[] scales, float[] zeros);

    /**
     * Quantizes rows {@code [r0, r1)} of a ggml-format (Q8_0, Q4_0, Q4_1) matrix in one pass, straight into its
     * data plane, when the implementation has such a pass; the rows it finishes are byte for byte what
     * {@link #quantizeRow} writes. It stops at the first row that holds a NaN or an infinity or needs a scale the
     * format cannot store, and leaves that row to {@link #quantizeRow}.
     *
     * @param src  the matrix, {@code cols} fp32 values per row from row 0 (a heap or native segment)
     * @param data the whole data plane, {@code f.rowBytes(cols)} bytes per row
     * @return the first row not written: {@code r1} when all were, {@code r0} when there is no such pass (the default)
     */
    default int quantizeGgmlRows(QuantFormat f, MemorySegment src, int cols, int r0, int r1, MemorySegment data) {
        return r0;
    }

    /** Dequantizes row {@code row} of {@code t} (without outliers) into {@code dst[off, off + t.cols())}. */
    void dequantizeRow(QuantizedTensor t, int row, float[] dst, int off);

    /**
     * Minimum, maximum and absolute maximum of each group of {@code groupLen} elements of
     * {@code src[off, off + len)}; the last group may be shorter. Written at {@code out[outOff + g]}.
     */
    void groupStats(float[] src, int off, int len, int groupLen, float[] min, float[] max, float[] absmax, int outOff);

    /** Index of the first NaN or infinity in {@code src[off, off + len)}, relative to {@code off}, or -1. */
    int firstNonFinite(float[] src, int off, int len);
}

package dev.lowbit.format;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Full-precision values added to a dense quantized tensor, in CSR form: {@code rowPtr} holds
 * {@code rows + 1} int32 offsets, {@code colIdx} and {@code values} hold {@code nnz} int32 column
 * indices (strictly increasing within a row) and fp32 values. The dequantized tensor is the dense
 * dequantized tensor plus these values at their positions.
 */
public final class SparseOutliers {
    private final int rows;
    private final int cols;
    private final int nnz;
    private final MemorySegment rowPtr;
    private final MemorySegment colIdx;
    private final MemorySegment values;

    private SparseOutliers(int rows, int cols, MemorySegment rowPtr, MemorySegment colIdx, MemorySegment values) {
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("outlier shape must be non-negative, got " + rows + "x" + cols);
        }
        if (rowPtr.byteSize() != 4L * (rows + 1)) {
            throw new IllegalArgumentException("outlier rowPtr must hold rows+1 = " + (rows + 1) + " int32, has "
                    + rowPtr.byteSize() + " bytes");
        }
        long n = colIdx.byteSize() / 4;
        if (colIdx.byteSize() % 4 != 0 || values.byteSize() != colIdx.byteSize() || n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("outlier colIdx and values must hold the same number of 4-byte entries, got "
                    + colIdx.byteSize() + " and " + values.byteSize() + " bytes");
        }
        this.rows = rows;
        this.cols = cols;
        this.nnz = (int) n;
        this.rowPtr = rowPtr.asReadOnly();
        this.colIdx = colIdx.asReadOnly();
        this.values = values.asReadOnly();
        validate();
    }

    private void validate() {
        if (rowPtr(0) != 0) {
            throw new IllegalArgumentException("outlier rowPtr[0] must be 0, got " + rowPtr(0));
        }
        for (int r = 0; r < rows; r++) {
            int from = rowPtr(r);
            int to = rowPtr(r + 1);
            if (to < from || to > nnz) {
                throw new IllegalArgumentException("outlier rowPtr[" + (r + 1) + "] = " + to + " is out of order or beyond nnz "
                        + nnz);
            }
            int prev = -1;
            for (int j = from; j < to; j++) {
                int c = col(j);
                if (c <= prev || c >= cols) {
                    throw new IllegalArgumentException("outlier column " + c + " at entry " + j + " (row " + r
                            + ") must increase within the row and lie in [0, " + cols + ")");
                }
                prev = c;
                if (!Float.isFinite(value(j))) {
                    throw new IllegalArgumentException("outlier value at entry " + j + " is " + value(j));
                }
            }
        }
        if (rowPtr(rows) != nnz) {
            throw new IllegalArgumentException("outlier rowPtr[rows] must equal nnz " + nnz + ", got " + rowPtr(rows));
        }
    }

    /** Wraps existing planes after checking them (used by file readers). */
    public static SparseOutliers of(int rows, int cols, MemorySegment rowPtr, MemorySegment colIdx, MemorySegment values) {
        return new SparseOutliers(rows, cols, rowPtr, colIdx, values);
    }

    /** Copies CSR arrays into segments allocated in {@code arena}. */
    public static SparseOutliers of(int rows, int cols, int[] rowPtr, int[] colIdx, float[] values, Arena arena) {
        if (colIdx.length != values.length) {
            throw new IllegalArgumentException("colIdx has " + colIdx.length + " entries but values has " + values.length);
        }
        MemorySegment rp = arena.allocate(4L * rowPtr.length, 4);
        MemorySegment ci = arena.allocate(4L * colIdx.length, 4);
        MemorySegment va = arena.allocate(4L * values.length, 4);
        MemorySegment.copy(rowPtr, 0, rp, Layouts.I32, 0, rowPtr.length);
        MemorySegment.copy(colIdx, 0, ci, Layouts.I32, 0, colIdx.length);
        MemorySegment.copy(values, 0, va, Layouts.F32, 0, values.length);
        return new SparseOutliers(rows, cols, rp, ci, va);
    }

    /**
     * Takes out of {@code w} (row-major {@code rows x cols}) every entry with {@code |w| > threshold}:
     * the entry moves into the returned outliers and becomes 0 in {@code w}.
     */
    public static SparseOutliers extract(float[] w, int rows, int cols, float threshold, Arena arena) {
        if ((long) rows * cols != w.length) {
            throw new IllegalArgumentException("w has " + w.length + " values, not rows*cols = " + (long) rows * cols);
        }
        int[] rowPtr = new int[rows + 1];
        int count = 0;
        for (int i = 0; i < w.length; i++) {
            if (Math.abs(w[i]) > threshold) {
                count++;
            }
        }
        int[] colIdx = new int[count];
        float[] vals = new float[count];
        int k = 0;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                int i = r * cols + c;
                if (Math.abs(w[i]) > threshold) {
                    colIdx[k] = c;
                    vals[k++] = w[i];
                    w[i] = 0f;
                }
            }
            rowPtr[r + 1] = k;
        }
        return of(rows, cols, rowPtr, colIdx, vals, arena);
    }

    public int rows() {
        return rows;
    }

    public int cols() {
        return cols;
    }

    public int nnz() {
        return nnz;
    }

    /** Entry offset where row {@code r} starts; {@code rowPtr(rows)} is {@code nnz}. */
    public int rowPtr(int r) {
        return rowPtr.getAtIndex(Layouts.I32, r);
    }

    public int col(int entry) {
        return colIdx.getAtIndex(Layouts.I32, entry);
    }

    public float value(int entry) {
        return values.getAtIndex(Layouts.F32, entry);
    }

    public MemorySegment rowPtrPlane() {
        return rowPtr;
    }

    public MemorySegment colIdxPlane() {
        return colIdx;
    }

    public MemorySegment valuesPlane() {
        return values;
    }
}

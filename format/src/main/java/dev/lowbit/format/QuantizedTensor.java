package dev.lowbit.format;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * An immutable quantized matrix of {@code rows x cols} fp32 values, row-major, over memory segments
 * whose arena the caller controls. Planes:
 * <ul>
 *   <li>{@code data}: ggml blocks (Q8_0, Q4_0, Q4_1) or packed codes, {@code format.rowBytes(cols)} per row;</li>
 *   <li>{@code scales}: one scale per group, row-major {@code rows x groupsPerRow}, in the format's scale type
 *       (absent for ggml formats, whose scales live in the blocks);</li>
 *   <li>{@code zeros}: one zero point per group, same shape and type (asymmetric grouped formats only);</li>
 *   <li>{@code levels}: the 16 codebook levels (codebook format only);</li>
 *   <li>{@code outliers}: an optional sparse side structure added on dequantization.</li>
 * </ul>
 * The segments are held as read-only views. The tensor does not own them: it is valid while their
 * arena is alive, and a caller who writes the same memory through another view changes it.
 */
public final class QuantizedTensor {
    private final QuantFormat format;
    private final int rows;
    private final int cols;
    private final MemorySegment data;
    private final MemorySegment scales;
    private final MemorySegment zeros;
    private final float[] levels;
    private final SparseOutliers outliers;

    private QuantizedTensor(QuantFormat format, int rows, int cols, MemorySegment data, MemorySegment scales,
                            MemorySegment zeros, float[] levels, SparseOutliers outliers) {
        this.format = Objects.requireNonNull(format, "format");
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("shape must be non-negative, got " + rows + "x" + cols);
        }
        if (!format.fitsRow(cols)) {
            throw new IllegalArgumentException(format + " holds whole blocks of " + format.kind().blockElements()
                    + " elements only, but a row has " + cols);
        }
        this.rows = rows;
        this.cols = cols;
        this.data = checkPlane("data", data, (long) rows * format.rowBytes(cols));
        long groups = (long) rows * format.groupsPerRow(cols);
        boolean planes = !format.isGgml();
        this.scales = planes ? checkPlane("scales", scales, groups * format.scaleType().bytes()) : absent("scales", scales);
        this.zeros = format.hasZeroPlane() ? checkPlane("zeros", zeros, groups * format.scaleType().bytes())
                : absent("zeros", zeros);
        if (format.hasLevels()) {
            this.levels = Codebooks.checkLevels(levels);
        } else if (levels != null) {
            throw new IllegalArgumentException("levels are only for codebook formats, not " + format);
        } else {
            this.levels = null;
        }
        if (outliers != null && (outliers.rows() != rows || outliers.cols() != cols)) {
            throw new IllegalArgumentException("outliers are " + outliers.rows() + "x" + outliers.cols()
                    + " but the tensor is " + rows + "x" + cols);
        }
        this.outliers = outliers;
    }

    private static MemorySegment checkPlane(String name, MemorySegment seg, long want) {
        if (seg == null) {
            throw new IllegalArgumentException(name + " plane is missing");
        }
        if (seg.byteSize() != want) {
            throw new IllegalArgumentException(name + " plane must be " + want + " bytes, got " + seg.byteSize());
        }
        return seg.asReadOnly();
    }

    private MemorySegment absent(String name, MemorySegment seg) {
        if (seg != null) {
            throw new IllegalArgumentException(name + " plane is not part of " + format);
        }
        return null;
    }

    /**
     * Wraps planes after checking their sizes against the format.
     *
     * @param scales null for ggml formats
     * @param zeros  null unless the format is asymmetric grouped
     * @param levels null unless the format is a codebook
     */
    public static QuantizedTensor of(QuantFormat format, int rows, int cols, MemorySegment data, MemorySegment scales,
                                     MemorySegment zeros, float[] levels) {
        return new QuantizedTensor(format, rows, cols, data, scales, zeros, levels, null);
    }

    /** The same tensor carrying {@code outliers} (or none, when null). */
    public QuantizedTensor withOutliers(SparseOutliers outliers) {
        return new QuantizedTensor(format, rows, cols, data, scales, zeros, levels, outliers);
    }

    public QuantFormat format() {
        return format;
    }

    public int rows() {
        return rows;
    }

    public int cols() {
        return cols;
    }

    public long elements() {
        return (long) rows * cols;
    }

    public MemorySegment data() {
        return data;
    }

    /** Per-group scales, or null for ggml formats. */
    public MemorySegment scales() {
        return scales;
    }

    /** Per-group zero points, or null. */
    public MemorySegment zeros() {
        return zeros;
    }

    /** A copy of the codebook levels, or null. */
    public float[] levels() {
        return levels == null ? null : levels.clone();
    }

    /** The outliers, or null. */
    public SparseOutliers outliers() {
        return outliers;
    }

    /** Bytes of all planes together, outliers included. */
    public long byteSize() {
        long n = data.byteSize();
        n += scales == null ? 0 : scales.byteSize();
        n += zeros == null ? 0 : zeros.byteSize();
        n += levels == null ? 0 : 64;
        if (outliers != null) {
            n += outliers.rowPtrPlane().byteSize() + outliers.colIdxPlane().byteSize() + outliers.valuesPlane().byteSize();
        }
        return n;
    }

    @Override
    public String toString() {
        return "QuantizedTensor[" + format + ", " + rows + "x" + cols
                + (outliers == null ? "" : ", " + outliers.nnz() + " outliers") + "]";
    }
}

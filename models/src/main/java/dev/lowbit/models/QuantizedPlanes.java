package dev.lowbit.models;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * The safetensors entries of a lowbit quantized tensor, named {@code <tensor>.<part>}: the same planes,
 * dtypes and shapes as the lowbit container ({@code dev.lowbit.io.LowbitFile}), so that a safetensors
 * file of quantized tensors alone is also a lowbit file.
 */
final class QuantizedPlanes {
    private QuantizedPlanes() {
    }

    /** One plane: its name after {@code "<tensor>."}, safetensors dtype and shape. */
    record Spec(String part, String dtype, List<Long> shape) {
    }

    /** The planes of a tensor of this format and shape, in file order; {@code nnz} is -1 without outliers. */
    static List<Spec> specs(QuantFormat f, int rows, int cols, long nnz) {
        String st = f.scaleType() == ScaleType.F16 ? "F16" : "F32";
        List<Long> groups = List.of((long) rows, (long) f.groupsPerRow(cols));
        List<Spec> out = new ArrayList<>();
        out.add(new Spec("data", "U8", List.of((long) rows, f.rowBytes(cols))));
        if (!f.isGgml()) {
            out.add(new Spec("scales", st, groups));
        }
        if (f.hasZeroPlane()) {
            out.add(new Spec("zeros", st, groups));
        }
        if (f.kind() == QuantFormat.Kind.CODEBOOK4) {
            out.add(new Spec("levels", "F32", List.of(16L)));
        }
        if (nnz >= 0) {
            out.add(new Spec("outliers.row_ptr", "I32", List.of(rows + 1L)));
            out.add(new Spec("outliers.col_idx", "I32", List.of(nnz)));
            out.add(new Spec("outliers.values", "F32", List.of(nnz)));
        }
        return out;
    }

    /** The tensor's planes in the order of {@link #specs}. */
    static List<MemorySegment> segments(QuantizedTensor t) {
        List<MemorySegment> out = new ArrayList<>();
        out.add(t.data());
        if (t.scales() != null) {
            out.add(t.scales());
        }
        if (t.zeros() != null) {
            out.add(t.zeros());
        }
        if (t.format().kind() == QuantFormat.Kind.CODEBOOK4) {
            MemorySegment lv = MemorySegment.ofArray(new byte[64]);
            MemorySegment.copy(t.levels(), 0, lv, Layouts.F32, 0, 16);
            out.add(lv);
        }
        SparseOutliers o = t.outliers();
        if (o != null) {
            out.add(o.rowPtrPlane());
            out.add(o.colIdxPlane());
            out.add(o.valuesPlane());
        }
        return out;
    }

    /**
     * Builds a tensor over planes given in the order of {@link #specs}.
     *
     * @throws IllegalArgumentException if the planes do not make a valid tensor (a bad codebook, CSR)
     */
    static QuantizedTensor tensor(QuantFormat f, int rows, int cols, boolean outliers, List<MemorySegment> s) {
        int i = 0;
        MemorySegment data = s.get(i++);
        MemorySegment scales = f.isGgml() ? null : s.get(i++);
        MemorySegment zeros = f.hasZeroPlane() ? s.get(i++) : null;
        float[] levels = f.kind() == QuantFormat.Kind.CODEBOOK4 ? s.get(i++).toArray(Layouts.F32) : null;
        QuantizedTensor t = QuantizedTensor.of(f, rows, cols, data, scales, zeros, levels);
        return outliers ? t.withOutliers(SparseOutliers.of(rows, cols, s.get(i), s.get(i + 1), s.get(i + 2))) : t;
    }
}

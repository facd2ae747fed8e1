package dev.lowbit.kernels.gpu.cuda;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.SparseOutliers;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Rows {@code [r0, r1)} of a quantized tensor as a tensor of its own: views of its planes, outliers rebased. */
final class RowSlices {
    private RowSlices() {
    }

    static QuantizedTensor rows(QuantizedTensor t, int r0, int r1, Arena arena) {
        QuantFormat f = t.format();
        int cols = t.cols();
        int n = r1 - r0;
        long rowBytes = f.rowBytes(cols);
        MemorySegment data = t.data().asSlice(r0 * rowBytes, n * rowBytes);
        MemorySegment scales = null;
        MemorySegment zeros = null;
        if (!f.isGgml()) {
            long pb = (long) f.groupsPerRow(cols) * f.scaleType().bytes();
            scales = t.scales().asSlice(r0 * pb, n * pb);
            if (f.hasZeroPlane()) {
                zeros = t.zeros().asSlice(r0 * pb, n * pb);
            }
        }
        QuantizedTensor s = QuantizedTensor.of(f, n, cols, data, scales, zeros, t.levels());
        SparseOutliers o = t.outliers();
        if (o == null) {
            return s;
        }
        int e0 = o.rowPtr(r0);
        int e1 = o.rowPtr(r1);
        int[] ptr = new int[n + 1];
        for (int r = 0; r <= n; r++) {
            ptr[r] = o.rowPtr(r0 + r) - e0;
        }
        int[] col = new int[e1 - e0];
        float[] val = new float[e1 - e0];
        MemorySegment.copy(o.colIdxPlane(), ValueLayout.JAVA_INT, 4L * e0, col, 0, col.length);
        MemorySegment.copy(o.valuesPlane(), ValueLayout.JAVA_FLOAT, 4L * e0, val, 0, val.length);
        return s.withOutliers(SparseOutliers.of(n, cols, ptr, col, val, arena));
    }
}

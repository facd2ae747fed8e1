package dev.lowbit.kernels.gpu.cuda;

import dev.lowbit.format.Codebooks;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.bindings.cuda.DeviceMemory;

import java.util.ArrayList;
import java.util.List;

/**
 * A quantized tensor's planes in device memory: codes (or ggml blocks), scales, zero points, the codebook table
 * (16 levels, 15 midpoints and the reach, as fp32) and the outliers' CSR planes. Every plane a format lacks is a
 * small placeholder, so kernels always get valid pointers. {@link #close()} frees them all.
 */
public final class DeviceTensor implements AutoCloseable {
    private final QuantFormat format;
    private final int rows;
    private final int cols;
    final DeviceMemory data;
    final DeviceMemory scales;
    final DeviceMemory zeros;
    final DeviceMemory codebook;
    final DeviceMemory rowPtr;
    final DeviceMemory colIdx;
    final DeviceMemory values;
    /** Per-row {d, sub, add, zero} of whole-row quantization (16 bytes per row), a placeholder otherwise. */
    final DeviceMemory rowParams;
    private final int nnz;
    private final float[] levels;

    private DeviceTensor(QuantFormat format, int rows, int cols, List<DeviceMemory> planes, int nnz, float[] levels) {
        this.format = format;
        this.rows = rows;
        this.cols = cols;
        this.data = planes.get(0);
        this.scales = planes.get(1);
        this.zeros = planes.get(2);
        this.codebook = planes.get(3);
        this.rowPtr = planes.get(4);
        this.colIdx = planes.get(5);
        this.values = planes.get(6);
        this.rowParams = planes.get(7);
        this.nnz = nnz;
        this.levels = levels;
    }

    /** Copies {@code t} (outliers included) to the device of {@code rt}. */
    public static DeviceTensor upload(CudaRuntime rt, QuantizedTensor t) {
        List<DeviceMemory> planes = new ArrayList<>();
        try {
            planes.add(rt.upload(t.data()));
            planes.add(t.scales() == null ? rt.allocate(16) : rt.upload(t.scales()));
            planes.add(t.zeros() == null ? rt.allocate(16) : rt.upload(t.zeros()));
            planes.add(uploadTable(rt, codebookTable(t.levels())));
            SparseOutliers o = t.outliers();
            planes.add(o == null ? rt.allocate(16) : rt.upload(o.rowPtrPlane()));
            planes.add(o == null || o.nnz() == 0 ? rt.allocate(16) : rt.upload(o.colIdxPlane()));
            planes.add(o == null || o.nnz() == 0 ? rt.allocate(16) : rt.upload(o.valuesPlane()));
            planes.add(rt.allocate(16));
            return new DeviceTensor(t.format(), t.rows(), t.cols(), planes, o == null ? -1 : o.nnz(), t.levels());
        } catch (RuntimeException e) {
            planes.forEach(DeviceMemory::close);
            throw e;
        }
    }

    /** Device planes for a new {@code rows x cols} tensor of {@code format}, to be filled by a quantize kernel. */
    public static DeviceTensor allocate(CudaRuntime rt, QuantFormat f, int rows, int cols, float[] levels) {
        List<DeviceMemory> planes = new ArrayList<>();
        try {
            long groups = (long) rows * f.groupsPerRow(cols);
            long sb = f.scaleType().bytes();
            planes.add(rt.allocate(Math.max(16, rows * f.rowBytes(cols))));
            planes.add(rt.allocate(f.isGgml() ? 16 : Math.max(16, groups * sb)));
            planes.add(rt.allocate(f.hasZeroPlane() ? Math.max(16, groups * sb) : 16));
            planes.add(uploadTable(rt, codebookTable(levels)));
            for (int i = 0; i < 3; i++) {
                planes.add(rt.allocate(16));
            }
            boolean wholeRows = f.groupSize() == QuantFormat.ROW && !f.isGgml();
            planes.add(rt.allocate(wholeRows ? Math.max(16, 16L * rows) : 16));
            return new DeviceTensor(f, rows, cols, planes, -1, levels == null ? null : levels.clone());
        } catch (RuntimeException e) {
            planes.forEach(DeviceMemory::close);
            throw e;
        }
    }

    /** 16 levels, 15 midpoints and the reach, exactly as {@link Codebooks} computes them; 1.0 reach otherwise. */
    static float[] codebookTable(float[] levels) {
        float[] table = new float[32];
        if (levels == null) {
            table[31] = 1f;
            return table;
        }
        float[] mids = Codebooks.midpoints(levels);
        System.arraycopy(levels, 0, table, 0, 16);
        System.arraycopy(mids, 0, table, 16, 15);
        table[31] = Codebooks.reach(levels);
        return table;
    }

    private static DeviceMemory uploadTable(CudaRuntime rt, float[] table) {
        return rt.upload(table, 0, table.length);
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

    /** Whether outliers were uploaded with the tensor. */
    public boolean hasOutliers() {
        return nnz >= 0;
    }

    int nnz() {
        return nnz;
    }

    float[] levels() {
        return levels == null ? null : levels.clone();
    }

    /** The kernel's format arguments: kind, bits, group length, symmetric, fp16 scales. */
    Object[] formatArgs() {
        return new Object[] {format.groupLength(cols), kindCode(format), format.bits(), format.symmetric() ? 1 : 0,
            format.scaleType() == ScaleType.F16 ? 1 : 0};
    }

    /**
     * The kind's number in the kernels (LB_Q8_0 .. LB_CODEBOOK4 of {@code lowbit_common.cuh}).
     *
     * @throws IllegalArgumentException for a kind the CUDA kernels do not take
     */
    static int kindCode(QuantFormat f) {
        return switch (f.kind()) {
            case Q8_0 -> 0;
            case Q4_0 -> 1;
            case Q4_1 -> 2;
            case GROUPED -> 3;
            case CODEBOOK4 -> 4;
            default -> throw new IllegalArgumentException("the CUDA kernels take Q8_0, Q4_0, Q4_1, grouped and codebook"
                    + " formats, not " + f);
        };
    }

    @Override
    public void close() {
        for (DeviceMemory m : new DeviceMemory[] {data, scales, zeros, codebook, rowPtr, colIdx, values, rowParams}) {
            m.close();
        }
    }
}

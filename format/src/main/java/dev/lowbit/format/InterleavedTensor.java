package dev.lowbit.format;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * Q8_0 or Q4_0 weights repacked for the matmul kernels: rows interleaved in groups of 8 ({@code q8_0x8},
 * {@code q4_0x8}; the byte layout is in {@code docs/formats.md}). A vector then holds the same 4 codes of 8 rows,
 * so a kernel forms 8 rows' block sums in 8 lanes with no horizontal additions and loads 8 scales at once.
 * It holds the same values as the plain tensor it was made from and gives the same matmul results, bit for bit.
 *
 * <p>Made once from a plain tensor ({@link #of}), typically when a model is loaded; {@link #toPlain} gives the
 * plain tensor back, byte for byte. Rows are no longer independent in memory: a group of 8 rows shares its
 * superblocks, and the last group is padded with zero bytes.
 */
public final class InterleavedTensor {
    /** Rows per group. */
    public static final int ROWS = 8;

    /** The interleaved layouts, by the plain format they hold. */
    public enum Layout {
        /** Q8_0 rows in 8s: per block of 32 columns, 8 fp16 scales then 8 chunks of 8 rows x 4 codes (272 bytes). */
        Q8_0_X8(QuantFormat.Q8_0, 272, 1),
        /** Q4_0 rows in 8s: per block of 32 columns, 8 fp16 scales then 4 chunks of 8 rows x 4 nibble bytes (144 bytes). */
        Q4_0_X8(QuantFormat.Q4_0, 144, 2);

        private final QuantFormat plain;
        private final int superblockBytes;
        private final int scaleBytesPerRow = 2;
        private final int codeChunkBytes = 4;
        private final int elementsPerByte;

        Layout(QuantFormat plain, int superblockBytes, int elementsPerByte) {
            this.plain = plain;
            this.superblockBytes = superblockBytes;
            this.elementsPerByte = elementsPerByte;
        }

        /** The plain format whose values this layout holds. */
        public QuantFormat plainFormat() {
            return plain;
        }

        /** Bytes of one block of 32 columns for 8 rows. */
        public int superblockBytes() {
            return superblockBytes;
        }

        /** A short stable name: {@code q8_0x8}, {@code q4_0x8}. */
        public String layoutName() {
            return plain.name() + "x8";
        }

        /** The layout holding {@code f}'s values. */
        public static Layout of(QuantFormat f) {
            Objects.requireNonNull(f, "format");
            for (Layout l : values()) {
                if (l.plain.equals(f)) {
                    return l;
                }
            }
            throw new IllegalArgumentException("only Q8_0 and Q4_0 weights have an interleaved layout, not "
                    + f);
        }
    }

    private final Layout layout;
    private final int rows;
    private final int cols;
    private final MemorySegment data;
    private final SparseOutliers outliers;

    private InterleavedTensor(Layout layout, int rows, int cols, MemorySegment data, SparseOutliers outliers) {
        this.layout = Objects.requireNonNull(layout, "layout");
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("shape must be non-negative, got " + rows + "x" + cols);
        }
        this.rows = rows;
        this.cols = cols;
        Objects.requireNonNull(data, "data");
        long want = byteSize(layout, rows, cols);
        if (data.byteSize() != want) {
            throw new IllegalArgumentException("data must be " + want + " bytes for " + layout.layoutName() + " " + rows
                    + "x" + cols + ", got " + data.byteSize());
        }
        this.data = data.asReadOnly();
        if (outliers != null && (outliers.rows() != rows || outliers.cols() != cols)) {
            throw new IllegalArgumentException("outliers are " + outliers.rows() + "x" + outliers.cols()
                    + " but the tensor is " + rows + "x" + cols);
        }
        this.outliers = outliers;
    }

    /** Bytes of the data of a {@code rows x cols} tensor in {@code layout}: whole groups of 8 rows. */
    public static long byteSize(Layout layout, int rows, int cols) {
        long groups = (rows + (long) ROWS - 1) / ROWS;
        long blocks = (cols + 31L) / 32;
        return groups * blocks * layout.superblockBytes();
    }

    /** Wraps interleaved data (for example read back from a file) after checking its size. */
    public static InterleavedTensor wrap(Layout layout, int rows, int cols, MemorySegment data, SparseOutliers outliers) {
        return new InterleavedTensor(layout, rows, cols, data, outliers);
    }

    /**
     * Repacks a Q8_0 or Q4_0 tensor into {@code arena}; its outliers come along.
     *
     * @throws IllegalArgumentException for another format
     */
    public static InterleavedTensor of(QuantizedTensor plain, Arena arena) {
        Objects.requireNonNull(plain, "plain");
        Objects.requireNonNull(arena, "arena");
        Layout layout = Layout.of(plain.format());
        int rows = plain.rows();
        int nb = (plain.cols() + 31) / 32;
        MemorySegment out = arena.allocate(Math.max(1, byteSize(layout, rows, plain.cols())), 64)
                .asSlice(0, byteSize(layout, rows, plain.cols()));
        int bb = plain.format().blockBytes();
        int sb = layout.superblockBytes();
        byte[] src = new byte[ROWS * nb * bb];
        byte[] dst = new byte[nb * sb];
        for (int g = 0; g * ROWS < rows; g++) {
            int n = Math.min(ROWS, rows - g * ROWS);
            java.util.Arrays.fill(src, (byte) 0);
            MemorySegment.copy(plain.data(), Layouts.U8, (long) g * ROWS * nb * bb, src, 0, n * nb * bb);
            java.util.Arrays.fill(dst, (byte) 0);
            for (int b = 0; b < nb; b++) {
                for (int i = 0; i < n; i++) {
                    int p = (i * nb + b) * bb;
                    shuffle(layout, src, p, dst, b * sb, i, true);
                }
            }
            MemorySegment.copy(dst, 0, out, Layouts.U8, (long) g * nb * sb, nb * sb);
        }
        return new InterleavedTensor(layout, rows, plain.cols(), out, plain.outliers());
    }

    private static final VarHandle I32 = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle I16 = MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);

    /**
     * Moves one row's block between the plain block at {@code plain[p]} and row {@code i} of the superblock at
     * {@code sb[s]}: toward the superblock when {@code interleave}, back otherwise. The scale moves as 2 bytes, the
     * codes as chunks of 4.
     */
    private static void shuffle(Layout layout, byte[] plain, int p, byte[] sb, int s, int i, boolean interleave) {
        int chunks = 32 / layout.elementsPerByte / layout.codeChunkBytes;
        if (interleave) {
            I16.set(sb, s + layout.scaleBytesPerRow * i, (short) I16.get(plain, p));
            for (int c = 0; c < chunks; c++) {
                I32.set(sb, s + 16 + 32 * c + 4 * i, (int) I32.get(plain, p + 2 + 4 * c));
            }
        } else {
            I16.set(plain, p, (short) I16.get(sb, s + layout.scaleBytesPerRow * i));
            for (int c = 0; c < chunks; c++) {
                I32.set(plain, p + 2 + 4 * c, (int) I32.get(sb, s + 16 + 32 * c + 4 * i));
            }
        }
    }

    /** The plain tensor these rows came from, byte for byte, in {@code arena}. */
    public QuantizedTensor toPlain(Arena arena) {
        return plainRows(0, rows, arena).withOutliers(outliers);
    }

    /**
     * Rows {@code [r0, r1)} as a plain tensor of {@code r1 - r0} rows in {@code arena}, without outliers.
     *
     * @throws IllegalArgumentException unless {@code 0 <= r0 <= r1 <= rows}
     */
    public QuantizedTensor plainRows(int r0, int r1, Arena arena) {
        Objects.requireNonNull(arena, "arena");
        if (r0 < 0 || r1 < r0 || r1 > rows) {
            throw new IllegalArgumentException("rows must satisfy 0 <= r0 <= r1 <= " + rows + ", got " + r0 + ", " + r1);
        }
        QuantFormat f = layout.plainFormat();
        int nb = (cols + 31) / 32;
        int bb = f.blockBytes();
        int sb = layout.superblockBytes();
        long rowBytes = (long) nb * bb;
        MemorySegment out = arena.allocate(Math.max(1, (r1 - r0) * rowBytes), 64).asSlice(0, (r1 - r0) * rowBytes);
        byte[] src = new byte[nb * sb];
        byte[] dst = new byte[ROWS * nb * bb];
        for (int g = r0 / ROWS; g * ROWS < r1; g++) {
            MemorySegment.copy(data, Layouts.U8, (long) g * nb * sb, src, 0, nb * sb);
            int lo = Math.max(r0, g * ROWS);
            int hi = Math.min(r1, g * ROWS + ROWS);
            for (int r = lo; r < hi; r++) {
                int i = r - g * ROWS;
                for (int b = 0; b < nb; b++) {
                    shuffle(layout, dst, (i * nb + b) * bb, src, b * sb, i, false);
                }
            }
            MemorySegment.copy(dst, (lo - g * ROWS) * nb * bb, out, Layouts.U8, (lo - r0) * rowBytes,
                    (hi - lo) * nb * bb);
        }
        return QuantizedTensor.of(f, r1 - r0, cols, out, null, null, null);
    }

    public Layout layout() {
        return layout;
    }

    public int rows() {
        return rows;
    }

    public int cols() {
        return cols;
    }

    /** The interleaved bytes, read-only. */
    public MemorySegment data() {
        return data;
    }

    /** The outliers, or null. */
    public SparseOutliers outliers() {
        return outliers;
    }

    /** The same tensor carrying {@code outliers} (or none, when null). */
    public InterleavedTensor withOutliers(SparseOutliers outliers) {
        return new InterleavedTensor(layout, rows, cols, data, outliers);
    }

    @Override
    public String toString() {
        return "InterleavedTensor[" + layout.layoutName() + ", " + rows + "x" + cols
                + (outliers == null ? "" : ", " + outliers.nnz() + " outliers") + "]";
    }
}

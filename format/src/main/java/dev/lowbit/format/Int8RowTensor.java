package dev.lowbit.format;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * Symmetric int8 weights with one fp32 scale per row, packed for the integer dot-product instructions
 * ({@code i8_rowx16}; the byte layout is in {@code docs/formats.md}). Rows go in groups of 16 and columns in chunks
 * of 4, so one 64-byte vector holds 4 consecutive codes of 16 rows: the shape of AVX-512 VNNI's {@code vpdpbusd},
 * which multiplies 4 unsigned bytes by 4 signed bytes and adds them into one int32 lane. Each group also keeps its
 * rows' fp32 scales and the sums of their codes, which a kernel needs to take the offset of unsigned activations
 * ({@code x + 128}) back off.
 *
 * <p>The matmul of this layout is its own contract, not a repacking of another format's: every row's int32 sum
 * runs over all its columns before one fp32 step, {@code y = (d_w * d_x) * isum}, where the grouped formats round
 * once per block of 32. It takes per-token int8 activations (one scale per token) only. This is the arithmetic of
 * ONNX Runtime's and oneDNN's int8 matmuls with per-channel weight scales, and of no ggml format.
 *
 * <p>Made once from a plain tensor ({@link #of}) holding symmetric 8-bit codes with one scale per row, typically
 * when a model is loaded. Codes may be -128 to 127; columns at most {@link #MAX_COLS}, which keeps every int32 sum
 * of the kernels, {@code sum (x + 128) * w} included, within range.
 */
public final class Int8RowTensor {
    /** Rows per group. */
    public static final int ROWS = 16;
    /** Columns per chunk: the codes one int32 lane takes. */
    public static final int CHUNK = 4;
    /** Bytes before a group's codes: 16 fp32 scales, then 16 int32 sums of the rows' codes. */
    public static final int HEADER_BYTES = 128;
    /** Columns at most: {@code 255 * 128 * 65536 < 2^31}. */
    public static final int MAX_COLS = 1 << 16;
    /** The name of the layout. */
    public static final String LAYOUT_NAME = "i8_rowx16";

    private final int rows;
    private final int cols;
    private final MemorySegment data;

    private Int8RowTensor(int rows, int cols, MemorySegment data) {
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("shape must be non-negative, got " + rows + "x" + cols);
        }
        if (cols > MAX_COLS) {
            throw new IllegalArgumentException(LAYOUT_NAME + " takes at most " + MAX_COLS + " columns (the int32 sums of "
                    + "the kernels would overflow), got " + cols);
        }
        Objects.requireNonNull(data, "data");
        long want = byteSize(rows, cols);
        if (data.byteSize() != want) {
            throw new IllegalArgumentException(LAYOUT_NAME + " data of " + rows + "x" + cols + " must be " + want
                    + " bytes, got " + data.byteSize());
        }
        this.rows = rows;
        this.cols = cols;
        this.data = data.asReadOnly();
    }

    /** Chunks of 4 columns per row: {@code ceil(cols / 4)}. */
    public static int chunks(int cols) {
        return (cols + CHUNK - 1) / CHUNK;
    }

    /** Bytes of one group of 16 rows. */
    public static long groupBytes(int cols) {
        return HEADER_BYTES + (long) chunks(cols) * CHUNK * ROWS;
    }

    /** Bytes of the whole layout: {@code ceil(rows / 16)} groups. */
    public static long byteSize(int rows, int cols) {
        return (rows + ROWS - 1L) / ROWS * groupBytes(cols);
    }

    /** Wraps packed data (for example read back from a file) after checking its size. */
    public static Int8RowTensor wrap(int rows, int cols, MemorySegment data) {
        return new Int8RowTensor(rows, cols, data);
    }

    /**
     * Packs a tensor of symmetric 8-bit codes with one scale per row ({@code int8_sym_row_f16} or {@code _f32}) into
     * {@code arena}. The codes and scales are the same values; the row sums are computed here.
     *
     * @throws IllegalArgumentException for another format, outliers (this layout has no place for them), or more
     *                                  than {@link #MAX_COLS} columns
     */
    public static Int8RowTensor of(QuantizedTensor plain, Arena arena) {
        Objects.requireNonNull(plain, "plain");
        Objects.requireNonNull(arena, "arena");
        QuantFormat f = plain.format();
        if (f.kind() != QuantFormat.Kind.GROUPED || f.bits() != 8 || !f.symmetric() || f.groupsPerRow(plain.cols()) > 1) {
            throw new IllegalArgumentException(LAYOUT_NAME + " holds symmetric 8-bit codes with one scale per row "
                    + "(int8_sym_row_*), not " + f);
        }
        if (plain.outliers() != null) {
            throw new IllegalArgumentException(LAYOUT_NAME + " has no place for outliers; " + plain.outliers().nnz()
                    + " given");
        }
        int rows = plain.rows();
        int cols = plain.cols();
        if (cols > MAX_COLS) {
            throw new IllegalArgumentException(LAYOUT_NAME + " takes at most " + MAX_COLS + " columns, got " + cols);
        }
        int zero = (int) Reference.symmetricZero(f);
        byte[] codes = new byte[rows * cols];
        float[] scales = new float[rows];
        for (int r = 0; r < rows; r++) {
            scales[r] = cols == 0 ? 0f : Reference.scale(plain, r, 0);
            for (int c = 0; c < cols; c++) {
                codes[r * cols + c] = (byte) (Reference.code(plain, r, c) - zero);
            }
        }
        return of(codes, scales, rows, cols, arena);
    }

    /**
     * Packs row-major signed codes ({@code codes[r * cols + c]}) and one fp32 scale per row into {@code arena}.
     *
     * @throws IllegalArgumentException for wrong lengths, a non-finite scale, or more than {@link #MAX_COLS} columns
     */
    public static Int8RowTensor of(byte[] codes, float[] scales, int rows, int cols, Arena arena) {
        Objects.requireNonNull(codes, "codes");
        Objects.requireNonNull(scales, "scales");
        Objects.requireNonNull(arena, "arena");
        if (rows < 0 || cols < 0 || cols > MAX_COLS) {
            throw new IllegalArgumentException("shape must be non-negative with at most " + MAX_COLS + " columns, got "
                    + rows + "x" + cols);
        }
        if (codes.length != (long) rows * cols || scales.length != rows) {
            throw new IllegalArgumentException("a " + rows + "x" + cols + " tensor takes " + (long) rows * cols
                    + " codes and " + rows + " scales, got " + codes.length + " and " + scales.length);
        }
        for (int r = 0; r < rows; r++) {
            if (!Float.isFinite(scales[r])) {
                throw new IllegalArgumentException("scale of row " + r + " is " + scales[r]);
            }
        }
        long size = byteSize(rows, cols);
        MemorySegment out = arena.allocate(Math.max(1, size), 64).asSlice(0, size);
        int gb = (int) groupBytes(cols);
        byte[] g = new byte[gb];
        for (int g0 = 0; g0 < rows; g0 += ROWS) {
            java.util.Arrays.fill(g, (byte) 0);
            for (int i = 0; i < ROWS && g0 + i < rows; i++) {
                int r = g0 + i;
                int sum = 0;
                for (int c = 0; c < cols; c++) {
                    byte v = codes[r * cols + c];
                    sum += v;
                    g[HEADER_BYTES + (c / CHUNK) * CHUNK * ROWS + CHUNK * i + c % CHUNK] = v;
                }
                putInt(g, 4 * i, Float.floatToRawIntBits(scales[r]));
                putInt(g, 64 + 4 * i, sum);
            }
            MemorySegment.copy(g, 0, out, Layouts.U8, (long) (g0 / ROWS) * gb, gb);
        }
        return new Int8RowTensor(rows, cols, out);
    }

    private static void putInt(byte[] b, int at, int v) {
        b[at] = (byte) v;
        b[at + 1] = (byte) (v >>> 8);
        b[at + 2] = (byte) (v >>> 16);
        b[at + 3] = (byte) (v >>> 24);
    }

    private long groupBase(int r) {
        return (long) (r / ROWS) * groupBytes(cols);
    }

    /** The signed code of row {@code r}, column {@code c}. */
    public int code(int r, int c) {
        Objects.checkIndex(r, rows);
        Objects.checkIndex(c, cols);
        return data.get(Layouts.U8, groupBase(r) + HEADER_BYTES + (long) (c / CHUNK) * CHUNK * ROWS
                + CHUNK * (r % ROWS) + c % CHUNK);
    }

    /** The fp32 scale of row {@code r}. */
    public float scale(int r) {
        Objects.checkIndex(r, rows);
        return data.get(Layouts.F32, groupBase(r) + 4L * (r % ROWS));
    }

    /** The sum of row {@code r}'s codes, as stored. */
    public int codeSum(int r) {
        Objects.checkIndex(r, rows);
        return data.get(Layouts.I32, groupBase(r) + 64 + 4L * (r % ROWS));
    }

    public int rows() {
        return rows;
    }

    public int cols() {
        return cols;
    }

    /** The packed bytes, read-only. */
    public MemorySegment data() {
        return data;
    }

    @Override
    public String toString() {
        return "Int8RowTensor[" + LAYOUT_NAME + ", " + rows + "x" + cols + "]";
    }
}

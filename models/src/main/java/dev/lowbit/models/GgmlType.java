package dev.lowbit.models;

import dev.lowbit.format.QuantFormat;

/**
 * The ggml tensor types lowbit reads and writes in GGUF files, with their ggml ids and block sizes: the
 * plain types (one element per block), which hold a {@link DenseTensor} byte for byte, and the block types
 * (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, the K-quants Q2_K to Q6_K and Q8_K, IQ4_NL), which hold a lowbit quantized
 * tensor of the same bytes.
 */
public enum GgmlType {
    F32(0, 1, 4, DType.F32),
    F16(1, 1, 2, DType.F16),
    Q4_0(2, 32, 18, null),
    Q4_1(3, 32, 20, null),
    Q5_0(6, 32, 22, null),
    Q5_1(7, 32, 24, null),
    Q8_0(8, 32, 34, null),
    Q2_K(10, 256, 84, null),
    Q3_K(11, 256, 110, null),
    Q4_K(12, 256, 144, null),
    Q5_K(13, 256, 176, null),
    Q6_K(14, 256, 210, null),
    Q8_K(15, 256, 292, null),
    IQ4_NL(20, 32, 18, null),
    I8(24, 1, 1, DType.I8),
    I16(25, 1, 2, DType.I16),
    I32(26, 1, 4, DType.I32),
    I64(27, 1, 8, DType.I64),
    F64(28, 1, 8, DType.F64),
    BF16(30, 1, 2, DType.BF16);

    private final int id;
    private final int blockElements;
    private final int blockBytes;
    private final DType dtype;

    GgmlType(int id, int blockElements, int blockBytes, DType dtype) {
        this.id = id;
        this.blockElements = blockElements;
        this.blockBytes = blockBytes;
        this.dtype = dtype;
    }

    /** The ggml_type id stored in a GGUF tensor info. */
    public int id() {
        return id;
    }

    /** Elements per block (1 for the plain types); a row's length {@code ne[0]} must be a multiple of it. */
    public int blockElements() {
        return blockElements;
    }

    public int blockBytes() {
        return blockBytes;
    }

    /** The element type of a plain type, or null for a block type. */
    public DType dtype() {
        return dtype;
    }

    /** The type with ggml id {@code id}, or null if lowbit does not handle it. */
    public static GgmlType ofId(int id) {
        for (GgmlType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        return null;
    }

    /** The types lowbit reads, as {@code NAME (id)}, for messages. */
    static String supported() {
        StringBuilder sb = new StringBuilder();
        GgmlType[] all = values();
        for (int i = 0; i < all.length; i++) {
            sb.append(i == 0 ? "" : i == all.length - 1 ? " and " : ", ").append(all[i]).append(" (").append(all[i].id).append(')');
        }
        return sb.toString();
    }

    /** The lowbit format of a block type, or null for a plain type. */
    public QuantFormat format() {
        for (QuantFormat.Kind k : QuantFormat.Kind.values()) {
            if (k.blocks() && k.ggmlType() == id) {
                return QuantFormat.ggml(k);
            }
        }
        return null;
    }

    /** The block type of a lowbit format, or null if GGUF has none for it. */
    public static GgmlType of(QuantFormat f) {
        return f.isGgml() ? ofId(f.kind().ggmlType()) : null;
    }

    /** The plain type that holds {@code d}, or null if GGUF has none (unsigned integers, BOOL, FP8). */
    public static GgmlType of(DType d) {
        for (GgmlType t : values()) {
            if (t.dtype == d) {
                return t;
            }
        }
        return null;
    }
}

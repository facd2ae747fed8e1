package dev.lowbit.models;

import dev.lowbit.format.QuantFormat;

/** The ggml tensor types lowbit reads and writes in GGUF files, with their ggml ids and block sizes. */
public enum GgmlType {
    F32(0, 1, 4),
    F16(1, 1, 2),
    Q4_0(2, 32, 18),
    Q4_1(3, 32, 20),
    Q8_0(8, 32, 34);

    private final int id;
    private final int blockElements;
    private final int blockBytes;

    GgmlType(int id, int blockElements, int blockBytes) {
        this.id = id;
        this.blockElements = blockElements;
        this.blockBytes = blockBytes;
    }

    /** The ggml_type id stored in a GGUF tensor info. */
    public int id() {
        return id;
    }

    /** Elements per block (1 for F32 and F16); a row's length {@code ne[0]} must be a multiple of it. */
    public int blockElements() {
        return blockElements;
    }

    public int blockBytes() {
        return blockBytes;
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

    /** The lowbit format of a block type, or null for F32 and F16. */
    public QuantFormat format() {
        return switch (this) {
            case Q4_0 -> QuantFormat.Q4_0;
            case Q4_1 -> QuantFormat.Q4_1;
            case Q8_0 -> QuantFormat.Q8_0;
            default -> null;
        };
    }

    /** The block type of a lowbit format, or null if GGUF has none for it. */
    public static GgmlType of(QuantFormat f) {
        return switch (f.kind()) {
            case Q4_0 -> Q4_0;
            case Q4_1 -> Q4_1;
            case Q8_0 -> Q8_0;
            default -> null;
        };
    }
}

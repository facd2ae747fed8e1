package dev.lowbit.format;

/**
 * A quantized format: how a row of fp32 values becomes codes and per-group parameters.
 * The byte layout of each kind is written out in {@code docs/formats.md}; the facts of each kind (block bytes,
 * code offset, how codes decode, widths, ggml ids, name) are one entry of the table {@link Kind}.
 *
 * @param kind      which family
 * @param bits      code width in bits
 * @param groupSize elements per group: 32, 64 or 128, or {@link #ROW} for one group per row
 * @param symmetric symmetric (implicit zero point) or asymmetric (stored zero point or minimum)
 * @param scaleType how scales (and zero points) are stored
 */
public record QuantFormat(Kind kind, int bits, int groupSize, boolean symmetric, ScaleType scaleType) {

    /** {@code groupSize} value meaning "one group per row". */
    public static final int ROW = 0;

    /** Elements per ggml block. */
    public static final int GGML_BLOCK = 32;

    /**
     * The formats lowbit stores, and the table of what each one is: every fact that code outside the
     * format's own kernels reads about a format (how it is stored, how a code becomes a value, its code
     * widths, its ggml ids and its name) is a field of its constant here, as ggml's {@code type_traits}
     * array holds the facts of each ggml type. Code that only needs a fact reads it from the table (or
     * from the {@link QuantFormat} methods built on it) instead of comparing kinds, so a new format is one
     * entry here, its kernels and its tests; a {@code switch} over kinds is left only where each kind
     * runs different code (its own kernel or loop).
     */
    public enum Kind {
        // ggml blocks?, codes, label, block bytes, code offset in a block, ggml_type, llama_ftype, code widths

        /** ggml Q8_0: blocks of 32, fp16 scale then 32 int8 codes (34 bytes). */
        Q8_0(true, Codes.SIGNED, "q8_0", 34, 2, 8, 7, 8),
        /** ggml Q4_0: blocks of 32, fp16 scale then 16 bytes of split nibbles (18 bytes). */
        Q4_0(true, Codes.CENTERED, "q4_0", 18, 2, 2, 2, 4),
        /** ggml Q4_1: blocks of 32, fp16 scale, fp16 minimum, then 16 bytes of split nibbles (20 bytes). */
        Q4_1(true, Codes.MINIMUM, "q4_1", 20, 4, 3, 3, 4),
        /** Planes: packed b-bit codes, per-group scales, optional per-group zero points. */
        GROUPED(false, Codes.ZERO_POINT, "int", 0, 0, NONE, NONE, 2, 3, 4, 8),
        /** Planes: packed 4-bit indices into a 16-level table per tensor, per-group absmax scales. */
        CODEBOOK4(false, Codes.LEVELS, "cb4", 0, 0, NONE, NONE, 4);

        private final boolean blocks;
        private final Codes codes;
        private final String label;
        private final int blockBytes;
        private final int codeOffset;
        private final int ggmlType;
        private final int ggufFileType;
        private final int[] widths;

        Kind(boolean blocks, Codes codes, String label, int blockBytes, int codeOffset, int ggmlType,
             int ggufFileType, int... widths) {
            this.blocks = blocks;
            this.codes = codes;
            this.label = label;
            this.blockBytes = blockBytes;
            this.codeOffset = codeOffset;
            this.ggmlType = ggmlType;
            this.ggufFileType = ggufFileType;
            this.widths = widths;
        }

        /**
         * Whether the kind is a ggml block format: blocks of {@link #GGML_BLOCK} elements, each an fp16 scale
         * (and minimum) followed by its codes, in one plane; else planes of packed codes, scales and zero points.
         */
        public boolean blocks() {
            return blocks;
        }

        /** How a stored code becomes a value. */
        public Codes codes() {
            return codes;
        }

        /**
         * The name of a ggml block format as files and the command line spell it ({@code q8_0}); for plane
         * formats the first part of their names ({@code int}, {@code cb4}), which go on with the width, the
         * group and the scale type.
         */
        public String label() {
            return label;
        }

        /** Bytes per ggml block; 0 for plane formats, whose rows are {@code ceil(cols * bits / 8)} bytes. */
        public int blockBytes() {
            return blockBytes;
        }

        /** Byte offset of the first code inside a ggml block (after the scale and minimum); 0 for planes. */
        public int codeOffset() {
            return codeOffset;
        }

        /** ggml's {@code ggml_type} id of the block format, or {@link QuantFormat#NONE}. */
        public int ggmlType() {
            return ggmlType;
        }

        /**
         * llama.cpp's {@code llama_ftype} of a file of such blocks (GGUF {@code general.file_type}), or
         * {@link QuantFormat#NONE}.
         */
        public int ggufFileType() {
            return ggufFileType;
        }

        /** Whether codes may be {@code bits} wide. */
        public boolean allowsBits(int bits) {
            for (int w : widths) {
                if (w == bits) {
                    return true;
                }
            }
            return false;
        }

        /** The code widths, e.g. {@code [2, 3, 4, 8]}; one width for a kind of fixed width. */
        public int[] widths() {
            return widths.clone();
        }

        /** The widths in words: {@code 2, 3, 4 or 8}. */
        String widthsText() {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < widths.length; i++) {
                sb.append(i == 0 ? "" : i == widths.length - 1 ? " or " : ", ").append(widths[i]);
            }
            return sb.toString();
        }
    }

    /** A {@link Kind} field that does not apply: no ggml type, no llama.cpp file type. */
    public static final int NONE = -1;

    /**
     * How a stored code {@code q} becomes a value, with the group's scale {@code d}. The first two are
     * <em>centered</em>: the code minus a constant is the multiplier of the scale.
     */
    public enum Codes {
        /** A two's-complement {@code bits}-wide code: {@code q · d} (Q8_0's int8). */
        SIGNED,
        /** An unsigned code less half its range: {@code (q − 2^(bits−1)) · d} (Q4_0's {@code q − 8}). */
        CENTERED,
        /** An unsigned code above a stored minimum {@code m}: {@code q · d + m} (Q4_1). */
        MINIMUM,
        /**
         * An unsigned code about a zero point {@code z}: {@code (q − z) · d}, {@code z} stored per group when
         * asymmetric, else {@code 2^(bits−1)} (grouped planes).
         */
        ZERO_POINT,
        /** An index into the tensor's 16 levels: {@code levels[q] · d} (codebooks). */
        LEVELS
    }

    /** The format of each ggml block kind, by ordinal; null for plane kinds. */
    private static final QuantFormat[] GGML_FORMATS = ggmlFormats();

    public static final QuantFormat Q8_0 = ggml(Kind.Q8_0);
    public static final QuantFormat Q4_0 = ggml(Kind.Q4_0);
    public static final QuantFormat Q4_1 = ggml(Kind.Q4_1);

    public QuantFormat {
        if (kind == null) {
            throw new IllegalArgumentException("kind must not be null");
        }
        if (scaleType == null) {
            throw new IllegalArgumentException("scaleType must not be null");
        }
        if (kind.blocks()) {
            if (!kind.allowsBits(bits) || groupSize != GGML_BLOCK || symmetric != (kind.codes() != Codes.MINIMUM)
                    || scaleType != ScaleType.F16) {
                throw new IllegalArgumentException(kind + " is fixed (use QuantFormat." + kind + "), got bits="
                        + bits + ", groupSize=" + groupSize + ", symmetric=" + symmetric + ", scaleType=" + scaleType);
            }
        } else {
            boolean levels = kind.codes() == Codes.LEVELS;
            if (!kind.allowsBits(bits)) {
                throw new IllegalArgumentException("bits must be " + kind.widthsText() + " for "
                        + (levels ? "a codebook format" : "grouped codes") + ", got " + bits);
            }
            if (levels && !symmetric) {
                throw new IllegalArgumentException("a codebook format has no zero points: symmetric must be true");
            }
            checkGroup(groupSize);
        }
    }

    private static void checkGroup(int groupSize) {
        if (groupSize != 32 && groupSize != 64 && groupSize != 128 && groupSize != ROW) {
            throw new IllegalArgumentException("groupSize must be 32, 64, 128 or ROW (0), got " + groupSize);
        }
    }

    /** Grouped integer planes. */
    public static QuantFormat grouped(int bits, int groupSize, boolean symmetric, ScaleType scaleType) {
        return new QuantFormat(Kind.GROUPED, bits, groupSize, symmetric, scaleType);
    }

    /** 4-bit codebook (16 levels per tensor) with per-group absmax scales. */
    public static QuantFormat codebook4(int groupSize, ScaleType scaleType) {
        return new QuantFormat(Kind.CODEBOOK4, 4, groupSize, true, scaleType);
    }

    /**
     * The one format of a ggml block kind: its width, blocks of {@link #GGML_BLOCK}, symmetric unless it
     * stores a minimum, fp16 scales.
     *
     * @throws IllegalArgumentException for a plane kind, whose formats take a width, group and scale type
     */
    public static QuantFormat ggml(Kind kind) {
        if (!kind.blocks()) {
            throw new IllegalArgumentException(kind + " is not a ggml block format");
        }
        return GGML_FORMATS[kind.ordinal()];
    }

    private static QuantFormat[] ggmlFormats() {
        Kind[] kinds = Kind.values();
        QuantFormat[] out = new QuantFormat[kinds.length];
        for (Kind k : kinds) {
            if (k.blocks()) {
                out[k.ordinal()] = new QuantFormat(k, k.widths[0], GGML_BLOCK, k.codes() != Codes.MINIMUM, ScaleType.F16);
            }
        }
        return out;
    }

    /** Whether the format is a ggml block format (scales interleaved with codes in one plane). */
    public boolean isGgml() {
        return kind.blocks();
    }

    /** Whether a zero-point plane is stored (asymmetric grouped formats). */
    public boolean hasZeroPlane() {
        return kind.codes() == Codes.ZERO_POINT && !symmetric;
    }

    /** Whether each block stores a minimum after its scale (Q4_1): {@code q · d + m}. */
    public boolean hasMinimum() {
        return kind.codes() == Codes.MINIMUM;
    }

    /** Whether each group has a stored zero point or minimum: a zero-point plane or a minimum in each block. */
    public boolean hasZeros() {
        return hasMinimum() || hasZeroPlane();
    }

    /** Whether the tensor holds a table of 16 levels that codes index (codebook formats). */
    public boolean hasLevels() {
        return kind.codes() == Codes.LEVELS;
    }

    /**
     * Whether a code less a constant, {@link #center()}, is the multiplier of the scale: Q8_0, Q4_0 and
     * symmetric grouped codes.
     */
    public boolean centered() {
        return kind.codes() == Codes.SIGNED || kind.codes() == Codes.CENTERED
                || kind.codes() == Codes.ZERO_POINT && symmetric;
    }

    /** What a {@link #centered()} format subtracts from a stored code: 0 for signed codes, else {@code 2^(bits-1)}. */
    public int center() {
        return kind.codes() == Codes.SIGNED ? 0 : 1 << (bits - 1);
    }

    /** The smallest stored code: {@code -2^(bits-1)} for signed codes (Q8_0), else 0. */
    public int minStoredCode() {
        return kind.codes() == Codes.SIGNED ? -(1 << (bits - 1)) : 0;
    }

    /** The largest stored code: {@code 2^(bits-1) - 1} for signed codes (Q8_0), else {@link #maxCode()}. */
    public int maxStoredCode() {
        return kind.codes() == Codes.SIGNED ? (1 << (bits - 1)) - 1 : maxCode();
    }

    /** Elements per group in a row of {@code cols} elements. */
    public int groupLength(int cols) {
        return groupSize == ROW ? Math.max(cols, 1) : groupSize;
    }

    /** Groups (or ggml blocks) per row; the last one may be partial. */
    public int groupsPerRow(int cols) {
        if (cols == 0) {
            return 0;
        }
        int g = groupLength(cols);
        return (cols + g - 1) / g;
    }

    /** Bytes per ggml block. */
    public int blockBytes() {
        if (!kind.blocks()) {
            throw new IllegalStateException(kind + " has no blocks");
        }
        return kind.blockBytes();
    }

    /** Byte offset of the first code inside a ggml block: 2, or 4 after Q4_1's minimum. */
    public int blockCodeOffset() {
        if (!kind.blocks()) {
            throw new IllegalStateException(kind + " has no blocks");
        }
        return kind.codeOffset();
    }

    /**
     * Bytes of the code (or block) plane per row: whole ggml blocks, or {@code ceil(cols*bits/8)}
     * bytes of packed codes. Every row starts on a byte boundary.
     */
    public long rowBytes(int cols) {
        if (isGgml()) {
            return (long) groupsPerRow(cols) * blockBytes();
        }
        return ((long) cols * bits + 7) / 8;
    }

    /** The largest code value, {@code 2^bits - 1}. */
    public int maxCode() {
        return (1 << bits) - 1;
    }

    /** A short stable name, e.g. {@code q4_0}, {@code g4_s_g64_f16}, {@code cb4_g64_f32}. */
    public String name() {
        String g = groupSize == ROW ? "row" : "g" + groupSize;
        String s = scaleType.name().toLowerCase(java.util.Locale.ROOT);
        if (kind.blocks()) {
            return kind.label();
        }
        if (hasLevels()) {
            return kind.label() + "_" + g + "_" + s;
        }
        return kind.label() + bits + (symmetric ? "_sym_" : "_asym_") + g + "_" + s;
    }

    /** Parses {@link #name()}. */
    public static QuantFormat parse(String name) {
        for (Kind k : Kind.values()) {
            if (k.blocks() && k.label().equals(name)) {
                return ggml(k);
            }
        }
        String[] p = name.split("_");
        try {
            if (p.length == 4 && p[0].startsWith(Kind.GROUPED.label())) {
                int bits = Integer.parseInt(p[0].substring(Kind.GROUPED.label().length()));
                boolean sym = switch (p[1]) {
                    case "sym" -> true;
                    case "asym" -> false;
                    default -> throw new IllegalArgumentException();
                };
                return grouped(bits, parseGroup(p[2]), sym, ScaleType.valueOf(p[3].toUpperCase(java.util.Locale.ROOT)));
            }
            if (p.length == 3 && p[0].equals(Kind.CODEBOOK4.label())) {
                return codebook4(parseGroup(p[1]), ScaleType.valueOf(p[2].toUpperCase(java.util.Locale.ROOT)));
            }
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("not a lowbit format name: '" + name + "' (" + e.getMessage() + ")", e);
        }
        throw new IllegalArgumentException("not a lowbit format name: '" + name + "'");
    }

    private static int parseGroup(String s) {
        if (s.equals("row")) {
            return ROW;
        }
        if (!s.startsWith("g")) {
            throw new IllegalArgumentException("bad group '" + s + "'");
        }
        return Integer.parseInt(s.substring(1));
    }

    @Override
    public String toString() {
        return name();
    }
}

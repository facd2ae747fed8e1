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

    /** Elements per block of the plain ggml kinds, Q8_0, Q4_0 and Q4_1 ({@link Kind#plain()}). */
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
        // layout, codes, label, block elements, scale group, block bytes, code offset in a block, ggml_type,
        // llama_ftype, code widths

        /** ggml Q8_0: blocks of 32, fp16 scale then 32 int8 codes (34 bytes). */
        Q8_0(Layout.PLAIN, Codes.SIGNED, "q8_0", 32, 32, 34, 2, 8, 7, 8),
        /** ggml Q4_0: blocks of 32, fp16 scale then 16 bytes of split nibbles (18 bytes). */
        Q4_0(Layout.PLAIN, Codes.CENTERED, "q4_0", 32, 32, 18, 2, 2, 2, 4),
        /** ggml Q4_1: blocks of 32, fp16 scale, fp16 minimum, then 16 bytes of split nibbles (20 bytes). */
        Q4_1(Layout.PLAIN, Codes.MINIMUM, "q4_1", 32, 32, 20, 4, 3, 3, 4),
        /** ggml Q5_0: blocks of 32, fp16 scale, 4 bytes of fifth bits, 16 bytes of split nibbles (22 bytes). */
        Q5_0(Layout.BLOCKS, Codes.CENTERED, "q5_0", 32, 32, 22, 6, 6, 8, 5),
        /** ggml Q5_1: Q5_0 with an fp16 minimum after the scale (24 bytes). */
        Q5_1(Layout.BLOCKS, Codes.MINIMUM, "q5_1", 32, 32, 24, 8, 7, 9, 5),
        /** ggml IQ4_NL: blocks of 32, fp16 scale then split nibbles indexing 16 fixed levels (18 bytes). */
        IQ4_NL(Layout.BLOCKS, Codes.FIXED_LEVELS, "iq4_nl", 32, 32, 18, 2, 20, 25, 4),
        /** ggml Q2_K: super-blocks of 256, 16 sub-blocks of 16 with 4-bit scales and minima (84 bytes). */
        Q2_K(Layout.BLOCKS, Codes.MINIMUM, "q2_k", 256, 16, 84, 16, 10, 10, 2),
        /** ggml Q3_K: super-blocks of 256, 16 sub-blocks of 16 with signed 6-bit scales (110 bytes). */
        Q3_K(Layout.BLOCKS, Codes.CENTERED, "q3_k", 256, 16, 110, 32, 11, 11, 3),
        /** ggml Q4_K: super-blocks of 256, 8 sub-blocks of 32 with 6-bit scales and minima (144 bytes). */
        Q4_K(Layout.BLOCKS, Codes.MINIMUM, "q4_k", 256, 32, 144, 16, 12, 14, 4),
        /** ggml Q5_K: Q4_K with a fifth bit per element (176 bytes). */
        Q5_K(Layout.BLOCKS, Codes.MINIMUM, "q5_k", 256, 32, 176, 48, 13, 16, 5),
        /** ggml Q6_K: super-blocks of 256, 16 sub-blocks of 16 with int8 scales (210 bytes). */
        Q6_K(Layout.BLOCKS, Codes.CENTERED, "q6_k", 256, 16, 210, 0, 14, 18, 6),
        /**
         * ggml Q8_K, the activations of the K-quant dot products: super-blocks of 256, an fp32 scale, 256 int8
         * codes and the 16 sums of each run of 16 codes (292 bytes).
         */
        Q8_K(Layout.BLOCKS, Codes.SIGNED, "q8_k", 256, 256, 292, 4, 15, NONE, 8),
        /** Planes: packed b-bit codes, per-group scales, optional per-group zero points. */
        GROUPED(Layout.PLANES, Codes.ZERO_POINT, "int", 0, 0, 0, 0, NONE, NONE, 2, 3, 4, 8),
        /** Planes: packed 4-bit indices into a 16-level table per tensor, per-group absmax scales. */
        CODEBOOK4(Layout.PLANES, Codes.LEVELS, "cb4", 0, 0, 0, 0, NONE, NONE, 4);

        private final Layout layout;
        private final Codes codes;
        private final String label;
        private final int blockElements;
        private final int scaleGroup;
        private final int blockBytes;
        private final int codeOffset;
        private final int ggmlType;
        private final int ggufFileType;
        private final int[] widths;

        Kind(Layout layout, Codes codes, String label, int blockElements, int scaleGroup, int blockBytes,
             int codeOffset, int ggmlType, int ggufFileType, int... widths) {
            this.layout = layout;
            this.codes = codes;
            this.label = label;
            this.blockElements = blockElements;
            this.scaleGroup = scaleGroup;
            this.blockBytes = blockBytes;
            this.codeOffset = codeOffset;
            this.ggmlType = ggmlType;
            this.ggufFileType = ggufFileType;
            this.widths = widths;
        }

        /**
         * Whether the kind is a ggml block format: blocks of {@link #blockElements()} elements whose scales live in
         * the block beside the codes, in one plane; else planes of packed codes, scales and zero points.
         */
        public boolean blocks() {
            return layout != Layout.PLANES;
        }

        /**
         * Whether the kind is Q8_0, Q4_0 or Q4_1: blocks of 32, each an fp16 scale (and minimum) followed by the
         * codes as bytes or split nibbles. Every kernel family (the CPU and GPU products, OpenCL, CUDA, the
         * row-interleaved layouts) takes these, and only their rows may end in a partial block; the other block
         * kinds hold whole blocks only, as ggml defines them.
         */
        public boolean plain() {
            return layout == Layout.PLAIN;
        }

        /** Elements per ggml block (32, or 256 for a K-quant super-block); 0 for plane formats. */
        public int blockElements() {
            return blockElements;
        }

        /**
         * Elements that share one scale (and minimum) inside a block: the block itself, or a K-quant sub-block of
         * 16 or 32; 0 for plane formats, whose group is a parameter of the format.
         */
        public int scaleGroup() {
            return scaleGroup;
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

    /** How a kind is stored. */
    private enum Layout {
        /** ggml blocks of 32 that every kernel family takes: Q8_0, Q4_0, Q4_1. */
        PLAIN,
        /** The other ggml blocks (5-bit, non-linear, K-quant super-blocks): whole blocks only. */
        BLOCKS,
        /** Planes of packed codes, scales and zero points. */
        PLANES
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
        /**
         * An unsigned code above a minimum {@code m}: {@code q · d + m} (Q4_1, Q5_1; the K-quants Q2_K, Q4_K and
         * Q5_K store {@code −m} and subtract it, which gives the same bits).
         */
        MINIMUM,
        /**
         * An unsigned code about a zero point {@code z}: {@code (q − z) · d}, {@code z} stored per group when
         * asymmetric, else {@code 2^(bits−1)} (grouped planes).
         */
        ZERO_POINT,
        /** An index into the tensor's 16 levels: {@code levels[q] · d} (codebooks). */
        LEVELS,
        /** An index into the format's own 16 fixed levels, {@link #IQ4_NL_LEVELS}: {@code levels[q] · d} (IQ4_NL). */
        FIXED_LEVELS
    }

    /** IQ4_NL's 16 levels, ggml's {@code kvalues_iq4nl}. */
    private static final int[] IQ4_NL_LEVELS = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

    /** IQ4_NL's 16 fixed levels, in code order: {@code x̂ = levels[q] · d}. */
    public static int[] iq4nlLevels() {
        return IQ4_NL_LEVELS.clone();
    }

    /** The format of each ggml block kind, by ordinal; null for plane kinds. */
    private static final QuantFormat[] GGML_FORMATS = ggmlFormats();

    public static final QuantFormat Q8_0 = ggml(Kind.Q8_0);
    public static final QuantFormat Q4_0 = ggml(Kind.Q4_0);
    public static final QuantFormat Q4_1 = ggml(Kind.Q4_1);
    public static final QuantFormat Q5_0 = ggml(Kind.Q5_0);
    public static final QuantFormat Q5_1 = ggml(Kind.Q5_1);
    public static final QuantFormat IQ4_NL = ggml(Kind.IQ4_NL);
    public static final QuantFormat Q2_K = ggml(Kind.Q2_K);
    public static final QuantFormat Q3_K = ggml(Kind.Q3_K);
    public static final QuantFormat Q4_K = ggml(Kind.Q4_K);
    public static final QuantFormat Q5_K = ggml(Kind.Q5_K);
    public static final QuantFormat Q6_K = ggml(Kind.Q6_K);
    public static final QuantFormat Q8_K = ggml(Kind.Q8_K);

    public QuantFormat {
        if (kind == null) {
            throw new IllegalArgumentException("kind must not be null");
        }
        if (scaleType == null) {
            throw new IllegalArgumentException("scaleType must not be null");
        }
        if (kind.blocks()) {
            if (!kind.allowsBits(bits) || groupSize != kind.blockElements()
                    || symmetric != (kind.codes() != Codes.MINIMUM) || scaleType != blockScaleType(kind)) {
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

    /** How a block kind stores its scale: fp16, or fp32 for Q8_K. */
    private static ScaleType blockScaleType(Kind kind) {
        return kind == Kind.Q8_K ? ScaleType.F32 : ScaleType.F16;
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
     * The one format of a ggml block kind: its width, its block length, symmetric unless it stores a minimum,
     * fp16 scales (fp32 for Q8_K).
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
                out[k.ordinal()] = new QuantFormat(k, k.widths[0], k.blockElements(), k.codes() != Codes.MINIMUM,
                        blockScaleType(k));
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

    /** Whether values are {@code q · d + m} with a minimum {@code m} per scale group (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K). */
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
     * Whether a code less a constant, {@link #center()}, is the multiplier of the scale: Q8_0, Q4_0, Q5_0, Q3_K,
     * Q6_K, Q8_K and symmetric grouped codes.
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

    /** Groups (or ggml blocks) per row; the last one may be partial (plane formats and {@link Kind#plain()} blocks). */
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

    /**
     * Byte offset of the first code bytes inside a ggml block: 2, or 4 after Q4_1's minimum; for the other
     * kinds the offset of their low bits ({@code qs}, {@code ql}), as {@code docs/formats.md} lays them out.
     */
    public int blockCodeOffset() {
        if (!kind.blocks()) {
            throw new IllegalStateException(kind + " has no blocks");
        }
        return kind.codeOffset();
    }

    /**
     * Elements that share one scale: a format's group, or inside a ggml block its {@link Kind#scaleGroup()}
     * (16 or 32 in a K-quant super-block).
     */
    public int scaleGroupLength(int cols) {
        return kind.blocks() ? kind.scaleGroup() : groupLength(cols);
    }

    /** Scale groups per row: {@link #groupsPerRow} but for K-quant super-blocks, which hold several each. */
    public int scaleGroupsPerRow(int cols) {
        if (cols == 0) {
            return 0;
        }
        int g = scaleGroupLength(cols);
        return (cols + g - 1) / g;
    }

    /**
     * Whether rows of {@code cols} elements are whole blocks, or the format allows a partial last one
     * ({@link Kind#plain()} blocks and plane formats).
     */
    public boolean fitsRow(int cols) {
        return !kind.blocks() || kind.plain() || cols % kind.blockElements() == 0;
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

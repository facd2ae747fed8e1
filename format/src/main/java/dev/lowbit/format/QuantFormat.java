package dev.lowbit.format;

/**
 * A quantized format: how a row of fp32 values becomes codes and per-group parameters.
 * The byte layout of each kind is written out in {@code docs/formats.md}.
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

    public enum Kind {
        /** ggml Q8_0: blocks of 32, fp16 scale then 32 int8 codes (34 bytes). */
        Q8_0,
        /** ggml Q4_0: blocks of 32, fp16 scale then 16 bytes of split nibbles (18 bytes). */
        Q4_0,
        /** ggml Q4_1: blocks of 32, fp16 scale, fp16 minimum, then 16 bytes of split nibbles (20 bytes). */
        Q4_1,
        /** Planes: packed b-bit codes, per-group scales, optional per-group zero points. */
        GROUPED,
        /** Planes: packed 4-bit indices into a 16-level table per tensor, per-group absmax scales. */
        CODEBOOK4
    }

    public static final QuantFormat Q8_0 = new QuantFormat(Kind.Q8_0, 8, GGML_BLOCK, true, ScaleType.F16);
    public static final QuantFormat Q4_0 = new QuantFormat(Kind.Q4_0, 4, GGML_BLOCK, true, ScaleType.F16);
    public static final QuantFormat Q4_1 = new QuantFormat(Kind.Q4_1, 4, GGML_BLOCK, false, ScaleType.F16);

    public QuantFormat {
        if (kind == null) {
            throw new IllegalArgumentException("kind must not be null");
        }
        if (scaleType == null) {
            throw new IllegalArgumentException("scaleType must not be null");
        }
        switch (kind) {
            case Q8_0, Q4_0, Q4_1 -> {
                int wantBits = kind == Kind.Q8_0 ? 8 : 4;
                if (bits != wantBits || groupSize != GGML_BLOCK || symmetric != (kind != Kind.Q4_1)
                        || scaleType != ScaleType.F16) {
                    throw new IllegalArgumentException(kind + " is fixed (use QuantFormat." + kind + "), got bits="
                            + bits + ", groupSize=" + groupSize + ", symmetric=" + symmetric + ", scaleType=" + scaleType);
                }
            }
            case GROUPED -> {
                if (bits != 2 && bits != 3 && bits != 4 && bits != 8) {
                    throw new IllegalArgumentException("bits must be 2, 3, 4 or 8 for grouped codes, got " + bits);
                }
                checkGroup(groupSize);
            }
            case CODEBOOK4 -> {
                if (bits != 4) {
                    throw new IllegalArgumentException("bits must be 4 for a codebook format, got " + bits);
                }
                if (!symmetric) {
                    throw new IllegalArgumentException("a codebook format has no zero points: symmetric must be true");
                }
                checkGroup(groupSize);
            }
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

    /** Whether the format is a ggml block format (scales interleaved with codes in one plane). */
    public boolean isGgml() {
        return kind == Kind.Q8_0 || kind == Kind.Q4_0 || kind == Kind.Q4_1;
    }

    /** Whether a zero-point plane is stored (asymmetric grouped formats). */
    public boolean hasZeroPlane() {
        return kind == Kind.GROUPED && !symmetric;
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
        return switch (kind) {
            case Q8_0 -> 34;
            case Q4_0 -> 18;
            case Q4_1 -> 20;
            default -> throw new IllegalStateException(kind + " has no blocks");
        };
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
        return switch (kind) {
            case Q8_0 -> "q8_0";
            case Q4_0 -> "q4_0";
            case Q4_1 -> "q4_1";
            case GROUPED -> "int" + bits + (symmetric ? "_sym_" : "_asym_") + g + "_" + s;
            case CODEBOOK4 -> "cb4_" + g + "_" + s;
        };
    }

    /** Parses {@link #name()}. */
    public static QuantFormat parse(String name) {
        switch (name) {
            case "q8_0": return Q8_0;
            case "q4_0": return Q4_0;
            case "q4_1": return Q4_1;
            default: break;
        }
        String[] p = name.split("_");
        try {
            if (p.length == 4 && p[0].startsWith("int")) {
                int bits = Integer.parseInt(p[0].substring(3));
                boolean sym = switch (p[1]) {
                    case "sym" -> true;
                    case "asym" -> false;
                    default -> throw new IllegalArgumentException();
                };
                return grouped(bits, parseGroup(p[2]), sym, ScaleType.valueOf(p[3].toUpperCase(java.util.Locale.ROOT)));
            }
            if (p.length == 3 && p[0].equals("cb4")) {
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

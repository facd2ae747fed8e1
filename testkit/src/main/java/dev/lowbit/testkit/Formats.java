package dev.lowbit.testkit;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.ScaleType;

import java.util.ArrayList;
import java.util.List;

/** The formats the kernels take, as the tests sweep them, and the row lengths that reach their edges. */
public final class Formats {
    private Formats() {
    }

    /** The group lengths of grouped and codebook formats: 32, 64, 128 and a whole row. */
    public static final int[] GROUPS = {32, 64, 128, QuantFormat.ROW};

    /** Row lengths: 0, 1, primes, and block/group sizes and vector widths plus and minus one. */
    public static final int[] COLS = {0, 1, 2, 7, 8, 13, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 257, 1009};

    /**
     * Every format lowbit defines: ggml's Q8_0, Q4_0, Q4_1; grouped 2, 3, 4 and 8 bits of every group length,
     * symmetric or not, with fp16 or fp32 scales; 4-bit codebooks of every group length and scale type.
     */
    public static List<QuantFormat> all() {
        List<QuantFormat> out = new ArrayList<>(List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1));
        for (int bits : new int[] {2, 3, 4, 8}) {
            grouped(out, bits);
        }
        codebooks(out);
        return out;
    }

    /**
     * The integer path's formats, one scale type per variant: Q8_0, Q4_0, Q4_1, and grouped 8- and 4-bit of every
     * group length, symmetric and asymmetric (fp32 scales for symmetric groups of 64 and asymmetric groups of 128).
     */
    public static List<QuantFormat> integerPath() {
        List<QuantFormat> out = new ArrayList<>(List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1));
        for (int bits : new int[] {8, 4}) {
            for (int g : GROUPS) {
                out.add(QuantFormat.grouped(bits, g, true, g == 64 ? ScaleType.F32 : ScaleType.F16));
                out.add(QuantFormat.grouped(bits, g, false, g == 128 ? ScaleType.F32 : ScaleType.F16));
            }
        }
        return out;
    }

    /** Q4_1 and grouped 4- and 8-bit weights in every variant: the integer path beyond Q8_0 and Q4_0. */
    public static List<QuantFormat> groupedIntegerPath() {
        List<QuantFormat> out = new ArrayList<>();
        out.add(QuantFormat.Q4_1);
        for (int bits : new int[] {4, 8}) {
            grouped(out, bits);
        }
        return out;
    }

    /** Q4_1, grouped 2-, 3-, 4- and 8-bit weights and 4-bit codebooks, in every variant: all but Q8_0 and Q4_0. */
    public static List<QuantFormat> groupedWeightOnly() {
        List<QuantFormat> out = new ArrayList<>();
        out.add(QuantFormat.Q4_1);
        for (int bits : new int[] {2, 3, 4, 8}) {
            grouped(out, bits);
        }
        codebooks(out);
        return out;
    }

    /** Whether {@code k} is made of whole groups of {@code f} (ggml blocks: multiples of 32). */
    public static boolean wholeGroups(QuantFormat f, int k) {
        return k > 0 && k % f.groupLength(k) == 0;
    }

    private static void grouped(List<QuantFormat> out, int bits) {
        for (int g : GROUPS) {
            for (boolean sym : new boolean[] {true, false}) {
                for (ScaleType t : ScaleType.values()) {
                    out.add(QuantFormat.grouped(bits, g, sym, t));
                }
            }
        }
    }

    private static void codebooks(List<QuantFormat> out) {
        for (int g : GROUPS) {
            for (ScaleType t : ScaleType.values()) {
                out.add(QuantFormat.codebook4(g, t));
            }
        }
    }
}

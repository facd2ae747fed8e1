package dev.lowbit.kernels;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.ScaleType;

/**
 * How a group's ideal scale becomes the stored one, for lowbit's quantize kernels and every method of the
 * {@code algorithms} module alike ({@code docs/formats.md}, "How lowbit quantizes"), and the one-line message
 * of a group that cannot be stored.
 *
 * <ul>
 *   <li>The ideal scale is rounded to the scale type, to nearest with ties to even.</li>
 *   <li>The floor: a non-zero ideal scale that rounds to 0 becomes the type's smallest positive step, with the
 *       ideal's sign ({@link #F16_MIN_STEP} for fp16, {@link Float#MIN_VALUE} for fp32). Every element then
 *       rounds to the nearest point of a grid that holds 0, so an element within half a step of 0 gets the
 *       zero code and decodes to exactly 0, and no element decodes further from its value than 0 is. A group
 *       of zeros stores scale 0 and the zero code.</li>
 *   <li>A scale (or Q4_1 minimum) beyond the type's largest finite value is refused, as is a group whose
 *       values lie further apart than the largest float: {@link #beyondRange} and {@link #spanTooWide} say
 *       which row, group, column and value.</li>
 * </ul>
 */
public final class ScaleRule {
    private ScaleRule() {
    }

    /** fp16's smallest positive value, {@code 2^-24}: the floor of a non-zero fp16 scale. */
    public static final float F16_MIN_STEP = 0x1p-24f;

    /** fp16's largest finite value. */
    public static final float F16_MAX = 65504f;

    /**
     * {@code ideal} rounded to {@code t}, or the smallest step of {@code t} with the sign of {@code ideal} when
     * that rounding gives 0 and {@code nonZero} says the group is not all zero. Infinite when {@code t}
     * cannot hold it; the caller refuses that with {@link #beyondRange}.
     */
    public static float round(float ideal, boolean nonZero, ScaleType t) {
        float r = t.round(ideal);
        if (r == 0f && nonZero) {
            r = t.nextAway(Math.copySign(0f, ideal));
        }
        return r;
    }

    /**
     * A stored symmetric scale {@code r} (from {@link #round}), widened by steps of {@code t} while the group's
     * extreme element would land more than half a step beyond the last code ({@code extent / |r| > limit + 0.5}),
     * the only way an element could be clamped by more than half a step. A normal stored value is within 2^-11 of
     * the ideal (fp16; 2^-24 for fp32), so then {@code extent / |r| <= limit·(1 + 2^-10) < limit + 0.5} for every
     * limit up to 255, and only a subnormal scale is checked.
     */
    public static float widen(float r, float extent, int limit, ScaleType t) {
        if (Math.abs(r) >= (t == ScaleType.F16 ? F16_MIN_NORMAL : Float.MIN_NORMAL)) {
            return r;
        }
        while (extent > 0f && extent / Math.abs(r) > limit + 0.5f) {
            r = t.nextAway(r);
        }
        return r;
    }

    /**
     * A stored asymmetric scale {@code r}, widened by steps of {@code t} until the whole range {@code extent} fits in
     * {@code limit} steps: the integer zero point shifts the grid by up to half a step, which leaves no slack at
     * either end.
     */
    public static float widenToFit(float r, float extent, int limit, ScaleType t) {
        while (extent > 0f && extent / Math.abs(r) > limit) {
            r = t.nextAway(r);
        }
        return r;
    }

    /** fp16's smallest normal value, {@code 2^-14}. */
    public static final float F16_MIN_NORMAL = 0x1p-14f;

    /**
     * The message of a group whose {@code what} ("scale", "minimum", "zero point") of {@code needed} is
     * beyond the range of {@code t}, caused by {@code value} at {@code column}: one line naming the row, the
     * group and its columns, the value, and what to do.
     *
     * @param format the format quantized to, or null for a method's own grouped planes
     */
    public static String beyondRange(QuantFormat format, ScaleType t, int row, int group, int from, int to,
                                     float value, int column, String what, float needed) {
        boolean ggml = format != null && format.isGgml();
        String largest = t == ScaleType.F16 ? "65504" : Float.toString(Float.MAX_VALUE);
        String remedy;
        if (t == ScaleType.F32) {
            remedy = "scale the matrix down";
        } else if (ggml) {
            remedy = format + " blocks hold fp16 only: store the matrix in a grouped format with scales as F32";
        } else {
            remedy = "store scales as F32";
        }
        return where(ggml, row, group, from, to) + ": value " + value + " at column " + column + " needs a " + what
                + " of " + needed + ", beyond the " + t + " range (largest " + largest + "); " + remedy;
    }

    /**
     * The message of a group whose smallest and largest values lie further apart than the largest float, so
     * that no scale of any type steps between them.
     */
    public static String spanTooWide(QuantFormat format, int row, int group, int from, int to, float min,
                                     int minColumn, float max, int maxColumn) {
        return where(format != null && format.isGgml(), row, group, from, to) + ": the values " + min + " (column "
                + minColumn + ") and " + max + " (column " + maxColumn + ") lie further apart than the largest float,"
                + " so no scale steps between them; scale the matrix down";
    }

    /**
     * The message of a group whose scale is finite but whose grid ends beyond the largest float: a weight
     * within a few ulps of 3.4e38 would decode to infinity.
     */
    public static String gridBeyondFloat(QuantFormat format, int row, int group, int from, int to, float value,
                                         int column) {
        return where(format != null && format.isGgml(), row, group, from, to) + ": value " + value + " at column "
                + column + " is so close to the largest float that the group's outermost code would decode to "
                + "infinity; scale the matrix down";
    }

    private static String where(boolean ggml, int row, int group, int from, int to) {
        return "row " + row + ", " + (ggml ? "block " : "group ") + group + " (columns " + from + ".." + (to - 1) + ")";
    }

    /** Index of the element of largest magnitude in {@code x[from, to)} (the first on a tie), or {@code from}. */
    public static int argAbsMax(float[] x, int from, int to) {
        int at = from;
        for (int i = from; i < to; i++) {
            if (Math.abs(x[i]) > Math.abs(x[at])) {
                at = i;
            }
        }
        return at;
    }
}

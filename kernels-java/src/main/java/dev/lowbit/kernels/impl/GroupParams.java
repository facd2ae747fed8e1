package dev.lowbit.kernels.impl;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.Codebook;
import dev.lowbit.kernels.ScaleRule;

/**
 * Per-group parameters from a group's statistics: one scalar rule per grouped or codebook format, shared by every
 * implementation so that they agree bit for bit (ggml's blocks follow ggml's own rules, {@link GgmlBlocks}). Each scale is rounded to its storage type and, where
 * that rounding would clamp the extreme element by more than half a step, widened (see {@link #widen}).
 *
 * <p>Uniform formats quantize an element as {@code q = clamp(rint((x - sub) / d) + add, lo, hi)};
 * a group whose scale is 0 (all elements 0) takes {@code clamp(add, lo, hi)}. A non-zero ideal scale that
 * rounds to 0 is floored to the type's smallest step ({@link ScaleRule#round}); a group that cannot be stored
 * throws {@link ScaleRangeException}, which {@link #refusal} turns into a message naming the group.
 */
public final class GroupParams {
    private GroupParams() {
    }

    /** Code range of uniform formats: {@code lo}, {@code hi}. */
    static int lo(QuantFormat f) {
        return f.minStoredCode();
    }

    static int hi(QuantFormat f) {
        return f.maxStoredCode();
    }

    /**
     * Fills {@code p} = {scale, sub, add, storedZero} for a uniform format from the group's min,
     * max and absmax. {@code storedZero} is the grouped zero point.
     */
    static void uniform(QuantFormat f, float min, float max, float absmax, float[] p) {
        ScaleType t = f.scaleType();
        switch (f.kind()) {
            case Q8_0, Q4_0, Q4_1 -> throw new IllegalArgumentException(f + " follows ggml's rules: GgmlBlocks");
            case GROUPED -> {
                int qmax = f.maxCode();
                if (f.symmetric()) {
                    int half = 1 << (f.bits() - 1);
                    symmetric(absmax, half - 1, t, p);
                    p[2] = half;
                    p[3] = half;
                } else {
                    // The range always holds 0, so the integer zero point lies in [0, qmax] and is exact in fp16.
                    float lo = Math.min(min, 0f);
                    float hi = Math.max(max, 0f);
                    float range = hi - lo;
                    float d = widenStrict(range / qmax, range, qmax, t);
                    float z = d == 0f ? 0f : (float) Math.rint(-lo / d) + 0f; // + 0f turns -0 into +0
                    p[0] = d;
                    p[1] = 0f;
                    p[2] = z;
                    p[3] = z;
                }
            }
            case CODEBOOK4 -> throw new IllegalArgumentException("codebook formats are not uniform");
        }
    }

    private static void symmetric(float absmax, int qmax, ScaleType t, float[] p) {
        p[0] = widen(absmax / qmax, absmax, qmax, t);
        p[1] = 0f;
        p[2] = 0f;
        p[3] = 0f;
    }

    /**
     * Codebook scale: the group's absmax maps onto the outermost level magnitude {@code reach}. No
     * widening: an element just beyond the outermost level still takes that level, its nearest.
     */
    static float codebookScale(float absmax, float reach, ScaleType t) {
        return storable(absmax / reach, absmax, t);
    }

    /**
     * Rounds the ideal scale {@code d} to the storage type and widens it ({@link ScaleRule#widen}): only subnormal
     * scales (fp16 groups with absmax below about 0.008) widen.
     */
    private static float widen(float d, float extent, int limit, ScaleType t) {
        return ScaleRule.widen(storable(d, extent, t), extent, limit, t);
    }

    /** Asymmetric scales widen until the whole range fits in {@code limit} steps ({@link ScaleRule#widenToFit}). */
    private static float widenStrict(float d, float extent, int limit, ScaleType t) {
        return ScaleRule.widenToFit(storable(d, extent, t), extent, limit, t);
    }

    /**
     * {@code d} rounded to the storage type by {@link ScaleRule#round} (never 0 when {@code extent > 0});
     * finite or an exception.
     */
    private static float storable(float d, float extent, ScaleType t) {
        if (!Float.isFinite(extent)) {
            throw new ScaleRangeException(null, extent);
        }
        if (!Float.isFinite(d)) {
            throw new ScaleRangeException("scale", d);
        }
        float r = ScaleRule.round(d, extent > 0f, t);
        checkRange(r, t, "scale", d);
        return r;
    }

    private static void checkRange(float v, ScaleType t, String what, float needed) {
        if (!Float.isFinite(v)) {
            throw new ScaleRangeException(what, needed);
        }
    }

    /**
     * Thrown when a group's values need a scale or minimum the format cannot store ({@code what} names it and
     * {@code needed} is its value), or span more than the largest float ({@code what} null); {@link #refusal}
     * turns it into the message that names the group.
     */
    public static final class ScaleRangeException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final String what;
        final float needed;

        ScaleRangeException(String what, float needed) {
            super(what == null ? "the group's values lie further apart than the largest float"
                    : "the group needs a " + what + " of " + needed + ", beyond its scale type's range", null, false,
                    false);
            this.what = what;
            this.needed = needed;
        }
    }

    /**
     * The one-line message for row {@code row} ({@code src[off, off + cols)}), whose quantization threw a
     * {@link ScaleRangeException}: the parameters are worked out again group by group until the first group that
     * cannot be stored, which the message names with its extreme value ({@link ScaleRule#beyondRange},
     * {@link ScaleRule#spanTooWide}).
     */
    public static String refusal(QuantFormat f, Codebook cb, float[] src, int off, int cols, int row, ScaleRangeException e) {
        int gl = f.groupLength(cols);
        float[] p = new float[4];
        boolean codebook = f.hasLevels();
        for (int g = 0, start = 0; start < cols; g++, start += gl) {
            int end = Math.min(cols, start + gl);
            int lo = off + start;
            int hi = off + start;
            for (int i = off + start; i < off + end; i++) {
                if (src[i] < src[lo]) {
                    lo = i;
                }
                if (src[i] > src[hi]) {
                    hi = i;
                }
            }
            float min = src[lo];
            float max = src[hi];
            float absmax = Math.max(Math.abs(min), Math.abs(max));
            try {
                if (f.isGgml() && f.kind().plain()) {
                    GgmlBlocks.params(f.kind(), src, off + start, end - start, p);
                } else if (f.isGgml()) {
                    GgmlQuants.block(f.kind(), src, off + start, new byte[f.blockBytes()], 0);
                } else if (codebook) {
                    codebookScale(absmax, cb.reach(), f.scaleType());
                } else {
                    uniform(f, min, max, absmax, p);
                }
            } catch (ScaleRangeException x) {
                ScaleType t = f.isGgml() ? ScaleType.F16 : f.scaleType();
                if (x.what == null) {
                    return ScaleRule.spanTooWide(f, row, g, start, end, min, lo - off, max, hi - off);
                }
                int at = "minimum".equals(x.what) ? lo : ScaleRule.argAbsMax(src, off + start, off + end);
                return ScaleRule.beyondRange(f, t, row, g, start, end, src[at], at - off, x.what, x.needed);
            }
        }
        return "row " + row + ": " + e.getMessage();
    }
}

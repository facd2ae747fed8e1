package dev.lowbit.format;

/** Built-in 16-level tables for {@link QuantFormat.Kind#CODEBOOK4}. */
public final class Codebooks {
    private Codebooks() {
    }

    /** The NormalFloat-4 levels of QLoRA (Dettmers et al., 2023), at full float precision. */
    private static final float[] NF4 = {
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    };

    /** A fresh copy of the NF4 levels. */
    public static float[] nf4() {
        return NF4.clone();
    }

    /**
     * Checks a level table: 16 finite values, strictly increasing, not all zero. Returns a copy.
     *
     * @throws IllegalArgumentException naming the offending entry
     */
    public static float[] checkLevels(float[] levels) {
        if (levels == null || levels.length != 16) {
            throw new IllegalArgumentException("a codebook needs exactly 16 levels, got "
                    + (levels == null ? "null" : levels.length));
        }
        for (int i = 0; i < 16; i++) {
            if (!Float.isFinite(levels[i])) {
                throw new IllegalArgumentException("codebook level " + i + " is " + levels[i]);
            }
            if (i > 0 && !(levels[i] > levels[i - 1])) {
                throw new IllegalArgumentException("codebook levels must increase strictly: level " + i + " = "
                        + levels[i] + " after " + levels[i - 1]);
            }
        }
        if (reach(levels) == 0f) {
            throw new IllegalArgumentException("codebook levels are all zero");
        }
        return levels.clone();
    }

    /** The largest level magnitude: a group's absmax maps to this level's magnitude. */
    public static float reach(float[] levels) {
        return Math.max(Math.abs(levels[0]), Math.abs(levels[15]));
    }

    /**
     * The 15 decision boundaries between neighbouring levels, {@code (l[i] + l[i+1]) / 2}.
     * An input {@code v} takes index {@code #{i : mid[i] < v}}, so an exact tie goes to the lower level.
     */
    public static float[] midpoints(float[] levels) {
        float[] mid = new float[15];
        for (int i = 0; i < 15; i++) {
            mid[i] = (levels[i] + levels[i + 1]) * 0.5f;
        }
        return mid;
    }
}

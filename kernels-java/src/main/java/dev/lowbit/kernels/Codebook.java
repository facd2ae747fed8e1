package dev.lowbit.kernels;

import dev.lowbit.format.Codebooks;

/** A checked 16-level table with its decision midpoints and reach, computed once per tensor. */
public record Codebook(float[] levels, float[] midpoints, float reach) {

    public static Codebook of(float[] levels) {
        float[] l = Codebooks.checkLevels(levels);
        return new Codebook(l, Codebooks.midpoints(l), Codebooks.reach(l));
    }

    /** The level index of {@code v}: the number of midpoints below it (a tie goes to the lower level). */
    public int index(float v) {
        int i = 0;
        for (float m : midpoints) {
            if (m < v) {
                i++;
            }
        }
        return i;
    }
}

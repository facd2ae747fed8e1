package dev.lowbit.kernels;

/**
 * Per-group statistics of a {@code rows x cols} matrix: {@code groupsPerRow} groups per row,
 * row-major arrays of {@code rows * groupsPerRow} values.
 */
public record GroupStats(int rows, int groupsPerRow, float[] min, float[] max, float[] absmax) {
}

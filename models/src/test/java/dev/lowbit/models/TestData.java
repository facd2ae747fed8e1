package dev.lowbit.models;

import java.util.Random;

/** Seeded data for the file tests. */
final class TestData {
    private TestData() {
    }

    /** {@code n} standard normal values. */
    static float[] gaussian(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }
}

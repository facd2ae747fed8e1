package dev.lowbit.testkit;

import java.util.SplittableRandom;

/** Seeded test matrices: Gaussian and two heavy-tailed laws, at the scale of real linear weights. */
public final class Matrices {
    private Matrices() {
    }

    public enum Law { GAUSSIAN, STUDENT_T3, LAPLACE }

    public static float[] draw(Law law, long seed, int n) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] w = new float[n];
        for (int i = 0; i < n; i++) {
            double v = switch (law) {
                case GAUSSIAN -> gaussian(rnd);
                case STUDENT_T3 -> {
                    double chi = 0;
                    for (int k = 0; k < 3; k++) {
                        double g = gaussian(rnd);
                        chi += g * g;
                    }
                    yield gaussian(rnd) / Math.sqrt(chi / 3);
                }
                case LAPLACE -> {
                    double u = rnd.nextDouble() - 0.5;
                    yield -Math.signum(u) * Math.log(1 - 2 * Math.abs(u));
                }
            };
            w[i] = (float) (0.02 * v);
        }
        return w;
    }

    private static double gaussian(SplittableRandom rnd) {
        double u = 1 - rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd.nextDouble());
    }
}

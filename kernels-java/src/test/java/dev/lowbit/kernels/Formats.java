package dev.lowbit.kernels;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.ScaleType;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Every format the kernels support, and seeded inputs that hit their edges. */
final class Formats {
    private Formats() {
    }

    static List<QuantFormat> all() {
        List<QuantFormat> out = new ArrayList<>(List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1));
        for (int bits : new int[] {2, 3, 4, 8}) {
            for (int g : new int[] {32, 64, 128, QuantFormat.ROW}) {
                for (boolean sym : new boolean[] {true, false}) {
                    for (ScaleType t : ScaleType.values()) {
                        out.add(QuantFormat.grouped(bits, g, sym, t));
                    }
                }
            }
        }
        for (int g : new int[] {32, 64, 128, QuantFormat.ROW}) {
            for (ScaleType t : ScaleType.values()) {
                out.add(QuantFormat.codebook4(g, t));
            }
        }
        return out;
    }

    /** Row lengths: 0, 1, primes, and block/group sizes and vector widths plus and minus one. */
    static final int[] COLS = {0, 1, 2, 7, 8, 13, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 257, 1009};

    /** Gaussian values with a few planted large ones, seeded. */
    static float[] gaussian(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            double u1 = r.nextDouble();
            double u2 = r.nextDouble();
            a[i] = (float) (Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2));
            if (r.nextInt(97) == 0) {
                a[i] *= 8f;
            }
        }
        return a;
    }

    /** Inputs with structure: zeros, constants, one-sided groups, exact ties and tiny values. */
    static float[] tricky(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            int region = (i / 32) % 6;
            a[i] = switch (region) {
                case 0 -> 0f;
                case 1 -> 0.25f;                                   // constant group
                case 2 -> 1f + r.nextInt(16) * 0.5f;               // positive only, many exact .5 ties
                case 3 -> -(r.nextInt(255)) / 2f;                  // negative half-integers
                case 4 -> (float) (r.nextDouble() - 0.5) * 1e-6f;  // tiny, scales near fp16's subnormals
                default -> (float) (r.nextGaussian() * 100);
            };
        }
        return a;
    }
}

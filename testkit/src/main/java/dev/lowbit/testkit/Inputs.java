package dev.lowbit.testkit;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.SparseOutliers;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.SplittableRandom;

/** Seeded inputs that reach the kernels' edges: the same seed gives the same values everywhere. */
public final class Inputs {
    private Inputs() {
    }

    /** Quantizes fp32 rows into a tensor of format {@code f}: an implementation's quantizer, or the reference's. */
    @FunctionalInterface
    public interface Quantizer {
        QuantizedTensor quantize(QuantFormat f, float[] w, int rows, int k, Arena arena);
    }

    /** Seeded values: {@link #gaussian}, {@link #normal} or another generator. */
    @FunctionalInterface
    public interface Source {
        float[] values(long seed, int n);
    }

    /** Gaussian values (Box-Muller on {@link SplittableRandom}) with a few planted large ones (x8), seeded. */
    public static float[] gaussian(long seed, int n) {
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

    /** Gaussian values ({@link SplittableRandom#nextGaussian()}) with a few planted large ones (x8), seeded. */
    public static float[] normal(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
            if (r.nextInt(97) == 0) {
                a[i] *= 8f;
            }
        }
        return a;
    }

    /** Inputs with structure per 32 values: zeros, constants, one-sided groups, exact ties and tiny values. */
    public static float[] tricky(long seed, int n) {
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

    /**
     * {@link #tricky}'s structure with a seventh kind of group: negative zeros and denormal-sized positives
     * (fp16 subnormal scales).
     */
    public static float[] trickyWithSignedZeros(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = switch ((i / 32) % 7) {
                case 0 -> 0f;
                case 1 -> 0.25f;
                case 2 -> 1f + r.nextInt(16) * 0.5f;
                case 3 -> -(r.nextInt(255)) / 2f;
                case 4 -> (float) (r.nextDouble() - 0.5) * 1e-6f;
                case 5 -> i % 2 == 0 ? -0f : (float) (r.nextDouble() * 1e-9);
                default -> (float) (r.nextGaussian() * 100);
            };
        }
        return a;
    }

    /**
     * Every 32 values a new magnitude, 2^-40 .. 2^9: scales across fp16's subnormal and normal ranges and below them
     * (fp32 scales only), while every format's fp16 scale stays storable.
     */
    public static float[] magnitudes(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            int e = (i / 32) % 50 - 40;
            a[i] = (float) (r.nextGaussian() * Math.scalb(1.0, e));
        }
        return a;
    }

    /**
     * A {@code rows x cols} matrix: rows of gaussians at magnitudes from 1e-4 (subnormal fp16 scales) to 1e3, a row of
     * zeros, a row of negative zeros and a row of one sign, cycling every 8 rows.
     */
    public static float[] matrix(int rows, int cols, long seed) {
        Random rnd = new Random(seed);
        float[] m = new float[rows * cols];
        float[] mags = {1e-4f, 0.01f, 1f, 30f, 1000f};
        for (int r = 0; r < rows; r++) {
            int kind = r % 8;
            float mag = mags[r % mags.length];
            for (int c = 0; c < cols; c++) {
                float v = switch (kind) {
                    case 5 -> 0f;
                    case 6 -> -0f;
                    case 7 -> mag * (float) Math.abs(rnd.nextGaussian());
                    default -> mag * (float) rnd.nextGaussian();
                };
                m[r * cols + c] = v;
            }
        }
        return m;
    }

    /**
     * Weights of format {@code f}: {@link #gaussian} rows quantized by {@code q}; with {@code outliers}, the first
     * element set to 40 and the last to -33, both taken out (with any other beyond 20) as sparse outliers.
     */
    public static QuantizedTensor weights(Quantizer q, QuantFormat f, int rows, int k, long seed, boolean outliers,
                                          Arena arena) {
        return weights(Inputs::gaussian, q, f, rows, k, seed, outliers, arena);
    }

    /** {@link #weights(Quantizer, QuantFormat, int, int, long, boolean, Arena)} on values from {@code source}. */
    public static QuantizedTensor weights(Source source, Quantizer q, QuantFormat f, int rows, int k, long seed,
                                          boolean outliers, Arena arena) {
        float[] w = source.values(seed, rows * k);
        SparseOutliers o = null;
        if (outliers) {
            w[0] = 40f;
            w[w.length - 1] = -33f;
            o = SparseOutliers.extract(w, rows, k, 20f, arena);
        }
        QuantizedTensor t = q.quantize(f, w, rows, k, arena);
        return o == null ? t : t.withOutliers(o);
    }
}

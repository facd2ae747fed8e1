package dev.lowbit.kernels.gpu.opencl;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.ScaleType;
import org.junit.jupiter.api.Assumptions;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Formats, sizes and seeded inputs for the OpenCL tests (as kernels-java's tests choose them), and the device. */
final class TestInputs {
    private TestInputs() {
    }

    /** Every format lowbit has: ggml Q8_0, Q4_0, Q4_1; grouped 2/3/4/8-bit of every group and scale type; codebook. */
    static List<QuantFormat> allFormats() {
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

    /** The formats the integer path takes. */
    static List<QuantFormat> intFormats() {
        return allFormats().stream().filter(OpenClMatmulKernels::intPath).toList();
    }

    /** Row lengths: 0, 1, primes, and block/group sizes plus and minus one. */
    static final int[] COLS = {0, 1, 2, 7, 13, 31, 32, 33, 63, 64, 65, 127, 128, 129, 257, 1009};

    /** Gaussian values with a few planted large ones, seeded. */
    static float[] gaussian(long seed, int n) {
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

    /** Structure per 32 values: zeros, constants, one-sided groups, exact ties, tiny values (fp16 subnormal scales). */
    static float[] tricky(long seed, int n) {
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
    static float[] magnitudes(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            int e = (i / 32) % 50 - 40;
            a[i] = (float) (r.nextGaussian() * Math.scalb(1.0, e));
        }
        return a;
    }

    /** Why the OpenCL tests cannot run here, or null when a device opens. */
    static final String UNAVAILABLE = OpenClKernels.unavailableReason();

    /** Opens the device, or returns null (and says why) where there is none. */
    static OpenClKernels openIfAvailable() {
        if (UNAVAILABLE != null) {
            System.out.println("OpenCL tests skipped: " + UNAVAILABLE);
            return null;
        }
        OpenClKernels k = OpenClKernels.open();
        System.out.println("OpenCL kernels on " + k.deviceDescription());
        return k;
    }

    /** Skips the calling test, with the reason, where no OpenCL device is present. */
    static void assumeDevice() {
        Assumptions.assumeTrue(UNAVAILABLE == null, () -> "skipped: " + UNAVAILABLE);
    }
}

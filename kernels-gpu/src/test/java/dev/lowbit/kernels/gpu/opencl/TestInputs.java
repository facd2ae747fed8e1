package dev.lowbit.kernels.gpu.opencl;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.testkit.Formats;
import dev.lowbit.testkit.Inputs;
import org.junit.jupiter.api.Assumptions;

import java.util.List;

/** Formats, sizes and seeded inputs for the OpenCL tests (from the test kit), and the device. */
final class TestInputs {
    private TestInputs() {
    }

    /** Every format lowbit has ({@link Formats#all()}). */
    static List<QuantFormat> allFormats() {
        return Formats.all();
    }

    /** The formats the integer path takes. */
    static List<QuantFormat> intFormats() {
        return allFormats().stream().filter(OpenClMatmulKernels::intPath).toList();
    }

    /** Row lengths: 0, 1, primes, and block/group sizes plus and minus one. */
    static final int[] COLS = {0, 1, 2, 7, 13, 31, 32, 33, 63, 64, 65, 127, 128, 129, 257, 1009};

    /** {@link Inputs#normal}. */
    static float[] gaussian(long seed, int n) {
        return Inputs.normal(seed, n);
    }

    /** {@link Inputs#trickyWithSignedZeros}. */
    static float[] tricky(long seed, int n) {
        return Inputs.trickyWithSignedZeros(seed, n);
    }

    /** {@link Inputs#magnitudes}. */
    static float[] magnitudes(long seed, int n) {
        return Inputs.magnitudes(seed, n);
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

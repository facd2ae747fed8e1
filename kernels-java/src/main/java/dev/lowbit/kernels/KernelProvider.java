package dev.lowbit.kernels;

import java.util.Locale;

/**
 * Picks the kernel implementation once, at first use, and logs the choice in one line.
 * <ul>
 *   <li>{@code -Dlowbit.kernels=scalar} forces the scalar reference ({@code vector} or {@code auto}, the
 *       default, take the Vector API when it can run);</li>
 *   <li>{@code -Dlowbit.vector.maxBits=256|512} caps the vector width (read once per JVM: species must be
 *       constants for the JIT).</li>
 * </ul>
 * The Vector API is used only when {@code jdk.incubator.vector} is in the boot layer and vectors of
 * at least 256 bits are allowed; otherwise the scalar reference runs, and the log line says why.
 */
public final class KernelProvider {
    private static final System.Logger LOG = System.getLogger("dev.lowbit.kernels");

    private KernelProvider() {
    }

    private static final class Holder {
        static final QuantKernels KERNELS = choose();
    }

    /** The implementation chosen at start-up. */
    public static QuantKernels kernels() {
        return Holder.KERNELS;
    }

    /** The matmul implementation that goes with {@link #kernels()}. */
    public static MatmulKernels matmul() {
        return Holder.KERNELS == ScalarQuantKernels.INSTANCE ? ScalarMatmulKernels.INSTANCE : VectorSupport.matmul();
    }

    /** The scalar reference matmuls. */
    public static MatmulKernels scalarMatmul() {
        return ScalarMatmulKernels.INSTANCE;
    }

    /** The Vector API matmuls, or null when the Vector API cannot run here. */
    public static MatmulKernels vectorMatmul() {
        return vectorUnavailable() == null ? VectorSupport.matmul() : null;
    }

    /** The scalar reference implementation. */
    public static QuantKernels scalar() {
        return ScalarQuantKernels.INSTANCE;
    }

    /** The Vector API implementation, or null when it cannot run here ({@link #vectorUnavailable} says why). */
    public static QuantKernels vector() {
        return vectorUnavailable() == null ? VectorSupport.create() : null;
    }

    private static QuantKernels choose() {
        String mode = System.getProperty("lowbit.kernels", "auto").toLowerCase(Locale.ROOT);
        QuantKernels k;
        String reason;
        if (mode.equals("scalar")) {
            k = ScalarQuantKernels.INSTANCE;
            reason = "forced by -Dlowbit.kernels=scalar";
        } else if (!mode.equals("auto") && !mode.equals("vector")) {
            throw new IllegalArgumentException("-Dlowbit.kernels must be auto, vector or scalar, got '" + mode + "'");
        } else {
            String why = vectorUnavailable();
            if (why == null) {
                k = VectorSupport.create();
                reason = "Vector API; -Dlowbit.vector.maxBits caps the width, -Dlowbit.kernels=scalar forces scalar";
            } else {
                k = ScalarQuantKernels.INSTANCE;
                reason = why;
            }
        }
        LOG.log(System.Logger.Level.INFO, "lowbit kernels: " + k.name() + " (" + reason + ")");
        return k;
    }

    /** Why the Vector API cannot run, or null when it can. */
    public static String vectorUnavailable() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return "jdk.incubator.vector is not loaded; run with --add-modules jdk.incubator.vector";
        }
        try {
            int bits = VectorSupport.bits();
            if (bits < 256) {
                return "vectors of " + bits + " bits (preferred width, capped by lowbit.vector.maxBits); the kernels need 256";
            }
        } catch (LinkageError e) {
            return "the Vector API failed to load: " + e;
        }
        return null;
    }
}

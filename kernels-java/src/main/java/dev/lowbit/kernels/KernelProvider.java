package dev.lowbit.kernels;

import dev.lowbit.bindings.nativelib.NativeLibrary;

import java.util.Locale;

/**
 * Picks the kernel implementation once, at first use, and logs the choice in one line: the native library
 * ({@code liblowbit}, C per CPU tier) when it loads, else the Vector API when it can run, else the scalar reference.
 * <ul>
 *   <li>{@code -Dlowbit.kernels=native|vector|scalar} forces one ({@code auto}, the default, takes the first that
 *       runs); a forced {@code native} that cannot load is an error, a forced {@code vector} falls back to scalar;</li>
 *   <li>{@code -Dlowbit.native=false} disables the library, {@code -Dlowbit.native.tier=generic|avx2} lowers its
 *       tier, {@code -Dlowbit.native.path} loads another file (see {@link NativeLibrary});</li>
 *   <li>{@code -Dlowbit.vector.maxBits=256|512} caps the vector width (read once per JVM: species must be
 *       constants for the JIT).</li>
 * </ul>
 * The Vector API is used only when {@code jdk.incubator.vector} is in the boot layer and vectors of
 * at least 256 bits are allowed. The matmuls stay on the Vector API (or scalar) whichever quantize kernels run.
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

    /**
     * The matmul implementation that goes with {@link #kernels()}: native when the quantize kernels are
     * native, else the Vector API's when it runs, else scalar.
     */
    public static MatmulKernels matmul() {
        if (Holder.KERNELS instanceof NativeQuantKernels) {
            return MatmulHolder.NATIVE;
        }
        return Holder.KERNELS == ScalarQuantKernels.INSTANCE || vectorUnavailable() != null
                ? ScalarMatmulKernels.INSTANCE : VectorSupport.matmul();
    }

    private static final class MatmulHolder {
        static final MatmulKernels NATIVE = NativeMatmulKernels.create();
    }

    /** The scalar reference matmuls. */
    public static MatmulKernels scalarMatmul() {
        return ScalarMatmulKernels.INSTANCE;
    }

    /** The Vector API matmuls, or null when the Vector API cannot run here. */
    public static MatmulKernels vectorMatmul() {
        return vectorUnavailable() == null ? VectorSupport.matmul() : null;
    }

    /** The native matmuls, or null when the native library is unavailable ({@link #nativeUnavailable} says why). */
    public static MatmulKernels nativeMatmul() {
        return NativeMatmulKernels.create();
    }

    /** The scalar reference implementation. */
    public static QuantKernels scalar() {
        return ScalarQuantKernels.INSTANCE;
    }

    /** The Vector API implementation, or null when it cannot run here ({@link #vectorUnavailable} says why). */
    public static QuantKernels vector() {
        return vectorUnavailable() == null ? VectorSupport.create() : null;
    }

    /** The native implementation at the selected tier, or null when the library is unavailable. */
    public static QuantKernels nativeKernels() {
        return NativeQuantKernels.create();
    }

    /** Why the native library is unavailable, in one sentence, or null when it loaded. */
    public static String nativeUnavailable() {
        return NativeLibrary.unavailableReason();
    }

    private static QuantKernels choose() {
        String mode = System.getProperty("lowbit.kernels", "auto").trim().toLowerCase(Locale.ROOT);
        StringBuilder reason = new StringBuilder();
        QuantKernels k = select(mode, nativeUnavailable(), vectorUnavailable(), reason);
        LOG.log(System.Logger.Level.INFO, "lowbit kernels: " + k.name() + " (" + reason + ")");
        return k;
    }

    /**
     * The choice for {@code mode} given why native and vector cannot run (null when they can); {@code reason}
     * receives the explanation that the log line shows.
     */
    static QuantKernels select(String mode, String nativeWhy, String vectorWhy, StringBuilder reason) {
        switch (mode) {
            case "scalar" -> {
                reason.append("forced by -Dlowbit.kernels=scalar");
                return ScalarQuantKernels.INSTANCE;
            }
            case "native" -> {
                if (nativeWhy != null) {
                    throw new IllegalArgumentException("-Dlowbit.kernels=native, but the native library is unavailable: "
                            + nativeWhy);
                }
                reason.append("forced by -Dlowbit.kernels=native; ").append(nativeNote());
                return NativeQuantKernels.create();
            }
            case "vector", "auto" -> {
                if (mode.equals("auto") && nativeWhy == null) {
                    reason.append(nativeNote());
                    return NativeQuantKernels.create();
                }
                String skipped = mode.equals("auto") ? "native library unavailable: " + nativeWhy + "; " : "";
                if (vectorWhy == null) {
                    reason.append(skipped).append("Vector API; -Dlowbit.vector.maxBits caps the width, "
                            + "-Dlowbit.kernels=scalar forces scalar");
                    return VectorSupport.create();
                }
                reason.append(skipped).append(vectorWhy);
                return ScalarQuantKernels.INSTANCE;
            }
            default -> throw new IllegalArgumentException(
                    "-Dlowbit.kernels must be auto, native, vector or scalar, got '" + mode + "'");
        }
    }

    private static String nativeNote() {
        return "liblowbit at tier " + NativeLibrary.tier().suffix() + ", the CPU runs "
                + NativeLibrary.hardwareTier().suffix() + "; -Dlowbit.native.tier lowers it, "
                + "-Dlowbit.kernels=vector|scalar forces Java";
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

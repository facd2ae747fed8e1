package dev.lowbit.kernels;

import dev.lowbit.bindings.nativelib.NativeLibrary;
import dev.lowbit.kernels.impl.NativeMatmulKernels;
import dev.lowbit.kernels.impl.NativeQuantKernels;
import dev.lowbit.kernels.impl.ScalarFp32Kernels;
import dev.lowbit.kernels.impl.ScalarMatmulKernels;
import dev.lowbit.kernels.impl.ScalarMethodKernels;
import dev.lowbit.kernels.impl.ScalarQuantKernels;
import dev.lowbit.kernels.impl.VectorSupport;

import java.util.Locale;

/**
 * Picks the implementation of every kernel family once, at first use, and logs the choice in one line: the
 * quantize kernels ({@link QuantKernels}), the matmuls ({@link MatmulKernels}), the fp32 kernels of the forward pass
 * ({@link Fp32Kernels}) and the methods' kernels ({@link MethodKernels}). Each is the native library's
 * ({@code liblowbit}, C per CPU tier) when it loads and has one, else the Vector API's when it can run, else the
 * scalar reference.
 * <ul>
 *   <li>{@code -Dlowbit.kernels=native|vector|scalar} forces one ({@code auto}, the default, takes the first that
 *       runs); a forced {@code native} that cannot load is an error, a forced {@code vector} falls back to scalar,
 *       a forced {@code scalar} makes every family scalar;</li>
 *   <li>{@code -Dlowbit.native=false} disables the library, {@code -Dlowbit.native.tier=generic|avx2} lowers its
 *       tier, {@code -Dlowbit.native.path} loads another file (see {@link NativeLibrary});</li>
 *   <li>{@code -Dlowbit.vector.maxBits=256|512} caps the vector width of every family (read once per JVM: species
 *       must be constants for the JIT).</li>
 * </ul>
 * The Vector API is used only when {@code jdk.incubator.vector} is in the boot layer and vectors of
 * at least 256 bits are allowed. The matmuls stay on the Vector API (or scalar) whichever quantize kernels run;
 * the fp32 and the methods' kernels have no native implementation and run on the Vector API beside native ones.
 */
public final class KernelProvider {
    private static final System.Logger LOG = System.getLogger("dev.lowbit.kernels");

    private KernelProvider() {
    }

    /** The implementation of every family, chosen together. */
    record Choice(QuantKernels quant, MatmulKernels matmul, Fp32Kernels fp32, MethodKernels methods) {
        /** The names of the choice, family by family, as the log line shows them. */
        String names() {
            return "quantize " + quant.name() + ", matmul " + matmul.name() + ", fp32 " + fp32.name()
                    + ", methods " + methods.name();
        }
    }

    private static final class Holder {
        static final Choice CHOICE = choose();
    }

    /** The quantize kernels chosen at start-up. */
    public static QuantKernels kernels() {
        return Holder.CHOICE.quant();
    }

    /**
     * The matmul implementation that goes with {@link #kernels()}: native when the quantize kernels are
     * native, else the Vector API's when it runs, else scalar.
     */
    public static MatmulKernels matmul() {
        return Holder.CHOICE.matmul();
    }

    /** The fp32 kernels of the forward pass: the Vector API's when it runs, unless every family is forced scalar. */
    public static Fp32Kernels fp32() {
        return Holder.CHOICE.fp32();
    }

    /** The methods' kernels: the Vector API's when it runs, unless every family is forced scalar. */
    public static MethodKernels methods() {
        return Holder.CHOICE.methods();
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
        return vectorUnavailable() == null ? VectorSupport.quant() : null;
    }

    /** The native implementation at the selected tier, or null when the library is unavailable. */
    public static QuantKernels nativeKernels() {
        return NativeQuantKernels.create();
    }

    /** The scalar reference fp32 kernels, which define the results. */
    public static Fp32Kernels scalarFp32() {
        return ScalarFp32Kernels.INSTANCE;
    }

    /** The Vector API fp32 kernels, or null when the Vector API cannot run here. */
    public static Fp32Kernels vectorFp32() {
        return vectorUnavailable() == null ? VectorSupport.fp32() : null;
    }

    /** The scalar reference of the methods' kernels. */
    public static MethodKernels scalarMethods() {
        return ScalarMethodKernels.INSTANCE;
    }

    /** The Vector API methods' kernels, or null when the Vector API cannot run here. */
    public static MethodKernels vectorMethods() {
        return vectorUnavailable() == null ? VectorSupport.methods() : null;
    }

    /** Why the native library is unavailable, in one sentence, or null when it loaded. */
    public static String nativeUnavailable() {
        return NativeLibrary.unavailableReason();
    }

    private static Choice choose() {
        String mode = System.getProperty("lowbit.kernels", "auto").trim().toLowerCase(Locale.ROOT);
        StringBuilder reason = new StringBuilder();
        Choice c = select(mode, nativeUnavailable(), vectorUnavailable(), reason);
        LOG.log(System.Logger.Level.INFO, "lowbit kernels: " + c.names() + " (" + reason + ")");
        return c;
    }

    /**
     * The choice for {@code mode} given why native and vector cannot run (null when they can); {@code reason}
     * receives the explanation that the log line shows.
     */
    static Choice select(String mode, String nativeWhy, String vectorWhy, StringBuilder reason) {
        switch (mode) {
            case "scalar" -> {
                reason.append("forced by -Dlowbit.kernels=scalar");
                return scalarChoice();
            }
            case "native" -> {
                if (nativeWhy != null) {
                    throw new IllegalArgumentException("-Dlowbit.kernels=native, but the native library is unavailable: "
                            + nativeWhy);
                }
                reason.append("forced by -Dlowbit.kernels=native; ").append(nativeNote());
                return nativeChoice(vectorWhy);
            }
            case "vector", "auto" -> {
                if (mode.equals("auto") && nativeWhy == null) {
                    reason.append(nativeNote());
                    return nativeChoice(vectorWhy);
                }
                String skipped = mode.equals("auto") ? "native library unavailable: " + nativeWhy + "; " : "";
                if (vectorWhy == null) {
                    reason.append(skipped).append("Vector API; -Dlowbit.vector.maxBits caps the width, "
                            + "-Dlowbit.kernels=scalar forces scalar");
                    return new Choice(VectorSupport.quant(), VectorSupport.matmul(), VectorSupport.fp32(),
                            VectorSupport.methods());
                }
                reason.append(skipped).append(vectorWhy);
                return scalarChoice();
            }
            default -> throw new IllegalArgumentException(
                    "-Dlowbit.kernels must be auto, native, vector or scalar, got '" + mode + "'");
        }
    }

    private static Choice scalarChoice() {
        return new Choice(ScalarQuantKernels.INSTANCE, ScalarMatmulKernels.INSTANCE, ScalarFp32Kernels.INSTANCE,
                ScalarMethodKernels.INSTANCE);
    }

    /** Native quantize kernels and matmuls; the families without native kernels on the Vector API when it runs. */
    private static Choice nativeChoice(String vectorWhy) {
        return vectorWhy == null
                ? new Choice(NativeQuantKernels.create(), NativeMatmulKernels.create(), VectorSupport.fp32(),
                        VectorSupport.methods())
                : new Choice(NativeQuantKernels.create(), NativeMatmulKernels.create(), ScalarFp32Kernels.INSTANCE,
                        ScalarMethodKernels.INSTANCE);
    }

    private static String nativeNote() {
        return "liblowbit at tier " + NativeLibrary.tier().suffix() + ", the CPU runs "
                + NativeLibrary.hardwareTier().suffix() + "; -Dlowbit.native.tier lowers it, "
                + "-Dlowbit.kernels=vector|scalar forces Java";
    }

    /** Why the Vector API cannot run, or null when it can. */
    public static String vectorUnavailable() {
        return VectorSupport.unavailable();
    }

    /** Why vectors of {@code preferredBits} capped by {@code maxBits} cannot run the kernels, or null when they can. */
    static String vectorTooNarrow(int preferredBits, int maxBits) {
        return VectorSupport.tooNarrow(VectorSupport.width(preferredBits, maxBits));
    }
}

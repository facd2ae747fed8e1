package dev.lowbit.cli;

import dev.lowbit.kernels.KernelProvider;
import picocli.CommandLine;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * {@code lowbit --version}: the project version (written into {@code version.properties} by the build) and the
 * kernels that run here, as {@link KernelProvider} chose them.
 */
final class Version implements CommandLine.IVersionProvider {

    @Override
    public String[] getVersion() {
        return new String[]{"lowbit " + version(), "kernels: " + kernels()};
    }

    /** The Maven project version lowbit was built as. */
    static String version() {
        try (InputStream in = Version.class.getResourceAsStream("version.properties")) {
            if (in == null) {
                return "(unknown version: version.properties is missing from the class path)";
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version", "(unknown version)");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The quantize kernels in words: {@code native avx512 (AVX-512 VNNI)}, {@code native avx2 (AVX2, FMA)},
     * {@code native generic (portable C)}, {@code vector 512-bit} or {@code scalar}.
     */
    static String kernels() {
        try {
            return describe(KernelProvider.kernels().name());
        } catch (RuntimeException | LinkageError e) {
            // A bad -Dlowbit.kernels or -Dlowbit.native.tier: --version still answers, and says why.
            Throwable why = e instanceof ExceptionInInitializerError && e.getCause() != null ? e.getCause() : e;
            return "none chosen: " + Main.message(why);
        }
    }

    /** {@link #kernels()} for a kernel implementation's name ({@code native-avx512}, {@code vector-256}, {@code scalar}). */
    static String describe(String name) {
        return switch (name) {
            case "native-avx512" -> "native avx512 (AVX-512 VNNI)";
            case "native-avx2" -> "native avx2 (AVX2, FMA)";
            case "native-generic" -> "native generic (portable C)";
            default -> name.startsWith("vector-") ? "vector " + name.substring("vector-".length()) + "-bit" : name;
        };
    }
}

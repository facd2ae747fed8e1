package dev.lowbit.kernels.gpu.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * The CUDA C++ sources shipped as resources ({@code dev/lowbit/kernels/gpu/cuda/*.cu}) and the one header they share.
 * NVRTC compiles them at run time for the device's own architecture; they include nothing but
 * {@value #HEADER}, so no host header is ever needed.
 */
public final class KernelSources {
    private KernelSources() {
    }

    /** The shared header, passed to NVRTC by name. */
    public static final String HEADER = "lowbit_common.cuh";

    /** Every kernel source, by file name. */
    public static final List<String> SOURCES = List.of("quantize.cu", "dequantize.cu", "activations.cu", "outliers.cu",
            "int8_epilogue.cu", "gemm_f32.cu", "gemm_int8.cu", "gemv_codebook.cu", "w4a16.cu");

    /** Options every compilation gets: C++17, and IEEE division and square root (NVRTC's defaults, made explicit). */
    public static final List<String> OPTIONS = List.of("--std=c++17", "--prec-div=true", "--prec-sqrt=true");

    static final String RESOURCE_DIR = "dev/lowbit/kernels/gpu/cuda/";

    /** The text of source or header {@code name}. */
    public static String read(String name) {
        try (InputStream in = KernelSources.class.getResourceAsStream("/" + RESOURCE_DIR + name)) {
            if (in == null) {
                throw new IllegalStateException("the kernel source " + RESOURCE_DIR + name + " is missing from the jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the kernel source " + name, e);
        }
    }

    /** The headers NVRTC gets for every source: {@value #HEADER}. */
    public static Map<String, String> headers() {
        return Map.of(HEADER, read(HEADER));
    }
}

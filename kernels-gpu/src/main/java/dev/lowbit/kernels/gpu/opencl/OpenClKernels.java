package dev.lowbit.kernels.gpu.opencl;

import dev.lowbit.bindings.opencl.ClContext;
import dev.lowbit.bindings.opencl.ClDeviceInfo;
import dev.lowbit.bindings.opencl.ClKernel;
import dev.lowbit.bindings.opencl.ClProgram;
import dev.lowbit.bindings.opencl.OpenClException;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * lowbit's kernels on one OpenCL device: the quantize family ({@link #quant()}, a {@code QuantKernels}) and the
 * GEMV family ({@link #matmul()}, a {@code MatmulKernels}), from OpenCL C sources built at run time
 * ({@code dev/lowbit/kernels/gpu/opencl/*.cl}). Closing it releases the programs, kernels and context.
 *
 * <p>The quantize kernels reproduce the scalar reference bit for bit, which needs correctly rounded fp32 division
 * ({@code -cl-fp32-correctly-rounded-divide-sqrt}) and subnormals; on a device without them {@link #quant()} is
 * refused with the reason ({@link #quantUnavailableReason()}), and the GEMV kernels still run.
 *
 * <p>Launches share one command queue and kernel objects, so calls are serialized on this object: use
 * {@code MatmulOps} and {@code QuantOps} on the calling thread alone ({@code ThreadPool.callerThread()}) to avoid waiting.
 */
public final class OpenClKernels implements AutoCloseable {
    static final String RESOURCES = "/dev/lowbit/kernels/gpu/opencl/";
    static final String OPTIONS = "-cl-std=CL1.2";
    static final String QUANT_OPTIONS = OPTIONS + " -cl-fp32-correctly-rounded-divide-sqrt";

    final ClContext ctx;
    private final ClProgram quantProgram;
    private final ClProgram matmulProgram;
    final ClKernel quantize;
    final ClKernel dequantize;
    final ClKernel groupStats;
    final ClKernel firstNonFinite;
    final ClKernel gemvF32;
    final ClKernel gemvInt8;
    final ClKernel int8BlockSums;
    private final String quantWhy;
    private final OpenClQuantKernels quant;
    private final OpenClMatmulKernels matmul;

    private OpenClKernels(ClContext ctx) {
        this.ctx = ctx;
        ClDeviceInfo d = ctx.device();
        String common = source("common.cl");
        quantWhy = quantUnavailable(d);
        if (quantWhy == null) {
            quantProgram = ctx.build(common + source("quant.cl"), QUANT_OPTIONS);
            quantize = quantProgram.kernel("quantize");
            dequantize = quantProgram.kernel("dequantize");
            groupStats = quantProgram.kernel("group_stats");
            firstNonFinite = quantProgram.kernel("first_non_finite");
        } else {
            quantProgram = null;
            quantize = dequantize = groupStats = firstNonFinite = null;
        }
        matmulProgram = ctx.build(common + source("matmul.cl"), OPTIONS);
        gemvF32 = matmulProgram.kernel("gemv_f32");
        gemvInt8 = matmulProgram.kernel("gemv_int8");
        int8BlockSums = matmulProgram.kernel("int8_block_sums");
        quant = quantWhy == null ? new OpenClQuantKernels(this) : null;
        matmul = new OpenClMatmulKernels(this);
    }

    /**
     * Why no OpenCL device can run these kernels here (no loader library, no platform, no device), in one sentence;
     * null when {@link #open()} can succeed.
     */
    public static String unavailableReason() {
        return ClContext.unavailableReason();
    }

    /**
     * Opens the OpenCL device {@link ClContext} picks and builds the kernels for it.
     *
     * @throws IllegalStateException when OpenCL is unavailable ({@link #unavailableReason()})
     * @throws OpenClException       when a call fails, with the build log for a failed build
     */
    public static OpenClKernels open() {
        ClContext ctx = ClContext.open();
        try {
            return new OpenClKernels(ctx);
        } catch (RuntimeException e) {
            ctx.close();
            throw e;
        }
    }

    /** The device in one line: name, OpenCL and driver versions, platform. */
    public String deviceDescription() {
        return ctx.device().describe();
    }

    /** The device as the binding describes it. */
    public ClDeviceInfo device() {
        return ctx.device();
    }

    /** Why the quantize kernels cannot run on this device, or null when they can. */
    public String quantUnavailableReason() {
        return quantWhy;
    }

    /**
     * The quantize family on this device.
     *
     * @throws IllegalStateException when the device cannot reproduce the reference ({@link #quantUnavailableReason()})
     */
    public OpenClQuantKernels quant() {
        if (quant == null) {
            throw new IllegalStateException(quantWhy);
        }
        return quant;
    }

    /** The GEMV family on this device. */
    public OpenClMatmulKernels matmul() {
        return matmul;
    }

    /** Buffers, programs and kernels of the context still open (the programs and kernels of this object, while open). */
    public int liveObjects() {
        return ctx.liveObjects();
    }

    static String quantUnavailable(ClDeviceInfo d) {
        if (!d.correctlyRoundedDivide()) {
            return d.name() + " has no correctly rounded fp32 division (CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT), which "
                    + "bit-exact codes need";
        }
        if (!d.denormals()) {
            return d.name() + " flushes fp32 subnormals (no CL_FP_DENORM), which the scales of tiny groups need";
        }
        if (!d.littleEndian()) {
            return d.name() + " is big-endian; lowbit's planes are little-endian";
        }
        return null;
    }

    static String source(String name) {
        try (InputStream in = OpenClKernels.class.getResourceAsStream(RESOURCES + name)) {
            if (in == null) {
                throw new IllegalStateException("kernel source " + RESOURCES + name + " is missing from the jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8) + "\n";
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read kernel source " + name, e);
        }
    }

    @Override
    public void close() {
        ctx.close();
    }

    @Override
    public String toString() {
        return "OpenClKernels[" + deviceDescription() + "]";
    }
}

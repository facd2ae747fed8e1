package dev.lowbit.kernels;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.testkit.Activations;
import dev.lowbit.testkit.Inputs;
import dev.lowbit.testkit.MatmulTester;

import java.lang.foreign.Arena;

/** The test kit's view of the kernel API: activations both ways, and implementations as the testers take them. */
final class Kit {
    private Kit() {
    }

    /** Weights quantized as lowbit quantizes them (the reference's bytes). */
    static final Inputs.Quantizer QUANTIZE = (f, w, rows, k, arena) -> QuantOps.get().quantize(f, w, rows, k, arena);

    static Activations view(QuantizedActivations x) {
        return new Activations(x.format() == ActivationFormat.PER_TOKEN_INT8, x.n(), x.k(), x.codes(), x.scales());
    }

    static QuantizedActivations of(Activations x) {
        return new QuantizedActivations(x.perToken() ? ActivationFormat.PER_TOKEN_INT8 : ActivationFormat.Q8_0, x.n(),
                x.k(), x.codes(), x.scales());
    }

    static ActivationFormat format(Activations.Kind kind) {
        return ActivationFormat.valueOf(kind.name());
    }

    /** On one thread, with the scalar quantizers beside it. */
    static MatmulOps ops(MatmulKernels k) {
        return new MatmulOps(k, KernelProvider.scalar(), ThreadPool.callerThread());
    }

    static MatmulOps scalar() {
        return ops(KernelProvider.scalarMatmul());
    }

    static Activations.Quantizer activations(MatmulOps ops) {
        return (x, n, k, kind) -> view(ops.quantizeActivations(x, n, k, format(kind)));
    }

    static MatmulTester.Int8Gemm int8(MatmulOps ops) {
        return (w, x, y) -> ops.gemm(PackedWeights.of(w), of(x), y);
    }

    static MatmulTester.F32Gemm f32(MatmulOps ops) {
        return (w, x, n, y) -> ops.gemm(PackedWeights.of(w), x, n, y);
    }

    /** The integer path from fp32 activations, which {@code ops} quantizes to {@code af} inside the call. */
    static MatmulTester.F32Gemm int8(MatmulOps ops, ActivationFormat af) {
        return (w, x, n, y) -> ops.gemm(PackedWeights.of(w), x, n, y, af);
    }

    static MatmulTester.Int8Range int8Range(MatmulKernels k) {
        return (w, x, r0, r1, t0, t1, y, ldy) -> k.gemmInt8(w, of(x), r0, r1, t0, t1, y, ldy);
    }

    static MatmulTester.F32Range f32Range(MatmulKernels k) {
        return k::gemmF32;
    }

    /** A tester of {@code name}: weights as lowbit quantizes them, activations by the scalar reference. */
    static MatmulTester tester(String name) {
        return new MatmulTester(name).weights(QUANTIZE).activations(activations(scalar()));
    }

    /** {@link Inputs#weights} quantized as lowbit quantizes them. */
    static QuantizedTensor weights(QuantFormat f, int rows, int k, long seed, boolean outliers, Arena arena) {
        return Inputs.weights(QUANTIZE, f, rows, k, seed, outliers, arena);
    }
}

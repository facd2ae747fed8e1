package dev.lowbit.kernels;

import dev.lowbit.format.InterleavedTensor;
import dev.lowbit.format.Int8RowTensor;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.impl.WeightPacking;

import java.lang.foreign.Arena;
import java.util.Objects;

/**
 * Quantized weights in the memory layout that {@link MatmulOps} multiplies: plain rows ({@link Rows}), rows
 * interleaved in groups of 8 ({@link Interleaved}, {@code q8_0x8} and {@code q4_0x8}) or int8 rows with one scale
 * each in groups of 16 ({@link Int8Rows}, {@code i8_rowx16}).
 *
 * <p>{@link #pack(QuantizedTensor, Arena)} picks the layout for the kernels that run ({@link KernelProvider#matmul()}):
 * <ul>
 *   <li>grouped symmetric 8- or 4-bit codes in groups of 32 with fp16 scales are the values of Q8_0 or Q4_0 with the
 *       codes re-based ({@code q - 128} as int8, or the nibble {@code q} itself, since Q4_0 also subtracts 8): they
 *       become those blocks, which every implementation multiplies straight from memory;</li>
 *   <li>Q8_0 and Q4_0 rows are interleaved for the native kernels, which have a kernel for that layout; the Java
 *       kernels (Vector API and scalar) have none, would unpack the rows at every call, and keep plain rows;</li>
 *   <li>with activations quantized per token ({@link ActivationFormat#PER_TOKEN_INT8}), symmetric 8-bit codes with
 *       one scale per row and no outliers become {@link Int8RowTensor}, whose kernel sums each row in int32 and
 *       scales once (the fastest integer path, on VNNI); native, Vector API and scalar kernels each have it. Its
 *       sums run over whole rows instead of blocks of 32, so its results are its own reference's, not the plain
 *       rows';</li>
 *   <li>anything else stays plain rows.</li>
 * </ul>
 * Interleaved rows give the plain rows' results. The Q8_0/Q4_0 blocks give the grouped tensor's results bit for bit on
 * the integer path of the scalar and native kernels, and of the Vector API from 5 tokens on (below that its GEMV rows
 * sum blocks in lanes, within the bound that reordering allows); the weight-only path stays within that bound.
 */
public sealed interface PackedWeights permits PackedWeights.Rows, PackedWeights.Interleaved, PackedWeights.Int8Rows {

    /** Output rows. */
    int rows();

    /** Input columns. */
    int cols();

    /** The layout for reports: the format's name for plain rows ({@code q4_0}, ...), else {@code q4_0x8}, ... */
    String layoutName();

    /** Plain rows: a tensor in any format, each row's blocks or groups one after another. */
    record Rows(QuantizedTensor tensor) implements PackedWeights {
        public Rows {
            Objects.requireNonNull(tensor, "tensor");
        }

        @Override
        public int rows() {
            return tensor.rows();
        }

        @Override
        public int cols() {
            return tensor.cols();
        }

        @Override
        public String layoutName() {
            return tensor.format().name();
        }
    }

    /** Q8_0 or Q4_0 rows interleaved in groups of 8 ({@link InterleavedTensor}): the plain rows' results. */
    record Interleaved(InterleavedTensor tensor) implements PackedWeights {
        public Interleaved {
            Objects.requireNonNull(tensor, "tensor");
        }

        @Override
        public int rows() {
            return tensor.rows();
        }

        @Override
        public int cols() {
            return tensor.cols();
        }

        @Override
        public String layoutName() {
            return tensor.layout().layoutName();
        }
    }

    /**
     * Int8 rows with one scale each, in groups of 16 ({@link Int8RowTensor}): the integer path only, with activations
     * quantized per token.
     */
    record Int8Rows(Int8RowTensor tensor) implements PackedWeights {
        public Int8Rows {
            Objects.requireNonNull(tensor, "tensor");
        }

        @Override
        public int rows() {
            return tensor.rows();
        }

        @Override
        public int cols() {
            return tensor.cols();
        }

        @Override
        public String layoutName() {
            return Int8RowTensor.LAYOUT_NAME;
        }
    }

    /** {@code t} as it is: plain rows. */
    static Rows of(QuantizedTensor t) {
        return new Rows(t);
    }

    /** Rows already interleaved. */
    static Interleaved of(InterleavedTensor t) {
        return new Interleaved(t);
    }

    /** Rows already packed as {@code i8_rowx16}. */
    static Int8Rows of(Int8RowTensor t) {
        return new Int8Rows(t);
    }

    /**
     * {@code t} in the fastest layout of the kernels that run ({@link KernelProvider#matmul()}) for any activations:
     * fp32 or int8 of either format (never {@link Int8Rows}, which takes per-token activations only). What is
     * repacked is allocated in {@code arena}; plain rows are {@code t} itself.
     */
    static PackedWeights pack(QuantizedTensor t, Arena arena) {
        return pack(t, null, KernelProvider.matmul(), arena);
    }

    /**
     * {@code t} in the fastest layout of the kernels that run ({@link KernelProvider#matmul()}) for the integer path
     * with {@code activations}.
     */
    static PackedWeights pack(QuantizedTensor t, ActivationFormat activations, Arena arena) {
        Objects.requireNonNull(activations, "activations");
        return pack(t, activations, KernelProvider.matmul(), arena);
    }

    /**
     * {@code t} in the fastest layout of {@code kernels} (the rules of the class comment) for the integer path with
     * {@code activations}, or for any activations when that is null.
     */
    static PackedWeights pack(QuantizedTensor t, ActivationFormat activations, MatmulKernels kernels, Arena arena) {
        Objects.requireNonNull(t, "t");
        Objects.requireNonNull(kernels, "kernels");
        Objects.requireNonNull(arena, "arena");
        if (activations == ActivationFormat.PER_TOKEN_INT8 && WeightPacking.rowScaled(t)
                && WeightPacking.hasInt8RowKernel(kernels)) {
            return new Int8Rows(Int8RowTensor.of(t, arena));
        }
        QuantizedTensor ggml = WeightPacking.asGgml(t, arena);
        QuantizedTensor plain = ggml != null ? ggml : t;
        QuantFormat.Kind kind = plain.format().kind();
        if ((kind == QuantFormat.Kind.Q8_0 || kind == QuantFormat.Kind.Q4_0)
                && WeightPacking.hasInterleavedKernel(kernels)) {
            return new Interleaved(InterleavedTensor.of(plain, arena));
        }
        return new Rows(plain);
    }
}

package dev.lowbit.cli;

import dev.lowbit.algorithms.MethodRegistry;
import dev.lowbit.algorithms.QuantSpec;
import dev.lowbit.algorithms.Quantizer;
import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.ThreadPool;
import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.GgufRecipe;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What {@code lowbit quantize --method} means, the same in every output format: one grid and one set of
 * codes per name, as {@link MethodRegistry} describes it.
 *
 * <ul>
 *   <li>lowbit's methods ({@link MethodRegistry#planes()}) write lowbit's formats. A {@code .gguf} file takes only
 *       {@code rtn-sym} at 4 or 8 bits in groups of 32, whose codes and fp16 scales ggml's Q4_0 and Q8_0
 *       blocks hold exactly: {@code (q - 8)·d} on the narrow grid ±7, and {@code q·d} on ±127. The blocks
 *       decode to the very values of the {@code .safetensors} output.</li>
 *   <li>{@code q4_0}, {@code q4_1} and {@code q8_0} are ggml's own rules (Q4_0's scale from the signed
 *       extreme, codes −8..7; Q4_1's min and step; Q8_0's absmax / 127), written as ggml blocks to either
 *       format.</li>
 *   <li>{@code q5_0}, {@code q5_1}, {@code iq4_nl} and {@code q2_k} ... {@code q6_k} are ggml's rules of those
 *       blocks, which hold whole blocks only: a matrix whose rows their blocks do not tile gets llama.cpp's
 *       fallback ({@link GgufRecipe#fallback}: Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0, Q2_K and Q3_K to IQ4_NL)
 *       or, when no block tiles it, is kept as it was, in either format. {@code q6_k} is also llama.cpp's Q6_K
 *       mixture: its one special rule, the output projection in Q6_K (Q8_0 when its rows are not whole
 *       super-blocks), is the fallback.</li>
 *   <li>{@code q4_k_m} and {@code q5_k_m} are llama.cpp's mixtures ({@link GgufRecipe}): each matrix gets the
 *       format the recipe's plan gives it; a matrix llama.cpp does not quantize (norms, position and token-type
 *       embeddings) is kept. ONNX MatMul weights are linear layers whatever their names, and are quantized.</li>
 * </ul>
 */
final class Methods {
    private Methods() {
    }

    /** Every name {@code quantize --method} takes: lowbit's data-free methods, then ggml's rules. */
    static List<String> names() {
        return MethodRegistry.names(m -> m.kind() != MethodRegistry.Kind.CALIBRATED);
    }

    /**
     * One method at one spec, for one output format.
     *
     * @param label   the method's name
     * @param spec    width, group and scale type; null for the ggml rules that {@link QuantSpec} cannot describe
     *                (widths 5 and 6, super-blocks of 256, mixtures): {@link #bits()} and {@link #group()} say theirs
     * @param ggml    the ggml format the output holds (a mixture's base format), or null for lowbit's own
     * @param repack  whether the method's grouped tensors are repacked into {@code ggml} blocks (rtn-sym to GGUF)
     * @param recipe  the per-matrix rule of the ggml formats that hold whole blocks only (a single format with
     *                llama.cpp's fallbacks, or a mixture), or null when every matrix gets {@code ggml} or the
     *                method's own format
     */
    record Choice(String label, QuantSpec spec, QuantFormat ggml, boolean repack, GgufRecipe recipe) {
        Choice(String label, QuantSpec spec, QuantFormat ggml, boolean repack) {
            this(label, spec, ggml, repack, null);
        }

        Quantizer quantizer(ThreadPool pool) {
            return spec == null ? MethodRegistry.get(label).ggmlQuantizer(pool) : MethodRegistry.get(label).quantizer(spec, pool);
        }

        /** The quantizer of one matrix of format {@code f} (from {@link #plan}), or the method's own when null. */
        Quantizer quantizer(QuantFormat f, ThreadPool pool) {
            return f == null ? quantizer(pool) : new dev.lowbit.algorithms.GgmlRtn(f, pool);
        }

        /** The width: the spec's, else the ggml format's (a mixture's base). */
        int bits() {
            return spec != null ? spec.bits() : ggml.bits();
        }

        /** The group: the spec's, else the elements of a block of the ggml format (256 for the K-quants). */
        int group() {
            return spec != null ? spec.groupSize() : ggml.groupSize();
        }

        /** The tensor as the output holds it. */
        QuantizedTensor container(QuantizedTensor t, Arena arena) {
            return repack ? toGgml(t, ggml, arena) : t;
        }

        /** GGUF's {@code general.file_type} (llama.cpp's {@code llama_ftype}): the type of most tensors. */
        int ggmlFileType() {
            if (recipe != null) {
                return recipe.fileType();
            }
            if (ggml == null) {
                throw new IllegalStateException(label + " writes no ggml blocks");
            }
            if (ggml.kind().ggufFileType() == QuantFormat.NONE) {
                throw new IllegalStateException(ggml + " is not a ggml block format");
            }
            return ggml.kind().ggufFileType();
        }

        /**
         * The format of each matrix of a model under {@link #recipe}, by name, null for one kept as it was: the
         * single format or its fallback; for a mixture, the plan of the recipe over {@code matrices} and the
         * model's 2-D float tensors that {@code --layers} left out (llama.cpp counts them to pick the layers that
         * get more bits).
         *
         * @param onnx whether the matrices are ONNX MatMul weights (quantized whatever their names)
         */
        Map<String, QuantFormat> plan(List<Weights.Matrix> matrices, Map<String, DenseTensor> others, boolean onnx) {
            List<GgufRecipe.Tensor> all = new ArrayList<>();
            for (Weights.Matrix m : matrices) {
                all.add(new GgufRecipe.Tensor(m.name(), new long[]{m.cols(), m.rows()}));
            }
            for (DenseTensor d : others.values()) {
                if (d.rank() == 2 && Weights.quantizable(d)) {
                    all.add(new GgufRecipe.Tensor(d.name(), new long[]{d.shape()[1], d.shape()[0]}));
                }
            }
            Map<String, QuantFormat> planned = recipe.mixture() ? recipe.plan(all) : Map.of();
            Map<String, QuantFormat> out = new LinkedHashMap<>();
            for (int i = 0; i < matrices.size(); i++) {
                Weights.Matrix m = matrices.get(i);
                GgufRecipe.Tensor t = all.get(i);
                QuantFormat f = !recipe.mixture() || onnx && !GgufRecipe.quantizable(t)
                        ? GgufRecipe.fallback(recipe.base(), m.cols()) : planned.get(m.name());
                out.put(m.name(), f);
            }
            return out;
        }

        /** Why {@link #plan} keeps matrix {@code m}: llama.cpp does not quantize it, or no block tiles its rows. */
        Weights.Kept keptWhy(Weights.Matrix m, boolean onnx) {
            boolean named = onnx || !recipe.mixture()
                    || GgufRecipe.quantizable(new GgufRecipe.Tensor(m.name(), new long[]{m.cols(), m.rows()}));
            return named ? Weights.Kept.PARTIAL_BLOCK : Weights.Kept.NOT_IN_RECIPE;
        }
    }

    /**
     * The choice for {@code method}; a {@link UsageException} naming what is wrong for a bad name, width,
     * group or scale type, or for a method whose grid the output format cannot hold.
     *
     * @param bits  the width asked for, or null for the method's default (4; 8 for q8_0)
     * @param group the group asked for, or null for the default (64; 32 for ggml blocks and for .gguf)
     */
    static Choice choose(String method, Integer bits, Integer group, ScaleType scales, boolean gguf) {
        List<String> names = names();
        if (!names.contains(method)) {
            throw new UsageException("--method must be one of " + String.join(", ", names) + ", got '" + method + "'");
        }
        MethodRegistry.Method m = MethodRegistry.get(method);
        if (m.kind() == MethodRegistry.Kind.GGML && (m.mixture() || !m.ggml().kind().plain())) {
            QuantFormat f = m.ggml();
            if (bits != null && !m.takes(bits)) {
                throw new UsageException(m.widthSentence() + ": drop --bits"
                        + (List.of(2, 3, 4, 8).contains(f.bits()) ? " or give --bits " + f.bits() : ""));
            }
            if (group != null && group != f.groupSize()) {
                throw new UsageException(method + " has blocks of " + f.groupSize() + ": drop --group"
                        + (f.groupSize() == QuantFormat.GGML_BLOCK ? " or give --group 32" : ""));
            }
            if (scales != ScaleType.F16) {
                throw new UsageException(method + " stores fp16 scales in its blocks: drop --scales f32");
            }
            GgufRecipe recipe = m.mixture() ? mixture(method) : GgufRecipe.single(f);
            return new Choice(method, null, f, false, recipe);
        }
        if (m.kind() == MethodRegistry.Kind.GGML) {
            QuantFormat f = m.ggml();
            if (bits != null && !m.takes(bits)) {
                throw new UsageException(m.widthSentence() + ": drop --bits or give --bits " + f.bits());
            }
            if (group != null && group != QuantFormat.GGML_BLOCK) {
                throw new UsageException(method + " has blocks of 32: drop --group or give --group 32");
            }
            if (scales != ScaleType.F16) {
                throw new UsageException(method + " stores fp16 scales in its blocks: drop --scales f32");
            }
            return new Choice(method, new QuantSpec(f.bits(), QuantFormat.GGML_BLOCK, ScaleType.F16), f, false);
        }
        int b = bits == null ? 4 : bits;
        if (!m.takes(b)) {
            throw new UsageException(m.widthSentence() + ": use --bits " + MethodRegistry.widthList(m.widths()));
        }
        int g = group == null ? (gguf ? QuantFormat.GGML_BLOCK : 64) : group;
        QuantSpec spec = new QuantSpec(b, g, scales);
        if (!gguf) {
            return new Choice(method, spec, null, false);
        }
        QuantFormat blocks = m.gguf(spec);
        if (blocks != null) {
            return new Choice(method, spec, blocks, m.ggufRepacked());
        }
        throw new UsageException("a .gguf file holds ggml blocks of 32 with fp16 scales, which hold " + method + " "
                + b + "-bit group " + Options.groupName(g) + (scales == ScaleType.F32 ? " with f32 scales" : "")
                + " only approximately or not at all: use --method rtn-sym --bits 4|8 --group 32 (lowbit's symmetric "
                + "grid in Q4_0/Q8_0 blocks), or " + String.join(", ", MethodRegistry.names(k -> k.kind() == MethodRegistry.Kind.GGML))
                + " (ggml's rules), or write a .safetensors file");
    }

    /** llama.cpp's mixture called {@code name}. */
    private static GgufRecipe mixture(String name) {
        for (GgufRecipe r : GgufRecipe.mixtures()) {
            if (r.name().equals(name)) {
                return r;
            }
        }
        throw new IllegalArgumentException("no llama.cpp mixture is called " + name);
    }

    /**
     * Grouped symmetric 4- or 8-bit codes in groups of 32 with fp16 scales, moved into Q4_0 or Q8_0 blocks
     * that decode to the same values: the same fp16 scale bits, a 4-bit code as it is (Q4_0 subtracts 8 as
     * the format subtracts its implicit zero point 8), an 8-bit code less 128 as a signed byte.
     */
    static QuantizedTensor toGgml(QuantizedTensor t, QuantFormat f, Arena arena) {
        QuantFormat g = t.format();
        if (g.kind() != QuantFormat.Kind.GROUPED || !g.symmetric() || g.groupSize() != QuantFormat.GGML_BLOCK
                || g.scaleType() != ScaleType.F16 || g.bits() != f.bits() || t.outliers() != null
                || t.cols() % QuantFormat.GGML_BLOCK != 0) {
            throw new IllegalArgumentException(g + " " + t.rows() + "x" + t.cols() + " has no exact " + f + " form");
        }
        int rows = t.rows();
        int cols = t.cols();
        int blocks = cols / QuantFormat.GGML_BLOCK;
        long srcRow = g.rowBytes(cols);
        long dstRow = f.rowBytes(cols);
        MemorySegment data = arena.allocate(dstRow * rows, 2);
        MemorySegment codes = t.data();
        MemorySegment scales = t.scales();
        for (int r = 0; r < rows; r++) {
            for (int b = 0; b < blocks; b++) {
                long at = r * dstRow + (long) b * f.blockBytes();
                data.set(Layouts.F16, at, scales.getAtIndex(Layouts.F16, (long) r * blocks + b));
                long from = r * srcRow + (long) b * QuantFormat.GGML_BLOCK * g.bits() / 8;
                if (f.bits() == 8) {
                    for (int j = 0; j < 32; j++) {
                        data.set(java.lang.foreign.ValueLayout.JAVA_BYTE, at + 2 + j,
                                (byte) ((codes.get(java.lang.foreign.ValueLayout.JAVA_BYTE, from + j) & 0xFF) - 128));
                    }
                } else {
                    for (int j = 0; j < 16; j++) {
                        int lo = nibble(codes, from, j);
                        int hi = nibble(codes, from, j + 16);
                        data.set(java.lang.foreign.ValueLayout.JAVA_BYTE, at + 2 + j, (byte) (lo | hi << 4));
                    }
                }
            }
        }
        return QuantizedTensor.of(f, rows, cols, data, null, null, null);
    }

    /** Code {@code i} of a row of packed 4-bit codes (element {@code 2j} is the low nibble of byte {@code j}). */
    private static int nibble(MemorySegment codes, long rowStart, int i) {
        int b = codes.get(java.lang.foreign.ValueLayout.JAVA_BYTE, rowStart + i / 2) & 0xFF;
        return (i & 1) == 0 ? b & 0xF : b >>> 4;
    }
}

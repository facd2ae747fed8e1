package dev.lowbit.cli;

import dev.lowbit.algorithms.MethodRegistry;
import dev.lowbit.algorithms.QuantSpec;
import dev.lowbit.algorithms.Quantizer;
import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.ThreadPool;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

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
     * @param spec    width, group and scale type
     * @param ggml    the ggml format the output holds, or null for lowbit's own
     * @param repack  whether the method's grouped tensors are repacked into {@code ggml} blocks (rtn-sym to GGUF)
     */
    record Choice(String label, QuantSpec spec, QuantFormat ggml, boolean repack) {
        Quantizer quantizer(ThreadPool pool) {
            return MethodRegistry.get(label).quantizer(spec, pool);
        }

        /** The tensor as the output holds it. */
        QuantizedTensor container(QuantizedTensor t, Arena arena) {
            return repack ? toGgml(t, ggml, arena) : t;
        }

        /** GGUF's {@code general.file_type} (llama.cpp's {@code llama_ftype}): the type of most tensors. */
        int ggmlFileType() {
            if (ggml == null) {
                throw new IllegalStateException(label + " writes no ggml blocks");
            }
            if (ggml.kind().ggufFileType() == QuantFormat.NONE) {
                throw new IllegalStateException(ggml + " is not a ggml block format");
            }
            return ggml.kind().ggufFileType();
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

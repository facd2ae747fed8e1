package dev.lowbit.cli;

import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.models.BuiltinModels;
import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.GgufFile;
import dev.lowbit.models.GgufTensor;
import dev.lowbit.models.GgufValue;
import dev.lowbit.models.OnnxModel;
import dev.lowbit.models.OnnxReader;
import dev.lowbit.models.Safetensors;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A model's weight matrices as lowbit quantizes them, {@code [out, in]} rows, and everything else the
 * file holds, kept as it is.
 *
 * <ul>
 *   <li>ONNX: the weights that a MatMul or Gemm node takes. ONNX stores a MatMul weight as
 *       {@code [in, out]}; it is transposed, so a row is an output channel (PyTorch's and ggml's layout).</li>
 *   <li>safetensors: every 2-D F32, F16 or BF16 tensor, as stored ({@code [out, in]} in PyTorch files).</li>
 *   <li>GGUF: every 2-D F32 or F16 tensor, {@code ne[1]} rows of {@code ne[0]}; quantized tensors are kept.</li>
 * </ul>
 *
 * @param source    the file, or {@code classpath/all-minilm-l6-v2.onnx} for the built-in model
 * @param type      the file type
 * @param matrices  the matrices to quantize, in file order
 * @param others    the file's other dense tensors, in file order, as stored
 * @param quantized tensors that the file already holds quantized (safetensors and GGUF), kept as they are
 * @param metadata  a safetensors file's metadata (lowbit's own keys left out); else empty
 * @param gguf      a GGUF file's metadata; else empty
 * @param kept      why each tensor of {@code others} and {@code quantized} is kept as it is, by name
 */
record Weights(Path source, ModelFile type, List<Matrix> matrices, Map<String, DenseTensor> others,
               Map<String, QuantizedTensor> quantized, Map<String, String> metadata, Map<String, GgufValue> gguf,
               Map<String, Kept> kept) {

    /** Why a tensor is written as the file holds it, in the order {@code quantize}'s summary lists them. */
    enum Kept {
        NOT_FLOAT("not float"),
        ALREADY_QUANTIZED("already quantized"),
        NOT_2D("not 2-D"),
        NOT_LINEAR("not a MatMul/Gemm weight"),
        NOT_SELECTED("not selected by --layers"),
        NOT_IN_RECIPE("not quantized by llama.cpp's rules"),
        PARTIAL_BLOCK("row not a multiple of the group");

        final String reason;

        Kept(String reason) {
            this.reason = reason;
        }
    }

    /** The longest tensor name a {@code --layers} pattern is matched against (longer names are refused). */
    static final int MAX_NAME_CHARS = 4096;

    /**
     * A weight matrix. Its fp32 values are made from the stored tensor (a view of the memory-mapped file for
     * safetensors and GGUF) when first asked for, and kept until {@link #release()}, so that a command that
     * goes through a large model one matrix at a time holds one matrix in fp32 at a time.
     */
    static final class Matrix {
        private final String name;
        private final int rows;
        private final int cols;
        private final boolean transposed;
        private final DenseTensor stored;
        private float[] values;

        /**
         * @param name       its name in the file
         * @param rows       output channels
         * @param cols       inputs
         * @param transposed whether the file stores it as {@code [cols, rows]} (ONNX MatMul)
         * @param stored     the tensor as the file holds it
         */
        Matrix(String name, int rows, int cols, boolean transposed, DenseTensor stored) {
            this.name = name;
            this.rows = rows;
            this.cols = cols;
            this.transposed = transposed;
            this.stored = stored;
        }

        String name() {
            return name;
        }

        int rows() {
            return rows;
        }

        int cols() {
            return cols;
        }

        boolean transposed() {
            return transposed;
        }

        DenseTensor stored() {
            return stored;
        }

        /**
         * {@code rows x cols}, row-major, in fp32: made once and kept until {@link #release()} (changes to the
         * array, such as clamped values, last until then).
         */
        synchronized float[] values() {
            if (values == null) {
                float[] v = stored.toFloats();
                values = transposed ? transpose(v, cols, rows) : v;
            }
            return values;
        }

        /** Drops the fp32 values; the next {@link #values()} makes them again from the stored tensor. */
        synchronized void release() {
            values = null;
        }

        long elements() {
            return (long) rows * cols;
        }
    }

    long parameters() {
        return matrices.stream().mapToLong(Matrix::elements).sum();
    }

    /** The built-in all-MiniLM-L6-v2, from the jar on the class path. */
    static Weights miniLm(Pattern only) {
        OnnxModel m = BuiltinModels.miniLm();
        return ofOnnx(m, only);
    }

    /**
     * Reads {@code path}; {@code only}, when not null, keeps the matrices whose name it finds (the others go
     * to {@link #others} unquantized). Safetensors and GGUF tensors are views of a mapping in {@code arena}.
     */
    static Weights read(Path path, Pattern only, Arena arena) throws IOException {
        ModelFile type = ModelFile.require(path, "--model", ModelFile.values());
        requireRegularFile(path, "--model");
        return switch (type) {
            case ONNX -> ofOnnx(OnnxReader.read(path), only);
            case SAFETENSORS -> {
                Safetensors.Contents c = Safetensors.read(path, arena);
                if (!c.unsupported().isEmpty()) {
                    Map.Entry<String, String> e = c.unsupported().entrySet().iterator().next();
                    throw new IllegalArgumentException(path + ": tensor '" + e.getKey() + "' has dtype " + e.getValue()
                            + ", which lowbit cannot copy through; nothing was written");
                }
                List<Matrix> ms = new ArrayList<>();
                Map<String, DenseTensor> others = new LinkedHashMap<>();
                Map<String, Kept> kept = new LinkedHashMap<>();
                for (DenseTensor d : c.dense().values()) {
                    classify(d, only, null, ms, others, kept);
                }
                c.quantized().keySet().forEach(k -> kept.put(k, Kept.ALREADY_QUANTIZED));
                yield new Weights(path, type, ms, others, c.quantized(), c.metadata(), Map.of(), kept);
            }
            case GGUF -> {
                GgufFile.Contents c = GgufFile.read(path, arena);
                List<Matrix> ms = new ArrayList<>();
                Map<String, DenseTensor> others = new LinkedHashMap<>();
                Map<String, QuantizedTensor> quantized = new LinkedHashMap<>();
                Map<String, Kept> kept = new LinkedHashMap<>();
                for (GgufTensor g : c.tensors().values()) {
                    if (g.type().format() != null) {
                        quantized.put(g.name(), g.toQuantized());
                        kept.put(g.name(), Kept.ALREADY_QUANTIZED);
                        continue;
                    }
                    classify(g.toDense(), only, null, ms, others, kept);
                }
                yield new Weights(path, type, ms, others, quantized, Map.of(), c.metadata(), kept);
            }
        };
    }

    /** A file that exists and is a regular file (a folder, FIFO or device is named as what it is). */
    static void requireRegularFile(Path path, String option) throws IOException {
        if (!Files.exists(path)) {
            throw new java.nio.file.NoSuchFileException(path.toString());
        }
        if (Files.isDirectory(path)) {
            throw new IllegalArgumentException(option + " " + path + " is a folder, not a model file");
        }
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException(option + " " + path + " is not a regular file (a FIFO, socket or device)");
        }
    }

    private static Weights ofOnnx(OnnxModel m, Pattern only) {
        if (!m.unsupported().isEmpty()) {
            Map.Entry<String, String> e = m.unsupported().entrySet().iterator().next();
            throw new IllegalArgumentException(m.source() + ": initializer '" + e.getKey() + "' has type " + e.getValue()
                    + ", which lowbit cannot copy through; nothing was written");
        }
        Map<String, DenseTensor> linear = m.linearWeights();
        List<Matrix> ms = new ArrayList<>();
        Map<String, DenseTensor> others = new LinkedHashMap<>();
        Map<String, Kept> kept = new LinkedHashMap<>();
        for (DenseTensor d : m.initializers().values()) {
            classify(d, only, linear, ms, others, kept);
        }
        return new Weights(m.source(), ModelFile.ONNX, ms, others, Map.of(), Map.of(), Map.of(), kept);
    }

    /**
     * A dense tensor: a matrix to quantize, or kept with its reason. {@code linear}, for an ONNX file, holds the
     * MatMul/Gemm weights (stored {@code [in, out]}, so transposed); null for safetensors and GGUF, where every
     * 2-D float tensor is a matrix.
     */
    private static void classify(DenseTensor d, Pattern only, Map<String, DenseTensor> linear, List<Matrix> ms,
                                 Map<String, DenseTensor> others, Map<String, Kept> kept) {
        Kept why = !quantizable(d) ? Kept.NOT_FLOAT
                : d.rank() != 2 ? Kept.NOT_2D
                : linear != null && !linear.containsKey(d.name()) ? Kept.NOT_LINEAR
                : !selected(only, d.name()) ? Kept.NOT_SELECTED : null;
        if (why == null) {
            ms.add(matrix(d, linear != null));
        } else {
            others.put(d.name(), d);
            kept.put(d.name(), why);
        }
    }

    /** Whether lowbit quantizes tensors of this element type: the float types F32, F16 and BF16. */
    static boolean quantizable(DenseTensor d) {
        return d.dtype().quantizable();
    }

    /**
     * Whether {@code only} (a {@code --layers} pattern, or null for all) finds {@code name}. A name longer
     * than {@link #MAX_NAME_CHARS} is refused before any pattern sees it: a backtracking pattern on a
     * long name could run for minutes.
     */
    static boolean selected(Pattern only, String name) {
        if (name.length() > MAX_NAME_CHARS) {
            throw new IllegalArgumentException("tensor name '" + name.substring(0, 40) + "...' has " + name.length()
                    + " characters; lowbit takes at most " + MAX_NAME_CHARS);
        }
        return only == null || only.matcher(name).find();
    }

    private static Matrix matrix(DenseTensor d, boolean transpose) {
        long[] s = d.shape();
        if (s[0] > Integer.MAX_VALUE || s[1] > Integer.MAX_VALUE || s[0] * s[1] > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor '" + d.name() + "' " + Units.shape(s) + " is too large to quantize");
        }
        if (!transpose) {
            return new Matrix(d.name(), (int) s[0], (int) s[1], false, d);
        }
        return new Matrix(d.name(), (int) s[1], (int) s[0], true, d);
    }

    /** {@code [rows, cols]} row-major into {@code [cols, rows]}. */
    static float[] transpose(float[] w, int rows, int cols) {
        float[] t = new float[w.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = w[r * cols + c];
            }
        }
        return t;
    }
}

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
 */
record Weights(Path source, ModelFile type, List<Matrix> matrices, Map<String, DenseTensor> others,
               Map<String, QuantizedTensor> quantized, Map<String, String> metadata, Map<String, GgufValue> gguf) {

    /**
     * A weight matrix.
     *
     * @param name       its name in the file
     * @param rows       output channels
     * @param cols       inputs
     * @param values     {@code rows x cols}, row-major
     * @param transposed whether the file stores it as {@code [cols, rows]} (ONNX MatMul)
     * @param stored     the tensor as the file holds it
     */
    record Matrix(String name, int rows, int cols, float[] values, boolean transposed, DenseTensor stored) {
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
        if (!Files.isRegularFile(path)) {
            throw new java.nio.file.NoSuchFileException(path.toString());
        }
        return switch (type) {
            case ONNX -> ofOnnx(OnnxReader.read(path), only);
            case SAFETENSORS -> {
                Safetensors.Contents c = Safetensors.read(path, arena);
                List<Matrix> ms = new ArrayList<>();
                Map<String, DenseTensor> others = new LinkedHashMap<>();
                for (DenseTensor d : c.dense().values()) {
                    if (d.rank() == 2 && selected(only, d.name())) {
                        ms.add(matrix(d, false));
                    } else {
                        others.put(d.name(), d);
                    }
                }
                yield new Weights(path, type, ms, others, c.quantized(), c.metadata(), Map.of());
            }
            case GGUF -> {
                GgufFile.Contents c = GgufFile.read(path, arena);
                List<Matrix> ms = new ArrayList<>();
                Map<String, DenseTensor> others = new LinkedHashMap<>();
                Map<String, QuantizedTensor> quantized = new LinkedHashMap<>();
                for (GgufTensor g : c.tensors().values()) {
                    if (g.type().format() != null) {
                        quantized.put(g.name(), g.toQuantized());
                        continue;
                    }
                    DenseTensor d = g.toDense();
                    if (d.rank() == 2 && selected(only, d.name())) {
                        ms.add(matrix(d, false));
                    } else {
                        others.put(d.name(), d);
                    }
                }
                yield new Weights(path, type, ms, others, quantized, Map.of(), c.metadata());
            }
        };
    }

    private static Weights ofOnnx(OnnxModel m, Pattern only) {
        Map<String, DenseTensor> linear = m.linearWeights();
        List<Matrix> ms = new ArrayList<>();
        Map<String, DenseTensor> others = new LinkedHashMap<>();
        for (DenseTensor d : m.initializers().values()) {
            if (linear.containsKey(d.name()) && selected(only, d.name())) {
                ms.add(matrix(d, true));
            } else {
                others.put(d.name(), d);
            }
        }
        return new Weights(m.source(), ModelFile.ONNX, ms, others, Map.of(), Map.of(), Map.of());
    }

    private static boolean selected(Pattern only, String name) {
        return only == null || only.matcher(name).find();
    }

    private static Matrix matrix(DenseTensor d, boolean transpose) {
        long[] s = d.shape();
        if (s[0] > Integer.MAX_VALUE || s[1] > Integer.MAX_VALUE || s[0] * s[1] > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor '" + d.name() + "' " + Units.shape(s) + " is too large to quantize");
        }
        float[] v = d.toFloats();
        if (!transpose) {
            return new Matrix(d.name(), (int) s[0], (int) s[1], v, false, d);
        }
        int in = (int) s[0];
        int out = (int) s[1];
        return new Matrix(d.name(), out, in, transpose(v, in, out), true, d);
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

package dev.lowbit.models;

import java.nio.file.Path;
import java.util.Map;

/**
 * The initializers of an ONNX model's main graph, as {@link OnnxReader} reads them.
 *
 * @param source       where the model came from, for messages
 * @param initializers the FLOAT, FLOAT16 and BFLOAT16 initializers, in file order
 * @param unsupported  the other initializers, name to ONNX type (for example {@code INT64 (7)}), in file order
 * @param consumers    for each of {@code initializers}, the op types of the main graph's nodes that take it
 *                     as an input (empty when none does)
 * @param nodes        the main graph's nodes in file order (which ONNX requires to be topological), without
 *                     their attributes
 */
public record OnnxModel(Path source, Map<String, DenseTensor> initializers, Map<String, String> unsupported,
                        Map<String, java.util.Set<String>> consumers, java.util.List<Node> nodes) {

    /** A node of the graph: its op type and the names of the values it takes and makes ("" for an omitted input). */
    public record Node(String opType, java.util.List<String> inputs, java.util.List<String> outputs) {
        public Node {
            inputs = java.util.List.copyOf(inputs);
            outputs = java.util.List.copyOf(outputs);
        }
    }

    public OnnxModel {
        nodes = java.util.List.copyOf(nodes);
        initializers = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(initializers));
        unsupported = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(unsupported));
        consumers = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(consumers));
    }

    /**
     * The initializer called {@code name}.
     *
     * @throws IllegalArgumentException if there is none, or it has a type lowbit does not read
     */
    public DenseTensor initializer(String name) {
        DenseTensor t = initializers.get(name);
        if (t != null) {
            return t;
        }
        String type = unsupported.get(name);
        if (type != null) {
            throw new IllegalArgumentException("initializer '" + name + "' of " + source + " has data type " + type
                    + ", unsupported: lowbit reads FLOAT, FLOAT16, BFLOAT16, integer, BOOL and DOUBLE initializers");
        }
        throw new IllegalArgumentException(source + " has no initializer '" + name + "'");
    }

    /** The 2-D float initializers, in file order: weight matrices and embedding tables. */
    public Map<String, DenseTensor> matrices() {
        return select(false);
    }

    /**
     * The weight matrices of linear layers: 2-D initializers that a MatMul or Gemm node takes, in file
     * order. ONNX stores a MatMul weight as {@code [in, out]}, the transpose of PyTorch's {@code [out, in]}.
     */
    public Map<String, DenseTensor> linearWeights() {
        return select(true);
    }

    private Map<String, DenseTensor> select(boolean linearOnly) {
        Map<String, DenseTensor> out = new java.util.LinkedHashMap<>();
        initializers.forEach((k, v) -> {
            java.util.Set<String> ops = consumers.getOrDefault(k, java.util.Set.of());
            if (v.rank() == 2 && v.dtype().quantizable() && (!linearOnly || ops.contains("MatMul") || ops.contains("Gemm"))) {
                out.put(k, v);
            }
        });
        return java.util.Collections.unmodifiableMap(out);
    }
}

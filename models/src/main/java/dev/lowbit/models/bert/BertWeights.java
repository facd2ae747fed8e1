package dev.lowbit.models.bert;

import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.OnnxModel;

import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The fp32 weights of a BERT encoder (Hugging Face {@code BertModel} as exported to ONNX), with linear weights
 * kept as ONNX stores them, {@code [in, out]}.
 *
 * <p>The exporter renames linear weights ({@code onnx::MatMul_787}, ...), so each is found through the graph:
 * the MatMul node that takes it feeds an Add node whose other input is the layer's bias, which keeps its
 * Hugging Face name ({@code encoder.layer.0.attention.self.query.bias}). Embeddings and LayerNorm parameters keep
 * their names.
 *
 * @param hidden the model width (384 for MiniLM-L6)
 * @param heads  attention heads (12)
 * @param ffn    the feed-forward width (1536)
 * @param eps    LayerNorm's epsilon (1e-12)
 */
public record BertWeights(int hidden, int heads, int ffn, float eps, float[] wordEmbeddings, int vocab,
                          float[] positionEmbeddings, int maxPositions, float[] tokenTypeEmbeddings,
                          float[] embeddingNormWeight, float[] embeddingNormBias, Layer[] layers) {

    /** A linear layer: {@code y = x W + b} with {@code weight} row-major {@code [in, out]}. */
    public record Dense(String name, int in, int out, float[] weight, float[] bias) {
        public Dense {
            if (weight.length != (long) in * out || bias.length != out) {
                throw new IllegalArgumentException(name + ": weight or bias does not match [" + in + ", " + out + "]");
            }
        }
    }

    /** One encoder layer. */
    public record Layer(Dense query, Dense key, Dense value, Dense attentionOutput, float[] attentionNormWeight,
                        float[] attentionNormBias, Dense intermediate, Dense output, float[] outputNormWeight,
                        float[] outputNormBias) {
    }

    private static final Pattern BIAS = Pattern.compile(
            "encoder\\.layer\\.(\\d+)\\.(attention\\.self\\.query|attention\\.self\\.key|attention\\.self\\.value"
                    + "|attention\\.output\\.dense|intermediate\\.dense|output\\.dense)\\.bias");

    /**
     * Reads a BERT encoder from an ONNX model with Hugging Face names.
     *
     * @param heads the number of attention heads, which the weights do not show (12 for MiniLM-L6)
     * @throws IllegalArgumentException if a weight is missing or has the wrong shape
     */
    public static BertWeights fromOnnx(OnnxModel model, int heads) {
        Map<String, String> biasOfOutput = new HashMap<>();
        Map<String, OnnxModel.Node> matmulOf = new HashMap<>();
        for (OnnxModel.Node n : model.nodes()) {
            if (n.opType().equals("Add") && n.inputs().size() == 2) {
                for (int i = 0; i < 2; i++) {
                    if (BIAS.matcher(n.inputs().get(i)).matches()) {
                        biasOfOutput.put(n.inputs().get(1 - i), n.inputs().get(i));
                    }
                }
            } else if (n.opType().equals("MatMul") && n.inputs().size() == 2 && !n.outputs().isEmpty()
                    && model.initializers().containsKey(n.inputs().get(1))) {
                matmulOf.put(n.outputs().get(0), n);
            }
        }
        Map<String, Dense> dense = new HashMap<>();
        int layerCount = 0;
        for (Map.Entry<String, OnnxModel.Node> e : matmulOf.entrySet()) {
            String bias = biasOfOutput.get(e.getKey());
            if (bias == null) {
                continue;
            }
            Matcher m = BIAS.matcher(bias);
            if (!m.matches()) {
                continue;
            }
            layerCount = Math.max(layerCount, Integer.parseInt(m.group(1)) + 1);
            DenseTensor w = model.initializer(e.getValue().inputs().get(1));
            long[] shape = w.shape();
            if (shape.length != 2) {
                throw new IllegalArgumentException(w.name() + " feeds " + bias + " but is not 2-D");
            }
            String name = bias.substring(0, bias.length() - ".bias".length());
            dense.put(name, new Dense(name, (int) shape[0], (int) shape[1], w.toFloats(), floats(model, bias)));
        }
        if (layerCount == 0) {
            throw new IllegalArgumentException(model.source() + " has no BERT encoder layer (no MatMul feeding "
                    + "encoder.layer.N.*.bias)");
        }
        float[] word = floats(model, "embeddings.word_embeddings.weight");
        float[] pos = floats(model, "embeddings.position_embeddings.weight");
        float[] type = floats(model, "embeddings.token_type_embeddings.weight");
        float[] lnW = floats(model, "embeddings.LayerNorm.weight");
        int hidden = lnW.length;
        Layer[] layers = new Layer[layerCount];
        for (int l = 0; l < layerCount; l++) {
            String p = "encoder.layer." + l + ".";
            layers[l] = new Layer(need(dense, p + "attention.self.query"), need(dense, p + "attention.self.key"),
                    need(dense, p + "attention.self.value"), need(dense, p + "attention.output.dense"),
                    floats(model, p + "attention.output.LayerNorm.weight"),
                    floats(model, p + "attention.output.LayerNorm.bias"), need(dense, p + "intermediate.dense"),
                    need(dense, p + "output.dense"), floats(model, p + "output.LayerNorm.weight"),
                    floats(model, p + "output.LayerNorm.bias"));
        }
        int ffn = layers[0].intermediate().out();
        if (hidden % heads != 0) {
            throw new IllegalArgumentException("hidden size " + hidden + " is not a multiple of " + heads + " heads");
        }
        for (Layer l : layers) {
            check(l.query(), hidden, hidden);
            check(l.key(), hidden, hidden);
            check(l.value(), hidden, hidden);
            check(l.attentionOutput(), hidden, hidden);
            check(l.intermediate(), hidden, ffn);
            check(l.output(), ffn, hidden);
        }
        if (word.length % hidden != 0 || pos.length % hidden != 0 || type.length % hidden != 0) {
            throw new IllegalArgumentException("an embedding table is not a multiple of the hidden size " + hidden);
        }
        // HF BertConfig's layer_norm_eps; the ONNX graph holds it as a Constant (9.99999996e-13 in MiniLM).
        return new BertWeights(hidden, heads, ffn, 1e-12f, word, word.length / hidden, pos, pos.length / hidden, type,
                lnW, floats(model, "embeddings.LayerNorm.bias"), layers);
    }

    private static void check(Dense d, int in, int out) {
        if (d.in() != in || d.out() != out) {
            throw new IllegalArgumentException(d.name() + " is [" + d.in() + ", " + d.out() + "], expected [" + in + ", "
                    + out + "]");
        }
    }

    private static Dense need(Map<String, Dense> dense, String name) {
        Dense d = dense.get(name);
        if (d == null) {
            throw new IllegalArgumentException("no MatMul weight feeds " + name + ".bias");
        }
        return d;
    }

    private static float[] floats(OnnxModel model, String name) {
        return model.initializer(name).toFloats();
    }

    public int headDim() {
        return hidden / heads;
    }
}

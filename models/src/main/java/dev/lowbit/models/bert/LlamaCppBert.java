package dev.lowbit.models.bert;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.io.Json;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.models.GgmlType;
import dev.lowbit.models.GgufFile;
import dev.lowbit.models.GgufRecipe;
import dev.lowbit.models.GgufTensor;
import dev.lowbit.models.GgufValue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.text.ParseException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * A BERT encoder as the GGUF file that llama.cpp's {@code bert} architecture loads: its tensor names and
 * orientation, its hyper-parameters and its WordPiece vocabulary, as llama.cpp's {@code convert_hf_to_gguf.py} writes
 * them for a Hugging Face {@code BertModel}, in F32 or quantized by a {@link GgufRecipe}.
 *
 * <p>Tensors ({@code ne[0]}, the row length, first; every linear weight has its input width as {@code ne[0]}, so an
 * ONNX {@code [in, out]} weight is transposed into rows of {@code in}):
 * <ul>
 *   <li>{@code token_embd.weight} {@code [hidden, vocab]}, {@code position_embd.weight} {@code [hidden, positions]},
 *       {@code token_types.weight} {@code [hidden, types]}, {@code token_embd_norm.weight/bias} {@code [hidden]};</li>
 *   <li>per layer {@code N}: {@code blk.N.attn_q}, {@code attn_k}, {@code attn_v}, {@code attn_output}
 *       ({@code [hidden, hidden]}), {@code ffn_up} ({@code [hidden, ffn]}), {@code ffn_down} ({@code [ffn, hidden]}),
 *       each {@code .weight} and {@code .bias}, and the LayerNorms {@code attn_output_norm} and
 *       {@code layer_output_norm} ({@code .weight}, {@code .bias}).</li>
 * </ul>
 * Metadata: {@code general.architecture} {@code bert}, {@code bert.context_length}, {@code bert.embedding_length},
 * {@code bert.feed_forward_length}, {@code bert.block_count}, {@code bert.attention.head_count},
 * {@code bert.attention.layer_norm_epsilon}, {@code bert.attention.causal} (false), {@code bert.pooling_type} (1, mean,
 * as sentence-transformers pools all-MiniLM-L6-v2), and the tokenizer: {@code tokenizer.ggml.model} {@code bert}
 * (llama.cpp's WordPiece), {@code tokenizer.ggml.pre} {@code bert-bge}, the tokens in llama.cpp's spelling (a
 * continuation {@code ##ing} as {@code ing}, a word-initial piece {@code the} as {@code ▁the} with U+2581, the special
 * tokens {@code [CLS]}, ... as they are), their types (3, control, for the tokenizer's special tokens; 1, normal,
 * for the rest), {@code tokenizer.ggml.token_type_count}, the normalizer's lowercasing and accent stripping, and the
 * ids of {@code [CLS]} (as bos and cls), {@code [SEP]} (as eos and separator), {@code [UNK]}, {@code [PAD]} and
 * {@code [MASK]}.
 *
 * <p>Quantized files follow llama.cpp's {@code llama-quantize}: a recipe picks each tensor's format by its
 * llama.cpp name ({@link GgufRecipe#plan}); 1-D tensors and the position and token-type embeddings stay F32; a
 * matrix that no block of the recipe tiles is F16. The blocks are lowbit's ({@link QuantOps}), which are the bytes
 * ggml's own quantizer writes.
 */
public final class LlamaCppBert {
    private LlamaCppBert() {
    }

    /** llama.cpp's {@code LLAMA_POOLING_TYPE_MEAN}. */
    public static final int POOLING_MEAN = 1;
    /** llama.cpp's {@code LLAMA_TOKEN_TYPE_NORMAL} and {@code LLAMA_TOKEN_TYPE_CONTROL}. */
    public static final int TOKEN_NORMAL = 1;
    public static final int TOKEN_CONTROL = 3;
    /** The word-initial mark of llama.cpp's WordPiece vocabulary (U+2581). */
    public static final String WORD_START = "\u2581";

    /** A GGUF file's contents: metadata in file order and tensors in file order. */
    public record Gguf(Map<String, GgufValue> metadata, List<GgufTensor> tensors) {
        public Gguf {
            metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
            tensors = List.copyOf(tensors);
        }

        /** {@link GgufFile#write} of these. */
        public void write(Path path) throws IOException {
            GgufFile.write(path, metadata, tensors);
        }
    }

    /**
     * The model as llama.cpp's F32 GGUF ({@code general.file_type} 0): every tensor in fp32.
     *
     * @param name          {@code general.name}, e.g. {@code all-MiniLM-L6-v2}
     * @param tokenizerJson the model's Hugging Face {@code tokenizer.json} (a BERT WordPiece tokenizer)
     * @throws IllegalArgumentException if the tokenizer is not BERT WordPiece or does not match the embeddings
     */
    public static Gguf f32(BertWeights weights, String tokenizerJson, String name) {
        return build(weights, tokenizerJson, name, null, null, null);
    }

    /**
     * The model as llama.cpp's GGUF of {@code recipe} (e.g. {@link GgufRecipe#Q4_K_M}, or
     * {@code GgufRecipe.single(QuantFormat.Q8_0)}), quantized with {@code ops} into memory of {@code arena}, which
     * must outlive the returned tensors.
     *
     * @throws IllegalArgumentException if the tokenizer is not BERT WordPiece or does not match the embeddings, or a
     *                                  weight cannot be quantized (the message says which and why)
     */
    public static Gguf quantized(BertWeights weights, String tokenizerJson, String name, GgufRecipe recipe, QuantOps ops,
                                 Arena arena) {
        return build(weights, tokenizerJson, name, Objects.requireNonNull(recipe, "recipe"),
                Objects.requireNonNull(ops, "ops"), Objects.requireNonNull(arena, "arena"));
    }

    /** {@link #quantized} with one ggml block format (llama.cpp's fallbacks where its blocks do not tile a row). */
    public static Gguf quantized(BertWeights weights, String tokenizerJson, String name, QuantFormat format,
                                 QuantOps ops, Arena arena) {
        return quantized(weights, tokenizerJson, name, GgufRecipe.single(format), ops, arena);
    }

    private static Gguf build(BertWeights w, String tokenizerJson, String name, GgufRecipe recipe, QuantOps ops,
                              Arena arena) {
        Map<String, GgufValue> meta = metadata(w, tokenizerJson, name, recipe == null ? 0 : recipe.fileType());
        List<Named> named = tensors(w);
        List<GgufTensor> out = new ArrayList<>();
        if (recipe == null) {
            for (Named t : named) {
                out.add(f32(t));
            }
            return new Gguf(meta, out);
        }
        List<GgufRecipe.Tensor> shapes = new ArrayList<>();
        for (Named t : named) {
            shapes.add(new GgufRecipe.Tensor(t.name, t.dims));
        }
        Map<String, QuantFormat> plan = recipe.plan(shapes);
        for (Named t : named) {
            QuantFormat f = plan.get(t.name);
            if (f != null) {
                int cols = (int) t.dims[0];
                int rows = (int) t.dims[1];
                QuantizedTensor q = ops.quantize(f, t.values, rows, cols, arena);
                out.add(GgufTensor.of(t.name, q));
            } else if (GgufRecipe.quantizable(new GgufRecipe.Tensor(t.name, t.dims))) {
                out.add(f16(t));
            } else {
                out.add(f32(t));
            }
        }
        return new Gguf(meta, out);
    }

    /** A tensor before it is stored: llama.cpp's name, dims ({@code ne[0]} first) and row-major values. */
    private record Named(String name, long[] dims, float[] values) {
    }

    /** The tensors in llama.cpp's names and orientation, in the order llama.cpp's converter writes them. */
    private static List<Named> tensors(BertWeights w) {
        int h = w.hidden();
        List<Named> out = new ArrayList<>();
        out.add(new Named("token_embd.weight", new long[]{h, w.vocab()}, w.wordEmbeddings()));
        out.add(new Named("position_embd.weight", new long[]{h, w.maxPositions()}, w.positionEmbeddings()));
        out.add(new Named("token_types.weight", new long[]{h, w.tokenTypeEmbeddings().length / h},
                w.tokenTypeEmbeddings()));
        out.add(new Named("token_embd_norm.weight", new long[]{h}, w.embeddingNormWeight()));
        out.add(new Named("token_embd_norm.bias", new long[]{h}, w.embeddingNormBias()));
        BertWeights.Layer[] layers = w.layers();
        for (int l = 0; l < layers.length; l++) {
            BertWeights.Layer layer = layers[l];
            String p = "blk." + l + ".";
            dense(out, p + "attn_q", layer.query());
            dense(out, p + "attn_k", layer.key());
            dense(out, p + "attn_v", layer.value());
            dense(out, p + "attn_output", layer.attentionOutput());
            out.add(new Named(p + "attn_output_norm.weight", new long[]{h}, layer.attentionNormWeight()));
            out.add(new Named(p + "attn_output_norm.bias", new long[]{h}, layer.attentionNormBias()));
            dense(out, p + "ffn_up", layer.intermediate());
            dense(out, p + "ffn_down", layer.output());
            out.add(new Named(p + "layer_output_norm.weight", new long[]{h}, layer.outputNormWeight()));
            out.add(new Named(p + "layer_output_norm.bias", new long[]{h}, layer.outputNormBias()));
        }
        return out;
    }

    /** A linear layer: its {@code [in, out]} weight transposed into {@code out} rows of {@code in}, and its bias. */
    private static void dense(List<Named> out, String name, BertWeights.Dense d) {
        int in = d.in();
        int n = d.out();
        float[] src = d.weight();
        float[] t = new float[src.length];
        for (int r = 0; r < in; r++) {
            for (int c = 0; c < n; c++) {
                t[c * in + r] = src[r * n + c];
            }
        }
        out.add(new Named(name + ".weight", new long[]{in, n}, t));
        out.add(new Named(name + ".bias", new long[]{n}, d.bias()));
    }

    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static GgufTensor f32(Named t) {
        MemorySegment s = MemorySegment.ofArray(new byte[t.values.length * 4]);
        for (int i = 0; i < t.values.length; i++) {
            s.setAtIndex(F32_LE, i, t.values[i]);
        }
        return new GgufTensor(t.name, GgmlType.F32, t.dims, s);
    }

    private static GgufTensor f16(Named t) {
        MemorySegment s = MemorySegment.ofArray(new byte[t.values.length * 2]);
        for (int i = 0; i < t.values.length; i++) {
            s.setAtIndex(I16_LE, i, Float.floatToFloat16(t.values[i]));
        }
        return new GgufTensor(t.name, GgmlType.F16, t.dims, s);
    }

    /**
     * The metadata llama.cpp's {@code bert} loader and WordPiece vocabulary read, in the order llama.cpp's converter
     * writes it.
     *
     * @param fileType llama.cpp's {@code llama_ftype} ({@code general.file_type}): 0 for F32, {@link
     *                 GgufRecipe#fileType()} for a recipe
     */
    public static Map<String, GgufValue> metadata(BertWeights w, String tokenizerJson, String name, int fileType) {
        Vocabulary v = vocabulary(tokenizerJson);
        if (v.tokens.size() != w.vocab()) {
            throw new IllegalArgumentException("the tokenizer has " + v.tokens.size() + " tokens, the word embeddings "
                    + w.vocab() + " rows");
        }
        int types = w.tokenTypeEmbeddings().length / w.hidden();
        Map<String, GgufValue> m = new LinkedHashMap<>();
        m.put("general.architecture", GgufValue.string("bert"));
        m.put("general.type", GgufValue.string("model"));
        m.put("general.name", GgufValue.string(name));
        m.put("bert.block_count", GgufValue.uint32(w.layers().length));
        m.put("bert.context_length", GgufValue.uint32(w.maxPositions()));
        m.put("bert.embedding_length", GgufValue.uint32(w.hidden()));
        m.put("bert.feed_forward_length", GgufValue.uint32(w.ffn()));
        m.put("bert.attention.head_count", GgufValue.uint32(w.heads()));
        m.put("bert.attention.layer_norm_epsilon", GgufValue.float32(w.eps()));
        m.put("general.file_type", GgufValue.uint32(fileType));
        m.put("bert.attention.causal", GgufValue.bool(false));
        m.put("bert.pooling_type", GgufValue.uint32(POOLING_MEAN));
        m.put("tokenizer.ggml.token_type_count", GgufValue.uint32(types));
        m.put("tokenizer.ggml.model", GgufValue.string("bert"));
        m.put("tokenizer.ggml.pre", GgufValue.string("bert-bge"));
        m.put("tokenizer.ggml.tokens", GgufValue.array(GgufValue.Type.STRING, v.tokens));
        m.put("tokenizer.ggml.token_type", GgufValue.array(GgufValue.Type.INT32, v.types));
        m.put("tokenizer.ggml.normalizer.lowercase", GgufValue.bool(v.lowercase));
        m.put("tokenizer.ggml.normalizer.strip_accents", GgufValue.bool(v.stripAccents));
        m.put("tokenizer.ggml.bos_token_id", GgufValue.uint32(v.id("[CLS]")));
        m.put("tokenizer.ggml.eos_token_id", GgufValue.uint32(v.id("[SEP]")));
        m.put("tokenizer.ggml.unknown_token_id", GgufValue.uint32(v.id("[UNK]")));
        m.put("tokenizer.ggml.seperator_token_id", GgufValue.uint32(v.id("[SEP]")));
        m.put("tokenizer.ggml.padding_token_id", GgufValue.uint32(v.id("[PAD]")));
        m.put("tokenizer.ggml.cls_token_id", GgufValue.uint32(v.id("[CLS]")));
        m.put("tokenizer.ggml.mask_token_id", GgufValue.uint32(v.id("[MASK]")));
        m.put("tokenizer.ggml.add_bos_token", GgufValue.bool(true));
        m.put("tokenizer.ggml.add_eos_token", GgufValue.bool(false));
        m.put("tokenizer.ggml.add_sep_token", GgufValue.bool(true));
        return m;
    }

    /** A vocabulary in llama.cpp's spelling, with its token types and normalizer switches. */
    private record Vocabulary(List<String> tokens, List<Integer> types, Map<String, Integer> special,
                              boolean lowercase, boolean stripAccents) {
        int id(String token) {
            Integer id = special.get(token);
            if (id == null) {
                throw new IllegalArgumentException("the tokenizer has no special token " + token);
            }
            return id;
        }
    }

    /**
     * The tokens of a BERT {@code tokenizer.json} in llama.cpp's spelling: its special tokens ({@code added_tokens}
     * marked {@code special}) as they are, {@code ##x} as {@code x}, any other {@code x} as {@code ▁x}.
     */
    @SuppressWarnings("unchecked")
    private static Vocabulary vocabulary(String tokenizerJson) {
        WordPieceTokenizer tok = WordPieceTokenizer.fromJson(tokenizerJson);
        Map<String, Object> root;
        try {
            root = (Map<String, Object>) Json.parseDocument(tokenizerJson);
        } catch (ParseException e) {
            throw new IllegalArgumentException("tokenizer.json is not valid JSON: " + e.getMessage(), e);
        }
        Map<String, Integer> special = new LinkedHashMap<>();
        if (root.get("added_tokens") instanceof List<?> added) {
            for (Object o : added) {
                if (o instanceof Map<?, ?> a && Boolean.TRUE.equals(a.get("special")) && a.get("content") instanceof String s
                        && a.get("id") instanceof Number id) {
                    special.put(s, id.intValue());
                }
            }
        }
        Set<Integer> specialIds = new HashSet<>(special.values());
        List<String> tokens = new ArrayList<>(tok.vocabSize());
        List<Integer> types = new ArrayList<>(tok.vocabSize());
        for (int id = 0; id < tok.vocabSize(); id++) {
            String t = tok.token(id);
            if (t == null) {
                throw new IllegalArgumentException("the tokenizer's vocabulary has no token " + id);
            }
            if (specialIds.contains(id)) {
                tokens.add(t);
                types.add(TOKEN_CONTROL);
            } else {
                tokens.add(t.startsWith("##") ? t.substring(2) : WORD_START + t);
                types.add(TOKEN_NORMAL);
            }
        }
        Map<String, Object> norm = root.get("normalizer") instanceof Map<?, ?> n ? (Map<String, Object>) n : Map.of();
        boolean lower = !(norm.get("lowercase") instanceof Boolean b) || b;
        boolean strip = norm.get("strip_accents") instanceof Boolean b ? b : lower;
        return new Vocabulary(tokens, types, special, lower, strip);
    }
}

package dev.lowbit.models;

import dev.lowbit.format.QuantFormat;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * llama.cpp's quantization mixtures ({@code llama_ftype}) Q4_K_M, Q5_K_M and Q6_K, and the single-type files of the
 * ggml block formats: which format each tensor of a model gets, by the rules of llama.cpp's
 * {@code llama_tensor_get_type} for a model without experts and without an importance matrix:
 * <ul>
 *   <li>Only matrices are quantized (2 or more dimensions) whose names end in {@code weight}, except norms and
 *       BERT's position and token-type embeddings.</li>
 *   <li>Each quantized tensor gets the mixture's base type (Q4_K, Q5_K or Q6_K), except:
 *       the output projection ({@code output.weight}, {@code lm_head.weight}) and, when the model has none (tied
 *       embeddings), the token embeddings, get Q6_K, or Q8_0 when their rows are not whole super-blocks;
 *       in Q4_K_M and Q5_K_M, the attention value projections ({@code attn_v}, {@code attn_qkv}) and the FFN down
 *       projections ({@code ffn_down}) of the layers {@link #moreBits} picks get Q6_K.</li>
 *   <li>A type whose blocks do not tile the rows falls back: Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0, Q2_K and
 *       Q3_K to IQ4_NL; when even that does not tile them, the tensor stays F16.</li>
 * </ul>
 * Tensor names are recognised in llama.cpp's GGUF spelling ({@code blk.3.attn_v.weight}) and in the Hugging Face
 * spellings of LLaMA-like models ({@code model.layers.3.self_attn.v_proj.weight}, {@code mlp.down_proj},
 * {@code lm_head}, {@code embed_tokens}) and of BERT ({@code encoder.layer.3.attention.self.value.weight},
 * {@code output.dense}, {@code embeddings.word_embeddings}).
 */
public final class GgufRecipe {

    /** The role of a tensor in llama.cpp's rules. */
    public enum Category {
        TOKEN_EMBD, ATTENTION_Q, ATTENTION_K, ATTENTION_V, ATTENTION_QKV, ATTENTION_OUTPUT, FFN_UP, FFN_GATE,
        FFN_DOWN, OUTPUT, OTHER
    }

    /** A tensor as the recipe sees it: its name and shape, {@code dims[0]} the row length (GGUF's {@code ne[0]}). */
    public record Tensor(String name, long[] dims) {
        public Tensor {
            Objects.requireNonNull(name, "name");
            dims = dims.clone();
        }
    }

    private final String name;
    private final QuantFormat base;
    private final int fileType;
    private final boolean mixture;

    private GgufRecipe(String name, QuantFormat base, int fileType, boolean mixture) {
        this.name = name;
        this.base = base;
        this.fileType = fileType;
        this.mixture = mixture;
    }

    /** llama.cpp's Q4_K_M: Q4_K, with Q6_K for the output, and for half the value and FFN-down projections. */
    public static final GgufRecipe Q4_K_M = new GgufRecipe("q4_k_m", QuantFormat.Q4_K, 15, true);
    /** llama.cpp's Q5_K_M: Q5_K, with Q6_K where Q4_K_M has it. */
    public static final GgufRecipe Q5_K_M = new GgufRecipe("q5_k_m", QuantFormat.Q5_K, 17, true);
    /** llama.cpp's Q6_K: Q6_K everywhere (Q8_0 where the rows are not whole super-blocks). */
    public static final GgufRecipe Q6_K = new GgufRecipe("q6_k", QuantFormat.Q6_K, 18, true);

    /** The mixtures, by name. */
    public static List<GgufRecipe> mixtures() {
        return List.of(Q4_K_M, Q5_K_M, Q6_K);
    }

    /**
     * One ggml block format for every quantized tensor, with llama.cpp's fallback where its blocks do not tile the
     * rows (its {@code --pure}).
     */
    public static GgufRecipe single(QuantFormat f) {
        if (!f.isGgml() || f.kind() == QuantFormat.Kind.Q8_K) {
            throw new IllegalArgumentException(f + " is not a ggml block format of weights");
        }
        return new GgufRecipe(f.name(), f, f.kind().ggufFileType(), false);
    }

    /** The recipe's name: {@code q4_k_m}, or the single format's ({@code q4_k}). */
    public String name() {
        return name;
    }

    /** The base type of the mixture, or the single format. */
    public QuantFormat base() {
        return base;
    }

    /** llama.cpp's {@code llama_ftype} of the file: GGUF's {@code general.file_type}. */
    public int fileType() {
        return fileType;
    }

    /** Whether the recipe is one of llama.cpp's mixtures (per-tensor rules), not a single format. */
    public boolean mixture() {
        return mixture;
    }

    @Override
    public String toString() {
        return name;
    }

    private static final Pattern LAYER = Pattern.compile("(?:^|\\.)(?:blk|layers|layer|h)\\.(\\d+)\\.");

    /** The role of tensor {@code name} in llama.cpp's rules. */
    public static Category category(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        if (n.equals("output.weight") || n.equals("lm_head.weight")) {
            return Category.OUTPUT;
        }
        if (n.equals("token_embd.weight") || n.endsWith("embed_tokens.weight") || n.endsWith("word_embeddings.weight")) {
            return Category.TOKEN_EMBD;
        }
        if (n.contains("attn_qkv.weight") || n.contains("query_key_value.weight")) {
            return Category.ATTENTION_QKV;
        }
        if (n.contains("attn_v.weight") || n.contains("v_proj.weight") || n.contains("attention.self.value.weight")) {
            return Category.ATTENTION_V;
        }
        if (n.contains("attn_k.weight") || n.contains("k_proj.weight") || n.contains("attention.self.key.weight")) {
            return Category.ATTENTION_K;
        }
        if (n.contains("attn_q.weight") || n.contains("q_proj.weight") || n.contains("attention.self.query.weight")) {
            return Category.ATTENTION_Q;
        }
        if (n.contains("attn_output.weight") || n.contains("o_proj.weight") || n.contains("attention.output.dense.weight")) {
            return Category.ATTENTION_OUTPUT;
        }
        if (n.contains("ffn_up") || n.contains("up_proj") || n.contains("intermediate.dense")) {
            return Category.FFN_UP;
        }
        if (n.contains("ffn_gate") || n.contains("gate_proj")) {
            return Category.FFN_GATE;
        }
        if (n.contains("ffn_down") || n.contains("down_proj") || LAYER.matcher(n).find() && n.endsWith(".output.dense.weight")) {
            return Category.FFN_DOWN;
        }
        return Category.OTHER;
    }

    /** Whether llama.cpp quantizes tensor {@code t} at all (its {@code tensor_allows_quantization}). */
    public static boolean quantizable(Tensor t) {
        String n = t.name();
        return t.dims().length >= 2 && n.endsWith("weight") && !n.contains("_norm.weight")
                && !n.equals("position_embd.weight") && !n.equals("token_types.weight")
                && !n.endsWith("position_embeddings.weight") && !n.endsWith("token_type_embeddings.weight");
    }

    /**
     * llama.cpp's {@code use_more_bits}: the first and last eighth of the layers, and every third layer between.
     */
    public static boolean moreBits(int layer, int layers) {
        return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
    }

    /** The layer index in a tensor name ({@code blk.3.}, {@code layers.3.}, {@code layer.3.}), or -1. */
    static int layer(String name) {
        Matcher m = LAYER.matcher(name);
        return m.find() ? Integer.parseInt(m.group(1)) : -1;
    }

    /**
     * The format of every tensor of a model: a ggml block format, or null for a tensor kept as it is (not
     * quantizable, or F16 because no block tiles its rows), in the order given.
     */
    public Map<String, QuantFormat> plan(List<Tensor> tensors) {
        boolean hasOutput = false;
        Map<Category, Integer> counts = new HashMap<>();
        for (Tensor t : tensors) {
            Category c = category(t.name());
            hasOutput |= c == Category.OUTPUT;
            if (quantizable(t)) {
                counts.merge(c == Category.ATTENTION_QKV ? Category.ATTENTION_V : c, 1, Integer::sum);
            }
        }
        Map<Category, Integer> seen = new HashMap<>();
        Map<String, QuantFormat> out = new LinkedHashMap<>();
        for (Tensor t : tensors) {
            if (!quantizable(t)) {
                out.put(t.name(), null);
                continue;
            }
            out.put(t.name(), formatOf(t, hasOutput, counts, seen));
        }
        return out;
    }

    private QuantFormat formatOf(Tensor t, boolean hasOutput, Map<Category, Integer> counts,
                                 Map<Category, Integer> seen) {
        Category c = category(t.name());
        long cols = t.dims()[0];
        QuantFormat f = base;
        if (mixture) {
            if (c == Category.OUTPUT || !hasOutput && c == Category.TOKEN_EMBD) {
                f = cols % QuantFormat.Q6_K.groupSize() != 0 ? QuantFormat.Q8_0 : QuantFormat.Q6_K;
            } else if (c == Category.ATTENTION_V || c == Category.ATTENTION_QKV || c == Category.FFN_DOWN) {
                Category key = c == Category.ATTENTION_QKV ? Category.ATTENTION_V : c;
                int i = index(t.name(), seen, key);
                if (base != QuantFormat.Q6_K && moreBits(i, counts.getOrDefault(key, 0))) {
                    f = QuantFormat.Q6_K;
                }
            }
        }
        return fallback(f, cols);
    }

    /** The tensor's index among those of its category: its layer when the name has one, else their count so far. */
    private static int index(String name, Map<Category, Integer> seen, Category key) {
        int i = seen.getOrDefault(key, 0);
        seen.put(key, i + 1);
        int layer = layer(name);
        return layer >= 0 ? layer : i;
    }

    /** llama.cpp's fallback for rows that {@code f}'s blocks do not tile; null (F16) when no fallback does. */
    public static QuantFormat fallback(QuantFormat f, long cols) {
        if (cols % f.groupSize() == 0) {
            return f;
        }
        QuantFormat g = switch (f.kind()) {
            case Q4_K -> QuantFormat.Q5_0;
            case Q5_K -> QuantFormat.Q5_1;
            case Q6_K -> QuantFormat.Q8_0;
            case Q2_K, Q3_K -> QuantFormat.IQ4_NL;
            default -> null;
        };
        return g != null && cols % g.groupSize() == 0 ? g : null;
    }
}

package dev.lowbit.models;

import dev.lowbit.format.QuantFormat;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** llama.cpp's mixtures on the tensors of real model shapes, against the type counts llama.cpp reports for them. */
class GgufRecipeTest {

    /** The tensors of a LLaMA-2-7B GGUF (32 layers, 4096 wide, FFN 11008, 32000 tokens), in llama.cpp's names. */
    static List<GgufRecipe.Tensor> llama7b(boolean hfNames) {
        List<GgufRecipe.Tensor> t = new ArrayList<>();
        t.add(new GgufRecipe.Tensor(hfNames ? "model.embed_tokens.weight" : "token_embd.weight", new long[]{4096, 32000}));
        for (int i = 0; i < 32; i++) {
            String p = hfNames ? "model.layers." + i + "." : "blk." + i + ".";
            String[][] m = hfNames
                    ? new String[][]{{"self_attn.q_proj", "4096", "4096"}, {"self_attn.k_proj", "4096", "4096"},
                        {"self_attn.v_proj", "4096", "4096"}, {"self_attn.o_proj", "4096", "4096"},
                        {"mlp.gate_proj", "4096", "11008"}, {"mlp.up_proj", "4096", "11008"},
                        {"mlp.down_proj", "11008", "4096"}}
                    : new String[][]{{"attn_q", "4096", "4096"}, {"attn_k", "4096", "4096"}, {"attn_v", "4096", "4096"},
                        {"attn_output", "4096", "4096"}, {"ffn_gate", "4096", "11008"}, {"ffn_up", "4096", "11008"},
                        {"ffn_down", "11008", "4096"}};
            for (String[] x : m) {
                t.add(new GgufRecipe.Tensor(p + x[0] + ".weight", new long[]{Long.parseLong(x[1]), Long.parseLong(x[2])}));
            }
            t.add(new GgufRecipe.Tensor(p + (hfNames ? "input_layernorm.weight" : "attn_norm.weight"), new long[]{4096}));
            t.add(new GgufRecipe.Tensor(p + (hfNames ? "post_attention_layernorm.weight" : "ffn_norm.weight"),
                    new long[]{4096}));
        }
        t.add(new GgufRecipe.Tensor(hfNames ? "model.norm.weight" : "output_norm.weight", new long[]{4096}));
        t.add(new GgufRecipe.Tensor(hfNames ? "lm_head.weight" : "output.weight", new long[]{4096, 32000}));
        return t;
    }

    static Map<String, Integer> counts(Map<String, QuantFormat> plan) {
        Map<String, Integer> c = new TreeMap<>();
        plan.values().forEach(f -> c.merge(f == null ? "kept" : f.name(), 1, Integer::sum));
        return c;
    }

    /**
     * llama.cpp's log of a LLaMA-2-7B Q4_K_M file: "type f32: 65 tensors, type q4_K: 193 tensors, type q6_K: 33
     * tensors" (the output, and the value and FFN-down projections of 16 of the 32 layers); Q5_K_M the same with
     * q5_K; Q6_K all q6_K. The same for the Hugging Face names of the same model.
     */
    @Test
    void llama7bMixturesHaveLlamaCppsTypeCounts() {
        for (boolean hf : new boolean[]{false, true}) {
            assertEquals(Map.of("kept", 65, "q4_k", 193, "q6_k", 33), counts(GgufRecipe.Q4_K_M.plan(llama7b(hf))));
            assertEquals(Map.of("kept", 65, "q5_k", 193, "q6_k", 33), counts(GgufRecipe.Q5_K_M.plan(llama7b(hf))));
            assertEquals(Map.of("kept", 65, "q6_k", 226), counts(GgufRecipe.Q6_K.plan(llama7b(hf))));
        }
        Map<String, QuantFormat> p = GgufRecipe.Q4_K_M.plan(llama7b(false));
        assertEquals(QuantFormat.Q6_K, p.get("output.weight"));
        assertEquals(QuantFormat.Q4_K, p.get("token_embd.weight"));
        int[] more = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
        for (int i = 0; i < 32; i++) {
            int layer = i;
            boolean six = java.util.Arrays.stream(more).anyMatch(x -> x == layer);
            QuantFormat want = six ? QuantFormat.Q6_K : QuantFormat.Q4_K;
            assertEquals(want, p.get("blk." + i + ".attn_v.weight"), "layer " + i);
            assertEquals(want, p.get("blk." + i + ".ffn_down.weight"), "layer " + i);
            assertEquals(QuantFormat.Q4_K, p.get("blk." + i + ".attn_k.weight"));
            assertNull(p.get("blk." + i + ".attn_norm.weight"));
        }
    }

    /**
     * all-MiniLM-L6-v2 (BERT, 384 wide, FFN 1536, tied embeddings): rows of 384 are no whole super-blocks, so Q4_K
     * falls back to Q5_0 and Q6_K to Q8_0; the FFN-down rows (1536) take Q4_K or Q6_K; the token embeddings, with no
     * output projection, are treated as the output (Q8_0, 384 wide); position and token-type embeddings are kept.
     */
    @Test
    void bertFallsBackWhereRowsAreNotSuperBlocks() {
        List<GgufRecipe.Tensor> t = new ArrayList<>();
        t.add(new GgufRecipe.Tensor("token_embd.weight", new long[]{384, 30522}));
        t.add(new GgufRecipe.Tensor("position_embd.weight", new long[]{384, 512}));
        t.add(new GgufRecipe.Tensor("token_types.weight", new long[]{384, 2}));
        for (int i = 0; i < 6; i++) {
            for (String m : new String[]{"attn_q", "attn_k", "attn_v", "attn_output"}) {
                t.add(new GgufRecipe.Tensor("blk." + i + "." + m + ".weight", new long[]{384, 384}));
            }
            t.add(new GgufRecipe.Tensor("blk." + i + ".ffn_up.weight", new long[]{384, 1536}));
            t.add(new GgufRecipe.Tensor("blk." + i + ".ffn_down.weight", new long[]{1536, 384}));
        }
        Map<String, QuantFormat> p = GgufRecipe.Q4_K_M.plan(t);
        assertEquals(QuantFormat.Q8_0, p.get("token_embd.weight"));
        assertNull(p.get("position_embd.weight"));
        assertNull(p.get("token_types.weight"));
        // 6 layers: use_more_bits picks layers 0, 2, 5 (i < 0, i >= 5, (i - 0) % 3 == 2)
        for (int i = 0; i < 6; i++) {
            boolean six = i == 2 || i == 5;
            assertEquals(six ? QuantFormat.Q8_0 : QuantFormat.Q5_0, p.get("blk." + i + ".attn_v.weight"), "layer " + i);
            assertEquals(six ? QuantFormat.Q6_K : QuantFormat.Q4_K, p.get("blk." + i + ".ffn_down.weight"), "layer " + i);
            assertEquals(QuantFormat.Q5_0, p.get("blk." + i + ".attn_q.weight"));
            assertEquals(QuantFormat.Q5_0, p.get("blk." + i + ".ffn_up.weight"));
        }
        assertEquals(QuantFormat.Q5_1, GgufRecipe.Q5_K_M.plan(t).get("blk.1.attn_q.weight"));
        assertEquals(QuantFormat.IQ4_NL, GgufRecipe.single(QuantFormat.Q3_K).plan(t).get("blk.1.attn_q.weight"));
        assertNull(GgufRecipe.single(QuantFormat.Q4_K).plan(
                List.of(new GgufRecipe.Tensor("x.weight", new long[]{100, 4}))).get("x.weight"), "no block tiles 100");
        assertThrows(IllegalArgumentException.class, () -> GgufRecipe.single(QuantFormat.Q8_K));
    }

    @Test
    void moreBitsIsLlamaCppsUseMoreBits() {
        // n = 6: 6/8 = 0 and 7*6/8 = 5, so layers 0..-1, 5.., and (i - 0) % 3 == 2.
        boolean[] want = {false, false, true, false, false, true};
        for (int i = 0; i < 6; i++) {
            assertEquals(want[i], GgufRecipe.moreBits(i, 6), "layer " + i);
        }
    }
}

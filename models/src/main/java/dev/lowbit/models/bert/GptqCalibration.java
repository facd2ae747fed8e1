package dev.lowbit.models.bert;

import dev.lowbit.algorithms.Gptq;
import dev.lowbit.models.BuiltinModels;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What {@code gptq} ({@link BertQuantization#GPTQ}) is calibrated on and how: the calibration sequences (token ids,
 * {@code [CLS] … [SEP]}), GPTQ's {@link Gptq.Options} and whether the Hessians are collected sequentially.
 *
 * <p>The fp32 encoder runs over the sequences in batches of 32 and, for each linear layer, the Gram matrix of its
 * input rows is summed: {@code H = (2/n)·Σ x xᵀ} over the {@code n} tokens, where {@code x} is the layer's input (for
 * query-key-value and FFN up the LayerNorm output, width 384; for the attention output the attention context, 384;
 * for FFN down the GELU output, 1536). The observation is a wrapper around the calibration encoder's linear layers,
 * so the normal forward pass has no hook. With {@code sequential}, the Hessians of layer {@code l} are collected
 * from the model whose layers {@code < l} are already quantized (one pass over the calibration text per layer);
 * otherwise all come from one fp32 pass.
 *
 * <p>{@link #defaults()}: the Europarl sentences 2000 to 2255 in {@link EnglishSentences}' order (disjoint from the
 * first 2,000, which {@code lowbit eval} evaluates on), tokenized by the built-in all-MiniLM-L6-v2 tokenizer, with
 * the settings that measured best on all-MiniLM-L6-v2 (asymmetric, MSE grid, act-order; docs/results/2026-11-23-gptq). For
 * experiments, system properties change the defaults: {@code lowbit.gptq.sentences} (count),
 * {@code lowbit.gptq.first} (index of the first sentence, at least 2000), {@code lowbit.gptq.grid} ({@code minmax}
 * or {@code mse}), {@code lowbit.gptq.symmetric}, {@code lowbit.gptq.actOrder}, {@code lowbit.gptq.sequential}
 * (booleans) and {@code lowbit.gptq.dampening}.
 *
 * <p>Calibration is deterministic up to the fp32 forward pass: the same sequences, the same batches, and sums that do
 * not depend on the thread count's split of a batch's rows into a Gram matrix (each entry is one dot product, in one
 * order). The fp32 pass's Vector API lane reductions can differ in the last bits before and after C2 compiles them,
 * and GPTQ's rounding follows those bits now and then (docs/inference.md). Every encoder built with it calibrates
 * again (nothing is cached).
 *
 * @param sequences  calibration token sequences
 * @param source     where they come from, for reports
 * @param options    GPTQ's settings
 * @param sequential collect each layer's Hessians from the model with the earlier layers quantized
 */
public record GptqCalibration(List<int[]> sequences, String source, Gptq.Options options, boolean sequential) {

    /** The first Europarl sentence of the default calibration set: the evaluation takes the first 2,000. */
    public static final int DEFAULT_FIRST = 2000;
    /** How many sentences the default calibration set takes. */
    public static final int DEFAULT_SENTENCES = 256;

    public GptqCalibration {
        if (sequences == null || sequences.isEmpty()) {
            throw new IllegalArgumentException("calibration needs at least one sequence");
        }
        if (options == null) {
            throw new IllegalArgumentException("options must not be null");
        }
        sequences = List.copyOf(sequences);
    }

    /** Calibration tokens: {@code [CLS]} and {@code [SEP]} included. */
    public long tokens() {
        return sequences.stream().mapToLong(a -> a.length).sum();
    }

    /** One line for reports: sentences, tokens, source and settings. */
    public String describe() {
        return String.format(Locale.ROOT, "%d sentences (%d tokens), %s; %s%s", sequences.size(), tokens(), source,
                options, sequential ? ", sequential" : "");
    }

    /**
     * Europarl sentences {@code [first, first + count)} in {@link EnglishSentences}' order, tokenized by {@code tok}.
     */
    public static GptqCalibration europarl(WordPieceTokenizer tok, int first, int count, Gptq.Options options,
                                           boolean sequential) {
        if (first < 0 || count < 1) {
            throw new IllegalArgumentException("first must be >= 0 and count >= 1, got " + first + ", " + count);
        }
        List<String> all = EnglishSentences.europarl(first + count);
        List<int[]> seqs = new ArrayList<>(count);
        for (String s : all.subList(first, first + count)) {
            seqs.add(tok.encode(s));
        }
        return new GptqCalibration(seqs, "Europarl sentences " + first + ".." + (first + count - 1), options, sequential);
    }

    /** The defaults (see the class comment), built once. */
    public static GptqCalibration defaults() {
        return Defaults.INSTANCE;
    }

    private static final class Defaults {
        static final GptqCalibration INSTANCE = build();

        private static GptqCalibration build() {
            int first = Integer.getInteger("lowbit.gptq.first", DEFAULT_FIRST);
            if (first < DEFAULT_FIRST) {
                throw new IllegalArgumentException("lowbit.gptq.first must be at least " + DEFAULT_FIRST
                        + " (the evaluation sentences come first), got " + first);
            }
            int count = Integer.getInteger("lowbit.gptq.sentences", DEFAULT_SENTENCES);
            String grid = System.getProperty("lowbit.gptq.grid", DEFAULT_OPTIONS.mseGrid() ? "mse" : "minmax");
            if (!grid.equals("mse") && !grid.equals("minmax")) {
                throw new IllegalArgumentException("lowbit.gptq.grid must be mse or minmax, got '" + grid + "'");
            }
            Gptq.Options o = new Gptq.Options(
                    bool("lowbit.gptq.symmetric", DEFAULT_OPTIONS.symmetric()), grid.equals("mse"),
                    bool("lowbit.gptq.actOrder", DEFAULT_OPTIONS.actOrder()),
                    Double.parseDouble(System.getProperty("lowbit.gptq.dampening", "" + DEFAULT_OPTIONS.dampening())),
                    DEFAULT_OPTIONS.blockSize());
            return europarl(WordPieceTokenizer.fromJson(BuiltinModels.miniLmTokenizerJson()), first, count, o,
                    bool("lowbit.gptq.sequential", DEFAULT_SEQUENTIAL));
        }

        private static boolean bool(String key, boolean def) {
            String v = System.getProperty(key);
            if (v == null) {
                return def;
            }
            if (!v.equals("true") && !v.equals("false")) {
                throw new IllegalArgumentException(key + " must be true or false, got '" + v + "'");
            }
            return Boolean.parseBoolean(v);
        }
    }

    /** The default settings: those that measured best on all-MiniLM-L6-v2 (docs/results/2026-11-23-gptq). */
    public static final Gptq.Options DEFAULT_OPTIONS = new Gptq.Options(false, true, true, 0.01, 128);
    /** Whether the default collects Hessians sequentially. */
    public static final boolean DEFAULT_SEQUENTIAL = false;
}

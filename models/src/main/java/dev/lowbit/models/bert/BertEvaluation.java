package dev.lowbit.models.bert;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * The evaluation behind {@code lowbit eval}: lowbit's fp32 and quantized encoders beside a peer runtime's fp32 and
 * int8 encoders, all on the same tokenized sentences in one run. Fidelity is the cosine of each sentence embedding
 * to the peer's fp32 one (mean, 1st percentile, minimum); speed is sentences and tokens per second at each thread
 * count and batch size, every encoder built with that many threads.
 *
 * <p>The peers are given as factories from a thread count to an encoder, so that this module does not depend on
 * the peer runtime.
 *
 * @param quantizations   the quantized encoders to run (for example W8A8 and W4A8 of one method)
 * @param fidelitySentences how many sentences the fidelity is measured on
 * @param speedSentences  how many of them the speed is measured on
 * @param threads         thread counts of the speed table
 * @param batches         batch sizes of the speed table
 * @param rounds          each speed cell is the best of this many timed passes over the speed sentences; the
 *                        encoders of a thread count take turns, pass by pass, so that a machine whose load changes
 *                        affects them alike
 */
public record BertEvaluation(List<BertQuantization> quantizations, int fidelitySentences, int speedSentences,
                             int[] threads, int[] batches, int rounds) {

    /** A peer: its label and how to build it with a number of threads. */
    public record Peer(String name, IntFunction<SentenceEncoder> factory) {
    }

    /**
     * Runs the evaluation and prints it to {@code out}.
     *
     * @param sentences  at least {@code fidelitySentences} real sentences
     * @param reference  the peer whose fp32 embeddings are the reference
     * @param others     further peers measured beside lowbit (the peer's int8 model)
     */
    public void run(List<String> sentences, WordPieceTokenizer tokenizer, BertWeights weights, Peer reference,
                    List<Peer> others, PrintStream out) {
        if (sentences.size() < fidelitySentences) {
            throw new IllegalArgumentException("need " + fidelitySentences + " sentences, got " + sentences.size());
        }
        List<int[]> seqs = new ArrayList<>();
        long tokens = 0;
        for (String s : sentences.subList(0, fidelitySentences)) {
            int[] ids = tokenizer.encode(s);
            seqs.add(ids);
            tokens += ids.length;
        }
        List<int[]> speedSeqs = seqs.subList(0, Math.min(speedSentences, seqs.size()));
        long speedTokens = speedSeqs.stream().mapToLong(a -> a.length).sum();
        out.printf(Locale.ROOT, "all-MiniLM-L6-v2: %d sentences (%d tokens) for fidelity, the first %d (%d tokens) for speed%n",
                seqs.size(), tokens, speedSeqs.size(), speedTokens);

        Map<String, IntFunction<SentenceEncoder>> encoders = new LinkedHashMap<>();
        encoders.put(reference.name(), reference.factory());
        for (Peer p : others) {
            encoders.put(p.name(), p.factory());
        }
        encoders.put("lowbit fp32", t -> SentenceEncoder.of("lowbit fp32", BertEncoder.fp32(weights, t)));
        for (BertQuantization q : quantizations) {
            String name = "lowbit " + q;
            encoders.put(name, t -> SentenceEncoder.of(name, BertEncoder.quantized(weights, q, t)));
        }

        int fidelityThreads = threads[threads.length - 1];
        float[][] ref;
        try (SentenceEncoder r = reference.factory().apply(fidelityThreads)) {
            ref = EmbeddingEvaluation.encodeAll(r, seqs, 32);
        }
        out.println();
        out.println("Fidelity: cosine similarity of sentence embeddings to " + reference.name());
        out.printf(Locale.ROOT, "%-44s %10s %10s %10s%n", "encoder", "mean", "p1", "min");
        for (Map.Entry<String, IntFunction<SentenceEncoder>> e : encoders.entrySet()) {
            if (e.getKey().equals(reference.name())) {
                continue;
            }
            try (SentenceEncoder enc = e.getValue().apply(fidelityThreads)) {
                EmbeddingEvaluation.Fidelity f = EmbeddingEvaluation.fidelity(ref, EmbeddingEvaluation.encodeAll(enc, seqs, 32));
                out.printf(Locale.ROOT, "%-44s %10.7f %10.7f %10.7f%n", e.getKey(), f.mean(), f.p1(), f.min());
            }
        }
        out.println();
        out.println("Speed: sentences/s and tokens/s (threads t, batch b), the best of " + rounds + " rounds in which the "
                + "encoders take turns");
        StringBuilder head = new StringBuilder(String.format(Locale.ROOT, "%-44s", "encoder"));
        for (int t : threads) {
            for (int b : batches) {
                head.append(String.format(Locale.ROOT, " %20s", "t" + t + " b" + b));
            }
        }
        out.println(head);
        List<String> names = new ArrayList<>(encoders.keySet());
        String[][] cells = new String[names.size()][threads.length * batches.length];
        for (int ti = 0; ti < threads.length; ti++) {
            int t = threads[ti];
            List<SentenceEncoder> built = new ArrayList<>();
            try {
                for (IntFunction<SentenceEncoder> f : encoders.values()) {
                    built.add(f.apply(t));
                }
                for (int bi = 0; bi < batches.length; bi++) {
                    EmbeddingEvaluation.Speed[] best = EmbeddingEvaluation.speedInTurns(built, speedSeqs, batches[bi], t, rounds);
                    for (int e = 0; e < built.size(); e++) {
                        cells[e][ti * batches.length + bi] = String.format(Locale.ROOT, " %7.1f s/s %7.0f t/s",
                                best[e].sentencesPerSecond(), best[e].tokensPerSecond());
                    }
                }
            } finally {
                built.forEach(SentenceEncoder::close);
            }
        }
        for (int e = 0; e < names.size(); e++) {
            out.printf(Locale.ROOT, "%-44s%s%n", names.get(e), String.join("", cells[e]));
        }
    }
}

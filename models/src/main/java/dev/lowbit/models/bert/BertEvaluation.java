package dev.lowbit.models.bert;

import dev.lowbit.algorithms.MethodRegistry;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.IntFunction;
import java.util.function.Supplier;

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
     * How the evaluation's phases run: building each encoder (quantizing and calibrating included) and each
     * timed or counted pass. The defaults just run them; a caller overrides them to report progress or to stop.
     */
    public interface Phases {
        /** Builds encoder {@code name} with {@code threads} threads. */
        default SentenceEncoder build(String name, IntFunction<SentenceEncoder> factory, int threads) {
            return factory.apply(threads);
        }

        /** Runs one phase of {@code total} sentences, labelled {@code label}. */
        default <T> T phase(String label, long total, Supplier<T> work) {
            return work.get();
        }
    }

    /**
     * Tokenizes the first {@code fidelitySentences} sentences and runs the evaluation on them, printing it to
     * {@code out}.
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
        for (String s : sentences.subList(0, fidelitySentences)) {
            seqs.add(tokenizer.encode(s));
        }
        run(seqs, weights, null, reference, others, out, new Phases() { });
    }

    /**
     * Runs the evaluation on tokenized sentences (all for fidelity, the first {@code speedSentences} for speed)
     * and prints the tables to {@code out} once each is complete.
     *
     * @param calibration GPTQ's calibration for the quantizations that need one, or null when none does
     */
    public void run(List<int[]> seqs, BertWeights weights, GptqCalibration calibration, Peer reference,
                    List<Peer> others, PrintStream out, Phases phases) {
        long tokens = seqs.stream().mapToLong(a -> a.length).sum();
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
            encoders.put(name, t -> SentenceEncoder.of(name, calibration != null && !MethodRegistry.get(q.method()).dataFree()
                    ? BertQuantizer.quantize(weights, q, t, calibration) : BertQuantizer.quantize(weights, q, t)));
        }

        int fidelityThreads = threads[threads.length - 1];
        float[][] ref;
        try (SentenceEncoder r = phases.build(reference.name(), reference.factory(), fidelityThreads)) {
            ref = encodeAll(r, seqs, phases);
        }
        List<String> rows = new ArrayList<>();
        for (Map.Entry<String, IntFunction<SentenceEncoder>> e : encoders.entrySet()) {
            if (e.getKey().equals(reference.name())) {
                continue;
            }
            try (SentenceEncoder enc = phases.build(e.getKey(), e.getValue(), fidelityThreads)) {
                EmbeddingEvaluation.Fidelity f = EmbeddingEvaluation.fidelity(ref, encodeAll(enc, seqs, phases));
                rows.add(String.format(Locale.ROOT, "%-44s %10.7f %10.7f %10.7f", e.getKey(), f.mean(), f.p1(), f.min()));
            }
        }
        out.println();
        out.println("Fidelity: cosine similarity of sentence embeddings to " + reference.name());
        out.printf(Locale.ROOT, "%-44s %10s %10s %10s%n", "encoder", "mean", "p1", "min");
        rows.forEach(out::println);
        out.flush();

        List<String> names = new ArrayList<>(encoders.keySet());
        String[][] cells = new String[names.size()][threads.length * batches.length];
        for (int ti = 0; ti < threads.length; ti++) {
            int t = threads[ti];
            List<SentenceEncoder> built = new ArrayList<>();
            try {
                for (Map.Entry<String, IntFunction<SentenceEncoder>> e : encoders.entrySet()) {
                    built.add(phases.build(e.getKey(), e.getValue(), t));
                }
                for (int bi = 0; bi < batches.length; bi++) {
                    int b = batches[bi];
                    EmbeddingEvaluation.Speed[] best = phases.phase(String.format(Locale.ROOT,
                                    "speed t%d b%d: %d encoders, %d passes of %d sentences", t, b, built.size(), rounds + 1,
                                    speedSeqs.size()),
                            (long) built.size() * (rounds + 1) * speedSeqs.size(),
                            () -> EmbeddingEvaluation.speedInTurns(built, speedSeqs, b, t, rounds));
                    for (int e = 0; e < built.size(); e++) {
                        cells[e][ti * batches.length + bi] = String.format(Locale.ROOT, " %7.1f s/s %7.0f t/s",
                                best[e].sentencesPerSecond(), best[e].tokensPerSecond());
                    }
                }
            } finally {
                built.forEach(SentenceEncoder::close);
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
        for (int e = 0; e < names.size(); e++) {
            out.printf(Locale.ROOT, "%-44s%s%n", names.get(e), String.join("", cells[e]));
        }
    }

    private static float[][] encodeAll(SentenceEncoder e, List<int[]> seqs, Phases phases) {
        return phases.phase(String.format(Locale.ROOT, "fidelity of %s: %d sentences", e.name(), seqs.size()), seqs.size(),
                () -> EmbeddingEvaluation.encodeAll(e, seqs, 32));
    }
}

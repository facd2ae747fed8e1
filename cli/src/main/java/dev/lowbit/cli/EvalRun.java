package dev.lowbit.cli;

import dev.lowbit.algorithms.MethodRegistry;
import dev.lowbit.models.bert.BertEncoder;
import dev.lowbit.models.bert.BertQuantization;
import dev.lowbit.models.bert.BertWeights;
import dev.lowbit.models.bert.EmbeddingEvaluation;
import dev.lowbit.models.bert.GptqCalibration;
import dev.lowbit.models.bert.SentenceEncoder;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.IntFunction;
import java.util.function.Supplier;

/**
 * What {@code lowbit eval} runs once its options are read: lowbit's fp32 and quantized encoders beside ONNX
 * Runtime's fp32 and int8 encoders on the same tokenized sentences, the fidelity table (cosine of each sentence
 * embedding to ONNX Runtime fp32) and the speed table (sentences and tokens per second at each thread count and
 * batch size, the best of {@code rounds} passes in which the encoders take turns).
 *
 * <p>Every phase reports on stderr through {@link Progress}: loading, building (quantizing, calibrating) each
 * encoder, each fidelity pass with its sentence count, each speed cell.
 *
 * <p>Every encoder, ONNX Runtime sessions included, runs on the one thread that calls {@link #run} and is closed
 * by it after its last batch. A SIGTERM or SIGINT ({@link Stop}) makes that thread stop at the next batch,
 * close every encoder and say so; the JVM exits only then, so no ONNX Runtime session is in use, or torn down
 * by the exiting process, while a batch runs.
 */
final class EvalRun {
    /** A peer: its label and how to build it with a number of threads. */
    record Peer(String name, IntFunction<SentenceEncoder> factory) {
    }

    private final List<BertQuantization> quantizations;
    private final int[] threads;
    private final int[] batches;
    private final int rounds;
    private final PrintStream err;
    private final Stop stop;
    /** The progress that the encoders count their sentences into, or null between phases. */
    private volatile Progress current;

    EvalRun(List<BertQuantization> quantizations, int[] threads, int[] batches, int rounds, PrintStream err, Stop stop) {
        this.quantizations = List.copyOf(quantizations);
        this.threads = threads.clone();
        this.batches = batches.clone();
        this.rounds = rounds;
        this.err = err;
        this.stop = stop;
    }

    /** Runs {@code work} as one phase: its progress line on stderr, {@code total} units counted by the encoders. */
    <T> T phase(String label, long total, Supplier<T> work) {
        stop.check();
        Progress p = new Progress(err, label, total);
        current = p;
        try {
            T result = work.get();
            p.finish(null);
            return result;
        } finally {
            current = null;
        }
    }

    /**
     * Runs the evaluation over {@code seqs} (tokenized; the first {@code speedSentences} for speed) and prints the
     * tables to {@code out}.
     *
     * @param calibration GPTQ's calibration, or null when no quantization is {@code gptq}
     */
    void run(List<int[]> seqs, int speedSentences, BertWeights weights, GptqCalibration calibration, Peer reference,
             List<Peer> others, PrintStream out) {
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
                    ? BertEncoder.quantized(weights, q, t, calibration) : BertEncoder.quantized(weights, q, t)));
        }

        int fidelityThreads = threads[threads.length - 1];
        float[][] ref;
        try (SentenceEncoder r = build(reference.name(), reference.factory(), fidelityThreads)) {
            ref = encodeAll(r, seqs);
        }
        List<String> rows = new ArrayList<>();
        for (Map.Entry<String, IntFunction<SentenceEncoder>> e : encoders.entrySet()) {
            if (e.getKey().equals(reference.name())) {
                continue;
            }
            try (SentenceEncoder enc = build(e.getKey(), e.getValue(), fidelityThreads)) {
                EmbeddingEvaluation.Fidelity f = EmbeddingEvaluation.fidelity(ref, encodeAll(enc, seqs));
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
                    built.add(build(e.getKey(), e.getValue(), t));
                }
                for (int bi = 0; bi < batches.length; bi++) {
                    int b = batches[bi];
                    EmbeddingEvaluation.Speed[] best = phase(Units.f("speed t%d b%d: %d encoders, %d passes of %d sentences",
                                    t, b, built.size(), rounds + 1, speedSeqs.size()),
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

    /** Builds one encoder as a phase (quantizing and calibrating included), counted and stoppable. */
    private SentenceEncoder build(String name, IntFunction<SentenceEncoder> factory, int t) {
        String what = name.startsWith("lowbit ") && !name.equals("lowbit fp32") ? "quantizing " : "loading ";
        SentenceEncoder e = phase(what + name + Units.f(" (%d thread%s)", t, t == 1 ? "" : "s"), 1,
                () -> factory.apply(t));
        return new Metered(e);
    }

    private float[][] encodeAll(SentenceEncoder e, List<int[]> seqs) {
        return phase(Units.f("fidelity of %s: %d sentences", e.name(), seqs.size()), seqs.size(),
                () -> EmbeddingEvaluation.encodeAll(e, seqs, 32));
    }

    /** An encoder that counts its sentences into the current phase and refuses a batch once {@link Stop} is set. */
    private final class Metered implements SentenceEncoder {
        private final SentenceEncoder inner;

        Metered(SentenceEncoder inner) {
            this.inner = inner;
        }

        @Override
        public String name() {
            return inner.name();
        }

        @Override
        public float[][] encode(List<int[]> batch) {
            stop.check();
            float[][] e = inner.encode(batch);
            Progress p = current;
            if (p != null) {
                p.add(batch.size());
            }
            return e;
        }

        @Override
        public void close() {
            inner.close();
        }
    }

    /**
     * Stops the evaluation on SIGTERM or SIGINT: a shutdown hook sets the flag that every batch checks, then waits
     * (up to a minute) until the evaluating thread has closed its encoders and {@link #close} has run, so that the
     * JVM exits with no ONNX Runtime session running. Closing it outside a shutdown removes the hook.
     */
    static final class Stop implements AutoCloseable {
        private final AtomicBoolean stopping = new AtomicBoolean();
        private final CountDownLatch finished = new CountDownLatch(1);
        private final Thread hook = new Thread(this::onShutdown, "lowbit-eval-stop");

        Stop() {
            Runtime.getRuntime().addShutdownHook(hook);
        }

        /** Throws the one-line "stopped" failure once a signal has asked the JVM to exit. */
        void check() {
            if (stopping.get()) {
                throw stopped();
            }
        }

        /** Whether a signal has asked the JVM to exit. */
        boolean stopping() {
            return stopping.get();
        }

        /** The failure the command ends with when a signal stopped it. */
        IllegalStateException stopped() {
            return new IllegalStateException("stopped by SIGTERM/SIGINT; every encoder is closed");
        }

        private void onShutdown() {
            stopping.set(true);
            try {
                finished.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public void close() {
            finished.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // The JVM is shutting down: the hook is what waited for this.
            }
        }
    }
}

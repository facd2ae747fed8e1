package dev.lowbit.cli;

import dev.lowbit.models.bert.BertEvaluation;
import dev.lowbit.models.bert.BertQuantization;
import dev.lowbit.models.bert.BertWeights;
import dev.lowbit.models.bert.GptqCalibration;
import dev.lowbit.models.bert.SentenceEncoder;

import java.io.PrintStream;
import java.util.List;
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
final class EvalRun implements BertEvaluation.Phases {
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
    @Override
    public <T> T phase(String label, long total, Supplier<T> work) {
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
     * Runs the evaluation ({@link BertEvaluation}) over {@code seqs} (tokenized; the first {@code speedSentences} for
     * speed) with every phase reported and stoppable, and prints the tables to {@code out}.
     *
     * @param calibration GPTQ's calibration, or null when no quantization is {@code gptq}
     */
    void run(List<int[]> seqs, int speedSentences, BertWeights weights, GptqCalibration calibration,
             BertEvaluation.Peer reference, List<BertEvaluation.Peer> others, PrintStream out) {
        new BertEvaluation(quantizations, seqs.size(), speedSentences, threads, batches, rounds)
                .run(seqs, weights, calibration, reference, others, out, this);
    }

    /** Builds one encoder as a phase (quantizing and calibrating included), counted and stoppable. */
    @Override
    public SentenceEncoder build(String name, IntFunction<SentenceEncoder> factory, int t) {
        String what = name.startsWith("lowbit ") && !name.equals("lowbit fp32") ? "quantizing " : "loading ";
        SentenceEncoder e = phase(what + name + Units.f(" (%d thread%s)", t, t == 1 ? "" : "s"), 1,
                () -> factory.apply(t));
        return new Metered(e);
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

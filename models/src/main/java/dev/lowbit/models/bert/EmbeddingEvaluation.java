package dev.lowbit.models.bert;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Fidelity and speed of sentence encoders: cosine similarity of their embeddings against a reference encoder's, and
 * sentences and tokens per second over a fixed list of tokenized sentences in batches.
 */
public final class EmbeddingEvaluation {
    private EmbeddingEvaluation() {
    }

    /**
     * Cosine similarity to the reference over {@code sentences} sentences.
     *
     * @param p1 the 1st percentile: the value that 1% of the sentences fall below (nearest rank)
     */
    public record Fidelity(int sentences, double mean, double min, double p1) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "mean %.6f  p1 %.6f  min %.6f  (%d sentences)", mean, p1, min, sentences);
        }
    }

    /** One speed measurement: {@code sentences} sentences of {@code tokens} tokens in {@code seconds}. */
    public record Speed(int threads, int batch, int sentences, long tokens, double seconds) {
        public double sentencesPerSecond() {
            return sentences / seconds;
        }

        public double tokensPerSecond() {
            return tokens / seconds;
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%8.1f sent/s %9.0f tok/s", sentencesPerSecond(), tokensPerSecond());
        }
    }

    /** Cosine similarity of two vectors, in double. */
    public static double cosine(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException("vectors of " + a.length + " and " + b.length + " values");
        }
        double ab = 0;
        double aa = 0;
        double bb = 0;
        for (int i = 0; i < a.length; i++) {
            ab += (double) a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += (double) b[i] * b[i];
        }
        return ab / Math.sqrt(aa * bb);
    }

    /** The cosine of each candidate embedding to its reference, summarized. */
    public static Fidelity fidelity(float[][] reference, float[][] candidate) {
        if (reference.length != candidate.length || reference.length == 0) {
            throw new IllegalArgumentException("need the same non-zero number of embeddings, got " + reference.length
                    + " and " + candidate.length);
        }
        double[] c = new double[reference.length];
        double sum = 0;
        for (int i = 0; i < c.length; i++) {
            c[i] = cosine(reference[i], candidate[i]);
            sum += c[i];
        }
        double[] sorted = c.clone();
        Arrays.sort(sorted);
        int rank = (int) Math.ceil(0.01 * sorted.length) - 1;
        return new Fidelity(c.length, sum / c.length, sorted[0], sorted[Math.max(0, rank)]);
    }

    /** Every sequence's embedding, in batches of {@code batch} consecutive sequences. */
    public static float[][] encodeAll(SentenceEncoder encoder, List<int[]> sequences, int batch) {
        float[][] out = new float[sequences.size()][];
        for (int i = 0; i < sequences.size(); i += batch) {
            float[][] e = encoder.encode(sequences.subList(i, Math.min(sequences.size(), i + batch)));
            System.arraycopy(e, 0, out, i, e.length);
        }
        return out;
    }

    /**
     * Encodes {@code sequences} in batches of {@code batch} with each encoder: once untimed (warm-up), then
     * {@code rounds} timed passes in which the encoders take turns. Each encoder's result is its fastest pass.
     */
    public static Speed[] speedInTurns(List<SentenceEncoder> encoders, List<int[]> sequences, int batch, int threads,
                                       int rounds) {
        if (rounds < 1) {
            throw new IllegalArgumentException("rounds must be at least 1, got " + rounds);
        }
        long tokens = 0;
        for (int[] s : sequences) {
            tokens += s.length;
        }
        List<List<int[]>> batches = new ArrayList<>();
        for (int i = 0; i < sequences.size(); i += batch) {
            batches.add(sequences.subList(i, Math.min(sequences.size(), i + batch)));
        }
        double[] best = new double[encoders.size()];
        java.util.Arrays.fill(best, Double.POSITIVE_INFINITY);
        for (int round = -1; round < rounds; round++) {
            for (int e = 0; e < encoders.size(); e++) {
                long start = System.nanoTime();
                for (List<int[]> b : batches) {
                    encoders.get(e).encode(b);
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                if (round >= 0) {
                    best[e] = Math.min(best[e], seconds);
                }
            }
        }
        Speed[] out = new Speed[encoders.size()];
        for (int e = 0; e < out.length; e++) {
            out[e] = new Speed(threads, batch, sequences.size(), tokens, best[e]);
        }
        return out;
    }
}

package dev.lowbit.models.bert;

import java.util.List;

/** Anything that turns token ids into sentence embeddings: lowbit's encoders, or a peer runtime in an evaluation. */
public interface SentenceEncoder extends AutoCloseable {
    /** A short label for reports. */
    String name();

    /** One L2-normalized embedding per sequence of token ids ({@code [CLS] ... [SEP]}). */
    float[][] encode(List<int[]> batch);

    @Override
    void close();

    /** {@code encoder} under {@code name}. */
    static SentenceEncoder of(String name, BertEncoder encoder) {
        return new SentenceEncoder() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public float[][] encode(List<int[]> batch) {
                return encoder.encode(batch);
            }

            @Override
            public void close() {
                encoder.close();
            }
        };
    }
}

package dev.lowbit.models.bert;

import dev.lowbit.ortpeer.OrtPeer;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * The peer: ONNX Runtime ({@link OrtPeer}) on an ONNX file from the class path, then the same mean pooling and
 * normalization as lowbit's encoder.
 */
final class OrtEncoder implements SentenceEncoder {
    private final OrtPeer peer;

    OrtEncoder(String name, String resource, int threads) {
        try (InputStream in = OrtEncoder.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException(resource + " is not on the class path");
            }
            peer = new OrtPeer(name, in.readAllBytes(), threads);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public String name() {
        return peer.name();
    }

    /** The last hidden state, padded: {@code [batch][maxLen][hidden]}. */
    float[][][] hidden(List<int[]> batch) {
        return peer.hidden(batch);
    }

    @Override
    public float[][] encode(List<int[]> batch) {
        return peer.encode(batch, (seq, len, d) -> BertEncoder.meanPoolNormalized(seq, 0, len, d));
    }

    @Override
    public void close() {
        peer.close();
    }
}

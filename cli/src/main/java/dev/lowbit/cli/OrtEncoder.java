package dev.lowbit.cli;

import dev.lowbit.models.bert.BertEncoder;
import dev.lowbit.models.bert.SentenceEncoder;
import dev.lowbit.ortpeer.OrtPeer;

import java.util.List;

/**
 * The peer of {@code lowbit eval}: ONNX Runtime on a BERT ONNX model ({@link OrtPeer}), then the mean pooling and
 * normalization of lowbit's encoder.
 *
 * <p>One thread uses an encoder: {@link EvalRun} builds, runs and closes it on the thread of {@code lowbit eval},
 * so ONNX Runtime is closed only once no batch is running on it.
 */
final class OrtEncoder implements SentenceEncoder {
    private final OrtPeer peer;

    OrtEncoder(String name, byte[] model, int threads) {
        peer = new OrtPeer(name, model, threads);
    }

    @Override
    public String name() {
        return peer.name();
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

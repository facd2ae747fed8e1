package dev.lowbit.cli;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.lowbit.models.bert.BertEncoder;
import dev.lowbit.models.bert.SentenceEncoder;

import java.nio.FloatBuffer;
import java.util.List;
import java.util.Map;

/**
 * ONNX Runtime on a BERT ONNX model (inputs input_ids, attention_mask, token_type_ids; first output the last hidden
 * state): the batch padded to its longest sequence with an attention mask, then the mean pooling and normalization
 * of lowbit's encoder. Intra-op threads as given, inter-op 1, all graph optimizations.
 *
 * <p>One thread uses an encoder: {@link EvalRun} builds, runs and closes it on the thread of {@code lowbit eval},
 * so the session is closed only once no batch is running on it (ONNX Runtime's own intra-op threads finish
 * within {@code session.run}).
 */
final class OrtEncoder implements SentenceEncoder {
    private final String name;
    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession session;

    OrtEncoder(String name, byte[] model, int threads) {
        this.name = name;
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setIntraOpNumThreads(threads);
            o.setInterOpNumThreads(1);
            o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            session = env.createSession(model, o);
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime cannot load " + name + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public float[][] encode(List<int[]> batch) {
        int len = batch.stream().mapToInt(a -> a.length).max().orElse(0);
        long[][] ids = new long[batch.size()][len];
        long[][] mask = new long[batch.size()][len];
        long[][] types = new long[batch.size()][len];
        for (int s = 0; s < batch.size(); s++) {
            int[] a = batch.get(s);
            for (int i = 0; i < a.length; i++) {
                ids[s][i] = a[i];
                mask[s][i] = 1;
            }
        }
        try (OnnxTensor i = OnnxTensor.createTensor(env, ids);
             OnnxTensor m = OnnxTensor.createTensor(env, mask);
             OnnxTensor t = OnnxTensor.createTensor(env, types);
             OrtSession.Result r = session.run(Map.of("input_ids", i, "attention_mask", m, "token_type_ids", t))) {
            OnnxTensor out = (OnnxTensor) r.get(0);
            long[] shape = out.getInfo().getShape();
            int d = (int) shape[2];
            FloatBuffer fb = out.getFloatBuffer();
            float[][] e = new float[batch.size()][];
            float[] seq = new float[len * d];
            for (int s = 0; s < batch.size(); s++) {
                fb.position(s * len * d);
                fb.get(seq, 0, len * d);
                e[s] = BertEncoder.meanPoolNormalized(seq, 0, batch.get(s).length, d);
            }
            return e;
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime failed on " + name + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            throw new IllegalStateException(e);
        }
    }
}

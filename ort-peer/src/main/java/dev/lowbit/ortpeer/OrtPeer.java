package dev.lowbit.ortpeer;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

import java.nio.FloatBuffer;
import java.util.List;
import java.util.Map;

/**
 * ONNX Runtime on a BERT ONNX model (inputs input_ids, attention_mask, token_type_ids; first output the last hidden
 * state): the batch padded to its longest sequence with an attention mask. Intra-op threads as given, inter-op 1, all
 * graph optimizations.
 *
 * <p>One thread uses a peer at a time, and closes it once no batch is running on it (ONNX Runtime's own intra-op
 * threads finish within {@code session.run}).
 */
public final class OrtPeer implements AutoCloseable {
    /** Pools one sequence's hidden states {@code seq[token * d + i]} (its first {@code len} tokens) into a vector. */
    @FunctionalInterface
    public interface Pooling {
        float[] pool(float[] seq, int len, int d);
    }

    private final String name;
    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession session;

    /** ONNX Runtime ready to run the ONNX model {@code model}; a model that ONNX Runtime cannot load is refused, by name. */
    public OrtPeer(String name, byte[] model, int threads) {
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

    public String name() {
        return name;
    }

    /** One vector per sequence: each sequence's last hidden state pooled by {@code pooling}. */
    public float[][] encode(List<int[]> batch, Pooling pooling) {
        return run(batch, (fb, len, d) -> {
            float[][] e = new float[batch.size()][];
            float[] seq = new float[len * d];
            for (int s = 0; s < batch.size(); s++) {
                fb.position(s * len * d);
                fb.get(seq, 0, len * d);
                e[s] = pooling.pool(seq, batch.get(s).length, d);
            }
            return e;
        });
    }

    /** The last hidden state, padded to the longest sequence: {@code [batch][maxLen][hidden]}. */
    public float[][][] hidden(List<int[]> batch) {
        return run(batch, (fb, len, d) -> {
            float[][][] h = new float[batch.size()][len][d];
            for (float[][] a : h) {
                for (float[] b : a) {
                    fb.get(b);
                }
            }
            return h;
        });
    }

    private interface Output<T> {
        T read(FloatBuffer fb, int len, int d);
    }

    private <T> T run(List<int[]> batch, Output<T> output) {
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
            return output.read(out.getFloatBuffer(), (int) shape[1], (int) shape[2]);
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

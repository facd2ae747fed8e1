package dev.lowbit.models.bert;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.Map;

/**
 * The peer: ONNX Runtime on an ONNX file from the class path, the batch padded to its longest sequence with an
 * attention mask, then the same mean pooling and normalization as lowbit's encoder.
 */
final class OrtEncoder implements SentenceEncoder {
    private final String name;
    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession session;

    OrtEncoder(String name, String resource, int threads) {
        this.name = name;
        try (InputStream in = OrtEncoder.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException(resource + " is not on the class path");
            }
            OrtSession.SessionOptions o = new OrtSession.SessionOptions();
            o.setIntraOpNumThreads(threads);
            o.setInterOpNumThreads(1);
            o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            session = env.createSession(in.readAllBytes(), o);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (OrtException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public String name() {
        return name;
    }

    /** The last hidden state, padded: {@code [batch][maxLen][hidden]}. */
    float[][][] hidden(List<int[]> batch) {
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
            FloatBuffer fb = out.getFloatBuffer();
            float[][][] h = new float[(int) shape[0]][(int) shape[1]][(int) shape[2]];
            for (float[][] a : h) {
                for (float[] b : a) {
                    fb.get(b);
                }
            }
            return h;
        } catch (OrtException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public float[][] encode(List<int[]> batch) {
        float[][][] h = hidden(batch);
        float[][] out = new float[batch.size()][];
        for (int s = 0; s < batch.size(); s++) {
            int len = batch.get(s).length;
            int d = h[s][0].length;
            float[] flat = new float[len * d];
            for (int t = 0; t < len; t++) {
                System.arraycopy(h[s][t], 0, flat, t * d, d);
            }
            out[s] = BertEncoder.meanPoolNormalized(flat, 0, len, d);
        }
        return out;
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

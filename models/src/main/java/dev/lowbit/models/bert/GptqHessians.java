package dev.lowbit.models.bert;

import java.util.Arrays;
import java.util.List;

/**
 * The Hessians that GPTQ ({@link BertQuantizer}) is calibrated with: for each linear layer, the Gram matrix of its
 * input rows over the calibration sequences of a {@link GptqCalibration}, summed while an encoder runs over them in
 * batches of 32 ({@code H = (2/n)·Σ x xᵀ} over the {@code n} tokens). The observation is a wrapper around the
 * encoder's linear layers, so the normal forward pass has no hook.
 */
final class GptqHessians {
    private GptqHessians() {
    }

    /** The linear layers of an encoder layer, in forward order: query-key-value, attention output, FFN up, FFN down. */
    static final int LINEARS = 4;

    /**
     * Runs {@code encoder} over the sequences of {@code calibration} with every linear layer of layer {@code observe}
     * (-1: of all layers) wrapped by an observer, and returns {@code H[layer][linear]} ({@code in x in}, row-major;
     * null for a layer not observed). The encoder's linear layers are restored after.
     */
    static double[][][] collect(GptqCalibration calibration, BertEncoder encoder, int observe) {
        List<int[]> sequences = calibration.sequences();
        int layers = encoder.weights().layers().length;
        double[][][] h = new double[layers][][];
        Observed[][] obs = new Observed[layers][LINEARS];
        for (int l = 0; l < layers; l++) {
            if (observe >= 0 && l != observe) {
                continue;
            }
            for (int k = 0; k < LINEARS; k++) {
                Linear inner = encoder.linear(l, k);
                obs[l][k] = new Observed(inner, encoder);
                encoder.replaceLinear(l, k, obs[l][k]);
            }
        }
        try {
            for (int b = 0; b < sequences.size(); b += 32) {
                encoder.lastHiddenState(sequences.subList(b, Math.min(sequences.size(), b + 32)));
            }
        } finally {
            for (int l = 0; l < layers; l++) {
                if (obs[l][0] == null) {
                    continue;
                }
                h[l] = new double[LINEARS][];
                for (int k = 0; k < LINEARS; k++) {
                    encoder.replaceLinear(l, k, obs[l][k].inner);
                    h[l][k] = obs[l][k].hessian();
                }
            }
        }
        return h;
    }

    /** A linear layer that sums the Gram matrix of its inputs before it runs. */
    static final class Observed implements Linear {
        final Linear inner;
        private final BertEncoder encoder;
        private final int in;
        private final double[] gram;
        private long n;

        Observed(Linear inner, BertEncoder encoder) {
            this.inner = inner;
            this.encoder = encoder;
            this.in = inner.in();
            this.gram = new double[in * in];
        }

        @Override
        public int in() {
            return in;
        }

        @Override
        public int out() {
            return inner.out();
        }

        @Override
        public void apply(float[] x, int tokens, float[] y) {
            // X^T X on the fp32 kernels: X [tokens, in] as the "weight" of a linear layer of width in, applied to
            // X^T [in, tokens]. Float sums over one batch's tokens, added to the double total.
            float[] xt = new float[in * tokens];
            for (int t = 0; t < tokens; t++) {
                for (int c = 0; c < in; c++) {
                    xt[c * tokens + t] = x[t * in + c];
                }
            }
            float[] g = new float[in * in];
            new Fp32Linear(tokens, in, Arrays.copyOf(x, tokens * in), new float[in], encoder.workers()).apply(xt, in, g);
            for (int i = 0; i < g.length; i++) {
                gram[i] += g[i];
            }
            n += tokens;
            inner.apply(x, tokens, y);
        }

        /** {@code (2/n)·Σ x xᵀ}, symmetrized (the two halves come from the same products in different tiles). */
        double[] hessian() {
            double[] h = new double[in * in];
            double f = n == 0 ? 0 : 2.0 / n;
            for (int i = 0; i < in; i++) {
                for (int j = i; j < in; j++) {
                    double v = f * gram[i * in + j];
                    h[i * in + j] = v;
                    h[j * in + i] = v;
                }
            }
            return h;
        }

        @Override
        public String describe() {
            return inner.describe();
        }
    }
}

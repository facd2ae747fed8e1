package dev.lowbit.models.bert;

import dev.lowbit.kernels.Fp32Kernels;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.ThreadPool;

import java.lang.foreign.Arena;
import java.util.List;

/**
 * The forward pass of a BERT sentence encoder (all-MiniLM-L6-v2): embeddings, then per layer self-attention and
 * a GELU feed-forward block, each closed by a residual sum and LayerNorm, then mean pooling over the tokens and L2
 * normalization. A batch is run as one matrix of all its tokens (no padding): the linear layers see every token
 * of the batch at once, attention runs per sentence.
 *
 * <p>The fp32 encoder reproduces the ONNX model. The quantized one ({@code BertQuantizer}) runs every linear layer on
 * lowbit's integer kernels (int8 activations quantized per token at each call, int32 sums) with weights quantized by
 * a method of {@code algorithms}; the rest runs in fp32, or in integers with {@link BertQuantization#integerOnly}.
 *
 * <p>An encoder owns {@code threads - 1} worker threads, which the calling thread joins ({@link ThreadPool.Workers}):
 * they quantize its weights and run the forward pass. It owns them (and, when quantized, the memory of its weights)
 * until it is closed.
 */
public final class BertEncoder implements AutoCloseable {
    private final BertWeights w;
    private final Linear[] qkv;
    private final Linear[] attentionOutput;
    private final Linear[] intermediate;
    private final Linear[] output;
    /** Where the quantizers and the forward pass run: the caller and {@code threads - 1} spinning workers. */
    private final ThreadPool.Workers workers;
    private final int threads;
    private final Arena arena;
    private final String description;
    private final IntegerOps integer;
    private final Fp32Kernels f = KernelProvider.fp32();

    /**
     * Builds the linear layers of a quantized encoder on its threads ({@link #workers()}), setting
     * each with {@link #replaceLinear}, their weights in the encoder's {@code arena}.
     */
    interface Linears {
        void build(BertEncoder encoder, Arena arena);
    }

    /**
     * The fp32 linear layers when {@code linears} is null, else those it builds; {@code arena} (null for none) holds
     * their weights and is closed with the encoder, {@code label} (null for none) heads the description.
     */
    private BertEncoder(BertWeights w, int threads, Arena arena, boolean integerOnly, String label, Linears linears) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        }
        this.w = w;
        this.threads = threads;
        this.workers = new ThreadPool.Workers(threads);
        this.arena = arena;
        int layers = w.layers().length;
        qkv = new Linear[layers];
        attentionOutput = new Linear[layers];
        intermediate = new Linear[layers];
        output = new Linear[layers];
        if (linears == null) {
            for (int l = 0; l < layers; l++) {
                BertWeights.Layer L = w.layers()[l];
                BertWeights.Dense fused = fuse(L.query(), L.key(), L.value());
                qkv[l] = fp32(fused);
                attentionOutput[l] = fp32(L.attentionOutput());
                intermediate[l] = fp32(L.intermediate());
                output[l] = fp32(L.output());
            }
        } else {
            try {
                linears.build(this, arena);
            } catch (RuntimeException | Error e) {
                close();
                throw e;
            }
        }
        integer = integerOnly ? new IntegerOps() : null;
        description = label == null ? qkv[0].describe() : label + " (" + qkv[0].describe() + ")";
    }

    /** The fp32 forward pass. */
    public static BertEncoder fp32(BertWeights weights, int threads) {
        return new BertEncoder(weights, threads, null, false, null, null);
    }

    /**
     * A forward pass whose linear layers {@code linears} builds, on the encoder's threads; {@code arena} holds their
     * weights and is closed with the encoder. {@code integerOnly}: GELU, softmax and LayerNorm in integers.
     */
    static BertEncoder withLinears(BertWeights weights, int threads, Arena arena, boolean integerOnly, String label,
                                   Linears linears) {
        return new BertEncoder(weights, threads, java.util.Objects.requireNonNull(arena, "arena"), integerOnly, label,
                java.util.Objects.requireNonNull(linears, "linears"));
    }

    /** What runs the linear layers. */
    public String description() {
        return description;
    }

    public int threads() {
        return threads;
    }

    public BertWeights weights() {
        return w;
    }

    private Linear fp32(BertWeights.Dense d) {
        return new Fp32Linear(d.in(), d.out(), d.weight(), d.bias(), workers);
    }

    /** Query, key and value as one layer of three times the width: the output columns side by side. */
    static BertWeights.Dense fuse(BertWeights.Dense... ds) {
        int in = ds[0].in();
        int out = 0;
        for (BertWeights.Dense d : ds) {
            out += d.out();
        }
        float[] wt = new float[in * out];
        float[] b = new float[out];
        int at = 0;
        for (BertWeights.Dense d : ds) {
            for (int c = 0; c < in; c++) {
                System.arraycopy(d.weight(), c * d.out(), wt, c * out + at, d.out());
            }
            System.arraycopy(d.bias(), 0, b, at, d.out());
            at += d.out();
        }
        return new BertWeights.Dense(ds[0].name() + "+qkv", in, out, wt, b);
    }

    /** Linear layer {@code kind} (0 query-key-value, 1 attention output, 2 FFN up, 3 FFN down) of a layer. */
    Linear linear(int layer, int kind) {
        return switch (kind) {
            case 0 -> qkv[layer];
            case 1 -> attentionOutput[layer];
            case 2 -> intermediate[layer];
            case 3 -> output[layer];
            default -> throw new IllegalArgumentException("kind must be 0 to 3, got " + kind);
        };
    }

    /** Sets or replaces a linear layer ({@link #linear}'s numbering) of this encoder. */
    void replaceLinear(int layer, int kind, Linear linear) {
        switch (kind) {
            case 0 -> qkv[layer] = linear;
            case 1 -> attentionOutput[layer] = linear;
            case 2 -> intermediate[layer] = linear;
            case 3 -> output[layer] = linear;
            default -> throw new IllegalArgumentException("kind must be 0 to 3, got " + kind);
        }
    }

    /** Where the linear layers' weights are quantized while the encoder is built, and the forward pass runs. */
    ThreadPool.Workers workers() {
        return workers;
    }

    /**
     * The L2-normalized mean-pooled embedding of each sequence.
     *
     * @param batch token ids, each sequence starting with [CLS] and ending with [SEP] as the tokenizer makes them
     */
    public float[][] encode(List<int[]> batch) {
        int[] starts = starts(batch);
        float[] h = lastHiddenState(batch);
        int d = w.hidden();
        float[][] out = new float[batch.size()][];
        for (int s = 0; s < batch.size(); s++) {
            out[s] = meanPoolNormalized(h, starts[s], starts[s + 1], d);
        }
        return out;
    }

    /** Mean over tokens {@code [t0, t1)} of {@code h} (width {@code d}), scaled to unit L2 norm; sums in double. */
    public static float[] meanPoolNormalized(float[] h, int t0, int t1, int d) {
        double[] sum = new double[d];
        for (int t = t0; t < t1; t++) {
            for (int j = 0; j < d; j++) {
                sum[j] += h[t * d + j];
            }
        }
        double norm = 0;
        for (int j = 0; j < d; j++) {
            sum[j] /= (t1 - t0);
            norm += sum[j] * sum[j];
        }
        norm = Math.max(Math.sqrt(norm), 1e-12);
        float[] e = new float[d];
        for (int j = 0; j < d; j++) {
            e[j] = (float) (sum[j] / norm);
        }
        return e;
    }

    private int[] starts(List<int[]> batch) {
        int[] starts = new int[batch.size() + 1];
        for (int s = 0; s < batch.size(); s++) {
            int[] ids = batch.get(s);
            if (ids.length == 0 || ids.length > w.maxPositions()) {
                throw new IllegalArgumentException("sequence " + s + " has " + ids.length + " tokens; the model takes 1 to "
                        + w.maxPositions());
            }
            for (int id : ids) {
                if (id < 0 || id >= w.vocab()) {
                    throw new IllegalArgumentException("sequence " + s + " has token id " + id + ", outside the vocabulary of "
                            + w.vocab());
                }
            }
            starts[s + 1] = starts[s] + ids.length;
        }
        return starts;
    }

    /** The last hidden state: every token of every sequence, one after another, {@code hidden} values each. */
    public float[] lastHiddenState(List<int[]> batch) {
        int[] starts = starts(batch);
        int n = starts[batch.size()];
        int d = w.hidden();
        float[] x = new float[n * d];
        forTokens(n, 32, (t0, t1) -> {
            for (int s = 0; s < batch.size(); s++) {
                int[] ids = batch.get(s);
                for (int p = 0; p < ids.length; p++) {
                    int t = starts[s] + p;
                    if (t < t0 || t >= t1) {
                        continue;
                    }
                    for (int j = 0; j < d; j++) {
                        x[t * d + j] = w.wordEmbeddings()[ids[p] * d + j] + w.tokenTypeEmbeddings()[j]
                                + w.positionEmbeddings()[p * d + j];
                    }
                }
            }
            layerNorm(x, null, x, t0, t1, w.embeddingNormWeight(), w.embeddingNormBias());
        });
        float[] qkvOut = new float[n * 3 * d];
        float[] ctx = new float[n * d];
        float[] proj = new float[n * d];
        float[] ffn = new float[n * w.ffn()];
        for (int l = 0; l < w.layers().length; l++) {
            BertWeights.Layer L = w.layers()[l];
            qkv[l].apply(x, n, qkvOut);
            attention(qkvOut, ctx, starts);
            attentionOutput[l].apply(ctx, n, proj);
            forTokens(n, 16, (t0, t1) -> layerNorm(proj, x, x, t0, t1, L.attentionNormWeight(), L.attentionNormBias()));
            intermediate[l].apply(x, n, ffn);
            forTokens(n, 8, (t0, t1) -> {
                if (integer != null) {
                    // One scale per token, as the activations of the matmuls have.
                    for (int t = t0; t < t1; t++) {
                        integer.gelu(ffn, t * w.ffn(), (t + 1) * w.ffn());
                    }
                } else {
                    f.gelu(ffn, t0 * w.ffn(), t1 * w.ffn());
                }
            });
            output[l].apply(ffn, n, proj);
            forTokens(n, 16, (t0, t1) -> layerNorm(proj, x, x, t0, t1, L.outputNormWeight(), L.outputNormBias()));
        }
        return x;
    }

    /** {@code out = LayerNorm(a + residual)} for tokens {@code [t0, t1)}; {@code residual} may be null. */
    private void layerNorm(float[] a, float[] residual, float[] out, int t0, int t1, float[] gamma, float[] beta) {
        int d = w.hidden();
        float[] row = new float[d];
        for (int t = t0; t < t1; t++) {
            int o = t * d;
            if (residual == null) {
                System.arraycopy(a, o, row, 0, d);
            } else {
                f.add(a, o, residual, o, row, d);
            }
            if (integer != null) {
                integer.layerNorm(row, gamma, beta, w.eps());
                System.arraycopy(row, 0, out, o, d);
                continue;
            }
            f.layerNorm(row, out, o, gamma, beta, w.eps());
        }
    }

    /**
     * Scaled dot-product attention of every head of every sequence; {@code qkv} holds q, k, v side by side. The
     * (sequence, head) jobs are split into up to 8 pieces per thread, claimed by the threads as they come free.
     */
    private void attention(float[] qkv, float[] ctx, int[] starts) {
        int seqs = starts.length - 1;
        int jobs = seqs * w.heads();
        int pieces = threads == 1 ? 1 : Math.min(jobs, 8 * threads);
        workers.run(pieces, p -> attention(qkv, ctx, starts, (int) ((long) jobs * p / pieces),
                (int) ((long) jobs * (p + 1) / pieces)));
    }

    /**
     * Jobs {@code [job0, job1)}, each one head of one sequence as two small matrix products: the scores
     * {@code Q K^T / sqrt(hd)} of all its queries at once ({@link Fp32Kernels#scores}), softmax per row, then
     * {@code P V} ({@link Fp32Kernels#weightedSum}).
     */
    private void attention(float[] qkv, float[] ctx, int[] starts, int job0, int job1) {
        int d = w.hidden();
        int hd = w.headDim();
        int stride = 3 * d;
        float scale = (float) Math.sqrt(hd);
        int longest = 0;
        for (int job = job0; job < job1; job++) {
            int s = job / w.heads();
            longest = Math.max(longest, starts[s + 1] - starts[s]);
        }
        int block = f.attentionBlock();
        int ldp = (longest + block - 1) / block * block;
        float[] kt = new float[hd * ldp];
        float[] p = new float[longest * ldp];
        for (int job = job0; job < job1; job++) {
            int s = job / w.heads();
            int h = job % w.heads();
            int t0 = starts[s];
            int len = starts[s + 1] - t0;
            f.scores(qkv, stride, t0, h * hd, d + h * hd, len, hd, scale, kt, p, ldp);
            for (int i = 0; i < len; i++) {
                if (integer != null) {
                    integer.softmax(p, i * ldp, i * ldp + len);
                } else {
                    f.softmax(p, i * ldp, i * ldp + len);
                }
            }
            f.weightedSum(p, ldp, len, qkv, stride, t0, 2 * d + h * hd, hd, ctx, d, h * hd);
        }
    }

    private interface Range {
        void run(int t0, int t1);
    }

    /**
     * Runs {@code body} over token ranges, split over the threads when each gets at least {@code minTokens}
     * tokens (below that the piece is shorter than the hand-off).
     */
    private void forTokens(int n, int minTokens, Range body) {
        int pieces = Math.min(threads, n / minTokens);
        if (pieces <= 1) {
            body.run(0, n);
            return;
        }
        workers.run(pieces, p -> body.run(n * p / pieces, n * (p + 1) / pieces));
    }

    @Override
    public void close() {
        workers.close();
        if (arena != null) {
            arena.close();
        }
    }
}

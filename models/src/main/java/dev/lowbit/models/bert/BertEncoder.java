package dev.lowbit.models.bert;

import dev.lowbit.algorithms.Gptq;
import dev.lowbit.algorithms.QuantResult;
import dev.lowbit.algorithms.QuantSpec;
import dev.lowbit.algorithms.Quantizer;
import dev.lowbit.algorithms.MethodRegistry;
import dev.lowbit.format.InterleavedTensor;
import dev.lowbit.format.Int8RowTensor;
import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.Fp32Kernels;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.MatmulOps;
import dev.lowbit.kernels.ThreadPool;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The forward pass of a BERT sentence encoder (all-MiniLM-L6-v2): embeddings, then per layer self-attention and
 * a GELU feed-forward block, each closed by a residual sum and LayerNorm, then mean pooling over the tokens and L2
 * normalization. A batch is run as one matrix of all its tokens (no padding): the linear layers see every token
 * of the batch at once, attention runs per sentence.
 *
 * <p>The fp32 encoder reproduces the ONNX model. The quantized one runs every linear layer on lowbit's integer
 * kernels (int8 activations quantized per token at each call, int32 sums) with weights quantized by a method of
 * {@code algorithms}; the rest runs in fp32, or in integers with {@link BertQuantization#integerOnly}.
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

    private BertEncoder(BertWeights w, int threads, BertQuantization quant, GptqCalibration calibration) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        }
        this.w = w;
        this.threads = threads;
        this.workers = new ThreadPool.Workers(threads);
        int layers = w.layers().length;
        qkv = new Linear[layers];
        attentionOutput = new Linear[layers];
        intermediate = new Linear[layers];
        output = new Linear[layers];
        if (quant == null) {
            arena = null;
            integer = null;
            for (int l = 0; l < layers; l++) {
                BertWeights.Layer L = w.layers()[l];
                BertWeights.Dense fused = fuse(L.query(), L.key(), L.value());
                qkv[l] = fp32(fused);
                attentionOutput[l] = fp32(L.attentionOutput());
                intermediate[l] = fp32(L.intermediate());
                output[l] = fp32(L.output());
            }
            description = qkv[0].describe();
        } else {
            arena = Arena.ofShared();
            MatmulOps ops = new MatmulOps(KernelProvider.matmul(), KernelProvider.kernels(), workers);
            QuantSpec spec = new QuantSpec(quant.bits(), quant.groupSize(), ScaleType.F16);
            if (quant.method().equals(BertQuantization.GPTQ)) {
                gptq(quant, spec, ops, calibration != null ? calibration : GptqCalibration.defaults());
            } else {
                Quantizer q = MethodRegistry.get(quant.method()).quantizer(spec, workers);
                for (int l = 0; l < layers; l++) {
                    BertWeights.Layer L = w.layers()[l];
                    qkv[l] = quantized(fuse(L.query(), L.key(), L.value()), q, ops, quant);
                    attentionOutput[l] = quantized(L.attentionOutput(), q, ops, quant);
                    intermediate[l] = quantized(L.intermediate(), q, ops, quant);
                    output[l] = quantized(L.output(), q, ops, quant);
                }
            }
            integer = quant.integerOnly() ? new IntegerOps() : null;
            description = quant + " (" + qkv[0].describe() + ")";
        }
    }

    /** The fp32 forward pass. */
    public static BertEncoder fp32(BertWeights weights, int threads) {
        return new BertEncoder(weights, threads, null, null);
    }

    /**
     * The quantized forward pass: the 4 linear layers of each encoder layer (query, key and value fused into one)
     * quantized by {@code quant.method()}.
     *
     * @throws IllegalArgumentException if the method makes a tensor that the integer path does not take (NF4 and
     *                                  NUPES keep codebooks or power-mapped codes)
     */
    public static BertEncoder quantized(BertWeights weights, BertQuantization quant, int threads) {
        return new BertEncoder(weights, threads, java.util.Objects.requireNonNull(quant, "quant"), null);
    }

    /**
     * The quantized forward pass, with {@code gptq} calibrated on {@code calibration} (the 3-argument form uses
     * {@link GptqCalibration#defaults()}); other methods ignore it.
     */
    public static BertEncoder quantized(BertWeights weights, BertQuantization quant, int threads,
                                        GptqCalibration calibration) {
        return new BertEncoder(weights, threads, java.util.Objects.requireNonNull(quant, "quant"),
                java.util.Objects.requireNonNull(calibration, "calibration"));
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
    private static BertWeights.Dense fuse(BertWeights.Dense... ds) {
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

    /** ONNX keeps {@code [in, out]}; lowbit quantizes rows of {@code [out, in]}. */
    private static float[] rows(BertWeights.Dense d) {
        float[] rows = new float[d.in() * d.out()];
        for (int c = 0; c < d.in(); c++) {
            for (int j = 0; j < d.out(); j++) {
                rows[j * d.in() + c] = d.weight()[c * d.out() + j];
            }
        }
        return rows;
    }

    private Linear quantized(BertWeights.Dense d, Quantizer q, MatmulOps ops, BertQuantization quant) {
        return linear(q.quantize(rows(d), d.out(), d.in(), arena), d, ops, quant);
    }

    /**
     * GPTQ: Hessians of every linear layer's inputs from the fp32 encoder run over the calibration text (or, when
     * sequential, layer by layer from the encoder whose earlier layers are already quantized), then each weight
     * quantized by {@link Gptq} into the grouped format, run like any other method's.
     */
    private void gptq(BertQuantization quant, QuantSpec spec, MatmulOps ops, GptqCalibration cal) {
        int layers = w.layers().length;
        Linear[][] all = {qkv, attentionOutput, intermediate, output};
        try (BertEncoder calib = fp32(w, threads)) {
            double[][][] h = cal.sequential() ? null : cal.hessians(calib, -1);
            for (int l = 0; l < layers; l++) {
                double[][] hl = cal.sequential() ? cal.hessians(calib, l)[l] : h[l];
                BertWeights.Layer L = w.layers()[l];
                BertWeights.Dense[] dense = {fuse(L.query(), L.key(), L.value()), L.attentionOutput(), L.intermediate(),
                        L.output()};
                for (int k = 0; k < GptqCalibration.LINEARS; k++) {
                    BertWeights.Dense d = dense[k];
                    QuantResult r = Gptq.quantize(rows(d), d.out(), d.in(), hl[k], spec, cal.options(), workers, arena);
                    all[k][l] = linear(r, d, ops, quant);
                    if (cal.sequential()) {
                        calib.replaceLinear(l, k, all[k][l]);
                    }
                }
                if (h != null) {
                    h[l] = null;
                }
            }
        }
    }

    /** Calibration: linear layer {@code kind} (0 query-key-value, 1 attention output, 2 FFN up, 3 FFN down) of a layer. */
    Linear linear(int layer, int kind) {
        return switch (kind) {
            case 0 -> qkv[layer];
            case 1 -> attentionOutput[layer];
            case 2 -> intermediate[layer];
            case 3 -> output[layer];
            default -> throw new IllegalArgumentException("kind must be 0 to 3, got " + kind);
        };
    }

    /** Calibration: replaces a linear layer ({@link #linear}'s numbering) of this encoder. */
    void replaceLinear(int layer, int kind, Linear linear) {
        switch (kind) {
            case 0 -> qkv[layer] = linear;
            case 1 -> attentionOutput[layer] = linear;
            case 2 -> intermediate[layer] = linear;
            case 3 -> output[layer] = linear;
            default -> throw new IllegalArgumentException("kind must be 0 to 3, got " + kind);
        }
    }

    /** Calibration: an fp32 product with {@code weight [in, out]} on this encoder's kernels and threads. */
    Linear fp32Gemm(int in, int out, float[] weight) {
        return new Fp32Linear(in, out, weight, new float[out], workers);
    }

    private Linear linear(QuantResult r, BertWeights.Dense d, MatmulOps ops, BertQuantization quant) {
        QuantizedTensor t = r.tensor();
        if (!r.exponentsInTensor() && r.exponents() != null) {
            throw new IllegalArgumentException(quant.method() + " keeps power exponents beside its codes, which no "
                    + "integer kernel applies; use rtn, mse, hqq or easyquant");
        }
        if (t.format().hasLevels()) {
            throw new IllegalArgumentException(quant.method() + " makes a 4-bit codebook (" + t.format() + "), whose "
                    + "levels are not integers: no integer kernel takes it; use rtn, mse, hqq or easyquant");
        }
        if (rowScaled(t) && quant.activations() == ActivationFormat.PER_TOKEN_INT8) {
            return new QuantizedLinear(t, Int8RowTensor.of(t, arena), d.bias(), ops, quant.activations());
        }
        QuantizedTensor ggml = asGgml(t);
        InterleavedTensor wi = ggml == null ? null : InterleavedTensor.of(ggml, arena);
        return new QuantizedLinear(ggml != null ? ggml : t, wi, d.bias(), ops, quant.activations());
    }

    /**
     * Symmetric 8-bit codes with one scale per row and no outliers: the values of {@link Int8RowTensor}, whose kernel
     * sums each row in int32 and scales once (the fastest integer path, on VNNI).
     */
    private static boolean rowScaled(QuantizedTensor t) {
        QuantFormat f = t.format();
        return f.kind() == QuantFormat.Kind.GROUPED && f.bits() == 8 && f.symmetric() && f.groupsPerRow(t.cols()) == 1
                && t.outliers() == null && t.cols() <= Int8RowTensor.MAX_COLS;
    }

    /**
     * The same values as Q8_0 or Q4_0 when {@code t} is grouped, symmetric, 8 or 4 bits, in groups of 32 with fp16
     * scales: those are ggml's blocks with the codes re-based ({@code q - 128} as int8, or the nibble {@code q}
     * itself, since Q4_0 also subtracts 8). Else null.
     */
    private QuantizedTensor asGgml(QuantizedTensor t) {
        QuantFormat f = t.format();
        if (f.kind() != QuantFormat.Kind.GROUPED || !f.symmetric() || f.groupSize() != 32
                || f.scaleType() != ScaleType.F16 || (f.bits() != 8 && f.bits() != 4) || t.cols() % 32 != 0) {
            return null;
        }
        QuantFormat g = f.bits() == 8 ? QuantFormat.Q8_0 : QuantFormat.Q4_0;
        int rows = t.rows();
        int cols = t.cols();
        int nb = cols / 32;
        MemorySegment out = arena.allocate(g.rowBytes(cols) * rows, 64);
        MemorySegment data = t.data();
        MemorySegment scales = t.scales();
        long rowIn = f.rowBytes(cols);
        for (int r = 0; r < rows; r++) {
            for (int b = 0; b < nb; b++) {
                long o = (long) (r * nb + b) * g.blockBytes();
                out.set(Layouts.F16, o, scales.getAtIndex(Layouts.F16, (long) r * nb + b));
                if (f.bits() == 8) {
                    for (int j = 0; j < 32; j++) {
                        int q = Byte.toUnsignedInt(data.get(Layouts.U8, r * rowIn + b * 32L + j));
                        out.set(Layouts.U8, o + 2 + j, (byte) (q - 128));
                    }
                } else {
                    for (int j = 0; j < 16; j++) {
                        int lo = nibble(data, r * rowIn, b * 32 + j);
                        int hi = nibble(data, r * rowIn, b * 32 + j + 16);
                        out.set(Layouts.U8, o + 2 + j, (byte) (lo | hi << 4));
                    }
                }
            }
        }
        return QuantizedTensor.of(g, rows, cols, out, null, null, null).withOutliers(t.outliers());
    }

    private static int nibble(MemorySegment data, long row, int i) {
        int b = Byte.toUnsignedInt(data.get(Layouts.U8, row + i / 2));
        return (i & 1) == 0 ? b & 15 : b >>> 4;
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

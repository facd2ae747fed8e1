package dev.lowbit.kernels;

/**
 * The fp32 arithmetic of a transformer's forward pass: the dense matmul over packed weights, GELU, softmax,
 * LayerNorm and attention; and the fp32 steps between the integer GEMMs of a quantized CNN: the folded batch norm
 * with ReLU, the residual add with ReLU, and the next layer's activation codes. Those four are exact: every
 * implementation gives the scalar one's bits. {@link KernelProvider#fp32()} is the Vector API implementation when it runs, else the
 * scalar one ({@link KernelProvider#scalarFp32()}), which defines the results; the vector one differs by rounding
 * only (sums in another order, its own {@code exp}).
 */
public interface Fp32Kernels {

    /** A short name for logs, e.g. {@code scalar} or {@code vector-512}. */
    String name();

    /** The width of a weight panel: columns that {@link #pack} stores together, a multiple of every tile width. */
    int panel();

    /**
     * Repacks a {@code [k, m]} weight ({@code m} a multiple of {@link #panel()}) into panels of {@code P = panel()}
     * columns, each {@code [k, P]} and contiguous, so that a tile streams its weights in order: element
     * {@code (c, j)} goes to {@code ((j / P) * k + c) * P + j % P}.
     */
    float[] pack(float[] w, int k, int m);

    /**
     * {@code y[t*m + j] = bias[j] + sum_c x[t*k + c] * W[c][j]} for tokens {@code [t0, t1)} and columns
     * {@code [j0, j1)} (multiples of the panel width), with {@code W} packed by {@link #pack}.
     */
    void gemm(float[] x, int k, float[] packed, int m, float[] bias, float[] y, int t0, int t1, int j0, int j1);

    /** GELU, {@code x/2 (1 + erf(x/sqrt 2))}, in place on {@code a[from, to)}. */
    void gelu(float[] a, int from, int to);

    /** Softmax in place on {@code a[from, to)}: {@code exp(a - max) / sum}. */
    void softmax(float[] a, int from, int to);

    /** {@code out[i] = a[ao + i] + b[bo + i]} for {@code i < n}. */
    void add(float[] a, int ao, float[] b, int bo, float[] out, int n);

    /**
     * A per-channel affine on rows of {@code m = scale.length} values, then ReLU when {@code relu}: for
     * {@code i} in {@code [from, to)} (a whole number of rows), {@code a[i] = a[i]·scale[j] + shift[j]} with
     * {@code j = (i − from) mod m}, a product and then a sum (no fused multiply-add), then {@code max(a[i], 0)}
     * ({@link Math#max}). Exact.
     */
    void scaleShift(float[] a, int from, int to, float[] scale, float[] shift, boolean relu);

    /** {@code a[i] = max(a[i] + b[i], 0)} ({@link Math#max}) for {@code i} in {@code [from, to)}. Exact. */
    void addRelu(float[] a, float[] b, int from, int to);

    /**
     * Unsigned activation codes by a step, as LSQ makes them: for {@code i} in {@code [from, to)},
     * {@code c = rint(min(max(x[i] / step, 0), levels))} (half to even; NaN gives 0), then
     * {@code codes[i] = (byte) (c − shift)} and, when {@code values} is not null, {@code values[i] = c·step}.
     * Exact.
     */
    void codesByStep(float[] x, int from, int to, float step, int levels, int shift, byte[] codes, float[] values);

    /**
     * Unsigned activation codes by a clip level, as PACT makes them: for {@code i} in {@code [from, to)},
     * {@code c = rint(min(max(x[i], 0), clip)·(levels/clip))} (half to even; NaN gives 0), then
     * {@code codes[i] = (byte) (c − shift)} and, when {@code values} is not null,
     * {@code values[i] = c·(clip/levels)}. Exact.
     */
    void codesByClip(float[] x, int from, int to, float clip, int levels, int shift, byte[] codes, float[] values);

    /**
     * LayerNorm of {@code row} into {@code out[o, o + row.length)}: {@code (x - mean) / sqrt(var + eps) * gamma + beta},
     * with the biased variance; {@code row} is left centered.
     */
    void layerNorm(float[] row, float[] out, int o, float[] gamma, float[] beta, float eps);

    /**
     * Keys per block of {@link #scores}: the stride {@code ldp} of its score rows and of its packed keys must be a
     * multiple of this.
     */
    int attentionBlock();

    /**
     * The scaled scores of one attention head of one sequence, {@code p[i * ldp + j] = (q_i . k_j) / scale} for
     * queries and keys {@code i, j < len}: token {@code t0 + i}'s query is {@code qkv[(t0 + i) * stride + qo ...]}
     * and its key {@code qkv[(t0 + i) * stride + ko ...]}, {@code hd} floats each. {@code ldp >= len} is a multiple
     * of {@link #attentionBlock()}; {@code kt} is scratch of {@code hd * ldp} floats at least (the keys transposed,
     * where a kernel packs them). Entries {@code j >= len} of a row may be written and are not scores.
     */
    void scores(float[] qkv, int stride, int t0, int qo, int ko, int len, int hd, float scale, float[] kt,
                float[] p, int ldp);

    /**
     * The context of one attention head of one sequence, {@code ctx_i = sum_j p[i * ldp + j] v_j} for {@code i < len}
     * (sums in key order), into {@code ctx[(t0 + i) * cs + co ...]}: token {@code t0 + j}'s value is
     * {@code qkv[(t0 + j) * stride + vo ...]}, {@code hd} floats.
     */
    void weightedSum(float[] p, int ldp, int len, float[] qkv, int stride, int t0, int vo, int hd, float[] ctx,
                     int cs, int co);
}

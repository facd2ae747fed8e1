package dev.lowbit.training;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.io.CorruptFileException;
import dev.lowbit.format.io.Json;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.Fp32Kernels;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.MatmulOps;
import dev.lowbit.kernels.PackedWeights;
import dev.lowbit.kernels.QuantizedActivations;
import dev.lowbit.kernels.ThreadPool;
import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.Safetensors;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/**
 * A network written by {@link IntegerExport}, run integer-only on lowbit's kernels: every convolution and dense
 * layer is one integer GEMM ({@link MatmulOps#gemm(PackedWeights, QuantizedActivations, float[])}) of the layer's
 * weight codes and its input's int8 codes, per-token activations ({@link ActivationFormat#PER_TOKEN_INT8}) whose
 * every token has the layer's input scale. It computes what the fake-quant forward pass
 * ({@code Network.forward(x, Mode.EVAL, quantizer)}) computes, up to the order of fp32 sums.
 *
 * <ul>
 *   <li>Codes. Layer 0's input is the image's bytes {@code p}, scale {@code 1/255}; every other layer's input is
 *       quantized by the float operations of training: LSQ {@code c = round(clamp(x/s_a, 0, 2^b−1))}, PACT
 *       {@code c = round((clip(x, 0, α)/α)·n)}, {@code n = 2^b−1}.</li>
 *   <li>Convolution: im2col of the codes (one token per output position of each image of the batch, columns in
 *       {@code [kh][kw][in]} order, each kernel row's taps one run of adjacent pixels, the border padded with the code of the value 0), then the GEMM.</li>
 *   <li>Weights: at load, every layer's codes become signed int8 rows with one scale each ({@code i8_rowx16},
 *       {@link IntegerWeights#int8Rows}), the layout of the integer dot-product kernels: LSQ's codes at every width and DoReFa's up
 *       to 7 bits; 8-bit DoReFa codes (0..255 about a zero point of 127.5) stay in their grouped format.</li>
 *   <li>8-bit unsigned input codes (the image, or a layer whose input is 8 bits wide) run 0..255 and do not fit
 *       int8: {@link #codesFrom} (the image) and {@link #quantize} (the others) store them shifted by −128, the
 *       convolution's border padding included, and {@link #gemm} adds back {@code 128·Σ_c w[r][c]} times the
 *       input scale to each output row, precomputed per row at load ({@link Op#shiftBack}): an exact integer
 *       identity, {@code Σ w·p = Σ w·(p−128) + 128·Σ w}.</li>
 * </ul>
 *
 * <p>What runs in fp32, on each GEMM's output (int32 sums times one fp32 scale, as the kernel gives them): the
 * folded batch norm ({@code y·a + b}) and ReLU, the dense layers' bias, the re-quantization of the next input
 * (by training's float operations, above), and in ResNet-20 two steps that run on dequantized values: the
 * residual add {@code relu(bn2(conv2) + shortcut)}, whose shortcut is the block's quantized input as training
 * dequantizes it ({@code c·s_a}, or {@code (c/n)·α}), in {@link #block}, and the global average pool over 7×7
 * before the last layer, in {@link #pool}.
 *
 * <p>The fp32 steps are {@link Fp32Kernels}' exact ones ({@code scaleShift}, {@code addRelu}, {@code codesByStep},
 * {@code codesByClip}), so the Vector API and the scalar code give the same bits. Work is split by images over a
 * {@link ThreadPool} of the given threads: each thread takes {@value #CHUNK} images at a time through the whole
 * network, its GEMMs included, which keeps a pass's buffers in the core's cache; no sum is split, so any thread
 * count gives the same bits. Instances are safe for one caller at a time; {@link #close()} frees the weights.
 */
public final class IntegerNetwork implements AutoCloseable {
    /** Images per batch inside {@link #logits}. */
    public static final int BATCH = 100;
    /**
     * Images per piece of work: each thread runs the whole network on {@value} images at a time, so that every
     * buffer of the pass stays in its core's cache (the largest, the first stage's im2col columns, is 125 KB an
     * image).
     */
    static final int CHUNK = 4;

    private static final int SIDE = FashionMnist.ROWS;

    /** One quantized layer as inference runs it. */
    private static final class Op {
        Layer layer;
        int weightBits;
        int storedBits;
        int inputBits;
        PackedWeights weights;
        /** LSQ's {@code s_a}, PACT's {@code α}, or 1/255 for the image. */
        float param;
        /** The scale of every token's codes. */
        float inputScale;
        /** {@code 2^inputBits − 1}. */
        int levels;
        /** 128 where the input codes are 8 bits wide and stored shifted, else 0. */
        int shift;
        /** {@code 128·Σ_c w[r][c]·inputScale} per output row, where {@code shift} is 128; else null. */
        float[] shiftBack;
        /** The folded batch norm (convolutions), or null. */
        float[] bnScale;
        float[] bnBias;
        /** The bias (dense layers), or null. */
        float[] bias;
    }

    private final Path file;
    private final Arena arena;
    private final String model;
    private final LayerQuantizer.Method method;
    private final String trainingMethod;
    private final String widths;
    private final List<Op> ops;
    private final ThreadPool pool;
    /** One per thread of {@link #pool}, each used by that thread alone. */
    private final Pass[] passes;

    /**
     * A thread's GEMM (on that thread) and its im2col buffers, one per length, reused from chunk to chunk: a fresh
     * one would be zeroed and brought into the cache each time.
     */
    private static final class Pass {
        final MatmulOps matmul = new MatmulOps(KernelProvider.matmul(), KernelProvider.kernels(),
                ThreadPool.callerThread());
        private final Map<Integer, byte[]> cols = new HashMap<>();

        /** A buffer of {@code n} bytes, holding what its last user left. */
        byte[] cols(int n) {
            return cols.computeIfAbsent(n, byte[]::new);
        }
    }
    private final Fp32Kernels fp32 = KernelProvider.fp32();
    private final int threads;
    private Trained trained;
    /** Sees every layer's input codes as they are made, on the threads that make them (tests); null when none. */
    CodeObserver observer;

    /**
     * A layer's input codes for images {@code [first, first + images)} of the call: {@code tokens·features} codes
     * {@code [token][feature]}, stored minus {@code shift}.
     */
    interface CodeObserver {
        void codes(int layer, int first, int images, byte[] codes, int shift, int tokens, int features);
    }

    private IntegerNetwork(Path file, Arena arena, String model, LayerQuantizer.Method method, String trainingMethod,
                           String widths, List<Op> ops, int threads) {
        this.file = file;
        this.arena = arena;
        this.model = model;
        this.method = method;
        this.trainingMethod = trainingMethod;
        this.widths = widths;
        this.ops = ops;
        this.threads = threads;
        this.pool = threads == 1 ? ThreadPool.callerThread() : new ThreadPool.Workers(threads);
        this.passes = new Pass[threads];
        for (int i = 0; i < threads; i++) {
            passes[i] = new Pass();
        }
    }

    // ------------------------------------------------------------------ loading

    /**
     * Loads {@code file} to run on {@code threads} threads (1 or more).
     *
     * @throws CorruptFileException if the file is damaged, cut off, or not an {@link IntegerExport} file
     */
    public static IntegerNetwork load(Path file, int threads) throws IOException {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        }
        Arena arena = Arena.ofShared();
        try {
            Safetensors.Contents c = Safetensors.read(file, arena);
            Map<String, String> meta = c.metadata();
            String format = meta.get(IntegerExport.KEY_FORMAT);
            if (!IntegerExport.FORMAT.equals(format)) {
                throw new CorruptFileException(file, format == null
                        ? "not an integer network export: no " + IntegerExport.KEY_FORMAT + " in its metadata"
                        : "an integer network export of another version: " + format + ", expected " + IntegerExport.FORMAT);
            }
            Map<String, float[]> f32 = checkedF32(file, c, meta);
            String model = require(file, meta, IntegerExport.KEY_MODEL);
            LayerQuantizer.Method method;
            try {
                method = LayerQuantizer.Method.parse(require(file, meta, IntegerExport.KEY_METHOD));
            } catch (IllegalArgumentException e) {
                throw new CorruptFileException(file, e.getMessage());
            }
            List<Layer> expected = layersOf(file, model);
            List<?> layerMeta;
            try {
                layerMeta = (List<?>) Json.parse(require(file, meta, IntegerExport.KEY_LAYERS));
            } catch (java.text.ParseException | ClassCastException e) {
                throw new CorruptFileException(file, "its " + IntegerExport.KEY_LAYERS + " metadata is not a JSON list");
            }
            if (layerMeta.size() != expected.size()) {
                throw new CorruptFileException(file, "it describes " + layerMeta.size() + " layers, a " + model + " has "
                        + expected.size());
            }
            float[] params = f32.get(IntegerExport.INPUT_PARAMS);
            if (params == null || params.length != expected.size()) {
                throw new CorruptFileException(file, "tensor '" + IntegerExport.INPUT_PARAMS + "' is missing or does not"
                        + " hold one value per layer");
            }
            List<Op> ops = new ArrayList<>();
            for (Layer l : expected) {
                ops.add(op(file, c, f32, method, l, (Map<?, ?>) layerMeta.get(l.index()), params[l.index()], arena));
            }
            IntegerNetwork net = new IntegerNetwork(file, arena, model, method,
                    meta.getOrDefault(IntegerExport.KEY_TRAINING, ""), meta.getOrDefault(IntegerExport.KEY_WIDTHS, ""),
                    List.copyOf(ops), threads);
            net.trained = trained(file, meta);
            return net;
        } catch (IOException | RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    private static String require(Path file, Map<String, String> meta, String key) throws CorruptFileException {
        String v = meta.get(key);
        if (v == null) {
            throw new CorruptFileException(file, "no " + key + " in its metadata");
        }
        return v;
    }

    /** Every F32 tensor, checked against its recorded CRC-32C. */
    private static Map<String, float[]> checkedF32(Path file, Safetensors.Contents c, Map<String, String> meta)
            throws CorruptFileException {
        Map<?, ?> crcs;
        try {
            crcs = (Map<?, ?>) Json.parse(require(file, meta, IntegerExport.KEY_CRC));
        } catch (java.text.ParseException | ClassCastException e) {
            throw new CorruptFileException(file, "its " + IntegerExport.KEY_CRC + " metadata is not a JSON object");
        }
        Map<String, float[]> out = new java.util.LinkedHashMap<>();
        for (Map.Entry<String, DenseTensor> e : c.dense().entrySet()) {
            if (!e.getValue().dtype().name().equals("F32")) {
                throw new CorruptFileException(file, "tensor '" + e.getKey() + "' is " + e.getValue().dtype().name()
                        + ", expected F32");
            }
            float[] v = e.getValue().toFloats();
            Object want = crcs.get(e.getKey());
            if (want == null || !want.equals(Checkpoint.crc(v))) {
                throw new CorruptFileException(file, "tensor '" + e.getKey() + "' fails its checksum: the file is damaged");
            }
            out.put(e.getKey(), v);
        }
        if (crcs.size() != out.size()) {
            throw new CorruptFileException(file, "the checksums name " + crcs.size() + " tensors but the file holds "
                    + out.size());
        }
        return out;
    }

    /** The quantized layers of {@code model}, as {@link Network#create} builds them. */
    static List<Layer> layersOf(Path file, String model) throws CorruptFileException {
        List<Layer> layers = new ArrayList<>();
        switch (model) {
            case "mlp" -> {
                layers.add(Layer.dense(0, "fc1", FashionMnist.PIXELS, Mlp.HIDDEN));
                layers.add(Layer.dense(1, "fc2", Mlp.HIDDEN, FashionMnist.CLASSES));
            }
            case "resnet20" -> {
                int index = 0;
                layers.add(Layer.conv(index++, "conv0", 1, 16, 3, 1, SIDE));
                int in = 16;
                int side = SIDE;
                for (int s = 0; s < ResNet20.WIDTHS.length; s++) {
                    for (int b = 0; b < ResNet20.BLOCKS; b++) {
                        int out = ResNet20.WIDTHS[s];
                        int stride = (s > 0 && b == 0) ? 2 : 1;
                        String n = "s" + (s + 1) + ".b" + b;
                        Layer c1 = Layer.conv(index++, n + ".conv1", in, out, 3, stride, side);
                        layers.add(c1);
                        layers.add(Layer.conv(index++, n + ".conv2", out, out, 3, 1, c1.outSide()));
                        in = out;
                        side = c1.outSide();
                    }
                }
                layers.add(Layer.dense(index, "fc", in, FashionMnist.CLASSES));
            }
            default -> throw new CorruptFileException(file, "unknown model '" + model + "': expected one of " + Network.KINDS);
        }
        return layers;
    }

    private static int intOf(Path file, Map<?, ?> m, String key, Layer l) throws CorruptFileException {
        if (!(m.get(key) instanceof Number n) || n.doubleValue() != n.intValue()) {
            throw new CorruptFileException(file, "layer " + l.name() + ": '" + key + "' is missing or not an integer");
        }
        return n.intValue();
    }

    private static Op op(Path file, Safetensors.Contents c, Map<String, float[]> f32, LayerQuantizer.Method method,
                         Layer l, Map<?, ?> m, float param, Arena arena) throws CorruptFileException {
        String where = "layer " + l.name();
        if (!l.name().equals(m.get("name")) || intOf(file, m, "in", l) != l.in() || intOf(file, m, "out", l) != l.out()
                || intOf(file, m, "kernel", l) != l.kernel() || intOf(file, m, "stride", l) != l.stride()
                || intOf(file, m, "in_side", l) != l.inSide()) {
            throw new CorruptFileException(file, where + " is described as " + m + ", not as the model's " + l);
        }
        Op op = new Op();
        op.layer = l;
        op.weightBits = intOf(file, m, "weight_bits", l);
        op.inputBits = intOf(file, m, "input_bits", l);
        op.storedBits = intOf(file, m, "stored_bits", l);
        if (op.weightBits < LayerQuantizer.MIN_BITS || op.weightBits > LayerQuantizer.MAX_BITS
                || op.inputBits < LayerQuantizer.MIN_BITS || op.inputBits > LayerQuantizer.MAX_BITS
                || (l.index() == 0 && op.inputBits != 8) || op.storedBits != IntegerExport.storedBits(op.weightBits)) {
            throw new CorruptFileException(file, where + ": widths W" + op.weightBits + "A" + op.inputBits + " stored at "
                    + op.storedBits + " bits are not a width pair of 2..8 bits in its own stored width");
        }
        if (!(param > 0f) || !Float.isFinite(param)) {
            throw new CorruptFileException(file, where + ": its input parameter " + param + " is not a positive number");
        }
        op.param = param;
        op.levels = (1 << op.inputBits) - 1;
        op.inputScale = IntegerExport.inputScale(l, method, op.inputBits, param);
        op.shift = op.inputBits == 8 ? 128 : 0;

        QuantizedTensor w = c.quantized().get(IntegerExport.weightKey(l));
        QuantFormat want = IntegerExport.format(method, op.storedBits);
        if (w == null || !w.format().equals(want) || w.rows() != l.out() || w.cols() != l.cols() || w.outliers() != null) {
            throw new CorruptFileException(file, where + ": tensor '" + IntegerExport.weightKey(l) + "' is "
                    + (w == null ? "missing" : w.format() + " [" + w.rows() + ", " + w.cols() + "]") + ", expected " + want
                    + " [" + l.out() + ", " + l.cols() + "]");
        }
        Reference.Unpacked u = Reference.unpack(w);
        IntegerWeights.checkCodes(file, where, method, op.weightBits, w.format(), u);
        if (op.shift != 0) {
            op.shiftBack = new float[l.out()];
            int cols = l.cols();
            for (int r = 0; r < l.out(); r++) {
                double zero = w.format().symmetric() ? Reference.symmetricZero(w.format()) : u.zeros()[r];
                double sum = 0;
                for (int j = r * cols; j < (r + 1) * cols; j++) {
                    sum += u.codes()[j] - zero;
                }
                op.shiftBack[r] = (float) (op.shift * sum * u.scales()[r] * op.inputScale);
            }
        }
        int[] kernelCodes = l.isConv() ? IntegerWeights.tapsMajor(u.codes(), l) : u.codes();
        if (w.format().symmetric() || op.weightBits <= 7) {
            op.weights = new PackedWeights.Int8Rows(IntegerWeights.int8Rows(w, kernelCodes, u, op.weightBits, arena));
        } else { // 8-bit DoReFa: codes 0..255 about 127.5, in their grouped format
            op.weights = PackedWeights.pack(Reference.pack(w.format(), w.rows(), w.cols(), kernelCodes, u.scales(),
                    u.zeros(), null, arena), ActivationFormat.PER_TOKEN_INT8, arena);
        }
        if (l.isConv()) {
            op.bnScale = vector(file, f32, IntegerExport.bnScaleKey(l), l.out());
            op.bnBias = vector(file, f32, IntegerExport.bnBiasKey(l), l.out());
        } else {
            op.bias = vector(file, f32, IntegerExport.biasKey(l), l.out());
        }
        return op;
    }

    private static float[] vector(Path file, Map<String, float[]> f32, String key, int n) throws CorruptFileException {
        float[] v = f32.get(key);
        if (v == null || v.length != n) {
            throw new CorruptFileException(file, "tensor '" + key + "' is missing or does not hold " + n + " values");
        }
        return v;
    }

    // ------------------------------------------------------------------ what was loaded

    /** The file it was loaded from. */
    public Path file() {
        return file;
    }

    /** The fake-quant network's test accuracy at the end of training, as the file records it. */
    public record Trained(double accuracy, int images, int epoch) {
    }

    private static Trained trained(Path file, Map<String, String> meta) throws CorruptFileException {
        String a = meta.get(IntegerExport.KEY_TRAINED_ACCURACY);
        if (a == null) {
            return null;
        }
        try {
            Trained t = new Trained(Double.parseDouble(a), Integer.parseInt(meta.get(IntegerExport.KEY_TRAINED_IMAGES)),
                    Integer.parseInt(meta.get(IntegerExport.KEY_TRAINED_EPOCH)));
            if (!(t.accuracy >= 0 && t.accuracy <= 1) || t.images < 1 || t.images > FashionMnist.TEST_SIZE) {
                throw new NumberFormatException(t.toString());
            }
            return t;
        } catch (NumberFormatException e) {
            throw new CorruptFileException(file, "its " + IntegerExport.KEY_TRAINED_ACCURACY + ", "
                    + IntegerExport.KEY_TRAINED_IMAGES + " and " + IntegerExport.KEY_TRAINED_EPOCH
                    + " metadata do not make a test accuracy");
        }
    }

    /** The fake-quant test accuracy the file records from training, or empty for a file without one. */
    public java.util.Optional<Trained> trained() {
        return java.util.Optional.ofNullable(trained);
    }

    /** {@code resnet20} or {@code mlp}. */
    public String model() {
        return model;
    }

    /** The quantizers: {@code lsq} or {@code dorefa-pact}. */
    public LayerQuantizer.Method method() {
        return method;
    }

    /** The training method the file records ({@code lsq}, {@code dorefa-pact} or {@code adaqat}). */
    public String trainingMethod() {
        return trainingMethod;
    }

    /** The widths, {@code W/A} per layer. */
    public String widths() {
        return widths;
    }

    /** The quantized layers. */
    public List<Layer> layers() {
        return ops.stream().map(o -> o.layer).toList();
    }

    /** Layer {@code i}'s true weight width. */
    public int weightBits(int i) {
        return ops.get(i).weightBits;
    }

    /** Layer {@code i}'s input width. */
    public int inputBits(int i) {
        return ops.get(i).inputBits;
    }

    /** The width layer {@code i}'s weights are multiplied at (4 for 2- and 3-bit weights, 8 for 5..7). */
    public int kernelBits(int i) {
        return ops.get(i).storedBits < 4 ? 4 : ops.get(i).storedBits;
    }

    /** The layout layer {@code i}'s weights run in ({@code i8_rowx16}, {@code grouped…}). */
    public String layout(int i) {
        return ops.get(i).weights.layoutName();
    }

    public int threads() {
        return threads;
    }

    // ------------------------------------------------------------------ inference

    /**
     * Bytes of images: {@code images} ({@code n·784} values in [0, 1], as {@link FashionMnist} reads them) turned
     * back into the bytes they came from.
     *
     * @throws IllegalArgumentException for a value that is not {@code p/255} for a byte {@code p}
     */
    public static byte[] toBytes(float[] images) {
        byte[] out = new byte[images.length];
        for (int i = 0; i < images.length; i++) {
            int p = Math.round(images[i] * 255f);
            if (p < 0 || p > 255 || p / 255f != images[i]) {
                throw new IllegalArgumentException("pixel " + i + " is " + images[i] + ", not a byte over 255");
            }
            out[i] = (byte) p;
        }
        return out;
    }

    /** The logits {@code [n][10]} of the first {@code n} images of {@code images} ({@code 784} bytes each). */
    public float[][] logits(byte[] images, int n) {
        return logits(images, n, null);
    }

    /** {@link #logits(byte[], int)}, calling {@code progress} with the images done after each batch. */
    public float[][] logits(byte[] images, int n, IntConsumer progress) {
        if (n < 0 || (long) n * FashionMnist.PIXELS > images.length) {
            throw new IllegalArgumentException(n + " images need " + (long) n * FashionMnist.PIXELS + " bytes, got "
                    + images.length);
        }
        float[][] out = new float[n][];
        for (int i = 0; i < n; i += BATCH) {
            int from = i;
            int to = Math.min(n, i + BATCH);
            int chunks = (to - from + CHUNK - 1) / CHUNK;
            AtomicInteger next = new AtomicInteger();
            IntConsumer piece = p -> {
                for (int c = next.getAndIncrement(); c < chunks; c = next.getAndIncrement()) {
                    int first = from + c * CHUNK;
                    int b = Math.min(CHUNK, to - first);
                    float[] l = model.equals("mlp") ? mlp(passes[p], images, first, b)
                            : resnet(passes[p], images, first, b);
                    for (int j = 0; j < b; j++) {
                        out[first + j] = Arrays.copyOfRange(l, j * FashionMnist.CLASSES,
                                (j + 1) * FashionMnist.CLASSES);
                    }
                }
            };
            int pieces = Math.min(threads, chunks);
            if (pieces == 1) {
                piece.accept(0);
            } else {
                pool.run(pieces, piece);
            }
            if (progress != null) {
                progress.accept(to);
            }
        }
        return out;
    }

    /** Top-1 accuracy on {@code split}. */
    public double accuracy(FashionMnist.Split split) {
        return accuracy(split, null);
    }

    /** {@link #accuracy(FashionMnist.Split)}, calling {@code progress} with the images done after each batch. */
    public double accuracy(FashionMnist.Split split, IntConsumer progress) {
        float[][] logits = logits(toBytes(split.images()), split.size(), progress);
        long correct = 0;
        for (int i = 0; i < logits.length; i++) {
            correct += argmax(logits[i]) == split.label(i) ? 1 : 0;
        }
        return split.size() == 0 ? 0 : (double) correct / split.size();
    }

    /** The index of the largest value (the first of equal ones). */
    public static int argmax(float[] v) {
        int best = 0;
        for (int c = 1; c < v.length; c++) {
            if (v[c] > v[best]) {
                best = c;
            }
        }
        return best;
    }

    /** Image codes of images {@code [from, from+b)}: {@code p − 128}, one channel, {@code [img][y][x]}. */
    private static byte[] codesFrom(byte[] images, int from, int b) {
        byte[] codes = new byte[b * FashionMnist.PIXELS];
        int o = from * FashionMnist.PIXELS;
        for (int i = 0; i < codes.length; i++) {
            codes[i] = (byte) ((images[o + i] & 0xFF) - 128);
        }
        return codes;
    }

    private float[] mlp(Pass ps, byte[] images, int from, int b) {
        Op fc1 = ops.get(0);
        Op fc2 = ops.get(1);
        float[] h = gemm(ps, fc1, activations(fc1, codesFrom(images, from, b), b));
        int hidden = fc1.layer.out();
        for (int t = 0; t < b; t++) {
            for (int r = 0; r < hidden; r++) {
                h[t * hidden + r] = Math.max(h[t * hidden + r] + fc1.bias[r], 0f);
            }
        }
        byte[] codes = new byte[h.length];
        quantize(fc2, h, codes, null, from, b, b, hidden);
        float[] y = gemm(ps, fc2, activations(fc2, codes, b));
        addBias(fc2, y);
        return y;
    }

    private float[] resnet(Pass ps, byte[] images, int from, int b) {
        int li = 0;
        Op c0 = ops.get(li++);
        // h: [img][y][x][c], fp32, after ReLU
        float[] h = convBnRelu(ps, c0, codesFrom(images, from, b), b, true);
        for (int s = 0; s < ResNet20.WIDTHS.length; s++) {
            for (int k = 0; k < ResNet20.BLOCKS; k++) {
                h = block(ps, ops.get(li++), ops.get(li++), h, from, b);
            }
        }
        Op fc = ops.get(li);
        float[] pooled = pool(h, b, fc.layer.in(), ops.get(li - 1).layer.outSide());
        byte[] codes = new byte[pooled.length];
        quantize(fc, pooled, codes, null, from, b, b, fc.layer.in());
        float[] y = gemm(ps, fc, activations(fc, codes, b));
        addBias(fc, y);
        return y;
    }

    /**
     * One basic block: the input {@code h} quantized once for {@code c1}, its codes through conv1 → bn1 → ReLU →
     * (quantized for conv2) → conv2 → bn2, then the residual add in fp32 with the shortcut of the dequantized codes
     * and ReLU: {@code relu(bn2(conv2) + shortcut)}.
     */
    private float[] block(Pass ps, Op c1, Op c2, float[] h, int from, int b) {
        Layer l1 = c1.layer;
        int inPositions = l1.inSide() * l1.inSide();
        byte[] codes = new byte[h.length];
        float[] values = new float[h.length];
        quantize(c1, h, codes, values, from, b, b * inPositions, l1.in());
        float[] a = convBnRelu(ps, c1, codes, b, true);
        byte[] codes2 = new byte[a.length];
        quantize(c2, a, codes2, null, from, b, b * l1.outSide() * l1.outSide(), l1.out());
        float[] r = convBnRelu(ps, c2, codes2, b, false);
        int outSide = l1.outSide();
        int out = l1.out();
        int in = l1.in();
        int pad = (out - in) / 2;
        int inSide = l1.inSide();
        boolean identity = l1.stride() == 1 && in == out;
        if (identity) {
            fp32.addRelu(r, values, 0, r.length);
            return r;
        }
        for (int img = 0; img < b; img++) {
            for (int y = 0; y < outSide; y++) {
                for (int x = 0; x < outSide; x++) {
                    int o = ((img * outSide + y) * outSide + x) * out;
                    // option A: every second pixel, with zero channels before and after
                    int src = ((img * inSide + 2 * y) * inSide + 2 * x) * in - pad;
                    for (int ch = 0; ch < pad; ch++) {
                        r[o + ch] = Math.max(r[o + ch] + 0f, 0f);
                    }
                    for (int ch = pad; ch < pad + in; ch++) {
                        r[o + ch] = Math.max(r[o + ch] + values[src + ch], 0f);
                    }
                    for (int ch = pad + in; ch < out; ch++) {
                        r[o + ch] = Math.max(r[o + ch] + 0f, 0f);
                    }
                }
            }
        }
        return r;
    }

    /** The global average pool, as training takes it: the mean over x, then the mean over y. */
    private float[] pool(float[] h, int b, int channels, int side) {
        float[] out = new float[b * channels];
        for (int img = 0; img < b; img++) {
            for (int ch = 0; ch < channels; ch++) {
                float total = 0f;
                for (int y = 0; y < side; y++) {
                    float row = 0f;
                    for (int x = 0; x < side; x++) {
                        row += h[((img * side + y) * side + x) * channels + ch];
                    }
                    total += row / side;
                }
                out[img * channels + ch] = total / side;
            }
        }
        return out;
    }

    /**
     * The input codes of {@code op} for {@code tokens} tokens of {@code features} values {@code x}, by training's
     * float operations, stored shifted by {@code op.shift}; with {@code values}, also the value each code stands for,
     * as training dequantizes it.
     */
    private void quantize(Op op, float[] x, byte[] codes, float[] values, int from, int b, int tokens,
                          int features) {
        int n = tokens * features;
        if (method == LayerQuantizer.Method.LSQ) {
            fp32.codesByStep(x, 0, n, op.param, op.levels, op.shift, codes, values); // FakeQuant.lsq
        } else {
            fp32.codesByClip(x, 0, n, op.param, op.levels, op.shift, codes, values); // FakeQuant.pact
        }
        CodeObserver o = observer;
        if (o != null) {
            o.codes(op.layer.index(), from, b, codes, op.shift, tokens, features);
        }
    }

    /** Per-token int8 activations of {@code tokens} rows of {@code op}'s columns, every token at the input scale. */
    private static QuantizedActivations activations(Op op, byte[] rows, int tokens) {
        int k = op.layer.cols();
        int pk = QuantizedActivations.paddedK(k);
        byte[] codes;
        if (pk == k) {
            codes = rows;
        } else {
            codes = new byte[tokens * pk];
            for (int t = 0; t < tokens; t++) {
                System.arraycopy(rows, t * k, codes, t * pk, k);
            }
        }
        float[] scales = new float[tokens];
        Arrays.fill(scales, op.inputScale);
        return new QuantizedActivations(ActivationFormat.PER_TOKEN_INT8, tokens, k, codes, scales);
    }

    /** The GEMM, {@code y[t][r]}, with the shifted codes' {@code 128·Σ w} added back. */
    private static float[] gemm(Pass ps, Op op, QuantizedActivations x) {
        int rows = op.layer.out();
        float[] y = new float[x.n() * rows];
        ps.matmul.gemm(op.weights, x, y);
        float[] back = op.shiftBack;
        if (back != null) {
            for (int t = 0; t < x.n(); t++) {
                for (int r = 0; r < rows; r++) {
                    y[t * rows + r] += back[r];
                }
            }
        }
        return y;
    }

    private void addBias(Op op, float[] y) {
        int rows = op.layer.out();
        for (int i = 0; i < y.length; i++) {
            y[i] += op.bias[i % rows];
        }
    }

    /**
     * A convolution of {@code b} images' codes ({@code [img][y][x][in]}, shifted by {@code op.shift}): im2col, the
     * GEMM, the folded batch norm, and ReLU when {@code relu}. Returns {@code [img][y][x][out]}.
     */
    private float[] convBnRelu(Pass ps, Op op, byte[] codes, int b, boolean relu) {
        Layer l = op.layer;
        int outSide = l.outSide();
        int positions = outSide * outSide;
        int tokens = b * positions;
        int k = l.cols();
        int pk = QuantizedActivations.paddedK(k);
        byte[] cols = ps.cols(tokens * pk);
        int in = l.in();
        int inSide = l.inSide();
        int kernel = l.kernel();
        int pad = kernel / 2;
        int stride = l.stride();
        byte zero = (byte) -op.shift;
        for (int img = 0; img < b; img++) {
            for (int oy = 0; oy < outSide; oy++) {
                for (int ox = 0; ox < outSide; ox++) {
                    int t = (img * outSide + oy) * outSide + ox;
                    int row = t * pk;
                    Arrays.fill(cols, row + k, row + pk, (byte) 0); // the padding of a reused buffer
                    int ix0 = ox * stride - pad;
                    boolean inside = ix0 >= 0 && ix0 + kernel <= inSide;
                    for (int ky = 0; ky < kernel; ky++) {
                        int iy = oy * stride - pad + ky;
                        int col = row + ky * kernel * in; // columns [kh][kw][in]: see tapsMajor
                        if (iy < 0 || iy >= inSide) {
                            Arrays.fill(cols, col, col + kernel * in, zero);
                        } else if (inside) {
                            // the row's taps are adjacent pixels, so one run of kernel·in codes
                            copy(codes, ((img * inSide + iy) * inSide + ix0) * in, cols, col, kernel * in);
                        } else {
                            for (int kx = 0; kx < kernel; kx++) {
                                int ix = ix0 + kx;
                                if (ix < 0 || ix >= inSide) {
                                    Arrays.fill(cols, col + kx * in, col + (kx + 1) * in, zero);
                                } else {
                                    System.arraycopy(codes, ((img * inSide + iy) * inSide + ix) * in, cols,
                                            col + kx * in, in);
                                }
                            }
                        }
                    }
                }
            }
        }
        float[] scales = new float[tokens];
        Arrays.fill(scales, op.inputScale);
        float[] y = gemm(ps, op, new QuantizedActivations(ActivationFormat.PER_TOKEN_INT8, tokens, k, cols, scales));
        int out = l.out();
        float[] a = op.bnScale;
        float[] c = op.bnBias;
        fp32.scaleShift(y, 0, y.length, a, c, relu);
        return y;
    }

    private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.nativeOrder());

    /**
     * {@link System#arraycopy} of {@code n} bytes, by longs when {@code n} is a multiple of 8: im2col's runs are 48
     * to 192 bytes, short enough that a call costs more than the copy.
     */
    private static void copy(byte[] src, int s, byte[] dst, int d, int n) {
        if ((n & 7) != 0) {
            System.arraycopy(src, s, dst, d, n);
            return;
        }
        for (int i = 0; i < n; i += 8) {
            LONGS.set(dst, d + i, (long) LONGS.get(src, s + i));
        }
    }

    @Override
    public void close() {
        pool.close();
        arena.close();
    }

    @Override
    public String toString() {
        return model + " " + method.label + " (" + widths + ") from " + file;
    }
}

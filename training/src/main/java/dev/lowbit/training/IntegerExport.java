package dev.lowbit.training;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.io.Json;
import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.Safetensors;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a network trained with fake-quant ({@link LayerQuantizer}: LSQ, DoReFa+PACT or AdaQAT) as one file in
 * lowbit's safetensors container, for integer-only inference ({@link IntegerNetwork}).
 *
 * <p>What the file holds:
 * <ul>
 *   <li>{@code <layer>.weight}: each quantized layer's weights as a lowbit quantized tensor, one row per output
 *       channel, the columns in {@code [in][kh][kw]} order ({@code in} for a dense layer), in the grouped format with
 *       one fp32 scale per row ({@code grouped(b, ROW, …, F32)}). The codes are those the fake-quant forward pass
 *       uses, computed with the same operators on the same engine:
 *       <ul>
 *         <li>LSQ: symmetric, scale {@code s_w}; the signed code {@code q = round(clamp(w/s_w, −2^(b−1), 2^(b−1)−1))}
 *             is stored as {@code q + 2^(B−1)} ({@code B} the stored width), value {@code q·s_w};</li>
 *         <li>DoReFa: asymmetric, scale {@code 2m/n} and zero point {@code n/2} ({@code n = 2^b−1},
 *             {@code m = max|tanh(w)|}, {@link FakeQuant#dorefaScale}; the zero point is a half-integer, which the
 *             F32 zero-point plane holds exactly); the code {@code i = round(u·n)},
 *             {@code u = tanh(w)/(2m) + 1/2}, value {@code (i − n/2)·(2m/n) = (2·i/n − 1)·m};</li>
 *       </ul>
 *       widths 2, 3, 4 and 8 in their own format, 5, 6 and 7 in the 8-bit one (the codes keep their range);</li>
 *   <li>{@code <layer>.bn.scale}, {@code <layer>.bn.bias} (F32, one per output channel): the batch norm after a
 *       convolution folded as PyTorch folds it in evaluation, {@code a = γ/sqrt(var + ε)}, {@code b = β − mean·a};</li>
 *   <li>{@code <layer>.bias} (F32): a dense layer's bias;</li>
 *   <li>{@code input.params} (F32, one per layer): what quantizes each layer's input: LSQ's step {@code s_a}, PACT's
 *       clip level {@code α}, and {@code 1/255} for layer 0, whose input is the image's bytes;</li>
 *   <li>metadata: {@value #KEY_FORMAT} ({@value #FORMAT}), {@value #KEY_MODEL}, {@value #KEY_METHOD} ({@code lsq} or
 *       {@code dorefa-pact}), {@value #KEY_TRAINING} (the training method, {@code adaqat} included),
 *       {@value #KEY_LAYERS} (a JSON list: per layer its name, geometry, true weight and input widths, stored width,
 *       and input parameter and input scale as decimal strings of their fp32 values), {@value #KEY_WIDTHS} (the widths, {@code W/A} per layer),
 *       {@value #KEY_CRC} (the CRC-32C of every F32 tensor; the container checks the quantized ones itself), and
 *       from a training run with a finished epoch {@value #KEY_TRAINED_ACCURACY}, {@value #KEY_TRAINED_IMAGES} and
 *       {@value #KEY_TRAINED_EPOCH}.</li>
 * </ul>
 */
public final class IntegerExport {
    /** The metadata key naming the file's kind, and its value. */
    public static final String KEY_FORMAT = "deploy.format";
    public static final String FORMAT = "lowbit-integer-network-1";
    public static final String KEY_MODEL = "deploy.model";
    public static final String KEY_METHOD = "deploy.method";
    public static final String KEY_TRAINING = "deploy.training_method";
    public static final String KEY_LAYERS = "deploy.layers";
    public static final String KEY_WIDTHS = "deploy.widths";
    public static final String KEY_CRC = "deploy.crc32c";
    /**
     * The fake-quant network's top-1 test accuracy at the end of training (a decimal fraction), and on how many test
     * images and after which epoch: what the integer network should match. Absent when the run has no finished epoch.
     */
    public static final String KEY_TRAINED_ACCURACY = "deploy.trained.test_accuracy";
    public static final String KEY_TRAINED_IMAGES = "deploy.trained.test_images";
    public static final String KEY_TRAINED_EPOCH = "deploy.trained.epoch";
    /** The F32 tensor of every layer's input parameter. */
    public static final String INPUT_PARAMS = "input.params";
    /** The scale of the image's codes, the bytes 0..255. */
    public static final float IMAGE_SCALE = 1f / 255f;

    private IntegerExport() {
    }

    /** The width a layer's weights are stored at: 2, 3, 4 and 8 as they are, 5..7 as 8. */
    public static int storedBits(int bits) {
        LayerQuantizer.checkBits(bits);
        return bits <= 4 ? bits : 8;
    }

    /** The stored format of weights of method {@code m} at stored width {@code storedBits}. */
    public static QuantFormat format(LayerQuantizer.Method m, int storedBits) {
        return QuantFormat.grouped(storedBits, QuantFormat.ROW, m == LayerQuantizer.Method.LSQ, ScaleType.F32);
    }

    /** The key of a layer's weight tensor. */
    static String weightKey(Layer l) {
        return l.weight();
    }

    static String bnScaleKey(Layer l) {
        return l.name() + ".bn.scale";
    }

    static String bnBiasKey(Layer l) {
        return l.name() + ".bn.bias";
    }

    static String biasKey(Layer l) {
        return l.name() + ".bias";
    }

    /** The batch norm that follows convolution {@code l} in ResNet-20. */
    static String batchNormOf(Layer l) {
        if (l.name().equals("conv0")) {
            return "bn0";
        }
        return l.name().replace(".conv", ".bn");
    }

    /**
     * A layer's weight codes at its width, with the scale and zero point of each row, as stored: computed by the
     * engine with the fake-quant operators' own steps.
     *
     * @param codes  {@code out·cols} stored codes, row-major
     * @param scales one per row
     * @param zeros  one per row (DoReFa), or null (LSQ)
     */
    public record WeightCodes(int[] codes, float[] scales, float[] zeros) {
    }

    /** The codes that {@code q}'s fake-quant of {@code w} (layer {@code l}'s weights) stands for, at stored width {@code storedBits}. */
    static WeightCodes weightCodes(Layer l, NDArray w, LayerQuantizer q, int storedBits) {
        int bits = q.weightBits(l);
        int rows = l.out();
        int n = rows * l.cols();
        float[] scales = new float[rows];
        int[] codes = new int[n];
        if (q.method() == LayerQuantizer.Method.LSQ) {
            float s = q.parameters().get(LayerQuantizer.stepW(l)).getFloat();
            int lo = -FakeQuant.qn(bits);
            int hi = FakeQuant.qp(bits);
            // FakeQuant.lsq's forward steps: x/s, the clamp, the rounding.
            float[] v = FakeQuant.clampSte(w.stopGradient().div(s), lo, hi).round().toFloatArray();
            int center = 1 << (storedBits - 1);
            for (int i = 0; i < n; i++) {
                codes[i] = Math.round(v[i]) + center;
            }
            java.util.Arrays.fill(scales, s);
            return new WeightCodes(codes, scales, null);
        }
        int levels = (1 << bits) - 1;
        // FakeQuant.dorefaWeights and quantizeUnit's forward steps.
        NDArray t = w.stopGradient().tanh();
        NDArray max = t.abs().max().maximum(Float.MIN_NORMAL);
        NDArray u = t.div(max.mul(2f)).add(0.5f);
        float[] v = u.mul(levels).round().toFloatArray();
        for (int i = 0; i < n; i++) {
            codes[i] = Math.round(v[i]);
        }
        // FakeQuant.dorefaScale: the weights are (2·i/n − 1)·m with m = max|tanh(w)|, i.e. (i − n/2)·(2m/n).
        float m = FakeQuant.dorefaScale(w).getFloat();
        float[] zeros = new float[rows];
        java.util.Arrays.fill(scales, 2f * m / levels);
        java.util.Arrays.fill(zeros, levels / 2f);
        return new WeightCodes(codes, scales, zeros);
    }

    /** The parameter of layer {@code l}'s input quantizer: {@code s_a}, {@code α}, or {@link #IMAGE_SCALE} for layer 0. */
    static float inputParam(Layer l, LayerQuantizer q) {
        if (l.index() == 0) {
            return IMAGE_SCALE;
        }
        String key = q.method() == LayerQuantizer.Method.LSQ ? LayerQuantizer.stepA(l) : LayerQuantizer.alpha(l);
        NDArray a = q.parameters().get(key);
        if (a == null) {
            throw new IllegalStateException("quantizer parameter '" + key + "' is not set: the network has not been trained");
        }
        return a.getFloat();
    }

    /** The scale of layer {@code l}'s input codes: {@code s_a}, {@code α/n}, or {@link #IMAGE_SCALE}. */
    static float inputScale(Layer l, LayerQuantizer.Method m, int inputBits, float param) {
        if (l.index() == 0 || m == LayerQuantizer.Method.LSQ) {
            return param;
        }
        return param / ((1 << inputBits) - 1);
    }

    /** Writes {@code trainer}'s network; an fp32 run is refused. */
    public static void write(Trainer trainer, Path out) throws IOException {
        Djl.onThisThread();
        if (!(trainer.quantizer() instanceof LayerQuantizer q)) {
            throw new IllegalArgumentException("an fp32 run has no integer form: train with lsq, dorefa-pact or adaqat"
                    + " to deploy a network integer-only");
        }
        List<Trainer.Epoch> history = trainer.history();
        Map<String, String> trained = new LinkedHashMap<>();
        if (!history.isEmpty()) {
            Trainer.Epoch last = history.get(history.size() - 1);
            int images = trainer.config().testImages();
            trained.put(KEY_TRAINED_ACCURACY, Double.toString(last.testAccuracy()));
            trained.put(KEY_TRAINED_IMAGES, Integer.toString(images == 0 ? FashionMnist.TEST_SIZE : images));
            trained.put(KEY_TRAINED_EPOCH, Integer.toString(last.epoch()));
        }
        write(trainer.network(), q, trainer.config().method(), trained, out);
    }

    /**
     * Writes {@code net} as {@code q} quantizes it ({@code trainingMethod} is recorded as it is).
     *
     * @throws IllegalStateException if the quantizer was never initialized (no training step ran)
     */
    public static void write(Network net, LayerQuantizer q, String trainingMethod, Path out) throws IOException {
        write(net, q, trainingMethod, Map.of(), out);
    }

    private static void write(Network net, LayerQuantizer q, String trainingMethod, Map<String, String> trained,
                              Path out) throws IOException {
        if (!q.initialized()) {
            throw new IllegalStateException("the quantizer has no learned steps or clip levels yet: train the network"
                    + " for at least one step before exporting it");
        }
        List<Layer> layers = net.layers();
        Map<String, NDArray> params = net.parameters();
        Map<String, NDArray> buffers = net.buffers();
        Map<String, DenseTensor> dense = new LinkedHashMap<>();
        Map<String, QuantizedTensor> quantized = new LinkedHashMap<>();
        Map<String, Object> crcs = new LinkedHashMap<>();
        List<Object> layerMeta = new ArrayList<>();
        float[] inputParams = new float[layers.size()];
        StringBuilder widths = new StringBuilder();
        try (Arena arena = Arena.ofConfined(); NDManager sm = paramsManager(net)) {
            net.attach(sm);
            for (NDArray a : q.parameters().values()) {
                a.tempAttach(sm);
            }
            for (Layer l : layers) {
                int wb = q.weightBits(l);
                int ab = q.inputBits(l);
                int sb = storedBits(wb);
                WeightCodes c = weightCodes(l, params.get(l.weight()), q, sb);
                quantized.put(weightKey(l), Reference.pack(format(q.method(), sb), l.out(), l.cols(), c.codes(),
                        c.scales(), c.zeros(), null, arena));
                float param = inputParam(l, q);
                inputParams[l.index()] = param;
                if (l.isConv()) {
                    String bn = batchNormOf(l);
                    float[] gamma = params.get(bn + ".gamma").toFloatArray();
                    float[] beta = params.get(bn + ".beta").toFloatArray();
                    float[] mean = buffers.get(bn + ".mean").toFloatArray();
                    float[] var = buffers.get(bn + ".var").toFloatArray();
                    float[] scale = new float[l.out()];
                    float[] bias = new float[l.out()];
                    for (int o = 0; o < l.out(); o++) {
                        float invstd = 1f / (float) Math.sqrt(var[o] + Network.BN_EPS);
                        scale[o] = invstd * gamma[o];
                        bias[o] = beta[o] - mean[o] * scale[o];
                    }
                    putF32(dense, crcs, bnScaleKey(l), scale);
                    putF32(dense, crcs, bnBiasKey(l), bias);
                } else {
                    putF32(dense, crcs, biasKey(l), params.get(l.name() + ".bias").toFloatArray());
                }
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("name", l.name());
                m.put("kind", l.isConv() ? "conv" : "dense");
                m.put("in", l.in());
                m.put("out", l.out());
                m.put("kernel", l.kernel());
                m.put("stride", l.stride());
                m.put("in_side", l.inSide());
                m.put("weight_bits", wb);
                m.put("stored_bits", sb);
                m.put("input_bits", ab);
                m.put("input_param", Float.toString(param));
                m.put("input_scale", Float.toString(inputScale(l, q.method(), ab, param)));
                layerMeta.add(m);
                if (!widths.isEmpty()) {
                    widths.append(' ');
                }
                widths.append(wb).append('/').append(ab);
            }
            putF32(dense, crcs, INPUT_PARAMS, inputParams);
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put(KEY_FORMAT, FORMAT);
            meta.put(KEY_MODEL, net.kind());
            meta.put(KEY_METHOD, q.method().label);
            meta.put(KEY_TRAINING, trainingMethod);
            meta.put(KEY_WIDTHS, widths.toString());
            meta.put(KEY_LAYERS, Json.write(layerMeta));
            meta.put(KEY_CRC, Json.write(crcs));
            meta.putAll(trained);
            Path dir = out.toAbsolutePath().getParent();
            if (dir != null) {
                Files.createDirectories(dir);
            }
            Safetensors.write(out, dense, quantized, meta);
        }
    }

    /** A manager the parameters visit while they are read (so that what reading them computes is freed with it). */
    private static NDManager paramsManager(Network net) {
        NDArray any = net.parameters().values().iterator().next();
        return any.getManager().newSubManager();
    }

    private static void putF32(Map<String, DenseTensor> dense, Map<String, Object> crcs, String key, float[] v) {
        dense.put(key, DenseTensor.ofFloats(key, new long[] {v.length}, v));
        crcs.put(key, Checkpoint.crc(v));
    }
}

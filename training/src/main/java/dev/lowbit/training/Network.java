package dev.lowbit.training;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.BatchNorm;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * A network for 1×28×28 images written as functions of named parameters on DJL's PyTorch engine: the trainable
 * parameters, the batch norms' running statistics, and the list of quantized layers whose weights and inputs a
 * {@link Quantizer} fake-quantizes. Parameters live on the network's manager; a training step attaches them to
 * its own sub-manager for the step ({@link #attach}) so that what the step computes is freed with it.
 */
public abstract class Network {
    /** Batch norm's epsilon. */
    public static final float BN_EPS = 1e-5f;
    /** Batch norm's running-statistics momentum, in DJL's sense: {@code running = m·running + (1−m)·batch}. */
    public static final float BN_MOMENTUM = 0.9f;

    protected final NDManager manager;
    private final Map<String, NDArray> params = new LinkedHashMap<>();
    private final Map<String, NDArray> buffers = new LinkedHashMap<>();
    protected final List<Layer> layers = new ArrayList<>();

    protected Network(NDManager manager) {
        this.manager = manager;
    }

    /** The kinds {@link #create} builds. */
    public static final List<String> KINDS = List.of("resnet20", "mlp");

    /** A new network of {@code kind} ({@code resnet20} or {@code mlp}), its weights drawn from {@code seed}. */
    public static Network create(String kind, NDManager manager, long seed) {
        return switch (kind) {
            case "resnet20" -> new ResNet20(manager, seed);
            case "mlp" -> new Mlp(manager, seed);
            default -> throw new IllegalArgumentException("unknown model '" + kind + "': expected one of " + KINDS);
        };
    }

    /** {@code resnet20} or {@code mlp}. */
    public abstract String kind();

    /** Logits {@code [B, 10]} for images {@code [B, 1, 28, 28]}. */
    public abstract NDArray forward(NDArray images, Mode mode, Quantizer q);

    /** The quantized layers, in order. */
    public List<Layer> layers() {
        return Collections.unmodifiableList(layers);
    }

    /** Trainable parameters by name, in a fixed order. */
    public Map<String, NDArray> parameters() {
        return Collections.unmodifiableMap(params);
    }

    /** Running statistics by name ({@code <bn>.mean}, {@code <bn>.var}). */
    public Map<String, NDArray> buffers() {
        return Collections.unmodifiableMap(buffers);
    }

    /** Multiply-adds per image over the quantized layers. */
    public long macs() {
        long s = 0;
        for (Layer l : layers) {
            s += l.macsPerImage();
        }
        return s;
    }

    /** BitOPs per image: {@code Σ MACs·bits_w·bits_a} at {@code q}'s widths. */
    public double bitops(Quantizer q) {
        double s = 0;
        for (Layer l : layers) {
            s += (double) l.macsPerImage() * q.weightBits(l) * q.inputBits(l);
        }
        return s;
    }

    /** BitOPs per image of the fp32 network, counted as 32×32 bits per multiply-add. */
    public double fp32Bitops() {
        return 1024.0 * macs();
    }

    /** Temporarily moves every parameter and buffer to {@code step}; they return when it closes. */
    public void attach(NDManager step) {
        for (NDArray a : params.values()) {
            a.tempAttach(step);
        }
        for (NDArray a : buffers.values()) {
            a.tempAttach(step);
        }
    }

    /** Replaces every parameter and buffer that {@code values} names, keeping shapes; all must be there. */
    public void load(Map<String, float[]> values) {
        for (Map<String, NDArray> m : List.of(params, buffers)) {
            for (Map.Entry<String, NDArray> e : m.entrySet()) {
                float[] v = values.get(e.getKey());
                if (v == null) {
                    throw new IllegalArgumentException("the checkpoint has no tensor '" + e.getKey() + "' of " + kind());
                }
                NDArray a = e.getValue();
                if (v.length != a.size()) {
                    throw new IllegalArgumentException("tensor '" + e.getKey() + "' holds " + v.length
                            + " values, " + kind() + " needs " + a.size() + " (" + a.getShape() + ")");
                }
                a.set(v);
            }
        }
    }

    // ------------------------------------------------------------------ building blocks

    protected NDArray param(String name, Shape shape, float[] values) {
        NDArray a = manager.create(values, shape);
        a.setRequiresGradient(true);
        params.put(name, a);
        return a;
    }

    /** He-normal convolution weights {@code [out, in, k, k]}: std {@code sqrt(2 / (in·k²))}. */
    protected void convWeights(Layer l, Random rnd) {
        int n = l.out() * l.cols();
        float std = (float) Math.sqrt(2.0 / l.cols());
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rnd.nextGaussian() * std;
        }
        param(l.weight(), new Shape(l.out(), l.in(), l.kernel(), l.kernel()), v);
    }

    /** A dense layer's weights {@code [out, in]} and bias, uniform in {@code ±1/sqrt(in)}. */
    protected void denseWeights(Layer l, Random rnd) {
        float b = (float) (1.0 / Math.sqrt(l.in()));
        float[] w = new float[l.out() * l.in()];
        for (int i = 0; i < w.length; i++) {
            w[i] = (rnd.nextFloat() * 2 - 1) * b;
        }
        float[] bias = new float[l.out()];
        for (int i = 0; i < bias.length; i++) {
            bias[i] = (rnd.nextFloat() * 2 - 1) * b;
        }
        param(l.weight(), new Shape(l.out(), l.in()), w);
        param(l.name() + ".bias", new Shape(l.out()), bias);
    }

    /** A batch norm over {@code channels}: {@code γ = 1}, {@code β = 0}, running mean 0 and variance 1. */
    protected void batchNorm(String name, int channels) {
        float[] ones = new float[channels];
        java.util.Arrays.fill(ones, 1f);
        param(name + ".gamma", new Shape(channels), ones);
        param(name + ".beta", new Shape(channels), new float[channels]);
        buffers.put(name + ".mean", manager.zeros(new Shape(channels)));
        buffers.put(name + ".var", manager.ones(new Shape(channels)));
    }

    protected NDArray p(String name) {
        return params.get(name);
    }

    /** {@code x} through the quantized convolution {@code l}: fake-quant input and weights, then the convolution. */
    protected NDArray conv(Layer l, NDArray x, Quantizer q) {
        NDArray xq = q.input(l, x);
        NDArray wq = q.weight(l, p(l.weight()));
        int pad = l.kernel() / 2;
        return Conv2d.conv2d(xq, wq, null, new Shape(l.stride(), l.stride()), new Shape(pad, pad), new Shape(1, 1), 1)
                .singletonOrThrow();
    }

    /** A convolution whose input was already quantized by {@code q.input} (shared with a shortcut). */
    protected NDArray convQuantized(Layer l, NDArray xq, Quantizer q) {
        NDArray wq = q.weight(l, p(l.weight()));
        int pad = l.kernel() / 2;
        return Conv2d.conv2d(xq, wq, null, new Shape(l.stride(), l.stride()), new Shape(pad, pad), new Shape(1, 1), 1)
                .singletonOrThrow();
    }

    protected NDArray dense(Layer l, NDArray x, Quantizer q) {
        NDArray xq = q.input(l, x);
        NDArray wq = q.weight(l, p(l.weight()));
        return Linear.linear(xq, wq, p(l.name() + ".bias")).singletonOrThrow();
    }

    protected NDArray bn(String name, NDArray x, Mode mode) {
        NDArray mean = buffers.get(name + ".mean");
        NDArray var = buffers.get(name + ".var");
        if (mode == Mode.PROBE) {
            mean = mean.duplicate();
            var = var.duplicate();
        }
        NDList out = BatchNorm.batchNorm(x, mean, var, p(name + ".gamma"), p(name + ".beta"), 1, BN_MOMENTUM, BN_EPS,
                mode.batchStats());
        return out.singletonOrThrow();
    }

    protected static NDArray relu(NDArray x) {
        return Activation.relu(x);
    }
}

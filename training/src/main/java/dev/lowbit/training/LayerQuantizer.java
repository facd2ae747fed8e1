package dev.lowbit.training;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Fake-quant of every quantized layer at its own widths, by one of two methods:
 * <ul>
 *   <li>{@link Method#LSQ}: signed weights and unsigned inputs with learned step sizes, one per tensor
 *       ({@code q.<layer>.step_w}, {@code q.<layer>.step_a}), each with LSQ's gradient scale; initialized from the
 *       first batch as {@code 2·mean|x|/sqrt(Qp)};</li>
 *   <li>{@link Method#DOREFA_PACT}: DoReFa weights, scaled by {@code max|tanh(w)|} ({@link
 *       FakeQuant#dorefaScale}) so that a layer without batch norm keeps its weights' magnitude, and PACT inputs with a learned clip level per layer
 *       ({@code q.<layer>.alpha}), initialized to the 99.9th percentile of the layer's input over the first batch.
 *       AdaQAT trains with these and changes the widths as it goes.</li>
 * </ul>
 * Layer 0's input is the image, 8-bit codes already, and passes through. The widths are per layer; {@link
 * #uniform} gives the usual arrangement.
 */
public final class LayerQuantizer implements Quantizer {
    public enum Method {
        LSQ("lsq"), DOREFA_PACT("dorefa-pact");

        public final String label;

        Method(String label) {
            this.label = label;
        }

        public static Method parse(String s) {
            for (Method m : values()) {
                if (m.label.equals(s)) {
                    return m;
                }
            }
            throw new IllegalArgumentException("unknown quantization method '" + s + "': expected lsq or dorefa-pact");
        }
    }

    /** The narrowest and widest width a layer may have. */
    public static final int MIN_BITS = 2;
    public static final int MAX_BITS = 8;

    private final Method method;
    private final List<Layer> layers;
    private final int[] weightBits;
    private final int[] inputBits;
    private final NDManager manager;
    private final Map<String, NDArray> params = new LinkedHashMap<>();
    private boolean initialized;

    public LayerQuantizer(Method method, List<Layer> layers, int[] weightBits, int[] inputBits, NDManager manager) {
        this.method = method;
        this.layers = List.copyOf(layers);
        if (weightBits.length != layers.size() || inputBits.length != layers.size()) {
            throw new IllegalArgumentException("one weight and one input width per layer: " + layers.size()
                    + " layers, got " + weightBits.length + " and " + inputBits.length);
        }
        this.weightBits = weightBits.clone();
        this.inputBits = inputBits.clone();
        for (int i = 0; i < weightBits.length; i++) {
            checkBits(weightBits[i]);
            checkBits(inputBits[i]);
        }
        this.inputBits[0] = 8;
        this.manager = manager;
    }

    /**
     * Every layer at {@code wBits}/{@code aBits}, except that a network of more than two layers keeps its first
     * and last at W8A8 (the common arrangement: they hold few of the multiply-adds and much of the accuracy).
     */
    public static LayerQuantizer uniform(Method method, List<Layer> layers, int wBits, int aBits, NDManager manager) {
        checkBits(wBits);
        checkBits(aBits);
        int n = layers.size();
        int[] w = new int[n];
        int[] a = new int[n];
        Arrays.fill(w, wBits);
        Arrays.fill(a, aBits);
        if (n > 2) {
            w[0] = 8;
            w[n - 1] = 8;
            a[n - 1] = 8;
        }
        a[0] = 8;
        return new LayerQuantizer(method, layers, w, a, manager);
    }

    public static void checkBits(int bits) {
        if (bits < MIN_BITS || bits > MAX_BITS) {
            throw new IllegalArgumentException("widths must be " + MIN_BITS + ".." + MAX_BITS + " bits, got " + bits);
        }
    }

    public Method method() {
        return method;
    }

    public List<Layer> layers() {
        return layers;
    }

    public void setWeightBits(int layer, int bits) {
        checkBits(bits);
        weightBits[layer] = bits;
    }

    public void setInputBits(int layer, int bits) {
        checkBits(bits);
        if (layer > 0) {
            inputBits[layer] = bits;
        }
    }

    @Override
    public int weightBits(Layer layer) {
        return weightBits[layer.index()];
    }

    @Override
    public int inputBits(Layer layer) {
        return inputBits[layer.index()];
    }

    @Override
    public Map<String, NDArray> parameters() {
        return Collections.unmodifiableMap(params);
    }

    @Override
    public String describe() {
        int n = layers.size();
        boolean same = true;
        for (int i = 1; i < n - 1; i++) {
            same &= weightBits[i] == weightBits[1] && inputBits[i] == inputBits[1];
        }
        String widths = n <= 2 ? "W" + weightBits[0] + "A" + inputBits[n - 1]
                : same ? "W" + weightBits[1] + "A" + inputBits[1] : "mixed";
        return method.label + " " + widths;
    }

    public boolean initialized() {
        return initialized;
    }

    /**
     * Sets the step sizes or clip levels from one forward pass over {@code images} (batch statistics, running
     * statistics untouched), each layer seeing the already quantized layers before it. Parameters restored from a
     * checkpoint are kept.
     */
    public void initialize(Network net, NDArray images) {
        if (initialized) {
            return;
        }
        Quantizer self = this;
        Quantizer init = new Quantizer() {
            @Override
            public NDArray weight(Layer l, NDArray w) {
                if (method == Method.LSQ && !params.containsKey(stepW(l))) {
                    float s = 2f * w.abs().mean().getFloat() / (float) Math.sqrt(FakeQuant.qp(weightBits[l.index()]));
                    params.put(stepW(l), scalar(s));
                }
                return self.weight(l, w);
            }

            @Override
            public NDArray input(Layer l, NDArray x) {
                if (l.index() > 0) {
                    if (method == Method.LSQ && !params.containsKey(stepA(l))) {
                        float s = 2f * x.abs().mean().getFloat() / (float) Math.sqrt(unsignedMax(inputBits[l.index()]));
                        params.put(stepA(l), scalar(s));
                    } else if (method == Method.DOREFA_PACT && !params.containsKey(alpha(l))) {
                        params.put(alpha(l), scalar(percentile(x.toFloatArray(), 0.999)));
                    }
                }
                return self.input(l, x);
            }

            @Override
            public int weightBits(Layer l) {
                return self.weightBits(l);
            }

            @Override
            public int inputBits(Layer l) {
                return self.inputBits(l);
            }

            @Override
            public Map<String, NDArray> parameters() {
                return self.parameters();
            }

            @Override
            public String describe() {
                return self.describe();
            }
        };
        net.forward(images, Mode.PROBE, init);
        // Keep a fixed order whatever order the forward pass met them in.
        Map<String, NDArray> ordered = new LinkedHashMap<>();
        for (Layer l : layers) {
            for (String k : List.of(stepW(l), stepA(l), alpha(l))) {
                NDArray a = params.get(k);
                if (a != null) {
                    ordered.put(k, a);
                }
            }
        }
        params.clear();
        params.putAll(ordered);
        initialized = true;
    }

    /** Restores parameters saved from {@link #parameters()}; the quantizer counts as initialized after. */
    public void load(Map<String, float[]> values) {
        for (Layer l : layers) {
            for (String k : List.of(stepW(l), stepA(l), alpha(l))) {
                float[] v = values.get(k);
                if (v != null) {
                    if (v.length != 1) {
                        throw new IllegalArgumentException("quantizer parameter '" + k + "' must hold 1 value, got " + v.length);
                    }
                    params.put(k, scalar(v[0]));
                }
            }
        }
        initialized = !params.isEmpty();
    }

    private NDArray scalar(float v) {
        if (!(v > 0) || !Float.isFinite(v)) {
            v = 1f; // an all-zero input: any positive step quantizes it exactly
        }
        NDArray a = manager.create(v);
        a.setRequiresGradient(true);
        return a;
    }

    static String stepW(Layer l) {
        return "q." + l.name() + ".step_w";
    }

    static String stepA(Layer l) {
        return "q." + l.name() + ".step_a";
    }

    static String alpha(Layer l) {
        return "q." + l.name() + ".alpha";
    }

    static int unsignedMax(int bits) {
        return (1 << bits) - 1;
    }

    static float percentile(float[] v, double p) {
        float[] s = v.clone();
        Arrays.sort(s);
        return s.length == 0 ? 1f : s[(int) Math.min(s.length - 1, Math.floor(p * (s.length - 1)))];
    }

    @Override
    public NDArray weight(Layer l, NDArray w) {
        int bits = weightBits[l.index()];
        if (method == Method.LSQ) {
            NDArray s = require(stepW(l));
            return FakeQuant.lsq(w, s, bits, true, FakeQuant.lsqGradScale(w.size(), bits, true));
        }
        return FakeQuant.dorefaWeights(w, bits).mul(FakeQuant.dorefaScale(w));
    }

    @Override
    public NDArray input(Layer l, NDArray x) {
        if (l.index() == 0) {
            return x;
        }
        int bits = inputBits[l.index()];
        if (method == Method.LSQ) {
            NDArray s = require(stepA(l));
            long features = x.size() / x.getShape().get(0);
            return FakeQuant.lsq(x, s, bits, false, FakeQuant.lsqGradScale(features, bits, false));
        }
        return FakeQuant.pact(x, require(alpha(l)), bits);
    }

    private NDArray require(String name) {
        NDArray a = params.get(name);
        if (a == null) {
            throw new IllegalStateException("quantizer parameter '" + name + "' is not set: initialize the quantizer first");
        }
        return a;
    }
}

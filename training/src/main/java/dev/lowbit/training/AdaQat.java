package dev.lowbit.training;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.IntFunction;
import java.util.function.ToDoubleFunction;

/**
 * AdaQAT (Gernigon et al., 2024): bit-widths learned by gradient descent beside the weights, on DoReFa weights and
 * PACT activations ({@link LayerQuantizer.Method#DOREFA_PACT}).
 *
 * <p>Each bit-width variable {@code N} is real; every quantizer it controls uses {@code k = D(N)} ({@code ⌈N⌉} by
 * default, or round to nearest). Its gradient is the finite difference of the task loss between the neighbouring
 * integer widths {@code hi = ⌈N⌉} and {@code lo = hi − 1} (for an integer {@code N}: {@code N} and {@code N − 1};
 * at the bottom of the range {@code 3} and {@code 2}), each measured on the step's batch with the other variables
 * at their widths, plus {@code λ·∂L_hw/∂N} with {@code L_hw = Σ MACs_l·N_w,l·N_a,l / Σ MACs_l·64} (relaxed
 * BitOPs, 1 at W8A8): {@code N ← clamp(N − η·g, 2, 8)}. The pass at {@code D(N)} is the training pass itself, so
 * with {@code ⌈·⌉} each variable costs one extra forward pass per step (batch statistics, no running-statistics
 * update, no gradient).
 *
 * <p>Variables: one {@code (N_w, N_a)} pair for the whole network (the first and last layers stay at W8A8), or one
 * pair per layer (layer 0's input is the 8-bit image and has none).
 *
 * <p>Freezing, with oscillation: at the end of each epoch a variable looks at the widths {@code D(N)} took over
 * its last {@code E} epochs. One width throughout: it freezes there. Two adjacent widths {@code k, k+1} with at
 * least two changes between them over the window and still at least two in its last epoch (it keeps going and
 * coming back): it oscillates, and freezes at {@code k+1}, the wider, so that accuracy is not lost to a width the
 * loss kept pushing back from. Anything else is a descent under way, and it keeps training: a variable whose
 * steps jitter across a boundary as it passes it, then stays below, is not oscillating. A frozen variable no
 * longer costs a pass; the weights keep training.
 */
public final class AdaQat {
    /** How a relaxed width becomes an integer one. */
    public enum Discretize {
        CEIL, ROUND;

        public int apply(double n) {
            return (int) (this == CEIL ? Math.ceil(n - 1e-9) : Math.rint(n));
        }

        public static Discretize parse(String s) {
            return switch (s) {
                case "ceil" -> CEIL;
                case "round" -> ROUND;
                default -> throw new IllegalArgumentException("discretization must be ceil or round, got '" + s + "'");
            };
        }
    }

    /**
     * @param perLayer     one pair per layer, else one pair for the network
     * @param lambda       λ, the weight of the BitOPs term
     * @param rate         η_N, the bit-widths' learning rate
     * @param initial      N0, the starting width
     * @param stableEpochs E, epochs of stable widths before freezing
     * @param discretize   D
     */
    public record Config(boolean perLayer, float lambda, float rate, float initial, int stableEpochs,
                         Discretize discretize) {
        public Config {
            if (!(lambda >= 0) || !Float.isFinite(lambda)) {
                throw new IllegalArgumentException("λ must be 0 or more, got " + lambda);
            }
            if (!(rate > 0) || !Float.isFinite(rate)) {
                throw new IllegalArgumentException("the bit-widths' learning rate must be positive, got " + rate);
            }
            if (!(initial >= LayerQuantizer.MIN_BITS && initial <= LayerQuantizer.MAX_BITS)) {
                throw new IllegalArgumentException("the initial width must be in [" + LayerQuantizer.MIN_BITS + ", "
                        + LayerQuantizer.MAX_BITS + "], got " + initial);
            }
            if (stableEpochs < 1) {
                throw new IllegalArgumentException("E must be at least 1 epoch, got " + stableEpochs);
            }
            if (discretize == null) {
                throw new IllegalArgumentException("discretize must not be null");
            }
        }

        /** The library's defaults: one pair per network, λ given, η_N = 1e-2, N0 = 8, E = 5, ⌈·⌉. */
        public static Config defaults(float lambda) {
            return new Config(false, lambda, 1e-2f, 8f, 5, Discretize.CEIL);
        }
    }

    /** One relaxed width: of weights or of inputs, over a set of layers. */
    public static final class Variable {
        final String name;
        final boolean weights;
        final int[] layers;
        double value;
        boolean frozen;
        int frozenAt;
        final List<int[]> epochs = new ArrayList<>(); // per epoch: {min, max, changes}
        int epochMin = Integer.MAX_VALUE;
        int epochMax = Integer.MIN_VALUE;
        int epochChanges;
        int last;

        Variable(String name, boolean weights, int[] layers, double value) {
            this.name = name;
            this.weights = weights;
            this.layers = layers;
            this.value = value;
        }

        public String name() {
            return name;
        }

        public boolean weights() {
            return weights;
        }

        public double value() {
            return value;
        }

        public boolean frozen() {
            return frozen;
        }
    }

    private final Config config;
    private final Network net;
    private final LayerQuantizer quantizer;
    private final List<Variable> variables = new ArrayList<>();
    private final double hwNorm;

    public AdaQat(Config config, Network net, LayerQuantizer quantizer) {
        if (quantizer.method() != LayerQuantizer.Method.DOREFA_PACT) {
            throw new IllegalArgumentException("AdaQAT trains DoReFa weights and PACT activations, not " + quantizer.method().label);
        }
        this.config = config;
        this.net = net;
        this.quantizer = quantizer;
        List<Layer> layers = net.layers();
        int n = layers.size();
        if (config.perLayer()) {
            for (Layer l : layers) {
                variables.add(new Variable("w." + l.name(), true, new int[] {l.index()}, config.initial()));
                if (l.index() > 0) {
                    variables.add(new Variable("a." + l.name(), false, new int[] {l.index()}, config.initial()));
                }
            }
        } else {
            int[] inner = new int[Math.max(0, n - 2)];
            for (int i = 0; i < inner.length; i++) {
                inner[i] = i + 1;
            }
            if (inner.length == 0) { // a two-layer network: learn both layers' widths
                inner = new int[] {0, n - 1};
            }
            variables.add(new Variable("w", true, inner, config.initial()));
            variables.add(new Variable("a", false, inner, config.initial()));
        }
        double norm = 0;
        for (Layer l : layers) {
            norm += 64.0 * l.macsPerImage();
        }
        this.hwNorm = norm;
        for (Variable v : variables) {
            v.last = width(v);
        }
        apply();
    }

    public Config config() {
        return config;
    }

    public List<Variable> variables() {
        return List.copyOf(variables);
    }

    /** Whether every variable is frozen. */
    public boolean done() {
        for (Variable v : variables) {
            if (!v.frozen) {
                return false;
            }
        }
        return true;
    }

    /** D(N), or the frozen width. */
    int width(Variable v) {
        if (v.frozen) {
            return v.frozenAt;
        }
        return clampBits(config.discretize().apply(v.value));
    }

    private static int clampBits(int b) {
        return Math.max(LayerQuantizer.MIN_BITS, Math.min(LayerQuantizer.MAX_BITS, b));
    }

    /** Sets the quantizer's widths to every variable's current width. */
    void apply() {
        for (Variable v : variables) {
            set(v, width(v));
        }
    }

    private void set(Variable v, int bits) {
        for (int l : v.layers) {
            if (v.weights) {
                quantizer.setWeightBits(l, bits);
            } else {
                quantizer.setInputBits(l, bits);
            }
        }
    }

    /** Relaxed BitOPs term's derivative for {@code v}: {@code Σ_l MACs_l·N_other,l / Σ MACs·64}. */
    double hwGradient(Variable v) {
        double s = 0;
        for (int l : v.layers) {
            Layer layer = net.layers().get(l);
            s += layer.macsPerImage() * relaxed(l, !v.weights);
        }
        return s / hwNorm;
    }

    /** The relaxed width of layer {@code l}'s weights (or inputs): its variable's N, or the fixed width. */
    private double relaxed(int l, boolean weights) {
        for (Variable v : variables) {
            if (v.weights == weights) {
                for (int x : v.layers) {
                    if (x == l) {
                        return v.frozen ? v.frozenAt : v.value;
                    }
                }
            }
        }
        Layer layer = net.layers().get(l);
        return weights ? quantizer.weightBits(layer) : quantizer.inputBits(layer);
    }

    /** The relaxed BitOPs term {@code L_hw}, 1 at W8A8 everywhere. */
    public double hardwareLoss() {
        double s = 0;
        for (Layer l : net.layers()) {
            s += l.macsPerImage() * relaxed(l.index(), true) * relaxed(l.index(), false);
        }
        return s / hwNorm;
    }

    /**
     * One bit-width step after a training pass whose task loss was {@code taskLoss}: the finite differences, each
     * from {@code probe} (the task loss of a forward pass at the quantizer's current widths), then the update of
     * every unfrozen variable, then the new widths set on the quantizer.
     */
    public void step(double taskLoss, ToDoubleFunction<Quantizer> probe) {
        double[] grads = new double[variables.size()];
        for (int i = 0; i < variables.size(); i++) {
            Variable v = variables.get(i);
            if (v.frozen) {
                continue;
            }
            int cur = width(v);
            int hi = Math.max(LayerQuantizer.MIN_BITS + 1, Math.min(LayerQuantizer.MAX_BITS,
                    (int) Math.ceil(v.value - 1e-9)));
            int lo = hi - 1;
            double lHi = hi == cur ? taskLoss : probeAt(v, hi, probe);
            double lLo = lo == cur ? taskLoss : probeAt(v, lo, probe);
            set(v, cur);
            grads[i] = (lHi - lLo) + config.lambda() * hwGradient(v);
        }
        for (int i = 0; i < variables.size(); i++) {
            Variable v = variables.get(i);
            if (v.frozen) {
                continue;
            }
            v.value = Math.max(LayerQuantizer.MIN_BITS, Math.min(LayerQuantizer.MAX_BITS, v.value - config.rate() * grads[i]));
            int w = width(v);
            if (w != v.last) {
                v.epochChanges++;
                v.last = w;
            }
            v.epochMin = Math.min(v.epochMin, w);
            v.epochMax = Math.max(v.epochMax, w);
        }
        apply();
    }

    private double probeAt(Variable v, int bits, ToDoubleFunction<Quantizer> probe) {
        set(v, bits);
        return probe.applyAsDouble(quantizer);
    }

    /**
     * Ends an epoch: records each variable's widths over it and freezes those stable (or oscillating between two
     * adjacent widths) for {@code E} epochs. Returns a line per variable frozen now.
     */
    public List<String> endEpoch() {
        List<String> frozen = new ArrayList<>();
        for (Variable v : variables) {
            if (v.frozen) {
                continue;
            }
            int w = width(v);
            int min = v.epochMin == Integer.MAX_VALUE ? w : v.epochMin;
            int max = v.epochMax == Integer.MIN_VALUE ? w : v.epochMax;
            v.epochs.add(new int[] {min, max, v.epochChanges});
            v.epochMin = Integer.MAX_VALUE;
            v.epochMax = Integer.MIN_VALUE;
            v.epochChanges = 0;
            int e = config.stableEpochs();
            if (v.epochs.size() < e) {
                continue;
            }
            int lo = Integer.MAX_VALUE;
            int hi = Integer.MIN_VALUE;
            int changes = 0;
            for (int[] r : v.epochs.subList(v.epochs.size() - e, v.epochs.size())) {
                lo = Math.min(lo, r[0]);
                hi = Math.max(hi, r[1]);
                changes += r[2];
            }
            if (lo == hi && changes == 0) {
                freeze(v, hi);
                frozen.add(String.format(Locale.ROOT, "%s frozen at %d bits (stable for %d epochs)", v.name, hi, e));
            } else if (hi == lo + 1 && changes >= 2 && v.epochs.get(v.epochs.size() - 1)[2] >= 2) {
                freeze(v, hi);
                frozen.add(String.format(Locale.ROOT, "%s frozen at %d bits (oscillated between %d and %d, %d changes in %d epochs)",
                        v.name, hi, lo, hi, changes, e));
            }
        }
        apply();
        return frozen;
    }

    private void freeze(Variable v, int bits) {
        v.frozen = true;
        v.frozenAt = bits;
    }

    // ------------------------------------------------------------------ checkpoint state

    private static final int HEAD = 7;

    /**
     * {@code [value, frozen (0/1), frozenAt, last width, this epoch's min, max and changes]}, then {@code {min, max,
     * changes}} for each finished epoch.
     */
    public float[] state(Variable v) {
        float[] s = new float[HEAD + 3 * v.epochs.size()];
        s[0] = (float) v.value;
        s[1] = v.frozen ? 1 : 0;
        s[2] = v.frozenAt;
        s[3] = v.last;
        s[4] = v.epochMin;
        s[5] = v.epochMax;
        s[6] = v.epochChanges;
        for (int i = 0; i < v.epochs.size(); i++) {
            int[] r = v.epochs.get(i);
            s[HEAD + 3 * i] = r[0];
            s[HEAD + 1 + 3 * i] = r[1];
            s[HEAD + 2 + 3 * i] = r[2];
        }
        return s;
    }

    /** Restores what {@link #state} saved, by variable. */
    public void restore(IntFunction<float[]> stateOf) {
        for (int i = 0; i < variables.size(); i++) {
            Variable v = variables.get(i);
            float[] s = stateOf.apply(i);
            if (s == null) {
                throw new IllegalArgumentException("the checkpoint has no state for bit-width variable " + v.name);
            }
            if (s.length < HEAD || (s.length - HEAD) % 3 != 0 || !(s[0] >= LayerQuantizer.MIN_BITS && s[0] <= LayerQuantizer.MAX_BITS)) {
                throw new IllegalArgumentException("bit-width variable " + v.name + " has a damaged state");
            }
            v.value = s[0];
            v.frozen = s[1] != 0;
            v.frozenAt = (int) s[2];
            v.last = (int) s[3];
            v.epochMin = (int) s[4];
            v.epochMax = (int) s[5];
            v.epochChanges = (int) s[6];
            v.epochs.clear();
            for (int j = HEAD; j < s.length; j += 3) {
                v.epochs.add(new int[] {(int) s[j], (int) s[j + 1], (int) s[j + 2]});
            }
        }
        apply();
    }

    /** A one-line summary: each variable's N and width. */
    public String summary() {
        StringBuilder b = new StringBuilder();
        for (Variable v : variables) {
            if (!b.isEmpty()) {
                b.append(' ');
            }
            b.append(String.format(Locale.ROOT, "%s=%.2f(%d%s)", v.name, v.value, width(v), v.frozen ? "*" : ""));
        }
        return b.toString();
    }
}

package dev.lowbit.training;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The optimizers, with their state kept by parameter name so that a checkpoint carries it: SGD with momentum
 * ({@code v ← μ·v + g; p ← p − lr·v}) and Adam ({@code m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
 * p ← p − lr·m̂/(sqrt(v̂) + ε)}). Weight decay {@code wd·p} is added to the gradient of weights and clip levels
 * (names ending in {@code .weight} or {@code .alpha}), not of biases, batch norms or step sizes. The learning
 * rate follows a cosine from {@code lr} to 0 over the run's steps.
 */
public final class Optim {
    public enum Kind { SGD, ADAM }

    public static final float MOMENTUM = 0.9f;
    public static final float BETA1 = 0.9f;
    public static final float BETA2 = 0.999f;
    public static final float EPS = 1e-8f;

    private final Kind kind;
    private final float lr;
    private final float weightDecay;
    private final NDManager manager;
    private final Map<String, NDArray> first = new LinkedHashMap<>();
    private final Map<String, NDArray> second = new LinkedHashMap<>();
    private long steps;

    public Optim(Kind kind, float lr, float weightDecay, NDManager manager) {
        if (!(lr > 0) || !Float.isFinite(lr)) {
            throw new IllegalArgumentException("the learning rate must be positive, got " + lr);
        }
        if (!(weightDecay >= 0) || !Float.isFinite(weightDecay)) {
            throw new IllegalArgumentException("weight decay must be 0 or more, got " + weightDecay);
        }
        this.kind = kind;
        this.lr = lr;
        this.weightDecay = weightDecay;
        this.manager = manager;
    }

    /** The cosine schedule: {@code lr·(1 + cos(π·step/total))/2}. */
    public static float cosine(float lr, long step, long total) {
        if (total <= 0) {
            return lr;
        }
        double t = Math.min(1.0, (double) step / total);
        return (float) (lr * 0.5 * (1 + Math.cos(Math.PI * t)));
    }

    static boolean decays(String name) {
        return name.endsWith(".weight") || name.endsWith(".alpha");
    }

    /**
     * One step on every parameter with a gradient, at learning rate {@code rate}; the gradients are zeroed after.
     * Must run outside a gradient collector, with the parameters attached to the step's manager.
     */
    public void step(Map<String, NDArray> params, float rate) {
        steps++;
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            NDArray p = e.getValue();
            NDArray g = p.getGradient();
            NDArray grad = weightDecay > 0 && decays(e.getKey()) ? g.add(p.mul(weightDecay)) : g;
            if (kind == Kind.SGD) {
                NDArray v = state(first, e.getKey(), p);
                v.muli(MOMENTUM).addi(grad);
                p.subi(v.mul(rate));
            } else {
                NDArray m = state(first, e.getKey(), p);
                NDArray v = state(second, e.getKey(), p);
                m.muli(BETA1).addi(grad.mul(1 - BETA1));
                v.muli(BETA2).addi(grad.mul(grad).mul(1 - BETA2));
                float c1 = (float) (1 - Math.pow(BETA1, steps));
                float c2 = (float) (1 - Math.pow(BETA2, steps));
                p.subi(m.div(c1).div(v.div(c2).sqrt().add(EPS)).mul(rate));
            }
            g.subi(g);
        }
    }

    /**
     * The state array of {@code p}, made (zero) on the optimizer's manager if new, and attached to {@code p}'s
     * manager for the step, so that what the update computes from it is freed with the step.
     */
    private NDArray state(Map<String, NDArray> into, String name, NDArray p) {
        NDArray a = into.computeIfAbsent(name, k -> manager.zeros(p.getShape()));
        if (a.getManager() != p.getManager()) {
            a.tempAttach(p.getManager());
        }
        return a;
    }

    public Kind kind() {
        return kind;
    }

    public float lr() {
        return lr;
    }

    public float weightDecay() {
        return weightDecay;
    }

    /** The state for a checkpoint: {@code opt.m.<param>}, {@code opt.v.<param>} and the step count. */
    public Map<String, float[]> state() {
        Map<String, float[]> s = new LinkedHashMap<>();
        first.forEach((k, a) -> s.put("opt.m." + k, a.toFloatArray()));
        second.forEach((k, a) -> s.put("opt.v." + k, a.toFloatArray()));
        return s;
    }

    public long steps() {
        return steps;
    }

    /** Restores {@link #state()} for {@code params}, and the step count. */
    public void restore(Map<String, float[]> state, Map<String, NDArray> params, long steps) {
        this.steps = steps;
        for (Map.Entry<String, NDArray> e : params.entrySet()) {
            restoreOne(state.get("opt.m." + e.getKey()), first, e);
            restoreOne(state.get("opt.v." + e.getKey()), second, e);
        }
    }

    private void restoreOne(float[] v, Map<String, NDArray> into, Map.Entry<String, NDArray> e) {
        if (v == null) {
            return;
        }
        if (v.length != e.getValue().size()) {
            throw new IllegalArgumentException("optimizer state for '" + e.getKey() + "' holds " + v.length
                    + " values, the parameter has " + e.getValue().size());
        }
        into.put(e.getKey(), manager.create(v, e.getValue().getShape()));
    }
}

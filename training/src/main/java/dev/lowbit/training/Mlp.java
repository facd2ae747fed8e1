package dev.lowbit.training;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.util.Random;

/** A small multilayer perceptron for fast tests: 784 → 128 (ReLU) → 10, two quantized dense layers. */
public final class Mlp extends Network {
    public static final int HIDDEN = 128;

    Mlp(NDManager manager, long seed) {
        super(manager);
        Random rnd = new Random(seed);
        Layer l0 = Layer.dense(0, "fc1", FashionMnist.PIXELS, HIDDEN);
        Layer l1 = Layer.dense(1, "fc2", HIDDEN, FashionMnist.CLASSES);
        layers.add(l0);
        layers.add(l1);
        denseWeights(l0, rnd);
        denseWeights(l1, rnd);
    }

    @Override
    public String kind() {
        return "mlp";
    }

    @Override
    public NDArray forward(NDArray images, Mode mode, Quantizer q) {
        NDArray x = images.reshape(images.getShape().get(0), FashionMnist.PIXELS);
        NDArray h = relu(dense(layers.get(0), x, q));
        return dense(layers.get(1), h, q);
    }
}

package dev.lowbit.training;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import java.util.Random;

/**
 * ResNet-20 (He et al., 2016, the CIFAR network) for 1×28×28 images: a 3×3 convolution to 16 channels, three
 * stages of three basic blocks with 16, 32 and 64 channels (the second and third stages start with stride 2:
 * 28→14→7), global average pooling and a dense layer to 10 classes; batch norm after every convolution. The
 * shortcuts have no parameters (option A): identity, or for the first block of a stage the input subsampled
 * by 2 and padded with zero channels.
 *
 * <p>20 quantized layers: {@code conv0}, then {@code s<stage>.b<block>.conv1} and {@code .conv2} for stages 1..3
 * and blocks 0..2, then {@code fc}. A block's input is quantized once and feeds both its first convolution and
 * its shortcut, so the residual add sees exactly the codes that integer-only inference holds.
 */
public final class ResNet20 extends Network {
    static final int[] WIDTHS = {16, 32, 64};
    static final int BLOCKS = 3;

    ResNet20(NDManager manager, long seed) {
        super(manager);
        Random rnd = new Random(seed);
        int index = 0;
        Layer c0 = Layer.conv(index++, "conv0", 1, 16, 3, 1, 28);
        layers.add(c0);
        convWeights(c0, rnd);
        batchNorm("bn0", 16);
        int in = 16;
        int side = 28;
        for (int s = 0; s < 3; s++) {
            for (int b = 0; b < BLOCKS; b++) {
                int out = WIDTHS[s];
                int stride = (s > 0 && b == 0) ? 2 : 1;
                String n = "s" + (s + 1) + ".b" + b;
                Layer c1 = Layer.conv(index++, n + ".conv1", in, out, 3, stride, side);
                Layer c2 = Layer.conv(index++, n + ".conv2", out, out, 3, 1, c1.outSide());
                layers.add(c1);
                layers.add(c2);
                convWeights(c1, rnd);
                batchNorm(n + ".bn1", out);
                convWeights(c2, rnd);
                batchNorm(n + ".bn2", out);
                in = out;
                side = c1.outSide();
            }
        }
        Layer fc = Layer.dense(index, "fc", 64, 10);
        layers.add(fc);
        denseWeights(fc, rnd);
    }

    @Override
    public String kind() {
        return "resnet20";
    }

    @Override
    public NDArray forward(NDArray images, Mode mode, Quantizer q) {
        NDArray h = relu(bn("bn0", conv(layers.get(0), images, q), mode));
        int li = 1;
        for (int s = 0; s < 3; s++) {
            for (int b = 0; b < BLOCKS; b++) {
                String n = "s" + (s + 1) + ".b" + b;
                Layer c1 = layers.get(li++);
                Layer c2 = layers.get(li++);
                NDArray xq = q.input(c1, h);
                NDArray a = relu(bn(n + ".bn1", convQuantized(c1, xq, q), mode));
                NDArray r = bn(n + ".bn2", conv(c2, a, q), mode);
                h = relu(r.add(shortcut(xq, c1)));
            }
        }
        NDArray pooled = h.mean(new int[] {3}).mean(new int[] {2});
        return dense(layers.get(li), pooled, q);
    }

    /** Option A: identity, or every second pixel with the new channels zero, split evenly before and after. */
    static NDArray shortcut(NDArray x, Layer c1) {
        if (c1.stride() == 1 && c1.in() == c1.out()) {
            return x;
        }
        NDArray sub = x.get(new NDIndex(":, :, ::2, ::2"));
        int extra = c1.out() - c1.in();
        Shape s = sub.getShape();
        NDArray zeros = sub.getManager().zeros(new Shape(s.get(0), extra / 2, s.get(2), s.get(3)));
        return zeros.concat(sub, 1).concat(zeros, 1);
    }
}

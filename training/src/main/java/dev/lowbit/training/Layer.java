package dev.lowbit.training;

/**
 * One layer whose weights and input activations are quantized: a convolution ({@code kernel×kernel}, zero padding
 * {@code kernel/2}, no bias: a batch norm follows it) or a dense layer ({@code kernel = 0}, with a bias).
 *
 * @param index        its place among the network's quantized layers, from 0
 * @param name         the prefix of its parameters, e.g. {@code "s2.b0.conv1"}
 * @param in           input channels (or features)
 * @param out          output channels (or features)
 * @param kernel       the kernel's side, or 0 for a dense layer
 * @param stride       the convolution's stride (1 for a dense layer)
 * @param inSide       the input's height and width (1 for a dense layer)
 * @param macsPerImage multiply-adds per image
 */
public record Layer(int index, String name, int in, int out, int kernel, int stride, int inSide, long macsPerImage) {
    /** A {@code k×k} convolution with padding {@code k/2} on an {@code inSide×inSide} input. */
    static Layer conv(int index, String name, int in, int out, int kernel, int stride, int inSide) {
        int outSide = (inSide + 2 * (kernel / 2) - kernel) / stride + 1;
        return new Layer(index, name, in, out, kernel, stride, inSide, (long) outSide * outSide * out * in * kernel * kernel);
    }

    static Layer dense(int index, String name, int in, int out) {
        return new Layer(index, name, in, out, 0, 1, 1, (long) in * out);
    }

    public boolean isConv() {
        return kernel > 0;
    }

    /** The output's height and width (1 for a dense layer). */
    public int outSide() {
        return isConv() ? (inSide + 2 * (kernel / 2) - kernel) / stride + 1 : 1;
    }

    /** Columns of the weight matrix: {@code in·kernel²}, or {@code in}. */
    public int cols() {
        return isConv() ? in * kernel * kernel : in;
    }

    /** The weight's parameter name. */
    public String weight() {
        return name + ".weight";
    }

    /** Input activations per image. */
    public long inputsPerImage() {
        return (long) in * inSide * inSide;
    }
}

package dev.lowbit.training;

import ai.djl.ndarray.NDArray;

import java.util.Map;

/**
 * How a network's quantized layers see their weights and input activations in a forward pass: fake-quantized
 * ({@link FakeQuant}) at each layer's widths, or unchanged ({@link #FP32}). Layer 0's input is the image, whose
 * pixels are already 8-bit codes ({@code byte/255}), so every quantizer passes it through.
 */
public interface Quantizer {
    /** The weights of {@code layer} as the forward pass uses them. */
    NDArray weight(Layer layer, NDArray w);

    /** The input activations of {@code layer} as the forward pass uses them. */
    NDArray input(Layer layer, NDArray x);

    /** The width of {@code layer}'s weights (32 when not quantized). */
    int weightBits(Layer layer);

    /** The width of {@code layer}'s input activations (32 when not quantized; 8 for the image). */
    int inputBits(Layer layer);

    /** The quantizer's own trainable parameters (step sizes, clip levels), by name, in a fixed order. */
    Map<String, NDArray> parameters();

    /** A short name for logs and reports, e.g. {@code "lsq W4A4"}. */
    String describe();

    /** No quantization: the fp32 network. */
    Quantizer FP32 = new Quantizer() {
        @Override
        public NDArray weight(Layer layer, NDArray w) {
            return w;
        }

        @Override
        public NDArray input(Layer layer, NDArray x) {
            return x;
        }

        @Override
        public int weightBits(Layer layer) {
            return 32;
        }

        @Override
        public int inputBits(Layer layer) {
            return layer.index() == 0 ? 8 : 32;
        }

        @Override
        public Map<String, NDArray> parameters() {
            return Map.of();
        }

        @Override
        public String describe() {
            return "fp32";
        }
    };
}

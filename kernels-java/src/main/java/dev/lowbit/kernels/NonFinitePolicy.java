package dev.lowbit.kernels;

/** What quantization does with a NaN or infinite input value. */
public enum NonFinitePolicy {
    /** Throw an {@link IllegalArgumentException} naming the first such value's index (the default). */
    REJECT,
    /**
     * Replace NaN by 0 and an infinity by the row's largest finite magnitude with the same sign,
     * so that the row keeps the range of its finite values.
     */
    CLAMP
}

package dev.lowbit.models.bert;

/** A linear layer of the forward pass: {@code y[t*out + j] = b[j] + sum_c x[t*in + c] W[j][c]} for n tokens. */
interface Linear {
    int in();

    int out();

    void apply(float[] x, int n, float[] y);

    /** What runs it, for reports: {@code fp32 vector-512}, {@code q8_0x8 int8 per-token}, ... */
    String describe();
}

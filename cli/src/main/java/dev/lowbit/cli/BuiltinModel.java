package dev.lowbit.cli;

/**
 * The word that names the built-in all-MiniLM-L6-v2 wherever a command takes a model ({@code --model minilm}),
 * in place of a file name.
 */
final class BuiltinModel {
    private BuiltinModel() {
    }

    /** The built-in all-MiniLM-L6-v2, carried in the lowbit jar. */
    static final String MINILM = "minilm";

    /** For option help: what {@link #MINILM} stands for. */
    static final String MINILM_HELP = MINILM + " (the built-in all-MiniLM-L6-v2)";

    /** Whether {@code model}, a --model value, names the built-in all-MiniLM-L6-v2 rather than a file. */
    static boolean isMiniLm(String model) {
        return MINILM.equals(model);
    }
}

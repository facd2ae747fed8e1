package dev.lowbit.training;

import ai.djl.ndarray.NDManager;

/**
 * DJL's PyTorch engine, always offline: libtorch comes from the {@code pytorch-native-cpu} jar on the class
 * path, and nothing is downloaded.
 */
public final class Djl {
    private Djl() {
    }

    /** The engine's name in DJL. */
    public static final String ENGINE = "PyTorch";

    /** A new root manager on the PyTorch engine, with {@code ai.djl.offline} set first unless already set. */
    public static NDManager newManager() {
        if (System.getProperty("ai.djl.offline") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
        return NDManager.newBaseManager(ENGINE);
    }
}

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

    /** The system property that sets libtorch's intra-op threads; read when the engine starts. */
    public static final String THREADS_PROPERTY = "ai.djl.pytorch.num_threads";

    /**
     * Sets the engine's threads (intra-op {@code n}, inter-op 1) unless already set; takes effect only before the
     * engine's first use. One thread makes every run repeat bit for bit.
     */
    public static void threads(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + n);
        }
        if (System.getProperty(THREADS_PROPERTY) == null) {
            System.setProperty(THREADS_PROPERTY, Integer.toString(n));
            System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        }
    }

    /**
     * Prepares the calling thread for engine work outside a gradient collector: turns autograd's recording off.
     * libtorch keeps that switch per thread and a new thread starts with it on, so the optimizer's in-place updates
     * and evaluation on another thread than the one that started the engine would record graphs (a step fails with
     * "a leaf Variable that requires grad is being used in an in-place operation"). Loads the engine if nothing has.
     */
    public static void onThisThread() {
        if (System.getProperty("ai.djl.offline") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
        ai.djl.engine.Engine.getEngine(ENGINE);
        ai.djl.pytorch.jni.JniUtils.setGradMode(false);
    }

    /** A new root manager on the PyTorch engine, with {@code ai.djl.offline} set first unless already set. */
    public static NDManager newManager() {
        if (System.getProperty("ai.djl.offline") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
        return NDManager.newBaseManager(ENGINE);
    }
}

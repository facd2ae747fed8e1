package dev.lowbit.training;

/** How a forward pass runs its batch norms. */
public enum Mode {
    /** Batch statistics, and the running statistics updated (a training step). */
    TRAIN,
    /** Batch statistics, running statistics left as they are (AdaQAT's extra passes at other bit-widths). */
    PROBE,
    /** Running statistics (evaluation and export). */
    EVAL;

    boolean batchStats() {
        return this != EVAL;
    }
}

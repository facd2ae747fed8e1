package dev.lowbit.kernels;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;

/**
 * Runs pieces of work on an executor and waits for all of them, rethrowing the first failure as it was.
 * Public for the method layer ({@code algorithms}), which splits rows the same way.
 */
public final class Parallel {
    private Parallel() {
    }

    public static void runAll(List<Runnable> pieces, Executor executor) {
        if (pieces.size() == 1) {
            pieces.get(0).run();
            return;
        }
        CompletableFuture<?>[] futures = new CompletableFuture<?>[pieces.size()];
        for (int i = 0; i < futures.length; i++) {
            futures[i] = CompletableFuture.runAsync(pieces.get(i), executor);
        }
        try {
            CompletableFuture.allOf(futures).join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw e;
        }
    }
}

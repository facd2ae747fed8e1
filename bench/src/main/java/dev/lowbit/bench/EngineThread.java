package dev.lowbit.bench;

import dev.lowbit.training.Djl;

import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * One thread for all of a benchmark's DJL/PyTorch work. libtorch keeps per-thread state (autograd's switch, the
 * OpenMP thread count, its kernels' caches), and a network driven from changing threads, as JMH's iterations may
 * be, computes differently from one driven from one; training runs on one thread, and so does this. A hand-off costs
 * tens of microseconds against steps and batches of tens to hundreds of milliseconds.
 */
final class EngineThread implements AutoCloseable {
    private final ExecutorService executor = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "djl-engine");
        t.setDaemon(true);
        return t;
    });

    <T> T call(Callable<T> work) {
        try {
            return executor.submit(() -> {
                Djl.onThisThread();
                return work.call();
            }).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        }
    }

    @Override
    public void close() {
        executor.shutdown();
    }
}

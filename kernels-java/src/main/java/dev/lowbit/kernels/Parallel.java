package dev.lowbit.kernels;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * Runs pieces of work on an executor and waits for all of them, rethrowing the first failure as it was.
 * Public for the method layer ({@code algorithms}), which splits rows the same way.
 */
public final class Parallel {
    private Parallel() {
    }

    /** Runs every piece and waits for them all; on a {@link Workers} pool the calling thread takes pieces too. */
    public static void runAll(List<Runnable> pieces, Executor executor) {
        if (executor instanceof Workers w) {
            w.runAll(pieces);
            return;
        }
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

    /**
     * A pool for many small pieces of work with little time between them (a forward pass at batch 1 hands work
     * to the threads about 5 times per layer, in pieces of 50 to 200 µs): {@code parallelism - 1} daemon
     * workers and the calling thread, which takes pieces too.
     *
     * <p>A call publishes a job in one volatile slot; the pieces are claimed from an atomic counter, by the caller
     * and by every worker that sees the job, so the caller never only waits while pieces are left (if a worker
     * is slow to wake, the caller runs its piece), and completion is an atomic count of pieces left that the
     * caller spins on. Between jobs a worker spins on the slot for {@code spinNanos} (so the next hand-off costs
     * no wake-up; pause instructions, then yields, see {@link Spin}), then parks until the next job or
     * {@link #close()}; the caller likewise spins for {@code spinNanos} on the last pieces, then parks until the
     * worker that finishes the last one wakes it.
     *
     * <p>Every piece runs exactly once. A failure in a piece does not stop the others; when all have run, the first
     * failure recorded (a {@link RuntimeException} or {@link Error}, as it was) is thrown to the caller. One job
     * runs at a time: a call made while another is in flight (from another thread, or from inside a piece) runs
     * its pieces on its own thread, in order. As an {@link Executor} it runs each command on the calling thread
     * (which the contract allows); {@link Parallel#runAll} gives its pieces to {@link #runAll} instead.
     */
    public static final class Workers implements Executor, AutoCloseable {
        /** How long an idle worker, or a waiting caller, spins before it parks: 100 µs. */
        public static final long DEFAULT_SPIN_NANOS = 100_000;

        private final int parallelism;
        private final long spinNanos;
        private final Worker[] workers;
        private final AtomicBoolean busy = new AtomicBoolean();
        private volatile Job current;
        /** Whether the workers were started: at the first job, so that a pool never used holds no thread. */
        private boolean started;
        private volatile boolean closed;

        /** A pool of {@code parallelism} threads in all: the caller and {@code parallelism - 1} workers. */
        public Workers(int parallelism) {
            this(parallelism, DEFAULT_SPIN_NANOS);
        }

        public Workers(int parallelism, long spinNanos) {
            if (parallelism < 1) {
                throw new IllegalArgumentException("parallelism must be at least 1, got " + parallelism);
            }
            if (spinNanos < 0) {
                throw new IllegalArgumentException("spinNanos must be non-negative, got " + spinNanos);
            }
            this.parallelism = parallelism;
            this.spinNanos = spinNanos;
            this.workers = new Worker[parallelism - 1];
            for (int i = 0; i < workers.length; i++) {
                workers[i] = new Worker("lowbit-worker-" + (i + 1));
            }
        }

        /** Threads that run pieces: the workers and the caller. */
        public int parallelism() {
            return parallelism;
        }

        /** The worker threads (not the caller), for tests and monitoring; started at the first job of several pieces. */
        public List<Thread> threads() {
            return List.of(workers);
        }

        /** Runs every piece of {@code pieces} and waits for them all. */
        public void runAll(List<Runnable> pieces) {
            run(pieces.size(), i -> pieces.get(i).run());
        }

        /**
         * Runs {@code piece.accept(i)} for every {@code i} in {@code [0, count)}, each exactly once, on the workers
         * and the calling thread, and returns when all have run.
         *
         * @throws RejectedExecutionException if the pool is closed
         */
        public void run(int count, IntConsumer piece) {
            if (closed) {
                throw new RejectedExecutionException("the pool is closed");
            }
            if (count <= 0) {
                return;
            }
            if (count == 1 || workers.length == 0 || !busy.compareAndSet(false, true)) {
                runHere(count, piece);
                return;
            }
            Job job = new Job(count, piece);
            try {
                if (!started) { // only one caller at a time gets here (busy)
                    started = true;
                    for (Worker w : workers) {
                        w.start();
                    }
                }
                current = job;
                for (Worker w : workers) {
                    if (w.parked) {
                        LockSupport.unpark(w);
                    }
                }
                job.help();
                job.await(spinNanos);
            } finally {
                current = null;
                busy.set(false);
            }
            job.rethrow();
        }

        private static void runHere(int count, IntConsumer piece) {
            Throwable first = null;
            for (int i = 0; i < count; i++) {
                try {
                    piece.accept(i);
                } catch (Throwable t) {
                    if (first == null) {
                        first = t;
                    }
                }
            }
            rethrow(first);
        }

        private static void rethrow(Throwable t) {
            if (t == null) {
                return;
            }
            if (t instanceof RuntimeException re) {
                throw re;
            }
            if (t instanceof Error e) {
                throw e;
            }
            throw new CompletionException(t);
        }

        /** Runs {@code command} on the calling thread. */
        @Override
        public void execute(Runnable command) {
            if (closed) {
                throw new RejectedExecutionException("the pool is closed");
            }
            command.run();
        }

        /** Stops the workers and waits for them to end (a job in flight completes first, on its caller). */
        @Override
        public void close() {
            closed = true;
            for (Worker w : workers) {
                LockSupport.unpark(w);
            }
            boolean interrupted = false;
            for (Worker w : workers) {
                if (w == Thread.currentThread()) {
                    continue;
                }
                while (true) {
                    try {
                        w.join();
                        break;
                    } catch (InterruptedException e) {
                        interrupted = true;
                    }
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }

        /**
         * A wait of at most {@code limit} ns in steps: a pause instruction ({@link Thread#onSpinWait()}) for the
         * first fifth, then a {@link Thread#yield()} per step, which costs little on an idle core but lets the
         * thread that holds a claimed piece (or the caller's serial work) run when the cores are oversubscribed.
         */
        private static final class Spin {
            private final long limit;
            private long start;
            private int steps;

            Spin(long limit) {
                this.limit = limit;
                reset();
            }

            void reset() {
                start = System.nanoTime();
                steps = 0;
            }

            /** One step of waiting; false (and no wait) once the time is up. */
            boolean step() {
                if (steps >= 0 && (++steps & 63) != 0) {
                    Thread.onSpinWait();
                    return true;
                }
                long spun = System.nanoTime() - start;
                if (spun >= limit) {
                    return false;
                }
                if (spun < limit / 5) {
                    Thread.onSpinWait();
                } else {
                    steps = -1; // yielding from now on: look at the clock every step
                    Thread.yield();
                }
                return true;
            }
        }

        private final class Worker extends Thread {
            volatile boolean parked;

            Worker(String name) {
                super(name);
                setDaemon(true);
            }

            @Override
            public void run() {
                Job seen = null;
                Spin spin = new Spin(spinNanos);
                while (!closed) {
                    Job j = current;
                    if (j != seen) {
                        seen = j;
                        if (j != null) {
                            j.help();
                        }
                        spin.reset();
                        continue;
                    }
                    if (spin.step()) {
                        continue;
                    }
                    // Announce the park, then look again: a caller that publishes after this sees the flag and
                    // unparks (and an unpark before the park makes it return at once).
                    parked = true;
                    if (current == seen && !closed) {
                        LockSupport.park(this);
                    }
                    parked = false;
                    Thread.interrupted();
                    spin.reset();
                }
            }
        }

        private static final class Job {
            final int count;
            final IntConsumer piece;
            final AtomicInteger next = new AtomicInteger();
            final AtomicInteger remaining;
            final AtomicReference<Throwable> failure = new AtomicReference<>();
            volatile Thread waiter;

            Job(int count, IntConsumer piece) {
                this.count = count;
                this.piece = piece;
                this.remaining = new AtomicInteger(count);
            }

            /** Claims and runs pieces until none are left to claim. */
            void help() {
                int i;
                while ((i = next.getAndIncrement()) < count) {
                    try {
                        piece.accept(i);
                    } catch (Throwable t) {
                        failure.compareAndSet(null, t);
                    }
                    if (remaining.decrementAndGet() == 0) {
                        Thread w = waiter;
                        if (w != null) {
                            LockSupport.unpark(w);
                        }
                    }
                }
            }

            /** Waits until every piece has run: spins for {@code spinNanos}, then parks. */
            void await(long spinNanos) {
                if (remaining.get() == 0) {
                    return;
                }
                Spin spin = new Spin(spinNanos);
                while (remaining.get() != 0 && spin.step()) {
                    // spin, then yield
                }
                if (remaining.get() == 0) {
                    return;
                }
                waiter = Thread.currentThread();
                boolean interrupted = false;
                while (remaining.get() != 0) {
                    LockSupport.park(this);
                    if (Thread.interrupted()) {
                        interrupted = true;
                    }
                }
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }

            void rethrow() {
                Workers.rethrow(failure.get());
            }
        }
    }
}

package dev.lowbit.kernels;

import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * Where parallel work runs: a number of threads that work is split for ({@link #parallelism()}), and a way to run
 * pieces of work on them and wait for all of them, rethrowing the first failure as it was (a
 * {@link RuntimeException} or {@link Error}). Every piece runs exactly once, and a failure in one piece does not
 * stop the others. The kernels ({@link MatmulOps}, {@link QuantOps}), the methods of the {@code algorithms} module
 * and the models take one.
 * <ul>
 *   <li>{@link Workers}: parked threads for many small pieces with little time between them (a forward pass);</li>
 *   <li>{@link #common()}, {@link #of(ForkJoinPool)}, {@link #forkJoin(int)}: a {@link ForkJoinPool};</li>
 *   <li>{@link #of(Executor, int)}: any executor, with the parallelism to split for;</li>
 *   <li>{@link #callerThread()}: every piece in order on the calling thread.</li>
 * </ul>
 * Closing a pool stops the threads it owns: a {@link Workers} pool's, and a {@link #forkJoin(int)} pool's; the
 * others own no thread and closing them does nothing.
 */
public sealed interface ThreadPool extends AutoCloseable permits ThreadPool.Workers, ThreadPool.OnExecutor,
        ThreadPool.CallerThread {

    /** The number of threads work is split for. */
    int parallelism();

    /**
     * Runs {@code piece.accept(i)} for every {@code i} in {@code [0, count)}, each exactly once, and returns when
     * all have run; then rethrows the first failure, if any.
     *
     * @throws RejectedExecutionException if the pool is closed
     */
    void run(int count, IntConsumer piece);

    /** Runs every piece of {@code pieces} and waits for them all, as {@link #run} does. */
    default void runAll(List<Runnable> pieces) {
        run(pieces.size(), i -> pieces.get(i).run());
    }

    /** Stops the threads this pool owns, if any. */
    @Override
    default void close() {
    }

    /** The common {@link ForkJoinPool}, its parallelism as the pool reports it. */
    static ThreadPool common() {
        return OnExecutor.COMMON;
    }

    /** {@code pool}, whose parallelism is {@link ForkJoinPool#getParallelism()}; closing this leaves it running. */
    static ThreadPool of(ForkJoinPool pool) {
        Objects.requireNonNull(pool, "pool");
        return new OnExecutor(pool, pool.getParallelism(), false);
    }

    /**
     * Any executor, with work split for {@code parallelism} threads (each piece handed to it, the caller waiting);
     * closing this leaves the executor running.
     */
    static ThreadPool of(Executor executor, int parallelism) {
        Objects.requireNonNull(executor, "executor");
        if (parallelism < 1) {
            throw new IllegalArgumentException("parallelism must be at least 1, got " + parallelism);
        }
        return new OnExecutor(executor, parallelism, false);
    }

    /** A new {@link ForkJoinPool} of {@code parallelism} threads, which {@link #close()} shuts down and waits for. */
    static ThreadPool forkJoin(int parallelism) {
        if (parallelism < 1) {
            throw new IllegalArgumentException("parallelism must be at least 1, got " + parallelism);
        }
        return new OnExecutor(new ForkJoinPool(parallelism), parallelism, true);
    }

    /**
     * The calling thread alone: work is split as for one thread per processor (the same pieces as on such a pool,
     * hence the same results), and the pieces run one after another on the caller. For kernels that hand the work
     * to a device, or memory only the caller may touch.
     */
    static ThreadPool callerThread() {
        return CallerThread.INSTANCE;
    }

    /** The pieces on an executor: each handed to it (a single piece runs on the caller), the caller waiting for all. */
    final class OnExecutor implements ThreadPool {
        static final OnExecutor COMMON = new OnExecutor(ForkJoinPool.commonPool(),
                ForkJoinPool.commonPool().getParallelism(), false);

        private final Executor executor;
        private final int parallelism;
        private final boolean owned;

        private OnExecutor(Executor executor, int parallelism, boolean owned) {
            this.executor = executor;
            this.parallelism = parallelism;
            this.owned = owned;
        }

        @Override
        public int parallelism() {
            return parallelism;
        }

        @Override
        public void run(int count, IntConsumer piece) {
            if (count == 1) {
                piece.accept(0);
                return;
            }
            CompletableFuture<?>[] futures = new CompletableFuture<?>[Math.max(count, 0)];
            for (int i = 0; i < futures.length; i++) {
                int k = i;
                futures[i] = CompletableFuture.runAsync(() -> piece.accept(k), executor);
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

        /** Shuts the executor down and waits for it when this pool made it; else nothing. */
        @Override
        public void close() {
            if (owned) {
                ((ExecutorService) executor).close();
            }
        }
    }

    /** Every piece on the calling thread, in order; work is split for one thread per processor. */
    final class CallerThread implements ThreadPool {
        static final CallerThread INSTANCE = new CallerThread();

        private CallerThread() {
        }

        @Override
        public int parallelism() {
            return Runtime.getRuntime().availableProcessors();
        }

        @Override
        public void run(int count, IntConsumer piece) {
            if (count == 1) {
                piece.accept(0);
                return;
            }
            Workers.runHere(count, piece);
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
     * (which the contract allows).
     */
    final class Workers implements ThreadPool, Executor {
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
        @Override
        public int parallelism() {
            return parallelism;
        }

        /** The worker threads (not the caller), for tests and monitoring; started at the first job of several pieces. */
        public List<Thread> threads() {
            return List.of(workers);
        }

        /** Runs every piece of {@code pieces} and waits for them all. */
        @Override
        public void runAll(List<Runnable> pieces) {
            run(pieces.size(), i -> pieces.get(i).run());
        }

        /**
         * Runs {@code piece.accept(i)} for every {@code i} in {@code [0, count)}, each exactly once, on the workers
         * and the calling thread, and returns when all have run.
         *
         * @throws RejectedExecutionException if the pool is closed
         */
        @Override
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

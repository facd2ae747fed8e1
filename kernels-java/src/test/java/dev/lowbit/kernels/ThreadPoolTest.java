package dev.lowbit.kernels;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link ThreadPool.Workers}: every piece once, failures rethrown, parking and waking, closing; the other pools:
 * their parallelism, every piece once, the first failure rethrown after all ran, what closing stops.
 */
class ThreadPoolTest {

    @Test
    void everyPieceRunsExactlyOnceAndItsResultIsSeen() {
        try (ThreadPool.Workers pool = new ThreadPool.Workers(3)) {
            for (int round = 0; round < 2000; round++) {
                int count = 1 + round % 17;
                AtomicIntegerArray runs = new AtomicIntegerArray(count);
                long[] results = new long[count]; // plain writes, read by the caller after run returns
                pool.run(count, i -> {
                    runs.incrementAndGet(i);
                    long s = 0;
                    for (int j = 0; j <= i * 100; j++) {
                        s += j;
                    }
                    results[i] = s;
                });
                for (int i = 0; i < count; i++) {
                    assertEquals(1, runs.get(i), "piece " + i + " of " + count + ", round " + round);
                    long n = i * 100L;
                    assertEquals(n * (n + 1) / 2, results[i], "piece " + i + " of " + count + ", round " + round);
                }
            }
        }
    }

    @Test
    void theCallerAndTheWorkersShareThePieces() throws InterruptedException {
        try (ThreadPool.Workers pool = new ThreadPool.Workers(3)) {
            // Each piece waits until all 3 have started: only 3 threads running at once can finish.
            for (int round = 0; round < 20; round++) {
                CountDownLatch started = new CountDownLatch(3);
                Set<Thread> threads = ConcurrentHashMap.newKeySet();
                pool.run(3, i -> {
                    threads.add(Thread.currentThread());
                    started.countDown();
                    try {
                        assertTrue(started.await(30, TimeUnit.SECONDS), "3 pieces at once");
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                });
                assertEquals(3, threads.size());
                assertTrue(threads.contains(Thread.currentThread()), "the caller ran a piece");
            }
        }
    }

    @Test
    void aFailureInAWorkerPieceIsRethrownAfterAllPiecesRan() {
        try (ThreadPool.Workers pool = new ThreadPool.Workers(2)) {
            Thread caller = Thread.currentThread();
            for (int round = 0; round < 50; round++) {
                IllegalStateException boom = new IllegalStateException("piece failed");
                AtomicInteger ran = new AtomicInteger();
                CountDownLatch both = new CountDownLatch(2);
                // Two pieces that wait for each other, so each runs on its own thread; the worker's fails.
                IllegalStateException thrown = assertThrows(IllegalStateException.class, () -> pool.run(2, i -> {
                    both.countDown();
                    try {
                        assertTrue(both.await(30, TimeUnit.SECONDS));
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                    ran.incrementAndGet();
                    if (Thread.currentThread() != caller) {
                        throw boom;
                    }
                }));
                assertSame(boom, thrown);
                assertEquals(2, ran.get());
            }
            // An Error comes back as it was too, and the pool still works afterwards.
            AssertionError err = new AssertionError("bad");
            assertSame(err, assertThrows(AssertionError.class, () -> pool.run(4, i -> {
                if (i == 3) {
                    throw err;
                }
            })));
            AtomicInteger after = new AtomicInteger();
            pool.run(5, i -> after.incrementAndGet());
            assertEquals(5, after.get());
        }
    }

    @Test
    void theFirstOfSeveralFailuresIsRethrown() {
        try (ThreadPool.Workers pool = new ThreadPool.Workers(2)) {
            List<RuntimeException> all = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                all.add(new RuntimeException("piece " + i));
            }
            RuntimeException thrown = assertThrows(RuntimeException.class, () -> pool.run(8, i -> {
                throw all.get(i);
            }));
            assertTrue(all.contains(thrown));
        }
    }

    @Test
    void workersParkWhenIdleAndWakeForTheNextJob() throws InterruptedException {
        try (ThreadPool.Workers pool = new ThreadPool.Workers(3, 50_000)) {
            pool.run(3, i -> { });
            List<Thread> workers = pool.threads();
            assertEquals(2, workers.size());
            // After the spin window every worker parks (WAITING), rather than spinning on.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!workers.stream().allMatch(t -> t.getState() == Thread.State.WAITING)) {
                assertTrue(System.nanoTime() < deadline, "workers still running after 30 s idle: "
                        + workers.stream().map(Thread::getState).toList());
                Thread.sleep(5);
            }
            // Parked workers wake for the next job and take part: 3 pieces that wait for each other.
            CountDownLatch started = new CountDownLatch(3);
            Set<Thread> threads = ConcurrentHashMap.newKeySet();
            pool.run(3, i -> {
                threads.add(Thread.currentThread());
                started.countDown();
                try {
                    assertTrue(started.await(30, TimeUnit.SECONDS), "3 pieces at once after parking");
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            assertEquals(3, threads.size());
            assertTrue(threads.containsAll(workers));
        }
    }

    @Test
    void aPoolNeverUsedHoldsNoThread() {
        ThreadPool.Workers pool = new ThreadPool.Workers(3);
        pool.run(1, i -> { }); // one piece runs on the caller
        pool.threads().forEach(t -> assertFalse(t.isAlive(), t.getName()));
        pool.close();
        pool.threads().forEach(t -> assertFalse(t.isAlive(), t.getName()));
    }

    @Test
    void closeStopsTheWorkers() throws InterruptedException {
        ThreadPool.Workers pool = new ThreadPool.Workers(4);
        pool.run(10, i -> { });
        List<Thread> workers = pool.threads();
        assertEquals(3, workers.size());
        workers.forEach(t -> assertTrue(t.isAlive() && t.isDaemon()));
        pool.close();
        for (Thread t : workers) {
            t.join(30_000);
            assertFalse(t.isAlive(), t.getName() + " still alive after close");
        }
        assertThrows(RejectedExecutionException.class, () -> pool.run(2, i -> { }));
        assertThrows(RejectedExecutionException.class, () -> pool.execute(() -> { }));
    }

    @Test
    void nestedAndSingleThreadCallsRunOnTheCaller() {
        try (ThreadPool.Workers pool = new ThreadPool.Workers(2)) {
            AtomicIntegerArray runs = new AtomicIntegerArray(12);
            pool.run(3, i -> pool.run(4, j -> runs.incrementAndGet(i * 4 + j)));
            for (int i = 0; i < 12; i++) {
                assertEquals(1, runs.get(i), "nested piece " + i);
            }
        }
        try (ThreadPool.Workers one = new ThreadPool.Workers(1)) {
            assertEquals(0, one.threads().size());
            Thread caller = Thread.currentThread();
            AtomicInteger ran = new AtomicInteger();
            one.run(5, i -> {
                assertSame(caller, Thread.currentThread());
                ran.incrementAndGet();
            });
            assertEquals(5, ran.get());
        }
    }

    @Test
    void runAllDispatchesToThePool() {
        try (ThreadPool.Workers pool = new ThreadPool.Workers(2)) {
            AtomicIntegerArray runs = new AtomicIntegerArray(6);
            List<Runnable> pieces = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                int k = i;
                pieces.add(() -> runs.incrementAndGet(k));
            }
            pool.runAll(pieces);
            for (int i = 0; i < 6; i++) {
                assertEquals(1, runs.get(i));
            }
            IllegalArgumentException boom = new IllegalArgumentException("x");
            assertSame(boom, assertThrows(IllegalArgumentException.class,
                    () -> pool.runAll(List.of(() -> { }, () -> {
                        throw boom;
                    }))));
        }
    }

    @Test
    void theOtherPoolsReportTheirParallelism() {
        assertEquals(ForkJoinPool.commonPool().getParallelism(), ThreadPool.common().parallelism());
        ForkJoinPool fj = new ForkJoinPool(3);
        try {
            assertEquals(3, ThreadPool.of(fj).parallelism());
        } finally {
            fj.shutdown();
        }
        assertEquals(Runtime.getRuntime().availableProcessors(), ThreadPool.callerThread().parallelism());
        try (ThreadPool.Workers w = new ThreadPool.Workers(3); ThreadPool f = ThreadPool.forkJoin(2)) {
            assertEquals(3, w.parallelism());
            assertEquals(2, f.parallelism());
        }
        assertThrows(IllegalArgumentException.class, () -> ThreadPool.forkJoin(0));
        assertThrows(IllegalArgumentException.class, () -> ThreadPool.of(Runnable::run, 0));
    }

    @Test
    void everyPoolRunsEveryPieceOnceAndRethrowsTheFirstFailure() {
        ExecutorService fixed = Executors.newFixedThreadPool(2);
        try (ThreadPool f = ThreadPool.forkJoin(2)) {
            for (ThreadPool pool : List.of(ThreadPool.common(), f, ThreadPool.of(fixed, 2), ThreadPool.callerThread())) {
                for (int count : new int[] {0, 1, 2, 7}) {
                    AtomicIntegerArray runs = new AtomicIntegerArray(count);
                    pool.run(count, runs::incrementAndGet);
                    for (int i = 0; i < count; i++) {
                        assertEquals(1, runs.get(i), "piece " + i + " of " + count + " on " + pool);
                    }
                }
                IllegalStateException boom = new IllegalStateException("piece failed");
                AtomicInteger ran = new AtomicInteger();
                assertSame(boom, assertThrows(IllegalStateException.class, () -> pool.run(5, i -> {
                    ran.incrementAndGet();
                    if (i == 2) {
                        throw boom;
                    }
                })));
                assertEquals(5, ran.get(), "every piece ran on " + pool);
            }
        } finally {
            fixed.shutdown();
        }
    }

    @Test
    void theCallerThreadRunsThePiecesInOrderOnTheCaller() {
        Thread caller = Thread.currentThread();
        List<Integer> order = new ArrayList<>();
        ThreadPool.callerThread().run(6, i -> {
            assertSame(caller, Thread.currentThread());
            order.add(i);
        });
        assertEquals(List.of(0, 1, 2, 3, 4, 5), order);
    }

    @Test
    void closingAForkJoinPoolStopsItOnlyWhenItMadeIt() {
        ForkJoinPool fj = new ForkJoinPool(2);
        try {
            ThreadPool.of(fj).close();
            assertFalse(fj.isShutdown());
        } finally {
            fj.shutdown();
        }
        ThreadPool.common().close();
        AtomicInteger after = new AtomicInteger();
        ThreadPool.common().run(3, i -> after.incrementAndGet());
        assertEquals(3, after.get());
        ThreadPool own = ThreadPool.forkJoin(2);
        own.run(4, i -> { });
        own.close();
        assertThrows(RejectedExecutionException.class, () -> own.run(4, i -> { }));
    }
}

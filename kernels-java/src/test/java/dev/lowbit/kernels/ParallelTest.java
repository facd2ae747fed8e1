package dev.lowbit.kernels;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link Parallel.Workers}: every piece once, failures rethrown, parking and waking, closing. */
class ParallelTest {

    @Test
    void everyPieceRunsExactlyOnceAndItsResultIsSeen() {
        try (Parallel.Workers pool = new Parallel.Workers(3)) {
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
        try (Parallel.Workers pool = new Parallel.Workers(3)) {
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
        try (Parallel.Workers pool = new Parallel.Workers(2)) {
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
        try (Parallel.Workers pool = new Parallel.Workers(2)) {
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
        try (Parallel.Workers pool = new Parallel.Workers(3, 50_000)) {
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
        Parallel.Workers pool = new Parallel.Workers(3);
        pool.run(1, i -> { }); // one piece runs on the caller
        pool.threads().forEach(t -> assertFalse(t.isAlive(), t.getName()));
        pool.close();
        pool.threads().forEach(t -> assertFalse(t.isAlive(), t.getName()));
    }

    @Test
    void closeStopsTheWorkers() throws InterruptedException {
        Parallel.Workers pool = new Parallel.Workers(4);
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
        try (Parallel.Workers pool = new Parallel.Workers(2)) {
            AtomicIntegerArray runs = new AtomicIntegerArray(12);
            pool.run(3, i -> pool.run(4, j -> runs.incrementAndGet(i * 4 + j)));
            for (int i = 0; i < 12; i++) {
                assertEquals(1, runs.get(i), "nested piece " + i);
            }
        }
        try (Parallel.Workers one = new Parallel.Workers(1)) {
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
        try (Parallel.Workers pool = new Parallel.Workers(2)) {
            AtomicIntegerArray runs = new AtomicIntegerArray(6);
            List<Runnable> pieces = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                int k = i;
                pieces.add(() -> runs.incrementAndGet(k));
            }
            Parallel.runAll(pieces, pool);
            for (int i = 0; i < 6; i++) {
                assertEquals(1, runs.get(i));
            }
            IllegalArgumentException boom = new IllegalArgumentException("x");
            assertSame(boom, assertThrows(IllegalArgumentException.class,
                    () -> Parallel.runAll(List.of(() -> { }, () -> {
                        throw boom;
                    }), pool)));
        }
    }
}

package io.tokenquota.examples.bench;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A closed-loop load run: N threads call one operation back to back for a warm-up, then for a
 * measured window of fixed length; only operations that finish inside the window count.
 * Not thread-safe itself; one instance per run.
 */
final class LoadRun {

    /** One unit of work. Returns false when it was refused (quota exceeded): counted, not an error. */
    @FunctionalInterface
    interface Op {
        boolean run(int thread, SplittableRandom random) throws Exception;
    }

    /**
     * What a run measured.
     *
     * @param latenciesNanos sorted latencies of the measured operations, or an empty array when not recorded
     * @param completedInAll every operation that finished, warm-up and window edges included
     * @param cpuNanos       CPU time the window cost, by the run's {@link CpuClock}; -1 when not measured
     *                       (sampled when the window opens and once it has closed, so the window's last
     *                       operations, finished after it, are included: a slight overcount)
     * @param serverCpuNanos the part of {@code cpuNanos} the database's server processes spent; -1 when not measured
     */
    record Result(int threads, long ops, long refused, long errors, double seconds, long[] latenciesNanos,
                  Throwable firstError, long completedInAll, long cpuNanos, long serverCpuNanos) {

        double opsPerSecond() {
            return (ops + refused) / seconds;
        }

        /** Latency at quantile {@code q} (0..1) in microseconds, by the nearest-rank method. */
        double percentileMicros(double q) {
            if (latenciesNanos.length == 0) {
                return Double.NaN;
            }
            int rank = (int) Math.ceil(q * latenciesNanos.length);
            int index = Math.min(latenciesNanos.length - 1, Math.max(0, rank - 1));
            return latenciesNanos[index] / 1_000.0;
        }
    }

    private static final int PHASE_WARMUP = 0;
    private static final int PHASE_MEASURE = 1;
    private static final int PHASE_STOP = 2;

    private static final Duration MAX_EXTENSION = Duration.ofSeconds(30);

    private volatile int phase = PHASE_WARMUP;
    private final java.util.concurrent.atomic.LongAdder measuredOps = new java.util.concurrent.atomic.LongAdder();

    private LoadRun() {
    }

    static Result run(int threads, Duration warmup, Duration measure, boolean recordLatency, Op op)
            throws InterruptedException {
        return new LoadRun().execute(threads, warmup, measure, recordLatency, op, null);
    }

    static Result run(int threads, Duration warmup, Duration measure, boolean recordLatency, CpuClock cpu, Op op)
            throws InterruptedException {
        return new LoadRun().execute(threads, warmup, measure, recordLatency, op, cpu);
    }

    static Result run(int threads, Duration warmup, Duration measure, CpuClock cpu, Op op)
            throws InterruptedException {
        return new LoadRun().execute(threads, warmup, measure, false, op, cpu);
    }

    private Result execute(int threads, Duration warmup, Duration measure, boolean recordLatency, Op op,
                           CpuClock cpu) throws InterruptedException {
        long[][] counts = new long[threads][4];
        List<long[]> latencies = new ArrayList<>();
        int[] latencyCount = new int[threads];
        for (int t = 0; t < threads; t++) {
            latencies.add(recordLatency ? new long[1 << 14] : new long[0]);
        }
        AtomicReference<Throwable> firstError = new AtomicReference<>();
        long[] cpuAtStop = new long[threads];
        CountDownLatch started = new CountDownLatch(threads);
        CountDownLatch done = new CountDownLatch(threads);
        Thread[] workers = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            final int thread = t;
            workers[t] = new Thread(() -> {
                SplittableRandom random = new SplittableRandom(0x5eedL * 31 + thread);
                long[] count = counts[thread];
                started.countDown();
                try {
                    int p;
                    while ((p = phase) != PHASE_STOP) {
                        long begin = System.nanoTime();
                        int outcome;
                        try {
                            outcome = op.run(thread, random) ? 0 : 1;
                        } catch (Exception | AssertionError e) {
                            firstError.compareAndSet(null, e);
                            outcome = 2;
                        }
                        long elapsed = System.nanoTime() - begin;
                        count[3]++;
                        // an operation counts only if it started and ended inside the window
                        if (p == PHASE_MEASURE && phase == PHASE_MEASURE) {
                            count[outcome]++;
                            measuredOps.increment();
                            if (recordLatency && outcome != 2) {
                                long[] lat = latencies.get(thread);
                                int n = latencyCount[thread];
                                if (n == lat.length) {
                                    lat = Arrays.copyOf(lat, n * 2);
                                    latencies.set(thread, lat);
                                }
                                lat[n] = elapsed;
                                latencyCount[thread] = n + 1;
                            }
                        }
                    }
                } finally {
                    // a finished thread has no CPU time to ask for, so each one reads its own on the way out
                    cpuAtStop[thread] = java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
                    done.countDown();
                }
            }, "bench-load-" + t);
            workers[t].setDaemon(true);
            workers[t].start();
        }
        started.await();
        sleep(warmup);
        long[] cpuBegin = cpu == null ? null : cpu.sample(CpuClock.threadCpu(workers));
        long begin = System.nanoTime();
        phase = PHASE_MEASURE;
        sleep(measure);
        // on a starved machine one operation can outlast a short window: wait for at least one to land
        long giveUp = System.nanoTime() + MAX_EXTENSION.toNanos();
        while (measuredOps.sum() == 0 && firstError.get() == null && System.nanoTime() < giveUp) {
            sleep(Duration.ofMillis(5));
        }
        phase = PHASE_STOP;
        double seconds = (System.nanoTime() - begin) / 1e9;
        done.await();
        long[] cpuEnd = cpu == null ? null : cpu.sample(cpuAtStop);
        long cpuNanos = cpu == null ? -1 : CpuClock.between(cpuBegin, cpuEnd);
        long serverCpuNanos = cpu == null || !cpu.includesDatabase() ? -1 : CpuClock.serverBetween(cpuBegin, cpuEnd);
        long ops = 0;
        long refused = 0;
        long errors = 0;
        long completed = 0;
        int total = 0;
        for (int t = 0; t < threads; t++) {
            ops += counts[t][0];
            refused += counts[t][1];
            errors += counts[t][2];
            completed += counts[t][3];
            total += latencyCount[t];
        }
        long[] all = new long[recordLatency ? total : 0];
        if (recordLatency) {
            int at = 0;
            for (int t = 0; t < threads; t++) {
                System.arraycopy(latencies.get(t), 0, all, at, latencyCount[t]);
                at += latencyCount[t];
            }
            Arrays.sort(all);
        }
        return new Result(threads, ops, refused, errors, seconds, all, firstError.get(), completed, cpuNanos,
                serverCpuNanos);
    }

    // The driver thread only waits for the window to pass; nothing is synchronised on this sleep.
    private static void sleep(Duration d) throws InterruptedException {
        long end = System.nanoTime() + d.toNanos();
        long left;
        while ((left = end - System.nanoTime()) > 0) {
            Thread.sleep(Math.max(1, left / 1_000_000));
        }
    }
}

package io.tokenquota.examples.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * CPU time spent on the operations themselves: the load threads' own CPU (the library, the JDBC
 * driver, and for H2 the database too) plus, for a local PostgreSQL, the CPU of the server processes
 * that serve the run's connection pool (read from /proc). JIT and GC threads, autovacuum and every
 * other process on the machine are left out, so the CPU an operation costs is much steadier on a
 * shared, noisy machine than the operations per second it reaches. Immutable and thread-safe.
 */
final class CpuClock {
    private static final long NANOS_PER_TICK = 10_000_000L; // USER_HZ is 100 on Linux

    private final List<Long> serverPids;
    /** The whole JVM's CPU instead of the load threads': where the work runs on threads the run does not own. */
    private final boolean wholeProcess;

    private CpuClock(List<Long> serverPids, boolean wholeProcess) {
        this.serverPids = List.copyOf(serverPids);
        this.wholeProcess = wholeProcess;
    }

    /** The load threads only (H2 runs inside them; a remote server's CPU cannot be seen). */
    static CpuClock threadsOnly() {
        return new CpuClock(List.of(), false);
    }

    /**
     * This JVM's whole CPU: the container's request threads, the HTTP client's, the JIT and the GC, for
     * a run whose load threads only wait on work done elsewhere in the process (the filter section).
     */
    static CpuClock wholeProcess() {
        return new CpuClock(List.of(), true);
    }

    /** The load threads and these local server processes (PostgreSQL backends of the pool). */
    static CpuClock withServerProcesses(List<Long> pids) {
        return new CpuClock(pids, false);
    }

    boolean includesDatabase() {
        return !serverPids.isEmpty();
    }

    /**
     * CPU nanoseconds used so far, one entry per server process (-1 when it is gone) and the load
     * threads' total ({@code threadCpu}, one reading per thread) last; {@link #between} turns two samples into the CPU spent between them.
     */
    long[] sample(long[] threadCpu) {
        long[] out = new long[serverPids.size() + 1];
        for (int i = 0; i < serverPids.size(); i++) {
            out[i] = -1;
            try {
                String s = Files.readString(Path.of("/proc", Long.toString(serverPids.get(i)), "stat"));
                // after the command name (which may hold spaces): state ppid ... utime(12th) stime(13th)
                String[] f = s.substring(s.lastIndexOf(')') + 2).trim().split(" ");
                out[i] = (Long.parseLong(f[11]) + Long.parseLong(f[12])) * NANOS_PER_TICK;
            } catch (IOException | RuntimeException e) {
                // the backend ended (the pool replaced a connection): left out of this window
            }
        }
        if (wholeProcess) {
            out[serverPids.size()] = ((com.sun.management.OperatingSystemMXBean) ManagementFactory
                    .getOperatingSystemMXBean()).getProcessCpuTime();
            return out;
        }
        long total = 0;
        for (long cpu : threadCpu) {
            if (cpu > 0) {
                total += cpu;
            }
        }
        out[serverPids.size()] = total;
        return out;
    }

    /** The CPU time of each live thread (-1 for one that has ended). */
    static long[] threadCpu(Thread[] workers) {
        var threads = ManagementFactory.getThreadMXBean();
        long[] out = new long[workers.length];
        for (int i = 0; i < workers.length; i++) {
            out[i] = threads.getThreadCpuTime(workers[i].getId());
        }
        return out;
    }

    /** The part of {@link #between} spent by the server processes (the samples' entries but the last). */
    static long serverBetween(long[] before, long[] after) {
        return between(Arrays.copyOf(before, before.length - 1), Arrays.copyOf(after, after.length - 1));
    }

    /** CPU spent between two samples, counting only the processes present in both. */
    static long between(long[] before, long[] after) {
        long total = 0;
        for (int i = 0; i < before.length; i++) {
            if (before[i] >= 0 && after[i] >= before[i]) {
                total += after[i] - before[i];
            }
        }
        return total;
    }
}

package io.tokenquota.examples.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
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

    private CpuClock(List<Long> serverPids) {
        this.serverPids = List.copyOf(serverPids);
    }

    /** The load threads only (H2 runs inside them; a remote server's CPU cannot be seen). */
    static CpuClock threadsOnly() {
        return new CpuClock(List.of());
    }

    /** The load threads and these local server processes (PostgreSQL backends of the pool). */
    static CpuClock withServerProcesses(List<Long> pids) {
        return new CpuClock(pids);
    }

    boolean includesDatabase() {
        return !serverPids.isEmpty();
    }

    /** CPU nanoseconds used so far by {@code workers} and the server processes. */
    long sample(Thread[] workers) {
        var threads = ManagementFactory.getThreadMXBean();
        long total = 0;
        for (Thread t : workers) {
            long cpu = threads.getThreadCpuTime(t.getId());
            if (cpu > 0) {
                total += cpu;
            }
        }
        for (long pid : serverPids) {
            try {
                String s = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
                // after the command name (which may hold spaces): state ppid ... utime(12th) stime(13th)
                String[] f = s.substring(s.lastIndexOf(')') + 2).trim().split(" ");
                total += (Long.parseLong(f[11]) + Long.parseLong(f[12])) * NANOS_PER_TICK;
            } catch (IOException | RuntimeException e) {
                // the backend ended (the pool replaced a connection): its time is lost, a small undercount
            }
        }
        return total;
    }
}

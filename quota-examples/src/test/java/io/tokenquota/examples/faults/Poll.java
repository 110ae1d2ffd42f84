package io.tokenquota.examples.faults;

import java.time.Duration;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;

/**
 * Waits for an external process (a service JVM, a database) to reach a state: polls a condition
 * until it holds or a deadline passes. The short pause between polls is not a timing assumption;
 * only the deadline is. Not thread-safe (stateless statics).
 */
final class Poll {
    private static final long PAUSE_NANOS = Duration.ofMillis(50).toNanos();

    private Poll() {
    }

    /** Returns the first non-null value the probe gives, or fails after {@code deadline}. */
    static <T> T until(Duration deadline, String what, Supplier<T> probe) {
        long end = System.nanoTime() + deadline.toNanos();
        RuntimeException last = null;
        while (true) {
            try {
                T value = probe.get();
                if (value != null) {
                    return value;
                }
            } catch (RuntimeException e) {
                last = e;
            }
            if (System.nanoTime() - end > 0) {
                AssertionError failure = new AssertionError("gave up after " + deadline + " waiting for " + what);
                if (last != null) {
                    failure.initCause(last);
                }
                throw failure;
            }
            LockSupport.parkNanos(PAUSE_NANOS);
        }
    }

    /** Waits until {@code condition} is true. */
    static void untilTrue(Duration deadline, String what, Supplier<Boolean> condition) {
        until(deadline, what, () -> Boolean.TRUE.equals(condition.get()) ? Boolean.TRUE : null);
    }
}

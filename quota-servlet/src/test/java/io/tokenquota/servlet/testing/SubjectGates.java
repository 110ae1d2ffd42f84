package io.tokenquota.servlet.testing;

import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Latches by subject that a round's endpoint waits at (the work it does after its answer: saving the
 * thread, an audit log) until the test opens them, 20 s at most. Thread-safe.
 */
public final class SubjectGates {
    private final Map<String, CountDownLatch> gates = new ConcurrentHashMap<>();

    public void put(String subject, CountDownLatch gate) {
        gates.put(subject, gate);
    }

    public void remove(String subject) {
        gates.remove(subject);
    }

    /**
     * Runs {@code during} while the subject's gate is shut (its endpoints still at their work after the
     * answer), then opens and removes the gate, also when {@code during} fails; what {@code during} returned.
     */
    public <T> T whileShut(String subject, Callable<T> during) throws Exception {
        CountDownLatch gate = new CountDownLatch(1);
        put(subject, gate);
        try {
            return during.call();
        } finally {
            gate.countDown();
            remove(subject);
        }
    }

    /** Waits at the subject's gate, if one is set. */
    public void pass(String subject) {
        CountDownLatch gate = gates.get(subject);
        if (gate == null) {
            return;
        }
        try {
            gate.await(20, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}

package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.tokenquota.ErrorCode;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.jdbi.testing.H2Extension;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.jdbi.v3.core.Jdbi;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The {@link Combiner} on its own. Round 343: a caller whose thread is interrupted waits as any other (parked,
 * not spinning: {@code LockSupport.park} returns at once while the interrupt is set), gets its outcome, and has
 * its interrupt back when it returns, as {@code java.util.concurrent}'s uninterruptible waits do. Round 444: a
 * batch that fails unexpectedly runs none of its calls again.
 */
class CombinerTest {
    @RegisterExtension
    static final H2Extension DB = new H2Extension();

    @Test
    void anInterruptedCallerWaitsParkedAndKeepsItsInterrupt() throws Exception {
        Operations operations = operations();
        Combiner<String, String> combiner = new Combiner<>();
        CountDownLatch leaderMayFinish = new CountDownLatch(1);
        List<List<String>> batches = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.function.Function<List<String>, List<String>> batch = calls -> {
            batches.add(calls);
            List<String> results = new ArrayList<>();
            calls.forEach(c -> results.add("done " + c));
            return results;
        };
        // the leader runs alone and is held there, so that the next two callers queue behind it
        Caller leader = heldLeader("leader", combiner, operations, batch, leaderMayFinish);
        Caller next = Caller.start("next", false, () -> combiner.submit("s", "b", operations.new Op(Instant.now()),
                batch, () -> "alone b"));
        next.awaitParked();
        Caller interrupted = Caller.start("interrupted", true, () -> combiner.submit("s", "c",
                operations.new Op(Instant.now()), batch, () -> "alone c"));
        interrupted.awaitParked();
        // parked it stays: a thread spinning on park would be seen running
        for (int i = 0; i < 50; i++) {
            assertEquals(Thread.State.WAITING, interrupted.thread.getState(), "the interrupted caller waits parked");
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
        leaderMayFinish.countDown();
        assertEquals(List.of("alone a", false), leader.get());
        // the next caller leads the two queued calls in one batch; the interrupted one gets its outcome
        assertEquals(List.of("done b", false), next.get());
        assertEquals(List.of("done c", true), interrupted.get(), "its outcome, and its interrupt restored");
        assertEquals(List.of(List.of("b", "c")), batches);
    }

    @Test
    void anInterruptedCallerThatLeadsRunsItsBatchAndKeepsItsInterrupt() throws Exception {
        Operations operations = operations();
        Combiner<String, String> combiner = new Combiner<>();
        CountDownLatch leaderMayFinish = new CountDownLatch(1);
        boolean[] interruptedInBatch = new boolean[1];
        java.util.function.Function<List<String>, List<String>> batch = calls -> {
            // the batch's statements run without the interrupt (a pool may refuse an interrupted thread)
            interruptedInBatch[0] = Thread.currentThread().isInterrupted();
            return calls.stream().map(c -> "done " + c).toList();
        };
        Caller leader = heldLeader("leader", combiner, operations, batch, leaderMayFinish);
        Caller interrupted = Caller.start("interrupted", true, () -> combiner.submit("s", "b",
                operations.new Op(Instant.now()), batch, () -> "alone b"));
        interrupted.awaitParked();
        Caller last = Caller.start("last", false, () -> combiner.submit("s", "c", operations.new Op(Instant.now()),
                batch, () -> "alone c"));
        last.awaitParked();
        leaderMayFinish.countDown();
        assertEquals(List.of("alone a", false), leader.get());
        assertEquals(List.of("done b", true), interrupted.get(), "it led the batch, and has its interrupt back");
        assertEquals(List.of("done c", false), last.get());
        assertEquals(false, interruptedInBatch[0]);
    }

    /**
     * A batch that throws what it must not (an {@code Error}, a bug) may have committed its statement: its other
     * callers fail {@code STORE_UNAVAILABLE} and none runs its call alone (a key-less consume run again would be
     * charged twice, round 444); the leader gets the failure itself.
     */
    @Test
    void aBatchThatFailsUnexpectedlyRunsNoneOfItsCallsAgain() throws Exception {
        Operations operations = operations();
        Combiner<String, String> combiner = new Combiner<>();
        CountDownLatch leaderMayFinish = new CountDownLatch(1);
        List<String> ranAlone = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.function.Function<List<String>, List<String>> batch = calls -> {
            throw new StackOverflowError("a bug in the batch, after its statement committed");
        };
        Caller first = heldLeader("first", combiner, operations, batch, leaderMayFinish);
        Caller leader = Caller.start("leader", false, () -> combiner.submit("s", "b",
                operations.new Op(Instant.now()), batch, () -> ranAlone.add("b") ? "alone b" : null));
        leader.awaitParked();
        Caller queued = Caller.start("queued", false, () -> combiner.submit("s", "c",
                operations.new Op(Instant.now()), batch, () -> ranAlone.add("c") ? "alone c" : null));
        queued.awaitParked();
        leaderMayFinish.countDown();
        assertEquals(List.of("alone a", false), first.get());
        ExecutionException led = assertThrows(ExecutionException.class, leader::get);
        assertInstanceOf(StackOverflowError.class, led.getCause(), "the leader gets the failure itself");
        ExecutionException other = assertThrows(ExecutionException.class, queued::get);
        QuotaException told = assertInstanceOf(QuotaException.class, other.getCause());
        assertEquals(ErrorCode.STORE_UNAVAILABLE, told.code());
        assertEquals(List.of(), ranAlone, "no call of the failed batch ran again alone");
    }

    /**
     * A batch whose statement may have committed fails only the calls the statement carried; the calls it left out
     * (a later month's, one behind an expired hold) were never sent and run alone, the leader's too (review of
     * round 442's rule).
     */
    @Test
    void aStatementThatMayHaveCommittedFailsOnlyTheCallsItCarried() throws Exception {
        Operations operations = operations();
        Combiner<String, String> combiner = new Combiner<>();
        CountDownLatch leaderMayFinish = new CountDownLatch(1);
        // the batch b, c, d sends c alone in its statement, which is cut after the server took it
        java.util.function.Function<List<String>, List<String>> batch = calls -> {
            assertEquals(List.of("b", "c", "d"), calls);
            throw new Combiner.CarriedFailed(new QuotaException(ErrorCode.STORE_UNAVAILABLE, "cut"), List.of(1));
        };
        Caller first = heldLeader("first", combiner, operations, batch, leaderMayFinish);
        List<Caller> queued = new ArrayList<>();
        for (String call : List.of("b", "c", "d")) {
            Caller caller = Caller.start(call, false, () -> {
                String outcome = combiner.submit("s", call, operations.new Op(Instant.now()), batch, () -> "alone " + call);
                return outcome == null ? "runs alone" : outcome;
            });
            caller.awaitParked();
            queued.add(caller);
        }
        leaderMayFinish.countDown();
        assertEquals(List.of("alone a", false), first.get());
        assertEquals(List.of("runs alone", false), queued.get(0).get(), "the leader's call was not sent");
        ExecutionException cut = assertThrows(ExecutionException.class, () -> queued.get(1).get());
        assertEquals(ErrorCode.STORE_UNAVAILABLE, assertInstanceOf(QuotaException.class, cut.getCause()).code());
        assertEquals(List.of("runs alone", false), queued.get(2).get(), "a call left out of the statement");
    }

    private static Operations operations() {
        return new Operations(Jdbi.create(DB.dataSource()), QuotaPolicy.builder().build(), 0);
    }

    /**
     * Starts a caller that leads key {@code "s"}'s lane with call {@code "a"} and runs it alone, held inside it until
     * {@code mayFinish} is counted down; returns once it runs, so that the callers started next queue behind it.
     */
    private static Caller heldLeader(String name, Combiner<String, String> combiner, Operations operations,
                                     java.util.function.Function<List<String>, List<String>> batch,
                                     CountDownLatch mayFinish) throws InterruptedException {
        CountDownLatch runs = new CountDownLatch(1);
        Caller leader = Caller.start(name, false, () -> combiner.submit("s", "a", operations.new Op(Instant.now()),
                batch, () -> {
                    runs.countDown();
                    await(mayFinish);
                    return "alone a";
                }));
        assertTrue(runs.await(20, TimeUnit.SECONDS), () -> name + " ran");
        return leader;
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    /** One submit on a thread of its own; its outcome and whether the thread was interrupted afterwards. */
    private static final class Caller {
        final FutureTask<List<Object>> task;
        final Thread thread;

        private Caller(String name, boolean interrupt, java.util.function.Supplier<String> call) {
            this.task = new FutureTask<>(() -> {
                if (interrupt) {
                    Thread.currentThread().interrupt();
                }
                String outcome = call.get();
                return List.of(outcome, Thread.currentThread().isInterrupted());
            });
            this.thread = new Thread(task, "combiner-" + name);
        }

        static Caller start(String name, boolean interrupt, java.util.function.Supplier<String> call) {
            Caller caller = new Caller(name, interrupt, call);
            caller.thread.start();
            return caller;
        }

        /** Waits until the thread is parked in the combiner (queued behind the lane's leader). */
        void awaitParked() {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (System.nanoTime() < deadline) {
                if (LockSupport.getBlocker(thread) instanceof Combiner<?, ?>
                        && thread.getState() == Thread.State.WAITING) {
                    return;
                }
                if (task.isDone()) {
                    fail(thread.getName() + " finished instead of queueing");
                }
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
            }
            fail(thread.getName() + " never waited parked in the combiner");
        }

        List<Object> get() throws Exception {
            return task.get(30, TimeUnit.SECONDS);
        }
    }
}

package io.tokenquota.servlet;

import io.tokenquota.QuotaLedger;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the holds of calls still in the filter chain held. A hold's TTL is there for a process that
 * dies between reserve and commit; a call that is still running past it (a long reasoning or agent
 * run, a stream the client reads slowly: the client decides how long a call lasts) would otherwise
 * have its tokens returned by a sweep or by the subject's next reserve, and the same user could start
 * more calls from them, each charged afterwards as a late commit past the allowance. So every quarter
 * of the TTL (a background thread, at least every 100 ms), and before each reserve of the same subject
 * (which is what expires a subject's holds), a hold that has aged a quarter TTL since it was taken or
 * last extended gets a whole TTL again ({@link QuotaLedger#extend}): it expires only if the keeper
 * falls three quarters of a TTL behind. A process that dies stops extending, and its holds expire as
 * before; so does a call kept for {@link #MAX_KEPT} (or four TTLs, if longer), in case its settlement
 * never comes (a container that loses an async request), rather than hold its tokens in the store for
 * good. A running call whose hold lapsed (so kept, expired by a sweep while this process was paused, or
 * by a reserve through another filter) counts against its subject's next calls in this JVM by its whole
 * charge so far, not by what it charges beyond a hold it no longer has, until it settles: the tokens its
 * hold returned are not there for them. Every filter's keeper extends the subject's due holds before a
 * reserve of that subject through any of them ({@link #beforeReserve}).
 *
 * <p>The extensions run on a small pool of daemon threads, at most one at a time per subject: a subject
 * whose extension stalls (a row lock another transaction holds) is skipped until it returns, while the
 * next tick's threads go on with the others. Settlements the store could not take ({@link Settlement})
 * are tried again on the same threads ({@link #later}), and a subject's are tried once more before its
 * next reserve ({@link #unsettled}), and so are the releases of calls refused before they ran
 * ({@link #release}). {@link #close} stops nothing running calls still need: the keeper
 * goes on until every call it keeps has settled, then its threads end. Thread-safe.
 */
final class HoldKeeper implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HoldKeeper.class);

    /** The longest a call's hold is kept past its TTL: far longer than any model call runs. */
    static final Duration MAX_KEPT = Duration.ofHours(1);

    private final QuotaLedger ledger;
    private final Duration ttl;
    /** How often the keeper looks, and how old a hold's last extension may get. */
    private final Duration period;
    private final Duration maxKept;
    /** The running calls' holds, by subject, then by id. */
    private final Map<String, Map<String, Reservation>> running = new ConcurrentHashMap<>();
    /** One attempt of each settlement the store could not take yet, by subject, then by hold id. */
    private final Map<String, Map<String, java.util.function.BooleanSupplier>> unsettled = new ConcurrentHashMap<>();
    /** This JVM's calls whose charges have not landed, shared by every filter. */
    private final UnlandedCharges unlanded = UnlandedCharges.JVM;
    /** Numbers the keepers of the JVM: a call is its keeper's number and its hold's id. */
    private static final AtomicInteger KEEPERS = new AtomicInteger();
    /** This keeper's calls' prefix among every filter's ({@link UnlandedCharges} files them by it). */
    private final String calls = "k" + KEEPERS.incrementAndGet() + ":";
    /** The holds of running calls that lapsed: they count by their whole charge so far. */
    private final Set<String> lapsed = ConcurrentHashMap.newKeySet();
    /** The keepers with running calls, of every filter in this JVM: a reserve through one extends them all. */
    private static final Set<HoldKeeper> KEEPING = ConcurrentHashMap.newKeySet();
    /** Subjects whose extension is under way on a worker: no other worker waits behind it. */
    private final Set<String> extending = ConcurrentHashMap.newKeySet();
    /** Ticks every period and times the retries; {@code null} while nothing is kept. */
    private volatile ScheduledExecutorService timer;
    /** Where the extensions and retries run: a thread more for each one that stalls. */
    private volatile ExecutorService workers;
    /** The filter was destroyed: the keeper ends once nothing is left to keep. */
    private volatile boolean closed;

    /** When the settlements the store could not take are tried again ({@link Settlement.Retries}). */
    private final Settlement.Retries retries;

    HoldKeeper(QuotaLedger ledger, Duration ttl) {
        this(ledger, ttl, Settlement.RETRIES);
    }

    HoldKeeper(QuotaLedger ledger, Duration ttl, Settlement.Retries retries) {
        this.retries = retries;
        this.ledger = ledger;
        this.ttl = ttl;
        this.period = Duration.ofMillis(Math.max(100, ttl.toMillis() / 4));
        Duration fourTtls = ttl.multipliedBy(4);
        this.maxKept = fourTtls.compareTo(MAX_KEPT) > 0 ? fourTtls : MAX_KEPT;
    }

    /**
     * A call holding {@code hold} entered the chain; {@code chargeSoFar} tells what its answer so far
     * charges.
     */
    void running(Reservation hold, java.util.function.LongSupplier chargeSoFar) {
        unlanded.running(call(hold), hold, () -> beyond(hold, chargeSoFar.getAsLong()));
        put(running, hold, hold);
        KEEPING.add(this);
        // also after close: a call that entered just before it, whose keeper may have ended meanwhile
        if (timer == null || closed) {
            start();
        }
    }

    /** The settlement of {@code hold} begins ({@link UnlandedCharges#settlementStarts}). */
    void settlementStarts(Reservation hold, boolean answerOut) {
        unlanded.settlementStarts(call(hold), hold, answerOut);
    }

    /** The settlement of {@code hold} charges {@code charge} tokens. */
    void owes(Reservation hold, long charge) {
        // read when asked: the hold may lapse while the charge is tried again, and then it owes all of it
        unlanded.owes(call(hold), hold, () -> beyond(hold, charge));
    }

    private String call(Reservation hold) {
        return calls + hold.id();
    }

    /** What {@code charge} adds to what the subject has used and held: all of it once the hold is gone. */
    private long beyond(Reservation hold, long charge) {
        return gone(hold) ? charge : Math.max(0, charge - hold.held());
    }

    /**
     * Whether the hold of a call is gone, or the next reserve may expire it: it lapsed, or it is running
     * past its TTL (its extension failed, or was skipped while the store was away, and the store came
     * back for the reserve).
     */
    private boolean gone(Reservation hold) {
        if (lapsed.contains(hold.id())) {
            return true;
        }
        Map<String, Reservation> holds = running.get(hold.subject());
        Reservation current = holds == null ? null : holds.get(hold.id());
        return current != null && !current.expiresAt().isAfter(ledger.policy().now());
    }

    /** The call of this hold has settled (or finally failed to): it needs its hold no longer. */
    void settling(Reservation hold) {
        remove(running, hold, null);
        remove(unsettled, hold, null);
        unlanded.landed(call(hold), hold);
        lapsed.remove(hold.id());
        if (running.isEmpty()) {
            KEEPING.remove(this);
            // a call that entered meanwhile
            if (!running.isEmpty()) {
                KEEPING.add(this);
            }
        }
    }

    /**
     * The settlement of {@code hold} is being tried again: {@code attempt} tries it once more, unless an
     * attempt is under way, and answers false while the store is still unreachable. Its hold stays
     * kept; the subject's next reserve runs {@code attempt} first.
     */
    void unsettled(Reservation hold, java.util.function.BooleanSupplier attempt) {
        put(unsettled, hold, attempt);
        unlanded.retrying(call(hold));
    }

    /**
     * Releases the hold of a call refused before it ran (its key let through while it was reserved, what earlier
     * calls owe): the one way the filter releases a hold outside a settlement, tried again as a settlement's
     * release is ({@link Settlement#withRetries}: on the request thread while the store refuses it at once, then
     * on this keeper's threads and before the subject's next reserve). Tried once, a release the store refused in
     * a failover left its tokens held, with no call behind them, until its TTL, and the subject's next call was
     * refused for them (round 515). {@code failures} is the filter's count of settlements that failed. A refusal
     * that trying again cannot mend (a hold the store does not know) is thrown.
     */
    void release(Reservation hold, java.util.concurrent.atomic.AtomicLong failures) {
        Settlement.withRetries(this, hold, failures, true, () -> ledger.release(hold.id()));
    }

    /** The schedule of the retries of this keeper's settlements. */
    Settlement.Retries retries() {
        return retries;
    }

    /** Runs {@code task} on a worker after {@code delayMillis}. */
    synchronized void later(Runnable task, long delayMillis) {
        start().schedule(() -> onWorker(() -> guarded(task, "retry a settlement")), delayMillis,
                TimeUnit.MILLISECONDS);
    }

    /** Whether {@code hold} was taken longer ago than a call is ever kept. */
    boolean keptTooLong(Reservation hold) {
        return hold.createdAt().plus(maxKept).isBefore(ledger.policy().now());
    }

    /** The ledger's clock: when a settlement was first refused ({@link #triedTooLong}). */
    Instant now() {
        return ledger.policy().now();
    }

    /**
     * Whether a settlement first refused at {@code since} has been tried again for as long as a call is ever
     * kept: counted from that refusal, not from the hold, so a call that ran long is retried as long as a
     * short one (round 220: a call of 61 minutes whose commit met a blip of two attempts was never charged).
     */
    boolean triedTooLong(Instant since) {
        return since.plus(maxKept).isBefore(ledger.policy().now());
    }

    /**
     * Before the subject reserves again (which expires its holds past their TTL): its settlements the
     * store could not take are tried first, so that a charge that can land now counts against the new
     * call; its settlements under way whose answers may be with the client are waited for
     * ({@link UnlandedCharges#awaitSettlements}), so that the new call is reserved against the ledger as
     * the previous call's charge leaves it; then its running holds that are due are extended. Once one
     * attempt finds the store still unreachable, nothing more is tried: each would wait out the pool's
     * connection timeout in turn on the request thread, and the reserve will find the store away by
     * itself.
     *
     * @return what the subject's calls whose charges have not landed owe beyond their holds, by their
     *     holds' months: the new call is admitted only if its account has room for what of that reaches
     *     its month too ({@link UnlandedCharges.Owed#against}), so that a charge that has not landed
     *     cannot let it past the allowance
     */
    UnlandedCharges.Owed beforeReserve(String subject) {
        Map<String, java.util.function.BooleanSupplier> attempts = unsettled.get(subject);
        if (attempts != null) {
            for (java.util.function.BooleanSupplier attempt : attempts.values()) {
                boolean[] reached = {true};
                guarded(() -> reached[0] = attempt.getAsBoolean(), "retry a settlement");
                if (!reached[0]) {
                    return unlanded.owedBySubject(subject);
                }
            }
        }
        unlanded.awaitSettlements(subject);
        // the store expires the subject's holds past their TTL at this reserve, whichever filter's they are
        for (HoldKeeper keeper : KEEPING) {
            if (keeper != this) {
                keeper.extendDue(subject);
            }
        }
        extendDue(subject);
        return unlanded.owedBySubject(subject);
    }

    /** What the team's members' calls whose charges have not landed owe beyond their holds, by their holds' months. */
    UnlandedCharges.Owed owedByTeam(String teamId) {
        return unlanded.owedByTeam(teamId);
    }

    /** The filter is (re)initialised: the keeper goes on as before a {@link #close}. */
    void open() {
        closed = false;
    }

    /**
     * The filter is destroyed. Calls still in its chain (a context restarted in place lets them finish)
     * and settlements being retried still need their holds kept: the keeper stops once none is left.
     */
    @Override
    public void close() {
        ExecutorService[] threads;
        synchronized (this) {
            closed = true;
            threads = new ExecutorService[] {timer, workers};
            if (!stopIfDone()) {
                return;
            }
        }
        // their end waited for, briefly and outside the lock (a tick waits for it): a container checks the threads a
        // stopped application started, and Tomcat logged it "failed to stop [token-quota-hold-keeper]" (round 418)
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
        try {
            for (ExecutorService stopped : threads) {
                if (stopped != null) {
                    stopped.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private synchronized ScheduledExecutorService start() {
        if (timer == null) {
            workers = Executors.newCachedThreadPool(daemon("token-quota-hold-keeper-"));
            ScheduledExecutorService t = Executors.newSingleThreadScheduledExecutor(daemon("token-quota-hold-keeper"));
            // every failure is caught in tick: an exception escaping it would cancel the schedule for good
            t.scheduleWithFixedDelay(this::tick, period.toMillis(), period.toMillis(), TimeUnit.MILLISECONDS);
            timer = t;
        }
        return timer;
    }

    /** Ends the threads once the filter is closed and no call is kept. Whether it did. */
    private synchronized boolean stopIfDone() {
        if (!closed || !running.isEmpty() || !unsettled.isEmpty()) {
            return false;
        }
        if (timer != null) {
            timer.shutdownNow();
            workers.shutdown();
            timer = null;
            workers = null;
        }
        return true;
    }

    /**
     * Hands one pass over the subjects to a worker. A pass waiting on one subject's extension leaves the
     * others to the next tick's pass, which skips that subject: so the pool grows by one thread per
     * stalled subject, not per subject.
     */
    private synchronized void tick() {
        guarded(() -> {
            if (!stopIfDone()) {
                onWorker(() -> guarded(this::extendAll, "extend running calls' holds"));
            }
        }, "keep running calls' holds");
    }

    /** Runs {@code task} on a worker; under the lock, so that the workers cannot be shut down meanwhile. */
    private synchronized void onWorker(Runnable task) {
        start();
        workers.execute(task);
    }

    private void extendAll() {
        for (String subject : running.keySet()) {
            if (extending.add(subject)) {
                try {
                    extendDue(subject);
                } finally {
                    extending.remove(subject);
                }
            }
        }
    }

    /** Extends those of one subject's running holds that have aged a period since they were last given a TTL. */
    private void extendDue(String subject) {
        Map<String, Reservation> holds = running.get(subject);
        if (holds == null) {
            return;
        }
        Instant due = ledger.policy().now().plus(ttl).minus(period);
        for (Reservation hold : holds.values()) {
            if (hold.expiresAt().isAfter(due)) {
                continue;
            }
            if (keptTooLong(hold)) {
                LOG.warn("the hold {} was kept for {} and is left to expire: its call has not settled. Until it"
                        + " does, what it charged so far counts against {} on this instance", hold.id(), maxKept,
                        hold.subject());
                lapse(hold);
                continue;
            }
            // any failure, an Error too (a heap spike), is this hold's alone: the others are still extended
            guarded(() -> {
                Reservation extended = ledger.extend(hold.id(), ttl);
                if (extended.state() == ReservationState.HELD) {
                    // replaced only while the call still runs (settling removes it meanwhile)
                    holds.replace(hold.id(), hold, extended);
                } else {
                    lapse(hold);
                }
            }, "extend the hold " + hold.id() + " of a call still running (it may expire; its call is"
                    + " still charged when it ends)");
        }
    }

    /**
     * The hold of a call still running is gone (or left to go): no longer extended, and the call counts
     * by its whole charge until it settles. Marked before it leaves the running holds, so that no reserve
     * in between counts it by what it charges beyond its hold.
     */
    private void lapse(Reservation hold) {
        lapsed.add(hold.id());
        if (!remove(running, hold, hold)) {
            // settled meanwhile
            lapsed.remove(hold.id());
        }
    }

    /** Runs {@code task}, logging whatever it throws: the keeper must outlive any one failure. */
    private static void guarded(Runnable task, String what) {
        try {
            task.run();
        } catch (RuntimeException e) {
            // the ledger is unreachable, most likely: worth a line, not a stack trace
            LOG.warn("could not {}: {}", what, e.toString());
        } catch (Throwable e) {
            LOG.error("could not {}", what, e);
        }
    }

    /** Adds {@code value} under the hold's subject and id. */
    private static <V> void put(Map<String, Map<String, V>> map, Reservation hold, V value) {
        // inside the map's lock of the subject, so removing a last entry cannot drop the map under this one
        map.compute(hold.subject(), (s, byId) -> {
            Map<String, V> m = byId == null ? new ConcurrentHashMap<>() : byId;
            m.put(hold.id(), value);
            return m;
        });
    }

    /**
     * Drops the hold's entry (when it is still {@code as}, if given), and its subject's once empty.
     * Whether there was one to drop.
     */
    private static <V> boolean remove(Map<String, Map<String, V>> map, Reservation hold, V as) {
        boolean[] removed = {false};
        map.computeIfPresent(hold.subject(), (s, byId) -> {
            removed[0] = as == null ? byId.remove(hold.id()) != null : byId.remove(hold.id(), as);
            return byId.isEmpty() ? null : byId;
        });
        return removed[0];
    }

    private static ThreadFactory daemon(String name) {
        AtomicInteger count = new AtomicInteger();
        return r -> {
            Thread thread = new Thread(r, name.endsWith("-") ? name + count.incrementAndGet() : name);
            thread.setDaemon(true);
            return thread;
        };
    }
}

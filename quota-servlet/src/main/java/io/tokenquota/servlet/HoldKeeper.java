package io.tokenquota.servlet;

import io.tokenquota.QuotaLedger;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
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
 * last extended gets a whole TTL again ({@link QuotaLedger#extend}): it expires only if the thread
 * falls three quarters of a TTL behind. A process that dies stops extending, and its holds expire as
 * before; so does a call kept for {@link #MAX_KEPT} (or four TTLs, if longer), in case its settlement
 * never comes (a container that loses an async request), rather than hold its tokens for good.
 * Thread-safe.
 */
final class HoldKeeper implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HoldKeeper.class);

    /** The longest a call's hold is kept past its TTL: far longer than any model call runs. */
    static final Duration MAX_KEPT = Duration.ofHours(1);

    private final QuotaLedger ledger;
    private final Duration ttl;
    /** How often the thread looks, and how old a hold's last extension may get. */
    private final Duration period;
    private final Duration maxKept;
    /** The running calls' holds, by subject, then by id. */
    private final Map<String, Map<String, Reservation>> running = new ConcurrentHashMap<>();
    private volatile ScheduledExecutorService timer;

    HoldKeeper(QuotaLedger ledger, Duration ttl) {
        this.ledger = ledger;
        this.ttl = ttl;
        this.period = Duration.ofMillis(Math.max(100, ttl.toMillis() / 4));
        Duration fourTtls = ttl.multipliedBy(4);
        this.maxKept = fourTtls.compareTo(MAX_KEPT) > 0 ? fourTtls : MAX_KEPT;
    }

    /** A call holding {@code hold} entered the chain. */
    void running(Reservation hold) {
        // inside the map's lock of the subject, so settling a last hold cannot drop the map under this one
        running.compute(hold.subject(), (s, holds) -> {
            Map<String, Reservation> h = holds == null ? new ConcurrentHashMap<>() : holds;
            h.put(hold.id(), hold);
            return h;
        });
        if (timer == null) {
            start();
        }
    }

    /** The call of this hold is settling: it needs its hold no longer. */
    void settling(Reservation hold) {
        forget(hold, null);
    }

    /** Drops the hold (when it is still {@code as}, if given), and its subject's entry once empty. */
    private void forget(Reservation hold, Reservation as) {
        running.computeIfPresent(hold.subject(), (s, holds) -> {
            if (as == null) {
                holds.remove(hold.id());
            } else {
                holds.remove(hold.id(), as);
            }
            return holds.isEmpty() ? null : holds;
        });
    }

    /** Extends the subject's running holds that are due, before it reserves again. */
    void beforeReserve(String subject) {
        Map<String, Reservation> holds = running.get(subject);
        if (holds != null) {
            extendDue(holds);
        }
    }

    private synchronized void start() {
        if (timer == null) {
            ScheduledExecutorService t = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread thread = new Thread(r, "token-quota-hold-keeper");
                thread.setDaemon(true);
                return thread;
            });
            t.scheduleWithFixedDelay(() -> running.values().forEach(this::extendDue), period.toMillis(),
                    period.toMillis(), TimeUnit.MILLISECONDS);
            timer = t;
        }
    }

    /** Extends those of one subject's running holds that have aged a period since they were last given a TTL. */
    private void extendDue(Map<String, Reservation> holds) {
        Instant now = ledger.policy().now();
        Instant due = now.plus(ttl).minus(period);
        for (Reservation hold : holds.values()) {
            if (hold.expiresAt().isAfter(due)) {
                continue;
            }
            if (hold.createdAt().plus(maxKept).isBefore(now)) {
                LOG.warn("the hold {} was kept for {} and is left to expire: its call never settled", hold.id(),
                        maxKept);
                forget(hold, hold);
                continue;
            }
            try {
                Reservation extended = ledger.extend(hold.id(), ttl);
                if (extended.state() == ReservationState.HELD) {
                    // replaced only while the call still runs (settling removes it meanwhile)
                    holds.replace(hold.id(), hold, extended);
                } else {
                    forget(hold, hold);
                }
            } catch (RuntimeException e) {
                // the ledger is unreachable: the hold may expire; its call is still charged when it ends
                LOG.warn("could not extend the hold {} of a call still running: {}", hold.id(), e.toString());
            }
        }
    }

    @Override
    public synchronized void close() {
        if (timer != null) {
            timer.shutdownNow();
            timer = null;
        }
        running.clear();
    }
}

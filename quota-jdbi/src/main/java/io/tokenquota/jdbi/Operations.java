package io.tokenquota.jdbi;

import io.tokenquota.ErrorCode;
import io.tokenquota.LedgerEvent;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaListener;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.internal.LedgerRules;
import io.tokenquota.internal.Listeners;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.HandleCallback;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.JdbiException;

/**
 * How every public operation of the store runs: on one handle of its own, opened lazily, retried
 * whole on serialization failures, deadlocks, lock timeouts and sessions ended for idleness, with its
 * database failures turned into {@code STORE_UNAVAILABLE}, and the listeners told afterwards what
 * committed. The statement families ({@link Accounts}, {@link Holds}, {@link Purchases},
 * {@link Statistics}) work inside one attempt, an {@link Op}, and signal "undo" or "run again" with the
 * control-flow exceptions here. Thread-safe (holds no mutable state besides the listener list).
 */
final class Operations {
    /** {@link EventPartitions#LOCK_QUEUE_BUDGET}: how long a wait timeout is run again (see {@link #operation}). */
    private static final long LOCK_QUEUE_BUDGET_NANOS = EventPartitions.LOCK_QUEUE_BUDGET.toNanos();
    private final Jdbi jdbi;
    private final QuotaPolicy policy;
    private final int maxRetries;
    /**
     * How far the database's clock ({@code CURRENT_TIMESTAMP}) is ahead of the policy's, measured once
     * when the store is built (once per clock and database in a JVM, {@link #MEASURED}). Holds expire by
     * the database's clock: {@code expires_at} is stored in it and compared with {@link Op#dbNow}, so
     * instances whose clocks differ never expire each other's live holds early; a test clock that moves
     * still moves the expiry with it. A hold's {@code created_at} is kept in it too, so that its life is
     * measured in one clock (round 326).
     */
    private final Duration dbOffset;
    private final Listeners listeners = new Listeners();

    Operations(Jdbi jdbi, QuotaPolicy policy, int maxRetries) {
        this.jdbi = jdbi;
        this.policy = policy;
        this.maxRetries = maxRetries;
        this.dbOffset = measureDbOffset(jdbi, policy);
    }

    /**
     * The offsets measured in this JVM, per policy clock (by {@link java.time.Clock#equals}: the same
     * clock object, or {@code Clock.systemUTC()} and an equal offset of one base) and database (its JDBC
     * URL). A store built on a clock and database another store of this JVM already measured takes that
     * offset rather than measuring again. Round 326: a hold's creation is kept in the database's clock and
     * read back through the reader's offset, so two stores on one clock that measured it twice (a few
     * microseconds to milliseconds apart: the round trip, or with a clock a test holds still, the time
     * between their builds) reported the same hold's {@code createdAt}, and its RESERVED event, that far
     * apart. One clock, one offset: the stores of a JVM on one clock agree on every instant, expiry
     * included. Weak keys: a clock nothing uses any more is forgotten.
     */
    private static final Map<java.time.Clock, Map<String, Duration>> MEASURED = new java.util.WeakHashMap<>();

    private static Duration measureDbOffset(Jdbi jdbi, QuotaPolicy policy) {
        java.time.Clock clock = policy.clock();
        return jdbi.withHandle(h -> {
            String database = databaseOf(h);
            synchronized (MEASURED) {
                Duration known = database == null ? null : MEASURED.getOrDefault(clock, Map.of()).get(database);
                if (known != null) {
                    return known;
                }
            }
            Instant policyNow = policy.now();
            Instant dbNow = h.createQuery("SELECT CURRENT_TIMESTAMP")
                    .map((rs, ctx) -> rs.getObject(1, OffsetDateTime.class).toInstant()).one();
            // whole microseconds, the databases' precision, so converting an instant back and forth is exact
            Duration measured = Duration.between(policyNow, dbNow).truncatedTo(ChronoUnit.MICROS);
            if (database == null) {
                return measured;
            }
            synchronized (MEASURED) {
                // a store built at the same moment may have measured first: both take the first measurement
                return MEASURED.computeIfAbsent(clock, c -> new java.util.HashMap<>()).merge(database, measured,
                        (first, second) -> first);
            }
        });
    }

    /** The database's JDBC URL, or {@code null} when the driver does not say (the offset is then not shared). */
    private static String databaseOf(Handle h) {
        try {
            return h.getConnection().getMetaData().getURL();
        } catch (java.sql.SQLException e) {
            return null;
        }
    }

    /** How far the database's clock is ahead of the policy's (see {@link #dbOffset}). */
    Duration dbOffset() {
        return dbOffset;
    }

    void addListener(QuotaListener listener) {
        listeners.add(listener);
    }

    /**
     * Runs one public operation on one handle of its own (never one the host has open on this
     * thread, so the store's transactions are always its own): retries it when the database reports
     * a serialization failure, a deadlock, a lock timeout or a session it ended for idleness
     * ({@link Failures#isRetryable}; each attempt is whole: an earlier attempt's failed transaction rolled
     * back, and what it kept before that the next attempt finds done, round 438), at most
     * {@code maxRetries} times, and a PostgreSQL wait timeout
     * ({@link Failures#isWaitTimeout}) also for as long as the operation has spent less than
     * {@link EventPartitions#LOCK_QUEUE_BUDGET} (8.3 s), the longest the store's own DDL keeps the event
     * log's lock queue blocked (round 395: behind retention's 2 s wait on a pool with a 250 ms
     * {@code lock_timeout}, six attempts gave up after 1.5 s and a held call's commit failed, the model call
     * free), with the earlier failures attached as suppressed exceptions; turns any other database failure
     * into {@code STORE_UNAVAILABLE}; and fires the listeners for what committed, even when the operation
     * ends in a domain error (a rejection is logged, then thrown).
     */
    <T> T operation(String name, java.util.function.Function<Op, T> body) {
        List<Throwable> earlier = new ArrayList<>();
        long started = System.nanoTime();
        for (int attempt = 0; ; attempt++) {
            // the database keeps microseconds (PostgreSQL's precision), so the store reasons in them too
            Op op = new Op(policy.now().truncatedTo(ChronoUnit.MICROS));
            try {
                return body.apply(op);
            } catch (QuotaException e) {
                throw e;
            } catch (JdbiException | Conflict e) {
                if (Failures.isOverflow(e)) {
                    // the statement failed, and with it its transaction: nothing was written
                    throw LedgerRules.overflow();
                }
                boolean retry = (e instanceof Conflict || Failures.isRetryable(e)) && (attempt < maxRetries
                        || Failures.isWaitTimeout(e) && System.nanoTime() - started < LOCK_QUEUE_BUDGET_NANOS);
                if (retry) {
                    earlier.add(e);
                    backOff(attempt);
                    continue;
                }
                String reason = Failures.isUnavailable(e) ? "cannot reach the database"
                        : Failures.isRetryable(e) ? "gave up after " + (attempt + 1) + " attempts" : "database error";
                QuotaException failure = new QuotaException(ErrorCode.STORE_UNAVAILABLE,
                        name + " failed: " + reason + ": " + e.getMessage(), e);
                earlier.forEach(failure::addSuppressed);
                throw failure;
            } finally {
                op.close();
                op.fire();
            }
        }
    }

    private static void backOff(int attempt) {
        // short random pause so two transactions that just collided do not collide again in lockstep
        long maxMicros = 500L << Math.min(attempt, 6);
        LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(ThreadLocalRandom.current().nextLong(maxMicros)));
    }

    static <T> T transaction(Op op, HandleCallback<T, RuntimeException> body) {
        return op.handle().inTransaction(body);
    }

    /** A transaction whose body signals "undo and report nothing" by returning empty. */
    static <T> Optional<T> optionalTransaction(Op op, HandleCallback<Optional<T>, RuntimeException> body) {
        return op.handle().inTransaction(h -> {
            Optional<T> result = body.withHandle(h);
            if (result.isEmpty()) {
                h.rollback();
            }
            return result;
        });
    }

    static QuotaException contended(String operation, String id) {
        return new QuotaException(ErrorCode.STORE_UNAVAILABLE,
                operation + " of " + id + " kept losing to concurrent changes; try again");
    }

    /** One attempt of one operation: its clock reading, its handle, and what to tell the listeners afterwards. */
    final class Op {
        final Instant now;
        /** {@link #now} in the database's clock, for comparing with {@code expires_at}. */
        final Instant dbNow;
        private Handle handle;
        private final List<LedgerEvent> logged = new ArrayList<>();
        private final Map<String, QuotaAccount[]> changes = new LinkedHashMap<>();

        Op(Instant now) {
            this.now = now;
            this.dbNow = now.plus(dbOffset);
        }

        /** The operation's handle, opened on first use so that validation failures never take a connection. */
        Handle handle() {
            if (handle == null) {
                handle = jdbi.open();
            }
            return handle;
        }

        /**
         * Gives the operation's connection back to the pool, if it has one, before its thread waits for a
         * lock or a combiner of this JVM; its next statement takes one again. The store's rule (round 326):
         * <b>no thread waits for a lock or a combiner while it holds a connection</b>. Whoever holds such a
         * lock or leads such a combiner may be waiting for a connection itself, and with a host pool of
         * one connection (or a pool drained by as many waiting threads) nobody would move until the
         * pool's {@code connectionTimeout} failed them {@code STORE_UNAVAILABLE} (round 326: 15 of 36
         * refused holds on a pool of one, the combiner's leader keeping the connection its statement
         * used while it waited for the subject's stripe, held by a thread waiting for that connection).
         * Called by {@link Combiner#submit} before a caller queues and by {@code Holds} before it waits
         * for a subject stripe; never inside a transaction, whose locks and writes are the connection's.
         */
        void releaseConnection() {
            if (handle == null) {
                return;
            }
            if (handle.isInTransaction()) {
                throw new IllegalStateException("an operation waits for a lock inside a transaction");
            }
            close();
        }

        <T> T with(HandleCallback<T, RuntimeException> body) {
            return body.withHandle(handle());
        }

        void logged(LedgerEvent event) {
            logged.add(event);
        }

        void changed(QuotaAccount before, QuotaAccount after) {
            changes.merge(before.subject() + '\n' + before.month(), new QuotaAccount[] {before, after},
                    (first, next) -> new QuotaAccount[] {first[0], next[1]});
        }

        void close() {
            if (handle != null) {
                try {
                    handle.close();
                } catch (JdbiException e) {
                    // a broken connection: the pool discards it; the operation's outcome stands
                } finally {
                    handle = null;
                }
            }
        }

        void fire() {
            listeners.fire(logged);
            for (QuotaAccount[] change : changes.values()) {
                listeners.fireCrossings(change[0], change[1], policy);
            }
        }
    }

    /** The month was superseded by the next one while the write waited: rolls back, and the write runs again. */
    static final class Superseded extends RuntimeException {
        private static final long serialVersionUID = 1L;
        static final Superseded INSTANCE = new Superseded();

        private Superseded() {
            super("the month was superseded", null, false, false);
        }
    }

    /** A credit would pass the max quota: rolls the transaction back, then becomes MAX_QUOTA_EXCEEDED. */
    static final class OverMaxQuota extends RuntimeException {
        private static final long serialVersionUID = 1L;
        static final OverMaxQuota INSTANCE = new OverMaxQuota();

        private OverMaxQuota() {
            super("over the max quota", null, false, false);
        }
    }

    /** A duplicate key whose row vanished (its transaction rolled back): the operation runs again. */
    static final class Conflict extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Conflict(Throwable cause) {
            super("duplicate key of a transaction that rolled back", cause);
        }
    }
}

package io.tokenquota.jdbi.internal;

import io.tokenquota.Currency;
import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.OverrunPolicy;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaListener;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.Reserved;
import io.tokenquota.Validation;
import io.tokenquota.internal.DailyTally;
import io.tokenquota.internal.Listeners;
import io.tokenquota.jdbi.internal.Rows.StoredReservation;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.HandleCallback;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.JdbiException;
import org.jdbi.v3.core.statement.Query;
import org.jdbi.v3.core.statement.UnableToExecuteStatementException;
import org.jdbi.v3.core.statement.Update;

/**
 * The ledger over SQL: the semantics of {@code InMemoryQuotaStore}, one short READ COMMITTED
 * transaction per balance change. Not API: use {@code JdbiQuotaStore}. Thread-safe (holds no
 * mutable state besides the listener list).
 *
 * <p>Shape of every balance change: one transaction inserts or updates the non-account rows (the
 * reservation or purchase, whose unique constraints enforce idempotency, and the event) and one
 * conditional {@code UPDATE} of the account row, then commits; reads (and the account's
 * insert-if-absent on first touch) happen before it, in autocommit. The account row lock is held
 * from that {@code UPDATE} to the commit and never across a round trip to Java: on H2 the
 * {@code UPDATE} is the transaction's last statement; on PostgreSQL reserve, consume, commit and
 * release are each one statement in autocommit ({@code Sql.reserveInOneStatement} and siblings).
 * The hot path reads nothing first: reserve/consume try the change and read only when it matched no
 * row. Transactions touch at most one account row, and lock a hold before its account, so they
 * cannot deadlock on accounts.
 */
public final class SqlQuotaStore implements QuotaStore {
    private static final long MILLIS_PER_DAY = 86_400_000L;
    private static final long MIN_ELAPSED_MILLIS = 3_600_000L;
    /** Compare-and-set updates (refund, plan change) re-read and retry this often under contention. */
    private static final int MAX_CAS_ATTEMPTS = 200;
    /** A reserve/consume tries at most this often: once, and again after creating the account or sweeping stale holds. */
    private static final int MAX_TAKE_ATTEMPTS = 3;
    private static final int SUBJECT_STRIPES = 4096;

    private final Jdbi jdbi;
    private final Sql sql;
    /** The statements of reserve, consume, commit and release, in JDBC's positional form. */
    private final Sql.Hot hot;
    private final QuotaPolicy policy;
    private final int maxRetries;
    private final Listeners listeners = new Listeners();
    /**
     * On PostgreSQL, reserves and consumes of one subject in this JVM take turns here instead of
     * queueing on the account's row lock, which their one statement holds from its first part to its
     * end: the database still decides, but a hot subject keeps one backend busy rather than a queue of
     * backends that each wake, re-check the row and go back to waiting. Striped, so unrelated subjects
     * rarely share a lock; only ever held around one reserve or consume.
     */
    private final ReentrantLock[] subjectStripes = new ReentrantLock[SUBJECT_STRIPES];

    public SqlQuotaStore(Jdbi jdbi, Dialect dialect, QuotaPolicy policy, int maxRetries) {
        this.jdbi = Objects.requireNonNull(jdbi, "jdbi");
        this.sql = new Sql(Objects.requireNonNull(dialect, "dialect"));
        this.hot = sql.hot();
        this.policy = Objects.requireNonNull(policy, "policy");
        if (maxRetries < 0) {
            throw new IllegalArgumentException("maxRetries must be >= 0, was " + maxRetries);
        }
        this.maxRetries = maxRetries;
        for (int i = 0; i < SUBJECT_STRIPES; i++) {
            subjectStripes[i] = new ReentrantLock();
        }
    }

    @Override
    public QuotaPolicy policy() {
        return policy;
    }

    @Override
    public void addListener(QuotaListener listener) {
        listeners.add(listener);
    }

    // ---------------------------------------------------------------- ledger

    @Override
    public Reservation reserve(String subject, long tokens, String idempotencyKey, Duration ttl, String endpoint) {
        return reserveWithAccount(subject, tokens, idempotencyKey, ttl, endpoint).reservation();
    }

    @Override
    public Reserved reserveWithAccount(String subject, long tokens, String idempotencyKey, Duration ttl,
                                       String endpoint) {
        Validation.holdRequest(subject, tokens, idempotencyKey, endpoint);
        Duration holdTtl = ttl == null ? policy.holdTtl() : Validation.ttl(ttl);
        return operation("reserve", op -> take(op, subject, tokens, idempotencyKey, endpoint, holdTtl));
    }

    @Override
    public Reservation consume(String subject, long tokens, String idempotencyKey, String endpoint) {
        Validation.holdRequest(subject, tokens, idempotencyKey, endpoint);
        return operation("consume", op -> take(op, subject, tokens, idempotencyKey, endpoint, null)).reservation();
    }

    /**
     * A hold ({@code ttl != null}) or a one-step consume ({@code ttl == null}). The common case
     * (account exists, no stale hold, tokens available) is one attempt; anything else makes the
     * attempt change nothing, and only then does the store read to find out why: a replayed key,
     * the month's first touch (create the account), stale holds (expire them), or a refusal.
     */
    private Reserved take(Op op, String subject, long tokens, String key, String endpoint, Duration ttl) {
        if (!sql.oneStatementPerChange()) {
            // H2's transaction locks the row only for its last statement; queueing the whole take would
            // serialize the inserts that can run side by side
            return takeInTurn(op, subject, tokens, key, endpoint, ttl);
        }
        // taken before the operation's connection is, so no thread waits for it while holding one
        ReentrantLock stripe = subjectStripes[Math.floorMod(subject.hashCode(), SUBJECT_STRIPES)];
        stripe.lock();
        try {
            return takeInTurn(op, subject, tokens, key, endpoint, ttl);
        } finally {
            stripe.unlock();
        }
    }

    private Reserved takeInTurn(Op op, String subject, long tokens, String key, String endpoint, Duration ttl) {
        boolean consume = ttl == null;
        YearMonth month = policy.monthOf(op.now);
        String id = UUID.randomUUID().toString();
        Instant expiresAt = consume ? op.now : op.now.plus(ttl);
        Reservation granted = new Reservation(id, subject, month, tokens,
                consume ? ReservationState.COMMITTED : ReservationState.HELD, consume ? tokens : 0,
                consume ? Long.valueOf(tokens) : null, 0, key, endpoint, op.now, expiresAt, consume ? op.now : null);
        EventKind kind = consume ? EventKind.COMMITTED : EventKind.RESERVED;
        for (int attempt = 1; ; attempt++) {
            Optional<Committed> done;
            try {
                done = tryTake(op, granted, consume, kind);
            } catch (JdbiException e) {
                if (key != null && Failures.isUniqueViolation(e)) {
                    // the key was used before, or a concurrent call with it won the insert: answer as its
                    // replay (if it is gone again, that call rolled back: run this one again), after the
                    // first touch and the sweep any reserve does, in that order: a new month's account
                    // carries over what the old month had before its stale holds are returned, and a
                    // stale hold's replay answers it EXPIRED
                    currentAccount(op, subject);
                    expireStaleOf(op, subject);
                    StoredReservation existing = reservationByKey(op, subject, key).orElseThrow(() -> new Conflict(e));
                    return new Reserved(replay(existing, tokens, consume, key), currentAccount(op, subject), true);
                }
                throw e;
            }
            if (done.isPresent()) {
                QuotaAccount after = done.get().account;
                QuotaAccount before = consume ? adjust(after, -tokens, 0, 0) : adjust(after, 0, -tokens, 0);
                op.logged(new LedgerEvent(done.get().eventId, subject, month, kind, tokens, 0, id, null, endpoint,
                        op.now));
                op.changed(before, after);
                return new Reserved(granted, after, false);
            }
            // it changed nothing: find out why, fixing what is ours to fix, then try again or refuse
            Probe probe = op.with(h -> h.createQuery(sql.probeSubject)
                    .bind("subject", subject).bind("month", Rows.month(month)).bind("now", Rows.timestamp(op.now))
                    .map((rs, ctx) -> new Probe(Rows.nullableLong(rs, "available"), rs.getLong("stale"))).one());
            boolean canRetry = attempt < MAX_TAKE_ATTEMPTS;
            if (probe.available == null && canRetry) {
                currentAccount(op, subject);
                continue;
            }
            if (probe.stale > 0 && canRetry) {
                // the replay of a stale hold's key must answer it EXPIRED, so the sweep comes first
                expireStaleOf(op, subject);
                continue;
            }
            if (key != null) {
                Optional<StoredReservation> existing = reservationByKey(op, subject, key);
                if (existing.isPresent()) {
                    return new Reserved(replay(existing.get(), tokens, consume, key), currentAccount(op, subject), true);
                }
            }
            // enough again by now (a concurrent first touch, release or credit): the refusal was stale
            if (probe.available != null && probe.available >= tokens && canRetry) {
                continue;
            }
            throw reject(op, subject, month, tokens, endpoint);
        }
    }

    /**
     * One attempt at granting {@code hold}; empty, with nothing changed, when the conditional update
     * matched no row. Bound by position on the handle's connection (see {@link Positional}).
     */
    private Optional<Committed> tryTake(Op op, Reservation hold, boolean consume, EventKind kind) {
        Object[] values = {"id", hold.id(), "subject", hold.subject(), "month", Rows.month(hold.month()),
            "tokens", hold.held(), "held", hold.held(), "state", hold.state().name(), "charged", hold.charged(),
            "actual", hold.actual(), "key", hold.idempotencyKey(), "endpoint", hold.endpoint(), "consume", consume,
            "now", hold.createdAt(), "expiresAt", hold.expiresAt(), "finishedAt", hold.finishedAt(),
            "kind", kind.name(), "overage", 0L, "reservationId", hold.id(), "tx", null, "detail", hold.endpoint()};
        Connection c = op.handle().getConnection();
        try {
            if (sql.oneStatementPerChange()) {
                try (PreparedStatement ps = (consume ? hot.consumeInOneStatement() : hot.reserveInOneStatement())
                        .prepare(c, values); ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? Optional.of(new Committed(rs.getLong("event_id"), Rows.ACCOUNT.map(rs, null)))
                            : Optional.empty();
                }
            }
            // the account's update comes last, so its row lock is held for one statement and the commit
            return inTransaction(c, () -> {
                try (PreparedStatement ps = hot.insertReservation().prepare(c, values)) {
                    ps.executeUpdate();
                }
                long eventId = eventId(c, values);
                try (PreparedStatement ps = (consume ? hot.consumeIfAvailable() : hot.reserveIfAvailable())
                        .prepare(c, values); ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? Optional.of(new Committed(eventId, Rows.ACCOUNT.map(rs, null)))
                            : Optional.empty();
                }
            });
        } catch (SQLException e) {
            throw new UnableToExecuteStatementException(e, null);
        }
    }

    private long eventId(Connection c, Object[] values) throws SQLException {
        try (PreparedStatement ps = hot.insertEvent().prepare(c, values); ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** A body that returns empty to undo what it did; on the raw connection, restored to autocommit after. */
    private static <T> Optional<T> inTransaction(Connection c, SqlBody<Optional<T>> body) throws SQLException {
        c.setAutoCommit(false);
        try {
            Optional<T> result = body.run();
            if (result.isPresent()) {
                c.commit();
            } else {
                c.rollback();
            }
            return result;
        } catch (SQLException | RuntimeException e) {
            try {
                c.rollback();
            } catch (SQLException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        } finally {
            c.setAutoCommit(true);
        }
    }

    @FunctionalInterface
    private interface SqlBody<T> {
        T run() throws SQLException;
    }

    private Reservation replay(StoredReservation existing, long tokens, boolean consume, String key) {
        if (existing.consume() == consume && existing.reservation().held() == tokens) {
            return existing.reservation();
        }
        throw new QuotaException(ErrorCode.IDEMPOTENCY_CONFLICT,
                "idempotency key " + key + " was already used with different parameters");
    }

    private QuotaExceededException reject(Op op, String subject, YearMonth month, long tokens, String endpoint) {
        long eventId = op.with(h -> insertEvent(h, subject, month, EventKind.REJECTED, tokens, 0, null, null,
                endpoint, false, op.now));
        op.logged(new LedgerEvent(eventId, subject, month, EventKind.REJECTED, tokens, 0, null, null, endpoint, op.now));
        QuotaAccount account = storedAccount(op, subject, month).orElseThrow();
        return new QuotaExceededException(subject, tokens, account.limit(), account.available(), policy.resetOf(month));
    }

    @Override
    public Reservation commit(String reservationId, long actualTokens) {
        Validation.nonNegativeTokens(actualTokens, "actual_tokens");
        Validation.key(reservationId, "reservation_id");
        return operation("commit", op -> {
            Optional<Reservation> live = finishLiveHold(op, reservationId, EventKind.COMMITTED, "actual", actualTokens,
                    "capAtHeld", policy.overrunPolicy() == OverrunPolicy.CHARGE_ACTUAL ? 0 : 1);
            if (live.isPresent()) {
                return live.get();
            }
            // not a live hold (gone, finished or expired): read it and answer as before
            while (true) {
                Reservation hold = current(op, reservationId);
                switch (hold.state()) {
                    case EXPIRED:
                        throw new QuotaException(ErrorCode.RESERVATION_EXPIRED,
                                "reservation " + reservationId + " expired at " + hold.expiresAt());
                    case COMMITTED:
                        if (hold.actual() != null && hold.actual() == actualTokens) {
                            return hold;
                        }
                        throw new QuotaException(ErrorCode.RESERVATION_STATE_CONFLICT,
                                "reservation " + reservationId + " was already committed with " + hold.actual() + " tokens");
                    case RELEASED:
                        throw new QuotaException(ErrorCode.RESERVATION_STATE_CONFLICT,
                                "reservation " + reservationId + " was released");
                    default:
                        break;
                }
                long charged = policy.overrunPolicy() == OverrunPolicy.CHARGE_ACTUAL
                        ? actualTokens : Math.min(actualTokens, hold.held());
                long overage = Math.max(0, actualTokens - hold.held());
                Optional<Committed> done = finishHold(op, hold, EventKind.COMMITTED, charged, overage, h ->
                        update(h, sql.finishHoldCommitted).bind("charged", charged).bind("actual", actualTokens)
                                .bind("overage", overage));
                if (done.isPresent()) {
                    op.changed(adjust(done.get().account, -charged, hold.held(), 0), done.get().account);
                    return new Reservation(hold.id(), hold.subject(), hold.month(), hold.held(), ReservationState.COMMITTED,
                            charged, actualTokens, overage, hold.idempotencyKey(), hold.endpoint(), hold.createdAt(),
                            hold.expiresAt(), op.now);
                }
                // another call finished the hold between our read and our update: answer from its outcome
            }
        });
    }

    @Override
    public Reservation release(String reservationId) {
        Validation.key(reservationId, "reservation_id");
        return operation("release", op -> {
            Optional<Reservation> live = finishLiveHold(op, reservationId, EventKind.RELEASED);
            if (live.isPresent()) {
                return live.get();
            }
            while (true) {
                Reservation hold = current(op, reservationId);
                switch (hold.state()) {
                    case RELEASED:
                    case EXPIRED:
                        return hold;
                    case COMMITTED:
                        throw new QuotaException(ErrorCode.RESERVATION_STATE_CONFLICT,
                                "reservation " + reservationId + " was already committed");
                    default:
                        break;
                }
                Optional<Committed> done = finishHold(op, hold, EventKind.RELEASED, hold.held(), 0,
                        h -> update(h, sql.finishHoldReleased));
                if (done.isPresent()) {
                    op.changed(adjust(done.get().account, 0, hold.held(), 0), done.get().account);
                    return new Reservation(hold.id(), hold.subject(), hold.month(), hold.held(), ReservationState.RELEASED,
                            0, null, 0, hold.idempotencyKey(), hold.endpoint(), hold.createdAt(), hold.expiresAt(), op.now);
                }
            }
        });
    }

    /**
     * Commits or releases a hold with a first statement that is the conditional update of the hold
     * itself, so a live hold costs no read before it (on PostgreSQL the whole change is that one
     * statement); empty, and nothing changed, when the hold is not live, and the caller then reads
     * it to explain why. {@code bindings} are the commit's own (name, value, ...).
     */
    private Optional<Reservation> finishLiveHold(Op op, String reservationId, EventKind kind, Object... bindings) {
        boolean committed = kind == EventKind.COMMITTED;
        Object[] values = new Object[bindings.length + 4];
        System.arraycopy(bindings, 0, values, 0, bindings.length);
        values[bindings.length] = "id";
        values[bindings.length + 1] = reservationId;
        values[bindings.length + 2] = "now";
        values[bindings.length + 3] = op.now;
        Connection c = op.handle().getConnection();
        Optional<Finished> done;
        try {
            if (sql.oneStatementPerChange()) {
                try (PreparedStatement ps = (committed ? hot.commitInOneStatement() : hot.releaseInOneStatement())
                        .prepare(c, values); ResultSet rs = ps.executeQuery()) {
                    done = rs.next() ? Optional.of(Rows.FINISHED_HOLD.map(rs, null))
                            .map(f -> new Finished(f.reservation(), new Committed(f.eventId(), f.account())))
                            : Optional.empty();
                }
            } else {
                done = inTransaction(c, () -> {
                    Reservation r;
                    try (PreparedStatement ps = (committed ? hot.commitLiveHold() : hot.releaseLiveHold()).prepare(c, values);
                         ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) {
                            return Optional.empty();
                        }
                        r = Rows.RESERVATION.map(rs, null).reservation();
                    }
                    long tokens = committed ? r.charged() : r.held();
                    long eventId = eventId(c, new Object[] {"subject", r.subject(), "month", Rows.month(r.month()),
                        "kind", kind.name(), "tokens", tokens, "overage", r.overage(), "reservationId", r.id(),
                        "tx", null, "detail", r.endpoint(), "consume", false, "now", op.now});
                    try (PreparedStatement ps = (committed ? hot.chargeHold() : hot.returnHold()).prepare(c, "subject",
                            r.subject(), "month", Rows.month(r.month()), "now", op.now, "held", r.held(),
                            "charged", r.charged());
                         ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        return Optional.of(new Finished(r, new Committed(eventId, Rows.ACCOUNT.map(rs, null))));
                    }
                });
            }
        } catch (SQLException e) {
            throw new UnableToExecuteStatementException(e, null);
        }
        // told to the listeners only once the change committed, as finishHold does
        done.ifPresent(f -> {
            Reservation r = f.reservation;
            long tokens = kind == EventKind.COMMITTED ? r.charged() : r.held();
            QuotaAccount after = f.committed.account;
            op.logged(new LedgerEvent(f.committed.eventId, r.subject(), r.month(), kind, tokens, r.overage(), r.id(),
                    null, r.endpoint(), op.now));
            op.changed(adjust(after, kind == EventKind.COMMITTED ? -tokens : 0, r.held(), 0), after);
        });
        return done.map(Finished::reservation);
    }

    /** The reservation as stored, after expiring it if its TTL has passed. */
    private Reservation current(Op op, String reservationId) {
        Reservation hold = reservationById(op, reservationId).map(StoredReservation::reservation).orElseThrow(() ->
                new QuotaException(ErrorCode.RESERVATION_NOT_FOUND, "no reservation " + reservationId));
        if (hold.state() == ReservationState.HELD && !hold.expiresAt().isAfter(op.now)) {
            expire(op, hold);
            return reservationById(op, reservationId).orElseThrow().reservation();
        }
        return hold;
    }

    /**
     * Moves a HELD reservation to its final state, logs the event and returns the hold to the
     * account of its own month; empty when the hold was no longer HELD (a concurrent call won).
     */
    private Optional<Committed> finishHold(Op op, Reservation hold, EventKind kind, long tokens, long overage,
                                           java.util.function.Function<Handle, Update> finish) {
        Optional<Committed> done = transaction(op, h -> {
            if (finish.apply(h).bind("id", hold.id()).bind("now", Rows.timestamp(op.now)).execute() == 0) {
                return Optional.empty();
            }
            long eventId = insertEvent(h, hold.subject(), hold.month(), kind, tokens, overage, hold.id(), null,
                    hold.endpoint(), false, op.now);
            String accountUpdate = kind == EventKind.COMMITTED ? sql.chargeHold : sql.returnHold;
            Query query = accountQuery(h, accountUpdate, hold.subject(), hold.month(), op.now).bind("held", hold.held());
            if (kind == EventKind.COMMITTED) {
                query.bind("charged", tokens);
            }
            QuotaAccount after = query.map(Rows.ACCOUNT).one();
            return Optional.of(new Committed(eventId, after));
        });
        done.ifPresent(c -> op.logged(new LedgerEvent(c.eventId, hold.subject(), hold.month(), kind, tokens, overage,
                hold.id(), null, hold.endpoint(), op.now)));
        return done;
    }

    /** Expires one stale hold; false when another call finished it first. */
    private boolean expire(Op op, Reservation hold) {
        Optional<Committed> done = finishHold(op, hold, EventKind.EXPIRED, hold.held(), 0,
                h -> update(h, sql.finishHoldExpired));
        done.ifPresent(c -> op.changed(adjust(c.account, 0, hold.held(), 0), c.account));
        return done.isPresent();
    }

    private void expireStaleOf(Op op, String subject) {
        List<Reservation> stale = op.with(h -> h.createQuery(sql.selectStaleHoldsOfSubject)
                .bind("subject", subject).bind("now", Rows.timestamp(op.now))
                .map(Rows.RESERVATION).map(StoredReservation::reservation).list());
        for (Reservation hold : stale) {
            expire(op, hold);
        }
    }

    @Override
    public int expireStale() {
        return operation("expireStale", op -> {
            List<Reservation> stale = op.with(h -> h.createQuery(sql.selectStaleHolds)
                    .bind("now", Rows.timestamp(op.now))
                    .map(Rows.RESERVATION).map(StoredReservation::reservation).list());
            int expired = 0;
            for (Reservation hold : stale) {
                if (expire(op, hold)) {
                    expired++;
                }
            }
            return expired;
        });
    }

    @Override
    public Optional<Reservation> reservation(String reservationId) {
        Validation.key(reservationId, "reservation_id");
        return operation("reservation", op -> reservationById(op, reservationId).map(StoredReservation::reservation));
    }

    @Override
    public QuotaAccount account(String subject) {
        Validation.subject(subject);
        return operation("account", op -> currentAccount(op, subject));
    }

    @Override
    public Optional<QuotaAccount> account(String subject, YearMonth month) {
        Validation.subject(subject);
        policy.checkReadableMonth(month);
        return operation("account", op -> storedAccount(op, subject, month));
    }

    @Override
    public List<QuotaAccount> history(String subject, int months) {
        Validation.subject(subject);
        Validation.months(months, policy.historyMonths());
        return operation("history", op -> {
            QuotaAccount current = currentAccount(op, subject);
            return op.with(h -> h.createQuery(sql.selectHistory).bind("subject", subject)
                    .bind("oldest", Rows.month(current.month().minusMonths(months - 1L)))
                    .bind("month", Rows.month(current.month()))
                    .map(Rows.ACCOUNT).list());
        });
    }

    @Override
    public QuotaAccount setPlan(String subject, long monthlyAllocation) {
        Validation.subject(subject);
        Validation.nonNegativeTokens(monthlyAllocation, "allocation");
        if (monthlyAllocation > policy.maxQuota()) {
            throw new QuotaException(ErrorCode.MAX_QUOTA_EXCEEDED,
                    "allocation " + monthlyAllocation + " exceeds the max quota " + policy.maxQuota());
        }
        return operation("setPlan", op -> {
            QuotaAccount account = currentAccount(op, subject);
            for (int attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
                QuotaAccount before = account;
                // never below the allocation at which available is 0, so a plan change cannot overdraw;
                // an account already overdrawn keeps its allocation unless the new plan is higher
                long floor = before.used() + before.reserved() - before.granted() - before.carried();
                long allocated = Math.max(monthlyAllocation, Math.min(before.allocated(), floor));
                Optional<Committed> done = optionalTransaction(op, h -> {
                    update(h, sql.upsertPlan).bind("subject", subject).bind("allocated", monthlyAllocation)
                            .bind("now", Rows.timestamp(op.now)).execute();
                    long eventId = insertEvent(h, subject, before.month(), EventKind.PLAN_CHANGED, allocated, 0, null,
                            null, null, false, op.now);
                    return accountQuery(h, sql.allocateIfUnchanged, subject, before.month(), op.now)
                            .bind("allocated", allocated).bind("oldAllocated", before.allocated()).bind("floor", floor)
                            .map(Rows.ACCOUNT).findOne().map(after -> new Committed(eventId, after));
                });
                if (done.isPresent()) {
                    op.logged(new LedgerEvent(done.get().eventId, subject, before.month(), EventKind.PLAN_CHANGED,
                            allocated, 0, null, null, null, op.now));
                    op.changed(before, done.get().account);
                    return done.get().account;
                }
                account = storedAccount(op, subject, before.month()).orElseThrow();
            }
            throw contended("setPlan", subject);
        });
    }

    // ---------------------------------------------------------------- purchases

    @Override
    public Purchase recordPending(PurchaseRequest request) {
        requireRequest(request);
        return operation("recordPending", op -> {
            Optional<Purchase> existing = purchaseById(op, request.transactionId());
            if (existing.isPresent()) {
                return replay(existing.get(), request);
            }
            YearMonth month = policy.monthOf(op.now);
            long eventId;
            try {
                eventId = transaction(op, h -> {
                    insertPurchase(h, request, PurchaseStatus.PENDING, null, op.now);
                    return insertEvent(h, request.subject(), month, EventKind.PURCHASE_RECORDED, request.tokens(), 0,
                            null, request.transactionId(), request.reason(), false, op.now);
                });
            } catch (JdbiException e) {
                if (Failures.isUniqueViolation(e)) {
                    return replay(purchaseById(op, request.transactionId()).orElseThrow(() -> new Conflict(e)), request);
                }
                throw e;
            }
            op.logged(new LedgerEvent(eventId, request.subject(), month, EventKind.PURCHASE_RECORDED, request.tokens(),
                    0, null, request.transactionId(), request.reason(), op.now));
            return purchaseById(op, request.transactionId()).orElseThrow();
        });
    }

    @Override
    public Purchase complete(String transactionId) {
        Validation.key(transactionId, "transaction_id");
        return operation("complete", op -> {
            while (true) {
                Purchase purchase = findPurchase(op, transactionId);
                QuotaAccount account = currentAccount(op, purchase.subject());
                switch (purchase.status()) {
                    case COMPLETED:
                        return purchase;
                    case FAILED:
                    case REFUNDED:
                        throw purchaseConflict(purchase, "completed");
                    default:
                        break;
                }
                Optional<Committed> done;
                try {
                    done = optionalTransaction(op, h -> {
                        int changed = update(h, sql.completePendingPurchase).bind("tx", transactionId)
                                .bind("month", Rows.month(account.month())).bind("now", Rows.timestamp(op.now)).execute();
                        if (changed == 0) {
                            return Optional.empty();
                        }
                        return Optional.of(credit(h, op, account.month(), purchase));
                    });
                } catch (OverMaxQuota overQuota) {
                    throw maxQuotaExceeded(purchase.subject(), account.month(), purchase.tokens());
                }
                if (done.isPresent()) {
                    creditDone(op, account.month(), purchase, done.get());
                    return purchaseById(op, transactionId).orElseThrow();
                }
            }
        });
    }

    @Override
    public Purchase grant(PurchaseRequest request) {
        requireRequest(request);
        return operation("grant", op -> {
            QuotaAccount account = currentAccount(op, request.subject());
            Optional<Purchase> existing = purchaseById(op, request.transactionId());
            if (existing.isPresent()) {
                return replay(existing.get(), request);
            }
            Purchase pending = new Purchase(request.transactionId(), request.subject(), request.tokens(), request.type(),
                    PurchaseStatus.PENDING, request.paymentMethod(), request.amount(), request.currency(),
                    request.reason(), null, 0, op.now, null);
            Committed done;
            try {
                done = transaction(op, h -> {
                    insertPurchase(h, request, PurchaseStatus.COMPLETED, account.month(), op.now);
                    return credit(h, op, account.month(), pending);
                });
            } catch (OverMaxQuota overQuota) {
                throw maxQuotaExceeded(request.subject(), account.month(), request.tokens());
            } catch (JdbiException e) {
                if (Failures.isUniqueViolation(e)) {
                    return replay(purchaseById(op, request.transactionId()).orElseThrow(() -> new Conflict(e)), request);
                }
                throw e;
            }
            creditDone(op, account.month(), pending, done);
            return purchaseById(op, request.transactionId()).orElseThrow();
        });
    }

    /** Logs the credit and adds it to {@code granted}, last in the transaction; rolls back past the max quota. */
    private Committed credit(Handle h, Op op, YearMonth month, Purchase purchase) {
        long eventId = insertEvent(h, purchase.subject(), month, EventKind.CREDITED, purchase.tokens(), 0, null,
                purchase.transactionId(), purchase.reason(), false, op.now);
        QuotaAccount after = accountQuery(h, sql.creditIfUnderMaxQuota, purchase.subject(), month, op.now)
                .bind("tokens", purchase.tokens()).bind("maxQuota", policy.maxQuota())
                .map(Rows.ACCOUNT).findOne().orElseThrow(() -> OverMaxQuota.INSTANCE);
        return new Committed(eventId, after);
    }

    private void creditDone(Op op, YearMonth month, Purchase purchase, Committed done) {
        op.logged(new LedgerEvent(done.eventId, purchase.subject(), month, EventKind.CREDITED, purchase.tokens(), 0,
                null, purchase.transactionId(), purchase.reason(), op.now));
        op.changed(adjust(done.account, 0, 0, -purchase.tokens()), done.account);
    }

    private QuotaException maxQuotaExceeded(String subject, YearMonth month, long tokens) {
        return new QuotaException(ErrorCode.MAX_QUOTA_EXCEEDED, "crediting " + tokens + " tokens would take "
                + subject + "'s " + month + " limit past the max quota " + policy.maxQuota());
    }

    @Override
    public Purchase fail(String transactionId) {
        Validation.key(transactionId, "transaction_id");
        return operation("fail", op -> {
            while (true) {
                Purchase purchase = findPurchase(op, transactionId);
                switch (purchase.status()) {
                    case FAILED:
                        return purchase;
                    case COMPLETED:
                    case REFUNDED:
                        throw purchaseConflict(purchase, "failed");
                    default:
                        break;
                }
                YearMonth month = policy.monthOf(op.now);
                Optional<Long> eventId = optionalTransaction(op, h -> {
                    if (update(h, sql.failPendingPurchase).bind("tx", transactionId)
                            .bind("now", Rows.timestamp(op.now)).execute() == 0) {
                        return Optional.empty();
                    }
                    return Optional.of(insertEvent(h, purchase.subject(), month, EventKind.PURCHASE_RECORDED,
                            purchase.tokens(), 0, null, transactionId, purchase.reason(), false, op.now));
                });
                if (eventId.isPresent()) {
                    op.logged(new LedgerEvent(eventId.get(), purchase.subject(), month, EventKind.PURCHASE_RECORDED,
                            purchase.tokens(), 0, null, transactionId, purchase.reason(), op.now));
                    return purchaseById(op, transactionId).orElseThrow();
                }
            }
        });
    }

    @Override
    public Purchase refund(String transactionId) {
        Validation.key(transactionId, "transaction_id");
        return operation("refund", op -> {
            for (int attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
                Purchase purchase = findPurchase(op, transactionId);
                QuotaAccount before = currentAccount(op, purchase.subject());
                switch (purchase.status()) {
                    case REFUNDED:
                        return purchase;
                    case PENDING:
                    case FAILED:
                        throw purchaseConflict(purchase, "refunded");
                    default:
                        break;
                }
                long tokens = purchase.tokens();
                long credit = before.granted() + before.carried();
                // burn-down order spends the allowance first, so what is left of granted + carried (and
                // no more than is available) can still be taken back; the rest was spent
                long debit = Math.min(tokens, Math.min(Math.max(0, credit), Math.max(0, before.available())));
                long unrecovered = tokens - debit;
                Optional<Committed> done = optionalTransaction(op, h -> {
                    if (update(h, sql.refundCompletedPurchase).bind("tx", transactionId)
                            .bind("unrecovered", unrecovered).bind("now", Rows.timestamp(op.now)).execute() == 0) {
                        return Optional.empty();
                    }
                    long eventId = insertEvent(h, purchase.subject(), before.month(), EventKind.DEBITED, debit,
                            unrecovered, null, transactionId, purchase.reason(), false, op.now);
                    return accountQuery(h, sql.debitIfUnchanged, purchase.subject(), before.month(), op.now)
                            .bind("debit", debit).bind("credit", credit).bind("available", before.available())
                            .map(Rows.ACCOUNT).findOne().map(after -> new Committed(eventId, after))
                            // the balance moved since it was read: undo and compute the debit again
                            .or(() -> {
                                throw Rollback.INSTANCE;
                            });
                });
                if (done.isPresent()) {
                    op.logged(new LedgerEvent(done.get().eventId, purchase.subject(), before.month(), EventKind.DEBITED,
                            debit, unrecovered, null, transactionId, purchase.reason(), op.now));
                    op.changed(before, done.get().account);
                    return purchaseById(op, transactionId).orElseThrow();
                }
            }
            throw contended("refund", transactionId);
        });
    }

    @Override
    public Optional<Purchase> purchase(String transactionId) {
        Validation.key(transactionId, "transaction_id");
        return operation("purchase", op -> purchaseById(op, transactionId));
    }

    @Override
    public List<Purchase> purchases(String subject, YearMonth month) {
        Validation.subject(subject);
        policy.checkReadableMonth(month);
        return operation("purchases", op -> op.with(h -> h.createQuery(sql.selectPurchasesCreatedBetween)
                .bind("subject", subject)
                .bind("from", Rows.timestamp(policy.startOf(month)))
                .bind("to", Rows.timestamp(policy.resetOf(month)))
                .map(Rows.PURCHASE).list()));
    }

    private Purchase findPurchase(Op op, String transactionId) {
        return purchaseById(op, transactionId).orElseThrow(() ->
                new QuotaException(ErrorCode.PURCHASE_NOT_FOUND, "no purchase " + transactionId));
    }

    private static Purchase replay(Purchase existing, PurchaseRequest request) {
        PurchaseRequest stored = new PurchaseRequest(existing.transactionId(), existing.subject(), existing.tokens(),
                existing.type(), existing.paymentMethod(), existing.amount(), existing.currency(), existing.reason());
        if (stored.equals(request)) {
            return existing;
        }
        throw new QuotaException(ErrorCode.IDEMPOTENCY_CONFLICT,
                "transaction " + request.transactionId() + " was already recorded with different parameters");
    }

    private static QuotaException purchaseConflict(Purchase purchase, String target) {
        return new QuotaException(ErrorCode.PURCHASE_STATE_CONFLICT, "purchase " + purchase.transactionId()
                + " is " + purchase.status().wireName() + " and cannot be " + target);
    }

    private static void requireRequest(PurchaseRequest request) {
        if (request == null) {
            throw new QuotaException(ErrorCode.INVALID_ARGUMENT, "purchase request is required");
        }
    }

    // ---------------------------------------------------------------- statistics

    @Override
    public List<DailyUsage> dailyUsage(String subject, LocalDate from, LocalDate to) {
        Validation.optionalSubject(subject);
        DailyTally tally = new DailyTally(from, to);
        operation("dailyUsage", op -> op.with(h -> {
            Query query = h.createQuery(subject == null ? sql.selectRequestEvents : sql.selectRequestEventsOfSubject)
                    .bind("from", Rows.timestamp(from.atStartOfDay(policy.zone()).toInstant()))
                    .bind("to", Rows.timestamp(to.plusDays(1).atStartOfDay(policy.zone()).toInstant()));
            if (subject != null) {
                query.bind("subject", subject);
            }
            // bucketed here rather than in SQL: a day is a calendar day in the policy's zone, which
            // the two databases would each need their own time zone arithmetic for
            query.map((rs, ctx) -> {
                tally.add(policy.dayOf(Rows.instant(rs, "occurred_at")), EventKind.valueOf(rs.getString("kind")),
                        rs.getLong("tokens"), rs.getBoolean("is_consume"));
                return Boolean.TRUE;
            }).forEach(ignored -> { });
            return null;
        }));
        return tally.days();
    }

    @Override
    public List<ConsumerUsage> topConsumers(YearMonth month, int limit) {
        policy.checkReadableMonth(month);
        Validation.topLimit(limit);
        return operation("topConsumers", op -> op.with(h -> h.createQuery(sql.selectTopConsumers)
                .bind("month", Rows.month(month)).bind("limit", limit)
                .map((rs, ctx) -> new ConsumerUsage(rs.getString("subject"), rs.getLong("used"), rs.getLong("month_limit")))
                .list()));
    }

    @Override
    public BlockStats blockStats(String subject, YearMonth month) {
        Validation.optionalSubject(subject);
        policy.checkReadableMonth(month);
        return operation("blockStats", op -> op.with(h -> {
            Query query = h.createQuery(subject == null ? sql.countBlocks : sql.countBlocksOfSubject)
                    .bind("month", Rows.month(month));
            if (subject != null) {
                query.bind("subject", subject);
            }
            return query.map((rs, ctx) -> {
                long granted = rs.getLong("granted_holds");
                long rejected = rs.getLong("rejected_holds");
                double ratio = granted + rejected == 0 ? 0.0 : (double) rejected / (granted + rejected);
                return new BlockStats(granted, rejected, ratio);
            }).one();
        }));
    }

    @Override
    public UsageForecast forecast(String subject) {
        Validation.subject(subject);
        return operation("forecast", op -> {
            QuotaAccount account = currentAccount(op, subject);
            Instant resetAt = policy.resetOf(account.month());
            long elapsedMillis = Math.max(MIN_ELAPSED_MILLIS,
                    Duration.between(policy.startOf(account.month()), op.now).toMillis());
            double tokensPerDay = account.used() / ((double) elapsedMillis / MILLIS_PER_DAY);
            long available = account.available();
            Instant exhaustion;
            if (available <= 0) {
                exhaustion = op.now;
            } else if (tokensPerDay == 0) {
                exhaustion = null;
            } else {
                double millis = available / tokensPerDay * MILLIS_PER_DAY;
                long untilReset = Duration.between(op.now, resetAt).toMillis();
                exhaustion = millis >= untilReset ? null : op.now.plusMillis((long) millis);
            }
            return new UsageForecast(subject, account.month(), account.used(), available, tokensPerDay, exhaustion,
                    resetAt);
        });
    }

    @Override
    public long openHolds() {
        return operation("openHolds", op -> op.with(h -> h.createQuery(sql.countOpenHolds).mapTo(Long.class).one()));
    }

    @Override
    public List<PurchaseTotal> purchaseTotals(YearMonth month) {
        policy.checkReadableMonth(month);
        List<PurchaseTotal> totals = operation("purchaseTotals", op -> op.with(h ->
                h.createQuery(sql.sumPurchasesOfMonth).bind("month", Rows.month(month))
                        .map((rs, ctx) -> {
                            BigDecimal amount = rs.getBigDecimal("amount");
                            return new PurchaseTotal(PurchaseType.parse(rs.getString("purchase_type")),
                                    Currency.parse(rs.getString("currency").trim()), rs.getLong("purchases"),
                                    rs.getLong("tokens"), (amount == null ? BigDecimal.ZERO : amount).setScale(2));
                        }).list()));
        // the order of wire names, whatever the database's collation
        List<PurchaseTotal> sorted = new ArrayList<>(totals);
        sorted.sort(Comparator.comparing((PurchaseTotal t) -> t.type().wireName())
                .thenComparing(t -> t.currency().name()));
        return sorted;
    }

    @Override
    public List<LedgerEvent> events(String subject, YearMonth month) {
        Validation.subject(subject);
        policy.checkReadableMonth(month);
        return operation("events", op -> op.with(h -> h.createQuery(sql.selectEvents)
                .bind("subject", subject).bind("month", Rows.month(month))
                .map(Rows.EVENT).list()));
    }

    // ---------------------------------------------------------------- accounts

    /**
     * The subject's account of the current month, created from the policy on first touch. Created
     * outside any locking transaction with an insert that does nothing when a concurrent call
     * created the row first, so no lock is ever taken on a row that may not exist.
     */
    private QuotaAccount currentAccount(Op op, String subject) {
        YearMonth month = policy.monthOf(op.now);
        Optional<QuotaAccount> existing = storedAccount(op, subject, month);
        if (existing.isPresent()) {
            return existing.get();
        }
        op.use(h -> {
            long allocated = h.createQuery(sql.selectPlan).bind("subject", subject).mapTo(Long.class).findOne()
                    .orElse(policy.defaultAllocation());
            long carried = !policy.rolloverPurchased() ? 0 : h.createQuery(sql.selectLatestAccountBefore)
                    .bind("subject", subject).bind("month", Rows.month(month))
                    .map(Rows.ACCOUNT).findOne().map(QuotaAccount::unusedGranted).orElse(0L);
            try {
                update(h, sql.insertAccountIfAbsent).bind("subject", subject).bind("month", Rows.month(month))
                        .bind("allocated", allocated).bind("carried", carried).bind("now", Rows.timestamp(op.now))
                        .execute();
            } catch (JdbiException e) {
                if (!(sql.insertAccountMayCollide() && Failures.isUniqueViolation(e))) {
                    throw e;
                }
            }
        });
        return storedAccount(op, subject, month).orElseThrow();
    }

    private Optional<QuotaAccount> storedAccount(Op op, String subject, YearMonth month) {
        return op.with(h -> h.createQuery(sql.selectAccount)
                .bind("subject", subject).bind("month", Rows.month(month))
                .map(Rows.ACCOUNT).findOne());
    }

    private Optional<StoredReservation> reservationById(Op op, String id) {
        return op.with(h -> h.createQuery(sql.selectReservation).bind("id", id).map(Rows.RESERVATION).findOne());
    }

    private Optional<StoredReservation> reservationByKey(Op op, String subject, String key) {
        return op.with(h -> h.createQuery(sql.selectReservationByKey)
                .bind("subject", subject).bind("key", key).map(Rows.RESERVATION).findOne());
    }

    private Optional<Purchase> purchaseById(Op op, String transactionId) {
        return op.with(h -> h.createQuery(sql.selectPurchase).bind("tx", transactionId)
                .map(Rows.PURCHASE).findOne());
    }

    private Query accountQuery(Handle h, String statement, String subject, YearMonth month, Instant now) {
        return h.createQuery(statement).bind("subject", subject).bind("month", Rows.month(month))
                .bind("now", Rows.timestamp(now));
    }

    private static Update update(Handle h, String statement) {
        return h.createUpdate(statement);
    }

    private long insertEvent(Handle h, String subject, YearMonth month, EventKind kind, long tokens, long overage,
                             String reservationId, String transactionId, String detail, boolean consume, Instant now) {
        return h.createQuery(sql.insertEvent)
                .bind("subject", subject).bind("month", Rows.month(month)).bind("kind", kind.name())
                .bind("tokens", tokens).bind("overage", overage).bind("reservationId", reservationId)
                .bind("tx", transactionId).bind("detail", detail).bind("consume", consume)
                .bind("now", Rows.timestamp(now))
                .mapTo(Long.class).one();
    }

    private void insertPurchase(Handle h, PurchaseRequest request, PurchaseStatus status, YearMonth month, Instant now) {
        update(h, sql.insertPurchase)
                .bind("tx", request.transactionId()).bind("subject", request.subject()).bind("tokens", request.tokens())
                .bind("type", request.type().wireName()).bind("status", status.wireName())
                .bind("paymentMethod", request.paymentMethod()).bind("amount", request.amount())
                .bind("currency", request.currency().name()).bind("reason", request.reason())
                .bind("month", Rows.month(month)).bind("now", Rows.timestamp(now))
                .bind("processedAt", Rows.timestamp(status == PurchaseStatus.PENDING ? null : now))
                .execute();
    }

    /** {@code account} with {@code used}, {@code reserved} and {@code granted} moved by the deltas. */
    private static QuotaAccount adjust(QuotaAccount a, long used, long reserved, long granted) {
        return new QuotaAccount(a.subject(), a.month(), a.allocated(), a.granted() + granted, a.carried(),
                a.used() + used, a.reserved() + reserved, a.createdAt(), a.updatedAt());
    }

    private static QuotaException contended(String operation, String id) {
        return new QuotaException(ErrorCode.STORE_UNAVAILABLE,
                operation + " of " + id + " kept losing to concurrent changes; try again");
    }

    // ---------------------------------------------------------------- transactions, retries, listeners

    private static <T> T transaction(Op op, HandleCallback<T, RuntimeException> body) {
        return op.handle().inTransaction(body);
    }

    /** A transaction whose body signals "undo and report nothing" by returning empty or throwing Rollback. */
    private static <T> Optional<T> optionalTransaction(Op op, HandleCallback<Optional<T>, RuntimeException> body) {
        try {
            return op.handle().inTransaction(h -> {
                Optional<T> result = body.withHandle(h);
                if (result.isEmpty()) {
                    h.rollback();
                }
                return result;
            });
        } catch (Rollback undone) {
            return Optional.empty();
        }
    }

    /**
     * Runs one public operation on one handle of its own (never one the host has open on this
     * thread, so the store's transactions are always its own): retries it when the database reports
     * a serialization failure, a deadlock or a lock timeout (each attempt is whole: earlier attempts
     * rolled back), at most {@code maxRetries} times, with the earlier failures attached as
     * suppressed exceptions; turns any other database failure into {@code STORE_UNAVAILABLE}; and
     * fires the listeners for what committed, even when the operation ends in a domain error (a
     * rejection is logged, then thrown).
     */
    private <T> T operation(String name, java.util.function.Function<Op, T> body) {
        List<Throwable> earlier = new ArrayList<>();
        for (int attempt = 0; ; attempt++) {
            // the database keeps microseconds (PostgreSQL's precision), so the store reasons in them too
            Op op = new Op(policy.now().truncatedTo(ChronoUnit.MICROS));
            try {
                return body.apply(op);
            } catch (QuotaException e) {
                throw e;
            } catch (JdbiException | Conflict e) {
                boolean retry = (e instanceof Conflict || Failures.isRetryable(e)) && attempt < maxRetries;
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

    /** One attempt of one operation: its clock reading, its handle, and what to tell the listeners afterwards. */
    private final class Op {
        final Instant now;
        private Handle handle;
        private final List<LedgerEvent> logged = new ArrayList<>();
        private final Map<String, QuotaAccount[]> changes = new LinkedHashMap<>();

        Op(Instant now) {
            this.now = now;
        }

        /** The operation's handle, opened on first use so that validation failures never take a connection. */
        Handle handle() {
            if (handle == null) {
                handle = jdbi.open();
            }
            return handle;
        }

        <T> T with(HandleCallback<T, RuntimeException> body) {
            return body.withHandle(handle());
        }

        void use(java.util.function.Consumer<Handle> body) {
            body.accept(handle());
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

    private record Committed(long eventId, QuotaAccount account) {
    }

    /** What a refused reserve/consume reads: the account's available tokens ({@code null}: no account yet), stale holds. */
    private record Probe(Long available, long stale) {
    }

    private record Finished(Reservation reservation, Committed committed) {
    }

    /** A credit would pass the max quota: rolls the transaction back, then becomes MAX_QUOTA_EXCEEDED. */
    private static final class OverMaxQuota extends RuntimeException {
        private static final long serialVersionUID = 1L;
        static final OverMaxQuota INSTANCE = new OverMaxQuota();

        private OverMaxQuota() {
            super("over the max quota", null, false, false);
        }
    }

    /** A duplicate key whose row vanished (its transaction rolled back): the operation runs again. */
    private static final class Conflict extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Conflict(Throwable cause) {
            super("duplicate key of a transaction that rolled back", cause);
        }
    }

    /** Thrown inside a transaction to roll it back without an error: a refused hold, a lost compare-and-set. */
    private static final class Rollback extends RuntimeException {
        private static final long serialVersionUID = 1L;
        static final Rollback INSTANCE = new Rollback();

        private Rollback() {
            super("rolled back", null, false, false);
        }
    }
}

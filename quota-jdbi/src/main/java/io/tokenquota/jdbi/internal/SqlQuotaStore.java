package io.tokenquota.jdbi.internal;

import io.tokenquota.Currency;
import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
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
import io.tokenquota.internal.Validation;
import io.tokenquota.internal.DailyTally;
import io.tokenquota.internal.LedgerRules;
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
import java.time.OffsetDateTime;
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
import org.jdbi.v3.core.mapper.RowMapper;
import org.jdbi.v3.core.statement.Query;
import org.jdbi.v3.core.statement.UnableToExecuteStatementException;
import org.jdbi.v3.core.statement.Update;

/**
 * The ledger over SQL: the semantics of {@code InMemoryQuotaStore} (the arithmetic is
 * {@link LedgerRules}'), short READ COMMITTED transactions. Not API: use {@code JdbiQuotaStore}.
 * Thread-safe (holds no mutable state besides the listener list).
 *
 * <p>The common changes (a reserve or consume, a commit or release of a hold of the subject's latest
 * month, a credit, a plan change, the expiry of a hold of the latest month): one transaction inserts or
 * updates the non-account rows (the reservation or purchase, whose unique constraints enforce
 * idempotency, and the event) and one conditional {@code UPDATE} of the account row, then commits;
 * reads (and the month's first touch) happen before it. The account row lock is held from that
 * {@code UPDATE} to the commit and never across a round trip to Java: on H2 the {@code UPDATE} is the
 * transaction's last statement; on PostgreSQL reserve, consume, commit and release are each one
 * statement in autocommit ({@code Sql.reserveInOneStatement} and siblings). The hot path reads nothing
 * first: it tries the change and reads only when it matched no row.
 *
 * <p>The rare changes that span months or need several rows' values lock what they read, in one order:
 * a hold or purchase first, then accounts by month ascending. A month's first touch locks the account
 * it carries from, then inserts the new one; finishing a hold of a closed month (commit, release,
 * expiry, late commit) locks the hold, its month's account, then the latest account it moves
 * purchased tokens to; a refund locks the purchase, then the accounts it may take from. One order
 * means they cannot deadlock each other or the hot path, which locks one hold, then one account.
 *
 * <p>The month's turn: a month's first touch marks the subject's open holds and earlier accounts
 * {@code superseded} while it holds their row locks. Every write that assumes "this is the latest
 * month" carries {@code AND NOT superseded} on the row it locks, so a write that raced the first touch
 * and waited for one of those locks re-checks the flag on the row as it is now (PostgreSQL re-evaluates
 * the condition of a row it waited for; H2 likewise), matches nothing, and runs again in the new month
 * (a hold: through the locked path that moves its purchased tokens there).
 */
public final class SqlQuotaStore implements QuotaStore {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(SqlQuotaStore.class);
    /** A plan change's compare-and-set update re-reads and retries this often under contention. */
    private static final int MAX_CAS_ATTEMPTS = 200;
    /** A reserve/consume tries at most this often: once, and again after creating the account or sweeping stale holds. */
    private static final int MAX_TAKE_ATTEMPTS = 4;
    private static final int SUBJECT_STRIPES = 4096;

    private final Jdbi jdbi;
    private final Sql sql;
    /** The statements of reserve, consume, commit and release, in JDBC's positional form. */
    private final Sql.Hot hot;
    private final QuotaPolicy policy;
    private final int maxRetries;
    /**
     * How far the database's clock ({@code CURRENT_TIMESTAMP}) is ahead of the policy's, measured once
     * when the store is built. Holds expire by the database's clock: {@code expires_at} is stored in it
     * and compared with {@link Op#dbNow}, so instances whose clocks differ never expire each other's
     * live holds early; a test clock that moves still moves the expiry with it.
     */
    private final Duration dbOffset;
    /** Reads reservations back into the policy's clock. */
    private final RowMapper<StoredReservation> reservations;
    private final RowMapper<Rows.FinishedHold> finishedHolds;
    private final Listeners listeners = new Listeners();
    /**
     * On PostgreSQL, reserves and consumes of one subject in this JVM take turns here instead of
     * queueing on the account's row lock, which their one statement holds from its first part to its
     * end: the database still decides, but a hot subject keeps one backend busy rather than a queue of
     * backends that each wake, re-check the row and go back to waiting. Striped, so unrelated subjects
     * rarely share a lock; only ever held around one reserve or consume.
     */
    private final ReentrantLock[] subjectStripes = new ReentrantLock[SUBJECT_STRIPES];
    /**
     * On PostgreSQL, reserves and consumes without idempotency keys in this JVM are combined into one
     * statement and one commit when they arrive together (a group commit): a hot subject is then not
     * held to one round trip and one WAL flush per call, and spread subjects share round trips.
     */
    private final TakeCombiner<KeylessTake, Combined> takes = new TakeCombiner<>();

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
        this.dbOffset = measureDbOffset(jdbi, policy);
        this.reservations = Rows.reservations(dbOffset);
        this.finishedHolds = Rows.finishedHolds(reservations);
    }

    private static Duration measureDbOffset(Jdbi jdbi, QuotaPolicy policy) {
        return jdbi.withHandle(h -> {
            Instant policyNow = policy.now();
            Instant dbNow = h.createQuery("SELECT CURRENT_TIMESTAMP")
                    .map((rs, ctx) -> rs.getObject(1, OffsetDateTime.class).toInstant()).one();
            // whole microseconds, the databases' precision, so converting an instant back and forth is exact
            return Duration.between(policyNow, dbNow).truncatedTo(ChronoUnit.MICROS);
        });
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
    public Reserved reserve(HoldRequest request) {
        // a HoldRequest is validated when built, so nothing is checked again on the hot path
        Duration holdTtl = request.ttl() == null ? policy.holdTtl() : request.ttl();
        return operation("reserve", op -> take(op, request.subject(), request.tokens(), request.idempotencyKey(),
                request.endpoint(), holdTtl));
    }

    @Override
    public Reservation consume(HoldRequest request) {
        Validation.consumeRequest(request);
        return operation("consume", op -> take(op, request.subject(), request.tokens(), request.idempotencyKey(),
                request.endpoint(), null)).reservation();
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
        if (key == null && sql.takeTogetherInOneStatement != null) {
            Combined combined = takes.submit(subject, new KeylessTake(subject, tokens, endpoint, ttl),
                    calls -> takeTogether(op, calls),
                    () -> new Combined(takeInTurn(op, subject, tokens, null, endpoint, ttl), null, null));
            if (combined != null) {
                if (combined.event != null) {
                    // decided in another caller's statement: this caller's listeners hear of it
                    op.logged(combined.event);
                    op.changed(combined.before, combined.reserved.account());
                }
                return combined.reserved;
            }
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
        // a consume without a key keeps no reservation row; it is handed out under its event's id
        boolean keepsRow = !consume || key != null;
        YearMonth month = policy.monthOf(op.now);
        String id = keepsRow ? UUID.randomUUID().toString() : null;
        Instant expiresAt = consume ? op.now : op.now.plus(ttl);
        EventKind kind = consume ? EventKind.COMMITTED : EventKind.RESERVED;
        for (int attempt = 1; ; attempt++) {
            Reservation granted = new Reservation(id, subject, month, tokens,
                    consume ? ReservationState.COMMITTED : ReservationState.HELD, consume ? tokens : 0,
                    consume ? Long.valueOf(tokens) : null, 0, key, endpoint, op.now, expiresAt, consume ? op.now : null);
            Optional<Committed> done;
            try {
                done = tryTake(op, granted, consume, keepsRow, kind, op.dbNow);
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
                    return new Reserved(replay(existing, tokens, consume, ttl, endpoint), currentAccount(op, subject),
                            true);
                }
                throw e;
            }
            if (done.isPresent()) {
                QuotaAccount after = done.get().account;
                QuotaAccount before = consume ? adjust(after, -tokens, 0, 0) : adjust(after, 0, -tokens, 0);
                if (!keepsRow) {
                    granted = withId(granted, Rows.keylessConsumeId(done.get().eventId));
                }
                op.logged(new LedgerEvent(done.get().eventId, subject, month, kind, tokens, 0, granted.id(), null,
                        endpoint, op.now));
                op.changed(before, after);
                return new Reserved(granted, after, false);
            }
            // it changed nothing: find out why, fixing what is ours to fix, then try again or refuse
            YearMonth probed = month;
            Probe probe = op.with(h -> h.createQuery(sql.probeSubject)
                    .bind("subject", subject).bind("month", Rows.month(probed))
                    .bind("dbNow", Rows.timestamp(op.dbNow))
                    .map((rs, ctx) -> new Probe(Rows.nullableLong(rs, "available"), rs.getString("later_month"),
                            rs.getLong("stale"))).one());
            boolean canRetry = attempt < MAX_TAKE_ATTEMPTS;
            if (probe.laterMonth != null && canRetry) {
                // another instance, whose clock is ahead, opened the next month: write there, never behind it
                month = YearMonth.parse(probe.laterMonth);
                continue;
            }
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
                    return new Reserved(replay(existing.get(), tokens, consume, ttl, endpoint),
                            currentAccount(op, subject), true);
                }
            }
            // enough again by now (a concurrent first touch, release or credit): the refusal was stale
            if (probe.available != null && probe.available >= tokens && canRetry) {
                continue;
            }
            throw reject(op, subject, month, tokens, endpoint);
        }
    }

    /** A reserve ({@code ttl} set) or consume without an idempotency key, waiting to be combined. */
    private record KeylessTake(String subject, long tokens, String endpoint, Duration ttl) {
    }

    /**
     * What a combined take gets back: the grant and, when another caller's statement decided it, the
     * event and the account before it, for this caller's listeners ({@code null} when the caller ran it
     * itself and its operation already logged them).
     */
    private record Combined(Reserved reserved, LedgerEvent event, QuotaAccount before) {
    }

    /**
     * Runs {@code calls} (two or more takes, of one subject or several) as one statement on the leading
     * caller's connection, at the leader's instant: one result per call, {@code null} for each call the
     * statement did not grant (a refusal, or anything that needs the single-call path: no account yet,
     * a stale hold, a later month, a database error), which its caller then runs alone.
     */
    private List<Combined> takeTogether(Op op, List<KeylessTake> calls) {
        List<Combined> results = new ArrayList<>(java.util.Collections.nCopies(calls.size(), null));
        YearMonth month = policy.monthOf(op.now);
        int n = calls.size();
        String[] subjects = new String[n];
        Long[] tokens = new Long[n];
        String[] endpoints = new String[n];
        String[] ids = new String[n];
        Long[] expiries = new Long[n];
        for (int i = 0; i < n; i++) {
            KeylessTake call = calls.get(i);
            subjects[i] = call.subject();
            tokens[i] = call.tokens();
            endpoints[i] = call.endpoint();
            if (call.ttl() != null) {
                ids[i] = UUID.randomUUID().toString();
                expiries[i] = ChronoUnit.MICROS.between(Instant.EPOCH, op.now.plus(call.ttl()).plus(dbOffset));
            }
        }
        List<long[]> accepted = new ArrayList<>();
        Map<String, QuotaAccount> last = new java.util.HashMap<>();
        try {
            Connection c = op.handle().getConnection();
            try (PreparedStatement ps = hot.takeTogetherInOneStatement().prepare(c,
                    "subjectList", c.createArrayOf("varchar", subjects), "tokenList", c.createArrayOf("bigint", tokens),
                    "endpointList", c.createArrayOf("varchar", endpoints), "idList", c.createArrayOf("varchar", ids),
                    "expiryList", c.createArrayOf("bigint", expiries),
                    "month", Rows.month(month), "now", op.now, "dbNow", op.dbNow);
                 ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    QuotaAccount account = Rows.ACCOUNT.map(rs, null);
                    last.put(account.subject(), account);
                    accepted.add(new long[] {rs.getLong("ord") - 1, rs.getLong("event_id")});
                }
            }
        } catch (SQLException | JdbiException e) {
            // every call runs alone, on the path that retries and reports failures; said at debug level
            // because that path reports whatever is still wrong (a deadlock or lost connection is retried there)
            LOG.debug("a combined statement of {} calls failed; they run one by one", calls.size(), e);
            return results;
        }
        // the statement hands back each account after all its grants; walk back to each grant's own after
        for (int i = accepted.size() - 1; i >= 0; i--) {
            int index = (int) accepted.get(i)[0];
            long eventId = accepted.get(i)[1];
            KeylessTake call = calls.get(index);
            String subject = call.subject();
            QuotaAccount after = last.get(subject);
            boolean consume = call.ttl() == null;
            QuotaAccount before = consume ? adjust(after, -call.tokens(), 0, 0) : adjust(after, 0, -call.tokens(), 0);
            String id = consume ? Rows.keylessConsumeId(eventId) : ids[index];
            Reservation granted = consume
                    ? new Reservation(id, subject, month, call.tokens(), ReservationState.COMMITTED, call.tokens(),
                            call.tokens(), 0, null, call.endpoint(), op.now, op.now, op.now)
                    : new Reservation(id, subject, month, call.tokens(), ReservationState.HELD, 0, null, 0, null,
                            call.endpoint(), op.now, op.now.plus(call.ttl()), null);
            LedgerEvent event = new LedgerEvent(eventId, subject, month,
                    consume ? EventKind.COMMITTED : EventKind.RESERVED, call.tokens(), 0, id, null, call.endpoint(),
                    op.now);
            results.set(index, new Combined(new Reserved(granted, after, false), event, before));
            last.put(subject, before);
        }
        return results;
    }

    /**
     * One attempt at granting {@code hold}; empty, with nothing changed, when the conditional update
     * matched no row. Bound by position on the handle's connection (see {@link Positional}).
     */
    private Optional<Committed> tryTake(Op op, Reservation hold, boolean consume, boolean keepsRow, EventKind kind,
                                        Instant dbNow) {
        Object[] values = {"id", hold.id(), "subject", hold.subject(), "month", Rows.month(hold.month()),
            "tokens", hold.held(), "held", hold.held(), "state", hold.state().name(), "charged", hold.charged(),
            "actual", hold.actual(), "key", hold.idempotencyKey(), "endpoint", hold.endpoint(), "consume", consume,
            "now", hold.createdAt(), "expiresAt", hold.expiresAt().plus(dbOffset), "dbNow", dbNow,
            "finishedAt", hold.finishedAt(),
            "kind", kind.name(), "overage", 0L, "reservationId", hold.id(), "tx", null, "detail", hold.endpoint()};
        Connection c = op.handle().getConnection();
        try {
            if (sql.oneStatementPerChange()) {
                Positional statement = !keepsRow ? hot.consumeWithoutHoldInOneStatement()
                        : consume ? hot.consumeInOneStatement() : hot.reserveInOneStatement();
                try (PreparedStatement ps = statement.prepare(c, values); ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? Optional.of(new Committed(rs.getLong("event_id"), Rows.ACCOUNT.map(rs, null)))
                            : Optional.empty();
                }
            }
            // the account's update comes last, so its row lock is held for one statement and the commit
            return rawTransaction(op, () -> {
                if (keepsRow) {
                    try (PreparedStatement ps = hot.insertReservation().prepare(c, values)) {
                        ps.executeUpdate();
                    }
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

    private static Reservation withId(Reservation r, String id) {
        return new Reservation(id, r.subject(), r.month(), r.held(), r.state(), r.charged(), r.actual(), r.overage(),
                r.idempotencyKey(), r.endpoint(), r.createdAt(), r.expiresAt(), r.finishedAt());
    }

    private long eventId(Connection c, Object[] values) throws SQLException {
        try (PreparedStatement ps = hot.insertEvent().prepare(c, values); ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /**
     * A body that works on the handle's raw connection (see {@link Positional}) inside one of the
     * handle's transactions, so JDBI begins, commits and rolls back; returning empty undoes it.
     */
    private static <T> Optional<T> rawTransaction(Op op, SqlBody<Optional<T>> body) {
        return optionalTransaction(op, h -> {
            try {
                return body.run();
            } catch (SQLException e) {
                throw new UnableToExecuteStatementException(e, null);
            }
        });
    }

    @FunctionalInterface
    private interface SqlBody<T> {
        T run() throws SQLException;
    }

    /** The first call's hold, if the replay asks for the same thing (TTLs compared in the policy's clock). */
    private static Reservation replay(StoredReservation existing, long tokens, boolean consume, Duration ttl,
                                      String endpoint) {
        LedgerRules.checkReplay(existing.reservation(), existing.consume(), consume, tokens, ttl, endpoint);
        return existing.reservation();
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
            // not a held hold of the latest month: a hold of an earlier month, a finished one, or none
            while (true) {
                Reservation hold = stored(op, reservationId);
                Finish finish = Finish.COMMIT;
                if (hold.state() != ReservationState.HELD) {
                    Reservation answer = LedgerRules.commitOfFinished(hold, actualTokens);
                    if (answer != null) {
                        return answer;
                    }
                    finish = Finish.LATE_COMMIT;
                }
                Optional<Reservation> done = finishLocked(op, reservationId, finish, actualTokens);
                if (done.isPresent()) {
                    return done.get();
                }
                // another call finished the hold between our read and our lock: answer from its outcome
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
                Reservation hold = stored(op, reservationId);
                if (hold.state() != ReservationState.HELD) {
                    return LedgerRules.releaseOfFinished(hold);
                }
                Optional<Reservation> done = finishLocked(op, reservationId, Finish.RELEASE, 0);
                if (done.isPresent()) {
                    return done.get();
                }
            }
        });
    }

    /**
     * Commits or releases a held hold of the subject's latest month (the common case) with a first
     * statement that is the conditional update of the hold itself, so it costs no read before it (on
     * PostgreSQL the whole change is that one statement); empty, and nothing changed, for any other
     * hold, which the caller then reads to decide. {@code bindings} are the commit's own (name, value, ...).
     */
    private Optional<Reservation> finishLiveHold(Op op, String reservationId, EventKind kind, Object... bindings) {
        boolean committed = kind == EventKind.COMMITTED;
        Object[] values = new Object[bindings.length + 6];
        System.arraycopy(bindings, 0, values, 0, bindings.length);
        values[bindings.length] = "id";
        values[bindings.length + 1] = reservationId;
        values[bindings.length + 2] = "now";
        values[bindings.length + 3] = op.now;
        values[bindings.length + 4] = "month";
        values[bindings.length + 5] = Rows.month(policy.monthOf(op.now));
        Connection c = op.handle().getConnection();
        Optional<Finished> done;
        try {
            if (sql.oneStatementPerChange()) {
                try (PreparedStatement ps = (committed ? hot.commitInOneStatement() : hot.releaseInOneStatement())
                        .prepare(c, values); ResultSet rs = ps.executeQuery()) {
                    done = rs.next() ? Optional.of(finishedHolds.map(rs, null))
                            .map(f -> new Finished(f.reservation(), new Committed(f.eventId(), f.account())))
                            : Optional.empty();
                }
            } else {
                done = rawTransaction(op, () -> {
                    Reservation r;
                    try (PreparedStatement ps = (committed ? hot.commitLiveHold() : hot.releaseLiveHold()).prepare(c, values);
                         ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) {
                            return Optional.empty();
                        }
                        r = reservations.map(rs, null).reservation();
                    }
                    long tokens = committed ? r.charged() : r.held();
                    long eventId = eventId(c, new Object[] {"subject", r.subject(), "month", Rows.month(r.month()),
                        "kind", kind.name(), "tokens", tokens, "overage", r.overage(), "reservationId", r.id(),
                        "tx", null, "detail", r.endpoint(), "consume", false, "now", op.now});
                    try (PreparedStatement ps = (committed ? hot.chargeHold() : hot.returnHold()).prepare(c, "subject",
                            r.subject(), "month", Rows.month(r.month()), "now", op.now, "held", r.held(),
                            "charged", r.charged());
                         ResultSet rs = ps.executeQuery()) {
                        // no row: the month was superseded meanwhile; undo, and the locked path finishes it
                        return rs.next() ? Optional.of(new Finished(r, new Committed(eventId, Rows.ACCOUNT.map(rs, null))))
                                : Optional.empty();
                    }
                });
            }
        } catch (SQLException e) {
            throw new UnableToExecuteStatementException(e, null);
        }
        // told to the listeners only once the change committed
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

    /** The reservation as stored. */
    private Reservation stored(Op op, String reservationId) {
        return reservationById(op, reservationId).map(StoredReservation::reservation).orElseThrow(() ->
                new QuotaException(ErrorCode.RESERVATION_NOT_FOUND, "no reservation " + reservationId));
    }

    /** How {@link #finishLocked} finishes a hold. */
    private enum Finish {
        COMMIT(ReservationState.HELD, ReservationState.COMMITTED, EventKind.COMMITTED),
        LATE_COMMIT(ReservationState.EXPIRED, ReservationState.COMMITTED, EventKind.LATE_COMMITTED),
        RELEASE(ReservationState.HELD, ReservationState.RELEASED, EventKind.RELEASED),
        EXPIRE(ReservationState.HELD, ReservationState.EXPIRED, EventKind.EXPIRED);

        final ReservationState from;
        final ReservationState to;
        final EventKind kind;

        Finish(ReservationState from, ReservationState to, EventKind kind) {
            this.from = from;
            this.to = to;
            this.kind = kind;
        }

        boolean charges() {
            return kind.charges();
        }
    }

    /**
     * Finishes a hold in a transaction that locks it, then its month's account, then the subject's
     * latest account if that is a later month (months ascending, as a first touch locks them, so the
     * two cannot deadlock): the slow path of a hold of a closed month, a late commit, and a hold the
     * fast path did not match. The hold's month is charged as {@link LedgerRules} says, and the change
     * in its purchased consumption moves to the latest account ({@link LedgerRules#lateTransfer}).
     * Empty when the hold was no longer in the state {@code finish} starts from (a concurrent call won).
     */
    private Optional<Reservation> finishLocked(Op op, String reservationId, Finish finish, long actual) {
        Optional<LockedFinish> done = optionalTransaction(op, h -> {
            Reservation hold = h.createQuery(sql.lockReservation).bind("id", reservationId).map(reservations)
                    .findOne().map(StoredReservation::reservation).orElse(null);
            if (hold == null || hold.state() != finish.from
                    || (finish == Finish.EXPIRE && hold.expiresAt().isAfter(op.now))) {
                return Optional.empty();
            }
            QuotaAccount before = lockAccount(h, hold.subject(), hold.month());
            long charged = 0;
            long overage = 0;
            long used = before.used();
            long reserved = before.reserved();
            if (finish == Finish.COMMIT || finish == Finish.LATE_COMMIT) {
                LedgerRules.Charge charge = finish == Finish.COMMIT
                        ? LedgerRules.charge(policy.overrunPolicy(), hold.held(), actual)
                        : LedgerRules.lateCharge(policy.overrunPolicy(), hold.held(), actual, before.available());
                charged = charge.charged();
                overage = charge.overage();
                used = LedgerRules.add(used, charged);
            }
            if (finish != Finish.LATE_COMMIT) {
                // a late commit's tokens were returned when the hold expired
                reserved -= hold.held();
            }
            LedgerRules.checkFits(used, reserved);
            update(h, sql.finishLockedHold).bind("id", reservationId).bind("state", finish.to.name())
                    .bind("charged", charged).bind("actual", finish.charges() ? actual : null)
                    .bind("overage", overage).bind("now", Rows.timestamp(op.now)).execute();
            QuotaAccount after = setBalance(h, before, before.granted(), used, reserved, op.now);
            long tokens = finish.charges() ? charged : hold.held();
            long eventId = insertEvent(h, hold.subject(), hold.month(), finish.kind, tokens, overage, hold.id(), null,
                    hold.endpoint(), false, op.now);
            List<QuotaAccount[]> changes = new ArrayList<>();
            changes.add(new QuotaAccount[] {before, after});
            QuotaAccount latest = lockLatestAfter(h, hold.subject(), hold.month());
            if (latest != null) {
                long transfer = LedgerRules.lateTransfer(before, after, latest, policy);
                if (transfer != 0) {
                    QuotaAccount latestAfter = accountQuery(h, sql.addCarried, hold.subject(), latest.month(), op.now)
                            .bind("transfer", transfer).map(Rows.ACCOUNT).one();
                    changes.add(new QuotaAccount[] {latest, latestAfter});
                }
            }
            Reservation finished = new Reservation(hold.id(), hold.subject(), hold.month(), hold.held(), finish.to,
                    charged, finish.charges() ? Long.valueOf(actual) : null, overage, hold.idempotencyKey(),
                    hold.endpoint(), hold.createdAt(), hold.expiresAt(), op.now);
            LedgerEvent event = new LedgerEvent(eventId, hold.subject(), hold.month(), finish.kind, tokens, overage,
                    hold.id(), null, hold.endpoint(), op.now);
            return Optional.of(new LockedFinish(finished, event, changes));
        });
        done.ifPresent(f -> {
            op.logged(f.event);
            f.changes.forEach(change -> op.changed(change[0], change[1]));
        });
        return done.map(LockedFinish::reservation);
    }

    private record LockedFinish(Reservation reservation, LedgerEvent event, List<QuotaAccount[]> changes) {
    }

    private QuotaAccount lockAccount(Handle h, String subject, YearMonth month) {
        return h.createQuery(sql.lockAccount).bind("subject", subject).bind("month", Rows.month(month))
                .map(Rows.ACCOUNT).one();
    }

    /**
     * The subject's latest account if it is later than {@code month}, locked; {@code null} when
     * {@code month} is the latest. A first touch of a newer month may commit while this waits for the
     * lock, so it looks again until nothing newer exists: a first touch locks the account it carries
     * from before it creates the next, so once the newest is locked no newer one can appear.
     */
    private QuotaAccount lockLatestAfter(Handle h, String subject, YearMonth month) {
        QuotaAccount latest = null;
        YearMonth after = month;
        while (true) {
            Optional<QuotaAccount> newer = h.createQuery(sql.lockLatestAccountAfter).bind("subject", subject)
                    .bind("month", Rows.month(after)).map(Rows.ACCOUNT).findOne();
            if (newer.isEmpty()) {
                return latest;
            }
            latest = newer.get();
            after = latest.month();
        }
    }

    private QuotaAccount setBalance(Handle h, QuotaAccount before, long granted, long used, long reserved,
                                    Instant now) {
        return accountQuery(h, sql.setAccountBalance, before.subject(), before.month(), now)
                .bind("granted", granted).bind("used", used).bind("reserved", reserved).map(Rows.ACCOUNT).one();
    }

    /**
     * Moves a HELD reservation of the latest month to its final state, logs the event and returns
     * the hold to its account; empty when the update matched nothing (another call finished the hold,
     * or it is a hold of a closed month, which {@link #finishLocked} finishes).
     */
    private Optional<Committed> finishHold(Op op, Reservation hold, EventKind kind, long tokens, long overage,
                                           java.util.function.Function<Handle, Update> finish) {
        Optional<Committed> done = optionalTransaction(op, h -> {
            if (finish.apply(h).bind("id", hold.id()).bind("now", Rows.timestamp(op.now)).execute() == 0) {
                return Optional.empty();
            }
            long eventId = insertEvent(h, hold.subject(), hold.month(), kind, tokens, overage, hold.id(), null,
                    hold.endpoint(), false, op.now);
            // no row: the month was superseded meanwhile; undo, and the locked path finishes it
            return accountQuery(h, sql.returnHold, hold.subject(), hold.month(), op.now)
                    .bind("held", hold.held()).map(Rows.ACCOUNT).findOne().map(after -> new Committed(eventId, after));
        });
        done.ifPresent(c -> op.logged(new LedgerEvent(c.eventId, hold.subject(), hold.month(), kind, tokens, overage,
                hold.id(), null, hold.endpoint(), op.now)));
        return done;
    }

    /** Expires one stale hold; false when another call finished it first. */
    private boolean expire(Op op, Reservation hold) {
        Optional<Committed> done = finishHold(op, hold, EventKind.EXPIRED, hold.held(), 0,
                h -> update(h, sql.expireHoldOfLatestMonth).bind("month", Rows.month(hold.month()))
                        .bind("dbNow", Rows.timestamp(op.dbNow)));
        if (done.isPresent()) {
            op.changed(adjust(done.get().account, 0, hold.held(), 0), done.get().account);
            return true;
        }
        return finishLocked(op, hold.id(), Finish.EXPIRE, 0).isPresent();
    }

    /** Expires the subject's holds past their TTL; how many. Cheap when there are none (one indexed read). */
    private int expireStaleOf(Op op, String subject) {
        List<Reservation> stale = op.with(h -> h.createQuery(sql.selectStaleHoldsOfSubject)
                .bind("subject", subject).bind("dbNow", Rows.timestamp(op.dbNow))
                .map(reservations).map(StoredReservation::reservation).list());
        int expired = 0;
        for (Reservation hold : stale) {
            if (expire(op, hold)) {
                expired++;
            }
        }
        return expired;
    }

    @Override
    public int expireStale() {
        return operation("expireStale", op -> {
            List<Reservation> stale = op.with(h -> h.createQuery(sql.selectStaleHolds)
                    .bind("dbNow", Rows.timestamp(op.dbNow))
                    .map(reservations).map(StoredReservation::reservation).list());
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
        return operation("account", op -> freshAccount(op, subject));
    }

    /** The current month's account without holds past their TTL: a read never counts them as reserved. */
    private QuotaAccount freshAccount(Op op, String subject) {
        QuotaAccount account = currentAccount(op, subject);
        return expireStaleOf(op, subject) == 0 ? account : storedAccount(op, subject, account.month()).orElseThrow();
    }

    @Override
    public Optional<QuotaAccount> account(String subject, YearMonth month) {
        Validation.subject(subject);
        policy.checkReadableMonth(month);
        return operation("account", op -> {
            // a read never counts holds already past their TTL
            expireStaleOf(op, subject);
            return storedAccount(op, subject, month);
        });
    }

    @Override
    public List<QuotaAccount> history(String subject, int months) {
        Validation.subject(subject);
        Validation.months(months, policy.historyMonths());
        return operation("history", op -> {
            QuotaAccount current = freshAccount(op, subject);
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
                long allocated = LedgerRules.planAllocation(before, monthlyAllocation, policy);
                Optional<Committed> done = optionalTransaction(op, h -> {
                    update(h, sql.upsertPlan).bind("subject", subject).bind("allocated", monthlyAllocation)
                            .bind("now", Rows.timestamp(op.now)).execute();
                    long eventId = insertEvent(h, subject, before.month(), EventKind.PLAN_CHANGED, allocated, 0, null,
                            null, null, false, op.now);
                    return accountQuery(h, sql.allocateIfUnchanged, subject, before.month(), op.now)
                            // compare-and-set on every value the allocation was computed from
                            .bind("allocated", allocated).bind("oldAllocated", before.allocated())
                            .bind("used", before.used()).bind("reserved", before.reserved())
                            .bind("credit", before.granted() + before.carried())
                            .map(Rows.ACCOUNT).findOne().map(after -> new Committed(eventId, after));
                });
                if (done.isPresent()) {
                    op.logged(new LedgerEvent(done.get().eventId, subject, before.month(), EventKind.PLAN_CHANGED,
                            allocated, 0, null, null, null, op.now));
                    op.changed(before, done.get().account);
                    return done.get().account;
                }
                // changed since read, or superseded by the next month: read the latest account again
                account = currentAccount(op, subject);
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
                switch (purchase.status()) {
                    case COMPLETED:
                        return purchase;
                    case FAILED:
                    case REFUNDED:
                        throw purchaseConflict(purchase, "completed");
                    default:
                        break;
                }
                QuotaAccount account = currentAccount(op, purchase.subject());
                LedgerRules.checkCredit(account, purchase.tokens(), policy);
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
                } catch (Superseded superseded) {
                    // the next month opened while this credit waited for the row: credit that month
                    continue;
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
        return operation("grant", op -> grantInLatestMonth(op, request));
    }

    private Purchase grantInLatestMonth(Op op, PurchaseRequest request) {
        for (int attempt = 1; ; attempt++) {
            try {
                return grantOnce(op, request);
            } catch (Superseded superseded) {
                if (attempt >= MAX_TAKE_ATTEMPTS) {
                    throw contended("grant", request.transactionId());
                }
                // the next month opened while this credit waited for the row: credit that month
            }
        }
    }

    private Purchase grantOnce(Op op, PurchaseRequest request) {
        QuotaAccount account = currentAccount(op, request.subject());
        Optional<Purchase> existing = purchaseById(op, request.transactionId());
        if (existing.isPresent()) {
            return replay(existing.get(), request);
        }
        LedgerRules.checkCredit(account, request.tokens(), policy);
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
    }

    /**
     * Logs the credit and adds it to {@code granted}, last in the transaction; rolls back past the max
     * quota (checked before by {@link LedgerRules#checkCredit}; the condition catches a concurrent credit).
     */
    private Committed credit(Handle h, Op op, YearMonth month, Purchase purchase) {
        long eventId = insertEvent(h, purchase.subject(), month, EventKind.CREDITED, purchase.tokens(), 0, null,
                purchase.transactionId(), purchase.reason(), false, op.now);
        Optional<QuotaAccount> after = accountQuery(h, sql.creditIfUnderMaxQuota, purchase.subject(), month, op.now)
                .bind("tokens", purchase.tokens()).bind("maxQuota", policy.maxQuota())
                .map(Rows.ACCOUNT).findOne();
        if (after.isEmpty()) {
            throw superseded(h, purchase.subject(), month) ? Superseded.INSTANCE : OverMaxQuota.INSTANCE;
        }
        return new Committed(eventId, after.get());
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
            while (true) {
                Purchase purchase = findPurchase(op, transactionId);
                switch (purchase.status()) {
                    case REFUNDED:
                        return purchase;
                    case PENDING:
                    case FAILED:
                        throw purchaseConflict(purchase, "refunded");
                    default:
                        break;
                }
                YearMonth month = currentAccount(op, purchase.subject()).month();
                Optional<Debits> done = optionalTransaction(op, h -> debit(h, op, purchase, month));
                if (done.isPresent()) {
                    done.get().events.forEach(op::logged);
                    done.get().changes.forEach(change -> op.changed(change[0], change[1]));
                    return purchaseById(op, transactionId).orElseThrow();
                }
                // another call refunded it between our read and our lock: answer as it is now
            }
        });
    }

    /**
     * A refund's debit, in a transaction that locks the purchase, then the accounts it may take from in
     * month order: the purchased tokens the current month has not spent (held ones included), then those
     * closed months still hold for open holds, newest first. A closed month's {@code granted} drops so
     * that its purchased tokens are only what its consumption minus the refund's take still needs, so
     * finishing those holds later gives nothing of the refund back ({@link LedgerRules#lateTransfer}).
     * One {@code DEBITED} event per month taken from; the current month's always, with the part already
     * spent ({@code unrecovered}) as its overage. Empty when the purchase is no longer completed.
     */
    private Optional<Debits> debit(Handle h, Op op, Purchase purchase, YearMonth month) {
        String subject = purchase.subject();
        if (h.createQuery(sql.lockCompletedPurchase).bind("tx", purchase.transactionId()).mapTo(String.class)
                .findOne().isEmpty()) {
            return Optional.empty();
        }
        List<QuotaAccount> accounts = h.createQuery(sql.lockRefundableAccounts).bind("subject", subject)
                .bind("month", Rows.month(month)).map(Rows.ACCOUNT).list();
        if (superseded(h, subject, month)) {
            // the next month opened while this refund waited for the locks: refund in that month
            return Optional.empty();
        }
        QuotaAccount current = accounts.get(accounts.size() - 1);
        long tokens = purchase.tokens();
        long fromCurrent = LedgerRules.refundable(current, tokens);
        long left = tokens - fromCurrent;
        List<QuotaAccount[]> changes = new ArrayList<>();
        List<long[]> closedTakes = new ArrayList<>();
        // with rollover off a closed month's purchased tokens lapsed with it: nothing there to take back
        for (int i = accounts.size() - 2; policy.rolloverPurchased() && i >= 0 && left > 0; i--) {
            QuotaAccount closed = accounts.get(i);
            long take = Math.min(left, LedgerRules.purchasedHeld(closed));
            if (take <= 0) {
                continue;
            }
            long lower = closed.granted() + closed.carried() - LedgerRules.purchasedConsumed(closed) + take;
            changes.add(new QuotaAccount[] {closed,
                setBalance(h, closed, closed.granted() - lower, closed.used(), closed.reserved(), op.now)});
            closedTakes.add(new long[] {i, take});
            left -= take;
        }
        long unrecovered = left;
        if (fromCurrent > 0) {
            changes.add(new QuotaAccount[] {current,
                setBalance(h, current, current.granted() - fromCurrent, current.used(), current.reserved(), op.now)});
        }
        update(h, sql.refundCompletedPurchase).bind("tx", purchase.transactionId()).bind("unrecovered", unrecovered)
                .bind("now", Rows.timestamp(op.now)).execute();
        List<LedgerEvent> events = new ArrayList<>();
        long currentEvent = insertEvent(h, subject, month, EventKind.DEBITED, fromCurrent, unrecovered, null,
                purchase.transactionId(), purchase.reason(), false, op.now);
        events.add(new LedgerEvent(currentEvent, subject, month, EventKind.DEBITED, fromCurrent, unrecovered, null,
                purchase.transactionId(), purchase.reason(), op.now));
        for (long[] take : closedTakes) {
            YearMonth closedMonth = accounts.get((int) take[0]).month();
            long eventId = insertEvent(h, subject, closedMonth, EventKind.DEBITED, take[1], 0, null,
                    purchase.transactionId(), purchase.reason(), false, op.now);
            events.add(new LedgerEvent(eventId, subject, closedMonth, EventKind.DEBITED, take[1], 0, null,
                    purchase.transactionId(), purchase.reason(), op.now));
        }
        return Optional.of(new Debits(events, changes));
    }

    private record Debits(List<LedgerEvent> events, List<QuotaAccount[]> changes) {
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
                    .bind("to", Rows.timestamp(to.plusDays(1).atStartOfDay(policy.zone()).toInstant()))
                    .bind("fromMonth", Rows.month(YearMonth.from(from))).bind("toMonth", Rows.month(YearMonth.from(to)));
            if (subject != null) {
                query.bind("subject", subject);
            }
            // bucketed here rather than in SQL: a day is a calendar day in the policy's zone, which
            // the two databases would each need their own time zone arithmetic for
            query.map((rs, ctx) -> {
                tally.add(LedgerRules.reportDay(YearMonth.parse(rs.getString("plan_month")),
                                Rows.instant(rs, "occurred_at"), policy), EventKind.valueOf(rs.getString("kind")),
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
        return operation("forecast", op -> LedgerRules.forecast(freshAccount(op, subject), op.now, policy));
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
     * The subject's account of the current month, created from the policy (or the subject's plan) on
     * first touch, carrying what {@link LedgerRules#carriedInto} says from the subject's latest earlier
     * account. That account is locked first, in the same transaction as the insert: a late finish of
     * one of its holds either commits before the carried amount is read, or waits and then finds the new
     * month as the latest account and moves its tokens there. Never a lock on a row that may not exist:
     * the new row is inserted if absent (a concurrent first touch may win).
     */
    /**
     * The account the subject's writes land in: the current month's, or a later month's when an
     * instance whose clock is ahead already opened it (a subject's months never go backwards).
     * Created on first touch.
     */
    private QuotaAccount currentAccount(Op op, String subject) {
        YearMonth month = policy.monthOf(op.now);
        Optional<QuotaAccount> existing = op.with(h -> h.createQuery(sql.selectLatestAccountFrom)
                .bind("subject", subject).bind("month", Rows.month(month)).map(Rows.ACCOUNT).findOne());
        if (existing.isPresent()) {
            return existing.get();
        }
        transaction(op, h -> {
            // lock order as everywhere: holds, then accounts by month; a write racing this first touch
            // waits for these locks and then finds its row superseded (see Sql.CURRENT)
            update(h, sql.supersedeHolds).bind("subject", subject).bind("month", Rows.month(month)).execute();
            QuotaAccount previous = h.createQuery(sql.lockLatestAccountBefore)
                    .bind("subject", subject).bind("month", Rows.month(month))
                    .map(Rows.ACCOUNT).findOne().orElse(null);
            update(h, sql.supersedeAccounts).bind("subject", subject).bind("month", Rows.month(month)).execute();
            // read under the previous month's lock: a plan change that committed before it is seen here,
            // one that waited for it retries in the new month
            long allocated = h.createQuery(sql.selectPlan).bind("subject", subject).mapTo(Long.class).findOne()
                    .orElse(policy.defaultAllocation());
            long carried = LedgerRules.carriedInto(previous, policy);
            try {
                update(h, sql.insertAccountIfAbsent).bind("subject", subject).bind("month", Rows.month(month))
                        .bind("allocated", allocated).bind("carried", carried).bind("now", Rows.timestamp(op.now))
                        .execute();
            } catch (JdbiException e) {
                // (H2) a concurrent first touch inserted it; the failed statement undid only itself
                if (!(sql.insertAccountMayCollide() && Failures.isUniqueViolation(e))) {
                    throw e;
                }
            }
            return null;
        });
        return storedAccount(op, subject, month).orElseThrow();
    }

    private Optional<QuotaAccount> storedAccount(Op op, String subject, YearMonth month) {
        return op.with(h -> h.createQuery(sql.selectAccount)
                .bind("subject", subject).bind("month", Rows.month(month))
                .map(Rows.ACCOUNT).findOne());
    }

    private Optional<StoredReservation> reservationById(Op op, String id) {
        Optional<StoredReservation> stored = op.with(h -> h.createQuery(sql.selectReservation).bind("id", id)
                .map(reservations).findOne());
        long eventId = Rows.eventIdOfKeylessConsume(id);
        if (stored.isPresent() || eventId < 0) {
            return stored;
        }
        return op.with(h -> h.createQuery(sql.selectKeylessConsume).bind("id", eventId).map(Rows.KEYLESS_CONSUME)
                .findOne().map(r -> new StoredReservation(r, true)));
    }

    private Optional<StoredReservation> reservationByKey(Op op, String subject, String key) {
        return op.with(h -> h.createQuery(sql.selectReservationByKey)
                .bind("subject", subject).bind("key", key).map(reservations).findOne());
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
                if (Failures.isOverflow(e)) {
                    // the statement failed, and with it its transaction: nothing was written
                    throw LedgerRules.overflow();
                }
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
    private record Probe(Long available, String laterMonth, long stale) {
    }

    private record Finished(Reservation reservation, Committed committed) {
    }

    private boolean superseded(Handle h, String subject, YearMonth month) {
        return h.createQuery(sql.selectSuperseded).bind("subject", subject).bind("month", Rows.month(month))
                .mapTo(Boolean.class).findOne().orElse(false);
    }

    /** The month was superseded by the next one while the write waited: rolls back, and the write runs again. */
    private static final class Superseded extends RuntimeException {
        private static final long serialVersionUID = 1L;
        static final Superseded INSTANCE = new Superseded();

        private Superseded() {
            super("the month was superseded", null, false, false);
        }
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

package io.tokenquota.testkit;

import io.tokenquota.Currency;
import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaExceededException;
import io.tokenquota.QuotaListener;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.Reserved;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A deliberately BROKEN store with the original Python/FastAPI service's design: it reads what is available, and
 * only then, in a separate step, adds the hold without re-checking. Every single counter update is
 * atomic, so the only defect is the gap between the check and the update: concurrent requests can
 * all pass the check and together overspend. It exists so {@code NaiveStoreIsCaughtTest} can prove
 * that {@link ConcurrencyContract#overspendViolations} detects exactly this bug.
 *
 * <p>Supports only what the over-spend check uses (reserve, commit, release, account, events), and extend;
 * everything else throws {@link UnsupportedOperationException}. Never use it for anything else.
 */
public final class NaiveCheckThenUpdateStore implements QuotaStore {
    private final QuotaPolicy policy;
    private final Map<String, Counters> accounts = new ConcurrentHashMap<>();
    private final Map<String, Reservation> holds = new ConcurrentHashMap<>();
    private final ConcurrentLinkedQueue<LedgerEvent> events = new ConcurrentLinkedQueue<>();
    private final AtomicLong eventIds = new AtomicLong();

    public NaiveCheckThenUpdateStore(QuotaPolicy policy) {
        this.policy = policy;
    }

    private static final class Counters {
        final YearMonth month;
        final long allocated;
        final Instant createdAt;
        final AtomicLong used = new AtomicLong();
        final AtomicLong reserved = new AtomicLong();

        Counters(YearMonth month, long allocated, Instant createdAt) {
            this.month = month;
            this.allocated = allocated;
            this.createdAt = createdAt;
        }
    }

    private Counters counters(String subject) {
        return accounts.computeIfAbsent(subject,
                s -> new Counters(policy.currentMonth(), policy.defaultAllocation(), policy.now()));
    }

    @Override
    public Reserved reserve(HoldRequest request) {
        String subject = request.subject();
        long tokens = request.tokens();
        Duration ttl = request.ttl();
        Counters c = counters(subject);
        long available = c.allocated - c.used.get() - c.reserved.get();
        if (available < tokens) {
            throw new QuotaExceededException(subject, tokens, c.allocated, available, policy.resetOf(c.month));
        }
        // the window between "SELECT remaining" and "UPDATE ... SET used = used + n" of the original Python/FastAPI service
        Thread.yield();
        c.reserved.addAndGet(tokens);
        Instant now = policy.now();
        Reservation r = new Reservation(UUID.randomUUID().toString(), subject, c.month, tokens, ReservationState.HELD,
                0, null, 0, request.idempotencyKey(), request.endpoint(), now,
                now.plus(ttl == null ? policy.holdTtl() : ttl), null);
        holds.put(r.id(), r);
        log(subject, c.month, EventKind.RESERVED, tokens, r.id());
        return new Reserved(r, account(subject), false);
    }

    @Override
    public Reservation commit(String reservationId, long actualTokens) {
        Reservation r = holds.get(reservationId);
        if (r == null) {
            throw new QuotaException(ErrorCode.RESERVATION_NOT_FOUND, reservationId);
        }
        Counters c = counters(r.subject());
        c.used.addAndGet(actualTokens);
        c.reserved.addAndGet(-r.held());
        Reservation done = new Reservation(r.id(), r.subject(), r.month(), r.held(), ReservationState.COMMITTED,
                actualTokens, actualTokens, 0, r.idempotencyKey(), r.endpoint(), r.createdAt(), r.expiresAt(),
                policy.now());
        holds.put(r.id(), done);
        log(r.subject(), r.month(), EventKind.COMMITTED, actualTokens, r.id());
        return done;
    }

    @Override
    public Reservation release(String reservationId) {
        Reservation r = holds.get(reservationId);
        if (r == null) {
            throw new QuotaException(ErrorCode.RESERVATION_NOT_FOUND, reservationId);
        }
        counters(r.subject()).reserved.addAndGet(-r.held());
        Reservation done = new Reservation(r.id(), r.subject(), r.month(), r.held(), ReservationState.RELEASED, 0,
                null, 0, r.idempotencyKey(), r.endpoint(), r.createdAt(), r.expiresAt(), policy.now());
        holds.put(r.id(), done);
        log(r.subject(), r.month(), EventKind.RELEASED, r.held(), r.id());
        return done;
    }

    @Override
    public Reservation extend(String reservationId, Duration ttl) {
        Instant expiresAt = policy.now().plus(ttl);
        // one atomic replacement, so that it never undoes a concurrent commit or release
        Reservation r = holds.computeIfPresent(reservationId, (id, hold) ->
                hold.state() != ReservationState.HELD || !expiresAt.isAfter(hold.expiresAt()) ? hold
                        : new Reservation(hold.id(), hold.subject(), hold.month(), hold.held(), hold.state(),
                                hold.charged(), hold.actual(), hold.overage(), hold.idempotencyKey(), hold.endpoint(),
                                hold.createdAt(), expiresAt, hold.finishedAt()));
        if (r == null) {
            throw new QuotaException(ErrorCode.RESERVATION_NOT_FOUND, reservationId);
        }
        return r;
    }

    private void log(String subject, YearMonth month, EventKind kind, long tokens, String reservationId) {
        events.add(new LedgerEvent(eventIds.incrementAndGet(), subject, month, kind, tokens, 0, reservationId, null,
                null, policy.now()));
    }

    @Override
    public QuotaAccount account(String subject) {
        Counters c = counters(subject);
        return new QuotaAccount(subject, c.month, c.allocated, 0, 0, c.used.get(), c.reserved.get(), c.createdAt,
                policy.now());
    }

    @Override
    public List<LedgerEvent> events(String subject, YearMonth month) {
        return events.stream().filter(e -> e.subject().equals(subject) && e.month().equals(month)).toList();
    }

    @Override
    public Optional<Reservation> reservation(String reservationId) {
        return Optional.ofNullable(holds.get(reservationId));
    }

    @Override
    public QuotaPolicy policy() {
        return policy;
    }

    @Override
    public void addListener(QuotaListener listener) {
        // events are not delivered: the over-spend check does not listen
    }

    @Override
    public Reservation consume(HoldRequest request) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public int expireStale() {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public Optional<QuotaAccount> account(String subject, YearMonth month) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public List<QuotaAccount> history(String subject, int months) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public QuotaAccount setPlan(String subject, long monthlyAllocation) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public void setTeam(String subject, String teamId) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public Optional<String> team(String subject) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public List<ConsumerUsage> topTeams(YearMonth month, int limit) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public Purchase recordPending(PurchaseRequest request) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public Purchase complete(String transactionId, BigDecimal amount, Currency currency) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public Purchase fail(String transactionId) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public Purchase refund(String transactionId) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public Purchase grant(PurchaseRequest request) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public Optional<Purchase> purchase(String transactionId) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public List<Purchase> purchases(String subject, YearMonth month) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public List<DailyUsage> dailyUsage(String subject, LocalDate from, LocalDate to) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public List<ConsumerUsage> topConsumers(YearMonth month, int limit) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public BlockStats blockStats(String subject, YearMonth month) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public UsageForecast forecast(String subject) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public long openHolds() {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }

    @Override
    public List<PurchaseTotal> purchaseTotals(YearMonth month) {
        throw new UnsupportedOperationException("not needed by the over-spend check");
    }
}

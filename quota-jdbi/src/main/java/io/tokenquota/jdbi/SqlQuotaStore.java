package io.tokenquota.jdbi;

import io.tokenquota.Currency;
import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaListener;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.Reserved;
import io.tokenquota.Team;
import io.tokenquota.TokenUsage;
import io.tokenquota.internal.DailyTally;
import io.tokenquota.internal.LedgerRules;
import io.tokenquota.internal.Validation;
import io.tokenquota.jdbi.Rows.StoredReservation;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.LocalDate;
import java.time.YearMonth;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.SortedSet;
import java.util.TreeSet;
import org.jdbi.v3.core.Jdbi;

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
 *
 * <p>This class checks arguments and runs each public method as one operation ({@link Operations}:
 * its handle, retries and listeners) of one statement family: {@link Accounts} (the month's first
 * touch, reads of accounts, plan changes), {@link Holds} (reserve, consume, commit, release, extension, expiry),
 * {@link Purchases} (purchases, credits and refunds) and {@link Statistics} (the reports); the event log's
 * monthly partitions and retention are {@link EventPartitions}'.
 */
final class SqlQuotaStore implements QuotaStore {
    private final QuotaPolicy policy;
    private final Operations operations;
    private final Accounts accounts;
    private final Holds holds;
    private final Purchases purchases;
    private final Statistics statistics;
    private final EventPartitions partitions;

    public SqlQuotaStore(Jdbi jdbi, Dialect dialect, QuotaPolicy policy, int maxRetries) {
        Objects.requireNonNull(jdbi, "jdbi");
        Sql sql = new Sql(Objects.requireNonNull(dialect, "dialect"));
        this.policy = Objects.requireNonNull(policy, "policy");
        if (maxRetries < 0) {
            throw new IllegalArgumentException("maxRetries must be >= 0, was " + maxRetries);
        }
        this.operations = new Operations(jdbi, policy, maxRetries);
        this.partitions = new EventPartitions(dialect);
        // the months around now have their event partitions before any traffic (the database is reachable:
        // Operations just read its clock)
        partitions.prepare(jdbi, policy.currentMonth());
        this.accounts = new Accounts(sql, policy, partitions);
        this.holds = new Holds(sql, policy, accounts, operations.dbOffset());
        this.purchases = new Purchases(sql, policy, accounts);
        this.statistics = new Statistics(sql, policy, holds, operations.dbOffset());
    }

    @Override
    public QuotaPolicy policy() {
        return policy;
    }

    @Override
    public void addListener(QuotaListener listener) {
        operations.addListener(listener);
    }

    // ---------------------------------------------------------------- ledger

    @Override
    public Reserved reserve(HoldRequest request) {
        // a HoldRequest is validated when built, so nothing is checked again on the hot path
        Duration holdTtl = request.ttl() == null ? policy.holdTtl() : request.ttl();
        Validation.holdWithoutUsage(request);
        return operations.operation("reserve", op -> holds.take(op, request.subject(), request.tokens(),
                request.idempotencyKey(), request.endpoint(), holdTtl, null));
    }

    @Override
    public Reservation consume(HoldRequest request) {
        Validation.consumeRequest(request);
        return operations.operation("consume", op -> holds.take(op, request.subject(), request.tokens(),
                request.idempotencyKey(), request.endpoint(), null, request.usage())).reservation();
    }

    @Override
    public Reservation commit(String reservationId, long actualTokens) {
        return commit(reservationId, actualTokens, null);
    }

    @Override
    public Reservation commit(String reservationId, long actualTokens, TokenUsage usage) {
        Validation.nonNegativeTokens(actualTokens, "actual_tokens");
        Validation.key(reservationId, "reservation_id");
        return operations.operation("commit", op -> holds.commit(op, reservationId, actualTokens, usage));
    }

    @Override
    public Reservation release(String reservationId) {
        Validation.key(reservationId, "reservation_id");
        return operations.operation("release", op -> holds.release(op, reservationId));
    }

    @Override
    public Reservation extend(String reservationId, Duration ttl) {
        Validation.key(reservationId, "reservation_id");
        Validation.ttl(ttl);
        return operations.operation("extend", op -> holds.extend(op, reservationId, ttl));
    }

    @Override
    public int expireStale() {
        return operations.operation("expireStale", holds::expireStale);
    }

    @Override
    public Optional<Reservation> reservation(String reservationId) {
        Validation.key(reservationId, "reservation_id");
        return operations.operation("reservation",
                op -> holds.reservationById(op, reservationId).map(StoredReservation::reservation));
    }

    @Override
    public QuotaAccount account(String subject) {
        Validation.subject(subject);
        return operations.operation("account", op -> holds.freshAccount(op, subject));
    }

    @Override
    public Optional<QuotaAccount> account(String subject, YearMonth month) {
        Validation.subject(subject);
        policy.checkReadableMonth(month);
        return operations.operation("account", op -> {
            // a read never counts holds already past their TTL
            holds.expireStaleOf(op, subject);
            return accounts.storedAccount(op, subject, month);
        });
    }

    @Override
    public List<QuotaAccount> history(String subject, int months) {
        Validation.subject(subject);
        Validation.months(months, policy.historyMonths());
        return operations.operation("history",
                op -> accounts.history(op, subject, holds.freshAccount(op, subject), months));
    }

    @Override
    public QuotaAccount setPlan(String subject, long monthlyAllocation) {
        Validation.subject(subject);
        Validation.nonNegativeTokens(monthlyAllocation, "allocation");
        if (monthlyAllocation > policy.maxQuota()) {
            throw new QuotaException(ErrorCode.MAX_QUOTA_EXCEEDED,
                    "allocation " + monthlyAllocation + " exceeds the max quota " + policy.maxQuota());
        }
        return operations.operation("setPlan", op -> accounts.setPlan(op, subject, monthlyAllocation));
    }

    @Override
    public void setTeam(String subject, String teamId) {
        Validation.userSubject(subject);
        Validation.optionalTeamId(teamId);
        String team = teamId == null ? null : Team.subject(teamId);
        operations.operation("setTeam", op -> {
            holds.setTeam(op, subject, team);
            return null;
        });
    }

    @Override
    public Optional<String> team(String subject) {
        Validation.subject(subject);
        return operations.operation("team", op -> holds.teamOf(op, subject).map(Team::id));
    }

    // ---------------------------------------------------------------- purchases

    @Override
    public Purchase recordPending(PurchaseRequest request) {
        requireRequest(request);
        return operations.operation("recordPending", op -> purchases.recordPending(op, request));
    }

    @Override
    public Purchase complete(String transactionId, BigDecimal amount, Currency currency) {
        Validation.key(transactionId, "transaction_id");
        BigDecimal captured = Validation.money(amount);
        return operations.operation("complete", op -> purchases.complete(op, transactionId, captured, currency));
    }

    @Override
    public Purchase grant(PurchaseRequest request) {
        requireRequest(request);
        return operations.operation("grant", op -> purchases.grant(op, request));
    }

    @Override
    public Purchase fail(String transactionId) {
        Validation.key(transactionId, "transaction_id");
        return operations.operation("fail", op -> purchases.fail(op, transactionId));
    }

    @Override
    public Purchase refund(String transactionId) {
        Validation.key(transactionId, "transaction_id");
        return operations.operation("refund", op -> purchases.refund(op, transactionId));
    }

    @Override
    public Optional<Purchase> purchase(String transactionId) {
        Validation.key(transactionId, "transaction_id");
        return operations.operation("purchase", op -> purchases.purchaseById(op, transactionId));
    }

    @Override
    public List<Purchase> purchases(String subject, YearMonth month) {
        Validation.subject(subject);
        policy.checkReadableMonth(month);
        return operations.operation("purchases", op -> purchases.purchases(op, subject, month));
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
        // built here first so that a bad range is refused before a connection is taken
        new DailyTally(from, to);
        return operations.operation("dailyUsage", op -> {
            // one tally per attempt: a read retried after a database failure starts from nothing
            DailyTally tally = new DailyTally(from, to);
            statistics.dailyUsage(op, tally, subject, from, to);
            return tally.days();
        });
    }

    @Override
    public List<ConsumerUsage> topConsumers(YearMonth month, int limit) {
        policy.checkReadableMonth(month);
        Validation.topLimit(limit);
        return operations.operation("topConsumers", op -> statistics.topConsumers(op, month, limit));
    }

    @Override
    public List<ConsumerUsage> topTeams(YearMonth month, int limit) {
        policy.checkReadableMonth(month);
        Validation.topLimit(limit);
        return operations.operation("topTeams", op -> statistics.topTeams(op, month, limit));
    }

    @Override
    public List<ModelUsage> modelUsage(String subject, YearMonth month) {
        Validation.optionalSubject(subject);
        policy.checkReadableMonth(month);
        return operations.operation("modelUsage", op -> statistics.modelUsage(op, subject, month));
    }

    @Override
    public BlockStats blockStats(String subject, YearMonth month) {
        Validation.optionalSubject(subject);
        policy.checkReadableMonth(month);
        return operations.operation("blockStats", op -> statistics.blockStats(op, subject, month));
    }

    @Override
    public UsageForecast forecast(String subject) {
        Validation.subject(subject);
        return operations.operation("forecast", op -> statistics.forecast(op, subject));
    }

    @Override
    public long openHolds() {
        return operations.operation("openHolds", statistics::openHolds);
    }

    @Override
    public List<PurchaseTotal> purchaseTotals(YearMonth month) {
        policy.checkReadableMonth(month);
        return operations.operation("purchaseTotals", op -> statistics.purchaseTotals(op, month));
    }

    /**
     * Removes the events of the months before the history window (the months {@link #events} refuses
     * to read), dropping or archiving them ({@link EventPartitions#removeBefore}); the months removed,
     * oldest first. Removing is idempotent, so the months of an attempt that failed half-way and ran
     * again are reported too.
     */
    List<YearMonth> removeEventsPastHistory(boolean archive) {
        SortedSet<YearMonth> removed = new TreeSet<>();
        return operations.operation(archive ? "archiveEventsPastHistory" : "dropEventsPastHistory", op -> {
            YearMonth oldestKept = policy.monthOf(op.now).minusMonths(policy.historyMonths() - 1L);
            partitions.removeBefore(op.handle(), oldestKept, archive, removed);
            return List.copyOf(removed);
        });
    }

    @Override
    public List<LedgerEvent> events(String subject, YearMonth month) {
        Validation.subject(subject);
        policy.checkReadableMonth(month);
        return operations.operation("events", op -> statistics.events(op, subject, month));
    }
}

package io.tokenquota.jdbi;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
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
import java.math.BigDecimal;
import java.time.Duration;
import java.time.LocalDate;
import java.time.YearMonth;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import javax.sql.DataSource;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.JdbiException;

/**
 * The token ledger, purchases and statistics on the host's own database: PostgreSQL in
 * production, H2 for development and tests (the dialect is read from the connection metadata).
 *
 * <pre>{@code
 * try (JdbiQuotaStore store = JdbiQuotaStore.builder()
 *         .jdbcUrl("jdbc:h2:mem:quota")
 *         .installSchema(true)
 *         .build()) {
 *     Reservation hold = store.reserve("user-42", 1_500, "request-7");
 *     store.commit(hold.id(), 1_234);
 *     QuotaAccount account = store.account("user-42");
 * }
 * }</pre>
 *
 * <p>Every balance change is one conditional {@code UPDATE} of the account row at READ COMMITTED,
 * the last statement of a short transaction, so a row lock is held for one statement and never
 * across a round trip to the application. Serialization failures, deadlocks (SQLSTATE class 40),
 * lock timeouts (H2's, PostgreSQL's under a host's {@code lock_timeout}) and PostgreSQL sessions ended for
 * idleness (25P03, 57P05: the host's {@code idle_in_transaction_session_timeout} or
 * {@code idle_session_timeout}, round 256) are retried up to
 * {@link Builder#maxRetries(int)} times, and PostgreSQL's lock and statement timeouts also for up to 8.3 s,
 * the longest the store's own DDL keeps the event log locked (round 395); a database that cannot be reached is
 * {@link ErrorCode#STORE_UNAVAILABLE}. H2 tables that compare text without case (created under
 * {@code IGNORECASE=TRUE}) are refused at build: subjects, keys and payment ids are compared exactly.
 *
 * <p>The store sets autocommit on and READ COMMITTED on every connection it takes and restores the
 * connection's own settings before giving it back, so a host pool configured with
 * {@code autoCommit=false} or a stricter isolation level works unchanged.
 *
 * <p>Thread-safe. Built from a JDBC URL, the store owns a HikariCP pool that {@link #close()}
 * closes; built from the host's {@code DataSource} or {@code Jdbi}, it closes nothing.
 */
public final class JdbiQuotaStore implements QuotaStore, AutoCloseable {
    private final SqlQuotaStore store;
    private final HikariDataSource ownedPool;

    private JdbiQuotaStore(SqlQuotaStore store, HikariDataSource ownedPool) {
        this.store = store;
        this.ownedPool = ownedPool;
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Creates the tables (and records the schema version) in the database behind {@code dataSource}
     * if they are not there yet; running it again is a no-op. Hosts that manage their schema with
     * Flyway or Liquibase use the migration files under {@code io/tokenquota/jdbi/schema/} instead.
     */
    public static void installSchema(DataSource dataSource) {
        Jdbi jdbi = StoreConnections.over(Objects.requireNonNull(dataSource, "dataSource"));
        try {
            SchemaInstaller.install(jdbi, detect(jdbi));
        } catch (JdbiException e) {
            throw unavailable("installing the schema failed", e);
        }
    }

    @Override
    public Reserved reserve(HoldRequest request) {
        return store.reserve(request);
    }

    @Override
    public Reservation commit(String reservationId, long actualTokens) {
        return store.commit(reservationId, actualTokens);
    }

    @Override
    public Reservation commit(String reservationId, long actualTokens, io.tokenquota.TokenUsage usage) {
        return store.commit(reservationId, actualTokens, usage);
    }

    @Override
    public Reservation release(String reservationId) {
        return store.release(reservationId);
    }

    @Override
    public Reservation consume(HoldRequest request) {
        return store.consume(request);
    }

    @Override
    public Reservation extend(String reservationId, Duration ttl) {
        return store.extend(reservationId, ttl);
    }

    @Override
    public int expireStale() {
        return store.expireStale();
    }

    @Override
    public Optional<Reservation> reservation(String reservationId) {
        return store.reservation(reservationId);
    }

    @Override
    public QuotaAccount account(String subject) {
        return store.account(subject);
    }

    @Override
    public Optional<QuotaAccount> account(String subject, YearMonth month) {
        return store.account(subject, month);
    }

    @Override
    public List<QuotaAccount> history(String subject, int months) {
        return store.history(subject, months);
    }

    @Override
    public QuotaAccount setPlan(String subject, long monthlyAllocation) {
        return store.setPlan(subject, monthlyAllocation);
    }

    @Override
    public void setTeam(String subject, String teamId) {
        store.setTeam(subject, teamId);
    }

    @Override
    public Optional<String> team(String subject) {
        return store.team(subject);
    }

    @Override
    public QuotaPolicy policy() {
        return store.policy();
    }

    @Override
    public Purchase recordPending(PurchaseRequest request) {
        return store.recordPending(request);
    }

    @Override
    public Purchase complete(String transactionId, BigDecimal amount, Currency currency) {
        return store.complete(transactionId, amount, currency);
    }

    @Override
    public Purchase fail(String transactionId) {
        return store.fail(transactionId);
    }

    @Override
    public Purchase refund(String transactionId) {
        return store.refund(transactionId);
    }

    @Override
    public Purchase grant(PurchaseRequest request) {
        return store.grant(request);
    }

    @Override
    public Optional<Purchase> purchase(String transactionId) {
        return store.purchase(transactionId);
    }

    @Override
    public List<Purchase> purchases(String subject, YearMonth month) {
        return store.purchases(subject, month);
    }

    @Override
    public List<DailyUsage> dailyUsage(String subject, LocalDate from, LocalDate to) {
        return store.dailyUsage(subject, from, to);
    }

    @Override
    public List<ConsumerUsage> topConsumers(YearMonth month, int limit) {
        return store.topConsumers(month, limit);
    }

    @Override
    public List<ConsumerUsage> topTeams(YearMonth month, int limit) {
        return store.topTeams(month, limit);
    }

    @Override
    public BlockStats blockStats(String subject, YearMonth month) {
        return store.blockStats(subject, month);
    }

    @Override
    public List<ModelUsage> modelUsage(String subject, YearMonth month) {
        return store.modelUsage(subject, month);
    }

    @Override
    public UsageForecast forecast(String subject) {
        return store.forecast(subject);
    }

    @Override
    public long openHolds() {
        return store.openHolds();
    }

    @Override
    public List<PurchaseTotal> purchaseTotals(YearMonth month) {
        return store.purchaseTotals(month);
    }

    @Override
    public void addListener(QuotaListener listener) {
        store.addListener(listener);
    }

    @Override
    public List<LedgerEvent> events(String subject, YearMonth month) {
        return store.events(subject, month);
    }

    /**
     * Deletes the events of every month before the policy's history window, the months
     * {@link #events} no longer reads: with {@link QuotaPolicy#historyMonths()} {@code n}, every month
     * before {@code policy().currentMonth().minusMonths(n - 1)} (with 3, in May: February and earlier;
     * March, April and May stay). On PostgreSQL each such month's partition {@code tq_event_YYYY_MM} is
     * dropped and the month's rows in the default partition are deleted; on H2 its rows are deleted.
     * Months inside the window, accounts, plans, holds and purchases are never touched. An event logged
     * later for a removed month (a late commit of one of its holds) is removed by the next call. On
     * PostgreSQL a finished hold without an idempotency key is recorded by the event that finished it
     * (its row is deleted then), as a consume without one is by its event: once its month is removed,
     * {@link #reservation} finds neither, and a commit or release retried after that is refused as
     * {@code RESERVATION_NOT_FOUND}, charging nothing (on H2 their holds' rows stay).
     *
     * <p>Safe while the store serves traffic and from several instances at once: each month is removed
     * once, and a call that finds nothing left returns an empty list. Dropping a partition holds an
     * exclusive lock on the event log for a moment; it waits at most 2 s for it behind a long reader,
     * a few times, then the call fails and can simply be run again. The store's database role must own
     * {@code tq_event} and its partitions (see docs/storage.md).
     *
     * @return the months whose events were removed, oldest first: each month whose rows were deleted or,
     *         on PostgreSQL, whose partition was dropped (an empty one too); empty when there was none
     * @throws QuotaException {@code STORE_UNAVAILABLE} when the database cannot be reached or the event
     *                        log stayed locked; the months removed before the failure stay removed
     */
    public List<YearMonth> dropEventsPastHistory() {
        return store.removeEventsPastHistory(false);
    }

    /**
     * Takes the events of the same months as {@link #dropEventsPastHistory()} out of the ledger but
     * keeps them, for the host to dump and drop, in one table per month named {@code tq_event_YYYY_MM}
     * with the event log's columns: on PostgreSQL each such month's partition is detached and stays
     * under its name, and the month's rows in the default partition are moved into it (into a new table
     * of that name if the month had no partition); on H2 the rows are moved into such a table. The store
     * never reads these tables again and never drops them; a later call adds rows to an existing one.
     *
     * @return the months archived, oldest first, as for {@link #dropEventsPastHistory()}: each has its
     *         table {@code tq_event_YYYY_MM}
     * @throws QuotaException {@code STORE_UNAVAILABLE} as for {@link #dropEventsPastHistory()}
     */
    public List<YearMonth> archiveEventsPastHistory() {
        return store.removeEventsPastHistory(true);
    }

    /** Closes the connection pool if the store built it from a JDBC URL; otherwise does nothing. Idempotent. */
    @Override
    public void close() {
        if (ownedPool != null) {
            ownedPool.close();
        }
    }

    private static Dialect detect(Jdbi jdbi) {
        try {
            return jdbi.withHandle(h -> Dialect.of(h.getConnection()));
        } catch (java.sql.SQLException e) {
            throw unavailable("cannot read the database metadata", e);
        }
    }

    private static QuotaException unavailable(String message, Exception cause) {
        return new QuotaException(ErrorCode.STORE_UNAVAILABLE, message + ": " + cause.getMessage(), cause);
    }

    /**
     * Configures a {@link JdbiQuotaStore}; give exactly one of {@link #jdbcUrl}, {@link #dataSource}
     * or {@link #jdbi}. Mutable, not thread-safe.
     */
    public static final class Builder {
        /** Pool settings for a store built from a JDBC URL, documented in the README. */
        static final long CONNECTION_TIMEOUT_MS = 3_000;
        static final long VALIDATION_TIMEOUT_MS = 1_000;
        static final int DEFAULT_POOL_SIZE = 10;

        private String jdbcUrl;
        private String user;
        private String password;
        private DataSource dataSource;
        private Jdbi jdbi;
        private QuotaPolicy policy = QuotaPolicy.defaults();
        private boolean installSchema;
        private int maxRetries = 5;
        private int maximumPoolSize = DEFAULT_POOL_SIZE;

        private Builder() {
        }

        /** The store builds (and on {@link #close()} closes) a HikariCP pool for this URL. */
        public Builder jdbcUrl(String jdbcUrl) {
            this.jdbcUrl = Objects.requireNonNull(jdbcUrl, "jdbcUrl");
            return this;
        }

        /** User and password for {@link #jdbcUrl}. */
        public Builder credentials(String user, String password) {
            this.user = user;
            this.password = password;
            return this;
        }

        /**
         * The host's (pooled) data source; the store never closes it. Its connections must be the pool's, not a
         * host transaction's; a Spring {@code TransactionAwareDataSourceProxy} is unwrapped to its pool, also inside
         * wrappers that pass JDBC's {@code isWrapperFor}/{@code unwrap} on to it ({@code DelegatingDataSource}
         * subclasses, Spring AOP proxies, {@code AbstractRoutingDataSource}, {@code LazyConnectionDataSourceProxy});
         * any other data source lending a host transaction's connection is not supported.
         */
        public Builder dataSource(DataSource dataSource) {
            this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
            return this;
        }

        /**
         * The host's Jdbi; the store opens one of its handles per operation and runs its own transactions
         * on the handle's connection; it never closes the Jdbi or changes its configuration. The Jdbi must take
         * its connections from the pool itself, not a host transaction's (not jdbi3-spring's, nor one on a Spring
         * {@code TransactionAwareDataSourceProxy}): the store's switch to autocommit would commit that transaction.
         */
        public Builder jdbi(Jdbi jdbi) {
            this.jdbi = Objects.requireNonNull(jdbi, "jdbi");
            return this;
        }

        /** The quota policy; {@link QuotaPolicy#defaults()} when not set. */
        public Builder policy(QuotaPolicy policy) {
            this.policy = Objects.requireNonNull(policy, "policy");
            return this;
        }

        /** Whether {@link #build()} installs the schema if it is missing (off by default: hosts own their schema). */
        public Builder installSchema(boolean installSchema) {
            this.installSchema = installSchema;
            return this;
        }

        /**
         * How often a transaction that lost a serialization conflict, deadlock, lock timeout or its session to an
         * idle timeout is run again (default 5); one whose PostgreSQL statement ran out of the host's
         * {@code lock_timeout} or {@code statement_timeout} is also run again until 8.3 s have passed, the longest
         * the store's own DDL keeps the event log locked.
         */
        public Builder maxRetries(int maxRetries) {
            if (maxRetries < 0 || maxRetries > 100) {
                throw new IllegalArgumentException("maxRetries must be between 0 and 100, was " + maxRetries);
            }
            this.maxRetries = maxRetries;
            return this;
        }

        /** Size of the pool built for {@link #jdbcUrl} (default 10); ignored for a host data source. */
        public Builder maximumPoolSize(int maximumPoolSize) {
            if (maximumPoolSize < 1) {
                throw new IllegalArgumentException("maximumPoolSize must be positive, was " + maximumPoolSize);
            }
            this.maximumPoolSize = maximumPoolSize;
            return this;
        }

        /**
         * Connects, detects the dialect, optionally installs the schema.
         *
         * @throws IllegalStateException not exactly one of jdbcUrl, dataSource, jdbi was given
         * @throws QuotaException        {@code STORE_UNAVAILABLE} when the database cannot be reached
         */
        public JdbiQuotaStore build() {
            int sources = (jdbcUrl == null ? 0 : 1) + (dataSource == null ? 0 : 1) + (jdbi == null ? 0 : 1);
            if (sources != 1) {
                throw new IllegalStateException("give exactly one of jdbcUrl, dataSource or jdbi");
            }
            HikariDataSource pool = null;
            try {
                // every connection the store takes is set to autocommit and READ COMMITTED and given back as
                // it came, whatever the host's pool is configured with (see StoreConnections)
                Jdbi target;
                if (jdbcUrl != null) {
                    pool = pool();
                    target = StoreConnections.over(pool);
                } else if (dataSource != null) {
                    target = StoreConnections.over(dataSource);
                } else {
                    target = StoreConnections.over(jdbi);
                }
                Dialect dialect = detect(target);
                if (installSchema) {
                    SchemaInstaller.install(target, dialect);
                }
                SchemaInstaller.checkCaseSensitive(target, dialect);
                return new JdbiQuotaStore(new SqlQuotaStore(target, dialect, policy, maxRetries), pool);
            } catch (JdbiException | com.zaxxer.hikari.pool.HikariPool.PoolInitializationException e) {
                if (pool != null) {
                    pool.close();
                }
                throw unavailable("cannot open the quota store", e);
            } catch (RuntimeException e) {
                if (pool != null) {
                    pool.close();
                }
                throw e;
            }
        }

        private HikariDataSource pool() {
            HikariConfig config = new HikariConfig();
            config.setJdbcUrl(jdbcUrl);
            if (user != null) {
                config.setUsername(user);
            }
            if (password != null) {
                config.setPassword(password);
            }
            config.setPoolName("token-quota");
            config.setMaximumPoolSize(maximumPoolSize);
            // an outage should fail a request in seconds (503 / fail-open), not park threads for 30 s
            config.setConnectionTimeout(CONNECTION_TIMEOUT_MS);
            config.setValidationTimeout(VALIDATION_TIMEOUT_MS);
            // the one-statement conditional updates are correct at READ COMMITTED and need nothing stronger
            config.setTransactionIsolation("TRANSACTION_READ_COMMITTED");
            config.setAutoCommit(true);
            return new HikariDataSource(config);
        }
    }
}

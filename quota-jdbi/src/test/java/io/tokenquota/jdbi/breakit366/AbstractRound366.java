package io.tokenquota.jdbi.breakit366;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.HoldRequest;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.YearMonth;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 366 (a ledger round): the store on a host's HikariCP pool whose connections are lent
 * {@code readOnly} (HikariCP's {@code readOnly} property, "whether Connections obtained from the pool are
 * in read-only mode by default", default false: https://github.com/brettwooldridge/HikariCP#frequently-used;
 * Spring Boot's {@code spring.datasource.hikari.read-only}), beside a second instance on a plain pool of
 * the same database (docs/storage.md, "Several instances": "Point every instance at the same PostgreSQL
 * database").
 *
 * <p>docs/semantics.md, "Host connection pools": "JdbiQuotaStore sets what it needs on every connection it
 * takes (autocommit on, READ COMMITTED) and restores the connection's own settings before it gives it
 * back ... It never reports success for a write that was rolled back." The store sets autocommit and the
 * isolation ({@code StoreConnections.openConnection}) but not the read-only flag. pgJDBC's
 * {@code readOnlyMode} defaults to {@code transaction}: "When 'transaction' setting readOnly to 'true'
 * will cause transactions to BEGIN READ ONLY if autocommit is 'false'" and leaves autocommit statements
 * writable (https://jdbc.postgresql.org/documentation/use/#connection-parameters). So on PostgreSQL the
 * store's one-statement writes in autocommit (a reserve on an existing account: reserve.sql) are
 * written, and its writes inside a transaction (a commit's {@code SELECT ... FOR UPDATE}) are refused:
 * the hold is taken, the call goes to the model, and the commit fails. H2 takes the flag as a hint only
 * (its JdbcConnection.setReadOnly: "this setting is only a hint to the database to enable
 * optimizations - it does not cause writes to be prohibited"), so H2 is charged.
 *
 * <p>The rule the test holds: either the store refuses to be built on such a pool (before any call is
 * held), or a call it held is charged what it reported.
 */
abstract class AbstractRound366 {
    /** The database the instances share. */
    protected abstract TestDatabase database();

    protected MutableClock clock;
    protected String prefix;
    private final List<HikariDataSource> pools = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() {
        clock = MutableClock.at(YearMonth.of(2031, 1), 31, 23);
        clock.set(java.time.Instant.parse("2031-01-31T23:58:00Z"));
        prefix = "r366" + UUID.randomUUID().toString().substring(0, 8) + "-";
    }

    @AfterEach
    void closePools() {
        pools.forEach(HikariDataSource::close);
        pools.clear();
    }

    QuotaPolicy policy() {
        return QuotaPolicy.builder().clock(clock).defaultAllocation(10_000).build();
    }

    /** The instance on a plainly configured pool (the shared test pool: autocommit, READ COMMITTED). */
    QuotaStore plainInstance() {
        return JdbiQuotaStore.builder().dataSource(database().dataSource()).policy(policy()).installSchema(true).build();
    }

    /** A host's HikariCP pool: {@code autoCommit=false} (Spring's common setting) and the given read-only default. */
    HikariDataSource hostPool(boolean readOnly) {
        TestDatabase db = database();
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(db.jdbcUrl());
        config.setUsername(db.user());
        config.setPassword(db.password());
        config.setPoolName("r366-" + System.nanoTime());
        config.setAutoCommit(false);
        config.setReadOnly(readOnly);
        config.setMaximumPoolSize(2);
        config.setConnectionTimeout(10_000);
        HikariDataSource pool = new HikariDataSource(config);
        pools.add(pool);
        return pool;
    }

    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    /** How the client's call comes: a key-less call, a call with an Idempotency-Key, a team member's call. */
    enum Call { KEYLESS, KEYED, TEAM_MEMBER, ACROSS_THE_MONTH_TURN }

    /**
     * The user's month is opened by the instance that handles the payment callback (a 5,000-token
     * purchase; for a team member, the member joined its team and made one 100-token call there); the
     * instance on the host pool holds a 3,000-token call and commits the 2,500 it reported. Returns what
     * happened and the user's account (and the team's), read through the plain instance.
     */
    String callOnHostPool(boolean readOnly, Call call) {
        QuotaStore callbacks = plainInstance();
        String user = prefix + "alice";
        String team = prefix + "acme";
        callbacks.grant(PurchaseRequest.grant(prefix + "pi_1", user, 5_000, PurchaseType.PURCHASE, "card"));
        if (call == Call.TEAM_MEMBER) {
            callbacks.setTeam(user, team);
            callbacks.consume(user, 100, null);
        }
        QuotaStore instance;
        try {
            instance = JdbiQuotaStore.builder().dataSource(hostPool(readOnly)).policy(policy()).installSchema(false).build();
        } catch (RuntimeException e) {
            return "refused at build";
        }
        String outcome;
        try {
            HoldRequest.Builder request = HoldRequest.of(user, 3_000).ttl(Duration.ofMinutes(5));
            if (call == Call.KEYED) {
                // the filter's hold for a request with an Idempotency-Key header (README, filter section)
                request.idempotencyKey(prefix + "req-7f3a");
            }
            Reservation hold = instance.reserve(request.build()).reservation();
            if (call == Call.ACROSS_THE_MONTH_TURN) {
                // held at 23:58 on January 31st, answered at 00:01 on February 1st (UTC, the policy's zone), within its 5-minute TTL
                clock.set(java.time.Instant.parse("2031-02-01T00:01:00Z"));
            }
            try {
                outcome = "committed, charged " + instance.commit(hold.id(), 2_500).charged();
            } catch (QuotaException e) {
                outcome = "held, then commit " + e.code() + ": " + e.getMessage().substring(0, Math.min(150, e.getMessage().length()));
            }
        } catch (QuotaException e) {
            return "reserve refused " + e.code() + " (no call held)";
        }
        String accounts = outcome + " " + view(callbacks.account(user, YearMonth.of(2031, 1)).orElseThrow());
        if (call == Call.TEAM_MEMBER) {
            accounts += " team " + view(callbacks.account(io.tokenquota.Team.subject(team)));
        }
        return accounts;
    }

    static final String CHARGED = "committed, charged 2500 [10000, 5000, 0, 2500, 0]";
    static final String TEAM_CHARGED = "committed, charged 2500 [10000, 5000, 0, 2600, 0] team [10000, 0, 0, 2600, 0]";

    /** Either refused before any call was held, or charged what the call reported. */
    static void assertChargedOrNeverHeld(String expected, String outcome, String what) {
        if (outcome.equals("refused at build") || outcome.startsWith("reserve refused")) {
            return;
        }
        assertEquals(expected, outcome, what);
    }

    /**
     * Found (PostgreSQL): a call held before midnight on a host pool lent read-only and answered after it.
     * The reserve is one statement in autocommit (reserve.sql), written; the commit of a hold whose month
     * is no longer the clock's misses the one-statement fast path (commit.sql matches {@code :month}) and
     * runs {@code Holds.finishLocked}, a transaction that pgJDBC begins READ ONLY: STORE_UNAVAILABLE
     * "cannot execute SELECT FOR UPDATE in a read-only transaction". The hold stays open with nothing
     * charged and expires into a release: the model call is free. (The same path serves a late commit
     * and any commit through an instance whose clock is behind the month another instance opened.)
     */
    @Test
    void aCallAnsweredAfterTheMonthTurnOnAReadOnlyHostPoolIsChargedWhatItReported() {
        assertChargedOrNeverHeld(CHARGED, callOnHostPool(true, Call.ACROSS_THE_MONTH_TURN),
                "a call held on a read-only host pool at 23:58 on January 31st and answered at 00:01");
    }

    /** Control: the same call across the month turn on the host pool lent writable (autoCommit=false only). */
    @Test
    void aCallAnsweredAfterTheMonthTurnOnAWritableHostPoolIsChargedWhatItReported() {
        assertEquals(CHARGED, callOnHostPool(false, Call.ACROSS_THE_MONTH_TURN));
    }

    /** Control: a keyed call within the month on the read-only host pool (both steps one autocommit statement on PostgreSQL). */
    @Test
    void aKeyedCallHeldOnAReadOnlyHostPoolIsChargedWhatItReported() {
        assertChargedOrNeverHeld(CHARGED, callOnHostPool(true, Call.KEYED), "a keyed call held on a read-only host pool");
    }

    /** Control: a team member's call within the month on the read-only host pool. */
    @Test
    void aTeamMembersCallHeldOnAReadOnlyHostPoolIsChargedWhatItReported() {
        assertChargedOrNeverHeld(TEAM_CHARGED, callOnHostPool(true, Call.TEAM_MEMBER),
                "a team member's call held on a read-only host pool");
    }

    /** Control: a key-less call on the read-only host pool (reserve and commit are each one autocommit statement). */
    @Test
    void aKeylessCallHeldOnAReadOnlyHostPoolIsChargedWhatItReported() {
        assertChargedOrNeverHeld(CHARGED, callOnHostPool(true, Call.KEYLESS), "a key-less call held on a read-only host pool");
    }

}

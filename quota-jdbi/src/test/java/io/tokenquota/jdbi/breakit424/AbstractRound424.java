package io.tokenquota.jdbi.breakit424;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.HoldRequest;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reservation;
import io.tokenquota.Reserved;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 424 (a ledger round): the clock and the month turn (holds opened before a month end and committed after
 * it, a hold expired and then committed, one idempotency key on two instances whose clocks straddle midnight,
 * retention of a month that still has an open hold) on the in-memory reference, H2 and PostgreSQL, the SQL stores
 * on a host's odd HikariCP pool (autoCommit=false, readOnly, SERIALIZABLE or READ_UNCOMMITTED, one or two
 * connections with one taken by another thread, connectionInitSql setting the schema or search_path and session
 * timeouts). The rules: docs/semantics.md "Month turn", "Holds that outlive their month", "Reservations" (late
 * commit, idempotency), "Host connection pools"; docs/storage.md "Retention" ("never touches ... tq_account,
 * tq_reservation"; "An event logged later for a removed month ... lands in the default partition");
 * docs/decisions.md "A subject's months never go backwards", "Expiry clock".
 */
abstract class AbstractRound424 {
    /** An instance on its own host pool of the scenario's database, on {@code policy}. */
    protected abstract QuotaStore store(QuotaPolicy policy);

    /** True when every instance is one store on one clock (the in-memory reference). */
    protected abstract boolean oneStore();

    protected abstract List<YearMonth> dropEventsPastHistory(QuotaStore store);

    static final long ALLOWANCE = 10_000;
    static final long PACK = 5_000;
    static final YearMonth JAN = YearMonth.of(2031, 1);
    static final YearMonth FEB = YearMonth.of(2031, 2);
    static final YearMonth MAR = YearMonth.of(2031, 3);

    protected String p;
    protected MutableClock clock;
    protected final List<AutoCloseable> closing = new ArrayList<>();

    @BeforeEach
    void start() {
        p = "r424" + UUID.randomUUID().toString().substring(0, 8) + "-";
        clock = new MutableClock(Instant.parse("2031-01-10T12:00:00Z"));
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : closing) {
            c.close();
        }
        closing.clear();
    }

    QuotaPolicy policy(MutableClock c, int historyMonths) {
        return QuotaPolicy.builder().clock(c).zone(ZoneOffset.UTC).defaultAllocation(ALLOWANCE)
                .holdTtl(Duration.ofMinutes(10)).historyMonths(historyMonths).build();
    }

    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    static List<Long> view(QuotaStore reader, String s, YearMonth m) {
        return reader.account(s, m).map(AbstractRound424::view).orElse(List.of());
    }

    void buy(QuotaStore store, String s, String tx) {
        store.grant(PurchaseRequest.grant(p + tx, s, PACK, PurchaseType.PURCHASE, "pack"));
    }

    /**
     * A hold taken at 23:50 on January 31st (10 minutes), a user's next call on February 1st opens February, a sweep
     * expires the hold, retention (historyMonths 1) removes January's events, then the call's usage arrives: a late
     * commit of 12,000 through the other instance, and its retry through the first. Right: charged once, to January
     * (12,000: 2,000 beyond its allowance, taken from the 5,000 February carried), the retry a replay.
     */
    @Test
    void lateCommitAfterRetentionRemovedItsMonth() {
        QuotaStore a = store(policy(clock, 1));
        QuotaStore b = oneStore() ? a : store(policy(clock, 1));
        QuotaStore wide = oneStore() ? a : store(policy(clock, 24));
        String s = p + "late";
        buy(a, s, "pack");
        clock.set(Instant.parse("2031-01-31T23:50:00Z"));
        Reservation hold = a.reserve(HoldRequest.of(s, 3_000).idempotencyKey(p + "k1").build()).reservation();
        clock.set(Instant.parse("2031-02-01T00:05:00Z"));
        a.consume(HoldRequest.of(s, 100).build());
        clock.set(Instant.parse("2031-02-01T00:30:00Z"));
        b.expireStale();
        dropEventsPastHistory(b);
        Reservation late = b.commit(hold.id(), 12_000);
        Reservation retry = a.commit(hold.id(), 12_000);
        assertAll(() -> assertEquals("COMMITTED 12000", late.state() + " " + late.charged(), late.toString()),
                () -> assertEquals("COMMITTED 12000", retry.state() + " " + retry.charged(), retry.toString()),
                () -> assertEquals(List.of(ALLOWANCE, PACK, 0L, 12_000L, 0L), view(wide, s, JAN), "January"),
                () -> assertEquals(List.of(ALLOWANCE, 0L, 3_000L, 100L, 0L), view(a.account(s)), "February"));
    }

    /**
     * A 31-day hold taken on January 31st, still open on March 2nd after retention (historyMonths 1) removed
     * January's and February's events; committed there for 15,000 (5,000 beyond the allowance: the 5,000 bought in
     * January, carried to March), then the commit retried on the other instance. Right: January used 15,000, March
     * carries 0, the retry a replay.
     */
    @Test
    void holdOpenWhileRetentionRemovesItsMonthIsChargedOnce() {
        QuotaStore a = store(policy(clock, 1));
        QuotaStore b = oneStore() ? a : store(policy(clock, 1));
        QuotaStore wide = oneStore() ? a : store(policy(clock, 24));
        String s = p + "long";
        buy(a, s, "pack");
        clock.set(Instant.parse("2031-01-31T22:00:00Z"));
        Reservation hold = a.reserve(HoldRequest.of(s, 4_000).idempotencyKey(p + "job").ttl(Duration.ofDays(31))
                .build()).reservation();
        clock.set(Instant.parse("2031-02-10T10:00:00Z"));
        a.consume(HoldRequest.of(s, 100).build());
        clock.set(Instant.parse("2031-03-01T10:00:00Z"));
        b.consume(HoldRequest.of(s, 100).build());
        List<YearMonth> removed = dropEventsPastHistory(b);
        clock.set(Instant.parse("2031-03-02T10:00:00Z"));
        Reserved replay = b.reserve(HoldRequest.of(s, 4_000).idempotencyKey(p + "job").ttl(Duration.ofDays(31))
                .build());
        Reservation done = b.commit(hold.id(), 15_000);
        Reservation retry = a.commit(hold.id(), 15_000);
        assertAll(() -> assertTrue(replay.replayed(), replay.toString()),
                () -> assertEquals(hold.id(), replay.reservation().id()),
                () -> assertEquals("COMMITTED 15000", done.state() + " " + done.charged(), done.toString()),
                () -> assertEquals("COMMITTED 15000", retry.state() + " " + retry.charged(), retry.toString()),
                () -> assertEquals(List.of(ALLOWANCE, PACK, 0L, 15_000L, 0L), view(wide, s, JAN), "January " + removed),
                () -> assertEquals(List.of(ALLOWANCE, 0L, 5_000L, 100L, 0L), view(wide, s, FEB), "February"),
                () -> assertEquals(List.of(ALLOWANCE, 0L, 0L, 100L, 0L), view(a.account(s)), "March"));
    }

    /**
     * One key on two instances whose clocks straddle midnight (B 60 s behind A: docs/decisions.md allows "a minute
     * or two of skew"). B takes the hold at 23:59:30 its time (January), then, at once on two threads, A opens
     * February for the user (a consume of 200) while B replays the key and commits the hold for 11,000; then A
     * retries the commit. Right in every order: January used 11,000 (1,000 bought tokens), February carries 4,000,
     * used 200. Twenty users.
     */
    @Test
    void oneKeyOnTwoInstancesAcrossMidnightIsChargedOnce() throws Exception {
        MutableClock lagging = new MutableClock(Instant.parse("2031-01-10T12:00:00Z"));
        QuotaStore a = store(policy(clock, 24));
        QuotaStore b = oneStore() ? a : store(policy(lagging, 24));
        List<String> subjects = new ArrayList<>();
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            String s = p + "u" + i;
            subjects.add(s);
            buy(a, s, "pack" + i);
        }
        clock.set(Instant.parse("2031-01-31T23:59:30Z"));
        lagging.set(Instant.parse("2031-01-31T23:59:30Z"));
        for (String s : subjects) {
            ids.add(b.reserve(HoldRequest.of(s, 3_000).idempotencyKey(s + "-k").build()).reservation().id());
        }
        clock.set(Instant.parse("2031-02-01T00:00:30Z"));
        if (!oneStore()) {
            lagging.set(Instant.parse("2031-01-31T23:59:30Z"));
        }
        ExecutorService pool = Executors.newFixedThreadPool(2);
        List<String> problems = new ArrayList<>();
        try {
            for (int i = 0; i < subjects.size(); i++) {
                String s = subjects.get(i);
                String id = ids.get(i);
                CountDownLatch go = new CountDownLatch(1);
                Future<?> opener = pool.submit(() -> {
                    go.await();
                    return a.consume(HoldRequest.of(s, 200).build());
                });
                Future<Reservation> finisher = pool.submit(() -> {
                    go.await();
                    Reserved again = b.reserve(HoldRequest.of(s, 3_000).idempotencyKey(s + "-k").build());
                    if (!again.replayed() || !again.reservation().id().equals(id)) {
                        synchronized (problems) {
                            problems.add(s + " replay " + again);
                        }
                    }
                    return b.commit(id, 11_000);
                });
                go.countDown();
                opener.get(60, TimeUnit.SECONDS);
                finisher.get(60, TimeUnit.SECONDS);
                Reservation retry = a.commit(id, 11_000);
                List<Long> jan = view(a, s, JAN);
                List<Long> feb = view(a, s, FEB);
                if (!jan.equals(List.of(ALLOWANCE, PACK, 0L, 11_000L, 0L))
                        || !feb.equals(List.of(ALLOWANCE, 0L, 4_000L, 200L, 0L)) || retry.charged() != 11_000) {
                    problems.add(s + " jan " + jan + " feb " + feb + " retry " + retry);
                }
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(List.of(), problems);
    }

    /**
     * A hold taken at 23:55 on January 31st with a 1-minute TTL (the filter's QUOTA_HOLD_TTL set short), the user's
     * next call (another hold) at 00:10 on February 1st sweeps it and opens February spending the 5,000 carried bought
     * tokens' room, then the first call's usage (9,000) arrives: a late commit. Right: charged 9,000 to January
     * (within its allowance: no bought token moves), February carries 5,000.
     */
    @Test
    void expiredAtMonthTurnThenCommittedIsCharged() {
        QuotaStore a = store(policy(clock, 24));
        QuotaStore b = oneStore() ? a : store(policy(clock, 24));
        String s = p + "ttl";
        buy(a, s, "pack");
        clock.set(Instant.parse("2031-01-31T23:55:00Z"));
        Reservation hold = a.reserve(HoldRequest.of(s, 8_000).ttl(Duration.ofMinutes(1)).build()).reservation();
        clock.set(Instant.parse("2031-02-01T00:10:00Z"));
        Reservation next = b.reserve(HoldRequest.of(s, 15_000).build()).reservation();
        Reservation late = a.commit(hold.id(), 9_000);
        b.commit(next.id(), 15_000);
        assertAll(() -> assertEquals("COMMITTED 9000", late.state() + " " + late.charged(), late.toString()),
                () -> assertEquals(List.of(ALLOWANCE, PACK, 0L, 9_000L, 0L), view(a, s, JAN), "January"),
                () -> assertEquals(List.of(ALLOWANCE, 0L, PACK, 15_000L, 0L), view(b.account(s)), "February"));
    }
}

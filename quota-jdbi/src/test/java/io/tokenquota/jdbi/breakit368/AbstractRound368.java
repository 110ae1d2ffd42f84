package io.tokenquota.jdbi.breakit368;

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
import io.tokenquota.Team;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Round 368 (a ledger round): the store on a host's small HikariCP pool ({@code autoCommit=false},
 * Spring's common setting; two connections) under many threads at once, for one user and for a team's
 * members, with purchases, refunds, plan changes and membership changes mixed in. docs/semantics.md,
 * "Host connection pools": "Any pool size works, even one connection: no thread of the store waits for
 * one of its locks or group commits while it holds a connection"; the ledger's rule: every call is
 * charged what it reported, once, on the account (and team) it was held on; nothing is created or lost.
 */
abstract class AbstractRound368 {
    /** The database of this class. */
    protected abstract TestDatabase database();

    /** The host's {@code connectionInitSql} for its sessions, or {@code null}. */
    protected String connectionInitSql() {
        return null;
    }

    protected MutableClock clock;
    protected String prefix;
    private final List<HikariDataSource> pools = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() {
        clock = MutableClock.at(YearMonth.of(2031, 3), 10, 12);
        prefix = "r368" + UUID.randomUUID().toString().substring(0, 8) + "-";
    }

    @AfterEach
    void closePools() {
        pools.forEach(HikariDataSource::close);
        pools.clear();
    }

    QuotaPolicy policy() {
        return QuotaPolicy.builder().clock(clock).defaultAllocation(1_000_000).build();
    }

    /** A host's HikariCP pool: autoCommit=false, {@code size} connections, the class's connectionInitSql. */
    HikariDataSource hostPool(int size) {
        TestDatabase db = database();
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(db.jdbcUrl());
        config.setUsername(db.user());
        config.setPassword(db.password());
        config.setPoolName("r368-" + System.nanoTime());
        config.setAutoCommit(false);
        config.setMaximumPoolSize(size);
        config.setConnectionTimeout(10_000);
        if (connectionInitSql() != null) {
            config.setConnectionInitSql(connectionInitSql());
        }
        HikariDataSource pool = new HikariDataSource(config);
        pools.add(pool);
        return pool;
    }

    static List<Long> view(QuotaAccount a) {
        return List.of(a.allocated(), a.granted(), a.carried(), a.used(), a.reserved());
    }

    /**
     * Twelve threads on a pool of two: key-less and keyed holds committed at less than held, one-step
     * consumes, for one user and for three members of a team (one of whom leaves and rejoins), while a
     * payment callback grants and refunds purchases and the plan changes. Every outcome is recorded; the
     * accounts must hold exactly what the calls were charged and nothing must stay reserved.
     */
    @Test
    void manyThreadsOnATwoConnectionPoolChargeEveryCallOnce() throws Exception {
        JdbiQuotaStore plain = JdbiQuotaStore.builder().dataSource(database().dataSource()).policy(policy())
                .installSchema(true).build();
        QuotaStore store = JdbiQuotaStore.builder().dataSource(hostPool(2)).policy(policy()).installSchema(false).build();
        String solo = prefix + "solo";
        String team = prefix + "acme";
        List<String> members = List.of(prefix + "m1", prefix + "m2", prefix + "m3");
        for (String m : members) {
            store.setTeam(m, team);
        }
        AtomicLong soloCharged = new AtomicLong();
        AtomicLong teamCharged = new AtomicLong();
        java.util.Map<String, AtomicLong> memberCharged = new java.util.concurrent.ConcurrentHashMap<>();
        members.forEach(m -> memberCharged.put(m, new AtomicLong()));
        AtomicLong granted = new AtomicLong();
        ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        int threads = 12;
        int rounds = 25;
        ExecutorService pool = Executors.newFixedThreadPool(threads + 2);
        CountDownLatch go = new CountDownLatch(1);
        List<Future<?>> work = new ArrayList<>();
        try {
            for (int t = 0; t < threads; t++) {
                int thread = t;
                work.add(pool.submit(() -> {
                    go.await();
                    for (int r = 0; r < rounds; r++) {
                        String subject = thread % 2 == 0 ? solo : members.get(thread % 3);
                        try {
                            Reservation hold;
                            if (r % 3 == 0) {
                                String key = prefix + "k-" + thread + "-" + r;
                                hold = store.reserve(HoldRequest.of(subject, 300).idempotencyKey(key)
                                        .ttl(Duration.ofMinutes(5)).build()).reservation();
                                // the client's retry of the same request: a replay, never a second hold
                                Reservation again = store.reserve(HoldRequest.of(subject, 300).idempotencyKey(key)
                                        .ttl(Duration.ofMinutes(5)).build()).reservation();
                                if (!again.id().equals(hold.id())) {
                                    failures.add("replay of " + key + " held again");
                                }
                            } else {
                                hold = store.reserve(HoldRequest.of(subject, 300).ttl(Duration.ofMinutes(5)).build())
                                        .reservation();
                            }
                            Reservation done = r % 5 == 4 ? store.release(hold.id()) : store.commit(hold.id(), 250);
                            Reservation consumed = store.consume(subject, 40, null);
                            long charged = done.charged() + consumed.charged();
                            if (subject.equals(solo)) {
                                soloCharged.addAndGet(charged);
                            } else {
                                memberCharged.get(subject).addAndGet(charged);
                                if (done.teamId() != null) {
                                    teamCharged.addAndGet(done.charged());
                                }
                                if (consumed.teamId() != null) {
                                    teamCharged.addAndGet(consumed.charged());
                                }
                            }
                        } catch (QuotaException e) {
                            failures.add(subject + ": " + e.code() + " " + e.getMessage());
                        }
                    }
                    return null;
                }));
            }
            // the payment callback and the admin: purchases and their refunds, plan changes, one member leaving and rejoining
            work.add(pool.submit(() -> {
                go.await();
                for (int i = 0; i < 10; i++) {
                    try {
                        String id = prefix + "pi_" + i;
                        store.grant(PurchaseRequest.grant(id, solo, 5_000, PurchaseType.PURCHASE, "card"));
                        if (i % 2 == 1) {
                            store.refund(id);
                        } else {
                            granted.addAndGet(5_000);
                        }
                        store.setPlan(solo, 900_000 + i);
                    } catch (QuotaException e) {
                        failures.add("callback: " + e.code() + " " + e.getMessage());
                    }
                }
                return null;
            }));
            go.countDown();
            for (Future<?> f : work) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(List.of(), List.copyOf(failures), "every call served");
        assertEquals(List.of(900_009L, granted.get(), 0L, soloCharged.get(), 0L), view(plain.account(solo)), "the user");
        long membersTotal = 0;
        for (String m : members) {
            assertEquals(List.of(1_000_000L, 0L, 0L, memberCharged.get(m).get(), 0L), view(plain.account(m)), m);
            membersTotal += memberCharged.get(m).get();
        }
        assertEquals(membersTotal, teamCharged.get(), "every member's call was held on the team");
        assertEquals(List.of(1_000_000L, 0L, 0L, teamCharged.get(), 0L), view(plain.account(Team.subject(team))), "the team");
    }
}

package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.testkit.MutableClock;
import java.time.Duration;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.jdbi.v3.core.Jdbi;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code dropEventsPastHistory} and {@code archiveEventsPastHistory} on H2 and PostgreSQL: with a
 * history of 3 months, in May they remove exactly February and earlier (on PostgreSQL also the empty
 * partition of December the store made when it was built in January, and an old month's rows in the
 * default partition), leave March to May's events and every account, hold, plan and purchase as they
 * were, report nothing the second time, and run alongside traffic and another instance's run.
 */
class EventRetentionTest {
    private static final YearMonth JAN = YearMonth.of(2031, 1);
    private static final YearMonth MAY = YearMonth.of(2031, 5);
    /** An old month that never had a partition: its events (PostgreSQL) sit in the default partition. */
    private static final YearMonth OLD = YearMonth.of(2030, 6);
    private static final List<String> SUBJECTS = List.of("ann", "ben");

    static Stream<Supplier<TestDatabase>> databases() {
        return TestDatabases.both();
    }

    private static JdbiQuotaStore store(TestDatabase db, MutableClock clock) {
        return JdbiQuotaStore.builder().dataSource(db.dataSource()).installSchema(true)
                .policy(QuotaPolicy.builder().clock(clock).defaultAllocation(10_000).historyMonths(3).build())
                .build();
    }

    /**
     * Traffic in every month from January to May, the clock left in May; an event of {@link #OLD}
     * written by hand. Returns the id of a hold of January that expired unfinished.
     */
    private static String fiveMonthsOfTraffic(JdbiQuotaStore store, MutableClock clock, Jdbi jdbi) {
        store.grant(PurchaseRequest.grant("tx-jan", "ann", 5_000, PurchaseType.PURCHASE, null));
        // its row must survive the removal of January's events
        String expiring = store.reserve(HoldRequest.of("ben", 40).ttl(Duration.ofHours(1)).build()).reservation().id();
        for (int month = 0; month < 5; month++) {
            for (String subject : SUBJECTS) {
                store.consume(subject, 10 + month, null);
                Reservation hold = store.reserve(subject, 20, "hold-" + month);
                store.commit(hold.id(), 15);
            }
            if (month == 1) {
                store.setPlan("ben", 20_000);
            }
            if (month < 4) {
                clock.advanceMonths(1, 2, 8);
            }
        }
        jdbi.useHandle(h -> h.execute("INSERT INTO tq_event (subject, plan_month, kind, tokens, overage,"
                + " is_consume, occurred_at) VALUES ('ann', '" + OLD + "', 'CREDITED', 3, 0, FALSE,"
                + " TIMESTAMP WITH TIME ZONE '2030-06-03 00:00:00+00')"));
        return expiring;
    }

    /** Every row of the tables retention must not touch, as text. */
    private static List<String> ledgerOtherThanEvents(Jdbi jdbi) {
        List<String> rows = new ArrayList<>();
        for (String[] table : new String[][] {{"tq_account", "subject, plan_month"}, {"tq_reservation", "id"},
                {"tq_plan", "subject"}, {"tq_purchase", "transaction_id"}}) {
            rows.addAll(jdbi.withHandle(h -> h.createQuery("SELECT * FROM " + table[0] + " ORDER BY " + table[1])
                    .map((rs, ctx) -> {
                        StringBuilder row = new StringBuilder(table[0]);
                        for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
                            row.append('|').append(rs.getString(i));
                        }
                        return row.toString();
                    }).list()));
        }
        return rows;
    }

    /** Events per month, from the event log. */
    private static Map<String, Long> eventsPerMonth(Jdbi jdbi) {
        Map<String, Long> months = new TreeMap<>();
        jdbi.useHandle(h -> h.createQuery("SELECT plan_month, COUNT(*) AS n FROM tq_event GROUP BY plan_month")
                .map((rs, ctx) -> months.put(rs.getString("plan_month"), rs.getLong("n"))).list());
        return months;
    }

    private static long rowsOf(Jdbi jdbi, String table) {
        return jdbi.withHandle(h -> h.createQuery("SELECT COUNT(*) FROM " + table).mapTo(Long.class).one());
    }

    private static boolean isPostgres(TestDatabase db) {
        return db.kind() == TestDatabase.Kind.POSTGRESQL;
    }

    /** What either call reports: the months with events past the window, and on PostgreSQL December's empty partition. */
    private static List<YearMonth> expectedMonths(TestDatabase db) {
        List<YearMonth> months = new ArrayList<>(List.of(OLD));
        if (isPostgres(db)) {
            months.add(JAN.minusMonths(1));
        }
        months.addAll(List.of(JAN, JAN.plusMonths(1)));
        return months;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void dropRemovesExactlyTheMonthsPastTheWindow(Supplier<TestDatabase> database) {
        try (TestDatabase db = database.get()) {
            Jdbi jdbi = Jdbi.create(db.dataSource());
            MutableClock clock = MutableClock.at(JAN, 15, 12);
            JdbiQuotaStore store = store(db, clock);
            String expired = fiveMonthsOfTraffic(store, clock, jdbi);
            assertEquals(MAY, store.policy().currentMonth());
            Map<String, Long> before = eventsPerMonth(jdbi);
            assertEquals(List.of("2030-06", "2031-01", "2031-02", "2031-03", "2031-04", "2031-05"),
                    List.copyOf(before.keySet()));
            List<String> ledger = ledgerOtherThanEvents(jdbi);
            List<LedgerEvent> march = store.events("ann", JAN.plusMonths(2));

            assertEquals(expectedMonths(db), store.dropEventsPastHistory());

            Map<String, Long> kept = new TreeMap<>(before);
            kept.keySet().removeIf(m -> m.compareTo("2031-03") < 0);
            assertEquals(kept, eventsPerMonth(jdbi), "March to May are untouched, nothing older is left");
            assertEquals(ledger, ledgerOtherThanEvents(jdbi), "accounts, holds, plans and purchases are untouched");
            assertEquals(march, store.events("ann", JAN.plusMonths(2)));
            if (isPostgres(db)) {
                assertEquals(List.of("tq_event_2031_03", "tq_event_2031_04", "tq_event_2031_05", "tq_event_2031_06",
                        "tq_event_default"), List.copyOf(PostgresEventPartitionTest.partitions(jdbi).keySet()));
                long leftovers = jdbi.withHandle(h -> h.createQuery("SELECT COUNT(*) FROM pg_class"
                        + " WHERE relname IN ('tq_event_2030_06', 'tq_event_2030_12', 'tq_event_2031_01',"
                        + " 'tq_event_2031_02')").mapTo(Long.class).one());
                assertEquals(0, leftovers, "dropped, not kept");
            }
            assertEquals(List.of(), store.dropEventsPastHistory(), "nothing left to remove");
            // the ledger goes on: a late commit of the January hold logs in January again (on PostgreSQL in
            // the default partition, January's is gone), and the next call removes that too
            store.commit(expired, 30);
            assertTrue(eventsPerMonth(jdbi).containsKey("2031-01"));
            assertEquals(List.of(JAN), store.dropEventsPastHistory());
            store.consume("ann", 1, null);
            assertEquals(List.of("2031-03", "2031-04", "2031-05"), List.copyOf(eventsPerMonth(jdbi).keySet()));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void archiveMovesTheMonthsPastTheWindowIntoTablesOfTheirOwn(Supplier<TestDatabase> database) {
        try (TestDatabase db = database.get()) {
            Jdbi jdbi = Jdbi.create(db.dataSource());
            MutableClock clock = MutableClock.at(JAN, 15, 12);
            JdbiQuotaStore store = store(db, clock);
            fiveMonthsOfTraffic(store, clock, jdbi);
            Map<String, Long> before = eventsPerMonth(jdbi);
            List<String> ledger = ledgerOtherThanEvents(jdbi);

            assertEquals(expectedMonths(db), store.archiveEventsPastHistory());

            Map<String, Long> kept = new TreeMap<>(before);
            kept.keySet().removeIf(m -> m.compareTo("2031-03") < 0);
            assertEquals(kept, eventsPerMonth(jdbi));
            assertEquals(ledger, ledgerOtherThanEvents(jdbi));
            for (YearMonth month : List.of(OLD, JAN, JAN.plusMonths(1))) {
                String table = EventPartitions.tableOf(month);
                assertEquals((long) before.get(month.toString()), rowsOf(jdbi, table), table);
                long otherMonths = jdbi.withHandle(h -> h.createQuery("SELECT COUNT(*) FROM " + table
                        + " WHERE plan_month <> :month").bind("month", month.toString()).mapTo(Long.class).one());
                assertEquals(0, otherMonths, table);
            }
            if (isPostgres(db)) {
                assertEquals(0, rowsOf(jdbi, "tq_event_2030_12"), "December's empty partition, detached");
                long stillPartitions = jdbi.withHandle(h -> h.createQuery("SELECT COUNT(*) FROM pg_class"
                        + " WHERE relispartition AND relname IN ('tq_event_2030_06', 'tq_event_2030_12',"
                        + " 'tq_event_2031_01', 'tq_event_2031_02')").mapTo(Long.class).one());
                assertEquals(0, stillPartitions, "archives are tables of their own");
            }
            assertEquals(List.of(), store.archiveEventsPastHistory());
        }
    }

    /**
     * Two instances run retention at the same moment while threads of both keep consuming: every call
     * succeeds, each month is reported by exactly one of them, and the traffic's events are all there.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void twoInstancesRetainAtOnceWhileTrafficGoesOn(Supplier<TestDatabase> database) throws Exception {
        try (TestDatabase db = database.get()) {
            Jdbi jdbi = Jdbi.create(db.dataSource());
            MutableClock clock = MutableClock.at(JAN, 15, 12);
            JdbiQuotaStore first = store(db, clock);
            fiveMonthsOfTraffic(first, clock, jdbi);
            JdbiQuotaStore second = store(db, clock);
            long mayBefore = eventsPerMonth(jdbi).get("2031-05");

            int workers = 4;
            int calls = 50;
            CyclicBarrier start = new CyclicBarrier(workers + 2);
            ExecutorService pool = Executors.newFixedThreadPool(workers + 2);
            try {
                List<Future<List<YearMonth>>> retained = new ArrayList<>();
                for (JdbiQuotaStore store : List.of(first, second)) {
                    boolean archive = store == second;
                    retained.add(pool.submit(() -> {
                        start.await();
                        return archive ? store.archiveEventsPastHistory() : store.dropEventsPastHistory();
                    }));
                }
                List<Future<?>> traffic = new ArrayList<>();
                for (int w = 0; w < workers; w++) {
                    JdbiQuotaStore store = w % 2 == 0 ? first : second;
                    String subject = SUBJECTS.get(w % 2);
                    traffic.add(pool.submit((Callable<Void>) () -> {
                        start.await();
                        for (int i = 0; i < calls; i++) {
                            store.consume(subject, 1, null);
                        }
                        return null;
                    }));
                }
                List<YearMonth> reported = new ArrayList<>();
                for (Future<List<YearMonth>> f : retained) {
                    reported.addAll(f.get(2, TimeUnit.MINUTES));
                }
                for (Future<?> f : traffic) {
                    f.get(2, TimeUnit.MINUTES);
                }
                reported.sort(null);
                assertEquals(expectedMonths(db), reported, "each month removed once, by one of the two");
            } finally {
                pool.shutdownNow();
            }
            Map<String, Long> after = eventsPerMonth(jdbi);
            assertEquals(List.of("2031-03", "2031-04", "2031-05"), List.copyOf(after.keySet()));
            assertEquals(mayBefore + (long) workers * calls, after.get("2031-05"));
            assertTrue(first.account("ann").used() > 0);
        }
    }
}

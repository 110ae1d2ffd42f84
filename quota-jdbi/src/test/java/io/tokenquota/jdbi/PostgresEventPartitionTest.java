package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.HoldRequest;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.testkit.MutableClock;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.jdbi.v3.core.Jdbi;
import org.junit.jupiter.api.Test;

/**
 * The event log partitioned by month on PostgreSQL, read from the catalog: {@code tq_event} is
 * partitioned by RANGE on {@code plan_month}, the store creates the partitions of the months around
 * its clock when it is built and a month ahead at each month's first account, each month's events land
 * in that month's partition (never the default), a host that runs the migration file itself gets the
 * same, and concurrent first touches of a new month from many threads of two instances all succeed.
 * Each test has a database of its own, so the catalog holds only what it did.
 */
class PostgresEventPartitionTest {
    private static final YearMonth JAN = YearMonth.of(2031, 1);

    private static JdbiQuotaStore store(TestDatabase db, Clock clock, boolean installSchema) {
        return JdbiQuotaStore.builder().dataSource(db.dataSource()).installSchema(installSchema)
                .policy(QuotaPolicy.builder().clock(clock).defaultAllocation(1_000_000).build()).build();
    }

    /** Each partition of tq_event with its bounds, by name. */
    static Map<String, String> partitions(Jdbi jdbi) {
        Map<String, String> partitions = new TreeMap<>();
        jdbi.useHandle(h -> h.createQuery("SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound"
                        + " FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid"
                        + " WHERE i.inhparent = 'tq_event'::regclass")
                .map((rs, ctx) -> partitions.put(rs.getString("relname"), rs.getString("bound"))).list());
        return partitions;
    }

    /** Which table holds each month's events, and how many: "2031-01" -> "tq_event_2031_01 x 4". */
    static Map<String, String> whereEventsAre(Jdbi jdbi) {
        Map<String, String> where = new TreeMap<>();
        jdbi.useHandle(h -> h.createQuery("SELECT plan_month, string_agg(DISTINCT tableoid::regclass::text, ',')"
                        + " AS tables, COUNT(*) AS events FROM tq_event GROUP BY plan_month")
                .map((rs, ctx) -> where.put(rs.getString("plan_month"),
                        rs.getString("tables") + " x " + rs.getLong("events"))).list());
        return where;
    }

    private static String bounds(YearMonth month) {
        String to = String.format("%04d-%02d", month.getYear(), month.getMonthValue() + 1);
        return "FOR VALUES FROM ('" + month + "') TO ('" + to + "')";
    }

    private static Map<String, String> expectedPartitions(YearMonth first, YearMonth last) {
        Map<String, String> expected = new TreeMap<>();
        for (YearMonth m = first; !m.isAfter(last); m = m.plusMonths(1)) {
            expected.put(EventPartitions.tableOf(m), bounds(m));
        }
        expected.put("tq_event_default", "DEFAULT");
        return expected;
    }

    private static long count(Jdbi jdbi, String sql) {
        return jdbi.withHandle(h -> h.createQuery(sql).mapTo(Long.class).one());
    }

    @Test
    void eachMonthsEventsLandInThatMonthsPartitionAcrossMonthTurns() {
        try (TestDatabase db = TestDatabases.postgres()) {
            Jdbi jdbi = Jdbi.create(db.dataSource());
            MutableClock clock = MutableClock.at(JAN, 31, 20);
            JdbiQuotaStore store = store(db, clock, true);

            String strategy = jdbi.withHandle(h -> h.createQuery("SELECT p.partstrat || ' ' || a.attname"
                    + " FROM pg_partitioned_table AS p JOIN pg_attribute AS a ON a.attrelid = p.partrelid"
                    + " AND a.attnum = p.partattrs[0] WHERE p.partrelid = 'tq_event'::regclass").mapTo(String.class).one());
            assertEquals("r plan_month", strategy, "tq_event is partitioned by RANGE on plan_month");
            // built in January: December, January and February are there before any traffic
            assertEquals(expectedPartitions(JAN.minusMonths(1), JAN.plusMonths(1)), partitions(jdbi));
            assertEquals("FOR VALUES FROM ('2030-12') TO ('2030-13')", partitions(jdbi).get("tq_event_2030_12"));

            store.grant(PurchaseRequest.grant("tx-jan", "alice", 5_000, PurchaseType.PURCHASE, null));
            store.consume("alice", 100, null);
            store.consume("alice", 100, "keyed-jan");
            Reservation lateHold = store.reserve(HoldRequest.of("alice", 300).ttl(Duration.ofDays(2)).build())
                    .reservation();

            clock.advanceMonths(1, 1, 0);
            // February's first account sees to March's partition
            store.consume("alice", 10, null);
            store.consume("bob", 10, null);
            assertEquals(expectedPartitions(JAN.minusMonths(1), JAN.plusMonths(2)), partitions(jdbi));
            Reservation late = store.commit(lateHold.id(), 200);
            assertEquals(ReservationState.COMMITTED, late.state());
            assertEquals(JAN, late.month(), "a late finish is logged in its hold's month");

            clock.advanceMonths(1, 1, 0);
            store.setPlan("bob", 2_000);
            store.consume("bob", 10, null);
            assertEquals(expectedPartitions(JAN.minusMonths(1), JAN.plusMonths(3)), partitions(jdbi));

            Map<String, String> where = whereEventsAre(jdbi);
            assertEquals(List.of("2031-01", "2031-02", "2031-03"), List.copyOf(where.keySet()), where::toString);
            for (Map.Entry<String, String> month : where.entrySet()) {
                String table = EventPartitions.tableOf(YearMonth.parse(month.getKey()));
                assertTrue(month.getValue().startsWith(table + " x "), () -> "events of " + month.getKey()
                        + " are in " + month.getValue());
            }
            assertEquals(0, count(jdbi, "SELECT COUNT(*) FROM tq_event_default"));
            // each row, plus the RESERVED event the hold's finishing event records (no row of its own)
            assertEquals(count(jdbi, "SELECT COUNT(*) FROM tq_event WHERE plan_month = '2031-01'")
                            + count(jdbi, "SELECT COUNT(*) FROM tq_event WHERE plan_month = '2031-01'"
                            + " AND held_tokens IS NOT NULL"),
                    store.events("alice", JAN).size(), "the store reads January's events from its partition");
            // a key-less consume is found by its event id whichever partition holds it
            String keyless = store.consume("alice", 1, null).id();
            assertEquals(ReservationState.COMMITTED, store.reservation(keyless).orElseThrow().state());
        }
    }

    @Test
    void aHostThatRunsTheMigrationFileItselfGetsTheSamePartitions() throws IOException {
        try (TestDatabase db = TestDatabases.postgres()) {
            Jdbi jdbi = Jdbi.create(db.dataSource());
            // as Flyway would: every versioned file, in order
            String script = migrationFiles();
            // as Flyway would: the file's statements, nothing of the installer
            jdbi.useHandle(h -> SchemaInstaller.statements(script).forEach(h::execute));
            assertEquals(Map.of("tq_event_default", "DEFAULT"), partitions(jdbi));

            MutableClock clock = MutableClock.at(JAN, 10, 12);
            JdbiQuotaStore store = store(db, clock, false);
            assertEquals(expectedPartitions(JAN.minusMonths(1), JAN.plusMonths(1)), partitions(jdbi));
            store.consume("carol", 5, null);
            clock.advanceMonths(2, 1, 0);
            store.consume("carol", 5, null);
            assertEquals(expectedPartitions(JAN.minusMonths(1), JAN.plusMonths(3)), partitions(jdbi));
            assertEquals(Map.of("2031-01", "tq_event_2031_01 x 1", "2031-03", "tq_event_2031_03 x 1"),
                    whereEventsAre(jdbi));
        }
    }

    /**
     * A tq_event created as one table (an earlier schema, or a database without PARTITION OF): the store
     * finds it so in the catalog, creates no partitions, and retention deletes or moves rows.
     */
    @Test
    void anEventLogThatIsOneTableKeepsWorkingAndRetentionDeletesItsRows() throws IOException {
        try (TestDatabase db = TestDatabases.postgres()) {
            Jdbi jdbi = Jdbi.create(db.dataSource());
            // as Flyway would: every versioned file, in order
            String script = migrationFiles();
            jdbi.useHandle(h -> SchemaInstaller.statements(script).stream()
                    .filter(statement -> !statement.contains("PARTITION OF"))
                    .map(statement -> statement.replace(" PARTITION BY RANGE (plan_month)", ""))
                    .forEach(h::execute));
            MutableClock clock = MutableClock.at(JAN, 10, 12);
            JdbiQuotaStore store = JdbiQuotaStore.builder().dataSource(db.dataSource())
                    .policy(QuotaPolicy.builder().clock(clock).historyMonths(2).build()).build();
            for (int month = 0; month < 4; month++) {
                if (month > 0) {
                    clock.advanceMonths(1, 1, 0);
                }
                store.consume("fay", 5, null);
                store.commit(store.reserve("fay", 5, null).id(), 5);
            }
            assertEquals(Map.of(), partitions(jdbi));
            // in April, with two months of history: March and April stay
            assertEquals(List.of(JAN, JAN.plusMonths(1)), store.dropEventsPastHistory());
            clock.advanceMonths(1, 1, 0);
            assertEquals(List.of(JAN.plusMonths(2)), store.archiveEventsPastHistory());
            // a month's consume, and its hold's commit, which records the reserve (no RESERVED row)
            assertEquals(Map.of("2031-04", "tq_event x 2"), whereEventsAre(jdbi));
            assertEquals(2, count(jdbi, "SELECT COUNT(*) FROM tq_event_2031_03 WHERE plan_month = '2031-03'"));
        }
    }

    @Test
    void aDefaultPartitionAlreadyHoldingAMonthsEventsKeepsThemAndTheStoreKeepsWorking() {
        try (TestDatabase db = TestDatabases.postgres()) {
            Jdbi jdbi = Jdbi.create(db.dataSource());
            JdbiQuotaStore.installSchema(db.dataSource());
            // written while January had no partition (say, by a store that could not create it)
            jdbi.useHandle(h -> h.execute("INSERT INTO tq_event (subject, plan_month, kind, tokens, occurred_at)"
                    + " VALUES ('dave', '2031-01', 'CREDITED', 7, TIMESTAMPTZ '2031-01-02 00:00:00+00')"));

            MutableClock clock = MutableClock.at(JAN, 10, 12);
            JdbiQuotaStore store = store(db, clock, false);
            Map<String, String> expected = expectedPartitions(JAN.minusMonths(1), JAN.plusMonths(1));
            expected.remove("tq_event_2031_01");
            assertEquals(expected, partitions(jdbi), "January's partition cannot be created over its rows");

            store.consume("dave", 5, null);
            store.consume("erin", 5, null);
            assertEquals(Map.of("2031-01", "tq_event_default x 3"), whereEventsAre(jdbi));
            assertEquals(2, store.events("dave", JAN).size());

            clock.advanceMonths(1, 1, 0);
            store.consume("dave", 5, null);
            assertEquals("tq_event_2031_02 x 1", whereEventsAre(jdbi).get("2031-02"));
        }
    }

    /**
     * A month none of the instances has a partition for yet (both were built two months earlier):
     * threads of both instances first-touch it at once, on subjects of their own and on shared ones.
     * Every call succeeds, the month's partition exists once, and all its events are in it.
     */
    @Test
    void concurrentFirstTouchesOfANewMonthFromManyThreadsAndTwoInstancesAllSucceed() throws Exception {
        try (TestDatabase db = TestDatabases.postgres()) {
            Jdbi jdbi = Jdbi.create(db.dataSource());
            MutableClock clock = MutableClock.at(JAN, 20, 12);
            List<JdbiQuotaStore> stores = List.of(store(db, clock, true), store(db, clock, true));
            YearMonth march = JAN.plusMonths(2);
            assertTrue(!partitions(jdbi).containsKey(EventPartitions.tableOf(march)));
            clock.advanceMonths(2, 1, 0);

            int threads = 16;
            int subjectsEach = 5;
            CyclicBarrier start = new CyclicBarrier(threads);
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                List<Future<?>> done = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    JdbiQuotaStore store = stores.get(t % 2);
                    int thread = t;
                    done.add(pool.submit(() -> {
                        start.await();
                        for (int i = 0; i < subjectsEach; i++) {
                            store.consume("own-" + thread + "-" + i, 10, null);
                            // shared by the threads of both instances
                            store.consume("shared-" + i, 10, "k-" + thread + "-" + i);
                            store.commit(store.reserve("shared-" + (i + 1) % subjectsEach, 5, null).id(), 5);
                        }
                        return null;
                    }));
                }
                for (Future<?> f : done) {
                    f.get(2, TimeUnit.MINUTES);
                }
            } finally {
                pool.shutdownNow();
            }

            Map<String, String> partitions = partitions(jdbi);
            assertEquals(bounds(march), partitions.get(EventPartitions.tableOf(march)));
            assertEquals(bounds(march.plusMonths(1)), partitions.get(EventPartitions.tableOf(march.plusMonths(1))));
            // per thread and subject: the own consume, the keyed consume, and the commit of a hold (whose
            // reserve it records: a hold writes no event)
            long events = (long) threads * subjectsEach * 3;
            assertEquals(Map.of("2031-03", EventPartitions.tableOf(march) + " x " + events), whereEventsAre(jdbi));
            for (int i = 0; i < subjectsEach; i++) {
                assertEquals(threads * 15L, stores.get(0).account("shared-" + i).used(), "shared-" + i);
            }
        }
    }

    /** The dialect's migration files, V1 to V8 in order, as one script. */
    private String migrationFiles() throws IOException {
        StringBuilder all = new StringBuilder();
        for (String file : new String[] {"V1__token_quota.sql", "V2__event_usage.sql", "V3__teams.sql",
                "V4__hold_on_finish.sql", "V5__keys_nulls_distinct.sql", "V6__refund_absorbed.sql",
                "V7__refund_taken.sql", "V8__refund_lapsed.sql"}) {
            try (InputStream in = getClass().getResourceAsStream(Dialect.POSTGRESQL.schemaResource(file))) {
                all.append(new String(in.readAllBytes(), StandardCharsets.UTF_8)).append('\n');
            }
        }
        return all.toString();
    }
}

package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.EventKind;
import io.tokenquota.HoldRequest;
import io.tokenquota.LedgerEvent;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.testkit.MutableClock;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * What the contract suite cannot see from outside: the shape of the store's transactions (the
 * account row is changed by the last statement before COMMIT, or by the first part of a single
 * autocommit statement on PostgreSQL, never locked by a SELECT), the
 * bounded retry loop, connection failures, the schema installer, and that refused calls leave
 * every table byte-for-byte unchanged. On H2 and PostgreSQL.
 */
class StatementShapeAndFailureTest {
    private static final YearMonth MONTH = YearMonth.of(2030, 3);

    static Stream<Supplier<TestDatabase>> databases() {
        return TestDatabases.both();
    }

    private static JdbiQuotaStore store(RecordingDataSource ds, MutableClock clock, int maxRetries) {
        return JdbiQuotaStore.builder().dataSource(ds).installSchema(true).maxRetries(maxRetries)
                .policy(QuotaPolicy.builder().clock(clock).build()).build();
    }

    /** The statements between each BEGIN and COMMIT of the log, in compact form. */
    private static List<List<String>> transactions(List<String> log) {
        List<List<String>> transactions = new ArrayList<>();
        List<String> current = null;
        for (String entry : log) {
            if (entry.equals("BEGIN")) {
                current = new ArrayList<>();
            } else if (entry.equals("COMMIT") || entry.equals("ROLLBACK")) {
                if (current != null && entry.equals("COMMIT")) {
                    transactions.add(current);
                }
                current = null;
            } else if (current != null) {
                current.add(RecordingDataSource.shape(entry));
            }
        }
        return transactions;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void everyBalanceChangeEndsItsTransactionWithOneConditionalAccountUpdate(Supplier<TestDatabase> database) {
        try (TestDatabase db = database.get()) {
            RecordingDataSource ds = new RecordingDataSource(db.dataSource());
            MutableClock clock = MutableClock.at(MONTH, 10, 12);
            JdbiQuotaStore store = store(ds, clock, 5);
            store.account("shape");
            ds.clear();

            Reservation hold = store.reserve("shape", 1_000, "k1");
            store.commit(hold.id(), 900);
            Reservation other = store.reserve("shape", 500, null);
            store.release(other.id());
            store.consume("shape", 300, "k2");
            store.grant(PurchaseRequest.grant("tx-1", "shape", 700, PurchaseType.BONUS, "welcome"));
            store.refund("tx-1");
            store.setPlan("shape", 20_000);
            Reservation stale = store.reserve(HoldRequest.of("shape", 200).ttl(Duration.ofSeconds(5))
                    .build()).reservation();
            clock.advance(Duration.ofSeconds(5));
            assertEquals(1, store.expireStale());

            List<String> log = ds.log();
            List<List<String>> transactions = transactions(log);
            // a refund is rare and may take from several months, so it locks what it reads instead, and
            // checks on the rows it locked that its month is still the subject's latest
            List<String> refund = List.of("SELECT tq_purchase", "SELECT tq_account",
                    "UPDATE tq_account", "UPDATE tq_purchase", "INSERT tq_event");
            assertTrue(transactions.contains(refund), () -> "the refund locks, then writes: " + transactions);
            assertEquals(1, log.stream().filter(sql -> sql.toUpperCase(Locale.ROOT).contains("FOR UPDATE")
                    && sql.contains("tq_purchase")).count(), "only the refund locks rows with SELECT ... FOR UPDATE");
            assertEquals(2, log.stream().filter(sql -> sql.toUpperCase(Locale.ROOT).contains("FOR UPDATE")).count(),
                    "only the refund locks rows with SELECT ... FOR UPDATE (its purchase, then its accounts)");
            for (List<String> tx : transactions) {
                if (tx.equals(refund)) {
                    continue;
                }
                assertEquals("UPDATE tq_account", tx.get(tx.size() - 1),
                        () -> "the account update is the last statement before COMMIT: " + tx);
                assertEquals(1, tx.stream().filter(s -> s.endsWith("tq_account")).count(),
                        () -> "the account row is touched exactly once per transaction: " + tx);
            }
            List<String> oneStatement = log.stream().filter(sql -> sql.startsWith("WITH ")).toList();
            if (database.toString().equals("PostgreSQL")) {
                // reserve, commit, reserve, release, consume, reserve: one statement each, in autocommit
                assertEquals(6, oneStatement.size(), () -> "one statement per hold change: " + oneStatement);
                assertEquals(4, transactions.size(), () -> "grant, refund, setPlan, expiry: " + transactions);
                for (String sql : oneStatement) {
                    // a commit or release changes its hold first: updated if it has a key, else deleted
                    assertTrue(sql.startsWith("WITH account AS (UPDATE tq_account SET")
                                    && sql.contains("- used - reserved >= ?")
                                    || sql.startsWith("WITH kept AS (UPDATE tq_reservation SET")
                                    && sql.contains("WHERE id = ? AND state = 'HELD'")
                                    && sql.contains("dropped AS (DELETE FROM tq_reservation WHERE id = ? AND state = 'HELD'"),
                            () -> "starts with the conditional update the rest depends on: " + sql);
                    assertEquals(2, sql.split("UPDATE tq_account").length, () -> "one account update: " + sql);
                }
            } else {
                assertEquals(List.of(), oneStatement);
                assertEquals(10, transactions.size(), () -> "one transaction per balance change: " + transactions);
                // the hold's number drawn from the event log's sequence; no event: the finishing one records it
                assertEquals(List.of("SELECT", "INSERT tq_reservation", "UPDATE tq_account"),
                        transactions.get(0),
                        "reserve: its number, the reservation row (idempotency) first, then the conditional update");
                assertEquals(List.of("UPDATE tq_reservation", "SELECT", "INSERT tq_event", "UPDATE tq_account"),
                        transactions.get(1), "commit: the hold, the finishing event (its listed id drawn), the account");
            }
            assertEquals(stale.id(), store.reservation(stale.id()).orElseThrow().id());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void serializationFailuresAreRetriedAndCountedOnce(Supplier<TestDatabase> database) {
        try (TestDatabase db = database.get()) {
            RecordingDataSource ds = new RecordingDataSource(db.dataSource());
            JdbiQuotaStore store = store(ds, MutableClock.at(MONTH, 10, 12), 5);
            store.account("retry");
            // two serialization failures and one H2 lock timeout on the conditional update
            ds.failNext(2, "40001", sql -> sql.contains("UPDATE tq_account SET reserved"));
            Reservation hold = store.reserve("retry", 1_000, "key");
            ds.failNext(1, "40P01", sql -> sql.contains("UPDATE tq_account SET used"));
            store.commit(hold.id(), 1_000);

            QuotaAccount account = store.account("retry");
            assertEquals(1_000, account.used());
            assertEquals(0, account.reserved());
            List<LedgerEvent> events = store.events("retry", MONTH);
            assertEquals(List.of(EventKind.RESERVED, EventKind.COMMITTED), events.stream().map(LedgerEvent::kind).toList(),
                    "rolled-back attempts leave no events behind");
            assertEquals(1, count(db, "SELECT COUNT(*) FROM tq_reservation"));
        }
    }

    @Test
    void retriesAreBoundedAndEarlierFailuresAreSuppressed() {
        try (TestDatabase db = TestDatabases.h2()) {
            RecordingDataSource ds = new RecordingDataSource(db.dataSource());
            JdbiQuotaStore store = store(ds, MutableClock.at(MONTH, 10, 12), 2);
            store.account("bounded");
            List<String> before = dump(db);
            ds.failNext(10, "40001", sql -> sql.contains("UPDATE tq_account"));
            QuotaException e = assertThrows(QuotaException.class, () -> store.reserve("bounded", 10, null));
            assertEquals(ErrorCode.STORE_UNAVAILABLE, e.code());
            assertEquals(2, e.getSuppressed().length, "the two earlier attempts ride along as suppressed");
            assertTrue(e.getMessage().contains("gave up after 3 attempts"), e.getMessage());
            assertEquals(before, dump(db), "no attempt left anything behind");
        }
    }

    @Test
    void anH2LockTimeoutIsRetried() {
        try (TestDatabase db = TestDatabases.h2()) {
            RecordingDataSource ds = new RecordingDataSource(db.dataSource());
            JdbiQuotaStore store = store(ds, MutableClock.at(MONTH, 10, 12), 5);
            ds.failNextWithCode(1, "HYT00", 50200, sql -> sql.contains("UPDATE tq_account"));
            store.consume("locked", 100, null);
            assertEquals(100, store.account("locked").used());
        }
    }

    @Test
    void anUnreachableDatabaseIsStoreUnavailableNotAHang() {
        try (TestDatabase db = TestDatabases.h2()) {
            RecordingDataSource ds = new RecordingDataSource(db.dataSource());
            JdbiQuotaStore store = store(ds, MutableClock.at(MONTH, 10, 12), 5);
            ds.down(true);
            QuotaException e = assertThrows(QuotaException.class, () -> store.reserve("down", 10, null));
            assertEquals(ErrorCode.STORE_UNAVAILABLE, e.code());
            assertTrue(e.getMessage().contains("cannot reach the database"), e.getMessage());
            ds.down(false);
            assertEquals(10, store.reserve("down", 10, null).held(), "the store recovers with the database");
        }
    }

    @Test
    void buildingOnAnUnreachableUrlFailsFast() {
        long start = System.nanoTime();
        QuotaException e = assertThrows(QuotaException.class, () -> JdbiQuotaStore.builder()
                .jdbcUrl("jdbc:postgresql://127.0.0.1:9/nothing").credentials("nobody", "nothing").build());
        assertEquals(ErrorCode.STORE_UNAVAILABLE, e.code());
        assertTrue(Duration.ofNanos(System.nanoTime() - start).compareTo(Duration.ofSeconds(20)) < 0,
                "the pool's connection timeout bounds the wait");
    }

    @Test
    void closeClosesOnlyAPoolTheStoreBuilt() throws SQLException {
        try (TestDatabase db = TestDatabases.h2()) {
            JdbiQuotaStore hosted = JdbiQuotaStore.builder().dataSource(db.dataSource()).installSchema(true).build();
            hosted.account("host");
            hosted.close();
            try (Connection c = db.dataSource().getConnection()) {
                assertFalse(c.isClosed(), "the host's data source stays usable");
            }
            assertEquals(10_000, hosted.account("host").allocated(), "the store stays usable over the host's pool");

            JdbiQuotaStore owned = JdbiQuotaStore.builder().jdbcUrl(db.jdbcUrl()).credentials(db.user(), db.password())
                    .build();
            assertEquals(10_000, owned.account("host").allocated());
            owned.close();
            owned.close();
            assertEquals(ErrorCode.STORE_UNAVAILABLE,
                    assertThrows(QuotaException.class, () -> owned.account("host")).code());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void installingTheSchemaTwiceIsANoOp(Supplier<TestDatabase> database) {
        try (TestDatabase db = database.get()) {
            JdbiQuotaStore.installSchema(db.dataSource());
            JdbiQuotaStore store = JdbiQuotaStore.builder().dataSource(db.dataSource()).installSchema(true).build();
            store.consume("schema", 10, null);
            List<String> before = dump(db);
            JdbiQuotaStore.installSchema(db.dataSource());
            JdbiQuotaStore.builder().dataSource(db.dataSource()).installSchema(true).build();
            assertEquals(before, dump(db));
            assertEquals(SchemaInstaller.latestVersion(), count(db, "SELECT COUNT(*) FROM tq_schema_version"));
            assertEquals(10, store.account("schema").used());
        }
    }

    /** Several instances starting at once against an empty database (found by SeveralInstancesIT). */
    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void concurrentInstallersOnAnEmptyDatabaseAllSucceed(Supplier<TestDatabase> database) throws Exception {
        for (int attempt = 0; attempt < 3; attempt++) {
            try (TestDatabase db = database.get()) {
                int installers = 8;
                CyclicBarrier start = new CyclicBarrier(installers);
                ExecutorService pool = Executors.newFixedThreadPool(installers);
                try {
                    List<Future<?>> done = new ArrayList<>();
                    for (int i = 0; i < installers; i++) {
                        done.add(pool.submit(() -> {
                            start.await();
                            JdbiQuotaStore.installSchema(db.dataSource());
                            return null;
                        }));
                    }
                    for (Future<?> f : done) {
                        f.get(60, TimeUnit.SECONDS);
                    }
                } finally {
                    pool.shutdownNow();
                }
                assertEquals(SchemaInstaller.latestVersion(), count(db, "SELECT COUNT(*) FROM tq_schema_version"));
                JdbiQuotaStore store = JdbiQuotaStore.builder().dataSource(db.dataSource()).build();
                assertEquals(10, store.consume("installed", 10, null).charged());
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void refusedCallsLeaveEveryTableUnchanged(Supplier<TestDatabase> database) {
        try (TestDatabase db = database.get()) {
            RecordingDataSource ds = new RecordingDataSource(db.dataSource());
            JdbiQuotaStore store = store(ds, MutableClock.at(MONTH, 10, 12), 5);
            Reservation hold = store.reserve("alice", 1_000, "k");
            store.grant(PurchaseRequest.grant("tx-a", "alice", 500, PurchaseType.BONUS, null));
            List<String> before = dump(db);
            ds.clear();
            List<Executable> refused = List.of(
                    () -> store.reserve("", 10, null),
                    () -> store.reserve("bob\u0000", 10, null),
                    () -> store.reserve("x".repeat(129), 10, null),
                    () -> store.reserve("alice", 0, null),
                    () -> store.reserve("alice", -5, null),
                    () -> store.reserve("alice", Long.MAX_VALUE, null),
                    () -> store.reserve("alice", 10, "k\n"),
                    () -> store.reserve(HoldRequest.of("alice", 10).ttl(Duration.ZERO).build()).reservation(),
                    () -> store.consume(HoldRequest.of("alice", 10).endpoint("e".repeat(257)).build()),
                    () -> store.commit(hold.id(), -1),
                    () -> store.commit("", 10),
                    () -> store.setPlan("alice", -1),
                    () -> store.history("alice", 0),
                    () -> store.account("alice", MONTH.plusMonths(1)),
                    () -> store.events("alice", MONTH.minusYears(5)),
                    () -> store.topConsumers(MONTH, 0),
                    () -> store.dailyUsage("alice", MONTH.atEndOfMonth(), MONTH.atDay(1)),
                    () -> store.complete("\t"));
            for (Executable call : refused) {
                assertThrows(QuotaException.class, call);
            }
            assertEquals(List.of(), ds.log(), "bad input is refused before any SQL runs");
            assertEquals(before, dump(db));

            // refused by the ledger itself: it looks at the database but changes nothing
            List<Executable> conflicts = List.of(
                    () -> store.reserve("alice", 999, "k"),
                    () -> store.consume("alice", 1_000, "k"),
                    () -> store.commit("no-such-reservation", 10),
                    () -> store.complete("no-such-tx"),
                    () -> store.refund("no-such-tx"),
                    () -> store.grant(PurchaseRequest.grant("tx-a", "alice", 501, PurchaseType.BONUS, null)),
                    () -> store.setPlan("alice", QuotaPolicy.defaults().maxQuota() + 1));
            for (Executable call : conflicts) {
                assertThrows(QuotaException.class, call);
            }
            assertEquals(before, dump(db));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("databases")
    void sqlMetacharactersAreData(Supplier<TestDatabase> database) {
        try (TestDatabase db = database.get()) {
            JdbiQuotaStore store = store(new RecordingDataSource(db.dataSource()), MutableClock.at(MONTH, 10, 12), 5);
            String subject = "x'); DELETE FROM tq_account; --";
            String key = "k' OR '1'='1";
            Reservation r = store.reserve(HoldRequest.of(subject, 10).idempotencyKey(key)
                    .endpoint("/path?q=';DROP TABLE tq_event;--").build()).reservation();
            assertEquals(r, store.reserve(HoldRequest.of(subject, 10).idempotencyKey(key)
                    .endpoint("/path?q=';DROP TABLE tq_event;--").build()).reservation(),
                    "the key matched verbatim");
            assertEquals(subject, store.account(subject).subject());
            assertEquals(1, count(db, "SELECT COUNT(*) FROM tq_account"));
            // a hold writes its row and no event (its finishing event records the reserve)
            assertEquals(1, count(db, "SELECT COUNT(*) FROM tq_reservation"));
            assertEquals(0, count(db, "SELECT COUNT(*) FROM tq_event"));
        }
    }

    private static long count(TestDatabase db, String sql) {
        try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Every row of every ledger table as text, in a stable order. */
    private static List<String> dump(TestDatabase db) {
        List<String> rows = new ArrayList<>();
        String[][] tables = {{"tq_plan", "subject"}, {"tq_account", "subject, plan_month"}, {"tq_reservation", "id"},
                {"tq_purchase", "transaction_id"}, {"tq_event", "id"}};
        try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement()) {
            for (String[] table : tables) {
                try (ResultSet rs = s.executeQuery("SELECT * FROM " + table[0] + " ORDER BY " + table[1])) {
                    int columns = rs.getMetaData().getColumnCount();
                    while (rs.next()) {
                        StringBuilder row = new StringBuilder(table[0]);
                        for (int i = 1; i <= columns; i++) {
                            row.append('|').append(rs.getString(i));
                        }
                        rows.add(row.toString());
                    }
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
        return rows;
    }
}

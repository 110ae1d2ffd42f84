package io.tokenquota.jdbi.breakit4;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.testkit.MutableClock;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.YearMonth;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.jdbi.v3.core.Jdbi;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Event retention against schema version 4, where a finished key-less hold's record (PostgreSQL) and
 * every hold's reserve are event rows.
 */
class RetentionBreakIt4Test {
    private static final YearMonth JAN = YearMonth.of(2030, 1);

    private static JdbiQuotaStore store(DataSource ds, MutableClock clock) {
        return JdbiQuotaStore.builder().dataSource(ds).installSchema(true)
                .policy(QuotaPolicy.builder().clock(clock).defaultAllocation(1000).historyMonths(1).build()).build();
    }

    /**
     * Retention removes a month's events; on PostgreSQL a finished key-less hold's record is its
     * finishing event (its row was deleted at its commit), as a key-less consume's is. Once the month is
     * removed the hold is not found, and a commit or release retried that late is refused as not found:
     * it must charge nothing and change no balance (a retry after retention is never a second charge).
     */
    @Test
    void aKeylessHoldRetriedAfterItsMonthWasRemovedIsRefusedAndChargesNothing() {
        try (TestDatabase db = TestDatabases.postgres()) {
            MutableClock clock = MutableClock.at(JAN, 20, 12);
            JdbiQuotaStore store = store(db.dataSource(), clock);
            Reservation hold = store.reserve(HoldRequest.of("ret-user", 300).endpoint("/chat").build()).reservation();
            store.commit(hold.id(), 120);
            Reservation released = store.release(
                    store.reserve(HoldRequest.of("ret-user", 50).build()).reservation().id());
            clock.set(JAN.plusMonths(2).atDay(3).atStartOfDay(java.time.ZoneOffset.UTC).toInstant());
            store.account("ret-user");
            store.dropEventsPastHistory();
            QuotaAccount now = store.account("ret-user");

            assertEquals(Optional.empty(), store.reservation(hold.id()));
            assertEquals(ErrorCode.RESERVATION_NOT_FOUND,
                    assertThrows(QuotaException.class, () -> store.commit(hold.id(), 120)).code());
            assertEquals(ErrorCode.RESERVATION_NOT_FOUND,
                    assertThrows(QuotaException.class, () -> store.release(released.id())).code());
            assertEquals(now, store.account("ret-user"), "the current account is unchanged");
        }
    }

    /**
     * An archive table made before schema version 4 (a month detached, or a table created by
     * archiveEventsPastHistory, with the event log's columns of then) is still there when a late event of
     * that month arrives: "a later call adds rows to an archive table that is still there". V4 added four
     * columns to tq_event, and the archive moves rows with {@code INSERT INTO archive SELECT * FROM ...}: the
     * call fails on every run from then on, and the month's events are never removed.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("io.tokenquota.jdbi.testing.TestDatabases#both")
    void archiveStillWorksIntoAnArchiveTableMadeBeforeVersion4(Supplier<TestDatabase> database) throws Exception {
        try (TestDatabase db = database.get()) {
            DataSource ds = db.dataSource();
            String dialect = db.kind() == TestDatabase.Kind.H2 ? "h2" : "postgresql";
            for (int v = 1; v <= 3; v++) {
                applyRaw(ds, resource(dialect, v));
            }
            // the archive table the V3-era store made for January: the event log's columns of then
            run(ds, "CREATE TABLE tq_event_2030_01 AS SELECT * FROM tq_event WITH NO DATA");

            MutableClock clock = MutableClock.at(JAN.plusMonths(1), 10, 12);
            JdbiQuotaStore store = store(ds, clock);
            // a hold of January, still open, committed late: its event is January's
            clock.set(JAN.atDay(31).atTime(23, 0).toInstant(java.time.ZoneOffset.UTC));
            Reservation hold = store.reserve(HoldRequest.of("arch-user", 100).ttl(java.time.Duration.ofHours(6))
                    .build()).reservation();
            clock.set(JAN.plusMonths(1).atDay(1).atTime(1, 0).toInstant(java.time.ZoneOffset.UTC));
            store.account("arch-user");
            store.commit(hold.id(), 60);

            List<YearMonth> archived = store.archiveEventsPastHistory();
            assertEquals(List.of(JAN), archived);
            long moved = Jdbi.create(ds).withHandle(h -> h.createQuery(
                    "SELECT COUNT(*) FROM tq_event_2030_01").mapTo(Long.class).one());
            assertEquals(1, moved, "January's late commit is in its archive table");
        }
    }

    private static String resource(String dialect, int version) throws IOException {
        String dir = "io/tokenquota/jdbi/schema/" + dialect + "/";
        String name = switch (version) {
            case 1 -> "V1__token_quota.sql";
            case 2 -> "V2__event_usage.sql";
            default -> "V3__teams.sql";
        };
        try (InputStream in = RetentionBreakIt4Test.class.getClassLoader().getResourceAsStream(dir + name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static void run(DataSource ds, String sql) throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    /** As SchemaUpgradeTest applies a migration file: statement by statement, comments dropped. */
    private static void applyRaw(DataSource ds, String sql) throws SQLException {
        StringBuilder clean = new StringBuilder();
        for (String line : sql.split("\n")) {
            if (!line.trim().startsWith("--")) {
                clean.append(line).append('\n');
            }
        }
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            for (String statement : clean.toString().split(";")) {
                if (!statement.isBlank()) {
                    s.execute(statement);
                }
            }
        }
    }
}

package io.tokenquota.jdbi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.PurchaseRequest;
import io.tokenquota.PurchaseType;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.testing.TestDatabase;
import io.tokenquota.jdbi.testing.TestDatabases;
import io.tokenquota.testkit.MutableClock;
import java.io.PrintWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.Statement;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;
import java.util.logging.Logger;
import java.util.stream.Stream;
import javax.sql.DataSource;
import org.jdbi.v3.core.Jdbi;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A host pool configured with {@code autoCommit=false} (Spring's common setting) and/or an isolation
 * level above READ COMMITTED: every write the store reports is in the database afterwards, seen from
 * a fresh connection of another pool, and every connection goes back to the host's pool with the
 * settings it came with. Real HikariCP pools on H2 and PostgreSQL, given to the store as a
 * {@code DataSource} and as a host {@code Jdbi}.
 */
class HostPoolTest {
    private static final YearMonth MONTH = YearMonth.of(2031, 5);

    static Stream<Arguments> pools() {
        List<Arguments> pools = new ArrayList<>();
        for (String database : List.of("H2", "PostgreSQL")) {
            for (String isolation : List.of("TRANSACTION_READ_COMMITTED", "TRANSACTION_SERIALIZABLE",
                    "TRANSACTION_REPEATABLE_READ")) {
                for (String via : List.of("dataSource", "jdbi")) {
                    pools.add(Arguments.of(database, isolation, via));
                }
            }
        }
        return pools.stream();
    }

    @ParameterizedTest(name = "{0} autoCommit=false {1} via {2}")
    @MethodSource("pools")
    void everyReportedWriteIsCommittedAndTheConnectionsComeBackAsTheyWere(String database, String isolation,
                                                                          String via) throws Exception {
        Supplier<TestDatabase> factory = database.equals("H2") ? TestDatabases::h2 : TestDatabases::postgres;
        try (TestDatabase db = factory.get(); HikariDataSource host = hostPool(db, isolation)) {
            int expectedIsolation = (int) Connection.class.getField(isolation).get(null);
            ReturnedSettings pool = new ReturnedSettings(host);
            QuotaPolicy policy = QuotaPolicy.builder().clock(MutableClock.at(MONTH, 10, 12)).build();
            JdbiQuotaStore.Builder builder = JdbiQuotaStore.builder().policy(policy).installSchema(true);
            JdbiQuotaStore store = (via.equals("jdbi") ? builder.jdbi(Jdbi.create(pool)) : builder.dataSource(pool))
                    .build();
            List<LedgerEvent> heard = new CopyOnWriteArrayList<>();
            store.addListener(heard::add);

            store.grant(PurchaseRequest.grant("tx-1", "host", 1_000, PurchaseType.PURCHASE, null));
            store.consume("host", 300, "c-1");
            Reservation hold = store.reserve("host", 500, "r-1");
            store.commit(hold.id(), 400);
            store.grant(PurchaseRequest.grant("tx-2", "host", 200, PurchaseType.BONUS, null));
            store.refund("tx-2");

            // seen from another pool's fresh connection: nothing was rolled back behind the store's back
            assertEquals(List.of("10000|1000|0|700|0"), rows(db,
                    "SELECT allocated, granted, carried, used, reserved FROM tq_account WHERE subject = 'host'"));
            assertEquals(List.of("tx-1|completed", "tx-2|refunded"), rows(db,
                    "SELECT transaction_id, status FROM tq_purchase ORDER BY transaction_id"));
            assertEquals(List.of("COMMITTED|300", "COMMITTED|400"), rows(db,
                    "SELECT state, charged FROM tq_reservation ORDER BY charged"));
            // the log as listed: each row under its listed id, and the RESERVED event a hold's finishing
            // event records, under the hold's number (its own id)
            List<String> logged = rows(db, "SELECT listed, kind FROM (SELECT COALESCE(logged_id, id) AS listed,"
                    + " CAST(kind AS VARCHAR(20)) AS kind FROM tq_event UNION ALL SELECT id, 'RESERVED' FROM tq_event"
                    + " WHERE held_tokens IS NOT NULL) AS l ORDER BY listed");
            List<String> told = heard.stream().filter(e -> e.kind().logged()).map(e -> e.id() + "|" + e.kind()).toList();
            assertEquals(logged, told, "listeners heard exactly what the log holds, with its ids");
            assertEquals(List.of(EventKind.CREDITED, EventKind.COMMITTED, EventKind.RESERVED, EventKind.COMMITTED,
                    EventKind.CREDITED, EventKind.DEBITED), heard.stream().map(LedgerEvent::kind)
                    .filter(EventKind::logged).toList());

            assertFalse(pool.returned.isEmpty());
            for (String settings : pool.returned) {
                assertEquals("autoCommit=false isolation=" + expectedIsolation, settings,
                        "the connection went back to the host's pool as it came");
            }
        }
    }

    private static HikariDataSource hostPool(TestDatabase db, String isolation) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(db.jdbcUrl());
        config.setUsername(db.user());
        config.setPassword(db.password());
        config.setMaximumPoolSize(3);
        config.setAutoCommit(false);
        config.setTransactionIsolation(isolation);
        config.setPoolName("host-" + db.name());
        return new HikariDataSource(config);
    }

    private static List<String> rows(TestDatabase db, String sql) throws SQLException {
        List<String> rows = new ArrayList<>();
        try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery(sql)) {
            int columns = rs.getMetaData().getColumnCount();
            while (rs.next()) {
                StringBuilder row = new StringBuilder();
                for (int i = 1; i <= columns; i++) {
                    row.append(i > 1 ? "|" : "").append(rs.getString(i).trim());
                }
                rows.add(row.toString());
            }
        }
        return rows;
    }

    /**
     * The host's pool as the store sees it, noting each connection's autocommit and isolation at the
     * moment it is given back (before HikariCP's own reset could hide what the store left behind).
     */
    private static final class ReturnedSettings implements DataSource {
        private final DataSource target;
        final List<String> returned = new CopyOnWriteArrayList<>();

        ReturnedSettings(DataSource target) {
            this.target = target;
        }

        @Override
        public Connection getConnection() throws SQLException {
            Connection connection = target.getConnection();
            return (Connection) Proxy.newProxyInstance(Connection.class.getClassLoader(),
                    new Class<?>[] {Connection.class}, (proxy, method, args) -> {
                        if (method.getName().equals("close") && !connection.isClosed()) {
                            returned.add("autoCommit=" + connection.getAutoCommit() + " isolation="
                                    + connection.getTransactionIsolation());
                        }
                        try {
                            return method.invoke(connection, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
        }

        @Override
        public Connection getConnection(String username, String password) throws SQLException {
            throw new SQLFeatureNotSupportedException();
        }

        @Override
        public PrintWriter getLogWriter() throws SQLException {
            return target.getLogWriter();
        }

        @Override
        public void setLogWriter(PrintWriter out) throws SQLException {
            target.setLogWriter(out);
        }

        @Override
        public void setLoginTimeout(int seconds) throws SQLException {
            target.setLoginTimeout(seconds);
        }

        @Override
        public int getLoginTimeout() throws SQLException {
            return target.getLoginTimeout();
        }

        @Override
        public Logger getParentLogger() throws SQLFeatureNotSupportedException {
            return target.getParentLogger();
        }

        @Override
        public <T> T unwrap(Class<T> iface) throws SQLException {
            return target.unwrap(iface);
        }

        @Override
        public boolean isWrapperFor(Class<?> iface) throws SQLException {
            return target.isWrapperFor(iface);
        }
    }
}

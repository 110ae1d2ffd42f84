package io.tokenquota.jdbi.faults;

import io.tokenquota.EventKind;
import io.tokenquota.LedgerEvent;
import io.tokenquota.Purchase;
import io.tokenquota.PurchaseStatus;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.ReservationState;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.math.BigDecimal;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.OffsetDateTime;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.sql.DataSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 6, case 6: schema safety. The migration files apply on an empty database, re-running the
 * installer is harmless (same schema, same data), and a database left at any earlier schema
 * version (applied by hand from the versioned files, as Flyway would have) is brought to the
 * latest version by the installer without losing a row. On H2 and PostgreSQL.
 *
 * <p>With only {@code V1} shipped, the "earlier version" loop covers V1 itself: a database created
 * from the V1 file by another tool (Flyway, a DBA) and holding data must be accepted by the
 * installer unchanged. Each later {@code V<n>__*.sql} file is picked up automatically.
 */
class SchemaUpgradeTest {
    private static final String SCHEMA_ROOT = "io/tokenquota/jdbi/schema/";
    private static final Pattern VERSIONED = Pattern.compile("V(\\d+)__.+\\.sql");
    /**
     * The event log's monthly partitions (PostgreSQL), which a store creates at run time for the months
     * around its clock: like rows, they are not part of what a migration installs.
     */
    private static final Pattern MONTH_PARTITION = Pattern.compile("tq_event_\\d{4}_\\d{2}");
    private static final String LEGACY_USER = "legacy-user";
    private static final String HELD_ID = "11111111-1111-4111-8111-111111111111";
    private static final String COMMITTED_ID = "22222222-2222-4222-8222-222222222222";
    private static final String LEGACY_TX = "legacy-tx-0001";

    private static EmbeddedPostgres postgres;

    @BeforeAll
    static void startPostgres() throws IOException {
        postgres = EmbeddedPostgres.builder().setServerConfig("fsync", "off").start();
    }

    @AfterAll
    static void stopPostgres() throws IOException {
        if (postgres != null) {
            postgres.close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void installerOnEmptyDatabaseIsIdempotent(String dialect) throws Exception {
        DataSource ds = emptyDatabase(dialect);
        JdbiQuotaStore.installSchema(ds);
        List<String> once = schemaOf(ds);
        assertFalse(once.isEmpty(), "the installer created no table");
        assertTrue(once.stream().anyMatch(c -> c.startsWith("tq_event.")), () -> "no event log table: " + once);

        try (JdbiQuotaStore store = store(ds)) {
            Reservation hold = store.reserve("schema-user", 700, "schema-key");
            store.commit(hold.id(), 650);
        }
        List<String> dataBefore = dataOf(ds);
        JdbiQuotaStore.installSchema(ds);
        JdbiQuotaStore.installSchema(ds);
        assertEquals(once, schemaOf(ds), "re-running the installer changed the schema");
        assertEquals(dataBefore, dataOf(ds), "re-running the installer changed the data");
        try (JdbiQuotaStore store = store(ds)) {
            assertEquals(650, store.account("schema-user").used());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void everyEarlierVersionUpgradesWithoutDataLoss(String dialect) throws Exception {
        TreeMap<Integer, String> versions = migrationFiles(dialect);
        assertFalse(versions.isEmpty(), "no V<n>__*.sql files for " + dialect);
        assertEquals(1, versions.firstKey().intValue(), "versions start at V1");
        DataSource reference = emptyDatabase(dialect);
        JdbiQuotaStore.installSchema(reference);
        List<String> latest = schemaOf(reference);

        for (int upTo : versions.keySet()) {
            DataSource ds = emptyDatabase(dialect);
            // the database as another tool left it at version `upTo`: the raw files, in order
            for (String sql : versions.headMap(upTo, true).values()) {
                applyRaw(ds, sql);
            }
            YearMonth month = YearMonth.now(ZoneOffset.UTC);
            insertV1Data(ds, month);
            List<String> dataBefore = dataOf(ds);

            JdbiQuotaStore.installSchema(ds);

            assertEquals(latest, schemaOf(ds), "V" + upTo + " + installer must equal a fresh install");
            List<String> dataAfter = dataOf(ds);
            for (String row : dataBefore) {
                // a later version may add columns: the old row's columns must all be there, unchanged
                List<String> cells = List.of(row.split(";"));
                assertTrue(dataAfter.stream().anyMatch(r -> List.of(r.split(";")).containsAll(cells)),
                        () -> "row lost or changed by the upgrade from V" + upTo + ": " + row);
            }
            try (JdbiQuotaStore store = store(ds)) {
                QuotaAccount account = store.account(LEGACY_USER, month).orElseThrow();
                assertEquals(10_000, account.allocated());
                assertEquals(500, account.granted());
                assertEquals(1_200, account.used());
                assertEquals(300, account.reserved());
                Reservation held = store.reservation(HELD_ID).orElseThrow();
                assertEquals(ReservationState.HELD, held.state());
                assertEquals("legacy-key-1", held.idempotencyKey());
                assertEquals(ReservationState.COMMITTED, store.reservation(COMMITTED_ID).orElseThrow().state());
                Purchase purchase = store.purchase(LEGACY_TX).orElseThrow();
                assertEquals(PurchaseStatus.COMPLETED, purchase.status());
                assertEquals(new BigDecimal("4900.00"), purchase.amount());
                assertEquals(4, store.events(LEGACY_USER, month).size());
                // and the upgraded books keep working: the legacy hold can be charged
                store.commit(HELD_ID, 250);
                QuotaAccount after = store.account(LEGACY_USER, month).orElseThrow();
                assertEquals(1_450, after.used());
                assertEquals(0, after.reserved());
                assertEquals(5, store.events(LEGACY_USER, month).size());
            }
        }
    }

    /**
     * Schema version 4 stops writing RESERVED rows (a hold's finishing event records its reserve). A
     * database at version 3 holds RESERVED rows, and holds still open under UUID ids: after the upgrade
     * the log reads the same events, ids included, and finishing those holds logs plain events, so no
     * RESERVED event is listed twice; a hold reserved after the upgrade is listed as before.
     */
    @ParameterizedTest
    @ValueSource(strings = {"h2", "postgresql"})
    void theLogOfAVersion3DatabaseReadsTheSameAfterTheUpgrade(String dialect) throws Exception {
        TreeMap<Integer, String> versions = migrationFiles(dialect);
        DataSource ds = emptyDatabase(dialect);
        for (String sql : versions.headMap(3, true).values()) {
            applyRaw(ds, sql);
        }
        YearMonth month = YearMonth.now(ZoneOffset.UTC);
        insertV1Data(ds, month);
        // a key-less hold still open at the upgrade, of another user
        String keyless = "33333333-3333-4333-8333-333333333333";
        String other = "legacy-user-2";
        OffsetDateTime now = OffsetDateTime.now(ZoneOffset.UTC).truncatedTo(ChronoUnit.MILLIS);
        try (Connection c = ds.getConnection()) {
            update(c, "INSERT INTO tq_account (subject, plan_month, allocated, granted, carried, used, reserved, created_at,"
                    + " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", other, month.toString(), 10_000L, 0L, 0L, 0L, 40L,
                    now, now);
            update(c, "INSERT INTO tq_reservation (id, subject, plan_month, held, state, charged, actual, overage,"
                    + " idempotency_key, endpoint, is_consume, created_at, expires_at, finished_at)"
                    + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", keyless, other, month.toString(), 40L, "HELD",
                    0L, null, 0L, null, "/legacy", false, now, now.plusHours(1), null);
            update(c, "INSERT INTO tq_event (subject, plan_month, kind, tokens, overage, reservation_id, transaction_id,"
                    + " detail, is_consume, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", other, month.toString(),
                    "RESERVED", 40L, 0L, keyless, null, "/legacy", false, now);
        }
        Map<String, List<String>> before = new java.util.HashMap<>();
        for (String subject : List.of(LEGACY_USER, other)) {
            before.put(subject, logRows(ds, subject));
        }

        JdbiQuotaStore.installSchema(ds);

        try (JdbiQuotaStore store = store(ds)) {
            for (String subject : List.of(LEGACY_USER, other)) {
                assertEquals(before.get(subject), listed(store.events(subject, month)), "the log of " + subject);
            }
            store.commit(HELD_ID, 250);
            store.release(keyless);
            assertEquals(ReservationState.RELEASED, store.reservation(keyless).orElseThrow().state(),
                    "a hold reserved before the upgrade keeps its row");
            Reservation fresh = store.reserve(other, 60, null);
            store.commit(fresh.id(), 60);
            List<LedgerEvent> mine = store.events(LEGACY_USER, month);
            List<LedgerEvent> theirs = store.events(other, month);
            assertEquals(List.of(EventKind.RESERVED, EventKind.COMMITTED, EventKind.CREDITED, EventKind.RESERVED,
                    EventKind.COMMITTED), mine.stream().map(LedgerEvent::kind).toList());
            assertEquals(List.of(EventKind.RESERVED, EventKind.RELEASED, EventKind.RESERVED, EventKind.COMMITTED),
                    theirs.stream().map(LedgerEvent::kind).toList());
            assertEquals(before.get(LEGACY_USER), listed(mine.subList(0, 4)), "old rows read as before");
            assertEquals(List.of(keyless, keyless, fresh.id(), fresh.id()),
                    theirs.stream().map(LedgerEvent::reservationId).toList());
            java.util.Set<Long> ids = new java.util.HashSet<>();
            for (List<LedgerEvent> log : List.of(mine, theirs)) {
                for (int i = 0; i < log.size(); i++) {
                    assertTrue(ids.add(log.get(i).id()), "unique ids: " + log);
                    assertTrue(i == 0 || log.get(i - 1).id() < log.get(i).id(), "oldest first: " + log);
                }
            }
            assertEquals(0, store.openHolds());
            assertEquals(4, store.blockStats(other, month).granted() + store.blockStats(LEGACY_USER, month).granted());
        }
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM tq_event WHERE held_tokens IS NOT NULL")) {
            rs.next();
            assertEquals(1, rs.getLong(1), "only the hold reserved after the upgrade has its reserve on its finish");
        }
    }

    /** A subject's event rows as a version 3 store listed them: id, kind, tokens, hold or purchase. */
    private static List<String> logRows(DataSource ds, String subject) throws SQLException {
        List<String> rows = new ArrayList<>();
        try (Connection c = ds.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT id, kind, tokens, reservation_id, transaction_id"
                     + " FROM tq_event WHERE subject = ? ORDER BY id")) {
            ps.setString(1, subject);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    rows.add(rs.getLong(1) + " " + rs.getString(2) + " " + rs.getLong(3) + " " + rs.getString(4) + " "
                            + rs.getString(5));
                }
            }
        }
        return rows;
    }

    private static List<String> listed(List<LedgerEvent> events) {
        return events.stream().map(e -> e.id() + " " + e.kind() + " " + e.tokens() + " " + e.reservationId() + " "
                + e.transactionId()).toList();
    }

    private static JdbiQuotaStore store(DataSource ds) {
        return JdbiQuotaStore.builder().dataSource(ds).policy(QuotaPolicy.defaults()).installSchema(false).build();
    }

    private static DataSource emptyDatabase(String dialect) throws SQLException {
        String name = "schema_" + UUID.randomUUID().toString().replace("-", "");
        if (dialect.equals("h2")) {
            JdbcDataSource h2 = new JdbcDataSource();
            h2.setURL("jdbc:h2:mem:" + name + ";DB_CLOSE_DELAY=-1");
            h2.setUser("sa");
            h2.setPassword("");
            return h2;
        }
        try (Connection c = postgres.getPostgresDatabase().getConnection(); Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE " + name);
        }
        return postgres.getDatabase("postgres", name);
    }

    /** The versioned files of a dialect, by version number. */
    private static TreeMap<Integer, String> migrationFiles(String dialect) throws IOException, URISyntaxException {
        URL dir = SchemaUpgradeTest.class.getClassLoader().getResource(SCHEMA_ROOT + dialect);
        assertTrue(dir != null && dir.getProtocol().equals("file"), () -> "schema directory not on the class path: " + dir);
        TreeMap<Integer, String> versions = new TreeMap<>();
        try (Stream<Path> files = Files.list(Path.of(dir.toURI()))) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Matcher m = VERSIONED.matcher(f.getFileName().toString());
                if (m.matches()) {
                    String previous = versions.put(Integer.parseInt(m.group(1)), Files.readString(f, StandardCharsets.UTF_8));
                    assertEquals(null, previous, "two files for version " + m.group(1));
                }
            }
        }
        return versions;
    }

    /** Runs a migration file as a plain SQL tool would: statement by statement, comments dropped. */
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

    /** Rows written with the V1 columns only, as a V1-era service would have left them. */
    private static void insertV1Data(DataSource ds, YearMonth month) throws SQLException {
        OffsetDateTime now = OffsetDateTime.now(ZoneOffset.UTC).truncatedTo(ChronoUnit.MILLIS);
        String m = month.toString();
        try (Connection c = ds.getConnection()) {
            update(c, "INSERT INTO tq_plan (subject, allocated, updated_at) VALUES (?, ?, ?)", "planned-user", 20_000L, now);
            update(c, "INSERT INTO tq_account (subject, plan_month, allocated, granted, carried, used, reserved, created_at, updated_at)"
                    + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", LEGACY_USER, m, 10_000L, 500L, 0L, 1_200L, 300L, now, now);
            String reservation = "INSERT INTO tq_reservation (id, subject, plan_month, held, state, charged, actual, overage,"
                    + " idempotency_key, endpoint, is_consume, created_at, expires_at, finished_at)"
                    + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
            update(c, reservation, COMMITTED_ID, LEGACY_USER, m, 1_200L, "COMMITTED", 1_200L, 1_200L, 0L, "legacy-key-0",
                    "/api/v1/ai/chat/completions", false, now, now.plusMinutes(5), now);
            update(c, reservation, HELD_ID, LEGACY_USER, m, 300L, "HELD", 0L, null, 0L, "legacy-key-1",
                    "/api/v1/ai/chat/completions", false, now, now.plusHours(1), null);
            update(c, "INSERT INTO tq_purchase (transaction_id, subject, tokens, purchase_type, status, payment_method, amount,"
                    + " currency, reason, plan_month, unrecovered, created_at, processed_at)"
                    + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    LEGACY_TX, LEGACY_USER, 500L, "purchase", "completed", "card", new BigDecimal("4900.00"), "KRW",
                    "bought before the upgrade", m, 0L, now, now);
            String event = "INSERT INTO tq_event (subject, plan_month, kind, tokens, overage, reservation_id, transaction_id,"
                    + " detail, is_consume, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
            update(c, event, LEGACY_USER, m, "RESERVED", 1_200L, 0L, COMMITTED_ID, null, "/api/v1/ai/chat/completions", false, now);
            update(c, event, LEGACY_USER, m, "COMMITTED", 1_200L, 0L, COMMITTED_ID, null, "/api/v1/ai/chat/completions", false, now);
            update(c, event, LEGACY_USER, m, "CREDITED", 500L, 0L, null, LEGACY_TX, "bought before the upgrade", false, now);
            update(c, event, LEGACY_USER, m, "RESERVED", 300L, 0L, HELD_ID, null, "/api/v1/ai/chat/completions", false, now);
        }
    }

    private static void update(Connection c, String sql, Object... args) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setObject(i + 1, args[i]);
            }
            assertEquals(1, ps.executeUpdate());
        }
    }

    /** Tables and columns with their types and nullability, plus indexes, as sorted text (no monthly partitions). */
    private static List<String> schemaOf(DataSource ds) throws SQLException {
        List<String> out = new ArrayList<>();
        try (Connection c = ds.getConnection()) {
            var meta = c.getMetaData();
            try (ResultSet rs = meta.getColumns(null, null, "%", "%")) {
                while (rs.next()) {
                    String table = rs.getString("TABLE_NAME").toLowerCase(Locale.ROOT);
                    String schema = String.valueOf(rs.getString("TABLE_SCHEM")).toLowerCase(Locale.ROOT);
                    if (table.startsWith("tq_") && !schema.equals("information_schema") && !schema.equals("pg_catalog")
                            && !MONTH_PARTITION.matcher(table).matches()) {
                        out.add(table + "." + rs.getString("COLUMN_NAME").toLowerCase(Locale.ROOT) + " "
                                + rs.getString("TYPE_NAME").toLowerCase(Locale.ROOT) + "(" + rs.getInt("COLUMN_SIZE") + ")"
                                + (rs.getInt("NULLABLE") == java.sql.DatabaseMetaData.columnNullable ? " null" : " not null"));
                    }
                }
            }
            for (String table : tables(c)) {
                if (MONTH_PARTITION.matcher(table.toLowerCase(Locale.ROOT)).matches()) {
                    continue;
                }
                try (ResultSet rs = meta.getIndexInfo(null, null, table, false, false)) {
                    while (rs.next()) {
                        String index = rs.getString("INDEX_NAME");
                        if (index != null) {
                            // H2 names a primary key's index by a counter (primary_key_d), and an ALTER TABLE
                            // that rebuilds the table takes the next one: the name says nothing about the schema
                            String name = index.toLowerCase(Locale.ROOT).replaceFirst("^primary_key_[0-9a-f]+$",
                                    "primary_key");
                            out.add("index " + table.toLowerCase(Locale.ROOT) + "." + name
                                    + " on " + String.valueOf(rs.getString("COLUMN_NAME")).toLowerCase(Locale.ROOT));
                        }
                    }
                }
            }
        }
        out.sort(null);
        return out;
    }

    private static List<String> tables(Connection c) throws SQLException {
        List<String> tables = new ArrayList<>();
        try (ResultSet rs = c.getMetaData().getTables(null, null, "%", new String[] {"TABLE"})) {
            while (rs.next()) {
                String name = rs.getString("TABLE_NAME");
                if (name.toLowerCase(Locale.ROOT).startsWith("tq_")) {
                    tables.add(name);
                }
            }
        }
        return tables;
    }

    /** Every row of every tq_ table, as sorted text (the version bookkeeping table excluded). */
    private static List<String> dataOf(DataSource ds) throws SQLException {
        List<String> rows = new ArrayList<>();
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            for (String table : tables(c)) {
                if (table.toLowerCase(Locale.ROOT).contains("schema") || table.toLowerCase(Locale.ROOT).contains("version")) {
                    continue;
                }
                try (ResultSet rs = s.executeQuery("SELECT * FROM " + table)) {
                    int n = rs.getMetaData().getColumnCount();
                    while (rs.next()) {
                        StringBuilder row = new StringBuilder(table.toLowerCase(Locale.ROOT)).append(';');
                        for (int i = 1; i <= n; i++) {
                            row.append(rs.getMetaData().getColumnName(i).toLowerCase(Locale.ROOT)).append('=')
                                    .append(rs.getObject(i)).append(';');
                        }
                        rows.add(row.toString());
                    }
                }
            }
        }
        rows.sort(null);
        return rows;
    }
}

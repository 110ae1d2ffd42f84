package io.tokenquota.examples.bench;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.OffsetDateTime;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.UUID;

/**
 * Hand-written JDBC designs over the library's own tables ({@code tq_account}, {@code tq_reservation},
 * {@code tq_event}, from quota-jdbi's schema files), each writing the same rows per operation as the
 * ledger: the balance change, one reservation row, one event row. They differ only in how they
 * check the balance:
 * <ul>
 *   <li>{@link #ceiling}: the statements our ledger runs in the common case, with no library in
 *       between: on PostgreSQL one statement per change in autocommit, on H2 a transaction ending with
 *       the conditional {@code UPDATE ... WHERE available >= n};</li>
 *   <li>{@link #transaction}: the same conditional {@code UPDATE} as the last of four statements
 *       (insert, insert, update, COMMIT): what the one-statement form saves on PostgreSQL;</li>
 *   <li>{@link #naive}: the original Python/FastAPI service's design: read the balance, then update it,
 *       in separate steps;</li>
 *   <li>{@link #forUpdate}: {@code SELECT ... FOR UPDATE}, check in Java, {@code UPDATE}, as
 *       Bucket4j's JDBC backends do.</li>
 * </ul>
 * All run at READ COMMITTED. Thread-safe.
 */
final class JdbcDesigns {
    /** The name of the original Python/FastAPI service's design in every table. */
    static final String NAIVE = "naive read-then-write (original service)";

    static final String AVAILABLE = "allocated + granted + carried - used - reserved";

    static final String INSERT_RESERVATION = "INSERT INTO tq_reservation (id, subject, plan_month, held, state,"
            + " charged, actual, overage, idempotency_key, endpoint, is_consume, created_at, expires_at, finished_at)"
            + " VALUES (?, ?, ?, ?, ?, ?, ?, 0, NULL, NULL, ?, ?, ?, ?)";
    static final String INSERT_EVENT = "INSERT INTO tq_event (subject, plan_month, kind, tokens, overage,"
            + " reservation_id, is_consume, occurred_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?)";
    /** A reserve or consume goes ahead only if the subject has no hold past its TTL (the ledger's lazy expiry). */
    static final String NO_STALE_HOLD = " AND NOT EXISTS (SELECT 1 FROM tq_reservation AS stale"
            + " WHERE stale.subject = ? AND stale.finished_at IS NULL AND stale.expires_at <= ?)";
    static final String HOLD = "UPDATE tq_account SET reserved = reserved + ?, updated_at = ?"
            + " WHERE subject = ? AND plan_month = ? AND " + AVAILABLE + " >= ?";
    static final String CHARGE_CHECKED = "UPDATE tq_account SET used = used + ?, updated_at = ?"
            + " WHERE subject = ? AND plan_month = ? AND " + AVAILABLE + " >= ?";
    static final String ACCOUNT_COLUMNS =
            "subject, plan_month, allocated, granted, carried, used, reserved, created_at, updated_at";
    static final String RESERVATION_COLUMNS = "id, subject, plan_month, held, state, charged, actual, overage,"
            + " idempotency_key, endpoint, is_consume, created_at, expires_at, finished_at";

    /**
     * PostgreSQL's reserve or consume as one statement: the hold and its event are inserted from the row the
     * account's conditional update returns. Parameters: the update's 7 (as {@link #HOLD} + stale check),
     * then id, held, state, charged, actual, is_consume, created, expires, finished; then kind, tokens,
     * reservation id, is_consume, occurred.
     */
    static String takeInOneStatement(String accountUpdate) {
        return "WITH account AS (" + accountUpdate + NO_STALE_HOLD + " RETURNING " + ACCOUNT_COLUMNS + "),"
                + " hold AS (INSERT INTO tq_reservation (" + RESERVATION_COLUMNS + ") SELECT ?, subject, plan_month,"
                + " ?, ?, ?, CAST(? AS BIGINT), 0, NULL, NULL, ?, ?, ?, CAST(? AS TIMESTAMPTZ) FROM account),"
                + " event AS (INSERT INTO tq_event (subject, plan_month, kind, tokens, overage, reservation_id,"
                + " transaction_id, detail, is_consume, occurred_at) SELECT subject, plan_month, ?, ?, 0, ?,"
                + " NULL, NULL, ?, ? FROM account RETURNING id)"
                + " SELECT " + ACCOUNT_COLUMNS + ", event.id AS event_id FROM account, event";
    }

    static final String RESERVE_IN_ONE_STATEMENT = takeInOneStatement(HOLD);
    static final String CONSUME_IN_ONE_STATEMENT = takeInOneStatement(CHARGE_CHECKED);
    /** PostgreSQL's commit as one statement: the account moves and the event is logged from the hold's row. */
    static final String COMMIT_IN_ONE_STATEMENT = "WITH hold AS (UPDATE tq_reservation SET state = 'COMMITTED',"
            + " charged = ?, actual = ?, overage = 0, finished_at = ? WHERE id = ? AND state = 'HELD' AND expires_at > ?"
            + " RETURNING " + RESERVATION_COLUMNS + "),"
            + " account AS (UPDATE tq_account AS a SET used = a.used + hold.charged, reserved = a.reserved - hold.held,"
            + " updated_at = ? FROM hold WHERE a.subject = hold.subject AND a.plan_month = hold.plan_month RETURNING"
            + " a.allocated AS account_allocated, a.granted AS account_granted, a.carried AS account_carried,"
            + " a.used AS account_used, a.reserved AS account_reserved, a.created_at AS account_created_at,"
            + " a.updated_at AS account_updated_at),"
            + " event AS (INSERT INTO tq_event (subject, plan_month, kind, tokens, overage, reservation_id,"
            + " transaction_id, detail, is_consume, occurred_at) SELECT hold.subject, hold.plan_month, 'COMMITTED',"
            + " hold.charged, hold.overage, hold.id, NULL, hold.endpoint, FALSE, ? FROM hold JOIN account ON TRUE"
            + " RETURNING id)"
            + " SELECT hold.*, account.*, event.id AS event_id FROM hold, account, event";
    static final String CHARGE_UNCHECKED = "UPDATE tq_account SET used = used + ?, updated_at = ?"
            + " WHERE subject = ? AND plan_month = ?";
    static final String SETTLE = "UPDATE tq_account SET used = used + ?, reserved = reserved - ?, updated_at = ?"
            + " WHERE subject = ? AND plan_month = ?";
    static final String FINISH_HOLD = "UPDATE tq_reservation SET state = 'COMMITTED', charged = ?, actual = ?,"
            + " finished_at = ? WHERE id = ? AND state = 'HELD' AND expires_at > ?";
    static final String READ_AVAILABLE = "SELECT " + AVAILABLE + " FROM tq_account WHERE subject = ? AND plan_month = ?";

    /** What the ceiling's reserve hands to its commit. */
    record Hold(String id, String subject, long held) {
    }

    private JdbcDesigns() {
    }

    /** The ledger's own statements in plain JDBC: one statement per change on PostgreSQL, else {@link #transaction}. */
    static Design ceiling(DataSource ds, YearMonth month, Backend.Dialect dialect) {
        return dialect == Backend.Dialect.POSTGRES ? oneStatement("plain JDBC ceiling", ds, month)
                : transaction("plain JDBC ceiling", ds, month);
    }

    static Design oneStatement(String name, DataSource ds, YearMonth month) {
        return new Base(name, ds, month) {
            @Override
            public Object reserve(String subject, long tokens) throws SQLException {
                String id = UUID.randomUUID().toString();
                OffsetDateTime now = now();
                try (Connection c = ds.getConnection()) {
                    if (!take(c, RESERVE_IN_ONE_STATEMENT, id, subject, tokens, false, now, now.plusMinutes(5))) {
                        return null;
                    }
                }
                return new Hold(id, subject, tokens);
            }

            @Override
            public void commit(Object handle, long actual) throws SQLException {
                Hold hold = (Hold) handle;
                OffsetDateTime now = now();
                try (Connection c = ds.getConnection();
                     PreparedStatement ps = c.prepareStatement(COMMIT_IN_ONE_STATEMENT)) {
                    ps.setLong(1, actual);
                    ps.setLong(2, actual);
                    ps.setObject(3, now);
                    ps.setString(4, hold.id());
                    ps.setObject(5, now);
                    ps.setObject(6, now);
                    ps.setObject(7, now);
                    try (ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) {
                            throw new IllegalStateException("hold " + hold.id() + " is not HELD");
                        }
                        readRow(rs);
                    }
                }
            }

            @Override
            public boolean consume(String subject, long tokens) throws SQLException {
                OffsetDateTime now = now();
                try (Connection c = ds.getConnection()) {
                    return take(c, CONSUME_IN_ONE_STATEMENT, UUID.randomUUID().toString(), subject, tokens, true, now,
                            now);
                }
            }

            private boolean take(Connection c, String sql, String id, String subject, long tokens, boolean consume,
                                 OffsetDateTime now, OffsetDateTime expires) throws SQLException {
                try (PreparedStatement ps = c.prepareStatement(sql)) {
                    int i = 0;
                    ps.setLong(++i, tokens);
                    ps.setObject(++i, now);
                    ps.setString(++i, subject);
                    ps.setString(++i, month);
                    ps.setLong(++i, tokens);
                    ps.setString(++i, subject);
                    ps.setObject(++i, now);
                    ps.setString(++i, id);
                    ps.setLong(++i, tokens);
                    ps.setString(++i, consume ? "COMMITTED" : "HELD");
                    ps.setLong(++i, consume ? tokens : 0);
                    if (consume) {
                        ps.setLong(++i, tokens);
                    } else {
                        ps.setNull(++i, java.sql.Types.BIGINT);
                    }
                    ps.setBoolean(++i, consume);
                    ps.setObject(++i, now);
                    ps.setObject(++i, expires);
                    if (consume) {
                        ps.setObject(++i, now);
                    } else {
                        ps.setNull(++i, java.sql.Types.TIMESTAMP_WITH_TIMEZONE);
                    }
                    ps.setString(++i, consume ? "COMMITTED" : "RESERVED");
                    ps.setLong(++i, tokens);
                    ps.setString(++i, id);
                    ps.setBoolean(++i, consume);
                    ps.setObject(++i, now);
                    try (ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) {
                            return false;
                        }
                        readRow(rs);
                        return true;
                    }
                }
            }
        };
    }

    /** Reads every column of a returned row, as the ledger does to build its results. */
    private static void readRow(ResultSet rs) throws SQLException {
        for (int col = 1, n = rs.getMetaData().getColumnCount(); col <= n; col++) {
            rs.getObject(col);
        }
    }

    /** The conditional update as the last of insert, insert, update in one transaction (4 round trips). */
    static Design transaction(String name, DataSource ds, YearMonth month) {
        return new Base(name, ds, month) {
            @Override
            public Object reserve(String subject, long tokens) throws SQLException {
                String id = UUID.randomUUID().toString();
                OffsetDateTime now = now();
                try (Connection c = ds.getConnection()) {
                    c.setAutoCommit(false);
                    try {
                        // the row lock is taken last, so it is held for one statement and the commit
                        insertReservation(c, id, subject, tokens, "HELD", 0, null, false, now, now.plusMinutes(5), null);
                        insertEvent(c, subject, "RESERVED", tokens, id, false, now);
                        if (update(c, HOLD + NO_STALE_HOLD, tokens, now, subject, tokens) == 0) {
                            c.rollback();
                            return null;
                        }
                        c.commit();
                    } catch (SQLException | RuntimeException e) {
                        c.rollback();
                        throw e;
                    }
                }
                return new Hold(id, subject, tokens);
            }

            @Override
            public void commit(Object handle, long actual) throws SQLException {
                Hold hold = (Hold) handle;
                OffsetDateTime now = now();
                try (Connection c = ds.getConnection()) {
                    c.setAutoCommit(false);
                    try {
                        try (PreparedStatement ps = c.prepareStatement(FINISH_HOLD)) {
                            ps.setLong(1, actual);
                            ps.setLong(2, actual);
                            ps.setObject(3, now);
                            ps.setString(4, hold.id());
                            ps.setObject(5, now);
                            if (ps.executeUpdate() != 1) {
                                throw new IllegalStateException("hold " + hold.id() + " is not HELD");
                            }
                        }
                        insertEvent(c, hold.subject(), "COMMITTED", actual, hold.id(), false, now);
                        try (PreparedStatement ps = c.prepareStatement(SETTLE)) {
                            ps.setLong(1, actual);
                            ps.setLong(2, hold.held());
                            ps.setObject(3, now);
                            ps.setString(4, hold.subject());
                            ps.setString(5, month);
                            ps.executeUpdate();
                        }
                        c.commit();
                    } catch (SQLException | RuntimeException e) {
                        c.rollback();
                        throw e;
                    }
                }
            }

            @Override
            public boolean consume(String subject, long tokens) throws SQLException {
                String id = UUID.randomUUID().toString();
                OffsetDateTime now = now();
                try (Connection c = ds.getConnection()) {
                    c.setAutoCommit(false);
                    try {
                        insertReservation(c, id, subject, tokens, "COMMITTED", tokens, tokens, true, now, now, now);
                        insertEvent(c, subject, "COMMITTED", tokens, id, true, now);
                        if (update(c, CHARGE_CHECKED + NO_STALE_HOLD, tokens, now, subject, tokens) == 0) {
                            c.rollback();
                            return false;
                        }
                        c.commit();
                        return true;
                    } catch (SQLException | RuntimeException e) {
                        c.rollback();
                        throw e;
                    }
                }
            }
        };
    }

    static Design naive(DataSource ds, YearMonth month) {
        return new ConsumeOnly(NAIVE, ds, month) {
            @Override
            public boolean consume(String subject, long tokens) throws SQLException {
                try (Connection c = ds.getConnection()) {
                    // step 1, as the original service's middleware: is there enough?
                    if (readAvailable(c, subject, false) < tokens) {
                        return false;
                    }
                    // step 2, as the original service's consume_tokens: charge it, unconditionally
                    return charge(c, subject, tokens, true);
                }
            }
        };
    }

    static Design forUpdate(DataSource ds, YearMonth month) {
        return new ConsumeOnly("SELECT FOR UPDATE + UPDATE", ds, month) {
            @Override
            public boolean consume(String subject, long tokens) throws SQLException {
                try (Connection c = ds.getConnection()) {
                    c.setAutoCommit(false);
                    try {
                        if (readAvailable(c, subject, true) < tokens) {
                            c.rollback();
                            return false;
                        }
                        return charge(c, subject, tokens, false);
                    } catch (SQLException | RuntimeException e) {
                        c.rollback();
                        throw e;
                    }
                }
            }
        };
    }

    private abstract static class ConsumeOnly extends Base {
        ConsumeOnly(String name, DataSource ds, YearMonth month) {
            super(name, ds, month);
        }

        @Override
        public boolean supportsHolds() {
            return false;
        }

        @Override
        public Object reserve(String subject, long tokens) {
            throw new UnsupportedOperationException(name() + " has no holds");
        }

        @Override
        public void commit(Object hold, long actual) {
            throw new UnsupportedOperationException(name() + " has no holds");
        }

        long readAvailable(Connection c, String subject, boolean lock) throws SQLException {
            try (PreparedStatement ps = c.prepareStatement(READ_AVAILABLE + (lock ? " FOR UPDATE" : ""))) {
                ps.setString(1, subject);
                ps.setString(2, month);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        throw new IllegalStateException("no account for " + subject);
                    }
                    return rs.getLong(1);
                }
            }
        }

        /** The unconditional charge and its two rows, committed; the caller decided it may. */
        boolean charge(Connection c, String subject, long tokens, boolean beginTransaction) throws SQLException {
            if (beginTransaction) {
                c.setAutoCommit(false);
            }
            String id = UUID.randomUUID().toString();
            OffsetDateTime now = now();
            try {
                insertReservation(c, id, subject, tokens, "COMMITTED", tokens, tokens, true, now, now, now);
                insertEvent(c, subject, "COMMITTED", tokens, id, true, now);
                try (PreparedStatement ps = c.prepareStatement(CHARGE_UNCHECKED)) {
                    ps.setLong(1, tokens);
                    ps.setObject(2, now);
                    ps.setString(3, subject);
                    ps.setString(4, month);
                    ps.executeUpdate();
                }
                c.commit();
                return true;
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        }
    }

    private abstract static class Base implements Design {
        private final String name;
        final DataSource ds;
        final String month;

        Base(String name, DataSource ds, YearMonth month) {
            this.name = name;
            this.ds = ds;
            this.month = month.toString();
        }

        @Override
        public String name() {
            return name;
        }

        static OffsetDateTime now() {
            return OffsetDateTime.now(ZoneOffset.UTC);
        }

        /** A conditional update with its stale-hold check: {@code HOLD + NO_STALE_HOLD} or the charge's. */
        int update(Connection c, String sql, long tokens, OffsetDateTime now, String subject, long needed)
                throws SQLException {
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                ps.setLong(1, tokens);
                ps.setObject(2, now);
                ps.setString(3, subject);
                ps.setString(4, month);
                ps.setLong(5, needed);
                ps.setString(6, subject);
                ps.setObject(7, now);
                return ps.executeUpdate();
            }
        }

        void insertReservation(Connection c, String id, String subject, long held, String state, long charged,
                               Long actual, boolean consume, OffsetDateTime created, OffsetDateTime expires,
                               OffsetDateTime finished) throws SQLException {
            try (PreparedStatement ps = c.prepareStatement(INSERT_RESERVATION)) {
                ps.setString(1, id);
                ps.setString(2, subject);
                ps.setString(3, month);
                ps.setLong(4, held);
                ps.setString(5, state);
                ps.setLong(6, charged);
                if (actual == null) {
                    ps.setNull(7, java.sql.Types.BIGINT);
                } else {
                    ps.setLong(7, actual);
                }
                ps.setBoolean(8, consume);
                ps.setObject(9, created);
                ps.setObject(10, expires);
                if (finished == null) {
                    ps.setNull(11, java.sql.Types.TIMESTAMP_WITH_TIMEZONE);
                } else {
                    ps.setObject(11, finished);
                }
                ps.executeUpdate();
            }
        }

        void insertEvent(Connection c, String subject, String kind, long tokens, String reservationId,
                         boolean consume, OffsetDateTime now) throws SQLException {
            try (PreparedStatement ps = c.prepareStatement(INSERT_EVENT)) {
                ps.setString(1, subject);
                ps.setString(2, month);
                ps.setString(3, kind);
                ps.setLong(4, tokens);
                ps.setString(5, reservationId);
                ps.setBoolean(6, consume);
                ps.setObject(7, now);
                ps.executeUpdate();
            }
        }
    }
}

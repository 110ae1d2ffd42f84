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
 *   <li>{@link #ceiling}: one conditional {@code UPDATE ... WHERE available >= n}, no library in
 *       between: the fastest correct way, our ledger's ceiling;</li>
 *   <li>{@link #naive}: the seed's design, read the balance, then update it, in separate steps;</li>
 *   <li>{@link #forUpdate}: {@code SELECT ... FOR UPDATE}, check in Java, {@code UPDATE}, as
 *       Bucket4j's JDBC backends do.</li>
 * </ul>
 * All run at READ COMMITTED with explicit transactions. Thread-safe.
 */
final class JdbcDesigns {
    static final String AVAILABLE = "allocated + granted + carried - used - reserved";

    static final String INSERT_RESERVATION = "INSERT INTO tq_reservation (id, subject, plan_month, held, state,"
            + " charged, actual, overage, idempotency_key, endpoint, is_consume, created_at, expires_at, finished_at)"
            + " VALUES (?, ?, ?, ?, ?, ?, ?, 0, NULL, NULL, ?, ?, ?, ?)";
    static final String INSERT_EVENT = "INSERT INTO tq_event (subject, plan_month, kind, tokens, overage,"
            + " reservation_id, is_consume, occurred_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?)";
    static final String HOLD = "UPDATE tq_account SET reserved = reserved + ?, updated_at = ?"
            + " WHERE subject = ? AND plan_month = ? AND " + AVAILABLE + " >= ?";
    static final String CHARGE_CHECKED = "UPDATE tq_account SET used = used + ?, updated_at = ?"
            + " WHERE subject = ? AND plan_month = ? AND " + AVAILABLE + " >= ?";
    static final String CHARGE_UNCHECKED = "UPDATE tq_account SET used = used + ?, updated_at = ?"
            + " WHERE subject = ? AND plan_month = ?";
    static final String SETTLE = "UPDATE tq_account SET used = used + ?, reserved = reserved - ?, updated_at = ?"
            + " WHERE subject = ? AND plan_month = ?";
    static final String FINISH_HOLD = "UPDATE tq_reservation SET state = 'COMMITTED', charged = ?, actual = ?,"
            + " finished_at = ? WHERE id = ? AND state = 'HELD'";
    static final String READ_AVAILABLE = "SELECT " + AVAILABLE + " FROM tq_account WHERE subject = ? AND plan_month = ?";

    /** What the ceiling's reserve hands to its commit. */
    record Hold(String id, String subject, long held) {
    }

    private JdbcDesigns() {
    }

    /** Reads a design makes in autocommit before its transaction, on the same connection. */
    interface Reads {
        Reads NONE = new Reads() {
        };

        default void beforeTake(Connection c, String subject, String month) throws SQLException {
        }

        default void beforeCommit(Connection c, String reservationId) throws SQLException {
        }
    }

    /**
     * The reads our ledger makes today: the account (created on first touch) and the subject's stale
     * holds (lazy expiry) before a reserve or consume, the reservation before a commit.
     */
    static final Reads LEDGER_READS = new Reads() {
        @Override
        public void beforeTake(Connection c, String subject, String month) throws SQLException {
            query(c, "SELECT subject, plan_month, allocated, granted, carried, used, reserved, created_at, updated_at"
                    + " FROM tq_account WHERE subject = ? AND plan_month = ?", subject, month);
            query(c, "SELECT id, subject, plan_month, held, state, charged, actual, overage, idempotency_key,"
                    + " endpoint, is_consume, created_at, expires_at, finished_at FROM tq_reservation"
                    + " WHERE subject = ? AND state = 'HELD' AND expires_at <= ?", subject, OffsetDateTime.now(ZoneOffset.UTC));
        }

        @Override
        public void beforeCommit(Connection c, String reservationId) throws SQLException {
            query(c, "SELECT id, subject, plan_month, held, state, charged, actual, overage, idempotency_key,"
                    + " endpoint, is_consume, created_at, expires_at, finished_at FROM tq_reservation WHERE id = ?",
                    reservationId);
        }
    };

    /**
     * The reads proposed for the ledger: one query answers both "does the account exist?" and "has the
     * subject stale holds?"; a commit finds its hold with {@code UPDATE ... WHERE state = 'HELD' RETURNING}
     * inside the transaction and reads only when that matches nothing.
     */
    static final Reads PROPOSED_READS = new Reads() {
        @Override
        public void beforeTake(Connection c, String subject, String month) throws SQLException {
            query(c, "SELECT (SELECT COUNT(*) FROM tq_account WHERE subject = ? AND plan_month = ?),"
                    + " (SELECT COUNT(*) FROM tq_reservation WHERE subject = ? AND state = 'HELD' AND expires_at <= ?)",
                    subject, month, subject, OffsetDateTime.now(ZoneOffset.UTC));
        }
    };

    private static void query(Connection c, String sql, Object... args) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                ps.setObject(i + 1, args[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    rs.getObject(1);
                }
            }
        }
    }

    static Design ceiling(DataSource ds, YearMonth month) {
        return ceiling("plain JDBC ceiling", ds, month, Reads.NONE);
    }

    static Design ceiling(String name, DataSource ds, YearMonth month, Reads reads) {
        return new Base(name, ds, month) {
            @Override
            public Object reserve(String subject, long tokens) throws SQLException {
                String id = UUID.randomUUID().toString();
                OffsetDateTime now = now();
                try (Connection c = ds.getConnection()) {
                    reads.beforeTake(c, subject, month);
                    c.setAutoCommit(false);
                    try {
                        // the row lock is taken last, so it is held for one statement and the commit
                        insertReservation(c, id, subject, tokens, "HELD", 0, null, false, now, now.plusMinutes(5), null);
                        insertEvent(c, subject, "RESERVED", tokens, id, false, now);
                        if (update(c, HOLD, tokens, now, subject, tokens) == 0) {
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
                    reads.beforeCommit(c, hold.id());
                    c.setAutoCommit(false);
                    try {
                        try (PreparedStatement ps = c.prepareStatement(FINISH_HOLD)) {
                            ps.setLong(1, actual);
                            ps.setLong(2, actual);
                            ps.setObject(3, now);
                            ps.setString(4, hold.id());
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
                    reads.beforeTake(c, subject, month);
                    c.setAutoCommit(false);
                    try {
                        insertReservation(c, id, subject, tokens, "COMMITTED", tokens, tokens, true, now, now, now);
                        insertEvent(c, subject, "COMMITTED", tokens, id, true, now);
                        if (update(c, CHARGE_CHECKED, tokens, now, subject, tokens) == 0) {
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
        return new ConsumeOnly("naive read-then-update (seed)", ds, month) {
            @Override
            public boolean consume(String subject, long tokens) throws SQLException {
                try (Connection c = ds.getConnection()) {
                    // step 1, as the seed's middleware: is there enough?
                    if (readAvailable(c, subject, false) < tokens) {
                        return false;
                    }
                    // step 2, as the seed's consume_tokens: charge it, unconditionally
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

        int update(Connection c, String sql, long tokens, OffsetDateTime now, String subject, long needed)
                throws SQLException {
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                ps.setLong(1, tokens);
                ps.setObject(2, now);
                ps.setString(3, subject);
                ps.setString(4, month);
                ps.setLong(5, needed);
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

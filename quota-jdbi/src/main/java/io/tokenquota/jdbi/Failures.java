package io.tokenquota.jdbi;

import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.sql.SQLNonTransientConnectionException;

/**
 * Sorts database failures into the three ways the store reacts: retry the transaction (a
 * serialization failure, a deadlock victim, a lock wait that timed out, a session ended for idleness),
 * report the store as unavailable (no connection), or treat as a duplicate key (an idempotency key or
 * transaction id seen before). Not API. Thread-safe (stateless).
 */
final class Failures {
    private static final String UNIQUE_VIOLATION = "23505";
    private static final String NUMERIC_OUT_OF_RANGE = "22003";
    /** lock_not_available: a lock wait past the session's {@code lock_timeout}. */
    private static final String LOCK_NOT_AVAILABLE = "55P03";
    /**
     * query_canceled: a statement past the session's {@code statement_timeout} (a host pool's
     * {@code connectionInitSql}, a role's setting), which a wait for a lock ends in when it is shorter than the
     * lock timeout. The store sets no statement timeout and cancels none of its statements itself.
     */
    private static final String QUERY_CANCELED = "57014";
    /**
     * The server ended the session for idleness: {@code idle_in_transaction_session_timeout} (25P03) inside a
     * transaction, {@code idle_session_timeout} (57P05, PostgreSQL 14+) outside one (see {@link #isRetryable}).
     */
    private static final String IDLE_IN_TRANSACTION_TIMEOUT = "25P03";
    private static final String IDLE_SESSION_TIMEOUT = "57P05";
    /** PostgreSQL's check_violation is 23514, H2's CHECK_CONSTRAINT_VIOLATED_1 23513. */
    private static final String CHECK_VIOLATION_PREFIX = "2351";
    private static final String USED_RESERVED_FIT = "tq_account_used_reserved_fit";
    /** H2: lock wait timed out (LOCK_TIMEOUT_1) and a concurrent update of the same row (CONCURRENT_UPDATE_1). */
    private static final int H2_LOCK_TIMEOUT = 50200;
    private static final int H2_CONCURRENT_UPDATE = 90131;
    /** H2: the database was closed or the connection broken. */
    private static final int H2_DATABASE_CLOSED = 90098;
    private static final int H2_CONNECTION_BROKEN = 90067;

    private Failures() {
    }

    static SQLException sqlCause(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof SQLException) {
                return (SQLException) t;
            }
            if (t.getCause() == t) {
                break;
            }
        }
        return null;
    }

    static boolean isUniqueViolation(Throwable failure) {
        SQLException e = sqlCause(failure);
        return e != null && UNIQUE_VIOLATION.equals(e.getSQLState());
    }

    /**
     * A change that would take a 64-bit counter past its range: SQLSTATE 22003 (numeric value out of
     * range, from either database's BIGINT arithmetic) or a violation of the account's
     * {@code tq_account_used_reserved_fit} CHECK (23514 on PostgreSQL, 23513 on H2), told by its name.
     * The statement failed, so nothing it did was written.
     */
    static boolean isOverflow(Throwable failure) {
        for (SQLException e = sqlCause(failure); e != null; e = e.getNextException()) {
            String state = e.getSQLState();
            if (NUMERIC_OUT_OF_RANGE.equals(state)) {
                return true;
            }
            String message = e.getMessage();
            if (state != null && state.startsWith(CHECK_VIOLATION_PREFIX) && message != null
                    && message.toLowerCase(java.util.Locale.ROOT).contains(USED_RESERVED_FIT)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether a PostgreSQL statement ended because a wait ran out: its {@code lock_timeout} (55P03) or its
     * {@code statement_timeout} (57014). Nothing it did was written.
     */
    static boolean isWaitTimeout(String state) {
        return LOCK_NOT_AVAILABLE.equals(state) || QUERY_CANCELED.equals(state);
    }

    /** Whether a failure is a PostgreSQL wait timeout ({@link #isWaitTimeout(String)}) anywhere in its chain. */
    static boolean isWaitTimeout(Throwable failure) {
        for (SQLException e = sqlCause(failure); e != null; e = e.getNextException()) {
            if (isWaitTimeout(e.getSQLState())) {
                return true;
            }
        }
        return false;
    }

    /**
     * SQLSTATE class 40 (serialization failure, deadlock), PostgreSQL's lock and statement timeouts
     * ({@link #isWaitTimeout}, under a {@code lock_timeout} or {@code statement_timeout} the host's pool or role
     * sets: a call queued behind retention's moment of exclusive lock is run again, as on H2; round 335 for the
     * first, round 368 for the second, whose held call's commit failed and left the model call free; round 395:
     * run again for a time, not a count, {@link Operations#operation}), a PostgreSQL session ended for idleness
     * (25P03, 57P05) and H2's lock timeouts: worth running again.
     *
     * <p>A session ended for idleness is a whole attempt lost, like a serialization failure: the server ends it
     * while it waits for the client's next command, before reading it, so the transaction rolled back with the
     * session and nothing sent after (not even a COMMIT) ran. What the attempt kept before that transaction (a
     * statement in autocommit, an earlier transaction) stays, and the store keeps something there only where the
     * attempt run again finds it done (a month's first touch of an account, a sweep of stale holds) or as the
     * attempt's last statements (a refusal's REJECTED events; round 438: logged before the account's read, a
     * refused call ended idle between the two was logged twice). A combined statement that failed gives its
     * leader's connection back before the leader's own call runs (round 438: run on the ended session, it failed
     * "Connection is closed", no SQLSTATE, and was not run again). Round 256's host with
     * {@code idle_in_transaction_session_timeout = 100ms}, once in CI on two busy cores: a transaction idle
     * between two statements past it failed its call {@code STORE_UNAVAILABLE}. pgjdbc (42.7.14) reports the
     * FATAL error's 25P03 first and the closed socket's 08006 as its next exception, for which HikariCP (7.1.0)
     * evicts the connection, so the attempt run again takes another one. An 08 alone stays unavailable: a COMMIT
     * whose answer was lost may have committed.
     */
    static boolean isRetryable(Throwable failure) {
        for (SQLException e = sqlCause(failure); e != null; e = e.getNextException()) {
            String state = e.getSQLState();
            if (state != null && (state.startsWith("40") || isWaitTimeout(state)
                    || IDLE_IN_TRANSACTION_TIMEOUT.equals(state) || IDLE_SESSION_TIMEOUT.equals(state))) {
                return true;
            }
            if (e.getErrorCode() == H2_LOCK_TIMEOUT || e.getErrorCode() == H2_CONCURRENT_UPDATE) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether a statement that commits itself (autocommit: the store's combined statements) and was sent may
     * have committed although it failed. Not when the failure is retryable ({@link #isRetryable}: the
     * transaction rolled back, or the session ended before the statement was read), nor when the server
     * answered it with an error of its own (an SQLSTATE outside class 08 and 57P, such as an overflow's
     * 22003 or 23514: the statement failed, and its transaction with it). It may for a lost connection (08,
     * {@link #isUnavailable}): the server commits such a statement at the protocol's Sync and only then writes
     * the answer, which a connection lost meanwhile never brings back (round 442); for a server shutting down
     * (57P01-57P03), which may end the session between the commit and the answer; and for a failure with no
     * SQLSTATE, which says nothing of what the server did. The rule is the lone path's: an 08 on a COMMIT is
     * not run again.
     */
    static boolean mayHaveCommitted(Throwable failure) {
        if (isRetryable(failure)) {
            return false;
        }
        SQLException e = sqlCause(failure);
        return e == null || e.getSQLState() == null || isUnavailable(failure);
    }

    /** Connection-level failures: SQLSTATE class 08, 57P (server shutting down), pool timeouts. */
    static boolean isUnavailable(Throwable failure) {
        for (Throwable t = failure; t != null && t.getCause() != t; t = t.getCause()) {
            if (t instanceof SQLTransientConnectionException || t instanceof SQLNonTransientConnectionException) {
                return true;
            }
            if (t instanceof SQLException) {
                SQLException e = (SQLException) t;
                String state = e.getSQLState();
                if (state != null && (state.startsWith("08") || state.startsWith("57P"))) {
                    return true;
                }
                if (e.getErrorCode() == H2_DATABASE_CLOSED || e.getErrorCode() == H2_CONNECTION_BROKEN) {
                    return true;
                }
            }
        }
        return false;
    }
}

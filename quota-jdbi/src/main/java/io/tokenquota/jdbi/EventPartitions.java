package io.tokenquota.jdbi;

import io.tokenquota.ErrorCode;
import io.tokenquota.QuotaException;
import java.sql.SQLException;
import java.time.Duration;
import java.time.YearMonth;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SortedSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.JdbiException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The event log's months. On PostgreSQL {@code tq_event} is partitioned by month: this class creates
 * a month's partition {@code tq_event_YYYY_MM} before the month's events are written, and removes the
 * months past the history window by dropping or detaching their partitions. On H2, and on a
 * PostgreSQL {@code tq_event} that an earlier schema created as one table, the log is one table:
 * there is nothing to create, and retention deletes (or moves) rows. Not API. Thread-safe.
 *
 * <p>Every DDL statement here runs in a transaction of its own that holds nothing else. Creating,
 * dropping or detaching a partition takes an ACCESS EXCLUSIVE lock on {@code tq_event}; a transaction
 * that held account or hold row locks while it waited for that lock could deadlock with an insert that
 * holds {@code tq_event} and waits for those rows. It also waits at most {@link #LOCK_TIMEOUT}: while
 * it waits, every insert and read of the event log queues behind it, so behind a long read (a report,
 * {@code pg_dump}) it gives up rather than stall the traffic.
 */
final class EventPartitions {
    private static final Logger LOG = LoggerFactory.getLogger(SqlQuotaStore.class);
    private static final Pattern MONTH_TABLE = Pattern.compile("tq_event_(\\d{4})_(\\d{2})");
    private static final Duration LOCK_TIMEOUT = Duration.ofSeconds(2);
    /** A partition whose lock timed out is not tried again for this long (other first touches go ahead). */
    private static final long RETRY_AFTER_NANOS = TimeUnit.SECONDS.toNanos(30);
    /** How often retention tries a partition whose lock timed out before it gives up (the call fails). */
    private static final int RETENTION_ATTEMPTS = 3;
    /**
     * How long retention pauses between its tries of a partition, its place in the lock queue given up: the
     * calls that timed out behind it and are about to run again (a back-off of at most 32 ms) get through
     * before it queues again (round 395).
     */
    private static final Duration RETENTION_PAUSE = Duration.ofMillis(100);
    /**
     * How long the store's own DDL can keep the event log's lock queue blocked in a row: retention's tries of
     * a partition with their pauses (3 x (2 s + 100 ms)), plus one more lock wait as a margin (a month's
     * partition creation queued right after it): 8.3 s. {@link Operations#operation} runs a call whose
     * statement ended in a wait timeout again for this long, however short the host's {@code lock_timeout} or
     * {@code statement_timeout} (round 395: on a pool with 250 ms, the 6 attempts {@code maxRetries} allowed
     * gave up after 1.5 s behind retention's 2 s wait, and a held call's commit failed, the model call free).
     */
    static final Duration LOCK_QUEUE_BUDGET =
            LOCK_TIMEOUT.plus(RETENTION_PAUSE).multipliedBy(RETENTION_ATTEMPTS).plus(LOCK_TIMEOUT);
    /**
     * Retention runs of all instances take turns on this advisory lock ("tr" in ASCII) while they
     * drop or detach a partition, so two never remove the same month: each checks it is still attached
     * under the lock.
     */
    private static final long RETENTION_LOCK_KEY = 0x7472L;
    private static final String DUPLICATE_TABLE = "42P07";
    private static final String UNIQUE_VIOLATION = "23505";
    /** invalid_object_definition: "partition would overlap", when another instance created it first. */
    private static final String OVERLAPPING_PARTITION = "42P17";
    /** The default partition already holds rows of the month the new partition would cover. */
    private static final String CHECK_VIOLATION = "23514";
    private static final int H2_TABLE_EXISTS = 42101;

    /** How {@code tq_event} is laid out in the database the store talks to. */
    private enum Layout { MONTHLY, ONE_TABLE, MISSING }

    private final Dialect dialect;
    /** Months whose partition this store has seen to (created, found, or given up on for good). */
    private final Set<YearMonth> ready = ConcurrentHashMap.newKeySet();
    /** Months whose creation timed out on the lock: when (System.nanoTime) to try again. */
    private final Map<YearMonth, Long> retryAt = new ConcurrentHashMap<>();
    private final Object creating = new Object();
    /** Read from the catalog on first use; {@code null} until the table exists. */
    private volatile Layout layout;

    EventPartitions(Dialect dialect) {
        this.dialect = dialect;
    }

    /** {@code tq_event_YYYY_MM}: the month's partition, or its archive once detached. */
    static String tableOf(YearMonth month) {
        return String.format("tq_event_%04d_%02d", month.getYear(), month.getMonthValue());
    }

    /**
     * When the store is built: the partitions of the previous, current and next month, so that the
     * month turn finds its partition already there. Never fails the build: a schema not installed yet
     * (a host that runs its migrations later) or any other failure is logged, and the month's first
     * account tries again.
     */
    void prepare(Jdbi jdbi, YearMonth current) {
        if (dialect != Dialect.POSTGRESQL) {
            return;
        }
        try {
            jdbi.useHandle(h -> {
                for (int i = -1; i <= 1; i++) {
                    ensure(h, current.plusMonths(i));
                }
            });
        } catch (JdbiException e) {
            LOG.warn("token-quota: could not create the event log's partitions around {} ({}); each month's first"
                    + " account tries again", current, e.getMessage());
        }
    }

    /**
     * Before a month's first account is created: that month's partition and the next one's, so the
     * following month turn finds its partition made a month ahead. {@code h} must not be in a
     * transaction (see the class comment).
     */
    void beforeFirstAccount(Handle h, YearMonth month) {
        ensure(h, month);
        ensure(h, month.plusMonths(1));
    }

    /**
     * Sees to {@code month}'s partition once per month per store; later calls answer from memory, so
     * the first touches of a month pay nothing once one of them made it. Another instance creating the
     * same partition at the same moment is fine (its duplicate is caught); a default partition that
     * already holds rows of the month keeps them (logged): the partition cannot be created over them,
     * and the month's events go on landing in the default, where reads and retention find them.
     */
    void ensure(Handle h, YearMonth month) {
        if (dialect != Dialect.POSTGRESQL || ready.contains(month)) {
            return;
        }
        if (h.isInTransaction()) {
            throw new IllegalStateException("the partition of " + month + " must be created outside a transaction");
        }
        // the one lock of the store a thread takes while it holds a connection (Op.releaseConnection, round
        // 326): whoever holds it works on the connection it came with and waits for no other, so no pool
        // size can leave the two waiting on each other
        synchronized (creating) {
            if (ready.contains(month)) {
                return;
            }
            Long at = retryAt.get(month);
            if (at != null && System.nanoTime() - at < 0) {
                return;
            }
            Layout current = layout(h);
            if (current == Layout.MISSING) {
                // the schema is not installed yet: nothing to create, and nothing remembered
                return;
            }
            if (current == Layout.MONTHLY) {
                create(h, month);
            } else {
                ready.add(month);
            }
        }
    }

    private void create(Handle h, YearMonth month) {
        String table = tableOf(month);
        boolean exists = h.createQuery("SELECT to_regclass(:table) IS NOT NULL").bind("table", table)
                .mapTo(Boolean.class).one();
        if (exists) {
            ready.add(month);
            return;
        }
        try {
            h.useTransaction(tx -> {
                tx.execute("SET LOCAL lock_timeout = '" + LOCK_TIMEOUT.toMillis() + "ms'");
                tx.execute("CREATE TABLE IF NOT EXISTS " + table + " PARTITION OF tq_event FOR VALUES FROM ('"
                        + Rows.month(month) + "') TO ('" + upperBound(month) + "')");
            });
            ready.add(month);
            retryAt.remove(month);
            LOG.debug("token-quota: created the event log partition {}", table);
        } catch (JdbiException e) {
            String state = state(e);
            if (DUPLICATE_TABLE.equals(state) || UNIQUE_VIOLATION.equals(state)
                    || OVERLAPPING_PARTITION.equals(state)) {
                // another instance created it between our look and our CREATE
                ready.add(month);
            } else if (CHECK_VIOLATION.equals(state)) {
                LOG.warn("token-quota: tq_event_default already holds events of {}, so {} cannot be created over"
                        + " them; the month's events stay in the default partition (reads and retention find"
                        + " them there)", Rows.month(month), table);
                ready.add(month);
            } else if (Failures.isWaitTimeout(state)) {
                // the host's statement_timeout may end the wait before the lock_timeout set here (round 368)
                LOG.warn("token-quota: creating {} waited for the lock on tq_event (a long transaction reads it);"
                        + " trying again later", table);
                retryAt.put(month, System.nanoTime() + RETRY_AFTER_NANOS);
            } else if (Failures.isUnavailable(e) || Failures.isRetryable(e)) {
                // the operation's own handling: run again (a deadlock victim) or STORE_UNAVAILABLE
                throw e;
            } else {
                LOG.warn("token-quota: could not create {} ({}): the month's events go to tq_event_default. The"
                        + " store's database role must own tq_event (see docs/storage.md)", table, e.getMessage());
                ready.add(month);
            }
        }
    }

    /** The exclusive upper bound of a month's range: the month number plus one, so December ends at 'YYYY-13'. */
    private static String upperBound(YearMonth month) {
        return String.format("%04d-%02d", month.getYear(), month.getMonthValue() + 1);
    }

    private Layout layout(Handle h) {
        Layout known = layout;
        if (known != null) {
            return known;
        }
        String kind = h.createQuery("SELECT CAST(relkind AS VARCHAR) FROM pg_class WHERE oid = to_regclass('tq_event')")
                .mapTo(String.class).findOne().orElse(null);
        Layout found = kind == null ? Layout.MISSING : "p".equals(kind) ? Layout.MONTHLY : Layout.ONE_TABLE;
        if (found == Layout.ONE_TABLE) {
            LOG.info("token-quota: tq_event is one table, not partitioned by month (an earlier schema): events stay"
                    + " in it, and retention deletes their rows");
        }
        if (found != Layout.MISSING) {
            layout = found;
        }
        return found;
    }

    /**
     * Removes the events of every month before {@code oldestKept}, adding each month it removed
     * something of to {@code removed}. Monthly layout: each such partition is dropped, or detached
     * ({@code archive}) and left as a table of its own; then such months' rows in the default partition
     * are deleted, or moved into a table {@code tq_event_YYYY_MM} (the detached partition, or a new
     * one). One table (H2): such months' rows are deleted, or moved into {@code tq_event_YYYY_MM}.
     * Each month is one statement or one short transaction, idempotent, so the operation may run again
     * after a failure and several instances may run it at once.
     */
    void removeBefore(Handle h, YearMonth oldestKept, boolean archive, SortedSet<YearMonth> removed) {
        if (dialect == Dialect.POSTGRESQL && layout(h) == Layout.MONTHLY) {
            for (YearMonth month : partitionMonths(h)) {
                if (month.isBefore(oldestKept) && removePartition(h, month, archive)) {
                    removed.add(month);
                }
            }
            removeRows(h, "tq_event_default", oldestKept, archive, removed);
        } else {
            removeRows(h, "tq_event", oldestKept, archive, removed);
        }
        // should a removed month ever be touched again, its partition is looked for anew
        ready.removeAll(removed);
    }

    /** The months of the partitions attached to tq_event, by their names, oldest first. */
    private static List<YearMonth> partitionMonths(Handle h) {
        List<String> names = h.createQuery("SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c"
                        + " ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass('tq_event') ORDER BY c.relname")
                .mapTo(String.class).list();
        List<YearMonth> months = new ArrayList<>();
        for (String name : names) {
            Matcher m = MONTH_TABLE.matcher(name);
            int month = m.matches() ? Integer.parseInt(m.group(2)) : 0;
            if (month >= 1 && month <= 12) {
                months.add(YearMonth.of(Integer.parseInt(m.group(1)), month));
            }
        }
        return months;
    }

    private static boolean removePartition(Handle h, YearMonth month, boolean archive) {
        String table = tableOf(month);
        for (int attempt = 1; ; attempt++) {
            try {
                return h.inTransaction(tx -> {
                    tx.createQuery("SELECT pg_advisory_xact_lock(:key)").bind("key", RETENTION_LOCK_KEY)
                            .map((rs, ctx) -> Boolean.TRUE).one();
                    tx.execute("SET LOCAL lock_timeout = '" + LOCK_TIMEOUT.toMillis() + "ms'");
                    // another instance's run may have removed it while this one waited for its turn
                    boolean attached = tx.createQuery("SELECT COUNT(*) FROM pg_inherits"
                                    + " WHERE inhrelid = to_regclass(:table) AND inhparent = to_regclass('tq_event')")
                            .bind("table", table).mapTo(Integer.class).one() > 0;
                    if (attached) {
                        tx.execute(archive ? "ALTER TABLE tq_event DETACH PARTITION " + table : "DROP TABLE " + table);
                    }
                    return attached;
                });
            } catch (JdbiException e) {
                if (!Failures.isWaitTimeout(state(e))) {
                    throw e;
                }
                if (attempt >= RETENTION_ATTEMPTS) {
                    // given up here, not run again whole by the operation (which retries lock timeouts)
                    throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "the event log stayed locked: " + table
                            + " waited " + RETENTION_ATTEMPTS + " x " + LOCK_TIMEOUT.toMillis() + " ms behind a long"
                            + " reader", e);
                }
                LockSupport.parkNanos(RETENTION_PAUSE.toNanos());
            }
        }
    }

    /** Deletes (or moves into their archive tables) the rows of {@code table} of months before {@code oldestKept}. */
    private void removeRows(Handle h, String table, YearMonth oldestKept, boolean archive,
                            SortedSet<YearMonth> removed) {
        List<String> months = h.createQuery("SELECT DISTINCT plan_month FROM " + table
                        + " WHERE plan_month < :oldest ORDER BY plan_month")
                .bind("oldest", Rows.month(oldestKept)).mapTo(String.class).list();
        for (String value : months) {
            YearMonth month;
            try {
                month = YearMonth.parse(value);
            } catch (DateTimeParseException e) {
                // not a month the store wrote: leave it to whoever did
                continue;
            }
            int rows;
            if (archive) {
                String archiveTable = createArchive(h, month);
                addMissingColumns(h, archiveTable);
                // one statement: rows deleted by a concurrent run are not copied twice
                rows = h.createUpdate(dialect == Dialect.POSTGRESQL
                                ? "WITH moved AS (DELETE FROM " + table + " WHERE plan_month = :month RETURNING *)"
                                        + " INSERT INTO " + archiveTable + " SELECT * FROM moved"
                                : "INSERT INTO " + archiveTable + " SELECT * FROM OLD TABLE (DELETE FROM " + table
                                        + " WHERE plan_month = :month)")
                        .bind("month", value).execute();
            } else {
                rows = h.createUpdate("DELETE FROM " + table + " WHERE plan_month = :month").bind("month", value)
                        .execute();
            }
            if (rows > 0) {
                removed.add(month);
            }
        }
    }

    /** The month's archive table, with the event log's columns in their order; kept if it exists. */
    private static String createArchive(Handle h, YearMonth month) {
        String table = tableOf(month);
        try {
            h.execute("CREATE TABLE IF NOT EXISTS " + table + " AS SELECT * FROM tq_event WITH NO DATA");
        } catch (JdbiException e) {
            // a concurrent run created it between the look and the create
            SQLException cause = Failures.sqlCause(e);
            boolean exists = cause != null && (DUPLICATE_TABLE.equals(cause.getSQLState())
                    || UNIQUE_VIOLATION.equals(cause.getSQLState()) || cause.getErrorCode() == H2_TABLE_EXISTS);
            if (!exists) {
                throw e;
            }
        }
        return table;
    }

    /**
     * Gives an archive table made by an earlier schema version the event log's columns it lacks:
     * later versions add columns (V2 the usage, V4 the reserve a finishing event records), and the
     * rows moved below are copied whole. Added in the event log's order, at the end, so the two
     * tables' columns line up again; each column's type is read from the event log itself.
     */
    private void addMissingColumns(Handle h, String archiveTable) {
        String columns = "SELECT LOWER(column_name) AS name, UPPER(data_type) AS type, character_maximum_length AS length,"
                + " datetime_precision AS precision FROM information_schema.columns"
                + " WHERE LOWER(table_name) = :table AND table_schema = "
                + (dialect == Dialect.POSTGRESQL ? "current_schema()" : "CURRENT_SCHEMA") + " ORDER BY ordinal_position";
        Set<String> present = new HashSet<>(h.createQuery(columns).bind("table", archiveTable.toLowerCase(Locale.ROOT))
                .map((rs, ctx) -> rs.getString("name")).list());
        h.createQuery(columns).bind("table", "tq_event").map((rs, ctx) -> {
            String type = rs.getString("type");
            if (type.startsWith("TIMESTAMP")) {
                type = "TIMESTAMP(" + rs.getInt("precision") + ") WITH TIME ZONE";
            } else if (rs.getObject("length") != null) {
                type = type + "(" + rs.getLong("length") + ")";
            }
            return new String[] {rs.getString("name"), type};
        }).list().stream().filter(column -> !present.contains(column[0]))
                .forEach(column -> h.execute("ALTER TABLE " + archiveTable + " ADD COLUMN " + column[0] + " " + column[1]));
    }

    private static String state(JdbiException e) {
        SQLException cause = Failures.sqlCause(e);
        return cause == null ? null : cause.getSQLState();
    }
}

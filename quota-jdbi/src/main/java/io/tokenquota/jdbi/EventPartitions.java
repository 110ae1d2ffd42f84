package io.tokenquota.jdbi;

import java.sql.SQLException;
import java.time.YearMonth;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.JdbiException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The event log's months. On PostgreSQL {@code tq_event} is partitioned by month: this class creates
 * a month's partition {@code tq_event_YYYY_MM} before the month's events are written. On H2, and on a
 * PostgreSQL {@code tq_event} that an earlier schema created as one table, the log is one table:
 * there is nothing to create. Not API. Thread-safe.
 *
 * <p>Every DDL statement here runs in a transaction of its own that holds nothing else. Creating a
 * partition takes an ACCESS EXCLUSIVE lock on {@code tq_event}; a transaction
 * that held account or hold row locks while it waited for that lock could deadlock with an insert that
 * holds {@code tq_event} and waits for those rows. It also waits at most {@link #LOCK_TIMEOUT}: while
 * it waits, every insert and read of the event log queues behind it, so behind a long read (a report,
 * {@code pg_dump}) it gives up rather than stall the traffic.
 */
final class EventPartitions {
    private static final Logger LOG = LoggerFactory.getLogger(SqlQuotaStore.class);
    private static final String LOCK_TIMEOUT = "2s";
    /** A partition whose lock timed out is not tried again for this long (other first touches go ahead). */
    private static final long RETRY_AFTER_NANOS = TimeUnit.SECONDS.toNanos(30);
    private static final String DUPLICATE_TABLE = "42P07";
    private static final String UNIQUE_VIOLATION = "23505";
    /** invalid_object_definition: "partition would overlap", when another instance created it first. */
    private static final String OVERLAPPING_PARTITION = "42P17";
    /** The default partition already holds rows of the month the new partition would cover. */
    private static final String CHECK_VIOLATION = "23514";
    private static final String LOCK_NOT_AVAILABLE = "55P03";

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
                tx.execute("SET LOCAL lock_timeout = '" + LOCK_TIMEOUT + "'");
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
            } else if (LOCK_NOT_AVAILABLE.equals(state)) {
                LOG.warn("token-quota: creating {} waited {} for the lock on tq_event (a long transaction reads it);"
                        + " trying again later", table, LOCK_TIMEOUT);
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

    private static String state(JdbiException e) {
        SQLException cause = Failures.sqlCause(e);
        return cause == null ? null : cause.getSQLState();
    }
}

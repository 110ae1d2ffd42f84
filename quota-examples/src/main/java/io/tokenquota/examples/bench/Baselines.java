package io.tokenquota.examples.bench;

import io.github.bucket4j.BucketConfiguration;
import io.github.bucket4j.distributed.proxy.ProxyManager;
import io.github.bucket4j.postgresql.Bucket4jPostgreSQL;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;

/**
 * The reference points a user compares an exact quota against, on their own tables (not the
 * library's):
 * <ul>
 *   <li>{@link #ceiling}: the physical minimum, one conditional
 *       {@code UPDATE bench_account SET used = used + n WHERE subject = ? AND quota_limit - used >= n}
 *       on a table with one row per subject, in autocommit;</li>
 *   <li>{@link #ceilingWithAudit}: the same plus one appended audit row. On PostgreSQL one statement in
 *       autocommit (the insert reads the row the update returns: one round trip and one commit, the
 *       cheapest honest form); H2 has no data-modifying {@code WITH}, so there it is a two-statement
 *       transaction;</li>
 *   <li>{@link #bucket4j}: Bucket4j's PostgreSQL proxy managers, as its documentation sets them up,
 *       one bucket per subject whose capacity is the monthly allowance and that does not refill
 *       within a run.</li>
 * </ul>
 * Every design is consume-only and thread-safe.
 */
final class Baselines {
    private Baselines() {
    }

    /** Tokens per call in the baseline runs. */
    static final long TOKENS = 10;

    static final String CEILING = "UPDATE bench_account SET used = used + ?"
            + " WHERE subject = ? AND quota_limit - used >= ?";
    static final String CEILING_WITH_AUDIT_PG = "WITH charged AS (UPDATE bench_account SET used = used + ?"
            + " WHERE subject = ? AND quota_limit - used >= ? RETURNING subject)"
            + " INSERT INTO bench_audit (subject, tokens, occurred_at) SELECT subject, ?, CURRENT_TIMESTAMP FROM charged";
    static final String AUDIT_INSERT = "INSERT INTO bench_audit (subject, tokens, occurred_at)"
            + " VALUES (?, ?, CURRENT_TIMESTAMP)";

    /** One row per subject and, for the audit variant, an append-only log keyed by a bigint identity. */
    static void installCeilingTables(DataSource ds, boolean withAudit) throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE bench_account (subject VARCHAR(200) PRIMARY KEY,"
                    + " quota_limit BIGINT NOT NULL, used BIGINT NOT NULL)");
            if (!withAudit) {
                return;
            }
            s.execute("CREATE TABLE bench_audit (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                    + " subject VARCHAR(200) NOT NULL, tokens BIGINT NOT NULL,"
                    + " occurred_at TIMESTAMP WITH TIME ZONE NOT NULL)");
        }
    }

    /** Creates {@code prefix0 .. prefix(n-1)} with {@code allowance} tokens each, in one statement. */
    static void createCeilingRows(DataSource ds, Backend.Dialect dialect, String prefix, int n, long allowance)
            throws SQLException {
        String range = dialect == Backend.Dialect.H2
                ? "SELECT X AS g FROM SYSTEM_RANGE(0, " + (n - 1) + ")"
                : "SELECT g FROM generate_series(0, " + (n - 1) + ") AS g";
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(
                "INSERT INTO bench_account (subject, quota_limit, used) SELECT CONCAT(?, CAST(r.g AS VARCHAR(12))),"
                        + " ?, 0 FROM (" + range + ") r")) {
            ps.setString(1, prefix);
            ps.setLong(2, allowance);
            ps.executeUpdate();
        }
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute(dialect == Backend.Dialect.H2 ? "ANALYZE" : "ANALYZE bench_account");
        }
    }

    static Design ceiling(DataSource ds) {
        return new ConsumeOnly("ceiling: one conditional UPDATE") {
            @Override
            public boolean consume(String subject, long tokens) throws SQLException {
                try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(CEILING)) {
                    ps.setLong(1, tokens);
                    ps.setString(2, subject);
                    ps.setLong(3, tokens);
                    return ps.executeUpdate() == 1;
                }
            }
        };
    }

    static Design ceilingWithAudit(DataSource ds, Backend.Dialect dialect) {
        if (dialect == Backend.Dialect.POSTGRES) {
            return new ConsumeOnly("ceiling + one audit row (1 statement)") {
                @Override
                public boolean consume(String subject, long tokens) throws SQLException {
                    try (Connection c = ds.getConnection();
                         PreparedStatement ps = c.prepareStatement(CEILING_WITH_AUDIT_PG)) {
                        ps.setLong(1, tokens);
                        ps.setString(2, subject);
                        ps.setLong(3, tokens);
                        ps.setLong(4, tokens);
                        return ps.executeUpdate() == 1;
                    }
                }
            };
        }
        return new ConsumeOnly("ceiling + one audit row (2-statement transaction)") {
            @Override
            public boolean consume(String subject, long tokens) throws SQLException {
                try (Connection c = ds.getConnection()) {
                    c.setAutoCommit(false);
                    try {
                        boolean granted;
                        try (PreparedStatement ps = c.prepareStatement(CEILING)) {
                            ps.setLong(1, tokens);
                            ps.setString(2, subject);
                            ps.setLong(3, tokens);
                            granted = ps.executeUpdate() == 1;
                        }
                        if (granted) {
                            try (PreparedStatement ps = c.prepareStatement(AUDIT_INSERT)) {
                                ps.setString(1, subject);
                                ps.setLong(2, tokens);
                                ps.executeUpdate();
                            }
                        }
                        c.commit();
                        return granted;
                    } catch (SQLException | RuntimeException e) {
                        c.rollback();
                        throw e;
                    }
                }
            }
        };
    }

    /** Which of Bucket4j's two PostgreSQL proxy managers. */
    enum Bucket4jLock {
        /** {@code SELECT ... FOR UPDATE} of the bucket row, arithmetic in Java, {@code UPDATE}, commit. */
        SELECT_FOR_UPDATE("bucket4j_sfu", "Bucket4j 8.14 select-for-update"),
        /** {@code pg_advisory_xact_lock(id)}, read the row, arithmetic in Java, {@code UPDATE}, commit. */
        ADVISORY_LOCK("bucket4j_advisory", "Bucket4j 8.14 advisory lock");

        final String table;
        final String label;

        Bucket4jLock(String table, String label) {
            this.table = table;
            this.label = label;
        }
    }

    /**
     * A Bucket4j design over its own table (the layout its documentation gives). Subjects map to
     * Bucket4j's default {@code BIGINT} key, which is also the advisory lock id: the setup Bucket4j's
     * documentation shows. {@link #register} gives each subject its key and its allowance.
     */
    static final class Bucket4jDesign extends ConsumeOnly {
        private final Bucket4jLock lock;
        private final ProxyManager<Long> buckets;
        private final Map<String, Long> keys = new ConcurrentHashMap<>();
        private final Map<Long, BucketConfiguration> configurations = new ConcurrentHashMap<>();
        private final AtomicLong nextKey = new AtomicLong();

        Bucket4jDesign(DataSource ds, Bucket4jLock lock) throws SQLException {
            super(lock.label);
            this.lock = lock;
            try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
                s.execute("CREATE TABLE " + lock.table + " (id BIGINT PRIMARY KEY, state BYTEA, expires_at BIGINT)");
            }
            buckets = switch (lock) {
                case SELECT_FOR_UPDATE -> Bucket4jPostgreSQL.selectForUpdateBasedBuilder(ds).table(lock.table).build();
                case ADVISORY_LOCK -> Bucket4jPostgreSQL.advisoryLockBasedBuilder(ds).table(lock.table).build();
            };
        }

        /** Gives {@code prefix0 .. prefix(n-1)} keys and a bucket of {@code allowance} tokens (created on first use). */
        void register(String prefix, int n, long allowance) {
            BucketConfiguration monthly = monthly(allowance);
            for (int i = 0; i < n; i++) {
                long key = nextKey.getAndIncrement();
                keys.put(prefix + i, key);
                configurations.put(key, monthly);
            }
        }

        /**
         * Creates the buckets of {@code prefix0 .. prefix(n-1)} by taking one token from each (from
         * allowances no run exhausts), so the runs find every bucket existing, as the ceiling finds its rows.
         */
        void touch(String prefix, int n, int threads) throws InterruptedException {
            AtomicLong cursor = new AtomicLong();
            Thread[] workers = new Thread[threads];
            java.util.List<Exception> errors = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
            for (int t = 0; t < threads; t++) {
                workers[t] = new Thread(() -> {
                    long i;
                    while ((i = cursor.getAndIncrement()) < n && errors.isEmpty()) {
                        try {
                            consume(prefix + i, 1);
                        } catch (Exception e) {
                            errors.add(e);
                        }
                    }
                }, "bench-bucket4j-touch-" + t);
                workers[t].start();
            }
            for (Thread w : workers) {
                w.join();
            }
            if (!errors.isEmpty()) {
                throw new IllegalStateException("creating " + lock.label + " buckets failed", errors.get(0));
            }
        }

        @Override
        public boolean consume(String subject, long tokens) {
            Long key = keys.get(subject);
            if (key == null) {
                throw new IllegalStateException("no bucket registered for " + subject);
            }
            // the proxy is a cheap wrapper around the key; Bucket4j's documentation builds one per use
            return buckets.builder().build(key, () -> configurations.get(key)).tryConsume(tokens);
        }

        /** The monthly allowance as a bucket: full at creation, refilled only after a month, so never within a run. */
        static BucketConfiguration monthly(long allowance) {
            return BucketConfiguration.builder()
                    .addLimit(limit -> limit.capacity(allowance).refillIntervally(allowance, Duration.ofDays(31)))
                    .build();
        }
    }

    static Bucket4jDesign bucket4j(DataSource ds, Bucket4jLock lock) throws SQLException {
        return new Bucket4jDesign(ds, lock);
    }

    abstract static class ConsumeOnly implements Design {
        private final String name;

        ConsumeOnly(String name) {
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public boolean supportsHolds() {
            return false;
        }

        @Override
        public Object reserve(String subject, long tokens) {
            throw new UnsupportedOperationException(name + " has no holds");
        }

        @Override
        public void commit(Object hold, long actual) {
            throw new UnsupportedOperationException(name + " has no holds");
        }
    }
}

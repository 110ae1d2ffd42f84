package io.tokenquota.examples.bench;

import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.QuotaLedger;
import io.tokenquota.QuotaPolicy;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import javax.sql.DataSource;

/**
 * The comparison a user makes: every design as a ratio of the ceiling (one conditional
 * {@code UPDATE} on a one-row-per-subject table, in autocommit) measured in the same run, on the same
 * database; what each design leaves on disk per call; and whether each one is exact. Runs on the
 * driver thread; not thread-safe.
 */
final class BaselineBench {
    static final long HUGE = LedgerBench.HUGE;
    /** Exactness drain: accounts per design and tokens in each (a multiple of {@link Baselines#TOKENS}). */
    private static final int EXACT_SUBJECTS = 3;

    private final Settings settings;
    private final Report report;
    private final LedgerBench.LedgerFactory factory;
    private final QuotaPolicy policy = LedgerBench.unlimitedPolicy();
    private final YearMonth month = policy.currentMonth();

    BaselineBench(Settings settings, Report report, LedgerBench.LedgerFactory factory) {
        this.settings = settings;
        this.report = report;
        this.factory = factory;
    }

    /** Gives {@code prefix0 .. prefix(n-1)} accounts of {@code allowance} tokens in a candidate's tables. */
    @FunctionalInterface
    private interface AccountFactory {
        void create(String prefix, int n, long allowance) throws Exception;
    }

    /** One row of the tables: a design and the operation it is measured with. */
    private record Candidate(String name, Design design, boolean reserveAndCommit, AccountFactory accounts) {
        LoadRun.Op op(Subjects subjects) {
            return (thread, random) -> call(subjects.pick(random));
        }

        boolean call(String subject) throws Exception {
            long tokens = Baselines.TOKENS;
            if (!reserveAndCommit) {
                return design.consume(subject, tokens);
            }
            Object hold = design.reserve(subject, tokens);
            if (hold == null) {
                return false;
            }
            design.commit(hold, tokens);
            return true;
        }
    }

    private static final String CEILING = "ceiling: one conditional UPDATE";

    /** Every design this backend can run, over tables that {@link #install} created. */
    private List<Candidate> candidates(DataSource ds, Backend backend, QuotaLedger ledger) throws SQLException {
        Backend.Dialect dialect = backend.dialect();
        AccountFactory ceilingTable = (prefix, n, allowance) -> Baselines.createCeilingRows(ds, dialect, prefix, n, allowance);
        AccountFactory ledgerTable = (prefix, n, allowance) -> Schema.createAccounts(ds, dialect, prefix, n, allowance, month);
        List<Candidate> out = new ArrayList<>();
        out.add(new Candidate(CEILING, Baselines.ceiling(ds), false, ceilingTable));
        Design audit = Baselines.ceilingWithAudit(ds, dialect);
        out.add(new Candidate(audit.name(), audit, false, ceilingTable));
        if (dialect == Backend.Dialect.POSTGRES) {
            for (Baselines.Bucket4jLock lock : Baselines.Bucket4jLock.values()) {
                Baselines.Bucket4jDesign bucket4j = Baselines.bucket4j(ds, lock);
                out.add(new Candidate(lock.label, bucket4j, false, (prefix, n, allowance) -> {
                    bucket4j.register(prefix, n, allowance);
                    if (allowance == HUGE) {
                        bucket4j.touch(prefix, n, Math.min(8, Math.max(2, settings.maxBaselineThreads())));
                    }
                }));
            }
        }
        out.add(new Candidate(JdbcDesigns.NAIVE, JdbcDesigns.naive(ds, month), false, ledgerTable));
        LedgerDesign ours = new LedgerDesign("our ledger", ledger);
        out.add(new Candidate("our consume (JdbiQuotaStore)", ours, false, ledgerTable));
        out.add(new Candidate("our reserve + commit (JdbiQuotaStore)", ours, true, ledgerTable));
        return out;
    }

    private void install(DataSource ds) throws SQLException {
        factory.installSchema(ds);
        Baselines.installCeilingTables(ds, true);
    }

    /**
     * Throughput of every design at each subject distribution and thread count, as a ratio of the
     * ceiling's in the same cell; then the exactness drain.
     */
    void throughput(Backend backend) throws Exception {
        int n = settings.baselineSubjects();
        HikariDataSource ds = backend.newDatabase(Math.max(4, settings.maxBaselineThreads()));
        install(ds);
        QuotaLedger ledger = factory.open(ds, policy);
        List<Candidate> candidates = new ArrayList<>(candidates(ds, backend, ledger));
        // --baseline-designs: the ceiling (first, every ratio's denominator) and the designs it names
        candidates.removeIf(c -> !c.name().equals(CEILING) && !settings.designs().isEmpty()
                && settings.designs().stream().noneMatch(w -> c.name().toLowerCase(java.util.Locale.ROOT).contains(w)));
        // the ceiling's table and the ledger's serve two designs each: filled once, here
        Baselines.createCeilingRows(ds, backend.dialect(), "u", n, HUGE);
        Schema.createAccounts(ds, backend.dialect(), "u", n, HUGE, month);
        for (Candidate c : candidates) {
            if (c.design() instanceof Baselines.Bucket4jDesign) {
                c.accounts().create("u", n, HUGE);
            }
        }
        List<Subjects> distributions = new ArrayList<>();
        if (settings.distributions().contains("hot")) distributions.add(Subjects.hot());
        if (settings.distributions().contains("zipf")) distributions.add(Subjects.zipf(n, settings.zipfExponent()));
        if (settings.distributions().contains("uniform")) distributions.add(Subjects.uniform(n));
        if (distributions.isEmpty()) {
            throw new IllegalArgumentException("--distributions names none of hot, zipf, uniform");
        }
        // one unmeasured pass per design, so the first cell does not pay for the JIT
        for (Candidate c : candidates) {
            LoadRun.Result r = LoadRun.run(4, settings.warmup(), settings.measure(), false, c.op(distributions.get(distributions.size() - 1)));
            LedgerBench.failOnErrors(c.name(), r);
        }
        // statistics as autovacuum keeps them once tables have grown: a plan made while a table was empty
        // (every hold table here starts so) is a fresh install's first minute, not the steady state
        Schema.analyzeAll(ds);
        // CPU per call beside calls/s: a closed loop's calls/s also measure how well a design keeps both of the
        // machine's cores busy, its CPU per call what it costs once they are (the load threads: the library and
        // the driver; the embedded server's processes of the pool)
        CpuClock cpu = backend.cpuClock(ds);
        Map<String, long[][]> cpuSums = new LinkedHashMap<>();
        Map<String, double[]> best = new LinkedHashMap<>();
        List<String> columns = new ArrayList<>();
        for (Subjects subjects : distributions) {
            for (int threads : settings.baselineThreads()) {
                String column = shortLabel(subjects) + " x" + threads;
                columns.add(column);
                double[] opsPerSecond = new double[candidates.size()];
                // per design: load threads' CPU, server processes' CPU, calls (every round's window)
                long[][] cpuSum = new long[candidates.size()][3];
                for (int round = 0; round < settings.rounds(); round++) {
                    for (int i = 0; i < candidates.size(); i++) {
                        // the machine is shared and noisy: designs alternate order round by round, each keeps its best
                        int d = round % 2 == 0 ? i : candidates.size() - 1 - i;
                        Candidate c = candidates.get(d);
                        LoadRun.Result r = LoadRun.run(threads, settings.warmup(), settings.measure(), false, cpu,
                                c.op(subjects));
                        LedgerBench.failOnErrors(c.name(), r);
                        if (r.refused() > 0) {
                            throw new IllegalStateException(c.name() + " refused " + r.refused()
                                    + " calls: an allowance ran out and the ratios would compare refusals");
                        }
                        opsPerSecond[d] = Math.max(opsPerSecond[d], r.opsPerSecond());
                        long server = Math.max(0, r.serverCpuNanos());
                        cpuSum[d][0] += r.cpuNanos() - server;
                        cpuSum[d][1] += server;
                        cpuSum[d][2] += r.ops();
                    }
                }
                best.put(column, opsPerSecond);
                cpuSums.put(column, cpuSum);
                StringBuilder line = new StringBuilder("  " + backend.name() + " " + column + ":");
                for (int d = 0; d < candidates.size(); d++) {
                    String key = "baselines." + backend.name() + "." + column + "." + candidates.get(d).name();
                    report.record(key + ".opsPerSecond", opsPerSecond[d]);
                    report.record(key + ".ratio", opsPerSecond[d] / opsPerSecond[0]);
                    line.append(String.format(java.util.Locale.ROOT, " %s %.0f/s;", candidates.get(d).name(),
                            opsPerSecond[d]));
                }
                System.err.println(line);
            }
        }
        report.heading("Against the ceiling: " + backend.name());
        report.line("Settings: " + backend.settings(ds) + "; pool " + ds.getMaximumPoolSize() + " connections; "
                + n + " subjects, all existing before the run (accounts, rows and buckets); " + Baselines.TOKENS
                + " tokens per call; Zipf exponent " + settings.zipfExponent() + " (top subject "
                + Report.pct(Subjects.zipf(n, settings.zipfExponent()).topShare()) + " of calls). Each cell: " + settings.rounds()
                + " rounds of " + settings.warmup().toMillis() + " ms warm-up + " + settings.measure().toMillis()
                + " ms measured per design, designs alternating, best round kept. One reserve + commit counts as"
                + " one call. Ratio = the design's calls/s over the ceiling's in the same cell.");
        List<String> header = new ArrayList<>();
        header.add("design");
        header.addAll(columns);
        List<List<String>> ratios = new ArrayList<>();
        List<List<String>> absolute = new ArrayList<>();
        for (int d = 0; d < candidates.size(); d++) {
            List<String> ratioRow = new ArrayList<>();
            List<String> absoluteRow = new ArrayList<>();
            ratioRow.add(candidates.get(d).name());
            absoluteRow.add(candidates.get(d).name());
            for (String column : columns) {
                double[] ops = best.get(column);
                ratioRow.add(Report.ratio(ops[d] / ops[0]));
                absoluteRow.add(Report.num(ops[d]));
            }
            ratios.add(ratioRow);
            absolute.add(absoluteRow);
        }
        report.table(header, ratios);
        report.line("\nCalls per second behind those ratios (only as good as this machine):");
        report.table(header, absolute);
        report.line("\nCPU per call, every round's window: µs of the load threads (the library and the JDBC driver)"
                + (cpu.includesDatabase() ? " + µs of the server's processes of the pool" : " (the server's CPU is not seen)")
                + ", and the ceiling's CPU per call over the design's (the ratio a design would reach if the machine's"
                + " cores were all busy with it; steadier than calls/s on a shared machine):");
        List<List<String>> cpuRows = new ArrayList<>();
        for (int d = 0; d < candidates.size(); d++) {
            List<String> row = new ArrayList<>();
            row.add(candidates.get(d).name());
            for (String column : columns) {
                long[][] sums = cpuSums.get(column);
                double calls = Math.max(1, sums[d][2]);
                double perCall = (sums[d][0] + sums[d][1]) / 1_000.0 / calls;
                double ceilingPerCall = (sums[0][0] + sums[0][1]) / 1_000.0 / Math.max(1, sums[0][2]);
                row.add(Report.num(sums[d][0] / 1_000.0 / calls)
                        + (cpu.includesDatabase() ? " + " + Report.num(sums[d][1] / 1_000.0 / calls) : "")
                        + " (" + Report.ratio(ceilingPerCall / perCall) + ")");
                report.record("baselines." + backend.name() + "." + column + "." + candidates.get(d).name()
                        + ".cpuRatio", ceilingPerCall / perCall);
            }
            cpuRows.add(row);
        }
        report.table(header, cpuRows);
        exactness(backend, ds, candidates);
        if (ledger instanceof AutoCloseable closeable) {
            closeable.close();
        }
    }

    private static String shortLabel(Subjects subjects) {
        String label = subjects.label();
        return label.startsWith("hot") ? "hot" : label.startsWith("zipf") ? "zipf" : "uniform";
    }

    /**
     * Each design drains {@link #EXACT_SUBJECTS} fresh accounts of the same allowance under the most
     * threads of the run; an exact design grants every account exactly its allowance.
     */
    private void exactness(Backend backend, DataSource ds, List<Candidate> candidates) throws Exception {
        int threads = Math.max(2, settings.maxBaselineThreads());
        long allowance = exactAllowance();
        List<List<String>> rows = new ArrayList<>();
        for (int i = 0; i < candidates.size(); i++) {
            Candidate c = candidates.get(i);
            String prefix = "x" + i + "-";
            c.accounts().create(prefix, EXACT_SUBJECTS, allowance);
            long[] granted = drain(c, prefix, threads);
            long over = 0;
            long under = 0;
            for (long g : granted) {
                over += Math.max(0, g - allowance);
                under += Math.max(0, allowance - g);
            }
            String key = "baselines." + backend.name() + ".exact." + c.name();
            report.record(key + ".overspent", over);
            report.record(key + ".underspent", under);
            rows.add(List.of(c.name(), String.valueOf(EXACT_SUBJECTS * allowance), String.valueOf(over),
                    String.valueOf(under)));
        }
        report.line("\nExactness: " + threads + " threads drain " + EXACT_SUBJECTS + " fresh accounts of " + allowance
                + " tokens per design, " + Baselines.TOKENS + " tokens per call, all threads on one account until it"
                + " refuses. An exact design grants each account its allowance, no more and no less.");
        report.table(List.of("design", "allowance in all", "tokens granted beyond it", "tokens left ungranted"), rows);
    }

    private long exactAllowance() {
        // 10 calls per account in a smoke run, 100 otherwise: enough for every thread to meet the others
        return Baselines.TOKENS * (settings.baselineSubjects() < 1_000 ? 10 : 100);
    }

    private long[] drain(Candidate c, String prefix, int threads) throws InterruptedException {
        AtomicInteger cursor = new AtomicInteger();
        AtomicLongArray granted = new AtomicLongArray(EXACT_SUBJECTS);
        List<Throwable> errors = java.util.Collections.synchronizedList(new ArrayList<>());
        long deadline = System.nanoTime() + 120_000_000_000L;
        Thread[] workers = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            workers[t] = new Thread(() -> {
                int at;
                while ((at = cursor.get()) < EXACT_SUBJECTS && errors.isEmpty()) {
                    if (System.nanoTime() > deadline) {
                        errors.add(new IllegalStateException(c.name() + " never refused within 120 s"));
                        break;
                    }
                    try {
                        if (c.call(prefix + at)) {
                            granted.addAndGet(at, Baselines.TOKENS);
                        } else {
                            cursor.compareAndSet(at, at + 1);
                        }
                    } catch (Exception e) {
                        errors.add(e);
                    }
                }
            }, "bench-exact-" + t);
            workers[t].start();
        }
        for (Thread w : workers) {
            w.join();
        }
        if (!errors.isEmpty()) {
            throw new IllegalStateException(c.name() + " failed while draining", errors.get(0));
        }
        long[] out = new long[EXACT_SUBJECTS];
        for (int s = 0; s < EXACT_SUBJECTS; s++) {
            out[s] = granted.get(s);
        }
        return out;
    }

    /**
     * Bytes on disk and index entries per call: each design in a database of its own holding only its
     * tables, the growth of every table (indexes, TOAST and free-space maps included) over
     * {@code storageCalls} calls, uniform over the subjects, divided by the calls. PostgreSQL only.
     */
    void storage(Backend backend) throws Exception {
        if (backend.dialect() != Backend.Dialect.POSTGRES) {
            return;
        }
        int n = settings.baselineSubjects();
        int calls = settings.storageCalls();
        List<List<String>> rows = new ArrayList<>();
        for (String kind : List.of("ceiling", "audit", "bucket4j", "consume", "reserve+commit")) {
            HikariDataSource ds = backend.newDatabase(4);
            try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
                s.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple");
            }
            QuotaLedger ledger = null;
            Candidate candidate;
            switch (kind) {
                case "ceiling", "audit" -> {
                    Baselines.installCeilingTables(ds, kind.equals("audit"));
                    Design design = kind.equals("audit") ? Baselines.ceilingWithAudit(ds, backend.dialect())
                            : Baselines.ceiling(ds);
                    candidate = new Candidate(design.name(), design, false,
                            (prefix, k, allowance) -> Baselines.createCeilingRows(ds, backend.dialect(), prefix, k, allowance));
                }
                case "bucket4j" -> {
                    Baselines.Bucket4jDesign b = Baselines.bucket4j(ds, Baselines.Bucket4jLock.SELECT_FOR_UPDATE);
                    candidate = new Candidate(b.name(), b, false, (prefix, k, allowance) -> {
                        b.register(prefix, k, allowance);
                        b.touch(prefix, k, 4);
                    });
                }
                default -> {
                    factory.installSchema(ds);
                    ledger = factory.open(ds, policy);
                    boolean holds = kind.equals("reserve+commit");
                    candidate = new Candidate(holds ? "our reserve + commit (JdbiQuotaStore)"
                            : "our consume (JdbiQuotaStore)", new LedgerDesign("our ledger", ledger), holds,
                            (prefix, k, allowance) -> Schema.createAccounts(ds, backend.dialect(), prefix, k, allowance,
                                    month));
                }
            }
            candidate.accounts().create("u", n, HUGE);
            try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
                s.execute("VACUUM ANALYZE");
            }
            Footprint before = Footprint.read(ds);
            runCalls(candidate, Subjects.uniform(n), calls, 4);
            Footprint after = Footprint.read(ds);
            if (ledger instanceof AutoCloseable closeable) {
                closeable.close();
            }
            double bytes = (after.bytes - before.bytes) / (double) calls;
            double inserted = (after.inserted - before.inserted) / (double) calls;
            double updated = (after.updated - before.updated) / (double) calls;
            double hot = (after.hotUpdated - before.hotUpdated) / (double) Math.max(1, after.updated - before.updated);
            double entries = after.indexEntries < 0 || before.indexEntries < 0 ? Double.NaN
                    : (after.indexEntries - before.indexEntries) / (double) calls;
            double written = (after.entriesWritten - before.entriesWritten) / (double) calls;
            String key = "storage." + backend.name() + "." + candidate.name();
            report.record(key + ".bytesPerCall", bytes);
            report.record(key + ".indexEntriesPerCall", entries);
            report.record(key + ".rowsInsertedPerCall", inserted);
            rows.add(List.of(candidate.name(), Report.num(bytes), Report.num(inserted), Report.num(updated),
                    Report.pct(hot), Report.num(entries), Report.num(written), after.indexes));
        }
        report.heading("Storage per call: " + backend.name());
        report.line(calls + " calls per design (4 threads, uniform over " + n + " existing subjects, " + Baselines.TOKENS
                + " tokens each; one reserve + its commit is one call), each design in a database of its own that"
                + " holds only its tables, after VACUUM ANALYZE. Bytes = growth of pg_total_relation_size over those"
                + " tables / calls (autovacuum may run meanwhile, as in production). Rows from pg_stat_user_tables."
                + " Index entries (net) = growth of the live entries of every B-tree index (pgstattuple) / calls:"
                + " what the indexes keep. Index entries written = (inserts + non-HOT updates) x the table's indexes"
                + " / calls: an upper bound that counts a partial index as if it were full.");
        report.table(List.of("design", "bytes on disk per call", "rows inserted per call", "rows updated per call",
                "of which HOT", "index entries per call (net)", "index entries written per call (at most)",
                "tables: indexes"), rows);
    }

    private static void runCalls(Candidate c, Subjects subjects, int calls, int threads) throws InterruptedException {
        AtomicLong left = new AtomicLong(calls);
        List<Throwable> errors = java.util.Collections.synchronizedList(new ArrayList<>());
        Thread[] workers = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            final int seed = t;
            workers[t] = new Thread(() -> {
                java.util.SplittableRandom random = new java.util.SplittableRandom(0x5eedL * 17 + seed);
                while (left.getAndDecrement() > 0 && errors.isEmpty()) {
                    try {
                        if (!c.call(subjects.pick(random))) {
                            throw new IllegalStateException(c.name() + " refused a call");
                        }
                    } catch (Exception e) {
                        errors.add(e);
                    }
                }
            }, "bench-storage-" + t);
            workers[t].start();
        }
        for (Thread w : workers) {
            w.join();
        }
        if (!errors.isEmpty()) {
            throw new IllegalStateException(c.name() + " failed in the storage run", errors.get(0));
        }
    }

    /** What a database's user tables hold, read from a connection of its own. */
    private record Footprint(long bytes, long inserted, long updated, long hotUpdated, long indexEntries,
                             long entriesWritten, String indexes) {

        /**
         * Closes the pool's idle connections first: a PostgreSQL 14 backend sends its table counters to the
         * statistics collector at most every 500 ms while busy, and for certain when it exits.
         */
        static Footprint read(HikariDataSource ds) throws SQLException, InterruptedException {
            ds.getHikariPoolMXBean().softEvictConnections();
            Thread.sleep(1_000);
            try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
                s.execute("SELECT pg_stat_clear_snapshot()");
                long bytes;
                try (ResultSet rs = s.executeQuery("SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)"
                        + " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                        + " WHERE n.nspname = 'public' AND c.relkind = 'r'")) {
                    rs.next();
                    bytes = rs.getLong(1);
                }
                long inserted;
                long updated;
                long hot;
                long written;
                try (ResultSet rs = s.executeQuery("SELECT COALESCE(SUM(t.n_tup_ins), 0), COALESCE(SUM(t.n_tup_upd), 0),"
                        + " COALESCE(SUM(t.n_tup_hot_upd), 0), COALESCE(SUM((t.n_tup_ins + t.n_tup_upd - t.n_tup_hot_upd)"
                        + " * (SELECT COUNT(*) FROM pg_index i WHERE i.indrelid = t.relid)), 0)"
                        + " FROM pg_stat_user_tables t WHERE t.schemaname = 'public'")) {
                    rs.next();
                    inserted = rs.getLong(1);
                    updated = rs.getLong(2);
                    hot = rs.getLong(3);
                    written = rs.getLong(4);
                }
                long entries = 0;
                StringBuilder indexes = new StringBuilder();
                try (ResultSet rs = s.executeQuery("SELECT t.relname, COUNT(*),"
                        + " COUNT(*) FILTER (WHERE am.amname <> 'btree')"
                        + " FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
                        + " JOIN pg_namespace n ON n.oid = t.relnamespace JOIN pg_am am ON am.oid = ic.relam"
                        + " WHERE n.nspname = 'public' AND t.relkind = 'r' GROUP BY t.relname ORDER BY t.relname")) {
                    while (rs.next()) {
                        indexes.append(indexes.length() == 0 ? "" : ", ").append(rs.getString(1)).append(' ')
                                .append(rs.getInt(2)).append(rs.getInt(3) > 0 ? " (" + rs.getInt(3) + " not B-tree)" : "");
                    }
                }
                try (ResultSet rs = s.executeQuery("SELECT COALESCE(SUM((pgstattuple(ic.oid)).tuple_count), 0)"
                        + " FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
                        + " JOIN pg_namespace n ON n.oid = t.relnamespace JOIN pg_am am ON am.oid = ic.relam"
                        + " WHERE n.nspname = 'public' AND t.relkind = 'r' AND am.amname = 'btree'")) {
                    rs.next();
                    entries = rs.getLong(1);
                } catch (SQLException e) {
                    // pgstattuple is missing on this server: the net column stays empty
                    entries = -1;
                }
                return new Footprint(bytes, inserted, updated, hot, entries, written, indexes.toString());
            }
        }
    }
}

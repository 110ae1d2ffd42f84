package io.tokenquota.examples.bench;

import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.QuotaLedger;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;

import java.time.YearMonth;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.Function;
import javax.sql.DataSource;

/**
 * Issue 5, parts 1-3: ledger throughput against the plain-JDBC ceiling, hot against spread
 * subjects, and the naive and {@code FOR UPDATE} designs against ours (throughput and overspend).
 * Runs on the driver thread; not thread-safe.
 */
final class LedgerBench {
    /** Opens our ledger over a database whose schema is installed. */
    interface LedgerFactory {
        QuotaStore open(DataSource ds, QuotaPolicy policy);

        void installSchema(DataSource ds);
    }

    static final long HOLD = 100;
    static final long ACTUAL = 80;
    private static final java.time.Duration DRAIN_LIMIT = java.time.Duration.ofSeconds(120);
    static final long HUGE = 1_000_000_000_000L;

    private final Settings settings;
    private final Report report;
    private final LedgerFactory factory;
    private final QuotaPolicy policy = unlimitedPolicy();
    private final YearMonth month = policy.currentMonth();

    /** ops/s by "backend|op|keys|threads|design", for the hot-vs-spread table. */
    private final Map<String, Double> measured = new HashMap<>();

    /** A policy no load run exhausts: the throughput runs measure granted operations only. */
    static QuotaPolicy unlimitedPolicy() {
        return QuotaPolicy.builder().defaultAllocation(HUGE).maxQuota(HUGE * 1000).build();
    }

    LedgerBench(Settings settings, Report report, LedgerFactory factory) {
        this.settings = settings;
        this.report = report;
        this.factory = factory;
    }

    /** Part 1 (and the 16-thread rows that part 2 compares) on one backend. */
    void throughput(Backend backend, boolean hotVsSpreadOnly) throws Exception {
        HikariDataSource ds = backend.newDatabase(Math.max(4, settings.maxThreads()));
        factory.installSchema(ds);
        Schema.createAccounts(ds, backend.dialect(), "u", settings.subjects(), HUGE, month);
        QuotaLedger ledger = factory.open(ds, policy);
        List<Design> designs = List.of(JdbcDesigns.ceiling(ds, month, backend.dialect()),
                new LedgerDesign("our ledger", ledger));
        List<Subjects> keys = List.of(Subjects.uniform(settings.subjects()),
                Subjects.zipf(settings.subjects(), settings.zipfExponent()), Subjects.hot());
        List<Integer> threadCounts = hotVsSpreadOnly ? List.of(16) : settings.threads();
        List<Subjects> keyChoices = hotVsSpreadOnly ? List.of(keys.get(0), keys.get(2)) : keys;

        // one unmeasured pass per design and operation, so the first cell does not pay for the JIT
        for (Design design : designs) {
            for (String op : List.of("reserve+commit", "consume")) {
                LoadRun.run(4, settings.warmup().multipliedBy(2), settings.measure(), false,
                        operation(op, design, keys.get(0)));
            }
        }
        CpuClock cpu = backend.cpuClock(ds);
        report.heading("Ledger throughput: " + backend.name() + (hotVsSpreadOnly ? " (16 threads only)" : ""));
        report.line("Settings: " + backend.settings(ds) + "; pool " + ds.getMaximumPoolSize() + " connections; "
                + settings.subjects() + " pre-created accounts; Zipf exponent " + settings.zipfExponent()
                + " (top subject gets " + Report.pct(keys.get(1).topShare()) + " of operations). Each cell: "
                + settings.rounds() + " alternating rounds of " + settings.warmup().toMillis() + " ms warm-up + "
                + settings.measure().toMillis() + " ms measured per design, best round kept. One reserve+commit"
                + " counts as one operation (hold " + HOLD + ", commit " + ACTUAL + "); consume takes " + HOLD + ".");
        List<List<String>> rows = new ArrayList<>();
        for (String op : List.of("reserve+commit", "consume")) {
            for (Subjects subjects : keyChoices) {
                for (int threads : threadCounts) {
                    double[] opsPerSecond = new double[designs.size()];
                    double[] cpuNanos = new double[2];
                    double[] cpuOps = new double[2];
                    // the machine is shared and noisy: designs alternate round by round and each keeps its
                    // best round, the one least disturbed by everything else running
                    for (int round = 0; round < settings.rounds(); round++) {
                        for (int i = 0; i < designs.size(); i++) {
                            int d = round % 2 == 0 ? i : designs.size() - 1 - i;
                            Design design = designs.get(d);
                            LoadRun.Result r = LoadRun.run(threads, settings.warmup(), settings.measure(), cpu,
                                    operation(op, design, subjects));
                            failOnErrors(design.name() + " " + op, r);
                            opsPerSecond[d] = Math.max(opsPerSecond[d], r.opsPerSecond());
                            cpuNanos[d] += r.cpuNanos();
                            cpuOps[d] += r.ops() + r.refused();
                        }
                    }
                    // CPU is pooled over the rounds: /proc counts in 10 ms ticks, and the least of noisy
                    // samples would be biased low
                    double[] cpuPerOp = {cpuNanos[0] / 1000 / Math.max(1, cpuOps[0]),
                        cpuNanos[1] / 1000 / Math.max(1, cpuOps[1])};
                    for (int d = 0; d < designs.size(); d++) {
                        measured.put(key(backend, op, subjects, threads, d), opsPerSecond[d]);
                        report.record("ledger." + backend.name() + "." + op + "." + subjects.label() + "." + threads
                                + "." + (d == 0 ? "ceiling" : "ledger"), opsPerSecond[d]);
                    }
                    System.err.printf("  %s %s %s x%d: ceiling %.0f ops/s, ledger %.0f ops/s%n", backend.name(), op,
                            subjects.label(), threads, opsPerSecond[0], opsPerSecond[1]);
                    report.record("ledger." + backend.name() + "." + op + "." + subjects.label() + "." + threads
                            + ".cpuRatio", cpuPerOp[0] / cpuPerOp[1]);
                    rows.add(List.of(op, subjects.label(), String.valueOf(threads), Report.num(opsPerSecond[0]),
                            Report.num(opsPerSecond[1]), Report.ratio(opsPerSecond[1] / opsPerSecond[0]),
                            Report.num(cpuPerOp[0]), Report.num(cpuPerOp[1]), Report.ratio(cpuPerOp[0] / cpuPerOp[1])));
                }
            }
        }
        report.line("CPU per operation = CPU time of the load threads" + (cpu.includesDatabase()
                ? " and of the PostgreSQL backends serving the pool" : (backend.dialect() == Backend.Dialect.H2
                ? " (H2 runs inside them)" : " (the remote server's CPU is not seen)"))
                + " during the windows / operations, over all rounds. Ceiling CPU / ledger CPU is the ratio the"
                + " ledger reaches when CPU-bound; it is far less disturbed by other load on the machine than ops/s.");
        report.table(List.of("operation", "subjects", "threads", "ceiling ops/s", "ledger ops/s", "ledger / ceiling",
                "ceiling CPU µs/op", "ledger CPU µs/op", "by CPU: ceiling / ledger"), rows);
        hotVsSpread(backend, keys.get(0), keys.get(2));
        if (ledger instanceof AutoCloseable closeable) {
            closeable.close();
        }
    }

    /**
     * What the one-statement form buys on PostgreSQL: the ceiling (the ledger's statements, no library),
     * the same writes as a four-statement transaction, and the ledger, side by side.
     */
    void attribution(Backend backend) throws Exception {
        HikariDataSource ds = backend.newDatabase(16);
        factory.installSchema(ds);
        Schema.createAccounts(ds, backend.dialect(), "u", settings.subjects(), HUGE, month);
        QuotaLedger ledger = factory.open(ds, policy);
        List<Design> designs = List.of(JdbcDesigns.ceiling(ds, month, backend.dialect()),
                JdbcDesigns.transaction("plain JDBC, 4-statement transaction", ds, month),
                new LedgerDesign("our ledger", ledger));
        Subjects subjects = Subjects.uniform(settings.subjects());
        for (Design design : designs) {
            LoadRun.run(4, settings.warmup().multipliedBy(2), settings.measure(), false,
                    operation("reserve+commit", design, subjects));
        }
        CpuClock cpu = backend.cpuClock(ds);
        List<List<String>> rows = new ArrayList<>();
        for (String op : List.of("reserve+commit", "consume")) {
            for (int threads : List.of(1, 16)) {
                double[] best = new double[designs.size()];
                double[] cpuNanos = new double[designs.size()];
                double[] cpuOps = new double[designs.size()];
                for (int round = 0; round < settings.rounds(); round++) {
                    for (int i = 0; i < designs.size(); i++) {
                        int d = round % 2 == 0 ? i : designs.size() - 1 - i;
                        LoadRun.Result r = LoadRun.run(threads, settings.warmup(), settings.measure(), cpu,
                                operation(op, designs.get(d), subjects));
                        failOnErrors(designs.get(d).name() + " " + op, r);
                        best[d] = Math.max(best[d], r.opsPerSecond());
                        cpuNanos[d] += r.cpuNanos();
                        cpuOps[d] += r.ops() + r.refused();
                    }
                }
                for (int d = 0; d < designs.size(); d++) {
                    double cpuPerOp = cpuNanos[d] / 1000 / Math.max(1, cpuOps[d]);
                    double ceilingCpu = cpuNanos[0] / 1000 / Math.max(1, cpuOps[0]);
                    report.record("attribution." + op + "." + threads + "." + designs.get(d).name(), best[d]);
                    rows.add(List.of(op, String.valueOf(threads), designs.get(d).name(), Report.num(best[d]),
                            Report.ratio(best[d] / best[0]), Report.num(cpuPerOp), Report.ratio(ceilingCpu / cpuPerOp)));
                }
            }
        }
        if (ledger instanceof AutoCloseable closeable) {
            closeable.close();
        }
        report.heading("One statement or a transaction: " + backend.name());
        report.line("Uniform subjects over " + settings.subjects() + " accounts. Round trips per operation: the"
                + " ceiling and the ledger 1 per reserve, commit or consume (one statement in autocommit); the"
                + " transaction 4 (insert reservation, insert event, conditional UPDATE, COMMIT), the same writes.");
        report.table(List.of("operation", "threads", "design", "ops/s", "vs ceiling", "CPU µs/op",
                "by CPU: vs ceiling"), rows);
    }

    private void hotVsSpread(Backend backend, Subjects spread, Subjects hot) {
        List<List<String>> rows = new ArrayList<>();
        for (String op : List.of("reserve+commit", "consume")) {
            for (int d = 0; d < 2; d++) {
                Double s = measured.get(key(backend, op, spread, 16, d));
                Double h = measured.get(key(backend, op, hot, 16, d));
                if (s == null || h == null) {
                    continue;
                }
                rows.add(List.of(op, d == 0 ? "plain JDBC ceiling" : "our ledger", Report.num(s), Report.num(h),
                        Report.ratio(h / s)));
            }
        }
        if (rows.isEmpty()) {
            return;
        }
        report.line("\nHot vs spread, 16 threads, " + backend.name() + ":");
        report.table(List.of("operation", "design", "spread ops/s (uniform)", "hot ops/s (1 subject)", "hot / spread"),
                rows);
    }

    private static String key(Backend backend, String op, Subjects subjects, int threads, int design) {
        return backend.name() + "|" + op + "|" + subjects.label() + "|" + threads + "|" + design;
    }

    private static LoadRun.Op operation(String op, Design design, Subjects subjects) {
        if (op.equals("consume")) {
            return (thread, random) -> design.consume(subjects.pick(random), HOLD);
        }
        return (thread, random) -> {
            Object hold = design.reserve(subjects.pick(random), HOLD);
            if (hold == null) {
                return false;
            }
            design.commit(hold, ACTUAL);
            return true;
        };
    }

    static void failOnErrors(String what, LoadRun.Result r) {
        if (r.errors() > 0) {
            throw new IllegalStateException(what + ": " + r.errors() + " of " + (r.ops() + r.errors())
                    + " operations failed", r.firstError());
        }
    }

    /**
     * Part 3: every design drains the same allowance under 16 threads. Each design gets its own
     * {@code drainSubjects} accounts of {@code drainAllowance} tokens; all threads consume
     * {@link #HOLD} tokens at a time from the same account until it refuses, then move together to the
     * next one. Overspend is the tokens granted (counted by the callers) beyond the allowance.
     */
    void overspend(Backend backend) throws Exception {
        int threads = 16;
        HikariDataSource ds = backend.newDatabase(threads);
        factory.installSchema(ds);
        QuotaLedger ledger = factory.open(ds, policy);
        List<Function<DataSource, Design>> designs = new ArrayList<>(List.of(
                d -> new LedgerDesign("our ledger (conditional UPDATE)", ledger),
                d -> JdbcDesigns.ceiling(d, month, backend.dialect())));
        if (backend.dialect() == Backend.Dialect.POSTGRES) {
            // on H2 the ceiling is this transaction already
            designs.add(d -> JdbcDesigns.transaction("conditional UPDATE, 4-statement transaction", d, month));
        }
        designs.add(d -> JdbcDesigns.forUpdate(d, month));
        designs.add(d -> JdbcDesigns.naive(d, month));
        List<List<String>> rows = new ArrayList<>();
        double ours = Double.NaN;
        for (int i = 0; i < designs.size(); i++) {
            Design design = designs.get(i).apply(ds);
            // a short unmeasured drain first, so no design runs cold
            Schema.createAccounts(ds, backend.dialect(), "w" + i + "-", 2, settings.drainAllowance(), month);
            drain(design, "w" + i + "-", 2, threads);
            String prefix = "d" + i + "-";
            Schema.createAccounts(ds, backend.dialect(), prefix, settings.drainSubjects(), settings.drainAllowance(),
                    month);
            Drain drain = drain(design, prefix, settings.drainSubjects(), threads);
            long dbOverspend = 0;
            for (int s = 0; s < settings.drainSubjects(); s++) {
                dbOverspend += Math.max(0, Schema.used(ds, prefix + s, month) - settings.drainAllowance());
            }
            if (i == 0) {
                ours = drain.opsPerSecond;
            }
            report.record("designs." + backend.name() + "." + design.name() + ".opsPerSecond", drain.opsPerSecond);
            report.record("designs." + backend.name() + "." + design.name() + ".overspent", drain.overspent);
            report.record("designs." + backend.name() + "." + design.name() + ".overspentInDb", dbOverspend);
            long allowance = settings.drainAllowance() * settings.drainSubjects();
            rows.add(List.of(design.name(), Report.num(drain.opsPerSecond), Report.ratio(drain.opsPerSecond / ours),
                    String.valueOf(drain.overspent), Report.pct((double) drain.overspent / allowance),
                    String.valueOf(dbOverspend), String.valueOf(drain.worstSubject)));
        }
        report.heading("Designs side by side: " + backend.name());
        report.line(threads + " threads drain " + settings.drainSubjects() + " accounts of "
                + settings.drainAllowance() + " tokens each, " + HOLD + " tokens per consume, all threads on the"
                + " same account at a time; overspend = tokens granted beyond the allowance.");
        report.table(List.of("design", "granted consumes/s", "vs ours", "tokens overspent", "of allowance",
                "overspend in DB (used - allowance)", "worst account overspend"), rows);
        if (ledger instanceof AutoCloseable closeable) {
            closeable.close();
        }
    }

    private record Drain(double opsPerSecond, long overspent, long worstSubject) {
    }

    private Drain drain(Design design, String prefix, int n, int threads) throws InterruptedException {
        AtomicInteger cursor = new AtomicInteger();
        AtomicLongArray granted = new AtomicLongArray(n);
        List<Throwable> errors = java.util.Collections.synchronizedList(new ArrayList<>());
        Thread[] workers = new Thread[threads];
        long begin = System.nanoTime();
        long deadline = begin + DRAIN_LIMIT.toNanos();
        for (int t = 0; t < threads; t++) {
            workers[t] = new Thread(() -> {
                int at;
                while ((at = cursor.get()) < n && errors.isEmpty()) {
                    if (System.nanoTime() > deadline) {
                        errors.add(new IllegalStateException("did not drain " + n + " accounts within "
                                + DRAIN_LIMIT.toSeconds() + " s: does " + design.name() + " ever refuse?"));
                        break;
                    }
                    try {
                        if (design.consume(prefix + at, HOLD)) {
                            granted.addAndGet(at, HOLD);
                        } else {
                            cursor.compareAndSet(at, at + 1);
                        }
                    } catch (Exception e) {
                        errors.add(e);
                    }
                }
            }, "bench-drain-" + t);
            workers[t].start();
        }
        for (Thread w : workers) {
            w.join();
        }
        double seconds = (System.nanoTime() - begin) / 1e9;
        if (!errors.isEmpty()) {
            throw new IllegalStateException(design.name() + " failed while draining", errors.get(0));
        }
        long total = 0;
        long overspent = 0;
        long worst = 0;
        for (int s = 0; s < n; s++) {
            total += granted.get(s);
            long over = Math.max(0, granted.get(s) - settings.drainAllowance());
            overspent += over;
            worst = Math.max(worst, over);
        }
        return new Drain(total / HOLD / seconds, overspent, worst);
    }
}

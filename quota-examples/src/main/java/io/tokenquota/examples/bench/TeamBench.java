package io.tokenquota.examples.bench;

import com.zaxxer.hikari.HikariDataSource;
import io.tokenquota.QuotaLedger;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.Reservation;
import io.tokenquota.Team;

import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * What team budgets cost: a team member's reserve + commit (held against its own account and its
 * team's, settled on both) beside a plain user's, in the same run, on the same database and ledger.
 * Three kinds of subject, each {@code n} of them with an existing account: plain users ({@code u*},
 * no team), members of one team ({@code m*}, all in team {@code one}: every call also locks that
 * team's row) and members spread over teams of ten ({@code s*}). Two distributions: one hot subject
 * of each kind, and uniform over the {@code n}. Two loops: reserve + commit (a call that is charged), and hold then
 * release (the hold alone, what a call costs before its model answers, settled by the cheapest finish). Runs on the
 * driver thread; not thread-safe.
 */
final class TeamBench {
    private static final int MEMBERS_PER_SPREAD_TEAM = 10;

    private final Settings settings;
    private final Report report;
    private final LedgerBench.LedgerFactory factory;
    private final QuotaPolicy policy = LedgerBench.unlimitedPolicy();
    private final YearMonth month = policy.currentMonth();

    TeamBench(Settings settings, Report report, LedgerBench.LedgerFactory factory) {
        this.settings = settings;
        this.report = report;
        this.factory = factory;
    }

    /** A call of the loop: reserve + commit, or a hold and its release. */
    private enum Loop {
        COMMIT("reserve + commit", "", "reserve + commit of"),
        RELEASE("hold then release", " release", "hold then release of");

        final String title;
        final String key;
        final String header;

        Loop(String title, String key, String header) {
            this.title = title;
            this.key = key;
            this.header = header;
        }
    }

    /** One row of the table: a kind of subject, named by its prefix. */
    private record Kind(String name, String prefix) {
        String subject(boolean hot, int n, SplittableRandom random) {
            return prefix + (hot ? 0 : random.nextInt(n));
        }
    }

    void throughput(Backend backend) throws Exception {
        int n = Math.max(MEMBERS_PER_SPREAD_TEAM, settings.baselineSubjects() / 10);
        HikariDataSource ds = backend.newDatabase(Math.max(4, settings.maxBaselineThreads()));
        factory.installSchema(ds);
        QuotaLedger ledger = factory.open(ds, policy);
        Schema.createAccounts(ds, backend.dialect(), "u", n, BaselineBench.HUGE, month);
        Schema.createAccounts(ds, backend.dialect(), "m", n, BaselineBench.HUGE, month);
        Schema.createAccounts(ds, backend.dialect(), "s", n, BaselineBench.HUGE, month);
        int spreadTeams = n / MEMBERS_PER_SPREAD_TEAM;
        Schema.createAccounts(ds, backend.dialect(), Team.subject("one"), 1, BaselineBench.HUGE, month);
        Schema.createAccounts(ds, backend.dialect(), Team.subject("t"), spreadTeams, BaselineBench.HUGE, month);
        for (int i = 0; i < n; i++) {
            // the host's membership sync, as a user runs it
            ledger.setTeam("m" + i, "one0");
            ledger.setTeam("s" + i, "t" + (i % spreadTeams));
        }
        Schema.analyze(ds, backend.dialect());
        List<Kind> kinds = List.of(new Kind("plain user (no team)", "u"),
                new Kind("member, one team of " + n, "m"),
                new Kind("member, " + spreadTeams + " teams of " + MEMBERS_PER_SPREAD_TEAM, "s"));
        LedgerDesign ours = new LedgerDesign("our ledger", ledger);
        for (Loop loop : Loop.values()) {
            // one unmeasured pass per kind, so the first cell does not pay for the JIT
            for (Kind k : kinds) {
                LedgerBench.failOnErrors(k.name(), LoadRun.run(4, settings.warmup(), settings.measure(), false,
                        op(ours, ledger, loop, k, false, n)));
            }
            table(backend, ds, loop, kinds, ours, ledger, n);
        }
        if (ledger instanceof AutoCloseable closeable) {
            closeable.close();
        }
        ds.close();
    }

    private void table(Backend backend, HikariDataSource ds, Loop loop, List<Kind> kinds, LedgerDesign ours,
            QuotaLedger ledger, int n) throws Exception {
        List<String> columns = new ArrayList<>();
        List<double[]> cells = new ArrayList<>();
        for (boolean hot : new boolean[] {true, false}) {
            for (int threads : settings.baselineThreads()) {
                String column = (hot ? "hot" : "uniform") + " x" + threads;
                columns.add(column);
                double[] best = new double[kinds.size()];
                for (int round = 0; round < settings.rounds(); round++) {
                    for (int i = 0; i < kinds.size(); i++) {
                        // a shared, noisy machine: kinds alternate their order round by round, each keeps its best
                        int d = round % 2 == 0 ? i : kinds.size() - 1 - i;
                        LoadRun.Result r = LoadRun.run(threads, settings.warmup(), settings.measure(), false,
                                op(ours, ledger, loop, kinds.get(d), hot, n));
                        LedgerBench.failOnErrors(kinds.get(d).name(), r);
                        best[d] = Math.max(best[d], r.opsPerSecond());
                    }
                }
                cells.add(best);
                StringBuilder line = new StringBuilder("  " + backend.name() + " teams" + loop.key + " " + column + ":");
                for (int d = 0; d < kinds.size(); d++) {
                    String key = "teams" + loop.key.replace(' ', '.') + "." + backend.name() + "." + column + "."
                            + kinds.get(d).prefix();
                    report.record(key + ".opsPerSecond", best[d]);
                    report.record(key + ".ratio", best[d] / best[0]);
                    line.append(String.format(Locale.ROOT, " %s %.0f/s (%.2fx);", kinds.get(d).prefix(), best[d],
                            best[d] / best[0]));
                }
                System.err.println(line);
            }
        }
        report.heading((loop == Loop.COMMIT ? "Team budgets: " : "Team budgets, " + loop.title + ": ") + backend.name());
        report.line("Settings: " + backend.settings(ds) + "; pool " + ds.getMaximumPoolSize() + " connections; " + n
                + " subjects of each kind, every account existing before the run; " + Baselines.TOKENS
                + " tokens per hold and per commit. Each cell: " + settings.rounds() + " rounds of "
                + settings.warmup().toMillis() + " ms warm-up + " + settings.measure().toMillis()
                + " ms measured per row, rows alternating, best round kept. Ratio = the row's calls/s over the"
                + " plain user's in the same cell (absolute calls/s in brackets).");
        List<String> header = new ArrayList<>();
        header.add(loop.header);
        header.addAll(columns);
        List<List<String>> rows = new ArrayList<>();
        for (int d = 0; d < kinds.size(); d++) {
            List<String> row = new ArrayList<>();
            row.add(kinds.get(d).name());
            for (double[] cell : cells) {
                row.add(Report.ratio(cell[d] / cell[0]) + " (" + Report.num(cell[d]) + ")");
            }
            rows.add(row);
        }
        report.table(header, rows);
    }

    private static LoadRun.Op op(Design design, QuotaLedger ledger, Loop loop, Kind kind, boolean hot, int n) {
        return (thread, random) -> {
            Object hold = design.reserve(kind.subject(hot, n, random), Baselines.TOKENS);
            if (hold == null) {
                return false;
            }
            if (loop == Loop.COMMIT) {
                design.commit(hold, Baselines.TOKENS);
            } else {
                ledger.release((Reservation) hold);
            }
            return true;
        };
    }
}

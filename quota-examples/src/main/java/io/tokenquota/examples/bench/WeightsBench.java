package io.tokenquota.examples.bench;

import io.tokenquota.HoldRequest;
import io.tokenquota.ModelWeights;
import io.tokenquota.QuotaPolicy;
import io.tokenquota.QuotaStore;
import io.tokenquota.Reserved;
import io.tokenquota.examples.DemoConfig;
import io.tokenquota.memory.InMemoryQuotaStore;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * The cost of per-model weights on the hold: the same closed loop of hold-then-release with the
 * estimate held as it is (plain) and weighed by the demo's example table for the request's model
 * ({@link ModelWeights#hold}, the filter's extra work before it reserves), on the in-memory store (where
 * a hold is cheapest, so the weighing's share is largest) and each database backend. Rounds alternate
 * the two designs; each keeps its best round, and each round's two windows give a ratio of their own, whose
 * median is reported beside the best rounds' ratio. The in-memory store is a new one for each window, so no
 * window runs on the events an earlier one logged. Target: the weighted hold within 10% of the plain one.
 */
final class WeightsBench {
    /** Model names as clients send them: table rows, dated snapshots, capitals, unknown models. */
    private static final String[] MODELS = {"gpt-4o-mini", "gpt-4o-2024-08-06", "claude-sonnet-4-20250514",
        "gemini-2.5-flash", "o3", "GPT-4.1-MINI", "llama-3.3-70b", "mock-gpt", "claude-opus-4-1", "o4-mini-high"};
    private static final int SUBJECTS = 1_000;

    private final Settings settings;
    private final Report report;
    private final LedgerBench.LedgerFactory factory;
    private final ModelWeights weights = DemoConfig.exampleWeights();
    private final QuotaPolicy policy = LedgerBench.unlimitedPolicy();

    WeightsBench(Settings settings, Report report, LedgerBench.LedgerFactory factory) {
        this.settings = settings;
        this.report = report;
        this.factory = factory;
    }

    void run(List<Backend> backends) throws Exception {
        report.line("Hold then release, " + SUBJECTS + " subjects, " + settings.rounds() + " alternating rounds of "
                + settings.warmup().toMillis() + " ms warm-up + " + settings.measure().toMillis()
                + " ms measured per design, best round each, and the median of the rounds' own ratios. Weighted: the"
                + " estimate (input 800, output budget 200) weighed by the example table for one of " + MODELS.length
                + " model names.\n");
        List<List<String>> rows = new ArrayList<>();
        // a fresh in-memory store for every window: that store keeps every event and hold it ever logged, so one
        // store shared by all windows grows by millions of events a round, and a late window pays for the heap
        // (and the list's resizes under its lock) that earlier windows left; one round measured 0.16x that way
        measure("in-memory", () -> {
            InMemoryQuotaStore fresh = new InMemoryQuotaStore(policy);
            provision(fresh);
            return fresh;
        }, rows);
        for (Backend backend : backends) {
            if (backend.name().contains("fsync on")) {
                continue;
            }
            var ds = backend.newDatabase(32);
            factory.installSchema(ds);
            QuotaStore store = factory.open(ds, policy);
            provision(store);
            measure(backend.name(), () -> store, rows);
            if (store instanceof AutoCloseable closeable) {
                closeable.close();
            }
        }
        report.table(List.of("store", "threads", "plain hold (ops/s)", "weighted hold (ops/s)", "weighted / plain",
                "per round: median (range)"), rows);
    }

    private static String subject(int i) {
        return "w" + i;
    }

    private static void provision(QuotaStore store) {
        for (int i = 0; i < SUBJECTS; i++) {
            store.account(subject(i));
        }
    }

    /** {@code window} gives the store each measured window runs on (the in-memory store a fresh one each time). */
    private void measure(String name, Supplier<QuotaStore> window, List<List<String>> rows) throws Exception {
        String[] subjects = new String[SUBJECTS];
        for (int i = 0; i < SUBJECTS; i++) {
            subjects[i] = subject(i);
        }
        for (int threads : List.of(1, 4)) {
            double bestPlain = 0;
            double bestWeighted = 0;
            // each round's two windows run back to back, so their ratio shares the machine's state of that moment;
            // the median of the rounds' ratios moves less than the ratio of the two best rounds (which may come
            // from different moments of a noisy machine)
            double[] paired = new double[settings.rounds()];
            for (int round = 0; round < settings.rounds(); round++) {
                boolean plainFirst = round % 2 == 0;
                double plainOps = 0;
                double weightedOps = 0;
                for (int k = 0; k < 2; k++) {
                    boolean isPlain = (k == 0) == plainFirst;
                    QuotaStore store = window.get();
                    // the last window's garbage (a whole in-memory store) collected before this one, not during it,
                    // as JMH's -gc option does between iterations
                    System.gc();
                    LoadRun.Op op = isPlain
                            ? (thread, random) -> {
                                hold(store, subjects[random.nextInt(SUBJECTS)], 1_000);
                                return true;
                            }
                            : (thread, random) -> {
                                String model = MODELS[random.nextInt(MODELS.length)];
                                hold(store, subjects[random.nextInt(SUBJECTS)], weights.hold(model, 800, 200));
                                return true;
                            };
                    LoadRun.Result r = LoadRun.run(threads, settings.warmup(), settings.measure(), false, op);
                    if (r.errors() > 0) {
                        throw new IllegalStateException("weights bench failed", r.firstError());
                    }
                    if (isPlain) {
                        plainOps = r.opsPerSecond();
                    } else {
                        weightedOps = r.opsPerSecond();
                    }
                }
                bestPlain = Math.max(bestPlain, plainOps);
                bestWeighted = Math.max(bestWeighted, weightedOps);
                paired[round] = weightedOps / plainOps;
            }
            java.util.Arrays.sort(paired);
            int mid = paired.length / 2;
            double median = paired.length % 2 == 1 ? paired[mid] : (paired[mid - 1] + paired[mid]) / 2;
            double ratio = bestWeighted / bestPlain;
            rows.add(List.of(name, String.valueOf(threads), String.format(Locale.ROOT, "%,.0f", bestPlain),
                    String.format(Locale.ROOT, "%,.0f", bestWeighted), String.format(Locale.ROOT, "%.2fx", ratio),
                    String.format(Locale.ROOT, "%.2fx (%.2f-%.2f)", median, paired[0], paired[paired.length - 1])));
            report.headline(String.format(Locale.ROOT,
                    "weighted hold on %s x%d: %.2fx the plain hold (best rounds), %.2fx (median of paired rounds)",
                    name, threads, ratio, median));
        }
    }

    private static void hold(QuotaStore store, String subject, long tokens) {
        Reserved r = store.reserve(HoldRequest.of(subject, tokens).endpoint("/v1/chat/completions").build());
        store.release(r.reservation().id());
    }
}

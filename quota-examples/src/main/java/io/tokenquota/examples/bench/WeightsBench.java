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

/**
 * The cost of per-model weights on the hold: the same closed loop of hold-then-release with the
 * estimate held as it is (plain) and weighed by the demo's example table for the request's model
 * ({@link ModelWeights#hold}, the filter's extra work before it reserves), on the in-memory store (where
 * a hold is cheapest, so the weighing's share is largest) and each database backend. Rounds alternate
 * the two designs; each keeps its best round, and each round's two windows give a ratio of their own, whose
 * median is reported beside the best rounds' ratio. Target: the weighted hold within 10% of the plain one.
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
        measure("in-memory", new InMemoryQuotaStore(policy), rows);
        for (Backend backend : backends) {
            if (backend.name().contains("fsync on")) {
                continue;
            }
            var ds = backend.newDatabase(32);
            factory.installSchema(ds);
            QuotaStore store = factory.open(ds, policy);
            measure(backend.name(), store, rows);
            if (store instanceof AutoCloseable closeable) {
                closeable.close();
            }
        }
        report.table(List.of("store", "threads", "plain hold (ops/s)", "weighted hold (ops/s)", "weighted / plain",
                "per round: median (range)"), rows);
    }

    private void measure(String name, QuotaStore store, List<List<String>> rows) throws Exception {
        String[] subjects = new String[SUBJECTS];
        for (int i = 0; i < SUBJECTS; i++) {
            subjects[i] = "w" + i;
            store.account(subjects[i]);
        }
        LoadRun.Op plain = (thread, random) -> {
            hold(store, subjects[random.nextInt(SUBJECTS)], 1_000);
            return true;
        };
        LoadRun.Op weighted = (thread, random) -> {
            String model = MODELS[random.nextInt(MODELS.length)];
            hold(store, subjects[random.nextInt(SUBJECTS)], weights.hold(model, 800, 200));
            return true;
        };
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
                    LoadRun.Result r = LoadRun.run(threads, settings.warmup(), settings.measure(), false,
                            isPlain ? plain : weighted);
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

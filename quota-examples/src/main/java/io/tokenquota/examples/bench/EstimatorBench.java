package io.tokenquota.examples.bench;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import io.tokenquota.TokenEstimator;
import io.tokenquota.estimator.DefaultTokenEstimator;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.runner.options.VerboseMode;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Issue 5, part 5: the default estimator against jtokkit's o200k_base, for speed (JMH, or a timed
 * loop with {@code --no-jmh}) and for error per text category. Driver thread only.
 */
final class EstimatorBench {
    private final Settings settings;
    private final Report report;

    EstimatorBench(Settings settings, Report report) {
        this.settings = settings;
        this.report = report;
    }

    void run() throws Exception {
        Corpus corpus = Corpus.load(settings.corpus());
        TokenEstimator estimator = new DefaultTokenEstimator();
        Encoding o200k = Encodings.newDefaultEncodingRegistry().getEncoding(EncodingType.O200K_BASE);
        errors(corpus, estimator, o200k);
        speed(corpus, estimator, o200k);
    }

    private void errors(Corpus corpus, TokenEstimator estimator, Encoding o200k) {
        report.heading("Estimator error: DefaultTokenEstimator vs jtokkit o200k_base (exact)");
        report.line("Per file: error = estimate / exact - 1. \"check\" files were held out when the estimator's "
                + "constants were tuned; \"fit\" files were used to tune them.");
        List<List<String>> rows = new ArrayList<>();
        for (var entry : corpus.byCategory().entrySet()) {
            for (String split : List.of("check", "all")) {
                long est = 0;
                long exact = 0;
                double sumAbs = 0;
                double worst = 0;
                int files = 0;
                for (Corpus.Doc doc : entry.getValue()) {
                    if (split.equals("check") && !doc.split().equals("check")) {
                        continue;
                    }
                    long e = estimator.estimate(doc.text());
                    long x = o200k.countTokensOrdinary(doc.text());
                    double err = x == 0 ? 0 : (double) e / x - 1;
                    est += e;
                    exact += x;
                    sumAbs += Math.abs(err);
                    worst = Math.abs(err) > Math.abs(worst) ? err : worst;
                    files++;
                }
                if (files == 0) {
                    continue;
                }
                report.record("estimator." + entry.getKey() + "." + split + ".error", (double) est / exact - 1);
                rows.add(List.of(entry.getKey(), split, String.valueOf(files), String.valueOf(exact),
                        String.valueOf(est), signedPct((double) est / exact - 1), Report.pct(sumAbs / files),
                        signedPct(worst)));
            }
        }
        report.table(List.of("category", "files", "count", "exact tokens", "estimated", "total error",
                "mean abs error per file", "worst file"), rows);
    }

    private static String signedPct(double v) {
        return (v >= 0 ? "+" : "") + Report.pct(v);
    }

    private void speed(Corpus corpus, TokenEstimator estimator, Encoding o200k) throws Exception {
        Map<String, double[]> opsPerSecond = new HashMap<>(); // category -> {ours, jtokkit, ours err, jtokkit err}
        String how;
        if (settings.jmh()) {
            how = "JMH 1.37, 1 fork, 2 x 1 s warm-up, 3 x 1 s measurement, throughput mode, one op = one "
                    + "estimate of the whole category's text; \u00b1 is JMH's 99.9% confidence half-width";
            Options options = new OptionsBuilder()
                    .include(EstimatorBenchmark.class.getName())
                    .forks(1).warmupIterations(2).warmupTime(TimeValue.seconds(1))
                    .measurementIterations(3).measurementTime(TimeValue.seconds(1))
                    .timeUnit(TimeUnit.SECONDS)
                    .jvmArgsAppend("-Dtq.corpus=" + settings.corpus().toAbsolutePath())
                    .verbosity(VerboseMode.SILENT)
                    .build();
            Collection<RunResult> results = new Runner(options).run();
            for (RunResult r : results) {
                String category = r.getParams().getParam("category");
                boolean ours = r.getParams().getBenchmark().endsWith("defaultEstimator");
                double[] v = opsPerSecond.computeIfAbsent(category, c -> new double[4]);
                v[ours ? 0 : 1] = r.getPrimaryResult().getScore();
                v[ours ? 2 : 3] = r.getPrimaryResult().getScoreError();
            }
        } else {
            how = "timed loop (--no-jmh), " + settings.measure().toMillis() + " ms per estimator and category";
            for (String category : corpus.byCategory().keySet()) {
                String text = corpus.joined(category);
                double ours = timed(() -> estimator.estimate(text));
                double theirs = timed(() -> o200k.countTokensOrdinary(text));
                opsPerSecond.put(category, new double[] {ours, theirs, Double.NaN, Double.NaN});
            }
        }
        report.heading("Estimator speed: DefaultTokenEstimator vs jtokkit o200k_base");
        report.line("Method: " + how + ".");
        List<List<String>> rows = new ArrayList<>();
        double minRatio = Double.MAX_VALUE;
        for (String category : Corpus.CATEGORIES) {
            double[] v = opsPerSecond.get(category);
            if (v == null) {
                continue;
            }
            double mb = corpus.joined(category).getBytes(StandardCharsets.UTF_8).length / 1e6;
            double ratio = v[0] / v[1];
            report.record("estimator." + category + ".speedRatio", ratio);
            minRatio = Math.min(minRatio, ratio);
            rows.add(List.of(category, Report.num(mb * 1000) + " KB", Report.num(v[0] * mb) + plusMinus(v[2] * mb),
                    Report.num(v[1] * mb) + plusMinus(v[3] * mb), Report.ratio(ratio)));
        }
        report.table(List.of("category", "text size", "default MB/s", "jtokkit MB/s", "default / jtokkit"), rows);
        report.headline("Estimator speed: default estimator >= " + Report.ratio(minRatio)
                + " jtokkit o200k_base in every category (target 10x)");
    }

    private static String plusMinus(double v) {
        return Double.isNaN(v) ? "" : " \u00b1 " + Report.num(v);
    }

    private double timed(java.util.function.LongSupplier op) {
        long sink = 0;
        long warmEnd = System.nanoTime() + settings.warmup().toNanos();
        while (System.nanoTime() < warmEnd) {
            sink += op.getAsLong();
        }
        long n = 0;
        long begin = System.nanoTime();
        long end = begin + settings.measure().toNanos();
        while (System.nanoTime() < end || n == 0) {
            sink += op.getAsLong();
            n++;
        }
        double seconds = (System.nanoTime() - begin) / 1e9;
        if (sink == 42) {
            // keeps the JIT from dropping the calls; never true for these corpora in practice
            System.out.print("");
        }
        return n / seconds;
    }
}

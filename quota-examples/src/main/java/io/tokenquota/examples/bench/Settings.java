package io.tokenquota.examples.bench;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * What a benchmark run does, from the command line. Immutable.
 *
 * @param sections    which parts run: baselines, teams, storage, ledger, designs, filter, estimator, memory, weights
 * @param backends    h2, pg (embedded), pg-durable (embedded with fsync and synchronous commit on), url
 * @param pgUrl       a PostgreSQL JDBC URL to run on as well (needs CREATEDB), or null
 * @param rounds      alternating rounds per cell; a cell reports each design's best round
 * @param drainSubjects subjects per design in the overspend run, each with {@link #drainAllowance} tokens
 * @param baselineThreads  thread counts of the baseline comparison (the ceiling, Bucket4j, the ledger)
 * @param baselineSubjects subjects the baseline comparison spreads over (Zipf or uniform)
 * @param storageCalls     calls per design whose growth on disk the storage part divides
 * @param distributions    subject distributions of the baseline comparison: hot, zipf, uniform
 * @param designs          words naming the baseline comparison's designs to run beside the ceiling (which always
 *                         runs: every ratio is to it): a design runs when its name holds one of them; empty: all
 */
record Settings(Duration warmup, Duration measure, List<Integer> threads, int subjects, double zipfExponent,
                Set<String> sections, Set<String> backends, String pgUrl, String pgUser, String pgPassword,
                Path corpus, Path out, int drainSubjects, long drainAllowance, int filterRequestsKb,
                boolean jmh, int memoryHolds, int rounds, List<Integer> baselineThreads, int baselineSubjects,
                int storageCalls, Set<String> distributions, Set<String> designs) {

    static final String USAGE = """
            usage: java -jar quota-examples/target/quota-bench.jar [--quick | --full | --smoke]
                [--sections=baselines,teams,storage,ledger,designs,filter,estimator,memory,weights]
                [--backends=h2,pg,pg-durable] [--pg-url=jdbc:postgresql://host/db --pg-user=u --pg-password=p]
                [--baseline-threads=1,16,64] [--baseline-subjects=10000] [--distributions=hot,zipf,uniform]
                [--baseline-designs=consume,reserve,audit,bucket4j,naive]
                [--storage-calls=N]
                [--threads=1,4,16,64] [--subjects=100000] [--warmup-ms=N] [--measure-ms=N] [--rounds=N]
                [--corpus=quota-api/src/test/resources/corpus] [--out=quota-examples/target/bench-results.md] [--no-jmh]
              env: TQ_BENCH_PG_URL, TQ_BENCH_PG_USER, TQ_BENCH_PG_PASSWORD add a PostgreSQL given by URL
            """;

    static Settings parse(String... args) {
        Duration warmup = Duration.ofMillis(500);
        Duration measure = Duration.ofMillis(1000);
        List<Integer> threads = List.of(1, 4, 16, 64);
        int subjects = 100_000;
        Set<String> sections = new LinkedHashSet<>(List.of("baselines", "teams", "storage", "ledger", "designs", "filter",
                "estimator", "memory", "weights"));
        List<Integer> baselineThreads = List.of(1, 16, 64);
        int baselineSubjects = 10_000;
        int storageCalls = 10_000;
        Set<String> distributions = new LinkedHashSet<>(List.of("hot", "zipf", "uniform"));
        Set<String> designs = Set.of();
        Set<String> backends = new LinkedHashSet<>(List.of("h2", "pg", "pg-durable"));
        String pgUrl = System.getenv("TQ_BENCH_PG_URL");
        String pgUser = env("TQ_BENCH_PG_USER", "postgres");
        String pgPassword = env("TQ_BENCH_PG_PASSWORD", "");
        Path corpus = Path.of("quota-api/src/test/resources/corpus");
        Path out = Path.of("quota-examples", "target", "bench-results.md");
        int drainSubjects = 30;
        int filterKb = 1024;
        boolean jmh = true;
        int memoryHolds = 10_000;
        int rounds = 3;
        for (String arg : args) {
            String value = arg.contains("=") ? arg.substring(arg.indexOf('=') + 1) : "";
            String key = arg.contains("=") ? arg.substring(0, arg.indexOf('=')) : arg;
            switch (key) {
                case "--quick" -> {
                    // the defaults
                }
                case "--full" -> {
                    warmup = Duration.ofSeconds(3);
                    measure = Duration.ofSeconds(10);
                    drainSubjects = 100;
                    rounds = 3;
                    storageCalls = 50_000;
                }
                case "--smoke" -> {
                    warmup = Duration.ofMillis(20);
                    measure = Duration.ofMillis(50);
                    threads = List.of(2);
                    baselineThreads = List.of(2);
                    subjects = 1_000;
                    baselineSubjects = 100;
                    storageCalls = 200;
                    backends = new LinkedHashSet<>(List.of("h2"));
                    drainSubjects = 3;
                    filterKb = 64;
                    jmh = false;
                    memoryHolds = 1_000;
                    rounds = 1;
                    pgUrl = null;
                }
                case "--sections" -> sections = new LinkedHashSet<>(Arrays.asList(value.split(",")));
                case "--backends" -> backends = new LinkedHashSet<>(Arrays.asList(value.split(",")));
                case "--pg-url" -> pgUrl = value;
                case "--pg-user" -> pgUser = value;
                case "--pg-password" -> pgPassword = value;
                case "--threads" -> threads = ints(value);
                case "--subjects" -> subjects = Integer.parseInt(value);
                case "--baseline-threads" -> baselineThreads = ints(value);
                case "--baseline-subjects" -> baselineSubjects = Integer.parseInt(value);
                case "--storage-calls" -> storageCalls = Integer.parseInt(value);
                case "--distributions" -> distributions = new LinkedHashSet<>(Arrays.asList(value.split(",")));
                case "--baseline-designs" -> designs = new LinkedHashSet<>(Arrays.asList(value.toLowerCase(java.util.Locale.ROOT).split(",")));
                case "--warmup-ms" -> warmup = Duration.ofMillis(Long.parseLong(value));
                case "--measure-ms" -> measure = Duration.ofMillis(Long.parseLong(value));
                case "--corpus" -> corpus = Path.of(value);
                case "--out" -> out = Path.of(value);
                case "--no-jmh" -> jmh = false;
                case "--rounds" -> rounds = Integer.parseInt(value);
                default -> throw new IllegalArgumentException("unknown option " + arg + "\n" + USAGE);
            }
        }
        if (pgUrl != null && !pgUrl.isBlank()) {
            backends.add("url");
        } else {
            pgUrl = null;
            backends.remove("url");
        }
        return new Settings(warmup, measure, threads, subjects, 0.99, sections, backends, pgUrl, pgUser,
                pgPassword, corpus, out, drainSubjects, 10_000, filterKb, jmh, memoryHolds, rounds, baselineThreads,
                baselineSubjects, storageCalls, distributions, designs);
    }

    private static List<Integer> ints(String csv) {
        List<Integer> out = new ArrayList<>();
        for (String s : csv.split(",")) {
            out.add(Integer.parseInt(s.trim()));
        }
        return List.copyOf(out);
    }

    private static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null ? fallback : v;
    }

    int maxThreads() {
        return threads.stream().mapToInt(Integer::intValue).max().orElse(1);
    }

    int maxBaselineThreads() {
        return baselineThreads.stream().mapToInt(Integer::intValue).max().orElse(1);
    }
}

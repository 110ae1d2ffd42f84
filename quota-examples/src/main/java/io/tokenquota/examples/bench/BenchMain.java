package io.tokenquota.examples.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs the benchmarks and writes their results as Markdown (see BENCHMARKS.md), from the repository root:
 * <pre>
 * mvn -B -q -DskipTests package
 * java -jar quota-examples/target/quota-bench.jar --quick
 * </pre>
 * Every number is reported next to a baseline measured in the same run, as a ratio.
 */
public final class BenchMain {
    private BenchMain() {
    }

    public static void main(String[] args) throws Exception {
        if (List.of(args).contains("--help")) {
            System.out.print(Settings.USAGE);
            return;
        }
        // pool and container start-up lines would drown the tables
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel",
                System.getProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn"));
        Settings settings = Settings.parse(args);
        Report report = run(settings, new JdbiFactory());
        System.out.println("\nResults written to " + settings.out().toAbsolutePath());
        if (!report.headlines().isEmpty()) {
            System.out.println("Headlines:");
            report.headlines().forEach(h -> System.out.println("  " + h));
        }
        // embedded PostgreSQL, Jetty and HikariCP leave no non-daemon threads, but JMH's may linger
        System.exit(0);
    }

    /** Runs the selected sections and returns the report (the smoke test reads it). */
    static Report run(Settings settings, LedgerBench.LedgerFactory factory) throws Exception {
        Report report = new Report(settings.out());
        long begin = System.nanoTime();
        report.line("# token-quota benchmark results\n");
        report.line("Run " + Instant.now() + " with `" + String.join(" ", commandLine(settings)) + "`.\n");
        report.line(machine());
        List<Backend> backends = new ArrayList<>();
        try {
            for (String b : settings.backends()) {
                switch (b) {
                    case "h2" -> backends.add(Backend.h2());
                    case "pg" -> backends.add(Backend.embeddedPostgres(false));
                    case "pg-durable" -> backends.add(Backend.embeddedPostgres(true));
                    case "url" -> backends.add(Backend.externalPostgres(settings.pgUrl(), settings.pgUser(),
                            settings.pgPassword()));
                    default -> throw new IllegalArgumentException("unknown backend " + b);
                }
            }
            BaselineBench baselines = new BaselineBench(settings, report, factory);
            if (settings.sections().contains("baselines")) {
                for (Backend backend : backends) {
                    section(report, "against the ceiling on " + backend.name(), () -> baselines.throughput(backend));
                }
            }
            if (settings.sections().contains("teams")) {
                TeamBench teams = new TeamBench(settings, report, factory);
                for (Backend backend : backends) {
                    section(report, "team budgets on " + backend.name(), () -> teams.throughput(backend));
                }
            }
            if (settings.sections().contains("storage")) {
                for (Backend backend : backends) {
                    // bytes on disk do not depend on when the WAL is flushed
                    if (backend.dialect() == Backend.Dialect.POSTGRES && !backend.name().contains("fsync on")) {
                        section(report, "storage per call on " + backend.name(), () -> baselines.storage(backend));
                    }
                }
            }
            LedgerBench ledger = new LedgerBench(settings, report, factory);
            if (settings.sections().contains("ledger")) {
                for (Backend backend : backends) {
                    // the durable server only answers part 2 (hot vs spread at 16 threads)
                    section(report, "ledger throughput on " + backend.name(),
                            () -> ledger.throughput(backend, backend.name().contains("fsync on")));
                }
                for (Backend backend : backends) {
                    if (backend.dialect() == Backend.Dialect.POSTGRES && !backend.name().contains("fsync on")) {
                        section(report, "one statement vs transaction on " + backend.name(), () -> ledger.attribution(backend));
                    }
                }
            }
            if (settings.sections().contains("designs")) {
                for (Backend backend : backends) {
                    if (!backend.name().contains("fsync on")) {
                        section(report, "designs on " + backend.name(), () -> ledger.overspend(backend));
                    }
                }
            }
            if (settings.sections().contains("filter")) {
                for (Backend backend : backends) {
                    if (!backend.name().contains("fsync on")) {
                        section(report, "filter on " + backend.name(),
                                () -> FilterBench.latency(settings, report, backend, factory));
                    }
                }
                section(report, "filter buffers", () -> FilterBench.bigBodies(settings, report));
            }
            if (settings.sections().contains("estimator")) {
                section(report, "estimator", () -> new EstimatorBench(settings, report).run());
            }
            if (settings.sections().contains("weights")) {
                section(report, "per-model weights on the hold", () -> new WeightsBench(settings, report, factory)
                        .run(backends));
            }
            if (settings.sections().contains("memory")) {
                MemoryBench memory = new MemoryBench(settings, report);
                section(report, "memory (in-memory store)", memory::inMemory);
                for (Backend backend : backends) {
                    if (!backend.name().contains("fsync on")) {
                        section(report, "memory on " + backend.name(), () -> memory.jdbi(backend, factory));
                    }
                }
                memory.write();
            }
        } finally {
            for (Backend backend : backends) {
                backend.close();
            }
        }
        report.line("\nTotal run time: " + Duration.ofNanos(System.nanoTime() - begin).toSeconds() + " s.");
        if (!report.headlines().isEmpty()) {
            report.heading("Headlines");
            for (String h : report.headlines()) {
                report.line("- " + h);
            }
        }
        return report;
    }

    @FunctionalInterface
    private interface Section {
        void run() throws Exception;
    }

    /** Runs one part; a failure is written into the report and the run goes on with the next part. */
    private static void section(Report report, String name, Section section) {
        long start = System.nanoTime();
        try {
            section.run();
        } catch (Exception | AssertionError e) {
            report.failure(name, e);
        } finally {
            System.err.printf("%s: %.1f s%n", name, (System.nanoTime() - start) / 1e9);
        }
    }

    private static List<String> commandLine(Settings settings) {
        return List.of("BenchMain", "--sections=" + String.join(",", settings.sections()),
                "--backends=" + String.join(",", settings.backends()),
                "--baseline-threads=" + settings.baselineThreads().toString().replaceAll("[\\[\\] ]", ""),
                "--baseline-subjects=" + settings.baselineSubjects(), "--storage-calls=" + settings.storageCalls(),
                "--rounds=" + settings.rounds(),
                "--threads=" + settings.threads().toString().replaceAll("[\\[\\] ]", ""),
                "--subjects=" + settings.subjects(), "--warmup-ms=" + settings.warmup().toMillis(),
                "--measure-ms=" + settings.measure().toMillis());
    }

    static String machine() {
        String cpu = "unknown";
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"), StandardCharsets.UTF_8)) {
                if (line.startsWith("model name")) {
                    cpu = line.substring(line.indexOf(':') + 1).trim();
                    break;
                }
            }
        } catch (IOException e) {
            // not Linux: the CPU model stays unknown
        }
        Runtime rt = Runtime.getRuntime();
        return "Machine: " + rt.availableProcessors() + " CPUs (" + cpu + "), " + System.getProperty("os.name") + " "
                + System.getProperty("os.version") + "; JDK " + System.getProperty("java.vm.name") + " "
                + System.getProperty("java.runtime.version") + "; max heap " + rt.maxMemory() / (1024 * 1024)
                + " MB.\n";
    }
}

package io.tokenquota.examples.bench;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Proves the benchmark harness still starts and measures something sane: every part runs once with
 * tiny windows on H2, and the baselines (which include Bucket4j's PostgreSQL proxy managers) on an
 * embedded PostgreSQL. No timing is asserted; only that each part produced
 * finite, positive numbers and that every exact design grants each allowance exactly.
 */
class BenchmarkSmokeTest {

    @Test
    void everyPartRunsAndReportsSaneNumbers(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("results.md");
        Path corpus = Path.of("../quota-api/src/test/resources/corpus");
        Settings settings = Settings.parse("--smoke", "--out=" + out, "--corpus=" + corpus);

        Report report = BenchMain.run(settings, new JdbiFactory());
        Map<String, Double> v = report.values();
        assertEquals(java.util.List.of(), report.failures());

        String h2 = "H2 (in-memory)";
        assertAll(
                () -> assertPositive(v, "baselines." + h2 + ".hot x2.our consume (JdbiQuotaStore).ratio"),
                () -> assertPositive(v, "baselines." + h2 + ".uniform x2.ceiling + one audit row (2-statement transaction)"
                        + ".opsPerSecond"),
                () -> assertExact(v, h2, "our reserve + commit (JdbiQuotaStore)"),
                () -> assertPositive(v, "teams." + h2 + ".hot x2.m.ratio"),
                () -> assertPositive(v, "teams." + h2 + ".uniform x2.s.opsPerSecond"),
                () -> assertPositive(v, "teams.release." + h2 + ".hot x2.m.ratio"),
                () -> assertPositive(v, "teams.release." + h2 + ".uniform x2.s.opsPerSecond"),
                () -> assertExact(v, h2, "ceiling + one audit row (2-statement transaction)"),
                () -> assertPositive(v, "ledger." + h2 + ".reserve+commit.hot/1.2.ceiling"),
                () -> assertPositive(v, "ledger." + h2 + ".reserve+commit.uniform/1000.2.ledger"),
                () -> assertPositive(v, "ledger." + h2 + ".consume.zipf(0.99)/1000.2.ledger"),
                () -> assertPositive(v, "designs." + h2 + "." + JdbcDesigns.NAIVE + ".opsPerSecond"),
                () -> assertEquals(0.0, v.get("designs." + h2 + ".our ledger (conditional UPDATE).overspent")),
                () -> assertEquals(0.0, v.get("designs." + h2 + ".our ledger (conditional UPDATE).overspentInDb")),
                () -> assertEquals(0.0, v.get("designs." + h2 + ".plain JDBC ceiling.overspent")),
                () -> assertEquals(0.0, v.get("designs." + h2 + ".SELECT FOR UPDATE + UPDATE.overspent")),
                () -> assertPositive(v, "filter." + h2 + ".c1.plain.rps"),
                () -> assertPositive(v, "filter." + h2 + ".c4.filtered.rps"),
                () -> assertPositive(v, "filter." + h2 + ".c4.filtered.p99ms"),
                () -> assertPositive(v, "filter." + h2 + ".c1.inMemory.rps"),
                () -> assertPositive(v, "filter." + h2 + ".c1.ledgerAlone.p99ms"),
                () -> assertPositive(v, "bigBodies.filtered.bytesPerRequest"),
                () -> assertPositive(v, "estimator.english.speedRatio"),
                () -> assertPositive(v, "estimator.korean.speedRatio"),
                () -> assertTrue(v.containsKey("memory.InMemoryQuotaStore.heapBytesPerHold")));
        for (String category : Corpus.CATEGORIES) {
            double error = v.get("estimator." + category + ".all.error");
            assertTrue(Math.abs(error) < 0.5, category + " estimate is off by " + error);
        }
        String written = Files.readString(out);
        assertTrue(written.contains("## Against the ceiling: H2"), written);
        assertTrue(written.contains("## Team budgets: H2"), written);
        assertTrue(written.contains("## Team budgets, hold then release: H2"), written);
        assertTrue(written.contains("## Ledger throughput: H2"), written);
        assertTrue(written.contains("## Designs side by side: H2"), written);
        assertTrue(written.contains("## Filter latency: H2"), written);
        assertTrue(written.contains("## Estimator speed"), written);
        assertTrue(written.contains("## Memory per open hold"), written);
    }

    /**
     * Every design of the baseline comparison on PostgreSQL, Bucket4j's two proxy managers included, runs
     * and is exact; the naive read-then-write design is the one that may overspend.
     */
    @Test
    void baselinesRunAndAreExactOnPostgres(@TempDir Path dir) throws Exception {
        // the storage part is left to real runs: its counters come from PostgreSQL's statistics collector, which
        // reports late and may drop messages on a loaded machine
        Settings settings = Settings.parse("--smoke", "--backends=pg", "--sections=baselines",
                "--out=" + dir.resolve("results.md"));

        Report report = BenchMain.run(settings, new JdbiFactory());
        Map<String, Double> v = report.values();
        assertEquals(java.util.List.of(), report.failures());

        String pg = "PostgreSQL (embedded)";
        java.util.List<String> exact = java.util.List.of("ceiling: one conditional UPDATE",
                "ceiling + one audit row (1 statement)", "Bucket4j 8.14 select-for-update", "Bucket4j 8.14 advisory lock",
                "our consume (JdbiQuotaStore)", "our reserve + commit (JdbiQuotaStore)");
        for (String design : exact) {
            assertExact(v, pg, design);
            for (String cell : java.util.List.of("hot x2", "zipf x2", "uniform x2")) {
                assertPositive(v, "baselines." + pg + "." + cell + "." + design + ".ratio");
            }
        }
        assertPositive(v, "baselines." + pg + ".hot x2." + JdbcDesigns.NAIVE + ".opsPerSecond");
        assertEquals(1.0, v.get("baselines." + pg + ".hot x2.ceiling: one conditional UPDATE.ratio"));
    }

    private static void assertExact(Map<String, Double> values, String backend, String design) {
        String key = "baselines." + backend + ".exact." + design;
        assertEquals(0.0, values.get(key + ".overspent"), key + ".overspent");
        assertEquals(0.0, values.get(key + ".underspent"), key + ".underspent");
    }

    private static void assertPositive(Map<String, Double> values, String key) {
        Double value = values.get(key);
        assertTrue(value != null && value > 0 && Double.isFinite(value), key + " = " + value + " in " + values.keySet());
    }
}

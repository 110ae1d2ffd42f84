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
 * Proves the benchmark harness still starts and measures something sane: every part of issue 5 runs
 * once on H2 with tiny windows (under ten seconds in all). No timing is asserted; only that each part
 * produced finite, positive numbers and that the correct designs never overspend.
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
        assertTrue(written.contains("## Ledger throughput: H2"), written);
        assertTrue(written.contains("## Designs side by side: H2"), written);
        assertTrue(written.contains("## Filter latency: H2"), written);
        assertTrue(written.contains("## Estimator speed"), written);
        assertTrue(written.contains("## Memory per open hold"), written);
    }

    private static void assertPositive(Map<String, Double> values, String key) {
        Double value = values.get(key);
        assertTrue(value != null && value > 0 && Double.isFinite(value), key + " = " + value + " in " + values.keySet());
    }
}

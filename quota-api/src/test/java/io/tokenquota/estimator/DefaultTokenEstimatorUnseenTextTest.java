package io.tokenquota.estimator;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.TokenEstimator;
import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The default estimator against o200k_base on real texts that are not in the
 * accuracy corpus and were never used to tune it (resources under {@code unseen/<category>/}, sources and
 * licences in its SOURCES.md; first measured in round 222 of issue 11). Each
 * category's total (sum of estimates vs sum of o200k counts over its files) must be within 10%.
 */
class DefaultTokenEstimatorUnseenTextTest {

    private static final double TOLERANCE = 0.10;
    private static final String[] CATEGORIES = {
        "english", "german", "french", "russian", "korean", "japanese", "chinese", "code", "json", "mixed"};
    private static final Map<String, long[]> TOTALS = new LinkedHashMap<>();

    @BeforeAll
    static void measure() throws IOException, URISyntaxException {
        TokenEstimator estimator = new DefaultTokenEstimator();
        StringBuilder report = new StringBuilder(String.format(Locale.ROOT,
                "%n| category | file | chars | o200k | estimate | error |%n|---|---|---:|---:|---:|---:|%n"));
        for (String category : CATEGORIES) {
            URL dir = DefaultTokenEstimatorUnseenTextTest.class.getResource("/unseen/" + category);
            List<Path> files;
            try (Stream<Path> s = Files.list(Path.of(dir.toURI()))) {
                files = s.sorted().toList();
            }
            long[] t = new long[3];
            for (Path f : files) {
                String text;
                try (InputStream in = Files.newInputStream(f)) {
                    text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                }
                long ref = O200k.count(text);
                long est = estimator.estimate(text);
                t[0] += ref;
                t[1] += est;
                t[2]++;
                report.append(String.format(Locale.ROOT, "| %s | %s | %d | %d | %d | %+.1f%% |%n",
                        category, f.getFileName(), text.length(), ref, est, 100.0 * (est - ref) / ref));
            }
            TOTALS.put(category, t);
            report.append(String.format(Locale.ROOT, "| **%s total** | %d files | | %d | %d | **%+.1f%%** |%n",
                    category, t[2], t[0], t[1], 100.0 * (t[1] - t[0]) / t[0]));
        }
        System.out.println(report);
    }

    @ParameterizedTest
    @ValueSource(strings = {"english", "german", "french", "russian", "korean", "japanese", "chinese", "code", "json",
        "mixed"})
    void categoryWithinTenPercent(String category) {
        long[] t = TOTALS.get(category);
        assertTrue(t != null && t[2] >= 2, () -> "too few " + category + " files");
        double error = (t[1] - t[0]) / (double) t[0];
        assertTrue(Math.abs(error) <= TOLERANCE, () -> String.format(Locale.ROOT,
                "%s: estimated %d vs o200k %d (%+.1f%%)", category, t[1], t[0], 100 * error));
    }
}

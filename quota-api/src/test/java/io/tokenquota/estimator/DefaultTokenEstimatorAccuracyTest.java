package io.tokenquota.estimator;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.TokenEstimator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Holds {@link DefaultTokenEstimator} to within 10% of o200k_base (jtokkit) per language or text
 * category, in aggregate over the category's held-out ("check") files, which did not tune its
 * constants, and over all of its files.
 */
class DefaultTokenEstimatorAccuracyTest {

    private static final double TOLERANCE = 0.10;

    private static final Map<String, Totals> ALL = new LinkedHashMap<>();
    private static final Map<String, Totals> CHECK = new LinkedHashMap<>();

    /** Running totals of one category. */
    private static final class Totals {
        long reference;
        long estimated;
        long quarterChars;
        int documents;
        double minError = Double.MAX_VALUE;
        double maxError = -Double.MAX_VALUE;

        void add(long ref, long est, long chars) {
            reference += ref;
            estimated += est;
            quarterChars += chars / 4;
            documents++;
            double error = relativeError(est, ref);
            minError = Math.min(minError, error);
            maxError = Math.max(maxError, error);
        }

        double error() {
            return relativeError(estimated, reference);
        }

        double charsError() {
            return relativeError(quarterChars, reference);
        }
    }

    @BeforeAll
    static void measure() {
        TokenEstimator estimator = new DefaultTokenEstimator();
        List<Corpus.Document> documents = Corpus.load();
        for (Corpus.Document d : documents) {
            long ref = O200k.count(d.text());
            long est = estimator.estimate(d.text());
            ALL.computeIfAbsent(d.category(), k -> new Totals()).add(ref, est, d.text().length());
            if (!d.fit()) {
                CHECK.computeIfAbsent(d.category(), k -> new Totals()).add(ref, est, d.text().length());
            }
        }
        StringBuilder table = new StringBuilder(String.format(Locale.ROOT,
                "%n| category | docs | o200k tokens | estimate | error | error on check files | per-document error | chars/4 error |%n"
                        + "|---|---:|---:|---:|---:|---:|---|---:|%n"));
        for (Map.Entry<String, Totals> e : ALL.entrySet()) {
            Totals t = e.getValue();
            Totals check = CHECK.get(e.getKey());
            table.append(String.format(Locale.ROOT, "| %s | %d | %d | %d | %+.1f%% | %s | %+.1f%% .. %+.1f%% | %+.1f%% |%n",
                    e.getKey(), t.documents, t.reference, t.estimated, 100 * t.error(),
                    check == null ? "-" : String.format(Locale.ROOT, "%+.1f%%", 100 * check.error()),
                    100 * t.minError, 100 * t.maxError, 100 * t.charsError()));
        }
        System.out.println(table);
    }

    @Test
    void englishProseWithinTolerance() {
        assertWithinTolerance("english");
    }

    @Test
    void sourceCodeWithinTolerance() {
        assertWithinTolerance("code");
    }

    @Test
    void koreanProseWithinTolerance() {
        assertWithinTolerance("korean");
    }

    @Test
    void germanProseWithinTolerance() {
        assertWithinTolerance("german");
    }

    @Test
    void frenchProseWithinTolerance() {
        assertWithinTolerance("french");
    }

    @Test
    void russianProseWithinTolerance() {
        assertWithinTolerance("russian");
    }

    @Test
    void japaneseProseWithinTolerance() {
        assertWithinTolerance("japanese");
    }

    @Test
    void chineseProseWithinTolerance() {
        assertWithinTolerance("chinese");
    }

    @Test
    void jsonChatRequestsWithinTolerance() {
        assertWithinTolerance("json");
    }

    @Test
    void koreanIsWhereCharsOverFourFails() {
        // the reason the estimator exists: chars/4 misses more than 40% of Korean tokens
        Totals korean = ALL.get("korean");
        assertTrue(korean.charsError() < -0.40, () -> "chars/4 error " + korean.charsError());
        assertTrue(Math.abs(korean.error()) < Math.abs(korean.charsError()) / 4,
                () -> "estimator error " + korean.error());
    }

    private static void assertWithinTolerance(String category) {
        Totals all = ALL.get(category);
        assertTrue(all != null && all.documents >= 5, () -> "too few " + category + " documents");
        assertTrue(Math.abs(all.error()) <= TOLERANCE, () -> String.format(Locale.ROOT,
                "%s: estimated %d vs o200k %d (%+.1f%%)", category, all.estimated, all.reference, 100 * all.error()));
        Totals check = CHECK.get(category);
        assertTrue(check != null && check.documents >= 3, () -> "too few held-out " + category + " documents");
        assertTrue(Math.abs(check.error()) <= TOLERANCE, () -> category + " check files: "
                + (check == null ? "none" : String.format(Locale.ROOT, "%+.1f%%", 100 * check.error())));
    }

    private static double relativeError(long estimated, long reference) {
        return (estimated - reference) / (double) reference;
    }
}

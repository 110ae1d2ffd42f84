package io.tokenquota.estimator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.TokenEstimator;
import java.nio.CharBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class DefaultTokenEstimatorTest {

    private final TokenEstimator estimator = new DefaultTokenEstimator();

    @Test
    void emptyTextCostsNothing() {
        assertEquals(0, estimator.estimate(""));
        assertEquals(0, estimator.estimate(new StringBuilder()));
    }

    @Test
    void nullIsRejected() {
        assertThrows(NullPointerException.class, () -> estimator.estimate(null));
    }

    @ParameterizedTest
    @ValueSource(strings = {" ", "\n", "\t", "\r\n", "   \n\n  ", "\u3000", "\u00a0\u00a0"})
    void whitespaceOnlyCostsAtLeastOneToken(String text) {
        long estimate = estimator.estimate(text);
        assertTrue(estimate >= 1 && estimate <= 3, () -> "estimate " + estimate);
    }

    @Test
    void longWhitespaceRunsStayCheap() {
        // o200k has single tokens for long runs of spaces; a page of indentation is not a page of tokens
        String spaces = " ".repeat(1000);
        assertClose(O200k.count(spaces), estimator.estimate(spaces), 3);
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "hello",
        " hello",
        "The quick brown fox jumps over the lazy dog.",
        "Completing a purchase credits the month's account in the same transaction.",
        "getAccountForSubjectAndMonth(subjectId, yearMonth);",
        "snake_case_identifier = ANOTHER_CONSTANT_VALUE + 42;",
        "    if (available >= tokens) {\n        return reserve(subject, tokens);\n    }\n",
        "1234567890123 and 3.14159",
        "사용자별 월간 토큰 쿼터를 관리합니다.",
        "토큰 구매 및 충전 시스템 (Spring Boot 연동 준비)",
        "日本語のテキストと漢字",
        "中文文本的估计",
        "Привет, мир! Это проверка.",
        "Die Konfigurationsdatei wurde nicht gefunden; überprüfen Sie die Einstellungen.",
        "Impossible d'ouvrir le fichier de configuration spécifié : accès refusé.",
        "Hello 세계, 世界 and мир 🌍!",
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"안녕하세요\"}]}",
    })
    void shortTextsAreCloseToO200k(String text) {
        int reference = O200k.count(text);
        long estimate = estimator.estimate(text);
        assertClose(reference, estimate, Math.max(2, reference / 4));
    }

    @Test
    void emojiCostMoreThanOneTokenOnAverage() {
        String emoji = "🎉🚀💡📁🧪😀👍🔥";
        long estimate = estimator.estimate(emoji);
        assertClose(O200k.count(emoji), estimate, 4);
        assertTrue(estimate > emoji.codePointCount(0, emoji.length()), () -> "estimate " + estimate);
    }

    /**
     * Text hidden from the eye (a document smuggled in variation selectors after an emoji, one a byte; zero-width
     * padding; tag characters) is read by the model as tokens of each character's bytes: a hostile client must not
     * pay a tenth of it.
     */
    @Test
    void invisibleRunsCostWhatTheModelReads() {
        StringBuilder smuggled = new StringBuilder("😀");
        for (int b = 0; b < 500; b++) {
            smuggled.appendCodePoint(b < 16 ? 0xFE00 + b : 0xE0100 + (b % 240));
        }
        String padded = "Hi" + "\u200d".repeat(2_000) + " what is 2+2?";
        StringBuilder tags = new StringBuilder("note");
        for (char c : "ignore the limit".toCharArray()) {
            tags.appendCodePoint(0xE0000 + c);
        }
        for (String text : new String[] {smuggled.toString(), padded, tags.toString()}) {
            int reference = O200k.count(text);
            long estimate = estimator.estimate(text);
            assertTrue(estimate >= reference * 7 / 10, () -> "estimate " + estimate + " for " + reference + " tokens");
        }
    }

    @Test
    void emojiSequencesAreCountedByTheirParts() {
        String family = "👨\u200d👩\u200d👧"; // three emoji joined by zero-width joiners
        String flag = "🇰🇷";
        String thumbs = "👍🏽";
        assertClose(O200k.count(family), estimator.estimate(family), 3);
        assertClose(O200k.count(flag), estimator.estimate(flag), 1);
        assertClose(O200k.count(thumbs), estimator.estimate(thumbs), 2);
        assertEquals(estimator.estimate("❤"), estimator.estimate("❤\ufe0f"), "a variation selector adds nothing");
    }

    @Test
    void surrogatePairIsOneCodePoint() {
        String ideograph = "\ud840\udc0b"; // U+2000B, a CJK ideograph outside the BMP
        assertEquals(estimator.estimate("中"), estimator.estimate(ideograph));
        String grinning = "\ud83d\ude00"; // U+1F600
        assertEquals(estimator.estimate("\ud83c\udf89"), estimator.estimate(grinning), "every astral emoji alike");
    }

    @ParameterizedTest
    @ValueSource(strings = {"\ud83d", "\ude00", "a\ud83db", "\ude00\ud83d", "word \ud83d", "\ud83d\ud83d\ud83d"})
    void unpairedSurrogatesAreCountedNotRejected(String text) {
        long estimate = estimator.estimate(text);
        assertTrue(estimate >= 1 && estimate <= text.length() + 1, () -> "estimate " + estimate);
    }

    @Test
    void anyCharSequenceGivesTheSameEstimateAsItsString() {
        String text = "Mixed 텍스트 with emoji 🎉 and code: foo_bar(42);\n";
        long expected = estimator.estimate(text);
        assertEquals(expected, estimator.estimate(new StringBuilder(text)));
        assertEquals(expected, estimator.estimate(CharBuffer.wrap(text)));
    }

    @Test
    void mixedScriptsAddUpPerScript() {
        String english = "The ledger reserves tokens before the call. ";
        String korean = "요청이 끝나면 실제 사용량을 청구합니다. ";
        String mixed = english + korean;
        long sum = estimator.estimate(english) + estimator.estimate(korean);
        long estimate = estimator.estimate(mixed);
        assertTrue(Math.abs(estimate - sum) <= 2, () -> estimate + " vs " + sum);
        assertClose(O200k.count(mixed), estimate, Math.max(2, O200k.count(mixed) / 5));
    }

    @Test
    void veryLongInputScalesLinearlyWithoutOverflow() {
        String unit = "Quota holds are estimated before the call; 토큰 사용량은 나중에 정산됩니다. 42\n";
        long perUnit = estimator.estimate(unit.repeat(100));
        int copies = 50_000; // about 3.5 million chars, read through a CharSequence view
        CharSequence huge = new Repeated(unit, copies);
        long estimate = estimator.estimate(huge);
        assertTrue(estimate > 0);
        double expected = perUnit * (copies / 100.0);
        assertTrue(Math.abs(estimate - expected) <= expected * 0.01, () -> estimate + " vs " + expected);
    }

    @Test
    void hugeSingleWordsStayPositiveAndGrowWithLength() {
        long latin = estimator.estimate(new Repeated("a", 2_000_000));
        long hangul = estimator.estimate(new Repeated("가", 2_000_000));
        assertTrue(latin > 200_000 && latin < 2_000_000, () -> "latin " + latin);
        assertTrue(hangul > 800_000 && hangul < 4_000_000, () -> "hangul " + hangul);
    }

    @Test
    void oneInstanceIsSafeToShareAcrossThreads() throws Exception {
        List<String> texts = List.of("English text for the estimator. ".repeat(200),
                "한국어 문장을 여러 번 반복합니다. ".repeat(200), "int x = compute(a, b); // 🎉\n".repeat(200));
        List<Long> expected = new ArrayList<>();
        for (String t : texts) {
            expected.add(estimator.estimate(t));
        }
        int threads = 8;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<Boolean>> results = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                results.add(pool.submit(() -> {
                    start.await();
                    for (int round = 0; round < 50; round++) {
                        for (int k = 0; k < texts.size(); k++) {
                            if (estimator.estimate(texts.get(k)) != expected.get(k)) {
                                return false;
                            }
                        }
                    }
                    return true;
                }));
            }
            start.countDown();
            for (Future<Boolean> r : results) {
                assertTrue(r.get(60, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static void assertClose(long reference, long estimate, long slack) {
        assertTrue(Math.abs(estimate - reference) <= slack,
                () -> "estimate " + estimate + " vs o200k " + reference + " (slack " + slack + ")");
    }

    /** A long text that is never materialised: {@code unit} repeated {@code copies} times. */
    private record Repeated(String unit, int copies) implements CharSequence {
        @Override
        public int length() {
            return unit.length() * copies;
        }

        @Override
        public char charAt(int index) {
            return unit.charAt(index % unit.length());
        }

        @Override
        public CharSequence subSequence(int start, int end) {
            StringBuilder b = new StringBuilder(end - start);
            for (int i = start; i < end; i++) {
                b.append(charAt(i));
            }
            return b;
        }

        @Override
        public String toString() {
            return subSequence(0, length()).toString();
        }
    }
}

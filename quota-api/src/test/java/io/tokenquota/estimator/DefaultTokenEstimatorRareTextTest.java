package io.tokenquota.estimator;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.TokenEstimator;
import java.util.Locale;
import java.util.Random;
import java.util.function.IntSupplier;
import java.util.stream.IntStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Text outside the calibrated languages must not be estimated far below what o200k_base counts: an
 * estimate held for a call is what a client pays when no usage comes back, so a letter the estimator
 * prices at a fraction of its tokens lets a call go mostly unpaid. For each kind of text the estimator
 * prices apart (letters o200k reads byte by byte, the "bold" and "italic" letters of font generators,
 * full-width letters, control characters, runs of ASCII punctuation), generated text is held to between
 * 0.9 and 1.6 times o200k_base's count (jtokkit); an over-estimate of rare text is the lesser harm.
 */
class DefaultTokenEstimatorRareTextTest {

    private static final double FLOOR = 0.9;
    private static final double CEILING = 1.6;

    private final TokenEstimator estimator = new DefaultTokenEstimator();

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "mathematical bold, 1D400, 1D433",
        "mathematical italic, 1D434, 1D467",
        "mathematical sans-serif bold, 1D5D4, 1D607",
        "mathematical monospace, 1D670, 1D6A3",
        "full-width Latin, FF21, FF5A",
        "Ethiopic (Amharic), 1200, 135A",
        "Tibetan, 0F40, 0FBC",
        "Cherokee, 13A0, 13F5",
        "Mongolian, 1820, 1878",
        "Gothic, 10330, 1034A",
    })
    void wordsOfLettersAreNotUnderEstimated(String name, String first, String last) {
        int[] letters = IntStream.rangeClosed(Integer.parseInt(first, 16), Integer.parseInt(last, 16))
                .filter(cp -> Character.isLetter(cp) || Character.getType(cp) == Character.NON_SPACING_MARK
                        || Character.getType(cp) == Character.COMBINING_SPACING_MARK)
                .toArray();
        Random random = new Random(name.hashCode());
        String text = text(random, 2, 9, () -> letters[random.nextInt(letters.length)]);
        assertRatio(name, text);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "mathematical bold digits, 1D7CE, 1D7D7",
        "mathematical monospace digits, 1D7F6, 1D7FF",
    })
    void numbersInOtherDigitsAreNotUnderEstimated(String name, String first, String last) {
        int from = Integer.parseInt(first, 16);
        int count = Integer.parseInt(last, 16) - from + 1;
        Random random = new Random(name.hashCode());
        assertRatio(name, text(random, 1, 6, () -> from + random.nextInt(count)));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"C0 and DEL, 0", "C1, 1"})
    void controlCharactersAreNotUnderEstimated(String name, int c1) {
        int[] controls = c1 == 1 ? IntStream.range(0x80, 0xA0).filter(cp -> cp != 0x85).toArray()
                : IntStream.concat(IntStream.range(0, 0x20), IntStream.of(0x7F))
                        .filter(cp -> cp != '\t' && cp != '\n' && cp != '\r' && cp != 0x0B && cp != 0x0C).toArray();
        Random random = new Random(name.hashCode());
        assertRatio(name, text(random, 1, 8, () -> controls[random.nextInt(controls.length)]));
    }

    @ParameterizedTest(name = "runs of {0} to {1}")
    @CsvSource({"3, 6", "3, 16", "8, 40"})
    void runsOfAsciiPunctuationAreNotUnderEstimated(int shortest, int longest) {
        String marks = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
        Random random = new Random(shortest * 100 + longest);
        assertRatio("punctuation", text(random, shortest, longest, () -> marks.charAt(random.nextInt(marks.length()))));
    }

    /** 400 words of {@code min} to {@code max} code points, separated by spaces, a full stop after some. */
    private static String text(Random random, int min, int max, IntSupplier codePoint) {
        StringBuilder b = new StringBuilder();
        for (int w = 0; w < 400; w++) {
            if (w > 0) {
                b.append(w % 11 == 0 ? ". " : " ");
            }
            int length = min + random.nextInt(max - min + 1);
            for (int k = 0; k < length; k++) {
                b.appendCodePoint(codePoint.getAsInt());
            }
        }
        return b.toString();
    }

    private void assertRatio(String name, String text) {
        int reference = O200k.count(text);
        long estimate = estimator.estimate(text);
        double ratio = estimate / (double) reference;
        assertTrue(ratio >= FLOOR && ratio <= CEILING, () -> String.format(Locale.ROOT,
                "%s: estimated %d vs o200k %d (%.2fx)", name, estimate, reference, ratio));
    }
}

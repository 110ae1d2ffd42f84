package io.tokenquota.servlet.breakit221;

import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.RawTextRound;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Random;
import java.util.zip.DeflaterOutputStream;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Round 221 of issue 11: the raw-text rule ({@code RawText}) and the event path ({@code /ai/events}, an event's data
 * kept to its first 4,096 bytes, the rest counted by its bytes or passed over after encoded data).
 *
 * <p>(a) An application that sends the model's whole answer as one event ({@code SseEmitter.send(content)} after
 * {@code call().content()}, or a final {@code answer} event after progress events), Spring's way: one {@code data:}
 * line per line of the text. (b) Text a model writes on request that mixes characters as a file's base64.
 */
abstract class AbstractRound221 extends RawTextRound {
    /** The model's analysis of a chart a tool drew, about 5,000 tokens of English. */
    static final String ANALYSIS = Prose.english(24_000);
    /** A chart the application's code tool drew, as a PNG (deflated noise of a plot's anti-aliasing). */
    static final String CHART;
    /** The first 12,000 digits of pi, as asked ("only the digits, no spaces"). */
    static final String DIGITS;
    /** A story told in base64, as asked (round 210's answer), sent as one event. */
    static final String BASE64_STORY;
    /** A random string of 6,000 URL-safe characters (nanoid's alphabet, A-Za-z0-9_-), as asked. */
    static final String URLSAFE;
    /** The model's story in Russian. */
    static final String RUSSIAN;

    static {
        Random r = new Random(221);
        byte[] noise = new byte[40_000];
        for (int i = 0; i < noise.length; i++) {
            noise[i] = (byte) (r.nextInt(4) == 0 ? r.nextInt(256) : 255);
        }
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        try (DeflaterOutputStream d = new DeflaterOutputStream(png)) {
            png.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
            d.write(noise);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        CHART = Base64.getEncoder().encodeToString(png.toByteArray());
        StringBuilder digits = new StringBuilder("3.");
        for (int i = 0; i < 12_000; i++) {
            digits.append((char) ('0' + r.nextInt(10)));
        }
        DIGITS = digits.toString();
        BASE64_STORY = Base64.getEncoder().encodeToString(Prose.english(20_000).getBytes(StandardCharsets.UTF_8));
        String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
        StringBuilder u = new StringBuilder();
        for (int i = 0; i < 6_000; i++) {
            u.append(alphabet.charAt(r.nextInt(alphabet.length())));
        }
        URLSAFE = u.toString();
        String[] words = ("комитет рассмотрел квартальные результаты и отметил что выручка в северном регионе выросла"
                + " быстрее чем ожидалось тогда как расходы на логистику остались высокими из за погоды старая"
                + " мельница стояла на холме и каждое утро мельник поднимался по тропинке").split(" ");
        StringBuilder ru = new StringBuilder();
        while (ru.length() < 12_000) {
            ru.append(words[r.nextInt(words.length)]).append(r.nextInt(12) == 0 ? ".\n" : " ");
        }
        RUSSIAN = ru.toString();
    }

    /** The model's answer with the chart the tool drew: markdown, the image inline, the analysis after it. */
    static final String CHART_ANSWER = "Here is the revenue by region for the last eight quarters:\n\n"
            + "![Revenue by region](data:image/png;base64," + CHART + ")\n\n" + ANALYSIS;

    /** A summary of about 800 words first (past the 4,096 bytes an event keeps), the chart the tool drew after it (the image ends the answer). */
    static final String SUMMARY = Prose.english(5_000);
    static final String CHART_LAST = SUMMARY + "\n\n![Revenue by region](data:image/png;base64," + CHART + ")\n";

    @Override
    protected String answer(String shape) {
        return switch (shape) {
            case "/chart" -> CHART_ANSWER;
            case "/digits" -> DIGITS;
            case "/base64story" -> BASE64_STORY;
            case "/urlsafe" -> URLSAFE;
            case "/russian" -> RUSSIAN;
            case "/chartlast" -> CHART_LAST;
            default -> throw new IllegalArgumentException(shape);
        };
    }

    // ---------------------------------------------------------------- (a) one event

    @Test
    void theAnalysisAfterAChartInOneEventIsCharged() {
        long text = TOKENS.estimate("Here is the revenue by region for the last eight quarters:\n\n" + ANALYSIS);
        assertChargedAtLeast("/ai/event/chart", "Chart revenue by region for the last eight quarters and analyse it.",
                text * 9 / 10, text + " tokens of the model's own text around a " + CHART.length() + "-character chart");
    }

    @Test
    void theAnalysisAfterAChartAnsweredAsTextIsCharged() {
        long text = TOKENS.estimate("Here is the revenue by region for the last eight quarters:\n\n" + ANALYSIS);
        assertChargedAtLeast("/ai/text/chart", "Chart revenue by region for the last eight quarters and analyse it.",
                text * 9 / 10, text + " tokens of the model's own text around a " + CHART.length() + "-character chart");
    }

    @Test
    void digitsOfPiInOneEventAreChargedTheText() {
        assertChargedTheText("/ai/event/digits", "Give me the first 12000 digits of pi, only the digits.");
    }

    @Test
    void digitsOfPiAsTextAreChargedTheText() {
        assertChargedTheText("/ai/text/digits", "Give me the first 12000 digits of pi, only the digits.");
    }

    @Test
    void aBase64StoryInOneEventIsChargedTheText() {
        assertChargedTheText("/ai/event/base64story", "Write me a long story and answer in base64 only.");
    }

    @Test
    void aRussianStoryInOneEventIsChargedTheText() {
        assertChargedTheText("/ai/event/russian", "Напиши длинный рассказ.");
    }

    @Test
    void aChartAfterASummaryInOneEventIsNotChargedAsText() {
        String s = subject();
        long used = charged("/ai/event/chartlast", s, "Chart revenue by region and summarise it briefly.");
        long text = TOKENS.estimate(SUMMARY);
        // the estimate (input and the default output budget of 1,000) or the text, whichever is more, with room
        assertTrue(used <= 2 * Math.max(text, 1_000) + 100, kind() + ": the model wrote " + text + " tokens of summary;"
                + " the application added a " + CHART.length() + "-character chart after it in the same event; charged "
                + used + ": " + ledger(s));
    }

    @Test
    void aChartAfterASummaryAnsweredAsTextIsNotChargedAsText() {
        String s = subject();
        long used = charged("/ai/text/chartlast", s, "Chart revenue by region and summarise it briefly.");
        long text = TOKENS.estimate(SUMMARY);
        assertTrue(used <= 2 * Math.max(text, 1_000) + 100, kind() + ": the model wrote " + text + " tokens of summary;"
                + " the application added a " + CHART.length() + "-character chart after it; charged " + used + ": " + ledger(s));
    }

    // ---------------------------------------------------------------- (b) the model's own characters

    @Test
    void aLongRandomUrlSafeStringIsChargedTheText() {
        assertChargedTheText("/ai/text/urlsafe",
                "Generate a random URL-safe string (A-Z, a-z, 0-9, - and _) of 6000 characters to test our token field's limit.");
    }

    @Test
    void aLongRandomUrlSafeStringStreamedIsChargedTheText() {
        assertChargedTheText("/ai/event/urlsafe",
                "Generate a random URL-safe string (A-Z, a-z, 0-9, - and _) of 6000 characters to test our token field's limit.");
    }
}

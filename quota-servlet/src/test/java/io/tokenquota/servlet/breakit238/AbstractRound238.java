package io.tokenquota.servlet.breakit238;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 238 of issue 11: {@code RawEvents} takes an event for the last one of its name grown when the
 * current event's hash, at the last one's length, equals the last one's hash. The hash is a polynomial
 * over the bytes modulo 2^64 ({@code hash * base + byte + 1}) with an odd multiplier drawn per stream,
 * which its javadoc says makes a collision impossible to write. It is not: for any odd multiplier, two
 * texts built from two blocks of the same length along the Thue-Morse sequence and its complement (1,024
 * blocks) have the same hash (the difference is a product of ten factors {@code c^(2^i) - 1}, c odd,
 * which holds 2^64). A hostile client makes the model write such lines, a text of ordinary words; the
 * application (Spring AI's {@code stream().content()} buffered into lines, {@code bufferUntil} a newline,
 * and returned as a {@code Flux<String>}: one SSE event a line) sends each line as an unnamed event; every
 * line after the first is taken for the one before it grown and given back.
 */
abstract class AbstractRound238 extends ModelCallRound {
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    /** Two blocks of the same byte length: a line is 1,024 of them. */
    static final String ZERO = " the cat sat";
    static final String ONE = " the dog ran";
    static final String OTHER_ZERO = " the cow ate";
    static final String OTHER_ONE = " the pig hid";
    static final int BLOCKS = 1024;
    static final int LINES = 5;

    /** A line of {@link #BLOCKS} blocks along the Thue-Morse sequence ({@code complement}: its complement). */
    static String line(String zero, String one, boolean complement) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < BLOCKS; i++) {
            boolean bit = (Integer.bitCount(i) & 1) == 1;
            b.append(bit ^ complement ? one : zero);
        }
        return b.toString().trim();
    }

    /**
     * What the model writes: {@link #LINES} lines, the sequence and its complement in turn
     * ({@code colliding}), or (the control) the sequence and the same sequence in other words.
     */
    static List<String> lines(boolean colliding) {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < LINES; i++) {
            lines.add(i % 2 == 0 ? line(ZERO, ONE, false)
                    : colliding ? line(ZERO, ONE, true) : line(OTHER_ZERO, OTHER_ONE, false));
        }
        return lines;
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter).servlet("lines", new Lines(), "/ai/lines/*")
                .servlet("research", new Research(), "/ai/research/*");
    }

    /**
     * {@code chatClient.prompt(q).stream().content().bufferUntil(s -> s.endsWith("\n")).map(String::join)}
     * returned as a {@code Flux<String>} under {@code text/event-stream}: each line of the answer one event.
     */
    private final class Lines extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream;charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            for (String l : lines(req.getPathInfo().equals("/colliding"))) {
                out.write(("data:" + l + "\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        }
    }

    private void assertChargedItsLines(String path, boolean colliding) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s,
                "{\"message\":\"Write five lines of 1024 short clauses each, the Thue-Morse sequence in words.\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "one model call");
        long used = settled(s).used();
        long text = 0;
        for (String l : lines(colliding)) {
            text += TOKENS.estimate(l);
        }
        assertTrue(used >= text * 9 / 10, kind() + ": the model wrote " + LINES + " different lines of "
                + line(ZERO, ONE, false).length() + " characters (" + text + " tokens by the default estimator), charged "
                + used + ": " + ledger(s));
    }

    /** The attack: lines whose hashes collide for every multiplier are charged as one. */
    @Test
    void linesWhoseHashesCollideAreEachCharged() {
        assertChargedItsLines("/ai/lines/colliding", true);
    }

    /** Control: the same lengths and words, no collision: each line is charged. */
    @Test
    void controlDifferentLinesAreEachCharged() {
        assertChargedItsLines("/ai/lines/other", false);
    }

    /** The research agent's answer, about 600 words. */
    static final String ANSWER = Prose.english(3_600).trim();

    /**
     * A research page on htmx's SSE extension: the agent read {@code sources} sources and writes its answer
     * ({@code stream().content()}); every few words the server renders the page's parts again and sends each
     * as the event its target swaps ({@code sse-swap}): the message so far ({@code event: message}) and each
     * source's card ({@code event: source-1} ... with its title and the passage cited, unchanged).
     */
    private final class Research extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            int sources = Integer.parseInt(req.getPathInfo().substring(1));
            resp.setContentType("text/event-stream;charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            String[] words = ANSWER.split(" ");
            StringBuilder soFar = new StringBuilder();
            for (int i = 0; i < words.length; i += 8) {
                for (int j = i; j < Math.min(words.length, i + 8); j++) {
                    soFar.append(j > 0 ? " " : "").append(words[j]);
                }
                StringBuilder e = new StringBuilder("event:message\ndata:<div class=\"msg assistant\"><p>" + soFar + "</p></div>\n\n");
                for (int k = 1; k <= sources; k++) {
                    e.append("event:source-").append(k).append("\ndata:<div class=\"card\"><h4>Source ").append(k)
                            .append(": Quarterly logistics review, section ").append(k)
                            .append("</h4><p class=\"cited\">Freight volumes rose in the third quarter.</p></div>\n\n");
                }
                out.write(e.toString().getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        }
    }

    private void assertChargedTheMessageOnce(int sources) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/research/" + sources), s,
                "{\"message\":\"Summarise the quarterly logistics review for the board.\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "one model call");
        long used = settled(s).used();
        long text = TOKENS.estimate(ANSWER);
        assertTrue(used <= 2 * Math.max(text, 1_000), kind() + ": one answer of " + ANSWER.length() + " characters ("
                + text + " tokens) sent as the message so far beside " + sources + " source cards, charged " + used
                + ": " + ledger(s));
    }

    /** Ten sources: the message and the cards are eleven names. */
    @Test
    void theMessageSoFarBesideTenSourceCardsIsChargedOnce() {
        assertChargedTheMessageOnce(10);
    }

    /** Control: six sources, seven names. */
    @Test
    void controlTheMessageSoFarBesideSixSourceCardsIsChargedOnce() {
        assertChargedTheMessageOnce(6);
    }
}

package io.tokenquota.servlet.breakit230;

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
import org.junit.jupiter.api.Test;

/**
 * Round 230 of issue 11: the raw-text rules of bodies and events once more, both ways.
 *
 * <p>A relay passes an OpenAI chat stream on as its HTTP client decoded it: each event's data, the final
 * {@code [DONE]} included (WebClient's {@code bodyToFlux(String.class)} of a {@code text/event-stream}),
 * returned as a {@code Flux<String>}: under {@code application/x-ndjson} one line each, or under Spring's
 * default for strings, {@code text/plain}, one after another. The body is a provider's JSON documents, then
 * {@code [DONE]}, which breaks the JSON: since round 229 the whole body (every chunk's JSON) is then counted
 * as the model's text, charged in place of (no usage) or over (a provisional usage under a text label) what
 * the provider reported. Without the {@code [DONE]} (the controls) the same relays are charged right.
 *
 * <p>A chat page's SSE endpoint that sends the message so far in every event (htmx {@code sse-swap}) is
 * charged every prefix when its cursor sits inside an element ({@code <span class="cursor">▍</span>}),
 * when the cursor is a bar, or when each update also swaps a status line ({@code event: status}) between
 * the message's events.
 */
abstract class AbstractRound230 extends ModelCallRound {
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    static final long PROMPT = 40;
    static final int WORDS = 300;
    static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the quarterly logistics review for the board.\"}]}";
    static final String CHAT_NO_USAGE = "{\"model\":\"gpt-4o-mini\",\"stream\":true,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Summarise the quarterly logistics review for the board.\"}]}";

    static String chunk(String word) {
        return "{\"id\":\"chatcmpl-r230\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,"
                + "\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,"
                + "\"delta\":{\"content\":\"" + word + "\"},\"logprobs\":null,\"finish_reason\":null}]}";
    }

    static String usageChunk() {
        return "{\"id\":\"chatcmpl-r230\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,"
                + "\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[],"
                + "\"usage\":{\"prompt_tokens\":" + PROMPT + ",\"completion_tokens\":" + WORDS + ",\"total_tokens\":"
                + (PROMPT + WORDS) + "}}";
    }

    /**
     * The data of an OpenAI chat stream as a relay's HTTP client decodes it (WebClient's
     * {@code bodyToFlux(String.class)} of {@code text/event-stream}, OkHttp's EventSource): each event's
     * data, {@code [DONE]} included.
     */
    static java.util.List<String> upstreamData(boolean usage) {
        java.util.List<String> data = new java.util.ArrayList<>();
        String[] words = Prose.english(WORDS * 8).split(" ");
        for (int i = 0; i < WORDS; i++) {
            data.add(chunk(" " + words[i]));
        }
        if (usage) {
            data.add(usageChunk());
        }
        data.add("[DONE]");
        return data;
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter)
                .servlet("ndjson", new NdjsonRelay(), "/ai/ndjson/*")
                .servlet("sofar", new MessageSoFar(), "/ai/sofar/*");
    }

    /**
     * A relay that passes the upstream stream's data on as lines: {@code Flux<String>} of
     * {@code bodyToFlux(String.class)} returned under {@code application/x-ndjson} (one line each), or under
     * Spring's default for a {@code Flux<String>}, {@code text/plain} (the strings one after another).
     */
    private final class NdjsonRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            calls.count(req.getHeader("x-user-id"));
            boolean usage = body.contains("include_usage");
            String shape = req.getPathInfo();
            resp.setContentType(shape.startsWith("/plain") ? "text/plain;charset=UTF-8" : "application/x-ndjson");
            OutputStream out = resp.getOutputStream();
            for (String d : upstreamData(usage)) {
                if (shape.endsWith("-nodone") && d.equals("[DONE]")) {
                    continue;
                }
                out.write((d + (shape.startsWith("/plain") ? "" : "\n")).getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        }
    }

    private long post(String path, String s, String body) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "one model call");
        return settled(s).used();
    }

    private void assertChargedItsUsage(String path) {
        String s = subject();
        long used = post(path, s, CHAT);
        assertTrue(used <= 2 * Math.max(PROMPT + WORDS, 1_000), kind() + ": a relayed stream whose provider reported "
                + (PROMPT + WORDS) + " tokens (" + WORDS + " one-word chunks), charged " + used + ": " + ledger(s));
    }

    private void assertChargedAboutItsText(String path) {
        String s = subject();
        long used = post(path, s, CHAT_NO_USAGE);
        assertTrue(used <= 2 * Math.max(PROMPT + WORDS, 1_000), kind() + ": a relayed stream of " + WORDS
                + " one-word chunks and no usage (not asked for), charged " + used + ": " + ledger(s));
    }

    @Test
    void aStreamRelayedAsNdjsonWithItsDoneIsChargedItsUsage() {
        assertChargedItsUsage("/ai/ndjson/lines");
    }

    @Test
    void aStreamRelayedAsNdjsonWithItsDoneAndNoUsageIsChargedAboutItsText() {
        assertChargedAboutItsText("/ai/ndjson/lines");
    }

    @Test
    void controlAStreamRelayedAsNdjsonWithoutItsDoneAndNoUsage() {
        assertChargedAboutItsText("/ai/ndjson/lines-nodone");
    }

    @Test
    void aStreamRelayedAsAFluxOfStringsWithItsDoneIsChargedItsUsage() {
        assertChargedItsUsage("/ai/ndjson/plain");
    }

    @Test
    void aStreamRelayedAsAFluxOfStringsWithItsDoneAndNoUsageIsChargedAboutItsText() {
        assertChargedAboutItsText("/ai/ndjson/plain");
    }

    @Test
    void controlAStreamRelayedAsAFluxOfStringsWithoutItsDone() {
        assertChargedItsUsage("/ai/ndjson/plain-nodone");
    }

    /** A short chat answer, about 600 words. */
    static final String SHORT_ANSWER = Prose.english(3_600).trim();

    /**
     * A chat page's SSE endpoint that sends the message so far for each few words of
     * {@code stream().content()}, as an HTML fragment the page swaps in, with the page's typing cursor.
     */
    private final class MessageSoFar extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream;charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            String[] words = SHORT_ANSWER.split(" ");
            StringBuilder soFar = new StringBuilder();
            for (int i = 0; i < words.length; i += 4) {
                for (int j = i; j < Math.min(words.length, i + 4); j++) {
                    soFar.append(j > 0 ? " " : "").append(words[j]);
                }
                boolean last = i + 4 >= words.length;
                String e = switch (req.getPathInfo()) {
                    case "/spancursor" -> "data:<div class=\"msg assistant\"><p>" + soFar
                            + (last ? "" : "<span class=\"cursor\">\u258d</span>") + "</p></div>\n\n";
                    case "/status" -> "event:message\ndata:<div class=\"msg assistant\"><p>" + soFar + "</p></div>\n\n"
                            + "event:status\ndata:" + (last ? "Done" : "Writing\u2026 " + Math.min(words.length, i + 4) + " words") + "\n\n";
                    case "/bar" -> "data:" + soFar + (last ? "" : " |") + "\n\n";
                    default -> throw new IllegalArgumentException(req.getPathInfo());
                };
                out.write(e.getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        }
    }

    private void assertChargedTheMessageOnce(String path) {
        String s = subject();
        long used = post(path, s, "{\"message\":\"Summarise the quarterly logistics review for the board.\"}");
        long text = TOKENS.estimate(SHORT_ANSWER);
        assertTrue(used <= 2 * Math.max(text, 1_000), kind() + ": one answer of " + SHORT_ANSWER.length()
                + " characters (" + text + " tokens) sent as the message so far, charged " + used + ": " + ledger(s));
    }

    /** The cursor inside its own element: {@code <p>…<span class="cursor">▍</span></p>}. */
    @Test
    void theMessageSoFarWithACursorInsideItsElementIsChargedOnce() {
        assertChargedTheMessageOnce("/ai/sofar/spancursor");
    }

    /** htmx's SSE extension swaps each named event into its own target: the message, then a status line. */
    @Test
    void theMessageSoFarBesideAStatusEventIsChargedOnce() {
        assertChargedTheMessageOnce("/ai/sofar/status");
    }

    /** The message so far as text with a bar cursor, {@code " |"}. */
    @Test
    void theMessageSoFarWithABarCursorIsChargedOnce() {
        assertChargedTheMessageOnce("/ai/sofar/bar");
    }
}

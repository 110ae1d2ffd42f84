package io.tokenquota.servlet.breakit322;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.HangUps;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 322 of issue 11 ("no model call goes unpaid"): Gemini's explicit context cache named through Gemini's own
 * OpenAI compatibility endpoint, a mainstream path for an application that already speaks OpenAI's chat API.
 *
 * <p>The filter remembers what a cached context costs ({@code ProviderState}: "Gemini's cached context
 * ({@code cachedContent}: {@code cachedContents/…}, created apart, outside the filter) ... the request carries only
 * the id, and the model reads that state as input: the filter adds what it saw it cost to the estimate, so a stream
 * cut before its usage is not charged without it"), learnt from an answer's {@code cachedContentTokenCount}. It reads
 * the name only as a top-level {@code cachedContent} / {@code cached_content} of the body
 * ({@code ProviderState.Refs.read}).
 *
 * <p>Google's OpenAI compatibility guide (ai.google.dev/gemini-api/docs/openai, "Cached content" / "extra_body"),
 * for {@code POST https://generativelanguage.googleapis.com/v1beta/openai/chat/completions}, names the cache so:
 * <pre>
 * stream = client.chat.completions.create(
 *     model="gemini-2.5-pro", n=1,
 *     messages=[{"role": "user", "content": "Summarize the video"}],
 *     stream=True, stream_options={'include_usage': True},
 *     extra_body={'extra_body': {'google': {'cached_content': "cachedContents/0000aaaa1111bbbb2222cccc3333dddd4444eeee"}}})
 * </pre>
 * The Python SDK merges {@code extra_body} into the JSON, so the body carries
 * {@code "extra_body": {"google": {"cached_content": "cachedContents/…"}}}: the cache is named one object deeper than
 * the filter looks, and the model reads it all the same.
 *
 * <p>Shapes: Gemini's {@code GenerateContentResponse} (ai.google.dev/api/generate-content: {@code candidates[]
 * .content.parts[].text}, {@code finishReason}, {@code usageMetadata} with {@code promptTokenCount} (the cached
 * context included), {@code cachedContentTokenCount}, {@code candidatesTokenCount}, {@code totalTokenCount},
 * {@code modelVersion}, {@code responseId}); the compatibility endpoint's stream is OpenAI's
 * {@code chat.completion.chunk} (platform.openai.com/docs/api-reference/chat-streaming), its last chunk with
 * {@code finish_reason} and {@code usage}, then {@code data: [DONE]}.
 */
abstract class AbstractRound322 extends ModelCallRound {
    static final String CACHE = "cachedContents/0000aaaa1111bbbb2222cccc3333dddd4444eeee";
    static final String NATIVE = "/ai/v1beta/models/gemini-2.5-flash:generateContent";
    static final String COMPAT = "/ai/v1beta/openai/chat/completions";
    static final String QUESTION = "Summarize the video";
    /** The cached context (a transcript the application cached): what every call naming it reads. */
    static final long CACHED = 6_000;
    static final long PROMPT = CACHED + 6;
    static final long OUTPUT = 240;
    static final long TOTAL = PROMPT + OUTPUT;
    /** The answer's words, the last of them the one the cutting client waits for. */
    static final String ANSWER = ("The recording walks through the quarterly report: revenue grew in every region, "
            + "margins held, and the team plans two launches next quarter. ").repeat(3) + "Finally.";

    final HangUps hangUps = new HangUps();
    /** Subjects whose client will hang up before the compatibility stream's last chunk. */
    final Set<String> cutting = ConcurrentHashMap.newKeySet();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter).servlet("gemini", new GeminiRelay(), "/ai/v1beta/*");
    }

    /**
     * A gateway passing Gemini's API on as it comes: the native {@code :generateContent} answered whole, and the
     * OpenAI compatibility endpoint's stream chunk by chunk; when its client has gone it stops relaying (cancels the
     * upstream call), the last chunk (the usage) never written.
     */
    class GeminiRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            calls.count(s);
            String uri = req.getRequestURI();
            if (uri.endsWith(":generateContent")) {
                resp.setContentType("application/json");
                resp.getWriter().write("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + ANSWER + "\"}],"
                        + "\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{"
                        + "\"promptTokenCount\":" + PROMPT + ",\"candidatesTokenCount\":" + OUTPUT + ","
                        + "\"totalTokenCount\":" + TOTAL + ",\"cachedContentTokenCount\":" + CACHED + "},"
                        + "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"mKdHaP7aKcn2z7IPkoWW4Q8\"}");
                return;
            }
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            String head = "{\"id\":\"nKdHaJ3NKqP1z7IP3vq9mQk\",\"object\":\"chat.completion.chunk\",\"created\":1750000000,"
                    + "\"model\":\"gemini-2.5-flash\",";
            for (String word : ANSWER.split(" ")) {
                EventStreams.write(out, "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                        + "\"content\":\"" + word + " \"}}]}\n\n");
            }
            String tail = "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
                    + "\"usage\":{\"prompt_tokens\":" + PROMPT + ",\"completion_tokens\":" + OUTPUT + ",\"total_tokens\":"
                    + TOTAL + "}}\n\ndata: [DONE]\n\n";
            if (cutting.contains(s)) {
                hangUps.relayUntilGone(s, out, ": keep-alive\n\n", tail);
            } else {
                EventStreams.write(out, tail);
            }
        }
    }

    static String compatStream() {
        return "{\"model\":\"gemini-2.5-flash\",\"n\":1,\"messages\":[{\"role\":\"user\",\"content\":\"" + QUESTION
                + "\"}],\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                + "\"extra_body\":{\"google\":{\"cached_content\":\"" + CACHE + "\"}}}";
    }

    /** The subject's first call: Gemini's own API naming the cache; its usage is charged, the cache's size learnt. */
    long nativeCall(String s) {
        HttpResponse<String> r = TestHttp.postJson(container.uri(NATIVE), s, "{\"cachedContent\":\"" + CACHE
                + "\",\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"" + QUESTION + "\"}]}]}");
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertEquals(TOTAL, used, kind() + ": the native call's usage; " + ledger(s));
        return used;
    }

    /**
     * Finding: after a native call showed the cache costs 6,000 tokens, the same cache named through the OpenAI
     * compatibility endpoint, as Google's guide writes it, in a stream the client cuts after the answer's last word
     * (before the chunk with the usage): the provider read (and bills) the 6,000 cached tokens, the filter's
     * estimate left the cache out, and the call is charged its default estimate.
     */
    @Test
    void aCompatStreamNamingTheCacheInExtraBodyCutBeforeItsUsageIsChargedTheCache() throws IOException {
        String s = subject();
        long before = nativeCall(s);
        cutting.add(s);
        String seen = hangUps.postAndHangUpAfter(container.port(), COMPAT, s, compatStream(), "Finally.");
        long cut = settled(s).used() - before;
        assertAll(() -> assertTrue(seen.startsWith("HTTP/1.1 200"), seen.lines().findFirst().orElse("")),
                () -> assertEquals(2, calls.of(s), "two model calls"),
                () -> assertTrue(cut >= PROMPT, kind() + ": the compatibility stream naming " + CACHE + " under"
                        + " extra_body.google.cached_content (the model read its " + CACHED + " cached tokens, learnt by"
                        + " the native call) was cut before its usage and charged " + cut + "; " + ledger(s)));
    }

    /** Control: the same compatibility stream read to its end: charged its usage, the cache included. */
    @Test
    void controlTheSameCompatStreamReadToItsEndIsChargedItsUsage() {
        String s = subject();
        long before = nativeCall(s);
        HttpResponse<String> r = TestHttp.postJson(container.uri(COMPAT), s, compatStream());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(2, calls.of(s));
        assertEquals(TOTAL, settled(s).used() - before, kind() + ": " + ledger(s));
    }

    /**
     * Control: the same cache named where the filter reads it, a second native call ({@code cachedContent} at the
     * top level): held with the 6,000 cached tokens it learnt ({@code X-Quota-Remaining} counts the hold), so the
     * finding's cause is where the compatibility body names the cache, not the memory.
     */
    @Test
    void controlASecondNativeCallNamingTheCacheIsHeldTheCache() {
        String s = subject();
        long before = nativeCall(s);
        HttpResponse<String> r = TestHttp.postJson(container.uri(NATIVE), s, "{\"cachedContent\":\"" + CACHE
                + "\",\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"" + QUESTION + "\"}]}]}");
        assertEquals(200, r.statusCode(), r.body());
        long remaining = Long.parseLong(r.headers().firstValue("X-Quota-Remaining").orElseThrow());
        assertTrue(ALLOWANCE - before - remaining >= CACHED, kind() + ": held " + (ALLOWANCE - before - remaining)
                + "; " + ledger(s));
        assertEquals(2 * TOTAL, settled(s).used(), ledger(s));
    }
}

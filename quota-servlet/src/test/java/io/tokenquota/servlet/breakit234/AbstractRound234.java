package io.tokenquota.servlet.breakit234;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
 * Round 234 of issue 11: the {@code [DONE]} rule of round 230 ({@code JsonDocumentScanner.brokeAtStreamEnd}).
 *
 * <p>An agent relays each of its model calls' streams as its HTTP client decodes them (WebClient's
 * {@code bodyToFlux(String.class)} of a {@code text/event-stream}: each event's data, {@code [DONE]} included),
 * returned as one {@code Flux<String>} ({@code Flux.concat} of its calls): under {@code application/x-ndjson}
 * one line each, or under Spring's default for strings, {@code text/plain}, one after another. The first call
 * asks for a tool (a retrieval); the second, with the retrieved document in its input, writes the answer.
 * Each call's stream ends with its own {@code [DONE]}. Both calls ran; their usages are in the answer.
 */
abstract class AbstractRound234 extends ModelCallRound {
    static final long PROMPT_1 = 1_200;
    static final long COMPLETION_1 = 40;
    static final long PROMPT_2 = 9_000;
    static final int WORDS = 300;
    static final long COMPLETION_2 = 2_500;
    static final long BOTH = PROMPT_1 + COMPLETION_1 + PROMPT_2 + COMPLETION_2;

    static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"What does our travel policy say about rail upgrades?\"}],"
            + "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"search_policies\",\"parameters\":{\"type\":\"object\","
            + "\"properties\":{\"query\":{\"type\":\"string\"}}}}}]}";

    static String chunk(String id, String delta, String finish) {
        return "{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,"
                + "\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,"
                + "\"delta\":" + delta + ",\"logprobs\":null,\"finish_reason\":" + finish + "}]}";
    }

    static String usageChunk(String id, long prompt, long completion) {
        return "{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,"
                + "\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[],"
                + "\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion + ",\"total_tokens\":"
                + (prompt + completion) + "}}";
    }

    /** The first call: the model asks for the search tool. Its data as the relay's client decodes it. */
    static List<String> toolCall(boolean done) {
        List<String> data = new ArrayList<>();
        String id = "chatcmpl-r234a";
        data.add(chunk(id, "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_r234\","
                + "\"type\":\"function\",\"function\":{\"name\":\"search_policies\",\"arguments\":\"\"}}],\"refusal\":null}", "null"));
        data.add(chunk(id, "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"query\\\":\\\"rail upgrade\\\"}\"}}]}", "null"));
        data.add(chunk(id, "{}", "\"tool_calls\""));
        data.add(usageChunk(id, PROMPT_1, COMPLETION_1));
        if (done) {
            data.add("[DONE]");
        }
        return data;
    }

    /** The second call: the answer, word by word, with the retrieved policy in its input. */
    static List<String> answer() {
        List<String> data = new ArrayList<>();
        String id = "chatcmpl-r234b";
        String[] words = Prose.english(WORDS * 8).split(" ");
        data.add(chunk(id, "{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}", "null"));
        for (int i = 0; i < WORDS; i++) {
            data.add(chunk(id, "{\"content\":\" " + words[i] + "\"}", "null"));
        }
        data.add(chunk(id, "{}", "\"stop\""));
        data.add(usageChunk(id, PROMPT_2, COMPLETION_2));
        data.add("[DONE]");
        return data;
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter)
                .servlet("agent", new AgentRelay(), "/ai/agent/*")
                .servlet("sse", new SseAgentRelay(), "/ai/sse/*")
                .servlet("lines", new LineRelay(), "/ai/lines/*");
    }

    /**
     * {@code Flux.concat(firstCall, secondCall)} of the calls' {@code bodyToFlux(String.class)}: lines
     * ({@code application/x-ndjson}) or strings one after another ({@code text/plain}), each flushed.
     * The "-onedone" shapes drop the first call's {@code [DONE]} (a control).
     */
    private final class AgentRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String shape = req.getPathInfo();
            boolean plain = shape.startsWith("/plain");
            resp.setContentType(plain ? "text/plain;charset=UTF-8" : "application/x-ndjson");
            OutputStream out = resp.getOutputStream();
            List<String> data = new ArrayList<>();
            calls.count(req.getHeader("x-user-id"));
            data.addAll(toolCall(!shape.endsWith("-onedone")));
            calls.count(req.getHeader("x-user-id"));
            data.addAll(answer());
            for (String d : data) {
                out.write((d + (plain ? "" : "\n")).getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        }
    }

    /** The same two calls relayed as an event stream ({@code Flux<ServerSentEvent<String>>}): a control. */
    private final class SseAgentRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            resp.setContentType("text/event-stream;charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            List<String> data = new ArrayList<>();
            calls.count(req.getHeader("x-user-id"));
            data.addAll(toolCall(true));
            calls.count(req.getHeader("x-user-id"));
            data.addAll(answer());
            for (String d : data) {
                out.write(("data:" + d + "\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        }
    }

    private void assertChargedBothCalls(String path) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, CHAT);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(2, calls.of(s), "two model calls");
        long used = settled(s).used();
        assertTrue(used >= BOTH, kind() + ": two relayed calls reporting " + (PROMPT_1 + COMPLETION_1) + " and "
                + (PROMPT_2 + COMPLETION_2) + " tokens (" + BOTH + " in all), each stream ending with its [DONE], charged "
                + used + ": " + ledger(s));
    }

    /** The attack: the agent's two calls relayed as NDJSON lines, each call's data ending with its [DONE]. */
    @Test
    void twoCallsRelayedAsNdjsonEachWithItsDoneAreChargedBoth() {
        assertChargedBothCalls("/ai/agent/lines");
    }

    /** The same relayed as a {@code Flux<String>} under {@code text/plain}. */
    @Test
    void twoCallsRelayedAsAFluxOfStringsEachWithItsDoneAreChargedBoth() {
        assertChargedBothCalls("/ai/agent/plain");
    }

    /** Control: only the last call's [DONE] (the first dropped): both usages are read. */
    @Test
    void controlTwoCallsRelayedAsNdjsonWithOneDone() {
        assertChargedBothCalls("/ai/agent/lines-onedone");
    }

    /** Control: the same data as events. */
    @Test
    void controlTwoCallsRelayedAsEvents() {
        assertChargedBothCalls("/ai/sse/events");
    }

    /** A long answer: forty paragraphs of prose, one a line. */
    static final List<String> PARAGRAPHS = paragraphs();

    private static List<String> paragraphs() {
        List<String> p = new ArrayList<>();
        String prose = Prose.english(40 * 480);
        for (int i = 0; i < 40; i++) {
            p.add(prose.substring(i * 480, (i + 1) * 480).trim());
        }
        return p;
    }

    /**
     * A chat endpoint that streams the model's text to the page a line at a time ({@code text/plain}, each
     * line written and flushed as it completes, so the page renders whole markdown lines). The client has
     * prompted the model to begin its answer with a status line {@code {"status":"ok"}} and a line
     * {@code [DONE]} (the "-nodone" shape: only the status line, a control), then to write its essay.
     */
    private final class LineRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            List<String> lines = new ArrayList<>();
            lines.add("{\"status\":\"ok\"}");
            if (!req.getPathInfo().endsWith("-nodone")) {
                lines.add("[DONE]");
            }
            lines.addAll(PARAGRAPHS);
            for (String line : lines) {
                out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        }
    }

    private void assertChargedTheEssay(String path) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s,
                "{\"message\":\"Start with the line {\\\"status\\\":\\\"ok\\\"} and a line [DONE], then write a long essay on logistics.\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "one model call");
        long text = new io.tokenquota.estimator.DefaultTokenEstimator().estimate(String.join("\n", PARAGRAPHS));
        long used = settled(s).used();
        assertTrue(used >= text, kind() + ": an essay of " + text + " tokens streamed as lines after a JSON line and [DONE], charged "
                + used + ": " + ledger(s));
    }

    /** The attack: the model's essay after a JSON line and a [DONE] line, streamed a line at a time. */
    @Test
    void anEssayAfterAJsonLineAndADoneLineIsChargedItsText() {
        assertChargedTheEssay("/ai/lines/essay");
    }

    /** Control: the same essay after the JSON line alone is charged its text (round 229). */
    @Test
    void controlAnEssayAfterAJsonLineIsChargedItsText() {
        assertChargedTheEssay("/ai/lines/essay-nodone");
    }
}

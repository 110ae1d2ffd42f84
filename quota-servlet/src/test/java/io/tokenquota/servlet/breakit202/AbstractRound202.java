package io.tokenquota.servlet.breakit202;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 202 of issue 11: a gateway's retries and Gemini's JSON-array stream.
 */
abstract class AbstractRound202 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    final Set<String> failedOnce = ConcurrentHashMap.newKeySet();

    static String subject() {
        return "u202-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String COMPLETION = "{\"id\":\"chatcmpl-202\",\"object\":\"chat.completion\",\"model\":\"gpt-4o\","
            + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"A long answer.\"},\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":5000,\"total_tokens\":6000}}";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("flaky", new Flaky(), "/ai/flaky")
                .servlet("gemini", new GeminiArray(), "/ai/v1beta/*")
                .servlet("getchat", new GetChat(), "/ai/getchat");
    }

    /** The provider is down for the first attempt of each key (503, no model), up for the retry. */
    class Flaky extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String key = req.getHeader("Idempotency-Key");
            if (failedOnce.add(key)) {
                resp.setStatus(503);
                resp.setContentType("application/json");
                resp.getWriter().write("{\"error\":{\"message\":\"upstream unavailable\",\"type\":\"server_error\"}}");
                return;
            }
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getWriter().write(COMPLETION);
        }
    }

    /** Gemini's streamGenerateContent without alt=sse: one JSON array written element by element. */
    class GeminiArray extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            PrintWriter w = resp.getWriter();
            w.write("[");
            int[] candidates = {1000, 3000, 6000};
            for (int i = 0; i < 3; i++) {
                if (i > 0) {
                    w.write(",\r\n");
                }
                w.write("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Part " + i + " of a long answer. \"}],\"role\":\"model\"},"
                        + "\"index\":0" + (i == 2 ? ",\"finishReason\":\"STOP\"" : "") + "}],"
                        + "\"usageMetadata\":{\"promptTokenCount\":500,\"candidatesTokenCount\":" + candidates[i]
                        + ",\"totalTokenCount\":" + (500 + candidates[i]) + "},"
                        + "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"resp-202\"}");
                w.flush();
            }
            w.write("]");
        }
    }

    /** A chat endpoint on GET (the question in the query), answering the provider's JSON with usage. */
    class GetChat extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            resp.setContentType("application/json");
            resp.getWriter().write(COMPLETION);
        }
    }

    static final String CHAT = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a long essay.\"}]}";

    /** A gateway retries a 503 with the same Idempotency-Key (what the key is for): never a free call. */
    @Test
    void aRetryWithTheSameKeyAfterAReleased503IsNotFree() {
        String s = subject();
        String key = "retry-" + UUID.randomUUID();
        HttpResponse<String> first = TestHttp.postJson(container.uri("/ai/flaky"), s, CHAT, "Idempotency-Key", key);
        assertEquals(503, first.statusCode(), first.body());
        HttpResponse<String> second = TestHttp.postJson(container.uri("/ai/flaky"), s, CHAT, "Idempotency-Key", key);
        long used = settled(s).used();
        if (second.statusCode() == 200) {
            assertTrue(used >= 6_000, "a retry served 200 with 6,000 tokens of usage charged " + used + ": " + ledger(s));
        } else {
            assertEquals(0, calls.of(s), "refused retries call no model");
            assertEquals(0, used, ledger(s));
        }
    }

    /** Gemini's array stream with running counts: charged its final count, not the sum of the running ones. */
    @Test
    void geminiArrayStreamChargedItsFinalCount() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1beta/models/gemini-2.5-flash:streamGenerateContent"), s,
                "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Write a long essay.\"}]}]}");
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= 6_500 && used <= 7_000, "final count 6,500, charged " + used + ": " + ledger(s));
    }

    /** A HEAD on a GET chat endpoint runs doGet: the model is called; charged its usage. */
    @Test
    void aHeadOnAGetChatEndpointIsChargedTheCallsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.send(TestHttp.requestAs(container.uri("/ai/getchat?q=essay"), s)
                .method("HEAD", HttpRequest.BodyPublishers.noBody()).build());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= 6_000, "a HEAD that ran a 6,000-token call charged " + used + ": " + ledger(s));
    }
}

package io.tokenquota.servlet.breakit90;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Round 90 of issue 11: an endpoint that reports its call's actual tokens itself (the
 * {@code X-Quota-Actual-Tokens} response header or the {@code io.tokenquota.actualTokens} request
 * attribute, rule 1 of the settlement) rather than through usage in the answer, then streams the answer
 * to its {@code [DONE]} and saves the thread before it returns. The user's next call, sent at
 * {@code [DONE]}, must be reserved against what the finished call reported, as it is when the answer
 * itself carries the usage.
 */
abstract class AbstractRound90 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();
    /** The relay's work after the last event (saving the thread) waits here, by subject. */
    final io.tokenquota.servlet.testing.SubjectGates after = new io.tokenquota.servlet.testing.SubjectGates();

    static String subject() {
        return "u90-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .servlet("model", new Model(), "/ai/*");
    }

    void afterAnswer(String s) {
        after.pass(s);
    }

    /** A chat model; {@code x-variant} says how it reports its tokens. */
    class Model extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            calls.count(s);
            long prompt = Long.parseLong(req.getHeader("x-prompt"));
            long completion = Long.parseLong(req.getHeader("x-completion"));
            String variant = String.valueOf(req.getHeader("x-variant"));
            if (variant.startsWith("stream")) {
                resp.setContentType("text/event-stream");
                boolean inAnswer = variant.equals("stream-usage");
                boolean running = variant.endsWith("-running");
                if (variant.startsWith("stream-header")) {
                    // the gateway knows the provider's bill and reports it in the documented header
                    resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(prompt + completion));
                } else if (variant.startsWith("stream-attribute")) {
                    req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, prompt + completion);
                }
                java.io.PrintWriter w = resp.getWriter();
                String head = "{\"id\":\"chatcmpl-90\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",";
                w.write("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"word \"}}]}\n\n");
                if (running) {
                    // an agent run: the gateway reported the tokens billed so far, the next step waits
                    w.flush();
                    afterAnswer(s);
                }
                if (inAnswer) {
                    w.write("data: " + head + "\"choices\":[],\"usage\":{\"prompt_tokens\":" + prompt
                            + ",\"completion_tokens\":" + completion + ",\"total_tokens\":" + (prompt + completion)
                            + "}}\n\n");
                }
                w.write("data: [DONE]\n\n");
                w.flush();
                if (!running) {
                    afterAnswer(s);
                }
                return;
            }
            String answer = ChatCompletions.completion("chatcmpl-90", "gpt-4o-mini", "ok", prompt, completion);
            byte[] bytes = answer.getBytes(StandardCharsets.UTF_8);
            resp.setContentType("application/json");
            resp.setContentLength(bytes.length);
            resp.getOutputStream().write(bytes);
        }
    }

    static String chat(long maxTokens, boolean stream) {
        return "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"summarise the attached file\"}],"
                + (stream ? "\"stream\":true," : "") + "\"max_tokens\":" + maxTokens + "}";
    }

    HttpRequest request(String s, long maxTokens, long prompt, long completion, String variant) {
        return TestHttp.jsonPost(container.uri("/ai/chat/completions"), s, chat(maxTokens, variant.startsWith("stream")),
                "x-prompt", Long.toString(prompt), "x-completion", Long.toString(completion), "x-variant", variant);
    }

    static HttpClient fresh() {
        return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    }

    static void readToDone(HttpResponse<Stream<String>> stream) {
        assertEquals(200, stream.statusCode());
        Iterator<String> lines = stream.body().iterator();
        boolean done = false;
        while (!done && lines.hasNext()) {
            done = lines.next().equals("data: [DONE]");
        }
        assertTrue(done, "the stream ended without [DONE]");
    }

    /** The first call (reported 19,500 of 20,000 its own way), then the next call at its [DONE]. */
    void nextCallAtDone(String variant) throws Exception {
        String s = subject();
        CountDownLatch gate = new CountDownLatch(1);
        after.put(s, gate);
        HttpResponse<String> second;
        try {
            readToDone(fresh().send(request(s, 1_000, 18_500, 1_000, variant), HttpResponse.BodyHandlers.ofLines()));
            second = fresh().send(request(s, 1_000, 500, 500, "plain"), HttpResponse.BodyHandlers.ofString());
        } finally {
            gate.countDown();
            after.remove(s);
        }
        QuotaAccount account = chargedAtLeast(s, 19_500);
        String figures = kind() + " " + variant + ": the next call at [DONE] answered " + second.statusCode()
                + "; model calls " + calls.of(s) + "; used " + account.used() + " of " + account.limit() + " "
                + ledger(s);
        System.out.println(figures);
        assertEquals(429, second.statusCode(), figures);
        assertEquals(1, calls.of(s), figures);
        assertTrue(account.used() <= account.limit(), figures);
    }

    /**
     * A next call refused for what the finished call still owes does not spend its {@code Idempotency-Key}:
     * once the first call has settled and the user's plan was raised, the same request with the same key is
     * served (not 409 for a key "already used" by the refusal).
     */
    @Test
    void aCallRefusedForWhatAFinishedCallOwesKeepsItsIdempotencyKey() throws Exception {
        String s = subject();
        CountDownLatch gate = new CountDownLatch(1);
        after.put(s, gate);
        HttpResponse<String> refused;
        HttpRequest next = TestHttp.jsonPost(container.uri("/ai/chat/completions"), s, chat(1_000, false),
                "x-prompt", "500", "x-completion", "500", "x-variant", "plain", "Idempotency-Key", "k-" + s);
        try {
            readToDone(fresh().send(request(s, 1_000, 18_500, 1_000, "stream-usage"), HttpResponse.BodyHandlers.ofLines()));
            refused = fresh().send(next, HttpResponse.BodyHandlers.ofString());
        } finally {
            gate.countDown();
            after.remove(s);
        }
        assertEquals(429, refused.statusCode(), refused.body());
        chargedAtLeast(s, 19_500);
        store.setPlan(s, 40_000);
        HttpResponse<String> again = fresh().send(next, HttpResponse.BodyHandlers.ofString());
        QuotaAccount account = chargedAtLeast(s, 20_500);
        assertEquals(200, again.statusCode(), kind() + ": the same request with the same key, once there was room,"
                + " answered " + again.statusCode() + " " + again.body() + "; " + ledger(s));
        assertEquals(20_500, account.used(), ledger(s));
    }

    /**
     * Control: the stream's own usage chunk reports 19,500 of 20,000 tokens before {@code [DONE]}; the
     * relay saves the thread; the next call at {@code [DONE]} is refused.
     */
    @Test
    void controlUsageInTheStreamRefusesTheNextCall() throws Exception {
        nextCallAtDone("stream-usage");
    }

    /**
     * The gateway reports the call's 19,500 tokens in the {@code X-Quota-Actual-Tokens} header it set
     * before the first event (the answer carries no usage: the client did not ask for it), streams to
     * {@code [DONE]}, then saves the thread. The user's next call at {@code [DONE]} (about 1,000 held,
     * 1,000 used) must be refused: served, the user is charged past the 20,000 allowance.
     */
    @Test
    void aCallReportedThroughTheHeaderIsSeenByTheNextCallAtDone() throws Exception {
        nextCallAtDone("stream-header");
    }

    /**
     * As above, the 19,500 tokens reported through the {@code io.tokenquota.actualTokens} request
     * attribute, set before the first event.
     */
    @Test
    void aCallReportedThroughTheAttributeIsSeenByTheNextCallAtDone() throws Exception {
        nextCallAtDone("stream-attribute");
    }

    /** The running call (reported 19,500 of 20,000 its own way, still streaming), then a call beside it. */
    void callBesideRunning(String variant) throws Exception {
        String s = subject();
        CountDownLatch gate = new CountDownLatch(1);
        after.put(s, gate);
        HttpResponse<String> second;
        java.util.concurrent.CompletableFuture<HttpResponse<Stream<String>>> first;
        try {
            first = fresh().sendAsync(request(s, 1_000, 18_500, 1_000, variant), HttpResponse.BodyHandlers.ofLines());
            HttpResponse<Stream<String>> stream = first.get(10, TimeUnit.SECONDS);
            assertEquals(200, stream.statusCode());
            Iterator<String> lines = stream.body().iterator();
            boolean seen = false;
            while (!seen && lines.hasNext()) {
                seen = lines.next().contains("word");
            }
            assertTrue(seen, "the stream ended without its first event");
            second = fresh().send(request(s, 1_000, 500, 500, "plain"), HttpResponse.BodyHandlers.ofString());
        } finally {
            gate.countDown();
            after.remove(s);
        }
        QuotaAccount account = chargedAtLeast(s, 19_500);
        String figures = kind() + " " + variant + ": the call beside the running stream answered " + second.statusCode()
                + "; model calls " + calls.of(s) + "; used " + account.used() + " of " + account.limit() + " "
                + ledger(s);
        System.out.println(figures);
        assertEquals(429, second.statusCode(), figures);
        assertEquals(1, calls.of(s), figures);
        assertTrue(account.used() <= account.limit(), figures);
    }

    /**
     * An agent run's gateway has already reported 19,500 tokens in the {@code X-Quota-Actual-Tokens}
     * header of its still running stream (its first event is out, the next step waits). A call of the
     * same user beside it (about 1,000 held, 1,000 used) must be refused; served, the user is charged past
     * the 20,000 allowance.
     */
    @Test
    void aRunningCallReportedThroughTheHeaderIsSeenByACallBesideIt() throws Exception {
        callBesideRunning("stream-header-running");
    }

    /** As above, the 19,500 tokens reported through the {@code io.tokenquota.actualTokens} attribute. */
    @Test
    void aRunningCallReportedThroughTheAttributeIsSeenByACallBesideIt() throws Exception {
        callBesideRunning("stream-attribute-running");
    }
}

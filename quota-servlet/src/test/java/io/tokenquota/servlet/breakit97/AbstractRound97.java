package io.tokenquota.servlet.breakit97;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.CountingModel;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 97 of issue 11: the cap put on usage "the model's own text may have written" (charged at most
 * the hold plus what the account had left, at least the estimate) also applies to real provider usage
 * whenever the answer's label or framing looks odd. A client picks the label with its {@code Accept}
 * header (Spring's String converter writes whatever it asks for), so a real model call's usage past the
 * account's room goes unpaid; an honest stream that opens with a plain-text event is charged its
 * estimate instead of its (smaller) usage; and Spring Boot's error body under a protected dispatcher
 * path is charged as a model's answer. (Its JSON example in a plain-text answer is round 95's test,
 * which also checks the next call.)
 */
abstract class AbstractRound97 extends ModelCallRound {
    static final ObjectMapper JSON = new ObjectMapper();
    /** Model calls per subject, counted by the Spring controllers too. */
    static final ModelCalls CALLS = new ModelCalls();
    /** Calls that the mock provider keeps waiting until all of their batch are in (header {@code x-batch}). */
    static final Map<String, CountDownLatch> BATCHES = new ConcurrentHashMap<>();

    AbstractRound97() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behindAi(filter, Relay.class)
                // Spring Boot with spring.mvc.servlet.path=/ai/svc: its error page is the dispatcher's /error
                .servlet("svc", SpringMvc.dispatcher(Service.class, Errors.class), "/ai/svc/*")
                .errorPage(400, "/ai/svc/error")
                .errorPage(404, "/ai/svc/error")
                .servlet("relay", new EventRelay(), "/ai/relay/chat");
    }

    // ------------------------------------------------------------------ the application

    /**
     * The usual Spring Boot relay: the controller posts the client's body to the provider and returns the
     * provider's JSON answer as a {@code String} (RestClient's {@code .body(String.class)}). Spring's
     * {@code StringHttpMessageConverter} writes it under whatever media type the client's {@code Accept}
     * asks for. The mock provider is a reasoning model that reads 2,000 tokens and writes 28,000 (a long
     * agent or "think hard" call), reported in the answer's top-level {@code usage}, as OpenAI does.
     */
    @RestController
    public static class Relay {
        @PostMapping("/chat")
        public String chat(@RequestBody String body, HttpServletRequest req) throws InterruptedException {
            CALLS.count(req.getHeader("x-user-id"));
            String batch = req.getHeader("x-batch");
            if (batch != null) {
                CountDownLatch all = BATCHES.get(batch);
                all.countDown();
                // bounded: a batch member that never arrives does not hang the test
                all.await(10, TimeUnit.SECONDS);
            }
            return "{\"id\":\"chatcmpl-97\",\"object\":\"chat.completion\",\"created\":1764720000,\"model\":\"o3\","
                    + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"The migration plan: ...\"},"
                    + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":2000,\"completion_tokens\":28000,"
                    + "\"total_tokens\":30000,\"completion_tokens_details\":{\"reasoning_tokens\":26000}}}";
        }
    }

    /**
     * A Spring Boot AI service whose dispatcher is mounted at the protected prefix
     * ({@code spring.mvc.servlet.path=/ai/svc}): its chat endpoint refuses a body without
     * {@code messages} with a {@code ResponseStatusException(400)} before any model call (Spring answers it
     * with {@code sendError}), and answers a valid call with the provider's usage.
     */
    @RestController
    public static class Service {
        @PostMapping("/chat")
        public Map<String, Object> chat(@RequestBody Map<String, Object> body, HttpServletRequest req) {
            if (!(body.get("messages") instanceof List<?> messages) || messages.isEmpty()) {
                throw new org.springframework.web.server.ResponseStatusException(
                        org.springframework.http.HttpStatus.BAD_REQUEST, "messages must not be empty");
            }
            CALLS.count(req.getHeader("x-user-id"));
            return Map.of("id", "chatcmpl-97e", "object", "chat.completion", "model", "gpt-4o",
                    "choices", List.of(Map.of("index", 0, "message", Map.of("role", "assistant", "content", "Hi."),
                            "finish_reason", "stop")),
                    "usage", Map.of("prompt_tokens", 300, "completion_tokens", 200, "total_tokens", 500));
        }
    }

    /**
     * Spring Boot's {@code BasicErrorController}, as it answers a JSON client: the container's error page
     * at the dispatcher's {@code /error} (Spring Boot places it under {@code spring.mvc.servlet.path}),
     * a small JSON document of the error's status, reason and path. No model is called.
     */
    @RestController
    public static class Errors {
        @org.springframework.web.bind.annotation.RequestMapping("/error")
        public org.springframework.http.ResponseEntity<Map<String, Object>> error(HttpServletRequest req) {
            Object code = req.getAttribute(jakarta.servlet.RequestDispatcher.ERROR_STATUS_CODE);
            int status = code instanceof Integer i ? i : 500;
            Object path = req.getAttribute(jakarta.servlet.RequestDispatcher.ERROR_REQUEST_URI);
            return org.springframework.http.ResponseEntity.status(status).body(Map.of("timestamp", "2026-12-03T04:40:00Z",
                    "status", status, "error", status == 404 ? "Not Found" : "Bad Request",
                    "path", String.valueOf(path)));
        }
    }

    /**
     * A chat UI's stream relay (what an {@code SseEmitter} handler writes): with {@code ?conversation=1}
     * it first tells the browser the conversation id as a plain-text event
     * ({@code event: conversation} / {@code data: conv-7f3a}), then relays the provider's OpenAI chunks
     * one JSON document per event, with {@code stream_options.include_usage}'s final usage chunk
     * ({@code ?usage=N} tokens in all) and {@code [DONE]}. The model's text is only ever inside the
     * chunks' JSON strings, escaped.
     */
    public static class EventRelay extends CountingModel {
        EventRelay() {
            super(CALLS);
        }

        @Override
        protected void answer(Call call) throws IOException {
            HttpServletRequest req = call.req();
            HttpServletResponse resp = call.resp();
            long total = Long.parseLong(req.getParameter("usage"));
            long prompt = Math.min(200, total / 2);
            resp.setContentType("text/event-stream");
            resp.setCharacterEncoding("UTF-8");
            OutputStream out = resp.getOutputStream();
            if (req.getParameter("conversation") != null) {
                out.write("event: conversation\ndata: conv-7f3a\n\n".getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
            for (String word : new String[] {"Paris", " is", " the", " capital."}) {
                out.write(("data: {\"id\":\"chatcmpl-97s\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\","
                        + "\"choices\":[{\"index\":0,\"delta\":{\"content\":" + JSON.writeValueAsString(word)
                        + "},\"finish_reason\":null}]}\n\n").getBytes(StandardCharsets.UTF_8));
            }
            out.write(("data: {\"id\":\"chatcmpl-97s\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\","
                    + "\"choices\":[],\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + (total - prompt)
                    + ",\"total_tokens\":" + total + "}}\n\n").getBytes(StandardCharsets.UTF_8));
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        }
    }

    // ------------------------------------------------------------------ helpers

    /** A reasoning call without an output budget (the default budget is held). */
    static final String REASONING_CALL = "{\"model\":\"o3\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"Plan the migration of our billing service from MySQL to Postgres, step by step.\"}]}";

    static String chat(int maxTokens, String content) {
        try {
            return "{\"model\":\"gpt-4o\",\"max_tokens\":" + maxTokens + ",\"stream\":true,"
                    + "\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":"
                    + JSON.writeValueAsString(content) + "}]}";
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A call of a 4,000-token budget to the stream relay, with {@code query}'s usage and conversation event. */
    HttpResponse<String> stream(String s, String query) {
        return TestHttp.postJson(container.uri("/ai/relay/chat?" + query), s,
                chat(4_000, "What is the capital of France?"));
    }

    /** A call to the Spring Boot service at {@code path}, with messages. */
    HttpResponse<String> service(String s, String path) {
        return TestHttp.postJson(container.uri(path), s, chat(2_000, "What is the capital of France?"),
                "Accept", "application/json");
    }

    /** Five relay calls sent at once under {@code accept}: all served, all five model calls charged 150,000. */
    void assertFiveAtOnceCharged(String accept, String what) {
        String s = subject();
        List<HttpResponse<String>> rs = concurrently(s, accept, 5);
        QuotaAccount a = settled(s);
        for (HttpResponse<String> r : rs) {
            assertEquals(200, r.statusCode(), figures(s, r, a));
        }
        assertEquals(5, calls.of(s), figures(s, rs.get(0), a));
        assertEquals(150_000, a.used(), what + figures(s, rs.get(0), a));
    }

    HttpResponse<String> relay(String s, String accept, String... more) {
        String[] headers = new String[2 + more.length];
        headers[0] = "Accept";
        headers[1] = accept;
        System.arraycopy(more, 0, headers, 2, more.length);
        return TestHttp.postJson(container.uri("/ai/spring/chat"), s, REASONING_CALL, headers);
    }

    // ------------------------------------------------------------------ 1. Accept picks the label, the label caps the charge

    /**
     * Control: the relay's answer under {@code Accept: application/json} (what every SDK sends) is
     * charged its usage, 30,000, although that is past the 20,000 allowance: a model call's usage is
     * charged in full (overage), never cut to what the account had.
     */
    @Test
    void controlARelayedAnswerIsChargedItsWholeUsage() {
        String s = subject();
        assertCharged(s, relay(s, "application/json"), 200, 1, 30_000, "");
    }

    /**
     * Attack: the same call with {@code Accept: text/plain}. Spring writes the provider's JSON under
     * {@code text/plain}; the filter reads the usage (30,000) but, the label not naming JSON, calls it
     * "suspect" and charges at most the hold plus what the account had left: 20,000. The model read and
     * wrote 30,000 tokens; 10,000 of them are free, chosen by one request header.
     */
    @Test
    void acceptTextPlainDoesNotCutARealUsageToTheAccountsRoom() {
        String s = subject();
        HttpResponse<String> r = relay(s, "text/plain");
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(r.body().contains("\"total_tokens\":30000"), figures(s, r, a));
        assertEquals(30_000, a.used(), "the provider reported 30,000 tokens for this call; the client's Accept header "
                + "must not decide how much of it is charged: " + figures(s, r, a));
    }

    /**
     * Control for the next test: five such calls at once under {@code Accept: application/json} are all
     * admitted (each holds about 1,000) and each is charged its 30,000: 150,000 in all.
     */
    @Test
    void controlFiveConcurrentCallsAreChargedTheirUsage() {
        assertFiveAtOnceCharged("application/json", "");
    }

    /**
     * Attack, multiplied: five calls sent at once with {@code Accept: text/plain}. All five are admitted
     * (about 1,000 held each), all five reach the model and use 30,000 tokens each. The first to settle
     * is cut to its hold plus the account's room, every later one to its hold alone (the room is gone):
     * 150,000 tokens of model calls are charged 20,000 in all.
     */
    @Test
    void concurrentCallsWithAcceptTextPlainAreChargedTheirUsage() {
        assertFiveAtOnceCharged("text/plain", "five model calls of 30,000 tokens each, reported by the provider: ");
    }

    List<HttpResponse<String>> concurrently(String s, String accept, int n) {
        String batch = UUID.randomUUID().toString();
        BATCHES.put(batch, new CountDownLatch(n));
        List<CompletableFuture<HttpResponse<String>>> fs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            fs.add(CompletableFuture.supplyAsync(() -> relay(s, accept, "x-batch", batch)));
        }
        List<HttpResponse<String>> rs = new ArrayList<>();
        for (CompletableFuture<HttpResponse<String>> f : fs) {
            rs.add(f.join());
        }
        return rs;
    }

    // ------------------------------------------------------------------ 2. a plain-text first event

    /** Control: the stream relay without its conversation event is charged the final chunk's usage, 350. */
    @Test
    void controlAStreamIsChargedItsUsage() {
        String s = subject();
        assertCharged(s, stream(s, "usage=350"), 200, 1, 350, "");
    }

    /**
     * Over-charge, no attacker: the same stream opened by the relay's own {@code event: conversation} /
     * {@code data: conv-7f3a} (a plain-text id, as chat UIs send first). Every chunk after it is one JSON
     * document on one data line, the provider's, with the model's text escaped inside it; the final chunk
     * reports 350 tokens. Because a text event came first, the filter calls that usage "suspect" and
     * charges at least the estimate: the 4,000-token budget the user allowed, not the 350 the model used.
     */
    @Test
    void aConversationIdEventDoesNotMakeAStreamCostItsWholeBudget() {
        String s = subject();
        HttpResponse<String> r = stream(s, "usage=350&conversation=1");
        QuotaAccount a = assertAnswered(s, r, 200, 1);
        assertTrue(r.body().startsWith("event: conversation"), figures(s, r, a));
        assertEquals(350, a.used(), "the provider's final chunk said 350 tokens: " + figures(s, r, a));
    }

    /**
     * Under-charge, same relay: a long answer (30,000 tokens, no budget named, so about 1,000 held) after
     * the conversation event is cut to the hold plus the account's room, 20,000; without the event
     * (control above, with 350) the usage is charged as reported.
     */
    @Test
    void aConversationIdEventDoesNotCutALongStreamToTheAccountsRoom() {
        String s = subject();
        String body = "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Write the full test plan for the billing migration.\"}]}";
        HttpResponse<String> plain = TestHttp.postJson(container.uri("/ai/relay/chat?usage=30000"), s, body);
        QuotaAccount first = settled(s);
        assertEquals(200, plain.statusCode(), figures(s, plain, first));
        assertEquals(30_000, first.used(), "control, no conversation event: " + figures(s, plain, first));
        String t = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/relay/chat?usage=30000&conversation=1"), t, body);
        assertCharged(t, r, 200, 1, 30_000, "the provider's final chunk said 30,000 tokens");
    }

    // ------------------------------------------------------------------ 4. Spring Boot's error page under the prefix

    /** Control: a valid call to the service is charged the provider's usage, 500. */
    @Test
    void controlTheServiceIsChargedItsUsage() {
        String s = subject();
        assertCharged(s, service(s, "/ai/svc/chat"), 200, 1, 500, "");
    }

    /**
     * A client with a typo in the path ({@code /ai/svc/chta}) gets Spring's 404 and, from the container's
     * error page, Spring Boot's JSON error body. No handler ran, no model was called; the 404 itself is
     * released, but the error page's JSON, rendered under the protected prefix, is charged as an answer
     * (the estimate of a body-less request).
     */
    @Test
    void springBootsErrorBodyForATypoIsNotCharged() {
        String s = subject();
        assertCharged(s, service(s, "/ai/svc/chta"), 404, 0, 0, "a 404 for a mistyped path called no model");
    }

    /**
     * A body the endpoint refuses before any model call (no {@code messages}): a
     * {@code ResponseStatusException(400)}, Spring Boot's JSON error body. Retrying clients (an SDK's
     * bug, a form sent empty) are charged for every refusal.
     */
    @Test
    void springBootsErrorBodyForAValidationFailureIsNotCharged() {
        String s = subject();
        for (int i = 0; i < 3; i++) {
            HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/svc/chat"), s,
                    "{\"model\":\"gpt-4o\",\"max_tokens\":2000,\"messages\":[]}", "Accept", "application/json");
            assertEquals(400, r.statusCode(), figures(s, r, settled(s)));
        }
        QuotaAccount a = settled(s);
        assertEquals(0, calls.of(s), ledger(s));
        assertEquals(0, a.used(), kind() + ": three 400 refusals before any model call were charged " + a.used()
                + " (" + ledger(s) + ")");
    }
}

package io.tokenquota.servlet.breakit102;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.HangUps;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 102 of issue 11: a hostile client of a Spring Boot host written as the docs say. The host's
 * chat endpoint binds the client's JSON to its own request record with Spring's default (camelCase)
 * property names, as the OpenAI Java SDK's and LangChain4j's builders name the settings
 * ({@code maxCompletionTokens}, {@code maxNewTokens}, {@code numPredict}), asks the provider for a stream
 * with {@code include_usage} (as the docs ask of such relays), relays it, and cancels the provider call
 * when the client hangs up. The client asks for a long answer under one of those names, reads the
 * answer and hangs up before the closing usage chunk: the call is charged its estimate, which must
 * hold the output the endpoint asked the model for.
 */
abstract class AbstractRound102 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final HangUps HANG_UPS = new HangUps();
    /** Tokens of input the mock provider reports for every call. */
    static final int PROMPT = 40;

    AbstractRound102() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behindAi(filter, Chat.class);
    }

    /** The host's own request record, bound by Spring's JSON converter with its default naming. */
    public record ChatRequest(List<Map<String, Object>> messages, Integer maxTokens, Integer maxCompletionTokens,
                              Integer maxNewTokens, Integer numPredict) {
        int budget() {
            for (Integer b : new Integer[] {maxCompletionTokens, maxTokens, maxNewTokens, numPredict}) {
                if (b != null && b > 0) {
                    return b;
                }
            }
            return 1_000;
        }
    }

    @RestController
    public static class Chat {
        /**
         * The relay: asks the provider for {@code budget} output tokens with {@code include_usage}, writes
         * each chunk as it comes (the mock model writes the whole budget, 100 tokens a chunk), and when a
         * write fails (the client is gone) cancels the provider call: the usage chunk that closes the
         * provider's stream never comes.
         */
        @PostMapping(path = "/chat/stream")
        public void stream(@RequestBody ChatRequest chat, HttpServletRequest req, HttpServletResponse resp)
                throws IOException {
            String s = req.getHeader("x-user-id");
            int budget = chat.budget();
            CALLS.count(s);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            for (int written = 0; written < budget; written += 100) {
                out.write(("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                        + "\"delta\":{\"content\":\"" + "word ".repeat(100) + "\"}}]}\n\n").getBytes(StandardCharsets.UTF_8));
            }
            out.write(("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                    + "\"delta\":{\"content\":\"END\"},\"finish_reason\":\"length\"}]}\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            HANG_UPS.await(s);
            // a client that announced no hang-up reads the answer whole: a few keep-alives before the usage, not 5 s
            int keepAlives = HANG_UPS.expected(s) ? 500 : 5;
            try {
                for (int i = 0; i < keepAlives; i++) {
                    // the provider's stream goes on (keep-alive) until its usage chunk; a failed write cancels it
                    out.write(": keep-alive\n\n".getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    Thread.sleep(10);
                }
            } catch (IOException | InterruptedException gone) {
                return;
            }
            out.write(("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{"
                    + "\"prompt_tokens\":" + PROMPT + ",\"completion_tokens\":" + budget + ",\"total_tokens\":"
                    + (PROMPT + budget) + "}}\n\ndata: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
    }

    static String body(String budgetField, int budget) {
        return "{\"messages\":[{\"role\":\"user\",\"content\":\"Write the longest story you can about a lighthouse.\"}],"
                + "\"" + budgetField + "\":" + budget + "}";
    }

    /** Sends the chat, reads it to the model's last words (or the refusal), hangs up; what it read. */
    String readAndHangUp(String s, String budgetField, int budget) throws Exception {
        HANG_UPS.expect(s);
        try {
            return TestHttp.postAndHangUpAfter(container.port(), "/ai/spring/chat/stream", s,
                    body(budgetField, budget), "\"END\"");
        } finally {
            HANG_UPS.happened(s);
        }
    }

    /**
     * A new subject's call asking {@code budget} output tokens under {@code field}, read to the end and hung
     * up before the usage chunk, is served and charged at least that budget.
     */
    void assertPaidFor(String field, int budget) throws Exception {
        String s = subject();
        String seen = readAndHangUp(s, field, budget);
        assertTrue(seen.startsWith("HTTP/1.1 200"), seen.lines().findFirst().orElse(""));
        QuotaAccount account = settled(s);
        assertEquals(1, calls.of(s), "one model call");
        assertTrue(account.used() >= budget,
                "the endpoint asked the model for " + budget + " output tokens (\"" + field + "\") and the client read "
                        + "all of them before hanging up, but the call was charged " + account.used() + ": " + ledger(s));
    }

    /** Control: the budget under a name the docs list ({@code maxTokens}, Bedrock's spelling) is held and charged. */
    @Test
    void controlMaxTokensReadAndHungUpIsChargedTheBudget() throws Exception {
        assertPaidFor("maxTokens", 16_000);
    }

    /**
     * Attack: {@code "maxCompletionTokens": 16000} (the OpenAI Java SDK's and LangChain4j's name, as a
     * Spring record binds it), read to the end and hung up before the usage chunk: charged about the
     * default budget instead of the 16,000 tokens the model wrote.
     */
    @Test
    void camelCaseMaxCompletionTokensReadAndHungUpIsChargedTheBudget() throws Exception {
        assertPaidFor("maxCompletionTokens", 16_000);
    }

    /** Attack: {@code "maxNewTokens": 16000} (LangChain4j's Hugging Face name), hung up before the usage. */
    @Test
    void camelCaseMaxNewTokensReadAndHungUpIsChargedTheBudget() throws Exception {
        assertPaidFor("maxNewTokens", 16_000);
    }

    /** Attack: {@code "numPredict": 16000} (LangChain4j's Ollama name), hung up before the usage. */
    @Test
    void camelCaseNumPredictReadAndHungUpIsChargedTheBudget() throws Exception {
        assertPaidFor("numPredict", 16_000);
    }

    /**
     * Attack on the allowance: with 20,000 tokens a month, calls asking for 16,000 output tokens under
     * {@code maxCompletionTokens} and hung up before their usage are each held about 1,000, so the
     * client gets many more 16,000-token answers than its allowance pays for.
     */
    @Test
    void camelCaseBudgetServesPastTheAllowance() throws Exception {
        String s = subject();
        int served = 0;
        for (int i = 0; i < 4; i++) {
            if (readAndHangUp(s, "maxCompletionTokens", 16_000).startsWith("HTTP/1.1 200")) {
                served++;
            }
            settled(s);
        }
        assertTrue(served * 16_000L <= ALLOWANCE + 16_000L,
                served + " answers of 16,000 output tokens served on a 20,000 allowance; charged "
                        + settled(s).used() + ": " + ledger(s));
    }

    /**
     * Control: twelve requests sharing one {@code Idempotency-Key}, sent at once on their own connections,
     * buy one model call; the others are refused 409.
     */
    @Test
    void controlSharedIdempotencyKeyBuysOneCall() throws Exception {
        String s = subject();
        String key = "k-" + UUID.randomUUID();
        int n = 12;
        CountDownLatch go = new CountDownLatch(1);
        List<CompletableFuture<Integer>> statuses = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            HttpRequest request = TestHttp.jsonPost(container.uri("/ai/spring/chat/stream"), s,
                    body("max_tokens", 200), "Idempotency-Key", key);
            statuses.add(CompletableFuture.supplyAsync(() -> {
                try {
                    go.await();
                    return TestHttp.fresh().send(request, HttpResponse.BodyHandlers.ofString()).statusCode();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }));
        }
        go.countDown();
        int ok = 0;
        for (CompletableFuture<Integer> f : statuses) {
            if (f.get() == 200) {
                ok++;
            }
        }
        assertEquals(1, ok, "answers for one key");
        assertEquals(1, calls.of(s), "model calls for one key");
    }
}

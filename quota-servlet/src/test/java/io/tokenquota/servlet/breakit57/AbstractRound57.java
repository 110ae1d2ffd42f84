package io.tokenquota.servlet.breakit57;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ResponsesApi;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Round 57 of issue 11: the transport and the connection's life (a stream the client cuts, long-lived
 * and resumed connections) on real Jetty and Tomcat.
 */
abstract class AbstractRound57 extends H2FilterRound {
    static final ObjectMapper JSON = new ObjectMapper();

    static String subject() {
        return "u57-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /**
     * Provider-state figures the {@code /small/} filter remembers (the operator's {@code providerStateEntries}).
     * Section 5 sends an eighth as many stored Responses of other users.
     */
    static final int SMALL_MEMORY = 2_048;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("small", filterFor("/small/").providerStateEntries(SMALL_MEMORY).build(), "/small/*")
                .servlet("models", new Models(), "/ai/*", "/small/*");
    }

    /**
     * Mock OpenAI Responses API with server-side state: a {@code conversation} (the Conversations API:
     * every call in it makes the model read the conversation's items again) and a reusable
     * {@code prompt} ({@code {"id": "pmpt_…"}}: a stored prompt template the model reads as input). A
     * stream is relayed event by event until the client goes away, as a relay does.
     */
    public static class Models extends HttpServlet {
        /** Conversation id to the tokens its items hold (what the next call in it reads again). */
        static final Map<String, Long> CONVERSATIONS = new ConcurrentHashMap<>();
        /** Stored prompt id to the tokens of its template. */
        static final Map<String, Long> PROMPTS = new ConcurrentHashMap<>();
        static final AtomicLong IDS = new AtomicLong();
        /** Stored Response id to the tokens a later {@code previous_response_id} makes the model read. */
        static final Map<String, Long> STORED = new ConcurrentHashMap<>();

        /**
         * An event stream the browser's {@code EventSource} reads: {@code GET /v1/stream?prompt=…}. The
         * stream ends after the model's answer and its usage; the browser then reconnects (as every
         * EventSource does when a stream ends) with {@code Last-Event-ID}, and a server with nothing after
         * that event answers 204, the one answer the HTML standard defines to stop the reconnecting.
         */
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            if (!path.endsWith("/v1/stream")) {
                resp.sendError(404);
                return;
            }
            if ("final".equals(req.getHeader("Last-Event-ID"))) {
                resp.setStatus(204);
                return;
            }
            MODEL_CALLS.incrementAndGet();
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            String head = "{\"id\":\"chatcmpl-57\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o\",";
            for (int i = 0; i < 3; i++) {
                out.write(("id: " + i + "\ndata: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"word \"},"
                        + "\"finish_reason\":null}]}\n\n").getBytes(StandardCharsets.UTF_8));
            }
            out.write(("id: final\ndata: " + head + "\"choices\":[],\"usage\":{\"prompt_tokens\":1000,"
                    + "\"completion_tokens\":4000,\"total_tokens\":5000}}\n\n").getBytes(StandardCharsets.UTF_8));
        }

        static final AtomicLong MODEL_CALLS = new AtomicLong();

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String path = req.getPathInfo() == null ? "" : req.getPathInfo();
            JsonNode body = JSON.readTree(req.getInputStream().readAllBytes());
            if (path.endsWith("/v1/responses")) {
                responses(resp, body);
            } else if (path.endsWith("/v1/chat/completions")) {
                chat(resp, body);

            } else {
                resp.sendError(404);
            }
        }

        /**
         * Chat completions streamed with {@code include_usage}: the usage chunk comes last. An image
         * given by URL with {@code detail: high} costs gpt-4o 85 + 170 per 512-pixel tile of the image
         * scaled into 2048x2048 and then to 768 on its short side: a 1024x2730 screenshot is 2x4 tiles,
         * 1,445 tokens (OpenAI's documented vision cost).
         */
        private void chat(HttpServletResponse resp, JsonNode body) throws IOException {
            long images = 0;
            for (JsonNode message : body.path("messages")) {
                for (JsonNode part : message.path("content")) {
                    if ("image_url".equals(part.path("type").asText())) {
                        images++;
                    }
                }
            }
            long input = 20 + images * 1_445;
            ChatCompletions.streamWordsWithUsage(resp, "chatcmpl-57", input);
        }

        private static String conversationOf(JsonNode body) {
            JsonNode c = body.path("conversation");
            return c.isTextual() ? c.asText() : c.path("id").asText(null);
        }

        private void responses(HttpServletResponse resp, JsonNode body) throws IOException {
            String id = "resp_57" + IDS.incrementAndGet();
            String conversation = conversationOf(body);
            String prompt = body.path("prompt").path("id").asText(null);
            long history = conversation == null ? 0 : CONVERSATIONS.getOrDefault(conversation, 0L);
            history += STORED.getOrDefault(body.path("previous_response_id").asText(""), 0L);
            long template = prompt == null ? 0 : PROMPTS.getOrDefault(prompt, 0L);
            // what the model reads: the conversation's items, the stored prompt and this input (4 characters a token)
            long input = history + template + body.path("input").toString().length() / 4;
            long output = 40;
            String usage = "{\"input_tokens\":" + input + ",\"input_tokens_details\":{\"cached_tokens\":0},"
                    + "\"output_tokens\":" + output + ",\"output_tokens_details\":{\"reasoning_tokens\":0},"
                    + "\"total_tokens\":" + (input + output) + "}";
            if (conversation != null) {
                CONVERSATIONS.put(conversation, input - template + output);
            }
            STORED.put(id, input - template + output);
            String extra = (conversation == null ? "" : "\"conversation\":{\"id\":\"" + conversation + "\"},")
                    + (prompt == null ? "" : "\"prompt\":{\"id\":\"" + prompt + "\",\"variables\":{}},");
            if (!body.path("stream").asBoolean(false)) {
                resp.setContentType("application/json");
                resp.getOutputStream().write(response(id, extra, "completed", usage, "Noted.").getBytes(StandardCharsets.UTF_8));
                return;
            }
            ResponsesApi.streamWords(resp, id, response(id, extra, "in_progress", "null", null),
                    response(id, extra, "completed", usage, "word"));
        }

        private static String response(String id, String extra, String status, String usage, String text) {
            return ResponsesApi.response(id, status, extra, "gpt-4o", usage, text);
        }
    }

    /** {@link TestHttp#postAndHangUpAfter} on this round's container. */
    String postAndHangUpAfter(String path, String subject, String body, String until) throws IOException {
        return TestHttp.postAndHangUpAfter(container.port(), path, subject, body, until);
    }

    // ------------------------------------------------------------------ 1. a conversation's stream cut early

    /**
     * OpenAI's Conversations API: a Responses call naming {@code "conversation": "conv_…"} makes the
     * model read every item of that conversation again (billed as input), as {@code previous_response_id}
     * does. The first call (8,000 tokens of notes) is charged its usage. The next call in the same
     * conversation is streamed, and the client hangs up after the first words: the relay stops at the
     * failed write, before {@code response.completed}. The filter remembers the usage of a stored
     * Response for {@code previous_response_id} (round 48) but not of a conversation, so the call is
     * charged the estimate of its own four words and 64-token budget.
     */
    @Test
    void aConversationCallCutEarlyIsChargedWithTheConversation() throws IOException {
        String s = subject();
        String conversation = "conv_57" + UUID.randomUUID().toString().replace("-", "");
        String notes = "The quarterly ledger lists every invoice by customer and contract clause. ".repeat(440);
        HttpResponse<String> first = TestHttp.postJson(container.uri("/ai/v1/responses"), s, "{\"model\":\"gpt-4o\","
                + "\"conversation\":\"" + conversation + "\",\"input\":" + JSON.valueToTree(notes) + ",\"max_output_tokens\":64}");
        assertTrue(first.statusCode() == 200, first.body());
        long firstCharge = settled(s).used();
        assertTrue(firstCharge > 7_000, "the first call is charged its usage: " + ledger(s));
        String seen = postAndHangUpAfter("/ai/v1/responses", s, "{\"model\":\"gpt-4o\",\"conversation\":\"" + conversation
                + "\",\"input\":\"And the totals?\",\"max_output_tokens\":64,\"stream\":true}", "output_text.delta");
        assertTrue(seen.contains("word"), seen);
        long second = settled(s).used() - firstCharge;
        long context = Models.CONVERSATIONS.get(conversation);
        assertTrue(second >= context, "the call that made the model read the " + context
                + "-token conversation again, cut by the client after the first words, was charged " + second
                + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 2. a stored prompt's stream cut early

    /**
     * OpenAI's reusable prompts: {@code "prompt": {"id": "pmpt_…"}} names a template stored at OpenAI
     * (here 9,000 tokens of instructions) that the model reads as input on every call. The request
     * body carries only the id. A streamed call cut by the client after the first words never passes
     * {@code response.completed}, and is charged the estimate of its few words: every such call reads
     * 9,000 tokens for ~100. The first, completed call with that prompt told the filter what it costs.
     */
    @Test
    void aStoredPromptCallCutEarlyIsChargedWithThePrompt() throws IOException {
        String s = subject();
        String prompt = "pmpt_57" + UUID.randomUUID().toString().replace("-", "");
        Models.PROMPTS.put(prompt, 9_000L);
        HttpResponse<String> first = TestHttp.postJson(container.uri("/ai/v1/responses"), s, "{\"model\":\"gpt-4o\","
                + "\"prompt\":{\"id\":\"" + prompt + "\",\"version\":\"2\"},\"input\":\"Start.\",\"max_output_tokens\":64}");
        assertTrue(first.statusCode() == 200, first.body());
        long firstCharge = settled(s).used();
        assertTrue(firstCharge > 9_000, "the first call is charged its usage: " + ledger(s));
        String seen = postAndHangUpAfter("/ai/v1/responses", s, "{\"model\":\"gpt-4o\",\"prompt\":{\"id\":\"" + prompt
                + "\",\"version\":\"2\"},\"input\":\"Next.\",\"max_output_tokens\":64,\"stream\":true}", "output_text.delta");
        assertTrue(seen.contains("word"), seen);
        long second = settled(s).used() - firstCharge;
        assertTrue(second >= 9_000, "the call that made the model read the 9,000-token stored prompt, cut by the"
                + " client after the first words, was charged " + second + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 3. another subject continues a stored Response

    /**
     * A stored Response belongs to the application's OpenAI project, not to one of its users: whoever
     * knows its id can continue it. The filter remembers what a stored Response costs to read again
     * (round 48) per subject, so a second account naming the first account's {@code previous_response_id}
     * gets the 8,000-token conversation read again by the model, cuts the stream after the first words,
     * and is charged the estimate of its own four words. One paid call, then any number of accounts
     * (or one user's second account) continue it for ~100 tokens each.
     */
    @Test
    void anotherSubjectContinuingAStoredResponseCutEarlyIsChargedWithTheConversation() throws IOException {
        String owner = subject();
        String notes = "The quarterly ledger lists every invoice by customer and contract clause. ".repeat(440);
        HttpResponse<String> first = TestHttp.postJson(container.uri("/ai/v1/responses"), owner, "{\"model\":\"gpt-4o\","
                + "\"input\":" + JSON.valueToTree(notes) + ",\"max_output_tokens\":64,\"store\":true}");
        assertTrue(first.statusCode() == 200, first.body());
        String previous = JSON.readTree(first.body()).path("id").asText();
        assertTrue(settled(owner).used() > 7_000, "the first call is charged its usage: " + ledger(owner));
        String other = subject();
        String seen = postAndHangUpAfter("/ai/v1/responses", other, "{\"model\":\"gpt-4o\",\"previous_response_id\":\""
                + previous + "\",\"input\":\"And the totals?\",\"max_output_tokens\":64,\"stream\":true}", "output_text.delta");
        assertTrue(seen.contains("word"), seen);
        long charged = settled(other).used();
        long context = Models.STORED.get(previous);
        assertTrue(charged >= context, "another account continued the stored " + context + "-token Response, cut the"
                + " stream after the first words, and was charged " + charged + ": " + ledger(other));
    }

    // ------------------------------------------------------------------ 4. EventSource's reconnect after the end

    /**
     * A browser's {@code EventSource} reconnects whenever its stream ends, sending {@code Last-Event-ID};
     * the HTML standard's way for a server to say "nothing more" is 204 No Content, which stops the
     * reconnecting. The stream (one model call, usage 5,000) is charged 5,000; the reconnect that reached
     * no model and carried nothing is charged the fallback estimate again (1,000: 20% more on this call,
     * double on a 1,000-token one), on every stream every browser reads. A 204 carries no answer at
     * all, so it cannot be a model's answer (argued against the "polls are charged" decision: this is
     * no poll of a stored answer, the filter can tell it from a call that answers later by its status).
     */
    @Test
    void anEventSourceReconnectAnswered204IsNotCharged() throws Exception {
        String s = subject();
        java.net.URI uri = container.uri("/ai/v1/stream?prompt=" + java.net.URLEncoder.encode("Tell a story.", StandardCharsets.UTF_8));
        long before = Models.MODEL_CALLS.get();
        HttpResponse<String> stream = TestHttp.get(uri, "x-user-id", s, "Accept", "text/event-stream");
        assertTrue(stream.statusCode() == 200 && stream.body().contains("id: final"), stream.body());
        long first = settled(s).used();
        assertTrue(first == 5_000, "the stream is charged its usage: " + ledger(s));
        HttpResponse<String> reconnect = TestHttp.get(uri, "x-user-id", s, "Accept", "text/event-stream",
                "Last-Event-ID", "final", "Cache-Control", "no-cache");
        assertTrue(reconnect.statusCode() == 204, "status " + reconnect.statusCode());
        assertTrue(Models.MODEL_CALLS.get() - before == 1, "one model call");
        long again = settled(s).used() - first;
        assertTrue(again == 0, "EventSource's reconnect after the end of the stream, answered 204 with nothing, reached"
                + " no model and was charged " + again + ": " + ledger(s));
    }

    // ------------------------------------------------------------------ 5. other users' traffic evicts the conversation

    /**
     * What a stored Response costs to read again is remembered in one memory of 4,096 entries that all
     * subjects' answers share (ETag answers, stored Responses, batch results), least recently used out.
     * On a server with traffic, other users' ordinary calls evict it within seconds: here 4,096 small
     * Responses calls of 64 other users come between the owner's 8,000-token call and its continuation,
     * which the owner cuts after the first words. The continuation is charged the estimate of its own
     * four words again, as if the filter had never seen the conversation (a client that wants this
     * need not wait for others: the same 4,096 calls of its own cost less than one re-read of a long
     * agent conversation).
     *
     * <p>Run on the {@code /small/} filter's {@value #SMALL_MEMORY} figures, with an eighth as many calls of the 64
     * other users (256, four each): the round's 4,096 calls were a sixteenth of the default memory's 65,536 figures
     * and took 40 s a container. An eighth is the tighter bound (each call and each user leave figures of their
     * own, so the memory is nearer full than the calls alone say; the same 256 calls push the conversation out of
     * a memory of 512), and the same point: other users' traffic short of filling the memory does not.
     */
    @Test
    void aStoredResponseContinuedAfterOtherUsersTrafficIsChargedWithTheConversation() throws Exception {
        String owner = subject();
        String notes = "The quarterly ledger lists every invoice by customer and contract clause. ".repeat(440);
        HttpResponse<String> first = TestHttp.postJson(container.uri("/small/v1/responses"), owner, "{\"model\":\"gpt-4o\","
                + "\"input\":" + JSON.valueToTree(notes) + ",\"max_output_tokens\":64,\"store\":true}");
        assertTrue(first.statusCode() == 200, first.body());
        String previous = JSON.readTree(first.body()).path("id").asText();
        long firstCharge = settled(owner).used();
        assertTrue(firstCharge > 7_000, "the first call is charged its usage: " + ledger(owner));
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(4);
        try {
            java.util.List<java.util.concurrent.Future<Integer>> calls = new java.util.ArrayList<>();
            for (int u = 0; u < 64; u++) {
                String user = subject();
                for (int i = 0; i < SMALL_MEMORY / 8 / 64; i++) {
                    calls.add(pool.submit(() -> TestHttp.postJson(container.uri("/small/v1/responses"), user,
                            "{\"model\":\"gpt-4o-mini\",\"input\":\"Hi.\",\"max_output_tokens\":16}").statusCode()));
                }
            }
            for (java.util.concurrent.Future<Integer> call : calls) {
                assertTrue(call.get() == 200, "another user's call answered " + call.get());
            }
        } finally {
            pool.shutdownNow();
        }
        String seen = postAndHangUpAfter("/small/v1/responses", owner, "{\"model\":\"gpt-4o\",\"previous_response_id\":\""
                + previous + "\",\"input\":\"And the totals?\",\"max_output_tokens\":64,\"stream\":true}", "output_text.delta");
        assertTrue(seen.contains("word"), seen);
        long second = settled(owner).used() - firstCharge;
        long context = Models.STORED.get(previous);
        assertTrue(second >= context, "after " + SMALL_MEMORY / 8 + " calls of other users the owner continued its stored " + context
                + "-token Response, cut the stream after the first words, and was charged " + second + ": " + ledger(owner));
    }

    // ------------------------------------------------------------------ 6. images by URL in a cut stream

    /**
     * Ten screenshots given by URL with {@code detail: high} to gpt-4o, streamed with
     * {@code include_usage}; the client hangs up after the first words (the images were read before the
     * first token). Each 1024x2730 image cost 1,445 tokens (OpenAI's tile rule), 14,450 in all; the
     * filter holds and charges 258 for an image it cannot see (only data URLs are measured), so the cut
     * call is charged ~2,600 + its budget. Unlike a stream without {@code include_usage} (a documented
     * decision), this client asked for the usage and took the answer without it.
     */
    @Test
    void highDetailImageUrlsInACutStreamAreChargedWhatTheModelRead() throws IOException {
        String s = subject();
        StringBuilder parts = new StringBuilder("{\"type\":\"text\",\"text\":\"Compare the screens.\"}");
        for (int i = 0; i < 10; i++) {
            parts.append(",{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/screens/").append(i)
                    .append(".png\",\"detail\":\"high\"}}");
        }
        String seen = postAndHangUpAfter("/ai/v1/chat/completions", s, "{\"model\":\"gpt-4o\",\"max_tokens\":200,"
                + "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\","
                + "\"content\":[" + parts + "]}]}", "word");
        assertTrue(seen.contains("word"), seen);
        long charged = settled(s).used();
        assertTrue(charged >= 10 * 1_445L, "ten high-detail 1024x2730 images by URL (1,445 tokens each to gpt-4o) in a"
                + " stream the client cut after the first words were charged " + charged + ": " + ledger(s));
    }
}

package io.tokenquota.servlet.defaulteffort;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The figure of what a reasoning model writes at its default effort (a request naming neither an output
 * budget nor an effort), beside round 189's chat completion: learnt from a Responses call without
 * {@code reasoning.effort} too, and never from a call that names a budget or from a model that does not
 * reason (its answers report no reasoning tokens), so neither is held more than before.
 *
 * <p>The relay is OpenAI's, streamed: a reasoning model ({@code o…}, {@code gpt-5…}) reasons
 * {@value #REASONING_TOKENS} tokens (as many as its budget leaves when one is named) before its first
 * visible delta; {@code gpt-4o-mini} writes a long answer of {@value #LONG_ANSWER_TOKENS} tokens and
 * reasons none. Under {@code /ai/cut/} its client hangs up after half the answer's text, before the
 * usage; under {@code /ai/whole/} the answer is read to its end.
 */
abstract class AbstractDefaultEffortReasoning extends H2FilterRound {
    static final long REASONING_TOKENS = 6_000;
    static final long PROMPT_TOKENS = 61;
    static final long ANSWER_TOKENS = 240;
    static final long LONG_ANSWER_TOKENS = 6_000;
    static final String ANSWER = "The robots move 51 boxes a round of trips, so 2,000 boxes take 40 rounds, and the"
            + " recharges add 63 minutes: 503 minutes in all.";
    static final String QUESTION = "A warehouse has 17 robots. Each carries 3 boxes a trip of 11 minutes and recharges"
            + " 7 minutes after every 4 trips. How long do they need to move 2,000 boxes?";

    private static final ObjectMapper JSON = new ObjectMapper();

    final ModelCalls calls = new ModelCalls();
    /** Per subject and call: released once the client has hung up. */
    final Map<String, CountDownLatch> hungUp = new ConcurrentHashMap<>();

    static String subject() {
        return "u-de-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** A streamed chat completion of {@code model}, with {@code extra} members (each followed by a comma, or empty). */
    static String chat(String model, String extra) {
        return "{\"model\":\"" + model + "\"," + extra + "\"messages\":[{\"role\":\"user\",\"content\":\"" + QUESTION
                + "\"}],\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("whole", new Relay(true), "/ai/whole/*")
                .servlet("cut", new Relay(false), "/ai/cut/*")
                .onStartup(filter::registerByServletName);
    }

    /** OpenAI's chat or Responses stream (by the path), relayed as it comes; see the class comment. */
    class Relay extends HttpServlet {
        private final boolean whole;

        Relay(boolean whole) {
            this.whole = whole;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            JsonNode body = JSON.readTree(req.getInputStream());
            String subject = req.getHeader("x-user-id");
            calls.count(subject);
            String latch = subject + "#" + calls.of(subject);
            String model = body.path("model").asText();
            boolean reasons = model.startsWith("o") || model.startsWith("gpt-5");
            JsonNode budget = body.has("max_completion_tokens") ? body.get("max_completion_tokens") : body.get("max_output_tokens");
            long reasoning = !reasons ? 0 : budget == null ? REASONING_TOKENS
                    : Math.min(REASONING_TOKENS, budget.asLong() - ANSWER_TOKENS);
            long output = reasoning + (reasons ? ANSWER_TOKENS : LONG_ANSWER_TOKENS);
            boolean responses = req.getRequestURI().endsWith("/responses");
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            String id = "resp_de" + UUID.randomUUID().toString().replace("-", "");
            String[] words = ANSWER.split(" ");
            if (responses) {
                ResponsesApi.event(out, "response.created", "{\"type\":\"response.created\",\"sequence_number\":0,"
                        + "\"response\":" + ResponsesApi.response(id, "in_progress", "", model, "null", null) + "}");
            }
            for (int i = 0; i < words.length / 2; i++) {
                delta(out, responses, id, model, words[i]);
            }
            if (!whole) {
                out.write("data: {\"mark\":\"END-OF-TEXT\"}\n\n".getBytes(StandardCharsets.UTF_8));
                out.flush();
                try {
                    hungUp.computeIfAbsent(latch, s -> new CountDownLatch(1)).await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                // the client has gone: the next writes fail and the relay cancels the upstream call
                byte[] ping = (": ping " + "x".repeat(4000) + "\n\n").getBytes(StandardCharsets.UTF_8);
                try {
                    for (int i = 0; i < 2000; i++) {
                        out.write(ping);
                        out.flush();
                    }
                } catch (IOException gone) {
                    return;
                }
                return;
            }
            for (int i = words.length / 2; i < words.length; i++) {
                delta(out, responses, id, model, words[i]);
            }
            if (responses) {
                String usage = "{\"input_tokens\":" + PROMPT_TOKENS + ",\"input_tokens_details\":{\"cached_tokens\":0},"
                        + "\"output_tokens\":" + output + ",\"output_tokens_details\":{\"reasoning_tokens\":" + reasoning
                        + "},\"total_tokens\":" + (PROMPT_TOKENS + output) + "}";
                ResponsesApi.event(out, "response.completed", "{\"type\":\"response.completed\",\"sequence_number\":99,"
                        + "\"response\":" + ResponsesApi.response(id, "completed", "", model, usage, ANSWER) + "}");
                return;
            }
            String head = "{\"id\":\"chatcmpl-" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                    + "\"model\":\"" + model + "\",";
            out.write(("data: " + head + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
                    + "data: " + head + "\"choices\":[],\"usage\":{\"prompt_tokens\":" + PROMPT_TOKENS
                    + ",\"completion_tokens\":" + output + ",\"total_tokens\":" + (PROMPT_TOKENS + output)
                    + ",\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":"
                    + reasoning + "}}}\n\ndata: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }

        private void delta(OutputStream out, boolean responses, String id, String model, String word) throws IOException {
            if (responses) {
                ResponsesApi.event(out, "response.output_text.delta", "{\"type\":\"response.output_text.delta\","
                        + "\"sequence_number\":1,\"item_id\":\"msg_" + id + "\",\"output_index\":1,\"content_index\":0,"
                        + "\"delta\":\"" + word + " \",\"logprobs\":[]}");
                return;
            }
            out.write(("data: {\"id\":\"chatcmpl-" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                    + "\"model\":\"" + model + "\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + word + " \"},"
                    + "\"finish_reason\":null}]}\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
    }

    /** {@code subject}'s call of {@code body} on {@code api} ({@code chat/completions}, {@code responses}) read to its end. */
    private void whole(String subject, String api, String body) {
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/whole/v1/" + api), subject, body);
        assertEquals(200, r.statusCode(), r.body());
    }

    /** What {@code subject}'s call of {@code body} on {@code api}, cut after half its answer's text, was charged. */
    private long cut(String subject, String api, String body) throws Exception {
        long before = settled(subject).used();
        String read = TestHttp.postAndHangUpAfter(container.port(), "/ai/cut/v1/" + api, subject, body, "END-OF-TEXT");
        hungUp.computeIfAbsent(subject + "#" + calls.of(subject), x -> new CountDownLatch(1)).countDown();
        assertTrue(read.contains("END-OF-TEXT"), read);
        return settled(subject).used() - before;
    }

    /** What the same cut call is charged as a new subject's first call: no figure of any kind is held. */
    private long cutFirst(String api, String body) throws Exception {
        return cut(subject(), api, body);
    }

    /**
     * A Responses call to o4-mini that names no {@code reasoning.effort} (its {@code reasoning} object
     * asks only for a summary) reasons at the model's default effort: once one such call was read whole,
     * the subject's next, cut before its usage, is charged what the first reasoned.
     */
    @Test
    void aResponsesCallWithoutAnEffortCutAfterOneReadWholeIsChargedItsReasoning() throws Exception {
        String body = "{\"model\":\"o4-mini\",\"reasoning\":{\"summary\":\"auto\"},\"input\":\"" + QUESTION
                + "\",\"stream\":true}";
        String s = subject();
        whole(s, "responses", body);
        long cut = cut(s, "responses", body);
        assertEquals(2, calls.of(s));
        assertTrue(cut >= PROMPT_TOKENS + REASONING_TOKENS, "the cut call after one read whole was charged " + cut
                + ": " + ledger(s));
    }

    /**
     * A call that names an output budget bounds what the model writes: it learns no figure, so neither
     * the subject's next call with that budget nor one without any is held more than a first call.
     */
    @Test
    void aCallThatNamesABudgetLearnsNoFigure() throws Exception {
        String bounded = chat("o3-mini", "\"max_completion_tokens\":7000,");
        String unbounded = chat("o3-mini", "");
        String s = subject();
        whole(s, "chat/completions", bounded);
        assertEquals(cutFirst("chat/completions", bounded), cut(s, "chat/completions", bounded), ledger(s));
        String t = subject();
        whole(t, "chat/completions", bounded);
        long first = cutFirst("chat/completions", unbounded);
        assertTrue(first < REASONING_TOKENS, "a first call holds no figure: " + first);
        assertEquals(first, cut(t, "chat/completions", unbounded), ledger(t));
    }

    /**
     * A model that does not reason (its answers report no reasoning tokens) never learns a figure, however
     * long its answer: the subject's next call, cut, is charged as a first call, on either API.
     */
    @Test
    void aModelThatDoesNotReasonLearnsNoFigure() throws Exception {
        String chat = chat("gpt-4o-mini", "");
        String s = subject();
        whole(s, "chat/completions", chat);
        assertEquals(cutFirst("chat/completions", chat), cut(s, "chat/completions", chat), ledger(s));
        String responses = "{\"model\":\"gpt-4o-mini\",\"input\":\"" + QUESTION + "\",\"stream\":true}";
        String t = subject();
        whole(t, "responses", responses);
        assertEquals(cutFirst("responses", responses), cut(t, "responses", responses), ledger(t));
    }
}

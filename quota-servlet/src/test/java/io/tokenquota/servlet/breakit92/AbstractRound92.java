package io.tokenquota.servlet.breakit92;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * Round 92 of issue 11: the usage of real provider answers whose shapes the providers' own clients
 * parse, where the provider counts tokens a naive reader of its usage misses: Anthropic's newer
 * streams, whose final {@code message_delta} repeats the input counts cumulatively (a server tool's
 * results added), OpenAI Responses streams that end {@code response.incomplete}, Gemini thinking
 * streams, and xAI's reasoning tokens counted beside the completion. Each call asks a budget that
 * holds its whole usage, so the charge is exactly the usage the answer reports. And the methods the
 * filter lets pass as calling no model: a chat body sent with {@code OPTIONS} (no CORS preflight: no
 * {@code Origin}, no {@code Access-Control-Request-Method}, a body) or {@code TRACE} to a relay that
 * forwards any method, or to a Spring functional route matched by its path alone, runs the model; a
 * chat endpoint's {@code HEAD} through {@code HttpServlet}'s default runs its {@code doGet}.
 */
abstract class AbstractRound92 extends ModelCallRound {
    /** What the model answers, by subject: content type, then body. */
    final Map<String, String[]> answers = new ConcurrentHashMap<>();

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        Routes92.CALLS.set(calls);
        return Deployment.create()
                .servlet("spring", SpringMvc.bootDispatcher(Routes92.class), SpringMvc.MAPPING)
                .filter("quota", filter, "/ai/*")
                .servlet("relay", new Relay(), "/ai/relay/*")
                .servlet("suggest", new Suggest(), "/ai/suggest")
                .servlet("model", new Model(), "/ai/*");
    }

    /** A model that writes its canned answer in small flushed pieces, as a relay does. */
    class Model extends CountedModel {
        @Override
        protected void answer(Call call) throws IOException {
            String[] answer = answers.get(call.subject());
            HttpServletResponse resp = call.resp();
            resp.setStatus(200);
            resp.setContentType(answer[0]);
            OutputStream out = resp.getOutputStream();
            for (String part : answer[1].split("(?<=\n\n)")) {
                out.write(part.getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
        }
    }

    /**
     * A relay that forwards whatever method it is sent to an upstream that runs the model on any method
     * (a Go {@code http.HandleFunc} route, an Express {@code app.all}, a servlet overriding
     * {@code service}): it reads the chat body and answers the model's completion with its usage.
     */
    class Relay extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            byte[] body = req.getInputStream().readAllBytes();
            if (body.length == 0) {
                resp.setStatus(400);
                return;
            }
            String s = req.getHeader("x-user-id");
            calls.count(s);
            resp.setStatus(200);
            resp.setContentType("application/json");
            resp.getOutputStream().write(ChatCompletions.completion("c1", "gpt-4o", "done", 4000, 1000)
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A GET endpoint that calls the model with the query's question and its own context (a system
     * prompt and retrieved documents the client never sends: 4,000 input tokens) and answers the
     * completion with its usage; {@code HEAD} runs it through {@code HttpServlet}'s default, which
     * discards the body.
     */
    class Suggest extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String s = req.getHeader("x-user-id");
            calls.count(s);
            resp.setStatus(200);
            resp.setContentType("application/json");
            resp.getOutputStream().write(ChatCompletions.completion("c2", "gpt-4o", "try this", 4000, 1000)
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    HttpResponse<String> suggest(String method, String s) {
        return TestHttp.send(TestHttp.requestAs(container.uri("/ai/suggest?q=hello&max_tokens=1000"), s)
                .method(method, java.net.http.HttpRequest.BodyPublishers.noBody()).build());
    }

    /** Control: the GET's model call is charged its usage, 5,000 tokens. */
    @Test
    void suggestGetIsChargedItsUsage() {
        String s = subject();
        assertServedOnceAndCharged(s, suggest("GET", s), 5_000);
    }

    /**
     * A client sends the same request as {@code HEAD}: the endpoint's {@code doGet} runs the model
     * (5,000 tokens, its usage in the answer the servlet API then discards). The call must be charged
     * its 5,000 tokens as the GET is, not the estimate of a short query.
     */
    @Test
    void headRunsTheModelAndIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = suggest("HEAD", s);
        assertEquals(1, calls.of(s), "HEAD status " + r.statusCode());
        assertEachCallCharged(s, 5_000, "HEAD", r, () -> ", ledger " + ledger(s));
    }

    /** The chat body "write it" (1,000 output tokens at most) sent to {@code path} with {@code method}. */
    HttpResponse<String> chat(String path, String method, String s) {
        return TestHttp.send(TestHttp.requestAs(container.uri(path), s, "Content-Type", "application/json")
                .method(method, java.net.http.HttpRequest.BodyPublishers.ofString(
                        "{\"model\":\"gpt-4o\",\"max_tokens\":1000,\"messages\":[{\"role\":\"user\",\"content\":\"write it\"}]}"))
                .build());
    }

    HttpResponse<String> relayed(String method, String s) {
        return chat("/ai/relay/v1/chat/completions", method, s);
    }

    HttpResponse<String> routed(String method, String s) {
        return chat("/ai/spring/chat", method, s);
    }

    /** Control: the relay's POST model call is charged its usage, 5,000 tokens. */
    @Test
    void relayedPostIsChargedItsUsage() {
        String s = subject();
        assertServedOnceAndCharged(s, relayed("POST", s), 5_000);
    }

    /**
     * A hostile client sends its chat body with the method {@code OPTIONS} (no {@code Origin}, no
     * {@code Access-Control-Request-Method}: no CORS preflight) to a relay that forwards any method.
     * The model runs and answers 5,000 tokens; the call must be charged them (or not reach the model),
     * and a user past the allowance must not be served.
     */
    @Test
    void optionsWithAChatBodyIsAModelCallAndIsCharged() {
        String s = subject();
        assertEachCallCharged(s, 5_000, "OPTIONS", relayed("OPTIONS", s));
    }

    /**
     * A user who spent the whole allowance on four relayed POSTs (4 x 5,000 = 20,000) is refused the
     * fifth POST with 429, then sends the same chat body with {@code OPTIONS} and is served the model's
     * 5,000-token answer past the allowance.
     */
    @Test
    void optionsServesTheModelPastTheAllowance() {
        String s = subject();
        assertNoModelCallPastTheAllowance(s, 5_000, () -> relayed("POST", s), "OPTIONS", () -> relayed("OPTIONS", s));
    }

    /** Control: the Spring route's POST is charged its usage, 5,000 tokens. */
    @Test
    void springRoutePostIsChargedItsUsage() {
        String s = subject();
        assertServedOnceAndCharged(s, routed("POST", s), 5_000);
    }

    /**
     * A Spring Boot application's functional route to the model (matched by path, any method) is sent
     * the chat body with {@code OPTIONS}: Spring Boot dispatches OPTIONS to handlers, the route runs the
     * model, 5,000 tokens, and the filter lets the request pass as if it were a CORS preflight.
     */
    @Test
    void springRouteOptionsIsChargedItsUsage() {
        String s = subject();
        assertEachCallCharged(s, 5_000, "OPTIONS", routed("OPTIONS", s));
    }

    /**
     * The same with the method {@code TRACE}, which a container that does not refuse it passes to a
     * servlet overriding {@code service}.
     */
    @Test
    void traceWithAChatBodyIsAModelCallAndIsCharged() {
        String s = subject();
        assertEachCallCharged(s, 5_000, "TRACE", relayed("TRACE", s));
    }

    long charge(String path, String contentType, String answer) throws Exception {
        String s = subject();
        answers.put(s, new String[] {contentType, answer});
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s,
                "{\"model\":\"m\",\"max_tokens\":9000,\"max_output_tokens\":9000,"
                        + "\"messages\":[{\"role\":\"user\",\"content\":\"search the web for it\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(answer, r.body());
        assertEquals(1, calls.of(s));
        QuotaAccount a = settled(s);
        return a.used();
    }

    static String sse(String... events) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < events.length; i += 2) {
            b.append("event: ").append(events[i]).append('\n').append("data: ").append(events[i + 1]).append("\n\n");
        }
        return b.toString();
    }

    /**
     * An Anthropic Messages stream with web search: {@code message_start} counts 10 input and 2,000
     * cache-read tokens; the final {@code message_delta} (as the API sends it now) repeats the input
     * counts cumulatively, 4,010 input with the search results, 2,000 cache read, and 300 output. The
     * call cost 4,010 + 2,000 + 300 = 6,310 tokens.
     */
    @Test
    void anthropicServerToolStreamIsChargedItsFinalCounts() throws Exception {
        String answer = sse(
                "message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":2000,\"output_tokens\":1}}}",
                "content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}",
                "content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Found it.\"}}",
                "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}",
                "message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":4010,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":2000,\"output_tokens\":300,\"server_tool_use\":{\"web_search_requests\":1}}}",
                "message_stop", "{\"type\":\"message_stop\"}");
        assertEquals(6_310, charge("/ai/v1/messages", "text/event-stream", answer));
    }

    /**
     * An OpenAI Responses stream cut by its {@code max_output_tokens}: it ends with
     * {@code response.incomplete}, whose {@code response.usage} counts 3,000 input and 500 output
     * (400 of them reasoning). The call cost 3,500 tokens.
     */
    @Test
    void responsesStreamEndingIncompleteIsChargedItsUsage() throws Exception {
        String answer = sse(
                "response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_92\",\"object\":\"response\",\"status\":\"in_progress\",\"model\":\"o4-mini\",\"output\":[],\"usage\":null}}",
                "response.in_progress", "{\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{\"id\":\"resp_92\",\"object\":\"response\",\"status\":\"in_progress\",\"model\":\"o4-mini\",\"output\":[],\"usage\":null}}",
                "response.output_item.added", "{\"type\":\"response.output_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{\"id\":\"rs_1\",\"type\":\"reasoning\",\"summary\":[]}}",
                "response.output_item.done", "{\"type\":\"response.output_item.done\",\"sequence_number\":3,\"output_index\":0,\"item\":{\"id\":\"rs_1\",\"type\":\"reasoning\",\"summary\":[]}}",
                "response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":4,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"delta\":\"Partial\"}",
                "response.incomplete", "{\"type\":\"response.incomplete\",\"sequence_number\":5,\"response\":{\"id\":\"resp_92\",\"object\":\"response\",\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"model\":\"o4-mini\",\"output\":[],\"usage\":{\"input_tokens\":3000,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":500,\"output_tokens_details\":{\"reasoning_tokens\":400},\"total_tokens\":3500}}}");
        assertEquals(3_500, charge("/ai/v1/responses", "text/event-stream", answer));
    }

    /**
     * A Gemini thinking stream ({@code alt=sse}): its first chunk counts the prompt and 5,000 thought
     * tokens, its last the 50 answer tokens too: 5,150 in all.
     */
    @Test
    void geminiThinkingStreamIsChargedPromptThoughtsAndAnswer() throws Exception {
        String answer = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":100,\"totalTokenCount\":5100,\"thoughtsTokenCount\":5000},\"modelVersion\":\"gemini-2.5-pro\",\"responseId\":\"r1\"}\r\n\r\n"
                + "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\" there\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":100,\"candidatesTokenCount\":50,\"totalTokenCount\":5150,\"thoughtsTokenCount\":5000},\"modelVersion\":\"gemini-2.5-pro\",\"responseId\":\"r1\"}\r\n\r\n";
        assertEquals(5_150, charge("/ai/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", "text/event-stream", answer));
    }

    /**
     * xAI's chat completions count reasoning tokens beside the completion, not in it: 10 prompt, 5
     * completion and 3,000 reasoning tokens, 3,015 in all (its {@code total_tokens}).
     */
    @Test
    void xaiReasoningBesideTheCompletionIsCharged() throws Exception {
        String answer = "{\"id\":\"x1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"grok-3-mini\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"4\"},\"finish_reason\":\"stop\"}],"
                + "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":3015,\"prompt_tokens_details\":{\"text_tokens\":10,\"audio_tokens\":0,\"image_tokens\":0,\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":3000,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0},\"num_sources_used\":0},\"system_fingerprint\":\"fp\"}";
        assertEquals(3_015, charge("/ai/v1/chat/completions", "application/json", answer));
    }
}

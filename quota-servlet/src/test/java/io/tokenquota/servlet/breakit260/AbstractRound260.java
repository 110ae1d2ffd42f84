package io.tokenquota.servlet.breakit260;

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
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 260 of issue 11: JetBrains Koog's {@code PromptExecutor.execute(prompt, model, tools)} returns a
 * {@code List<Message.Response>} for ONE model call: the assistant's text (if any) and one
 * {@code Message.Tool.Call} per tool call the model asked for, each carrying the same
 * {@code ResponseMetaInfo} (that one call's token counts) and, for a tool call, the tool call's own
 * {@code id}. An application returning that list as JSON (kotlinx.serialization, as Koog writes it)
 * made one model call and must be charged that call's usage once. Controls: the same call answered with
 * text alone, and two whole Perplexity answers (each with an empty {@code delta} beside its message) in a
 * list or NDJSON, which must still add up.
 */
abstract class AbstractRound260 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u260-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final int INPUT = 4_200;
    static final int OUTPUT = 800;
    static final int TOTAL = INPUT + OUTPUT;

    static final String META = "{\"timestamp\":\"2025-06-02T10:15:30.123Z\",\"totalTokensCount\":" + TOTAL
            + ",\"inputTokensCount\":" + INPUT + ",\"outputTokensCount\":" + OUTPUT + "}";

    static String assistant(String text) {
        return "{\"type\":\"ai.koog.prompt.message.Message.Assistant\",\"content\":\"" + text + "\",\"metaInfo\":" + META
                + ",\"finishReason\":\"tool_calls\"}";
    }

    static String toolCall(String id, String tool, String args) {
        return "{\"type\":\"ai.koog.prompt.message.Message.Tool.Call\",\"id\":\"" + id + "\",\"tool\":\"" + tool
                + "\",\"content\":\"" + args.replace("\"", "\\\"") + "\",\"metaInfo\":" + META + "}";
    }

    /** Koog 0.5's shape: the text as {@code parts}, the Anthropic client's counts on every block of the answer. */
    static String assistant05(String text) {
        return "{\"type\":\"ai.koog.prompt.message.Message.Assistant\",\"parts\":[{\"type\":\"ai.koog.prompt.message.ContentPart.Text\","
                + "\"text\":\"" + text + "\"}],\"metaInfo\":" + META + ",\"finishReason\":\"tool_use\"}";
    }

    static String toolCall05(String id, String tool, String args) {
        return "{\"type\":\"ai.koog.prompt.message.Message.Tool.Call\",\"id\":\"" + id + "\",\"tool\":\"" + tool
                + "\",\"parts\":[{\"type\":\"ai.koog.prompt.message.ContentPart.Text\",\"text\":\"" + args.replace("\"", "\\\"")
                + "\"}],\"metaInfo\":" + META + "}";
    }

    /** A whole (non-streamed) Perplexity chat completion: its choice carries the message and an empty delta. */
    static String pplx(String id, int in, int out) {
        return "{\"id\":\"" + id + "\",\"model\":\"sonar\",\"created\":1735689600,\"usage\":{\"prompt_tokens\":" + in
                + ",\"completion_tokens\":" + out + ",\"total_tokens\":" + (in + out) + ",\"search_context_size\":\"low\"},"
                + "\"citations\":[\"https://example.org/a\"],\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                + "\"finish_reason\":\"stop\",\"message\":{\"role\":\"assistant\",\"content\":\"Answer " + id + "\"},"
                + "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}";
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("koog", new Koog(), "/ai/koog/*")
                .onStartup(filter::registerByServletName);
    }

    /** The application: one Koog execute call (one model call), its List<Message.Response> sent as JSON. */
    class Koog extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            String body = switch (req.getPathInfo().substring(1)) {
                case "text" -> "[" + assistant("The weather in Paris is mild.") + "]";
                case "text-and-tools" -> "[" + assistant("Let me look that up for the three cities.") + ","
                        + toolCall("call_Qm3hZ1", "get_weather", "{\"city\":\"Paris\"}") + ","
                        + toolCall("call_Xa9kL2", "get_weather", "{\"city\":\"Berlin\"}") + ","
                        + toolCall("call_Tb7pR4", "get_weather", "{\"city\":\"Madrid\"}") + "]";
                case "tools" -> "[" + toolCall("call_Qm3hZ1", "get_weather", "{\"city\":\"Paris\"}") + ","
                        + toolCall("call_Xa9kL2", "get_weather", "{\"city\":\"Berlin\"}") + "]";
                case "claude-koog05" -> "[" + assistant05("I'll check both cities.") + ","
                        + toolCall05("toolu_01A09q90qw90lq917835lq9", "get_weather", "{\"city\":\"Paris\"}") + ","
                        + toolCall05("toolu_01B7cY2kLmN3pQ4rS5tU6vW", "get_weather", "{\"city\":\"Berlin\"}") + "]";
                case "pplx-list" -> "[" + pplx("a1b2c3d4-0001-4e5f-9a8b-000000000001", 2_100, 400) + ","
                        + pplx("a1b2c3d4-0002-4e5f-9a8b-000000000002", 2_100, 400) + "]";
                case "pplx-ndjson" -> pplx("a1b2c3d4-0001-4e5f-9a8b-000000000001", 2_100, 400) + "\n"
                        + pplx("a1b2c3d4-0002-4e5f-9a8b-000000000002", 2_100, 400) + "\n";
                default -> throw new IllegalArgumentException(req.getPathInfo());
            };
            resp.setContentType("application/json");
            resp.getOutputStream().write(body.getBytes(StandardCharsets.UTF_8));
        }
    }

    static final String PROMPT = "{\"prompt\":\"What is the weather in Paris, Berlin and Madrid?\",\"model\":\"gpt-4o\"}";

    long run(String path) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/koog/" + path), s, PROMPT);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), "the model was called once");
        long used = settled(s).used();
        assertTrue(used >= TOTAL && used <= TOTAL + 100,
                "one Koog call reporting " + TOTAL + " tokens is charged them once, charged " + used + ": " + ledger(s));
        return used;
    }

    /** Control: the call answered with text alone. */
    @Test
    void oneCallsTextIsChargedItsUsage() {
        run("text");
    }

    /** The same single call asking for three tools in parallel beside its text: four messages, one call. */
    @Test
    void oneCallWithThreeParallelToolCallsIsChargedOnce() {
        run("text-and-tools");
    }

    /** Koog 0.5 and its Anthropic client: one Claude answer with text and two tool_use blocks, three messages. */
    @Test
    void oneClaudeAnswerWithTwoToolUsesIsChargedOnce() {
        run("claude-koog05");
    }

    /** Two Perplexity calls (a fan-out's two questions), answered whole, returned as a JSON list: 5,000 in all. */
    @Test
    void twoWholePerplexityAnswersInAListAddUp() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/koog/pplx-list"), s, PROMPT);
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= 5_000, "two calls of 2,500 tokens each are charged 5,000, charged " + used + ": " + ledger(s));
    }

    /** The same two answers as NDJSON. */
    @Test
    void twoWholePerplexityAnswersAsNdjsonAddUp() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/koog/pplx-ndjson"), s, PROMPT);
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= 5_000, "two calls of 2,500 tokens each are charged 5,000, charged " + used + ": " + ledger(s));
    }

    /** The same single call asking for two tools and writing no text: two messages, one call. */
    @Test
    void oneCallWithTwoParallelToolCallsIsChargedOnce() {
        run("tools");
    }
}

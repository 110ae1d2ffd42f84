package io.tokenquota.servlet.breakit257;

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
import java.net.http.HttpResponse;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 257 of issue 11: agent frameworks' own stream types relayed from a protected endpoint.
 *
 * <p>JetBrains Koog: a Ktor or Spring endpoint relays {@code promptExecutor.executeStreaming(prompt, model)}
 * (a {@code Flow<StreamFrame>}) to the browser as SSE, each frame written by kotlinx.serialization
 * ({@code Json.encodeToString<StreamFrame>(frame)}: the sealed interface's default class discriminator
 * {@code "type"} with the class's serial name, defaults left out). The stream's text comes in
 * {@code StreamFrame.TextDelta} frames; its last frame, {@code StreamFrame.End}, carries the call's
 * {@code ResponseMetaInfo} (Koog 1.0: {@code totalTokensCount}, {@code inputTokensCount},
 * {@code outputTokensCount}, {@code modelId}, {@code timestamp}) as Koog's OpenAI client filled it from
 * the provider's usage.
 *
 * <p>Quarkus LangChain4j: a {@code @RegisterAiService} method returning {@code Multi<ChatEvent>}, streamed by a
 * REST endpoint as SSE with Jackson: {@code PartialResponseEvent}s ({@code chunk}), a
 * {@code ToolExecutedEvent} and the final {@code ChatCompletedEvent} whose {@code chatResponse} is the
 * LangChain4j {@code ChatResponse} of the run (its {@code metadata.tokenUsage}).
 */
abstract class AbstractRound257 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static String subject() {
        return "u257-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static final String FRAME = "ai.koog.prompt.streaming.StreamFrame.";

    static final String WORDS = "The contract allows termination with thirty days notice. ";

    static void data(PrintWriter w, String json) {
        w.write("data: " + json + "\n\n");
        w.flush();
    }

    static String end(String finish, long input, long output, String messageId) {
        return "{\"type\":\"" + FRAME + "End\",\"finishReason\":\"" + finish + "\",\"metaInfo\":{\"timestamp\":"
                + "\"2025-06-01T10:00:00.123Z\",\"totalTokensCount\":" + (input + output) + ",\"inputTokensCount\":"
                + input + ",\"outputTokensCount\":" + output + ",\"modelId\":\"gpt-4o\"}"
                + (messageId == null ? "" : ",\"messageId\":\"" + messageId + "\"") + "}";
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("koog", new Koog(), "/ai/koog/*")
                .servlet("quarkus", new Quarkus(), "/ai/quarkus/*")
                .onStartup(filter::registerByServletName);
    }

    /**
     * Koog's streaming relay. {@code /ask}: one call; the application adds the contract (9,000 tokens of
     * the model's input) to the prompt on the server. {@code /agent}: an agent's tool loop streamed, two
     * model calls, each ending with its own {@code End} frame.
     */
    class Koog extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            resp.setContentType("text/event-stream");
            PrintWriter w = resp.getWriter();
            if (req.getPathInfo().endsWith("/agent")) {
                calls.count(s);
                data(w, "{\"type\":\"" + FRAME + "ToolCallComplete\",\"id\":\"call_1\",\"name\":\"search_contracts\","
                        + "\"content\":\"{\\\"query\\\":\\\"termination\\\"}\"}");
                data(w, end("tool_calls", 6_000, 60, null));
                calls.count(s);
                for (int i = 0; i < 20; i++) {
                    data(w, "{\"type\":\"" + FRAME + "TextDelta\",\"text\":\"" + WORDS + "\"}");
                }
                data(w, end("stop", 9_000, 400, null));
                return;
            }
            calls.count(s);
            for (int i = 0; i < 20; i++) {
                data(w, "{\"type\":\"" + FRAME + "TextDelta\",\"text\":\"" + WORDS + "\"}");
            }
            data(w, end("stop", 9_000, 400, null));
        }
    }

    /** Quarkus LangChain4j's {@code Multi<ChatEvent>} as SSE: a tool call, then the answer, then the run's response. */
    class Quarkus extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            resp.setContentType("text/event-stream");
            PrintWriter w = resp.getWriter();
            calls.count(s);
            data(w, "{\"eventType\":\"ToolExecuted\",\"execution\":{\"request\":{\"id\":\"call_1\",\"name\":\"search_contracts\","
                    + "\"arguments\":\"{\\\"query\\\":\\\"termination\\\"}\"},\"result\":\"Clause 14.2: either party may terminate.\"}}");
            calls.count(s);
            StringBuilder text = new StringBuilder();
            for (int i = 0; i < 20; i++) {
                data(w, "{\"eventType\":\"PartialResponse\",\"chunk\":\"" + WORDS + "\"}");
                text.append(WORDS);
            }
            data(w, "{\"eventType\":\"Completed\",\"chatResponse\":{\"aiMessage\":{\"text\":\"" + text + "\","
                    + "\"toolExecutionRequests\":[],\"attributes\":{},\"type\":\"AI\"},\"metadata\":{\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\","
                    + "\"modelName\":\"gpt-4o-2024-08-06\",\"tokenUsage\":{\"inputTokenCount\":15000,\"outputTokenCount\":460,"
                    + "\"totalTokenCount\":15460},\"finishReason\":\"STOP\"}}}");
        }
    }

    /** A Koog call relayed as its frames: the call's End frame reports 9,400 tokens; it is charged at least that. */
    @Test
    void koogStreamFramesEndingWithTheCallsMetaInfoAreChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/koog/ask"), s, "{\"question\":\"Can we terminate?\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= 9_400, "a Koog call whose End frame reports 9,400 tokens is charged " + used + ": " + ledger(s));
    }

    /** A Koog agent's two calls streamed: 6,060 + 9,400 = 15,460 tokens. */
    @Test
    void aKoogAgentsTwoCallsStreamedAreEachCharged() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/koog/agent"), s, "{\"question\":\"Can we terminate?\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(2, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= 15_460, "a Koog agent's two calls (15,460 tokens) are charged " + used + ": " + ledger(s));
    }

    /** Quarkus LangChain4j's {@code Multi<ChatEvent>}: the run's ChatCompletedEvent reports 15,460 tokens. */
    @Test
    void aQuarkusChatEventStreamIsChargedItsCompletedEventsUsage() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/quarkus/chat"), s, "{\"message\":\"Can we terminate?\"}");
        assertEquals(200, r.statusCode(), r.body());
        long used = settled(s).used();
        assertTrue(used >= 15_460, "a Quarkus ChatEvent stream reporting 15,460 tokens is charged " + used + ": " + ledger(s));
    }
}

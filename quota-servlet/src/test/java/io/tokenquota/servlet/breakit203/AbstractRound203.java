package io.tokenquota.servlet.breakit203;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.HangUps;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 203 of issue 11: Spring AI's {@code Flux<ChatResponse>} (Anthropic) written by a Spring Boot
 * application whose Jackson naming strategy is {@code SNAKE_CASE}
 * ({@code spring.jackson.property-naming-strategy=SNAKE_CASE}, common for APIs with Python clients).
 * Every chunk copies the counts Spring AI had so far (Anthropic's message_start: the input and one
 * output token); the client reads the whole story and hangs up before the chunk with the final usage.
 */
abstract class AbstractRound203 extends H2FilterRound {
    static final HangUps HANG_UPS = new HangUps();
    static final String MARKER = "THE-END-OF-THE-STORY";
    static final String SENTENCE = "The lighthouse keeper watched the storm roll over the harbour while the ships came home. ";

    static String subject() {
        return "u203-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("springai", new SpringAiStream(), "/ai/spring/*")
                .servlet("langchain4j", new LangChain4jAnswer(), "/ai/lc4j");
    }

    /** {@code /ai/spring/camel}: Jackson's default names; {@code /ai/spring/snake}: SNAKE_CASE. */
    static class SpringAiStream extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            boolean snake = req.getPathInfo().endsWith("snake");
            String s = req.getHeader("x-user-id");
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            StringBuilder text = new StringBuilder();
            for (int i = 0; i < 60; i++) {
                text.setLength(0);
                for (int j = 0; j < 6; j++) {
                    text.append(SENTENCE);
                }
                if (i == 59) {
                    text.append(MARKER);
                }
                EventStreams.write(out, chunk(snake, text.toString(), 500, 1, false));
                out.flush();
            }
            HANG_UPS.relayUntilGone(s, out, chunk(snake, "", 500, 1, false), chunk(snake, "", 500, 6_300, true));
        }
    }

    /**
     * LangChain4j's {@code ChatResponse} returned whole by a SNAKE_CASE application: its {@code TokenUsage} is
     * {@code metadata.token_usage} with {@code input_token_count} and the like (a RAG call: 9,000 input tokens).
     */
    static class LangChain4jAnswer extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            resp.setContentType("application/json");
            resp.getWriter().write("{\"ai_message\":{\"text\":\"The harbour is safe.\",\"tool_execution_requests\":[]},"
                    + "\"metadata\":{\"id\":\"chatcmpl-203\",\"model_name\":\"gpt-4o\",\"token_usage\":{\"input_token_count\":9000,"
                    + "\"output_token_count\":3000,\"total_token_count\":12000},\"finish_reason\":\"STOP\"}}");
        }
    }

    static String chunk(boolean snake, String text, long in, long out, boolean last) {
        String prompt = snake ? "prompt_tokens" : "promptTokens";
        String completion = snake ? "completion_tokens" : "completionTokens";
        String total = snake ? "total_tokens" : "totalTokens";
        String finish = snake ? "finish_reason" : "finishReason";
        String type = snake ? "message_type" : "messageType";
        String result = "{\"output\":{\"" + type + "\":\"ASSISTANT\",\"metadata\":{},\"text\":\"" + text + "\"},"
                + "\"metadata\":{\"" + finish + "\":" + (last ? "\"end_turn\"" : "null") + "}}";
        return "data:{\"result\":" + result + ",\"results\":[" + result + "],\"metadata\":{\"id\":\"msg_01XyZ203\","
                + "\"model\":\"claude-sonnet-4-20250514\",\"usage\":{\"" + prompt + "\":" + in + ",\"" + completion + "\":" + out
                + ",\"" + total + "\":" + (in + out) + "},\"empty\":false}}\n\n";
    }

    static final String CHAT = "{\"model\":\"claude-sonnet-4-20250514\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story.\"}]}";

    long cutAndCharge(String path) throws Exception {
        String s = subject();
        String read = HANG_UPS.postAndHangUpAfter(container.port(), path, s, CHAT, MARKER);
        assertTrue(read.contains(MARKER), read.length() + " chars read");
        return settled(s).used();
    }

    /** Control: the default names; a story of about 5,400 tokens read whole, cut before the final usage. */
    @Test
    void controlACamelCaseSpringAiStreamCutBeforeItsUsageIsChargedItsText() throws Exception {
        long used = cutAndCharge("/ai/spring/camel");
        assertTrue(used >= 4_000, "a story of ~5,400 tokens read whole charged " + used);
    }

    /** The same stream written by a SNAKE_CASE application. */
    @Test
    void aSnakeCaseSpringAiStreamCutBeforeItsUsageIsChargedItsText() throws Exception {
        long used = cutAndCharge("/ai/spring/snake");
        assertTrue(used >= 4_000, "a story of ~5,400 tokens read whole charged " + used);
    }

    /** LangChain4j's answer in snake_case is charged the usage it reports, not the estimate. */
    @Test
    void aSnakeCaseLangChain4jAnswerIsChargedItsUsage() {
        String s = subject();
        java.net.http.HttpResponse<String> r = io.tokenquota.servlet.testing.TestHttp.send(
                io.tokenquota.servlet.testing.TestHttp.requestAs(container.uri("/ai/lc4j"), s, "Content-Type", "application/json")
                        .POST(java.net.http.HttpRequest.BodyPublishers.ofString(CHAT)).build());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(12_000, settled(s).used(), ledger(s));
    }
}

package io.tokenquota.servlet.breakit122;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.tokenquota.QuotaAccount;
import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * Round 122 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * streams that carry no usage at all, as providers and SDKs send them by default, whose model output is
 * in delta fields the filter does not count as new text. An OpenAI chat stream carries no usage unless
 * the request asks for {@code stream_options.include_usage}; a Vercel AI SDK 5 UI message stream
 * ({@code toUIMessageStreamResponse()}, what {@code useChat} reads) never carries usage. Such an answer
 * is charged its estimate, which for a request naming no output budget is its input plus the new text
 * the stream's deltas carried. A hostile user makes the model put its output where the deltas are not
 * read: a tool call's streamed input, a legacy {@code function_call}'s arguments, a spoken answer's
 * transcript. Each call below makes the model write about 8,000 tokens, on a 20,000 allowance.
 */
abstract class AbstractRound122 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final ObjectMapper JSON = new ObjectMapper();
    /** One chunk of the model's output (about 100 tokens by the filter's own estimator). */
    static final String PIECE = "wave ".repeat(100);
    /** Chunks the model writes per call: about 8,000 tokens in all. */
    static final int CHUNKS = 80;

    AbstractRound122() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("openai", new OpenAiRelay(), "/ai/v1/*")
                .servlet("vercel", new UiMessageStream(), "/ai/api/chat")
                .onStartup(filter::registerByServletName);
    }

    /** What the model wrote, as the filter's own estimator counts it. */
    static long written() {
        return new DefaultTokenEstimator().estimate(PIECE.repeat(CHUNKS));
    }

    static void event(OutputStream out, Object data) throws IOException {
        out.write(("data: " + (data instanceof String s ? s : JSON.writeValueAsString(data)) + "\n\n")
                .getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** An OpenAI chat completion chunk whose single choice's delta {@code delta} fills. */
    static ObjectNode chunk(Consumer<ObjectNode> delta) {
        ObjectNode c = JSON.createObjectNode();
        c.put("id", "chatcmpl-122").put("object", "chat.completion.chunk").put("created", 1753000000).put("model", "gpt-4o");
        ObjectNode choice = c.putArray("choices").addObject();
        choice.put("index", 0);
        delta.accept(choice.putObject("delta"));
        choice.putNull("finish_reason");
        return c;
    }

    static ObjectNode finish(String reason) {
        ObjectNode c = chunk(d -> { });
        ((ObjectNode) c.get("choices").get(0)).put("finish_reason", reason);
        return c;
    }

    /**
     * A relay of OpenAI's {@code POST /v1/chat/completions} with {@code stream: true}, passing each
     * chunk on as it comes. The request asks for no {@code include_usage}, so OpenAI sends no usage
     * chunk (its default): the stream is chunks, a finish chunk and {@code [DONE]}. The model answers as
     * the request's shape makes it: a call of the legacy {@code functions}, a call of a {@code tools}
     * function, or with audio ({@code modalities: ["text", "audio"]}), its transcript in
     * {@code delta.audio.transcript} beside the audio's {@code delta.audio.data}.
     */
    class OpenAiRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String body = new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            CALLS.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            if (body.contains("\"functions\"")) {
                event(out, chunk(d -> d.put("role", "assistant").putNull("content")
                        .putObject("function_call").put("name", "save_story").put("arguments", "")));
                event(out, chunk(d -> d.putObject("function_call").put("arguments", "{\"title\": \"The Lighthouse\", \"text\": \"")));
                for (int i = 0; i < CHUNKS; i++) {
                    event(out, chunk(d -> d.putObject("function_call").put("arguments", PIECE)));
                }
                event(out, chunk(d -> d.putObject("function_call").put("arguments", "\"}")));
                event(out, finish("function_call"));
            } else if (body.contains("\"tools\"")) {
                event(out, chunk(d -> {
                    d.put("role", "assistant").putNull("content");
                    ObjectNode call = d.putArray("tool_calls").addObject();
                    call.put("index", 0).put("id", "call_122").put("type", "function");
                    call.putObject("function").put("name", "save_story").put("arguments", "");
                }));
                for (int i = 0; i < CHUNKS; i++) {
                    event(out, chunk(d -> d.putArray("tool_calls").addObject().put("index", 0)
                            .putObject("function").put("arguments", PIECE)));
                }
                event(out, finish("tool_calls"));
            } else {
                event(out, chunk(d -> d.put("role", "assistant").putObject("audio").put("id", "audio_122")));
                for (int i = 0; i < CHUNKS; i++) {
                    event(out, chunk(d -> d.putObject("audio").put("transcript", PIECE)));
                    event(out, chunk(d -> d.putObject("audio").put("data", "UklGRgAAAABXQVZFZm10IBAAAAABAAEAwF0AAIC7AAACABAA")));
                }
                event(out, chunk(d -> d.putObject("audio").put("expires_at", 1753003600)));
                event(out, finish("stop"));
            }
            event(out, "[DONE]");
        }
    }

    /**
     * A chat route as the Vercel AI SDK 5 writes it ({@code streamText(...).toUIMessageStreamResponse()},
     * read by {@code useChat}), here relayed by the Java service: the UI message stream protocol
     * ({@code x-vercel-ai-ui-message-stream: v1}), which carries no usage. The model answers by calling
     * its {@code createDocument} tool, whose input it streams as {@code tool-input-delta} parts
     * ({@code inputTextDelta}), then the whole input as {@code tool-input-available}.
     */
    class UiMessageStream extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            CALLS.count(req.getHeader("x-user-id"));
            resp.setContentType("text/event-stream");
            resp.setHeader("x-vercel-ai-ui-message-stream", "v1");
            OutputStream out = resp.getOutputStream();
            event(out, "{\"type\":\"start\",\"messageId\":\"msg_122\"}");
            event(out, "{\"type\":\"start-step\"}");
            event(out, "{\"type\":\"tool-input-start\",\"toolCallId\":\"call_122\",\"toolName\":\"createDocument\"}");
            event(out, JSON.createObjectNode().put("type", "tool-input-delta").put("toolCallId", "call_122")
                    .put("inputTextDelta", "{\"title\":\"The Lighthouse\",\"content\":\""));
            for (int i = 0; i < CHUNKS; i++) {
                event(out, JSON.createObjectNode().put("type", "tool-input-delta").put("toolCallId", "call_122")
                        .put("inputTextDelta", PIECE));
            }
            event(out, JSON.createObjectNode().put("type", "tool-input-delta").put("toolCallId", "call_122")
                    .put("inputTextDelta", "\"}"));
            ObjectNode available = JSON.createObjectNode().put("type", "tool-input-available").put("toolCallId", "call_122")
                    .put("toolName", "createDocument");
            available.putObject("input").put("title", "The Lighthouse").put("content", PIECE.repeat(CHUNKS));
            event(out, available);
            event(out, "{\"type\":\"finish-step\"}");
            event(out, "{\"type\":\"finish\"}");
            event(out, "[DONE]");
        }
    }

    static final String QUESTION = "Write the longest story you can about a lighthouse and save it.";

    /** Posts {@code body} as {@code s}, reads the whole stream, and checks what was served and charged. */
    void servedAndCharged(String path, String body, String what) {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, body);
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("[DONE]"), "the whole stream was served");
        assertEquals(1, CALLS.of(s), "one model call");
        QuotaAccount a = settled(s);
        long wrote = written();
        assertTrue(a.used() >= wrote, what + ": the model wrote about " + wrote + " tokens in a stream without usage"
                + " (the request named no output budget), charged " + a.used() + " of " + a.limit() + "; " + ledger(s));
    }

    // ------------------------------------------------------------------ tests

    /**
     * Control: an OpenAI chat stream without usage (no {@code include_usage}, no {@code max_tokens}) whose
     * model calls a {@code tools} function with about 8,000 tokens of arguments, streamed in
     * {@code delta.tool_calls[].function.arguments}: charged at least those 8,000 tokens.
     */
    @Test
    void toolCallArgumentsOfAStreamWithoutUsageAreCharged() {
        servedAndCharged("/ai/v1/chat/completions", "{\"model\":\"gpt-4o\",\"stream\":true,"
                + "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"save_story\",\"parameters\":{\"type\":\"object\","
                + "\"properties\":{\"title\":{\"type\":\"string\"},\"text\":{\"type\":\"string\"}}}}}],"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"" + QUESTION + "\"}]}", "tools call");
    }

    /**
     * Attack: the same call with the legacy {@code functions} parameter, which OpenAI's chat API (and
     * Azure OpenAI, LangChain's older agents) still takes. The model streams the 8,000 tokens of the
     * function's arguments in {@code delta.function_call.arguments}, not {@code delta.tool_calls}; the
     * stream carries no usage. Expected: charged at least 8,000. Each such call is charged about the
     * request's input plus the 1,000-token default budget, so a user gets about 8,000 tokens of model
     * output for some 1,050.
     */
    @Test
    void legacyFunctionCallArgumentsOfAStreamWithoutUsageAreCharged() {
        servedAndCharged("/ai/v1/chat/completions", "{\"model\":\"gpt-4o\",\"stream\":true,"
                + "\"functions\":[{\"name\":\"save_story\",\"parameters\":{\"type\":\"object\","
                + "\"properties\":{\"title\":{\"type\":\"string\"},\"text\":{\"type\":\"string\"}}}}],"
                + "\"function_call\":{\"name\":\"save_story\"},"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"" + QUESTION + "\"}]}", "legacy function_call");
    }

    /**
     * Attack: an OpenAI chat stream with audio output ({@code gpt-4o-audio-preview},
     * {@code modalities: ["text", "audio"]}), no usage asked for and no budget named. The model speaks
     * an 8,000-token story: its words stream in {@code delta.audio.transcript} (its audio, in
     * {@code delta.audio.data}, costs more again). Expected: charged at least the transcript's 8,000
     * tokens; the transcript is not read as new text, so the call is charged its input plus the
     * 1,000-token default budget.
     */
    @Test
    void spokenAnswerOfAStreamWithoutUsageIsChargedItsTranscript() {
        servedAndCharged("/ai/v1/chat/completions", "{\"model\":\"gpt-4o-audio-preview\",\"stream\":true,"
                + "\"modalities\":[\"text\",\"audio\"],\"audio\":{\"voice\":\"alloy\",\"format\":\"pcm16\"},"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Tell me the longest story you can about a lighthouse.\"}]}",
                "audio transcript");
    }

    /**
     * Attack: a Vercel AI SDK 5 chat route ({@code useChat}'s request: {@code id}, {@code messages} with
     * {@code parts}, {@code trigger}; no budget) whose model answers by calling a {@code createDocument}
     * tool with an 8,000-token document, streamed as {@code tool-input-delta} parts in the UI message
     * stream, which never carries usage. Expected: charged at least 8,000; the tool input's deltas are not
     * read as new text (only {@code text-delta} and {@code reasoning-delta} are), so the call is charged
     * its input plus the 1,000-token default budget.
     */
    @Test
    void toolInputOfAnAiSdkUiMessageStreamIsCharged() {
        servedAndCharged("/ai/api/chat", "{\"id\":\"chat_122\",\"messages\":[{\"id\":\"m1\",\"role\":\"user\",\"parts\":"
                + "[{\"type\":\"text\",\"text\":\"" + QUESTION + "\"}]}],\"trigger\":\"submit-message\"}", "UI message stream tool input");
    }

    /**
     * Attack, what it is worth: one user sends the legacy {@code functions} call of
     * {@link #legacyFunctionCallArgumentsOfAStreamWithoutUsageAreCharged} ten times, on a 20,000-token
     * allowance. The model writes about 80,000 tokens in all. Expected: the calls past the allowance are
     * refused (429), at most three served (each costs about 8,000). All ten are served and charged about
     * 10,300 together.
     */
    @Test
    void tenLegacyFunctionCallsDoNotFitATwentyThousandAllowance() {
        String s = subject();
        String body = "{\"model\":\"gpt-4o\",\"stream\":true,"
                + "\"functions\":[{\"name\":\"save_story\",\"parameters\":{\"type\":\"object\","
                + "\"properties\":{\"title\":{\"type\":\"string\"},\"text\":{\"type\":\"string\"}}}}],"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"" + QUESTION + "\"}]}";
        int served = 0;
        for (int i = 0; i < 10; i++) {
            HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/v1/chat/completions"), s, body);
            if (r.statusCode() == 200) {
                served++;
            } else {
                assertEquals(429, r.statusCode(), r.body());
            }
        }
        QuotaAccount a = settled(s);
        assertEquals(served, CALLS.of(s), "served calls reached the model");
        assertTrue(served <= 3, served + " calls of about " + written() + " tokens each served on a " + a.limit()
                + " allowance (" + served * written() + " tokens written), charged " + a.used() + "; " + ledger(s));
    }
}

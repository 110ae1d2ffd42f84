package io.tokenquota.servlet.breakit119;

import static io.tokenquota.servlet.testing.EventStreams.HUNDRED;
import static io.tokenquota.servlet.testing.EventStreams.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.EventStreams;
import io.tokenquota.servlet.testing.HangUps;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 119 of issue 11: the charge of answers without usage, now at least the request's input and
 * the model text an event stream carried. Two directions: a client that reads a long streamed answer
 * and hangs up before its usage, in formats whose text is not counted; and honest applications whose
 * streams carry text that is not new model output (repeated, cumulative or echoed) and are charged it.
 * The application is a Spring MVC app with the filter registered as the README shows.
 */
abstract class AbstractRound119 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final HangUps HANG_UPS = new HangUps();

    AbstractRound119() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, App.class).onStartup(filter::registerByServletName);
    }

    static final String END = "THE-END";

    @RestController
    public static class App {
        /**
         * A chat relay to Anthropic's Messages API: the application sets the model and its own
         * {@code max_tokens} (64,000), streams the provider's events on, and cancels the provider call
         * when its client goes. The model writes 8,000 tokens.
         */
        @PostMapping("/claude/chat")
        public void claude(@RequestHeader("x-user-id") String user, @RequestBody String body, HttpServletResponse resp)
                throws IOException {
            CALLS.count(user);
            resp.setContentType("text/event-stream");
            EventStreams.anthropicStoryUntilGone(HANG_UPS, user, resp.getOutputStream());
        }

        /**
         * A relay to Gemini's {@code streamGenerateContent?alt=sse} with a thinking model: each chunk's
         * {@code usageMetadata} counts the prompt and the thoughts until the last chunk, which counts
         * the candidates. The model writes 8,000 tokens of text.
         */
        @PostMapping("/gemini/stream")
        public void gemini(@RequestHeader("x-user-id") String user, @RequestBody String body, HttpServletResponse resp)
                throws IOException {
            CALLS.count(user);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            for (int chunk = 0; chunk < 80; chunk++) {
                String text = chunk == 79 ? HUNDRED + END : HUNDRED;
                write(out, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + text + "\"}],\"role\":\"model\"},"
                        + "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":20,\"totalTokenCount\":520,"
                        + "\"thoughtsTokenCount\":500},\"modelVersion\":\"gemini-2.5-pro\"}\r\n\r\n");
            }
            HANG_UPS.relayUntilGone(user, out, ": keep-alive\r\n\r\n",
                    "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":\"model\"},\"finishReason\":\"STOP\","
                            + "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":20,\"candidatesTokenCount\":8000,"
                            + "\"totalTokenCount\":8520,\"thoughtsTokenCount\":500},\"modelVersion\":\"gemini-2.5-pro\"}\r\n\r\n");
        }

        /**
         * A Next.js-style chat route made with the Vercel AI SDK (v4) {@code toDataStreamResponse()}:
         * its data stream protocol writes each piece of text as a {@code 0:"…"} part, then the step's
         * finish part with the usage. The model writes 8,000 tokens.
         */
        @PostMapping("/vercel/chat")
        public void vercel(@RequestHeader("x-user-id") String user, @RequestBody String body, HttpServletResponse resp)
                throws IOException {
            CALLS.count(user);
            resp.setContentType("text/plain; charset=utf-8");
            resp.setHeader("x-vercel-ai-data-stream", "v1");
            OutputStream out = resp.getOutputStream();
            write(out, "f:{\"messageId\":\"msg-7Qx2\"}\n");
            for (int chunk = 0; chunk < 80; chunk++) {
                String text = chunk == 79 ? HUNDRED + END : HUNDRED;
                write(out, "0:\"" + text + "\"\n");
            }
            HANG_UPS.relayUntilGone(user, out, "2:[{\"heartbeat\":true}]\n",
                    "e:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":20,\"completionTokens\":8000},\"isContinued\":false}\n"
                            + "d:{\"finishReason\":\"stop\",\"usage\":{\"promptTokens\":20,\"completionTokens\":8000}}\n");
        }

        /**
         * A relay to Ollama's {@code /api/chat} with {@code stream: true}: Ollama streams one JSON object
         * a line ({@code application/x-ndjson}), and counts the tokens in its last line ({@code done: true}).
         * The model writes 8,000 tokens.
         */
        @PostMapping("/ollama/chat")
        public void ollama(@RequestHeader("x-user-id") String user, @RequestBody String body, HttpServletResponse resp)
                throws IOException {
            CALLS.count(user);
            resp.setContentType("application/x-ndjson");
            OutputStream out = resp.getOutputStream();
            for (int chunk = 0; chunk < 80; chunk++) {
                String text = chunk == 79 ? HUNDRED + END : HUNDRED;
                write(out, "{\"model\":\"llama3.1\",\"created_at\":\"2025-05-01T10:00:00Z\",\"message\":{\"role\":\"assistant\","
                        + "\"content\":\"" + text + "\"},\"done\":false}\n");
            }
            HANG_UPS.relayUntilGone(user, out, "\n",
                    "{\"model\":\"llama3.1\",\"created_at\":\"2025-05-01T10:00:09Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},"
                            + "\"done_reason\":\"stop\",\"done\":true,\"total_duration\":9000000000,\"prompt_eval_count\":20,"
                            + "\"eval_count\":8000}\n");
        }

        /**
         * A relay to OpenAI's Responses API, streamed. The model writes 2,000 tokens in 20 deltas; the
         * provider then sends, as it always does, {@code response.output_text.done},
         * {@code response.content_part.done} and {@code response.output_item.done}, each with the whole
         * text again. The provider's connection then breaks before {@code response.completed} (which
         * holds the usage), and the relay ends its answer.
         */
        @PostMapping("/responses")
        public void responses(@RequestHeader("x-user-id") String user, @RequestBody String body, HttpServletResponse resp)
                throws IOException {
            CALLS.count(user);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            String full = HUNDRED.repeat(20);
            write(out, "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":"
                    + "{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\",\"model\":\"gpt-4.1\",\"output\":[],\"usage\":null}}\n\n"
                    + "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":1,"
                    + "\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]}}\n\n"
                    + "event: response.content_part.added\ndata: {\"type\":\"response.content_part.added\",\"sequence_number\":2,"
                    + "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}}\n\n");
            for (int chunk = 0; chunk < 20; chunk++) {
                write(out, "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":"
                        + (3 + chunk) + ",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"" + HUNDRED + "\"}\n\n");
            }
            write(out, "event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\",\"sequence_number\":23,"
                    + "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"text\":\"" + full + "\"}\n\n"
                    + "event: response.content_part.done\ndata: {\"type\":\"response.content_part.done\",\"sequence_number\":24,"
                    + "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\""
                    + full + "\",\"annotations\":[]}}\n\n"
                    + "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":25,"
                    + "\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\","
                    + "\"content\":[{\"type\":\"output_text\",\"text\":\"" + full + "\",\"annotations\":[]}]}}\n\n");
        }

        /**
         * A LangGraph server's {@code /runs/stream} with {@code stream_mode: "messages"}: it sends the AI
         * message accumulated so far in each {@code messages/partial} event, then {@code messages/complete}.
         * The chat model integration reports no usage ({@code usage_metadata: null}). The answer is 2,000
         * tokens, written in 200 pieces.
         */
        @PostMapping("/langgraph/runs/stream")
        public void langGraphMessages(@RequestHeader("x-user-id") String user, @RequestBody String body,
                                      HttpServletResponse resp) throws IOException {
            CALLS.count(user);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            write(out, "event: metadata\ndata: {\"run_id\":\"1ef-run\",\"attempt\":1}\n\n");
            StringBuilder so = new StringBuilder();
            for (int piece = 0; piece < 200; piece++) {
                so.append("wave ".repeat(10));
                write(out, "event: messages/partial\ndata: [" + aiMessage(so.toString()) + "]\n\n");
            }
            write(out, "event: messages/complete\ndata: [" + aiMessage(so.toString()) + "]\n\n");
        }

        /**
         * A LangGraph server's {@code /runs/stream} with {@code stream_mode: "values"}: each event is the
         * graph's whole state, first as the run starts (the conversation the client sent), then after the
         * model node (the conversation and the new answer). No usage is reported.
         */
        @PostMapping("/langgraph/values/runs/stream")
        public void langGraphValues(@RequestHeader("x-user-id") String user, @RequestBody String body,
                                    HttpServletResponse resp) throws IOException {
            CALLS.count(user);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            StringBuilder history = new StringBuilder();
            for (int turn = 0; turn < 20; turn++) {
                history.append(turn == 0 ? "" : ",").append("{\"content\":\"").append(HISTORY_TURN).append("\",\"type\":\"")
                        .append(turn % 2 == 0 ? "human" : "ai").append("\",\"id\":\"m-").append(turn).append("\"}");
            }
            write(out, "event: metadata\ndata: {\"run_id\":\"1ef-run\",\"attempt\":1}\n\n");
            write(out, "event: values\ndata: {\"messages\":[" + history + "]}\n\n");
            write(out, "event: values\ndata: {\"messages\":[" + history + "," + aiMessage("The keeper lit the lamp at dusk.")
                    + "]}\n\n");
        }

        /**
         * A relay to a legacy text completion server ({@code /v1/completions}, vLLM or OpenAI's instruct
         * models) streaming as asked. With {@code echo: true} the first chunk is the prompt itself, as
         * the API defines echo; the model then writes 100 tokens. No usage was asked for.
         */
        @PostMapping("/v1/completions")
        public void completions(@RequestHeader("x-user-id") String user, @RequestBody String body, HttpServletResponse resp)
                throws IOException {
            CALLS.count(user);
            resp.setContentType("text/event-stream");
            OutputStream out = resp.getOutputStream();
            if (body.contains("\"echo\":true")) {
                write(out, "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1714000000,\"model\":\"gpt-3.5-turbo-instruct\","
                        + "\"choices\":[{\"text\":\"" + DOCUMENT + "Summary:\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}\n\n");
            }
            for (int chunk = 0; chunk < 10; chunk++) {
                write(out, "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1714000000,\"model\":\"gpt-3.5-turbo-instruct\","
                        + "\"choices\":[{\"text\":\" wave wave wave wave wave wave wave wave wave wave\",\"index\":0,\"logprobs\":null,"
                        + "\"finish_reason\":" + (chunk == 9 ? "\"length\"" : "null") + "}]}\n\n");
            }
            write(out, "data: [DONE]\n\n");
        }
    }

    static String aiMessage(String content) {
        return "{\"content\":\"" + content + "\",\"additional_kwargs\":{},\"response_metadata\":{},\"type\":\"ai\",\"name\":null,"
                + "\"id\":\"run-5f1c\",\"example\":false,\"tool_calls\":[],\"invalid_tool_calls\":[],\"usage_metadata\":null}";
    }

    /** One turn of a conversation, about 200 tokens. */
    static final String HISTORY_TURN = "The keeper of the lighthouse on the northern cape wrote in his log every evening: the wind, "
            .repeat(8);
    /** A document of about 6,000 tokens. */
    static final String DOCUMENT = "Invoice 2024-113 from Lisbon Tiles Lda. for 40 square metres of azulejos, due in thirty days. "
            .repeat(300);

    static final String STORY = "Write the longest story you can about a lighthouse.";

    String hangUpAfter(String s, String path, String body, String until) throws IOException {
        return HANG_UPS.postAndHangUpAfter(container.port(), path, s, body, until);
    }

    // ------------------------------------------------------------------ a client keeps the charge low

    /**
     * The attack: a chat relay to Anthropic that sets its own {@code max_tokens}; the client names no
     * budget, reads the whole streamed story (8,000 tokens) to its {@code content_block_stop} and hangs
     * up before the {@code message_delta} that carries the final usage. The stream's
     * {@code message_start} usage (20 in, 1 out) is provisional: the call must still cost what it read.
     */
    @Test
    void anAnthropicStreamCutBeforeItsMessageDeltaPaysForItsText() throws Exception {
        String s = subject();
        String seen = hangUpAfter(s, "/ai/spring/claude/chat",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"" + STORY + "\"}],\"stream\":true}", "content_block_stop");
        assertPaidForWhatItRead(s, seen, "wave ", 8_000, "Anthropic stream");
    }

    /**
     * The attack: a relay to Gemini with a thinking model; the client names no
     * {@code maxOutputTokens}, reads all 8,000 tokens of text and hangs up before the last chunk, whose
     * {@code usageMetadata} counts the candidates. The early chunks' usage counts prompt and thoughts.
     */
    @Test
    void aGeminiStreamCutBeforeItsLastChunkPaysForItsText() throws Exception {
        String s = subject();
        String seen = hangUpAfter(s, "/ai/spring/gemini/stream",
                "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"" + STORY + "\"}]}]}", END);
        assertPaidForWhatItRead(s, seen, "wave ", 8_000, "Gemini stream");
    }

    /**
     * The attack: a Vercel AI SDK chat route (data stream protocol); the client reads the 8,000 tokens
     * of {@code 0:"…"} text parts and hangs up before the finish parts that carry the usage.
     */
    @Test
    void aVercelDataStreamCutBeforeItsFinishPartPaysForItsText() throws Exception {
        String s = subject();
        String seen = hangUpAfter(s, "/ai/spring/vercel/chat",
                "{\"messages\":[{\"role\":\"user\",\"content\":\"" + STORY + "\"}]}", END);
        assertPaidForWhatItRead(s, seen, "wave ", 8_000, "Vercel AI SDK data stream");
    }

    /**
     * The attack: a relay to Ollama's streamed chat (one JSON object a line); the client names no
     * {@code num_predict}, reads the 8,000 tokens and hangs up before the {@code done: true} line with
     * the counts.
     */
    @Test
    void anOllamaStreamCutBeforeItsLastLinePaysForItsText() throws Exception {
        String s = subject();
        String seen = hangUpAfter(s, "/ai/spring/ollama/chat",
                "{\"model\":\"llama3.1\",\"messages\":[{\"role\":\"user\",\"content\":\"" + STORY + "\"}],\"stream\":true}", END);
        assertPaidForWhatItRead(s, seen, "wave ", 8_000, "Ollama stream");
    }

    // ------------------------------------------------------------------ honest applications overcharged

    /**
     * An honest Responses stream cut by the provider before {@code response.completed}: the model wrote
     * 2,000 tokens (2,500 by the filter's own count of four characters a token), which the stream
     * carries once as deltas and three more times whole, as the Responses API's {@code *.done} events
     * always do. The call must be charged for the text the model wrote, not four times it.
     */
    @Test
    void aResponsesStreamsDoneEventsAreNotChargedAsMoreText() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/spring/responses"), s,
                "{\"model\":\"gpt-4.1\",\"stream\":true,\"input\":\"" + STORY + "\"}");
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(1, CALLS.of(s), figures(s, r, a));
        assertTrue(a.used() <= 4_000, kind() + ": 2,000 tokens written (2,500 by four characters a token), charged "
                + a.used() + " of " + a.limit() + ": " + ledger(s));
    }

    /**
     * An honest LangGraph server streams in {@code messages} mode, whose {@code messages/partial} events
     * each carry the whole AI message so far (cumulative, not deltas). The answer is 2,000 tokens
     * (2,500 by four characters a token); the stream ends normally, with no usage (the integration
     * reports none). The call must be charged about the answer, not the sum of its 200 prefixes.
     */
    @Test
    void aLangGraphCumulativeMessageStreamIsChargedItsAnswerOnce() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/spring/langgraph/runs/stream"), s,
                "{\"assistant_id\":\"agent\",\"input\":{\"messages\":[{\"role\":\"user\",\"content\":\"" + STORY + "\"}]},"
                        + "\"stream_mode\":\"messages\"}");
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(1, CALLS.of(s), figures(s, r, a));
        assertTrue(a.used() <= 6_000, kind() + ": a 2,000-token answer sent cumulatively in 200 events was charged "
                + a.used() + " of " + a.limit() + ": " + ledger(s));
    }

    /**
     * An honest LangGraph server streams in {@code values} mode: each event is the whole state, the
     * conversation the client sent (20 turns, about 4,000 tokens) first as it came, then with the
     * model's short answer. No usage is reported, so the estimate (the conversation and the default
     * output budget) is what the call may cost; the echoed conversation is no model output.
     */
    @Test
    void aLangGraphValuesStreamIsNotChargedTheConversationItEchoes() {
        String s = subject();
        StringBuilder messages = new StringBuilder();
        for (int turn = 0; turn < 20; turn++) {
            messages.append(turn == 0 ? "" : ",").append("{\"role\":\"").append(turn % 2 == 0 ? "user" : "assistant")
                    .append("\",\"content\":\"").append(HISTORY_TURN).append("\"}");
        }
        String body = "{\"assistant_id\":\"agent\",\"input\":{\"messages\":[" + messages + "]},\"stream_mode\":\"values\"}";
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/spring/langgraph/values/runs/stream"), s, body);
        QuotaAccount a = settled(s);
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(1, CALLS.of(s), figures(s, r, a));
        // the conversation is about 4,000 tokens; with the default output budget the estimate is about 5,000
        assertTrue(a.used() <= 6_500, kind() + ": a 4,000-token conversation and a 10-token answer, streamed as the"
                + " graph's state twice, charged " + a.used() + " of " + a.limit() + ": " + ledger(s));
    }

    /**
     * An honest text completion with {@code echo: true}, streamed without usage: the first chunk is the
     * 6,000-token prompt echoed back. The provider bills the same tokens as without echo; so must the
     * filter.
     */
    @Test
    void anEchoedPromptIsNotChargedTwice() {
        String control = subject();
        String s = subject();
        String ask = "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"" + DOCUMENT + "Summary:\",\"max_tokens\":100,\"stream\":true";
        HttpResponse<String> c = TestHttp.postJson(container.uri("/ai/spring/v1/completions"), control, ask + "}");
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/spring/v1/completions"), s, ask + ",\"echo\":true}");
        QuotaAccount ca = settled(control);
        QuotaAccount a = settled(s);
        assertEquals(200, c.statusCode(), figures(control, c, ca));
        assertEquals(200, r.statusCode(), figures(s, r, a));
        assertEquals(1, CALLS.of(s), figures(s, r, a));
        assertTrue(a.used() <= ca.used() + 50, kind() + ": the same completion with its prompt echoed was charged "
                + a.used() + " of " + a.limit() + ", without echo " + ca.used() + ": " + ledger(s));
    }
}

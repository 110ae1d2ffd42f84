package io.tokenquota.servlet.breakit190;

import static io.tokenquota.servlet.testing.EventStreams.HUNDRED;
import static io.tokenquota.servlet.testing.EventStreams.write;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.HangUps;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import org.junit.jupiter.api.Test;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 190 of issue 11: streams whose model text is in delta fields of the providers' own shapes that
 * the filter does not count. A client reads a reasoning model's whole streamed answer (its thinking and
 * its text, 8,000 tokens by the provider's count) through a relay and hangs up before the chunk that
 * carries the usage; the relay stops, as it should. docs/decisions.md, "A stream cut before its usage is
 * charged the text it carried": such a call is charged at least its input plus the text its deltas
 * carried. Each relay is a Spring MVC controller that passes its provider's stream on as it comes.
 */
abstract class AbstractRound190 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    static final HangUps HANG_UPS = new HangUps();

    AbstractRound190() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, App.class).onStartup(filter::registerByServletName);
    }

    static final String END = "THE-END";
    static final String QUESTION = "Prove that there are infinitely many primes of the form 4k+3, step by step.";

    static String data(String json) {
        return "data: " + json + "\n\n";
    }

    @RestController
    public static class App {
        /**
         * A relay to Mistral's chat completions with a Magistral reasoning model, streamed: Mistral sends
         * a reasoning model's {@code delta.content} as a list of typed chunks, {@code thinking} (itself a
         * list of text chunks) and then {@code text}. 60 chunks of thinking and 20 of text, 100 tokens
         * each; the last chunk carries the usage (20 in, 8,000 out).
         */
        @PostMapping("/mistral/v1/chat/completions")
        public void mistral(@RequestHeader("x-user-id") String user, @RequestBody String body, HttpServletResponse resp)
                throws IOException {
            CALLS.count(user);
            resp.setContentType("text/event-stream;charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            String head = "{\"id\":\"9f3c1a2b7e4d4c0f8a1b2c3d4e5f6a7b\",\"object\":\"chat.completion.chunk\",\"created\":1759300000,"
                    + "\"model\":\"magistral-medium-2509\",\"choices\":[{\"index\":0,\"delta\":";
            write(out, data(head + "{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}"));
            for (int chunk = 0; chunk < 60; chunk++) {
                write(out, data(head + "{\"content\":[{\"type\":\"thinking\",\"thinking\":[{\"type\":\"text\",\"text\":\""
                        + HUNDRED + "\"}]}]},\"finish_reason\":null}]}"));
            }
            for (int chunk = 0; chunk < 20; chunk++) {
                String text = chunk == 19 ? HUNDRED + END : HUNDRED;
                write(out, data(head + "{\"content\":[{\"type\":\"text\",\"text\":\"" + text + "\"}]},\"finish_reason\":null}]}"));
            }
            HANG_UPS.relayUntilGone(user, out, ": keep-alive\n\n",
                    data(head + "{\"content\":\"\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":20,"
                            + "\"total_tokens\":8020,\"completion_tokens\":8000}}") + data("[DONE]"));
        }

        /**
         * A relay to Bedrock's ConverseStream (Claude with extended thinking), each event passed on as an
         * event's data: the reasoning arrives as {@code contentBlockDelta.delta.reasoningContent.text}, the
         * answer as {@code contentBlockDelta.delta.text}. 60 deltas of reasoning, 20 of text; the
         * {@code metadata} event with the usage (20 in, 8,000 out) comes last.
         */
        @PostMapping("/bedrock/converse-stream")
        public void bedrock(@RequestHeader("x-user-id") String user, @RequestBody String body, HttpServletResponse resp)
                throws IOException {
            CALLS.count(user);
            resp.setContentType("text/event-stream;charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            write(out, data("{\"messageStart\":{\"role\":\"assistant\"}}"));
            for (int chunk = 0; chunk < 60; chunk++) {
                write(out, data("{\"contentBlockDelta\":{\"delta\":{\"reasoningContent\":{\"text\":\"" + HUNDRED
                        + "\"}},\"contentBlockIndex\":0}}"));
            }
            write(out, data("{\"contentBlockDelta\":{\"delta\":{\"reasoningContent\":{\"signature\":\"EqoBCkgIARABGAIiQL\"}},"
                    + "\"contentBlockIndex\":0}}"));
            write(out, data("{\"contentBlockStop\":{\"contentBlockIndex\":0}}"));
            for (int chunk = 0; chunk < 20; chunk++) {
                String text = chunk == 19 ? HUNDRED + END : HUNDRED;
                write(out, data("{\"contentBlockDelta\":{\"delta\":{\"text\":\"" + text + "\"},\"contentBlockIndex\":1}}"));
            }
            HANG_UPS.relayUntilGone(user, out, ": keep-alive\n\n",
                    data("{\"contentBlockStop\":{\"contentBlockIndex\":1}}") + data("{\"messageStop\":{\"stopReason\":\"end_turn\"}}")
                            + data("{\"metadata\":{\"usage\":{\"inputTokens\":20,\"outputTokens\":8000,\"totalTokens\":8020},"
                            + "\"metrics\":{\"latencyMs\":61000}}}"));
        }

        /**
         * A relay to Cohere's v2 chat stream with {@code command-a-reasoning-08-2025}: the thinking arrives
         * as {@code content-delta} events whose {@code delta.message.content.thinking} holds it, the answer
         * as {@code delta.message.content.text}. 60 deltas of thinking, 20 of text; {@code message-end}
         * with the usage (20 in, 8,000 out) comes last.
         */
        @PostMapping("/cohere/v2/chat")
        public void cohere(@RequestHeader("x-user-id") String user, @RequestBody String body, HttpServletResponse resp)
                throws IOException {
            CALLS.count(user);
            resp.setContentType("text/event-stream;charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            write(out, "event: message-start\n" + data("{\"id\":\"5d6a1f0e-3c2b-4a19-9e8d-7f6e5d4c3b2a\",\"type\":\"message-start\","
                    + "\"delta\":{\"message\":{\"role\":\"assistant\",\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}"));
            write(out, "event: content-start\n" + data("{\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":"
                    + "{\"content\":{\"type\":\"thinking\",\"thinking\":\"\"}}}}"));
            for (int chunk = 0; chunk < 60; chunk++) {
                write(out, "event: content-delta\n" + data("{\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":"
                        + "{\"content\":{\"thinking\":\"" + HUNDRED + "\"}}}}"));
            }
            write(out, "event: content-end\n" + data("{\"type\":\"content-end\",\"index\":0}"));
            write(out, "event: content-start\n" + data("{\"type\":\"content-start\",\"index\":1,\"delta\":{\"message\":"
                    + "{\"content\":{\"type\":\"text\",\"text\":\"\"}}}}"));
            for (int chunk = 0; chunk < 20; chunk++) {
                String text = chunk == 19 ? HUNDRED + END : HUNDRED;
                write(out, "event: content-delta\n" + data("{\"type\":\"content-delta\",\"index\":1,\"delta\":{\"message\":"
                        + "{\"content\":{\"text\":\"" + text + "\"}}}}"));
            }
            HANG_UPS.relayUntilGone(user, out, ": keep-alive\n\n",
                    "event: content-end\n" + data("{\"type\":\"content-end\",\"index\":1}")
                            + "event: message-end\n" + data("{\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\","
                            + "\"usage\":{\"billed_units\":{\"input_tokens\":20,\"output_tokens\":8000},"
                            + "\"tokens\":{\"input_tokens\":20,\"output_tokens\":8000}}}}"));
        }

        /**
         * Control: a relay to DeepSeek's chat completions with {@code deepseek-reasoner}, streamed: the same
         * 60 chunks of thinking as {@code delta.reasoning_content} strings and 20 of text as
         * {@code delta.content} strings, the usage in the last chunk.
         */
        @PostMapping("/deepseek/chat/completions")
        public void deepseek(@RequestHeader("x-user-id") String user, @RequestBody String body, HttpServletResponse resp)
                throws IOException {
            CALLS.count(user);
            resp.setContentType("text/event-stream;charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            String head = "{\"id\":\"b1f0e6c2-7d3a-4e59-9c1b-2a3d4e5f6a7b\",\"object\":\"chat.completion.chunk\",\"created\":1759300000,"
                    + "\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":";
            write(out, data(head + "{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"\"},\"finish_reason\":null}]}"));
            for (int chunk = 0; chunk < 60; chunk++) {
                write(out, data(head + "{\"content\":null,\"reasoning_content\":\"" + HUNDRED + "\"},\"finish_reason\":null}]}"));
            }
            for (int chunk = 0; chunk < 20; chunk++) {
                String text = chunk == 19 ? HUNDRED + END : HUNDRED;
                write(out, data(head + "{\"content\":\"" + text + "\",\"reasoning_content\":null},\"finish_reason\":null}]}"));
            }
            HANG_UPS.relayUntilGone(user, out, ": keep-alive\n\n",
                    data(head + "{\"content\":\"\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":20,"
                            + "\"total_tokens\":8020,\"completion_tokens\":8000}}") + data("[DONE]"));
        }

        /**
         * A relay to Bedrock's ConverseStream for a coding agent: the model answers with a tool call that
         * writes a file, whose input arrives as {@code contentBlockDelta.delta.toolUse.input} pieces of
         * JSON text (80 of 100 tokens); the {@code metadata} event with the usage (20 in, 8,000 out) last.
         */
        @PostMapping("/bedrock/agent/converse-stream")
        public void bedrockTool(@RequestHeader("x-user-id") String user, @RequestBody String body, HttpServletResponse resp)
                throws IOException {
            CALLS.count(user);
            resp.setContentType("text/event-stream;charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            write(out, data("{\"messageStart\":{\"role\":\"assistant\"}}"));
            write(out, data("{\"contentBlockStart\":{\"start\":{\"toolUse\":{\"toolUseId\":\"tooluse_kZJMlvQmRJ6eAyJE5GIl7Q\","
                    + "\"name\":\"write_file\"}},\"contentBlockIndex\":0}}"));
            write(out, data("{\"contentBlockDelta\":{\"delta\":{\"toolUse\":{\"input\":\"{\\\"path\\\": \\\"README.md\\\", "
                    + "\\\"content\\\": \\\"\"}},\"contentBlockIndex\":0}}"));
            for (int chunk = 0; chunk < 80; chunk++) {
                String text = chunk == 79 ? HUNDRED + END : HUNDRED;
                write(out, data("{\"contentBlockDelta\":{\"delta\":{\"toolUse\":{\"input\":\"" + text + "\"}},\"contentBlockIndex\":0}}"));
            }
            HANG_UPS.relayUntilGone(user, out, ": keep-alive\n\n",
                    data("{\"contentBlockDelta\":{\"delta\":{\"toolUse\":{\"input\":\"\\\"}\"}},\"contentBlockIndex\":0}}")
                            + data("{\"contentBlockStop\":{\"contentBlockIndex\":0}}") + data("{\"messageStop\":{\"stopReason\":\"tool_use\"}}")
                            + data("{\"metadata\":{\"usage\":{\"inputTokens\":20,\"outputTokens\":8000,\"totalTokens\":8020},"
                            + "\"metrics\":{\"latencyMs\":61000}}}"));
        }

        /**
         * A relay to Cohere's v2 chat stream for an agent with tools ({@code command-a-03-2025}): the model
         * first writes its plan ({@code tool-plan-delta}, {@code delta.message.tool_plan}), then a tool call
         * whose arguments arrive as {@code tool-call-delta} ({@code delta.message.tool_calls.function.arguments}):
         * 20 deltas of plan, 60 of arguments, 100 tokens each; {@code message-end} with the usage last.
         */
        @PostMapping("/cohere/agent/v2/chat")
        public void cohereTools(@RequestHeader("x-user-id") String user, @RequestBody String body, HttpServletResponse resp)
                throws IOException {
            CALLS.count(user);
            resp.setContentType("text/event-stream;charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            write(out, "event: message-start\n" + data("{\"id\":\"7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\",\"type\":\"message-start\","
                    + "\"delta\":{\"message\":{\"role\":\"assistant\",\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}"));
            for (int chunk = 0; chunk < 20; chunk++) {
                write(out, "event: tool-plan-delta\n" + data("{\"type\":\"tool-plan-delta\",\"delta\":{\"message\":{\"tool_plan\":\""
                        + HUNDRED + "\"}}}"));
            }
            write(out, "event: tool-call-start\n" + data("{\"type\":\"tool-call-start\",\"index\":0,\"delta\":{\"message\":"
                    + "{\"tool_calls\":{\"id\":\"write_file_8v2n1kq3c5xz\",\"type\":\"function\",\"function\":{\"name\":\"write_file\","
                    + "\"arguments\":\"\"}}}}}"));
            for (int chunk = 0; chunk < 60; chunk++) {
                String text = chunk == 59 ? HUNDRED + END : HUNDRED;
                write(out, "event: tool-call-delta\n" + data("{\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":"
                        + "{\"tool_calls\":{\"function\":{\"arguments\":\"" + text + "\"}}}}}"));
            }
            HANG_UPS.relayUntilGone(user, out, ": keep-alive\n\n",
                    "event: tool-call-end\n" + data("{\"type\":\"tool-call-end\",\"index\":0}")
                            + "event: message-end\n" + data("{\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"TOOL_CALL\","
                            + "\"usage\":{\"billed_units\":{\"input_tokens\":20,\"output_tokens\":8000},"
                            + "\"tokens\":{\"input_tokens\":20,\"output_tokens\":8000}}}}"));
        }

        /**
         * A relay to Vertex AI's {@code streamGenerateContent} without {@code alt=sse} (the REST default):
         * the answer is one JSON array whose elements arrive one by one, each a chunk of a thinking model's
         * text (80 of 100 tokens) whose {@code usageMetadata} counts the prompt; the last element carries
         * the {@code finishReason} and the whole usage (20 in, 8,000 out).
         */
        @PostMapping("/vertex/models/gemini-2.5-pro:streamGenerateContent")
        public void vertex(@RequestHeader("x-user-id") String user, @RequestBody String body, HttpServletResponse resp)
                throws IOException {
            CALLS.count(user);
            resp.setContentType("application/json; charset=UTF-8");
            OutputStream out = resp.getOutputStream();
            for (int chunk = 0; chunk < 80; chunk++) {
                String text = chunk == 79 ? HUNDRED + END : HUNDRED;
                write(out, (chunk == 0 ? "[" : ",\r\n") + "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\""
                        + text + "\"}]}}],\"usageMetadata\":{\"promptTokenCount\":20,\"totalTokenCount\":20,"
                        + "\"trafficType\":\"ON_DEMAND\"},\"modelVersion\":\"gemini-2.5-pro\",\"createTime\":\"2026-12-03T21:00:00.000000Z\","
                        + "\"responseId\":\"qQ1wZ8HmK9u8nvgPq_mXsAk\"}");
            }
            HANG_UPS.relayUntilGone(user, out, " ",
                    ",\r\n{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"\"}]},\"finishReason\":\"STOP\"}],"
                            + "\"usageMetadata\":{\"promptTokenCount\":20,\"candidatesTokenCount\":8000,\"totalTokenCount\":8020,"
                            + "\"trafficType\":\"ON_DEMAND\"},\"modelVersion\":\"gemini-2.5-pro\",\"responseId\":\"qQ1wZ8HmK9u8nvgPq_mXsAk\"}\r\n]");
        }
    }

    String hangUpAfter(String s, String path, String body, String until) throws IOException {
        return HANG_UPS.postAndHangUpAfter(container.port(), path, s, body, until);
    }

    /**
     * The attack: a Mistral Magistral stream relayed; the client names no {@code max_tokens}, reads the
     * model's thinking and answer (8,000 tokens) and hangs up before the last chunk with the usage.
     */
    @Test
    void aMagistralStreamCutBeforeItsUsagePaysForItsThinkingAndText() throws Exception {
        String s = subject();
        String seen = hangUpAfter(s, "/ai/spring/mistral/v1/chat/completions", "{\"model\":\"magistral-medium-latest\","
                + "\"messages\":[{\"role\":\"user\",\"content\":\"" + QUESTION + "\"}],\"stream\":true}", END);
        assertPaidForWhatItRead(s, seen, "wave ", 8_000, "Mistral Magistral stream (thinking and text as content chunks)");
    }

    /**
     * The attack: a Bedrock ConverseStream relayed (Claude with extended thinking); the client reads the
     * reasoning and the answer (8,000 tokens) and hangs up before the {@code metadata} event with the usage.
     */
    @Test
    void aConverseStreamCutBeforeItsMetadataPaysForItsReasoningAndText() throws Exception {
        String s = subject();
        String seen = hangUpAfter(s, "/ai/spring/bedrock/converse-stream", "{\"messages\":[{\"role\":\"user\",\"content\":"
                + "[{\"text\":\"" + QUESTION + "\"}]}],\"additionalModelRequestFields\":{\"thinking\":{\"type\":\"enabled\"}}}", END);
        assertPaidForWhatItRead(s, seen, "wave ", 8_000, "Bedrock ConverseStream (reasoningContent deltas)");
    }

    /**
     * The attack: a Cohere v2 stream of a reasoning model relayed; the client reads the thinking and the
     * answer (8,000 tokens) and hangs up before {@code message-end} with the usage.
     */
    @Test
    void aCohereReasoningStreamCutBeforeItsMessageEndPaysForItsThinkingAndText() throws Exception {
        String s = subject();
        String seen = hangUpAfter(s, "/ai/spring/cohere/v2/chat", "{\"model\":\"command-a-reasoning-08-2025\","
                + "\"messages\":[{\"role\":\"user\",\"content\":\"" + QUESTION + "\"}],\"stream\":true}", END);
        assertPaidForWhatItRead(s, seen, "wave ", 8_000, "Cohere v2 reasoning stream (thinking deltas)");
    }

    /**
     * The attack: a coding agent's Bedrock ConverseStream relayed; the model writes a file through a tool
     * call (8,000 tokens of {@code toolUse.input}); the client reads it and hangs up before {@code metadata}.
     */
    @Test
    void aConverseStreamToolCallCutBeforeItsMetadataPaysForItsInput() throws Exception {
        String s = subject();
        String seen = hangUpAfter(s, "/ai/spring/bedrock/agent/converse-stream", "{\"messages\":[{\"role\":\"user\",\"content\":"
                + "[{\"text\":\"Write the README for this repository.\"}]}],\"toolConfig\":{\"tools\":[{\"toolSpec\":"
                + "{\"name\":\"write_file\",\"inputSchema\":{\"json\":{\"type\":\"object\"}}}}]}}", END);
        assertPaidForWhatItRead(s, seen, "wave ", 8_000, "Bedrock ConverseStream (toolUse input deltas)");
    }

    /**
     * Control: the same cut on a DeepSeek reasoner stream, whose thinking is {@code delta.reasoning_content}
     * (a shape the filter counts), is charged the 8,000 tokens the client read. Passes today.
     */
    @Test
    void controlADeepSeekReasonerStreamCutBeforeItsUsagePaysForItsThinkingAndText() throws Exception {
        String s = subject();
        String seen = hangUpAfter(s, "/ai/spring/deepseek/chat/completions", "{\"model\":\"deepseek-reasoner\","
                + "\"messages\":[{\"role\":\"user\",\"content\":\"" + QUESTION + "\"}],\"stream\":true}", END);
        assertPaidForWhatItRead(s, seen, "wave ", 8_000, "DeepSeek reasoner stream (reasoning_content)");
    }

    /**
     * The attack: an agent's Cohere v2 stream relayed; the model writes its tool plan and a tool call's
     * arguments (8,000 tokens); the client reads them and hangs up before {@code message-end}.
     */
    @Test
    void aCohereToolCallStreamCutBeforeItsMessageEndPaysForItsPlanAndArguments() throws Exception {
        String s = subject();
        String seen = hangUpAfter(s, "/ai/spring/cohere/agent/v2/chat", "{\"model\":\"command-a-03-2025\",\"messages\":"
                + "[{\"role\":\"user\",\"content\":\"Write the README for this repository.\"}],\"tools\":[{\"type\":\"function\","
                + "\"function\":{\"name\":\"write_file\",\"parameters\":{\"type\":\"object\"}}}],\"stream\":true}", END);
        assertPaidForWhatItRead(s, seen, "wave ", 8_000, "Cohere v2 agent stream (tool plan and tool call deltas)");
    }

    /**
     * Control: a Vertex AI stream answered as one JSON array (no {@code alt=sse}); the client reads the
     * 8,000 tokens of text and hangs up before the last element with the usage. Charged the text: passes today.
     */
    @Test
    void controlAVertexJsonArrayStreamCutBeforeItsLastElementPaysForItsText() throws Exception {
        String s = subject();
        String seen = hangUpAfter(s, "/ai/spring/vertex/models/gemini-2.5-pro:streamGenerateContent",
                "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"" + QUESTION + "\"}]}]}", END);
        assertPaidForWhatItRead(s, seen, "wave ", 8_000, "Vertex AI stream as a JSON array");
    }
}

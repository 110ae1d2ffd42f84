package io.tokenquota.servlet.breakit126;

import static io.tokenquota.servlet.testing.EventStreams.event;
import static io.tokenquota.servlet.testing.EventStreams.write;

import io.tokenquota.servlet.testing.AgentLoopRound;
import java.io.IOException;
import java.io.OutputStream;
import org.junit.jupiter.api.Test;

/**
 * Round 126 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * an agent's tool loop run server-side, whose one HTTP answer relays every model call's own stream,
 * byte for byte as the provider sent it, one call after the other. Each call's stream is the provider's
 * and carries the usage the provider billed for that call, under an id the provider gave that call
 * ({@code resp_…} of a Responses call, {@code msg_…} of an Anthropic message, {@code chatcmpl-…} of a
 * chat completion, an ADK event's {@code id} and Gemini's {@code responseId}).
 * <p>The shapes are the frameworks' own: the OpenAI Agents SDK's {@code Runner.run_streamed} relayed as
 * its raw response events (what its streaming examples send to a browser); the tool runner of
 * Anthropic's SDKs relaying each message's events; a chat-completions tool loop with
 * {@code stream_options.include_usage}; Google's Agent Development Kit's {@code POST /run_sse}.
 * <p>The agent reads pages a tool fetches server-side, and the user chooses what to have read: the
 * three model calls below use 2,000 + 100, 5,000 + 100 and 8,000 + 400 tokens, 15,600 in all, on a
 * 20,000 allowance. The user's own request is one line (held about 1,000).
 * <p>"The last report wins" (docs/decisions.md, "Several model calls in one answer") is right for a
 * stream that repeats one call's running totals, but these streams carry several calls, each named by
 * its provider (not by the client), each report final for its call: the exception that decision
 * already makes for the formats that name each call (batch results, llama.cpp's {@code index},
 * LangChain's message ids) fits them, and without it every call of a tool loop but the last is free.
 * The user chooses how many calls run (how many pages to read), and which is last.
 */
abstract class AbstractRound126 extends AgentLoopRound {
    static String data(String data) {
        return "data: " + data + "\n\n";
    }

    /**
     * The formats ({@code responses}, {@code anthropic}, {@code chat}, {@code adk}): each model call's stream
     * is relayed as the provider sent it.
     */
    @Override
    protected void relayCall(String format, OutputStream out, int step, boolean last) throws IOException {
        switch (format) {
            case "responses" -> responsesCall(out, step, last);
            case "anthropic" -> anthropicCall(out, step, last);
            case "chat" -> chatCall(out, step, last);
            case "adk" -> adkCall(out, step, last);
            default -> throw new IllegalArgumentException(format);
        }
    }

    /** A chat-completions stream ends in {@code [DONE]} after its last call. */
    @Override
    protected void endAnswer(String format, OutputStream out) throws IOException {
        if (format.equals("chat")) {
            write(out, "data: [DONE]\n\n");
        }
    }

    /** One OpenAI Responses call's stream, as {@code Runner.run_streamed}'s raw response events relay it. */
    static void responsesCall(OutputStream out, int step, boolean last) throws IOException {
        String id = "resp_68a1f0c2b4e08190a9" + step;
        String head = "{\"id\":\"" + id + "\",\"object\":\"response\",\"created_at\":1735689600,\"model\":\"gpt-4.1-2025-04-14\"";
        int seq = 0;
        write(out, event("response.created", "{\"type\":\"response.created\",\"sequence_number\":" + seq++ + ",\"response\":"
                + head + ",\"status\":\"in_progress\",\"output\":[],\"usage\":null}}"));
        write(out, event("response.in_progress", "{\"type\":\"response.in_progress\",\"sequence_number\":" + seq++
                + ",\"response\":" + head + ",\"status\":\"in_progress\",\"output\":[],\"usage\":null}}"));
        String item;
        if (last) {
            String msg = "msg_68a1f0c3" + step;
            write(out, event("response.output_item.added", "{\"type\":\"response.output_item.added\",\"sequence_number\":" + seq++
                    + ",\"output_index\":0,\"item\":{\"id\":\"" + msg + "\",\"type\":\"message\",\"status\":\"in_progress\","
                    + "\"role\":\"assistant\",\"content\":[]}}"));
            write(out, event("response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":" + seq++
                    + ",\"item_id\":\"" + msg + "\",\"output_index\":0,\"content_index\":0,\"delta\":\"" + ANSWER + "\"}"));
            item = "{\"id\":\"" + msg + "\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":"
                    + "[{\"type\":\"output_text\",\"text\":\"" + ANSWER + "\",\"annotations\":[]}]}";
        } else {
            String fc = "fc_68a1f0c3" + step;
            String args = "{\\\"url\\\":\\\"" + url(step) + "\\\"}";
            write(out, event("response.output_item.added", "{\"type\":\"response.output_item.added\",\"sequence_number\":" + seq++
                    + ",\"output_index\":0,\"item\":{\"id\":\"" + fc + "\",\"type\":\"function_call\",\"status\":\"in_progress\","
                    + "\"arguments\":\"\",\"call_id\":\"call_" + step + "\",\"name\":\"fetch_page\"}}"));
            write(out, event("response.function_call_arguments.delta", "{\"type\":\"response.function_call_arguments.delta\","
                    + "\"sequence_number\":" + seq++ + ",\"item_id\":\"" + fc + "\",\"output_index\":0,\"delta\":\"" + args + "\"}"));
            item = "{\"id\":\"" + fc + "\",\"type\":\"function_call\",\"status\":\"completed\",\"arguments\":\"" + args
                    + "\",\"call_id\":\"call_" + step + "\",\"name\":\"fetch_page\"}";
        }
        write(out, event("response.output_item.done", "{\"type\":\"response.output_item.done\",\"sequence_number\":" + seq++
                + ",\"output_index\":0,\"item\":" + item + "}"));
        long in = STEPS[step][0];
        long o = STEPS[step][1];
        write(out, event("response.completed", "{\"type\":\"response.completed\",\"sequence_number\":" + seq + ",\"response\":"
                + head + ",\"status\":\"completed\",\"output\":[" + item + "],\"usage\":{\"input_tokens\":" + in
                + ",\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":" + o
                + ",\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":" + (in + o) + "}}}"));
    }

    /** One Anthropic Messages call's stream, relayed event by event as the SDK's tool runner receives it. */
    static void anthropicCall(OutputStream out, int step, boolean last) throws IOException {
        write(out, event("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoY" + step
                + "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],"
                + "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + STEPS[step][0]
                + ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}"));
        if (last) {
            write(out, event("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                    + "{\"type\":\"text\",\"text\":\"\"}}"));
            write(out, event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                    + "{\"type\":\"text_delta\",\"text\":\"" + ANSWER + "\"}}"));
        } else {
            write(out, event("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
                    + "{\"type\":\"tool_use\",\"id\":\"toolu_01A09q90qw90lq917835l" + step + "\",\"name\":\"fetch_page\",\"input\":{}}}"));
            write(out, event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                    + "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"url\\\": \\\"" + url(step) + "\\\"}\"}}"));
        }
        write(out, event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"));
        write(out, event("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\""
                + (last ? "end_turn" : "tool_use") + "\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":" + STEPS[step][1] + "}}"));
        write(out, event("message_stop", "{\"type\":\"message_stop\"}"));
    }

    /** One chat completion's stream with {@code include_usage}: its chunks, then its usage chunk. */
    static void chatCall(OutputStream out, int step, boolean last) throws IOException {
        String head = "{\"id\":\"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKc" + step + "\",\"object\":\"chat.completion.chunk\","
                + "\"created\":1735689600,\"model\":\"gpt-4o-2024-08-06\",\"system_fingerprint\":\"fp_f33640a400\",";
        if (last) {
            write(out, data(head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
                    + "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}"));
            write(out, data(head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + ANSWER + "\"},"
                    + "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}"));
        } else {
            write(out, data(head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
                    + "[{\"index\":0,\"id\":\"call_" + step + "\",\"type\":\"function\",\"function\":{\"name\":\"fetch_page\","
                    + "\"arguments\":\"\"}}],\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}"));
            write(out, data(head + "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
                    + "{\"arguments\":\"{\\\"url\\\":\\\"" + url(step) + "\\\"}\"}}]},\"logprobs\":null,\"finish_reason\":null}],"
                    + "\"usage\":null}"));
        }
        write(out, data(head + "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\""
                + (last ? "stop" : "tool_calls") + "\"}],\"usage\":null}"));
        long in = STEPS[step][0];
        long o = STEPS[step][1];
        write(out, data(head + "\"choices\":[],\"usage\":{\"prompt_tokens\":" + in + ",\"completion_tokens\":" + o
                + ",\"total_tokens\":" + (in + o) + ",\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
                + "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0}}}"));
    }

    /**
     * One model call of a Google ADK agent as {@code POST /run_sse} streams it (an {@code Event} as
     * pydantic writes it by alias, camelCase): the model's event carries that call's
     * {@code usageMetadata}; the tool's answer (a {@code functionResponse} event) carries none.
     */
    static void adkCall(OutputStream out, int step, boolean last) throws IOException {
        long in = STEPS[step][0];
        long o = STEPS[step][1];
        String parts = last ? "[{\"text\":\"" + ANSWER + "\"}]"
                : "[{\"functionCall\":{\"id\":\"adk-fc-" + step + "\",\"args\":{\"url\":\"" + url(step) + "\"},\"name\":\"fetch_page\"}}]";
        write(out, data("{\"content\":{\"parts\":" + parts + ",\"role\":\"model\"},\"usageMetadata\":{\"candidatesTokenCount\":" + o
                + ",\"promptTokenCount\":" + in + ",\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":" + in + "}],"
                + "\"totalTokenCount\":" + (in + o) + "},\"invocationId\":\"e-4b1c7a9e-126\",\"author\":\"report_agent\","
                + "\"actions\":{\"stateDelta\":{},\"artifactDelta\":{},\"requestedAuthConfigs\":{}},"
                + (last ? "" : "\"longRunningToolIds\":[],") + "\"id\":\"adk-ev-m" + step + "\",\"timestamp\":1735689600." + step + "}"));
        if (!last) {
            write(out, data("{\"content\":{\"parts\":[{\"functionResponse\":{\"id\":\"adk-fc-" + step + "\",\"name\":\"fetch_page\","
                    + "\"response\":{\"result\":\"Quarterly report " + step + ": revenue, costs and outlook by region.\"}}}],"
                    + "\"role\":\"user\"},\"invocationId\":\"e-4b1c7a9e-126\",\"author\":\"report_agent\",\"actions\":"
                    + "{\"stateDelta\":{},\"artifactDelta\":{},\"requestedAuthConfigs\":{}},\"id\":\"adk-ev-t" + step
                    + "\",\"timestamp\":1735689600." + step + "5}"));
        }
    }

    @Override
    protected String request(String format) {
        return switch (format) {
            case "responses" -> "{\"model\":\"gpt-4.1\",\"input\":\"" + QUESTION + "\",\"stream\":true}";
            case "anthropic" -> "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,\"stream\":true,\"messages\":"
                    + "[{\"role\":\"user\",\"content\":\"" + QUESTION + "\"}]}";
            case "chat" -> "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":"
                    + "[{\"role\":\"user\",\"content\":\"" + QUESTION + "\"}]}";
            case "adk" -> "{\"appName\":\"report_agent\",\"userId\":\"u\",\"sessionId\":\"s-126\",\"newMessage\":{\"role\":\"user\","
                    + "\"parts\":[{\"text\":\"" + QUESTION + "\"}]},\"streaming\":false}";
            default -> throw new IllegalArgumentException(format);
        };
    }

    // ------------------------------------------------------------------ tests

    /**
     * Control: the agent answers without a tool, one Responses call (8,000 + 400) relayed as its raw
     * events. Expected: charged 8,400 exactly.
     */
    @Test
    void controlOneResponsesCallIsChargedItsUsage() {
        chargedOneCall("responses");
    }

    /**
     * Attack: the OpenAI Agents SDK's streamed run relayed as its raw response events (each model call's
     * {@code response.created} ... {@code response.completed}, the completed response carrying that
     * call's {@code usage}, each under its own {@code resp_…} id OpenAI gave it). The user asks for
     * three pages to be read: three calls, 2,100 + 5,100 + 8,400. Expected: charged 15,600. Charged 8,400 (the last
     * {@code response.completed} alone, in Jetty and Tomcat): 7,200 tokens of model calls free.
     */
    @Test
    void agentsSdkRunOfThreeResponsesCallsIsChargedEveryCall() {
        chargedEveryCall("responses", "Agents SDK raw response events");
    }

    /**
     * Attack: an Anthropic tool loop relaying each message's events as Claude streamed them:
     * {@code message_start} (its own {@code msg_…} id, the call's input) ... {@code message_delta}
     * (the call's output) ... {@code message_stop}, three times. Expected: charged 15,600. Charged 8,400:
     * the three messages are merged field by field into one, the last message's input and output.
     */
    @Test
    void anthropicToolLoopOfThreeMessagesIsChargedEveryCall() {
        chargedEveryCall("anthropic", "Anthropic tool loop");
    }

    /**
     * Attack: a chat-completions tool loop with {@code stream_options.include_usage}, each completion's
     * chunks (its own {@code chatcmpl-…} id) followed by its usage chunk, then one {@code [DONE]}.
     * Expected: charged 15,600. Charged 8,400, the last usage chunk alone.
     */
    @Test
    void chatToolLoopOfThreeCompletionsIsChargedEveryCall() {
        chargedEveryCall("chat", "chat-completions tool loop");
    }

    /**
     * Attack: Google's Agent Development Kit, {@code POST /run_sse}: every model call is one event with
     * that call's {@code usageMetadata} (each a final count: output counted), the tools' events between
     * them carry none. Expected: charged 15,600. Charged 8,400, the last event's usageMetadata
     * taken as the stream's running total.
     */
    @Test
    void adkRunOfThreeModelEventsIsChargedEveryCall() {
        chargedEveryCall("adk", "ADK /run_sse");
    }
}

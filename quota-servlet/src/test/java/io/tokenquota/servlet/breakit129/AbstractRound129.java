package io.tokenquota.servlet.breakit129;

import static io.tokenquota.servlet.testing.EventStreams.event;
import static io.tokenquota.servlet.testing.EventStreams.write;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.testing.AgentLoopRound;
import io.tokenquota.servlet.testing.TestHttp;
import java.io.IOException;
import java.io.OutputStream;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/**
 * Round 129 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * an agent's tool loop run server-side, whose one HTTP answer relays every model call it makes, one
 * after the other, each with the usage its provider billed for it. The filter now adds up the calls of
 * such a stream when each call is a provider's stream under the id the provider gave it (a chat
 * completion chunk's {@code id}, Anthropic's {@code message_start}, a Responses event's
 * {@code response.id}, Gemini's {@code responseId}, an ADK event's {@code id}). Here the loop is the
 * same, in the other shapes agent services relay it:
 * <ul>
 *   <li>each step's whole answer, not streamed: a tool loop that calls the model without streaming and
 *       sends each answer to the browser as it comes (a Spring {@code SseEmitter} sending the SDK's
 *       {@code ChatCompletion} or Anthropic {@code Message} object): one event per model call, each its
 *       provider's complete answer with its own id ({@code chatcmpl-…}, {@code msg_…}) and usage;</li>
 *   <li>Bedrock's {@code ConverseStream} relayed event by event (each call's {@code messageStart} ...
 *       {@code messageStop} and its {@code metadata} event with that call's usage): Bedrock names no
 *       call, but every call is framed by its own start and stop;</li>
 *   <li>Cohere's v2 chat stream ({@code message-start} with the call's {@code id} ...
 *       {@code message-end} with that call's usage);</li>
 *   <li>Ollama's native {@code /api/chat} stream (NDJSON), each call ending in its own
 *       {@code "done": true} object with {@code prompt_eval_count} and {@code eval_count}.</li>
 * </ul>
 * The agent reads pages a tool fetches server-side, and the user chooses what to have read: the three
 * model calls use 2,000 + 100, 5,000 + 100 and 8,000 + 400 tokens, 15,600 in all, on a 20,000
 * allowance; the user's own request is one line (held about 1,000). The ledger must end at 15,600:
 * every call the models made, once.
 */
abstract class AbstractRound129 extends AgentLoopRound {
    static String data(String data) {
        return "data:" + data + "\n\n";
    }

    /**
     * The shapes ({@code chat-steps}, {@code anthropic-steps}, {@code gemini-steps}, {@code converse},
     * {@code cohere}, {@code ollama}): each model call relayed as that shape relays it.
     */
    @Override
    protected void relayCall(String format, OutputStream out, int step, boolean last) throws IOException {
        switch (format) {
            case "chat-steps" -> chatStep(out, step, last);
            case "anthropic-steps" -> anthropicStep(out, step, last);
            case "gemini-steps" -> geminiStep(out, step, last);
            case "converse" -> converseCall(out, step, last);
            case "cohere" -> cohereCall(out, step, last);
            case "ollama" -> ollamaCall(out, step, last);
            default -> throw new IllegalArgumentException(format);
        }
    }

    /** Ollama's native stream is NDJSON; the others are event streams. */
    @Override
    protected String contentType(String format) {
        return format.equals("ollama") ? "application/x-ndjson" : "text/event-stream";
    }

    /**
     * One step of a tool loop that calls OpenAI chat completions without streaming, sent to the browser
     * as the SDK's {@code ChatCompletion} (one {@code data:} event, as {@code SseEmitter.send} writes it).
     */
    static void chatStep(OutputStream out, int step, boolean last) throws IOException {
        long in = STEPS[step][0];
        long o = STEPS[step][1];
        String message = last
                ? "{\"role\":\"assistant\",\"content\":\"" + ANSWER + "\",\"refusal\":null,\"annotations\":[]}"
                : "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_" + step + "\",\"type\":\"function\","
                        + "\"function\":{\"name\":\"fetch_page\",\"arguments\":\"{\\\"url\\\":\\\"" + url(step) + "\\\"}\"}}],"
                        + "\"refusal\":null,\"annotations\":[]}";
        write(out, data("{\"id\":\"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKc" + step + "\",\"object\":\"chat.completion\","
                + "\"created\":1735689600,\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"message\":" + message
                + ",\"logprobs\":null,\"finish_reason\":\"" + (last ? "stop" : "tool_calls") + "\"}],\"usage\":{\"prompt_tokens\":"
                + in + ",\"completion_tokens\":" + o + ",\"total_tokens\":" + (in + o) + ",\"prompt_tokens_details\":"
                + "{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,"
                + "\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
                + "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_f33640a400\"}"));
    }

    /** One step of a tool loop that calls Anthropic Messages without streaming, sent as the SDK's {@code Message}. */
    static void anthropicStep(OutputStream out, int step, boolean last) throws IOException {
        String content = last ? "[{\"type\":\"text\",\"text\":\"" + ANSWER + "\"}]"
                : "[{\"type\":\"tool_use\",\"id\":\"toolu_01A09q90qw90lq917835l" + step + "\",\"name\":\"fetch_page\","
                        + "\"input\":{\"url\":\"" + url(step) + "\"}}]";
        write(out, data("{\"id\":\"msg_01XFDUDYJgAACzvnptvVoY" + step + "\",\"type\":\"message\",\"role\":\"assistant\","
                + "\"model\":\"claude-sonnet-4-5-20250929\",\"content\":" + content + ",\"stop_reason\":\""
                + (last ? "end_turn" : "tool_use") + "\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + STEPS[step][0]
                + ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":" + STEPS[step][1]
                + ",\"service_tier\":\"standard\"}}"));
    }

    /** One step of a tool loop that calls Gemini's {@code generateContent}, sent as its whole response. */
    static void geminiStep(OutputStream out, int step, boolean last) throws IOException {
        long in = STEPS[step][0];
        long o = STEPS[step][1];
        String parts = last ? "[{\"text\":\"" + ANSWER + "\"}]"
                : "[{\"functionCall\":{\"name\":\"fetch_page\",\"args\":{\"url\":\"" + url(step) + "\"}}}]";
        write(out, data("{\"candidates\":[{\"content\":{\"parts\":" + parts + ",\"role\":\"model\"},\"finishReason\":\"STOP\","
                + "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":" + in + ",\"candidatesTokenCount\":" + o
                + ",\"totalTokenCount\":" + (in + o) + ",\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":" + in
                + "}]},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"fGKyaOrNK8a1qtsPq5-bwAk" + step + "\"}"));
    }

    /**
     * One Bedrock {@code ConverseStream} call relayed event by event, each event as the AWS SDK's JSON
     * writes it (one member named by the event's type): {@code messageStart}, the content blocks,
     * {@code messageStop} with the stop reason, then {@code metadata} with this call's usage.
     */
    static void converseCall(OutputStream out, int step, boolean last) throws IOException {
        long in = STEPS[step][0];
        long o = STEPS[step][1];
        write(out, data("{\"messageStart\":{\"role\":\"assistant\"}}"));
        if (last) {
            write(out, data("{\"contentBlockDelta\":{\"delta\":{\"text\":\"" + ANSWER + "\"},\"contentBlockIndex\":0}}"));
            write(out, data("{\"contentBlockStop\":{\"contentBlockIndex\":0}}"));
        } else {
            write(out, data("{\"contentBlockStart\":{\"start\":{\"toolUse\":{\"toolUseId\":\"tooluse_kZJMlvQmRJ6eAyJE5GIl7"
                    + step + "\",\"name\":\"fetch_page\"}},\"contentBlockIndex\":0}}"));
            write(out, data("{\"contentBlockDelta\":{\"delta\":{\"toolUse\":{\"input\":\"{\\\"url\\\":\\\"" + url(step)
                    + "\\\"}\"}},\"contentBlockIndex\":0}}"));
            write(out, data("{\"contentBlockStop\":{\"contentBlockIndex\":0}}"));
        }
        write(out, data("{\"messageStop\":{\"stopReason\":\"" + (last ? "end_turn" : "tool_use") + "\"}}"));
        write(out, data("{\"metadata\":{\"usage\":{\"inputTokens\":" + in + ",\"outputTokens\":" + o + ",\"totalTokens\":"
                + (in + o) + "},\"metrics\":{\"latencyMs\":" + (800 + step * 300) + "}}}"));
    }

    /**
     * One Cohere v2 chat call's stream ({@code POST /v2/chat}, {@code stream: true}) relayed as Cohere sent
     * it: {@code message-start} with the call's id, the tool plan and call (or the text), and
     * {@code message-end} with this call's usage ({@code billed_units} and {@code tokens}).
     */
    static void cohereCall(OutputStream out, int step, boolean last) throws IOException {
        long in = STEPS[step][0];
        long o = STEPS[step][1];
        write(out, event("message-start", "{\"id\":\"3c1d2b58-7a6e-4f1a-9a8e-0b7c5d3e2f1" + step + "\",\"type\":\"message-start\","
                + "\"delta\":{\"message\":{\"role\":\"assistant\",\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}"));
        if (last) {
            write(out, event("content-start", "{\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":{\"content\":"
                    + "{\"type\":\"text\",\"text\":\"\"}}}}"));
            write(out, event("content-delta", "{\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":"
                    + "{\"text\":\"" + ANSWER + "\"}}}}"));
            write(out, event("content-end", "{\"type\":\"content-end\",\"index\":0}"));
        } else {
            write(out, event("tool-plan-delta", "{\"type\":\"tool-plan-delta\",\"delta\":{\"message\":{\"tool_plan\":"
                    + "\"I will fetch report " + step + ".\"}}}"));
            write(out, event("tool-call-start", "{\"type\":\"tool-call-start\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":"
                    + "{\"id\":\"fetch_page_8m1ej6x0f3" + step + "\",\"type\":\"function\",\"function\":{\"name\":\"fetch_page\","
                    + "\"arguments\":\"\"}}}}}"));
            write(out, event("tool-call-delta", "{\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":"
                    + "{\"function\":{\"arguments\":\"{\\\"url\\\": \\\"" + url(step) + "\\\"}\"}}}}}"));
            write(out, event("tool-call-end", "{\"type\":\"tool-call-end\",\"index\":0}"));
        }
        write(out, event("message-end", "{\"type\":\"message-end\",\"delta\":{\"finish_reason\":\""
                + (last ? "COMPLETE" : "TOOL_CALL") + "\",\"usage\":{\"billed_units\":{\"input_tokens\":" + in
                + ",\"output_tokens\":" + o + "},\"tokens\":{\"input_tokens\":" + in + ",\"output_tokens\":" + o + "}}}}"));
    }

    /**
     * One Ollama {@code /api/chat} call's stream (NDJSON) relayed line by line: the message's chunks,
     * then the {@code "done": true} object with this call's {@code prompt_eval_count} and {@code eval_count}.
     */
    static void ollamaCall(OutputStream out, int step, boolean last) throws IOException {
        String at = "\"model\":\"qwen3:8b\",\"created_at\":\"2025-06-01T10:00:0" + step + ".000000Z\",";
        if (last) {
            write(out, "{" + at + "\"message\":{\"role\":\"assistant\",\"content\":\"" + ANSWER + "\"},\"done\":false}\n");
        } else {
            write(out, "{" + at + "\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":"
                    + "{\"name\":\"fetch_page\",\"arguments\":{\"url\":\"" + url(step) + "\"}}}]},\"done\":false}\n");
        }
        write(out, "{" + at + "\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true,"
                + "\"total_duration\":4883583458,\"load_duration\":1334875,\"prompt_eval_count\":" + STEPS[step][0]
                + ",\"prompt_eval_duration\":342546000,\"eval_count\":" + STEPS[step][1] + ",\"eval_duration\":4535599000}\n");
    }

    @Override
    protected String request(String format) {
        String tools = "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"fetch_page\",\"description\":\"Fetch a web page\","
                + "\"parameters\":{\"type\":\"object\",\"properties\":{\"url\":{\"type\":\"string\"}},\"required\":[\"url\"]}}}]";
        return switch (format) {
            case "chat-steps" -> "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" + QUESTION + "\"}]," + tools + "}";
            case "anthropic-steps" -> "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,\"messages\":"
                    + "[{\"role\":\"user\",\"content\":\"" + QUESTION + "\"}]}";
            case "gemini-steps" -> "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"" + QUESTION + "\"}]}]}";
            case "converse" -> "{\"modelId\":\"anthropic.claude-3-5-sonnet-20240620-v1:0\",\"messages\":[{\"role\":\"user\","
                    + "\"content\":[{\"text\":\"" + QUESTION + "\"}]}],\"inferenceConfig\":{\"maxTokens\":1024}}";
            case "cohere" -> "{\"model\":\"command-a-03-2025\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\""
                    + QUESTION + "\"}]," + tools + "}";
            case "ollama" -> "{\"model\":\"qwen3:8b\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"" + QUESTION
                    + "\"}]," + tools + "}";
            default -> throw new IllegalArgumentException(format);
        };
    }


    // ------------------------------------------------------------------ tests

    /**
     * Control: each shape with a single model call (8,000 + 400, a question that needs no tool) is
     * charged 8,400 exactly, so the shapes' usage is read.
     */
    @Test
    void controlOneCallOfEachShapeIsChargedItsUsage() {
        for (String format : new String[] {"chat-steps", "anthropic-steps", "gemini-steps", "converse", "cohere", "ollama"}) {
            chargedOneCall(format);
        }
    }

    /**
     * Control: a tool loop calling Gemini's {@code generateContent} without streaming, each whole response
     * (its own {@code responseId}, its {@code usageMetadata}) sent as one event: 2,100 + 5,100 + 8,400.
     * Expected: charged 15,600.
     */
    @Test
    void controlGeminiStepsAreChargedEveryCall() {
        chargedEveryCall("gemini-steps", "Gemini whole responses, one event each");
    }

    /**
     * Attack: a tool loop that calls OpenAI chat completions without streaming and sends each
     * {@code ChatCompletion} to the browser as one event (Spring's {@code SseEmitter.send(completion)}):
     * three answers, each a provider's complete answer with its own {@code chatcmpl-…} id and usage,
     * 2,100 + 5,100 + 8,400. Expected: charged 15,600. The same loop relayed as streamed chunks is
     * charged 15,600; as whole answers, "the last report wins" leaves every call but the last free.
     */
    @Test
    void chatCompletionStepsAreChargedEveryCall() {
        chargedEveryCall("chat-steps", "chat completions, one whole answer per event");
    }

    /**
     * Attack: the same loop on Anthropic Messages without streaming, each {@code Message} (its own
     * {@code msg_…} id, its {@code usage}) sent as one event. Expected: charged 15,600; the messages are
     * merged field by field, the last one's counts.
     */
    @Test
    void anthropicMessageStepsAreChargedEveryCall() {
        chargedEveryCall("anthropic-steps", "Anthropic messages, one whole answer per event");
    }

    /**
     * Attack: a tool loop on Bedrock's {@code ConverseStream} relayed event by event: each call's
     * {@code messageStart} ... {@code messageStop} ({@code stopReason: tool_use}) and its {@code metadata}
     * event with that call's usage, three times. Expected: charged 15,600. The {@code metadata} usage of
     * the last call alone is charged: every call's stream is framed by its own start and stop, yet the
     * calls do not add up.
     */
    @Test
    void converseStreamToolLoopIsChargedEveryCall() {
        chargedEveryCall("converse", "Bedrock ConverseStream tool loop");
    }

    /**
     * Attack: a tool loop on Cohere's v2 chat stream, each call's {@code message-start} (its own id) ...
     * {@code message-end} (that call's usage, {@code billed_units} and {@code tokens}), three times.
     * Expected: charged 15,600; the last {@code message-end} alone is charged.
     */
    @Test
    void cohereToolLoopIsChargedEveryCall() {
        chargedEveryCall("cohere", "Cohere v2 tool loop");
    }

    /**
     * Attack: a tool loop on a local model served by Ollama, relaying each {@code /api/chat} stream as
     * NDJSON lines: each call ends in its own {@code "done": true} line with that call's
     * {@code prompt_eval_count} and {@code eval_count}. Expected: charged 15,600; the last
     * {@code done} line alone is charged.
     */
    @Test
    void ollamaToolLoopIsChargedEveryCall() {
        chargedEveryCall("ollama", "Ollama /api/chat tool loop");
    }

    /**
     * Attack, what it is worth: one user runs the chat-completions agent of
     * {@link #chatCompletionStepsAreChargedEveryCall} (15,600 tokens of model calls a run) again and
     * again on a 20,000 allowance. After two runs the models have used 31,200: the third run must be
     * refused (429) before any model call, six model calls in all. Each run is charged 8,400, so the
     * third is served too (25,200 used, 46,800 tokens of model calls).
     */
    @Test
    void agentRunsStopAtTheAllowance() {
        String s = subject();
        for (int run = 1; run <= 2; run++) {
            HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/agents/chat-steps"), s, request("chat-steps"));
            assertEquals(200, r.statusCode(), "run " + run + ": " + r.body());
        }
        HttpResponse<String> third = TestHttp.postJson(container.uri("/ai/agents/chat-steps"), s, request("chat-steps"));
        QuotaAccount a = settled(s);
        assertEquals(429, third.statusCode(), kind() + ": two agent runs made 6 model calls of 31,200 tokens on a 20,000 "
                + "allowance, yet a third run was answered " + third.statusCode() + "; model calls " + calls.of(s)
                + ", used " + a.used() + " of " + a.limit() + "; " + ledger(s));
        assertEquals(6, calls.of(s), kind() + ": model calls " + calls.of(s));
    }
}

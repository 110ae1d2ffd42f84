package io.tokenquota.servlet.breakit487;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.BedrockAgentRound;
import io.tokenquota.servlet.testing.Prose;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 487 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): the floor a usage
 * read from an AWS event stream's chunk bytes is charged at least (rounds 474, 479, 483), for an answer written as the
 * events of a model family {@code InvokeModelEvents} recognizes.
 *
 * <p>A Bedrock agent (Agent Runtime's {@code InvokeAgent}, API reference "InvokeAgent", "ResponseStream",
 * "PayloadPart"), the trace off, its final answer streamed, relayed as AWS's binary event stream by an application that
 * drops AWS's headers. The client has the agent's model write its answer as the stream events of one of the families
 * Bedrock serves, its prose in the very field that family writes its text in, and end with that family's usage of 1
 * and 1. docs/decisions.md ("Bedrock chunks as text") leaves open only prose "where no text field of the format is";
 * an answer whose prose is in the format's text field is charged "the larger of that usage and the text its format's
 * fields held". For Anthropic Messages, Cohere Command R, Nova, Llama, Mistral and the OpenAI-compatible chunks it is;
 * for four documented families it is not, because their stream's text field is read by no stream text reader
 * ({@code StreamText} reads Titan's whole answer {@code results[].outputText}, not the stream's top-level
 * {@code outputText}; nor a top-level {@code completion}, Cohere generate's {@code text} or {@code generations[].text}):
 * <ul>
 *   <li>Amazon Titan Text (Bedrock user guide, "Amazon Titan Text models", InvokeModelWithResponseStream: each chunk
 *       {@code {"index", "inputTextTokenCount", "totalOutputTextTokenCount", "outputText", "completionReason"}});</li>
 *   <li>Anthropic Claude Text Completions (user guide, "Anthropic Claude Text Completions API":
 *       {@code {"completion", "stop_reason", "stop"}});</li>
 *   <li>Cohere Command (user guide, "Cohere Command models": {@code generations[]} with {@code text},
 *       {@code is_finished}, {@code index} "only applicable when using streaming"; Cohere's generate stream events
 *       {@code {"text", "is_finished"}}).</li>
 * </ul>
 * Each is charged 2 for 5,267 tokens of prose. Controls: the other families' same attack; the same Titan answer with
 * InvokeAgent's headers; genuine streams of these families charged exactly Bedrock's metrics (so a fix that counts
 * their text must not over-charge a genuine call).
 */
abstract class AbstractRound487 extends BedrockAgentRound {
    AbstractRound487() {
        super("r487");
    }

    static final String INVOKE_AGENT = "{\"inputText\":\"Tell me the whole history of order 48213.\",\"enableTrace\":false,"
            + "\"streamingConfigurations\":{\"streamFinalResponse\":true}}";

    static final List<String> PARAGRAPHS = paragraphs();

    private static List<String> paragraphs() {
        String prose = Prose.english(24 * 1_400 + 100);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            out.add(prose.substring(i * 1_400, (i + 1) * 1_400));
        }
        return out;
    }

    static long storyTokens() {
        long sum = 0;
        for (String p : PARAGRAPHS) {
            sum += TOKENS.estimate(p);
        }
        return sum;
    }

    static final String METRICS = "\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":1,\"outputTokenCount\":1,"
            + "\"invocationLatency\":900,\"firstByteLatency\":200}";

    /**
     * One of the agent's chunks: a family's text event holding paragraph {@code p} where the family writes its text
     * (Bedrock user guide, "Inference request parameters and response fields for foundation models", each family's
     * streamed response; Anthropic's Messages stream events; Cohere's v1 chat stream; Nova's InvokeModel stream).
     */
    static String delta(String shape, String p) {
        return switch (shape) {
            case "anthropic-text" -> "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":" + q(p) + "}}";
            case "anthropic-thinking" -> "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":" + q(p) + "}}";
            case "anthropic-tool" -> "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":" + q(p) + "}}";
            case "cohere-r" -> "{\"is_finished\":false,\"event_type\":\"text-generation\",\"text\":" + q(p) + "}";
            case "nova-text" -> "{\"contentBlockDelta\":{\"delta\":{\"text\":" + q(p) + "},\"contentBlockIndex\":0}}";
            case "nova-reasoning" -> "{\"contentBlockDelta\":{\"delta\":{\"reasoningContent\":{\"text\":" + q(p) + "}},\"contentBlockIndex\":0}}";
            case "llama" -> "{\"generation\":" + q(p) + ",\"prompt_token_count\":null,\"generation_token_count\":1,\"stop_reason\":null}";
            case "titan" -> "{\"outputText\":" + q(p) + ",\"index\":0,\"totalOutputTextTokenCount\":1,\"completionReason\":null,\"inputTextTokenCount\":1}";
            case "mistral" -> "{\"outputs\":[{\"text\":" + q(p) + ",\"stop_reason\":null}]}";
            case "completion" -> "{\"completion\":" + q(p) + ",\"stop_reason\":null,\"stop\":null}";
            case "cohere-command" -> "{\"text\":" + q(p) + ",\"is_finished\":false}";
            case "cohere-generations" -> "{\"generations\":[{\"text\":" + q(p) + "}],\"id\":\"g\",\"prompt\":\"p\"}";
            case "choices-delta" -> "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":" + q(p) + "},\"finish_reason\":null}]}";
            case "choices-reasoning" -> "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":" + q(p) + "},\"finish_reason\":null}]}";
            case "choices-tool" -> "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":" + q(p) + "}}]},\"finish_reason\":null}]}";
            case "choices-text" -> "{\"choices\":[{\"text\":" + q(p) + ",\"stop_reason\":null}]}";
            case "choices-message" -> "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":" + q(p) + "},\"stop_reason\":null}]}";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    /** The family's last event, with the smallest usage the agent's model writes. */
    static String last(String shape) {
        return switch (shape) {
            case "anthropic-text", "anthropic-thinking", "anthropic-tool" ->
                    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":1}}";
            case "cohere-r" -> "{\"is_finished\":true,\"event_type\":\"stream-end\",\"finish_reason\":\"COMPLETE\"," + METRICS + "}";
            case "nova-text", "nova-reasoning" -> "{\"metadata\":{\"usage\":{\"inputTokens\":1,\"outputTokens\":1}}," + METRICS + "}";
            case "llama" -> "{\"generation\":\"\",\"prompt_token_count\":1,\"generation_token_count\":1,\"stop_reason\":\"stop\"," + METRICS + "}";
            case "titan" -> "{\"outputText\":\"\",\"index\":0,\"totalOutputTextTokenCount\":1,\"completionReason\":\"FINISH\",\"inputTextTokenCount\":1," + METRICS + "}";
            case "mistral" -> "{\"outputs\":[{\"text\":\"\",\"stop_reason\":\"stop\"}]," + METRICS + "}";
            case "completion" -> "{\"completion\":\"\",\"stop_reason\":\"stop_sequence\",\"stop\":null," + METRICS + "}";
            case "cohere-command" -> "{\"is_finished\":true,\"finish_reason\":\"COMPLETE\"," + METRICS + "}";
            case "cohere-generations" -> "{\"generations\":[{\"text\":\"\",\"finish_reason\":\"COMPLETE\"}],\"id\":\"g\",\"prompt\":\"p\"," + METRICS + "}";
            case "choices-delta", "choices-reasoning", "choices-tool" ->
                    "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}";
            case "choices-text", "choices-message" -> "{\"choices\":[{\"text\":\"\",\"stop_reason\":\"stop\"}]," + METRICS + "}";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (shape.startsWith("genuine-")) {
            genuine(shape, out);
            writeEventStream(resp, out.toByteArray(), null);
            return true;
        }
        boolean agentHeaders = shape.startsWith("agent-");
        if (agentHeaders) {
            shape = shape.substring("agent-".length());
        }
        if (shape.startsWith("anthropic")) {
            out.writeBytes(chunk("{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}"));
        }
        for (String p : PARAGRAPHS) {
            out.writeBytes(chunk(delta(shape, p)));
        }
        out.writeBytes(chunk(last(shape)));
        if (shape.startsWith("anthropic")) {
            out.writeBytes(chunk("{\"type\":\"message_stop\"," + METRICS + "}"));
        }
        writeEventStream(resp, out.toByteArray(), agentHeaders ? "session-487" : null);
        return true;
    }

    static final long IN = 500;

    static String metrics(long in, long out) {
        return "\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":" + in + ",\"outputTokenCount\":" + out
                + ",\"invocationLatency\":9000,\"firstByteLatency\":300}";
    }

    static void genuine(String shape, ByteArrayOutputStream out) {
        long out_ = storyTokens();
        long so = 0;
        for (int i = 0; i < PARAGRAPHS.size(); i++) {
            String p = PARAGRAPHS.get(i);
            so += TOKENS.estimate(p);
            String c = switch (shape) {
                case "genuine-llama" -> "{\"generation\":" + q(p) + ",\"prompt_token_count\":" + (i == 0 ? IN : "null")
                        + ",\"generation_token_count\":" + so + ",\"stop_reason\":null}";
                case "genuine-titan" -> "{\"outputText\":" + q(p) + ",\"index\":0,\"totalOutputTextTokenCount\":null,"
                        + "\"completionReason\":null,\"inputTextTokenCount\":" + (i == 0 ? IN : "null") + "}";
                case "genuine-titan-repeat" -> "{\"outputText\":" + q(p) + ",\"index\":0,\"totalOutputTextTokenCount\":" + so
                        + ",\"completionReason\":null,\"inputTextTokenCount\":" + IN + "}";
                case "genuine-nova" -> "{\"contentBlockDelta\":{\"delta\":{\"text\":" + q(p) + "},\"contentBlockIndex\":0}}";
                case "genuine-completion" -> "{\"completion\":" + q(p) + ",\"stop_reason\":null,\"stop\":null}";
                default -> throw new IllegalArgumentException(shape);
            };
            out.writeBytes(chunk(c));
        }
        String last = switch (shape) {
            case "genuine-llama" -> "{\"generation\":\"\",\"prompt_token_count\":null,\"generation_token_count\":" + out_
                    + ",\"stop_reason\":\"stop\"," + metrics(IN, out_) + "}";
            case "genuine-titan", "genuine-titan-repeat" -> "{\"outputText\":\"\",\"index\":0,\"totalOutputTextTokenCount\":" + out_
                    + ",\"completionReason\":\"FINISH\",\"inputTextTokenCount\":" + (shape.endsWith("repeat") ? IN : "null") + "," + metrics(IN, out_) + "}";
            case "genuine-nova" -> "{\"metadata\":{\"usage\":{\"inputTokens\":" + IN + ",\"outputTokens\":" + out_ + "},\"metrics\":{},\"trace\":{}},"
                    + metrics(IN, out_) + "}";
            case "genuine-completion" -> "{\"completion\":\"\",\"stop_reason\":\"stop_sequence\",\"stop\":\"\\n\\nHuman:\"," + metrics(IN, out_) + "}";
            default -> throw new IllegalArgumentException(shape);
        };
        out.writeBytes(chunk(last));
    }

    /**
     * Control: genuine streams of these families (usage on the first and last chunks, Bedrock's metrics on the last),
     * relayed without InvokeModel's header, are charged exactly Bedrock's metrics, 500 + 5,267.
     */
    @ParameterizedTest
    @ValueSource(strings = {"genuine-llama", "genuine-titan", "genuine-titan-repeat", "genuine-nova", "genuine-completion"})
    void genuineStreamsAreChargedTheirMetrics(String shape) {
        String s = "r487g-" + shape + "-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = post(shape, s, "{\"inputText\":\"Write the report.\"}");
        assertEquals(200, r.statusCode());
        long used = settled(s).used();
        assertEquals(IN + storyTokens(), used, shape + ": " + ledger(s));
    }

    private long agentCall(String shape) {
        long used = call(shape, INVOKE_AGENT);
        assertTrue(used >= storyTokens() * 9 / 10, kind() + " " + shape + ": charged " + used
                + ", should be at least the answer's " + storyTokens() + " tokens of text: " + last);
        return used;
    }

    /**
     * The attack: the agent's answer as 24 events of Titan Text, Claude Text Completions or Cohere Command, each with
     * 1,400 characters of prose in the family's own text field, then the family's last event with a usage of 1 and 1,
     * relayed without AWS's headers. Charged 2; should be at least the 5,267 tokens of text its format's fields held.
     */
    @ParameterizedTest
    @ValueSource(strings = {"titan", "completion", "cohere-command", "cohere-generations"})
    void anAgentsAnswerAsAFamilysEventsIsChargedAtLeastTheTextInItsTextField(String shape) {
        agentCall(shape);
    }

    /** Control: the same attack in the other families' events is charged the text (5,368 here). */
    @ParameterizedTest
    @ValueSource(strings = {"anthropic-text", "anthropic-thinking", "anthropic-tool", "cohere-r", "nova-text",
        "nova-reasoning", "llama", "mistral", "choices-delta", "choices-reasoning", "choices-tool", "choices-text",
        "choices-message"})
    void theSameAttackInOtherFamiliesEventsIsChargedItsText(String shape) {
        agentCall(shape);
    }

    /** Control: the Titan-shaped answer with InvokeAgent's headers passed on is read as text and charged it. */
    @ParameterizedTest
    @ValueSource(strings = {"agent-titan", "agent-completion", "agent-cohere-command"})
    void theSameAnswerWithTheAgentsHeadersIsChargedItsText(String shape) {
        agentCall(shape);
    }
}

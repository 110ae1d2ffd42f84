package io.tokenquota.servlet.breakit474;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.BedrockAgentRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.RelayedAnswers;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 474 of issue 11 ("no model call goes unpaid"), item 5 (usage read from a place a model's text can fill):
 * a Bedrock agent's answer text read as a provider's JSON document.
 *
 * <p>The provider: Bedrock Agent Runtime's {@code InvokeAgent} (API reference "InvokeAgent", "ResponseStream",
 * "PayloadPart"), relayed as AWS's binary event stream. Its {@code chunk} events carry the agent's final answer as
 * text, base64-encoded under {@code bytes} (beside an {@code attribution} when a knowledge base is cited); with
 * {@code enableTrace} off there is no {@code trace} event and so no usage at all. {@code InvokeModelWithResponseStream}
 * names its events {@code chunk} too, but there the decoded {@code bytes} are the provider's own JSON event
 * (Anthropic's {@code message_start} … {@code message_stop}, Meta's {@code generation} chunks), which carry the
 * call's usage. InvokeAgent answers with its own headers ({@code x-amzn-bedrock-agent-content-type},
 * {@code x-amz-bedrock-agent-session-id}, {@code x-amz-bedrock-agent-memory-id}), which a relay may or may not pass on.
 *
 * <p>The application: a relay that passes the Agent Runtime's answer through as it came, with AWS's headers
 * ({@code agent-…} shapes) or without them ({@code bare-…}).
 *
 * <p>Found: every chunk's bytes are decoded and read as a JSON document, so the client has the agent's model end its
 * answer with a text shaped as a usage (Bedrock's {@code usage}, an InvokeModel chunk's
 * {@code amazon-bedrock-invocationMetrics}, a {@code TracePart} with a model call's usage, or text whose blank lines
 * open an event of their own): a call that carried about 5,300 tokens of text is charged 2.
 *
 * <p>Controls: the same fakes in a chunk of a traced stream neither replace nor lower the trace's usage; an
 * InvokeModelWithResponseStream stream (Anthropic's, Meta's) is still charged exactly its usage, also a long one whose
 * text the estimator counts as the provider does; round 470's tests.
 */
abstract class AbstractRound474 extends BedrockAgentRound {
    AbstractRound474() {
        super("r474");
    }

    /** A short answer, about 450 tokens. */
    static final String ANSWER = Prose.english(2_000);

    static final String INVOKE_AGENT = "{\"inputText\":\"Tell me the whole story of order 48213, then end with the line I gave you.\","
            + "\"enableTrace\":false,\"streamingConfigurations\":{\"streamFinalResponse\":true}}";
    static final String INVOKE_AGENT_TRACED = INVOKE_AGENT.replace("\"enableTrace\":false", "\"enableTrace\":true");

    /** What the client has the agent's model write: each fake reports 1 input and 1 output token. */
    static String fake(String variant) {
        return switch (variant) {
            // Bedrock's own usage shape (ConverseStream's metadata, a trace's metadata)
            case "usage" -> "{\"usage\":{\"inputTokens\":1,\"outputTokens\":1}}";
            // an InvokeModel chunk's last event, Anthropic's message_stop with Bedrock's invocation metrics
            case "metrics" -> "{\"type\":\"message_stop\",\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":1,"
                    + "\"outputTokenCount\":1,\"invocationLatency\":900,\"firstByteLatency\":200}}";
            // a TracePart whose orchestration step reports a model call (round 470's place)
            case "trace" -> "{\"agentId\":\"AGENT474AB\",\"sessionId\":\"session-474\",\"trace\":{\"orchestrationTrace\":"
                    + "{\"modelInvocationOutput\":{\"metadata\":{\"usage\":{\"inputTokens\":1,\"outputTokens\":1}}}}}}";
            // answer text whose blank lines end the event its chunk was written as, and open another
            case "blank" -> "That is all.\n\ndata: {\"usage\":{\"inputTokens\":1,\"outputTokens\":1}}\n\n";
            default -> throw new IllegalArgumentException(variant);
        };
    }

    /** The story's chunks, as InvokeAgent streams a final response ({@code streamFinalResponse}). */
    static void story(ByteArrayOutputStream out) {
        for (int i = 0; i < STORY.length(); i += 1_000) {
            out.writeBytes(chunk(STORY.substring(i, Math.min(STORY.length(), i + 1_000))));
        }
    }

    /** A TracePart event around one orchestration trace member. */
    static byte[] trace(String member) {
        return RelayedAnswers.awsEvent("trace", "{\"agentAliasId\":\"TSTALIASID\",\"agentId\":\"AGENT474AB\","
                + "\"agentVersion\":\"DRAFT\",\"sessionId\":\"session-474\",\"eventTime\":\"2025-06-02T10:15:30.123Z\","
                + "\"trace\":{\"orchestrationTrace\":" + member + "},\"p\":\"" + PAD + "\"}");
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        boolean agentHeaders = false;
        if (shape.startsWith("agent-") || shape.startsWith("bare-")) {
            // trace off: the story's chunks, then the fake as the answer's last chunk (or its first)
            agentHeaders = shape.startsWith("agent-");
            String rest = shape.substring(shape.indexOf('-') + 1);
            if (rest.equals("whole")) {
                // the whole answer one chunk, written as an InvokeModel answer that carries the story and a usage
                out.writeBytes(chunk("{\"id\":\"msg_bdrk_474\",\"type\":\"message\",\"role\":\"assistant\",\"content\":"
                        + "[{\"type\":\"text\",\"text\":" + q(STORY) + "}],\"stop_reason\":\"end_turn\","
                        + "\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}"));
            } else if (rest.startsWith("first-")) {
                out.writeBytes(chunk(fake(rest.substring("first-".length()))));
                story(out);
            } else {
                story(out);
                out.writeBytes(chunk(fake(rest)));
            }
        } else if (shape.startsWith("traced-")) {
            // trace on: the two model calls' traces, the answer, then the fake as its last chunk
            String rest = shape.substring("traced-".length());
            agentHeaders = !rest.startsWith("bare-");
            String variant = agentHeaders ? rest : rest.substring("bare-".length());
            out.writeBytes(trace(modelOutput("t-0", STEP1_IN, STEP1_OUT)));
            out.writeBytes(trace("{\"rationale\":{\"traceId\":\"t-0\",\"text\":\"I should look up order 48213.\"}}"));
            out.writeBytes(trace(modelOutput("t-1", STEP2_IN, STEP2_OUT)));
            out.writeBytes(chunk(ANSWER));
            out.writeBytes(chunk(fake(variant)));
        } else if (shape.equals("claude")) {
            claude(out, ANSWER, 1_000, STEP2_IN, STEP2_OUT);
        } else if (shape.equals("claude-long")) {
            claude(out, STORY, 1_000, 40, TOKENS.estimate(STORY));
            // InvokeModelWithResponseStream's own response header, passed on
            resp.setHeader("X-Amzn-Bedrock-Content-Type", "application/json");
        } else if (shape.equals("claude-long-bare")) {
            claude(out, STORY, 1_000, 400, TOKENS.estimate(STORY));
        } else if (shape.equals("llama")) {
            llama(out);
        } else {
            return false;
        }
        writeEventStream(resp, out.toByteArray(), agentHeaders ? "session-474" : null);
        return true;
    }

    /** Anthropic's Messages stream on InvokeModelWithResponseStream: each event a chunk's bytes. */
    static void claude(ByteArrayOutputStream out, String text, int piece, long in, long outTokens) {
        out.writeBytes(chunk("{\"type\":\"message_start\",\"message\":{\"id\":\"msg_bdrk_01\",\"type\":\"message\","
                + "\"role\":\"assistant\",\"model\":\"claude-3-5-sonnet-20240620\",\"content\":[],\"stop_reason\":null,"
                + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + in + ",\"output_tokens\":1}}}"));
        out.writeBytes(chunk("{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"));
        for (int i = 0; i < text.length(); i += piece) {
            out.writeBytes(chunk("{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
                    + q(text.substring(i, Math.min(text.length(), i + piece))) + "}}"));
        }
        out.writeBytes(chunk("{\"type\":\"content_block_stop\",\"index\":0}"));
        out.writeBytes(chunk("{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
                + "\"usage\":{\"output_tokens\":" + outTokens + "}}"));
        out.writeBytes(chunk("{\"type\":\"message_stop\",\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":" + in
                + ",\"outputTokenCount\":" + outTokens + ",\"invocationLatency\":4000,\"firstByteLatency\":300}}"));
    }

    /** Meta Llama on InvokeModelWithResponseStream: generation chunks, the last with Bedrock's invocation metrics. */
    static void llama(ByteArrayOutputStream out) {
        for (int i = 0; i < ANSWER.length(); i += 500) {
            boolean last = i + 500 >= ANSWER.length();
            out.writeBytes(chunk("{\"generation\":" + q(ANSWER.substring(i, Math.min(ANSWER.length(), i + 500)))
                    + ",\"prompt_token_count\":" + (i == 0 ? STEP2_IN : "null") + ",\"generation_token_count\":"
                    + (last ? STEP2_OUT : (i / 500 + 1) * 110) + ",\"stop_reason\":" + (last ? "\"stop\"" : "null")
                    + (last ? ",\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":" + STEP2_IN
                    + ",\"outputTokenCount\":" + STEP2_OUT + ",\"invocationLatency\":4000,\"firstByteLatency\":300}" : "")
                    + "}"));
        }
    }

    /** Charged at least the story's text: about 5,300 tokens (the hold is about 1,000). */
    private void chargedAtLeastTheStory(String shape) {
        assertChargedAtLeastTheStory(shape, INVOKE_AGENT);
    }

    /**
     * The attack: an agent's answer without its trace, relayed with AWS's headers, whose last chunk is a text shaped
     * as a usage, is charged that usage (2) for about 5,300 tokens of text.
     */
    @ParameterizedTest
    @ValueSource(strings = {"usage", "metrics", "trace", "blank"})
    void anAgentsAnswerEndingInAFakeUsageIsChargedItsText(String variant) {
        chargedAtLeastTheStory("agent-" + variant);
    }

    /** The same through a relay that drops AWS's headers: the story's chunks are text, so the last one is too. */
    @ParameterizedTest
    @ValueSource(strings = {"usage", "metrics", "trace", "blank"})
    void withoutAwsHeadersAFakeUsageAfterTheTextIsChargedItsText(String variant) {
        chargedAtLeastTheStory("bare-" + variant);
    }

    /**
     * Without headers, with the fake the answer's first chunk: nothing tells the stream from InvokeModel's when the
     * fake is read, and the usage read from a chunk's bytes is charged at least the text the stream carried.
     */
    @ParameterizedTest
    @ValueSource(strings = {"usage", "metrics", "trace", "blank"})
    void withoutAwsHeadersAFakeUsageBeforeTheTextIsChargedItsText(String variant) {
        chargedAtLeastTheStory("bare-first-" + variant);
    }

    /** The whole answer one chunk written as an InvokeModel answer (the story as its text, a usage of 2): its text. */
    @Test
    void anAnswerWrittenAsAnInvokeModelDocumentIsChargedItsText() {
        chargedAtLeastTheStory("bare-whole");
    }

    /**
     * With the trace on, the same fakes in the answer's last chunk neither replace, lower nor add to the trace's two
     * model calls, 7,460; with AWS's headers and without.
     */
    @ParameterizedTest
    @ValueSource(strings = {"usage", "metrics", "trace", "blank", "bare-usage", "bare-metrics", "bare-trace", "bare-blank"})
    void aFakeUsageInATracedAnswerLeavesTheTracesUsage(String variant) {
        assertEquals(AGENT_USAGE, call("traced-" + variant, INVOKE_AGENT_TRACED), kind() + ": " + last);
    }

    /** Control (over-charge): Anthropic on InvokeModelWithResponseStream is charged exactly its usage, 3,620 + 480. */
    @Test
    void anAnthropicInvokeModelStreamIsChargedItsUsage() {
        assertEquals(STEP2_IN + STEP2_OUT, call("claude", "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":1024,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Tell me about order 48213.\"}]}"), kind() + ": " + last);
    }

    static final String LONG_STORY = "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":8192,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a long story.\"}]}";

    /**
     * Control (over-charge): a long Anthropic answer whose output the provider counts exactly as the estimator counts
     * the whole text, after a 40-token prompt, relayed with InvokeModel's own {@code X-Amzn-Bedrock-Content-Type}, is
     * charged exactly its usage: the 34 deltas' text, estimated piece by piece, comes to some 100 tokens more, and
     * nothing raises the usage to it.
     */
    @Test
    void aLongAnthropicInvokeModelStreamWithItsHeaderIsChargedItsUsage() {
        assertEquals(40 + TOKENS.estimate(STORY), call("claude-long", LONG_STORY), kind() + ": " + last);
    }

    /**
     * Control (over-charge): the same through a relay that drops AWS's headers, after a 400-token prompt (a system
     * prompt the application adds): the usage covers the text, and is charged exactly.
     */
    @Test
    void aLongAnthropicInvokeModelStreamWithoutHeadersIsChargedItsUsage() {
        assertEquals(400 + TOKENS.estimate(STORY), call("claude-long-bare", LONG_STORY), kind() + ": " + last);
    }

    /** Control (over-charge): Meta Llama on InvokeModelWithResponseStream is charged exactly its invocation metrics. */
    @Test
    void aLlamaInvokeModelStreamIsChargedItsUsage() {
        assertEquals(STEP2_IN + STEP2_OUT, call("llama", "{\"prompt\":\"Tell me about order 48213.\",\"max_gen_len\":1024}"),
                kind() + ": " + last);
    }
}

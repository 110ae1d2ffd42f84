package io.tokenquota.servlet.breakit479;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.testing.BedrockAgentRound;
import io.tokenquota.servlet.testing.Prose;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 479 of issue 11 ("no model call goes unpaid"), item 5 (usage read from a place a model's text can fill):
 * a Bedrock agent's answer written as one JSON document whose text is in a field no format reads as text.
 *
 * <p>The provider: Bedrock Agent Runtime's {@code InvokeAgent} (API reference "InvokeAgent", "ResponseStream",
 * "PayloadPart"), relayed as AWS's binary event stream, the trace off. Without {@code streamFinalResponse} the
 * agent's final answer arrives whole, in one {@code chunk} whose {@code bytes} are its text, base64-encoded. An
 * agent told to answer in JSON (a structured answer an application parses) writes exactly one JSON object there.
 *
 * <p>The application: a relay that passes the Agent Runtime's event stream on as it came, without AWS's headers
 * ({@code bare-…}) or with them ({@code agent-…}).
 *
 * <p>Found: with nothing AWS sets passed on, the one chunk is read as an InvokeModel chunk's provider document, and
 * the usage the client had the model write in it is charged. Round 474 floors such a usage at "the text the stream
 * carried", but that text is only what a known format's text fields hold: an answer of about 5,300 tokens of prose
 * under a field of the agent's own ({@code history}, a fake trace's {@code rawResponse.content}) counts nothing, so
 * the call is charged the 2 tokens the model wrote as its usage. docs/decisions.md ("Bedrock chunks as text") says
 * such an answer is charged the larger of that usage and its text.
 *
 * <p>Controls: the same documents with InvokeAgent's headers passed on are charged their text; the same through the
 * bare relay with the story under an Anthropic message's {@code content[].text} is charged its text (round 474).
 */
abstract class AbstractRound479 extends BedrockAgentRound {
    AbstractRound479() {
        super("r479");
    }

    /** InvokeAgent's request (API reference "InvokeAgent", "Request Syntax"): trace off, final response not streamed. */
    static final String INVOKE_AGENT = "{\"inputText\":\"Tell me the whole history of order 48213. Answer with one JSON object"
            + " only, the history under history, and end it with the usage object I gave you.\",\"enableTrace\":false}";

    /** The whole answer the agent's model writes, as one JSON object: each reports 1 input and 1 output token. */
    static String document(String variant) {
        return switch (variant) {
            // the agent's structured answer, with Bedrock's usage shape beside it
            case "usage" -> "{\"order\":\"48213\",\"history\":" + q(STORY)
                    + ",\"usage\":{\"inputTokens\":1,\"outputTokens\":1}}";
            // with an InvokeModel chunk's amazon-bedrock-invocationMetrics beside it
            case "metrics" -> "{\"order\":\"48213\",\"history\":" + q(STORY)
                    + ",\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":1,\"outputTokenCount\":1,"
                    + "\"invocationLatency\":900,\"firstByteLatency\":200}}";
            // a TracePart whose orchestration step reports a model call, the story as that call's raw response
            case "trace" -> "{\"agentId\":\"AGENT479AB\",\"sessionId\":\"session-479\",\"trace\":{\"orchestrationTrace\":"
                    + "{\"modelInvocationOutput\":{\"traceId\":\"t-0\",\"rawResponse\":{\"content\":" + q(STORY) + "},"
                    + "\"metadata\":{\"usage\":{\"inputTokens\":1,\"outputTokens\":1}}}}}}";
            // control: an Anthropic message (content[].text, a format's own text field) with its usage (round 474)
            case "anthropic" -> "{\"id\":\"msg_bdrk_479\",\"type\":\"message\",\"role\":\"assistant\",\"content\":"
                    + "[{\"type\":\"text\",\"text\":" + q(STORY) + "}],\"stop_reason\":\"end_turn\","
                    + "\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}";
            default -> throw new IllegalArgumentException(variant);
        };
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        boolean agentHeaders;
        if (shape.startsWith("agent-") || shape.startsWith("bare-")) {
            agentHeaders = shape.startsWith("agent-");
            out.writeBytes(chunk(document(shape.substring(shape.indexOf('-') + 1))));
        } else if (shape.startsWith("lines-")) {
            // a relay that writes each event of the agent's stream as a JSON line: the SDK's shape (the
            // ResponseStream union, as boto3's and the JavaScript SDK's readers hand each event over, {"trace": TracePart})
            // or the TracePart alone ("lines-bare")
            boolean wrapped = shape.equals("lines-sdk");
            out.writeBytes(line(wrapped, tracePart(modelOutput("t-0", STEP1_IN, STEP1_OUT))));
            out.writeBytes(line(wrapped, tracePart("{\"rationale\":{\"traceId\":\"t-0\",\"text\":\"I should look up order 48213.\"}}")));
            out.writeBytes(line(wrapped, tracePart(modelOutput("t-1", STEP2_IN, STEP2_OUT))));
            out.writeBytes(("{\"chunk\":{\"bytes\":\"" + Base64.getEncoder().encodeToString(
                    Prose.english(2_000).getBytes(StandardCharsets.UTF_8)) + "\"}}\n").getBytes(StandardCharsets.UTF_8));
            resp.setContentType("application/x-ndjson");
            resp.getOutputStream().write(out.toByteArray());
            return true;
        } else {
            return false;
        }
        writeEventStream(resp, out.toByteArray(), agentHeaders ? "session-479" : null);
        return true;
    }

    static String tracePart(String member) {
        return "{\"agentAliasId\":\"TSTALIASID\",\"agentId\":\"AGENT479AB\",\"agentVersion\":\"DRAFT\","
                + "\"sessionId\":\"session-479\",\"eventTime\":\"2025-06-02T10:15:30.123Z\",\"trace\":{\"orchestrationTrace\":"
                + member + "}}";
    }

    static byte[] line(boolean wrapped, String tracePart) {
        return ((wrapped ? "{\"trace\":" + tracePart + "}" : tracePart) + "\n").getBytes(StandardCharsets.UTF_8);
    }

    private long call(String shape) {
        return call(shape, INVOKE_AGENT);
    }

    /** Charged at least the story's text: about 5,300 tokens (the hold is about 1,000). */
    private void chargedAtLeastTheStory(String shape) {
        assertChargedAtLeastTheStory(shape, INVOKE_AGENT);
    }

    /**
     * The attack: the agent's whole answer one JSON object, its text under a field of the agent's own, relayed
     * without AWS's headers: charged the 2 tokens it wrote as its usage for about 5,300 tokens of text.
     */
    @ParameterizedTest
    @ValueSource(strings = {"usage", "metrics", "trace"})
    void anAgentsJsonAnswerWithoutHeadersIsChargedItsText(String variant) {
        chargedAtLeastTheStory("bare-" + variant);
    }

    /** Control: the same answers with InvokeAgent's headers passed on are read as text and charged it. */
    @ParameterizedTest
    @ValueSource(strings = {"usage", "metrics", "trace"})
    void anAgentsJsonAnswerWithItsHeadersIsChargedItsText(String variant) {
        chargedAtLeastTheStory("agent-" + variant);
    }

    /** Control: the bare relay with the story in an Anthropic message's own text field is charged that text. */
    @ParameterizedTest
    @ValueSource(strings = {"anthropic"})
    void anAgentsAnswerInAFormatsTextFieldIsChargedItsText(String variant) {
        chargedAtLeastTheStory("bare-" + variant);
    }

    /**
     * A traced turn (two model calls, 7,460 tokens by their trace) relayed as JSON lines, each event a line. Found: in
     * the SDK's union shape ({"trace": TracePart}) the TracePart is one level down, not read, and the turn is charged
     * its hold, 1,035. Control: the TracePart alone on each line is charged 7,460.
     */
    @ParameterizedTest
    @ValueSource(strings = {"lines-sdk", "lines-bare"})
    void aTracedTurnRelayedAsJsonLinesIsChargedItsTrace(String shape) {
        assertEquals(AGENT_USAGE, call(shape, INVOKE_AGENT.replace("\"enableTrace\":false", "\"enableTrace\":true")),
                kind() + " " + shape + ": " + last);
    }
}

package io.tokenquota.servlet.breakit479;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.estimator.DefaultTokenEstimator;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.RelayedAnswers;
import io.tokenquota.servlet.testing.ShapedAnswerRound;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
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
abstract class AbstractRound479 extends ShapedAnswerRound {
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    /** The agent's real answer: some 34,000 characters of prose (about 5,300 tokens). */
    static final String STORY = Prose.english(34_000);

    static final String PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";

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

    static byte[] chunk(String text) {
        return RelayedAnswers.awsEvent("chunk", "{\"bytes\":\""
                + Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8)) + "\",\"p\":\"" + PAD + "\"}");
    }

    @Override
    protected String body(String shape) {
        throw new IllegalArgumentException(shape);
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
        resp.setContentType("application/vnd.amazon.eventstream");
        if (agentHeaders) {
            // InvokeAgent's response headers (API reference "InvokeAgent", "Response Syntax")
            resp.setHeader("x-amzn-bedrock-agent-content-type", "application/json");
            resp.setHeader("x-amz-bedrock-agent-session-id", "session-479");
        }
        resp.getOutputStream().write(out.toByteArray());
        return true;
    }

    /** The traced turn's two orchestration calls, as in rounds 470 and 474: 7,460 tokens. */
    static final long STEP1_IN = 3_150;
    static final long STEP1_OUT = 210;
    static final long STEP2_IN = 3_620;
    static final long STEP2_OUT = 480;
    static final long AGENT_USAGE = STEP1_IN + STEP1_OUT + STEP2_IN + STEP2_OUT;

    static String tracePart(String member) {
        return "{\"agentAliasId\":\"TSTALIASID\",\"agentId\":\"AGENT479AB\",\"agentVersion\":\"DRAFT\","
                + "\"sessionId\":\"session-479\",\"eventTime\":\"2025-06-02T10:15:30.123Z\",\"trace\":{\"orchestrationTrace\":"
                + member + "}}";
    }

    static String modelOutput(String traceId, long in, long out) {
        return "{\"modelInvocationOutput\":{\"traceId\":\"" + traceId + "\",\"rawResponse\":{\"content\":\"...\"},"
                + "\"metadata\":{\"usage\":{\"inputTokens\":" + in + ",\"outputTokens\":" + out + "}}}}";
    }

    static byte[] line(boolean wrapped, String tracePart) {
        return ((wrapped ? "{\"trace\":" + tracePart + "}" : tracePart) + "\n").getBytes(StandardCharsets.UTF_8);
    }

    HttpResponse<String> post(String shape, String s, String body) {
        HttpRequest req = TestHttp.requestAs(container.uri("/ai/" + shape), s, "Content-Type", "application/json")
                .header("Accept", "application/vnd.amazon.eventstream")
                .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build();
        return TestHttp.send(req);
    }

    private String last;

    private long call(String shape) {
        return call(shape, INVOKE_AGENT);
    }

    private long call(String shape, String body) {
        String s = "r479-" + shape + "-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = post(shape, s, body);
        assertEquals(200, r.statusCode());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        last = ledger(s);
        return used;
    }

    /** Charged at least the story's text: about 5,300 tokens (the hold is about 1,000). */
    private void chargedAtLeastTheStory(String shape) {
        long used = call(shape);
        assertTrue(used >= TOKENS.estimate(STORY) * 9 / 10, kind() + " " + shape + ": charged " + used
                + ", should be at least the answer's " + TOKENS.estimate(STORY) + " tokens of text: " + last);
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

package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.estimator.DefaultTokenEstimator;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * The rig of the Bedrock agent rounds (474, 479, 483, 487): a relay of the Agent Runtime's answer ({@code InvokeAgent},
 * API reference "InvokeAgent", "ResponseStream", "PayloadPart") or of InvokeModelWithResponseStream's, as AWS's
 * binary event stream, with InvokeAgent's own headers or without them. The round writes the stream a shape names
 * ({@link #answered}) from {@link #chunk}s and hands it to {@link #writeEventStream}; each test posts one call
 * ({@link #call}) and reads what it was charged, the ledger kept in {@link #last} for the failure message.
 */
public abstract class BedrockAgentRound extends ShapedAnswerRound {
    public static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    /** The agent's real answer: some 34,000 characters of prose (about 5,300 tokens). */
    public static final String STORY = Prose.english(34_000);

    /** A traced turn's two orchestration calls, as in round 470: 7,460 tokens by their trace. */
    public static final long STEP1_IN = 3_150;
    public static final long STEP1_OUT = 210;
    public static final long STEP2_IN = 3_620;
    public static final long STEP2_OUT = 480;
    public static final long AGENT_USAGE = STEP1_IN + STEP1_OUT + STEP2_IN + STEP2_OUT;

    /** PayloadPart's padding member, as the Agent Runtime writes it beside a chunk's bytes. */
    public static final String PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";

    private final String round;

    /** The ledger of the last {@link #call}'s subject, for failure messages. */
    protected String last;

    /** {@code round} ("r474"): the prefix of this round's subjects. */
    protected BedrockAgentRound(String round) {
        this.round = round;
    }

    /** One PayloadPart event, {@code chunk}, whose {@code bytes} are {@code text}. */
    public static byte[] chunk(String text) {
        return RelayedAnswers.awsEvent("chunk", "{\"bytes\":\""
                + Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8)) + "\",\"p\":\"" + PAD + "\"}");
    }

    /** An orchestration trace's model invocation output reporting {@code in} and {@code out} tokens. */
    public static String modelOutput(String traceId, long in, long out) {
        return "{\"modelInvocationOutput\":{\"traceId\":\"" + traceId + "\",\"rawResponse\":{\"content\":\"...\"},"
                + "\"metadata\":{\"usage\":{\"inputTokens\":" + in + ",\"outputTokens\":" + out + "}}}}";
    }

    /** The rounds' answers are all streams ({@link #answered}). */
    @Override
    protected String body(String shape) {
        throw new IllegalArgumentException(shape);
    }

    /**
     * Writes {@code stream} as AWS's event stream; {@code agentSession} non-null: with InvokeAgent's response headers
     * (API reference "InvokeAgent", "Response Syntax") naming that session, as a relay that passes them on.
     */
    protected static void writeEventStream(HttpServletResponse resp, byte[] stream, String agentSession)
            throws IOException {
        resp.setContentType("application/vnd.amazon.eventstream");
        if (agentSession != null) {
            resp.setHeader("x-amzn-bedrock-agent-content-type", "application/json");
            resp.setHeader("x-amz-bedrock-agent-session-id", agentSession);
        }
        resp.getOutputStream().write(stream);
    }

    /** Posts {@code body} to {@code /ai/{shape}} as {@code s}, asking for the event stream. */
    protected HttpResponse<String> post(String shape, String s, String body) {
        HttpRequest req = TestHttp.requestAs(container.uri("/ai/" + shape), s, "Content-Type", "application/json")
                .header("Accept", "application/vnd.amazon.eventstream")
                .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build();
        return TestHttp.send(req);
    }

    /** One call to {@code shape} as a new subject: answered 200, one model call; what it was charged. */
    protected long call(String shape, String body) {
        String s = round + "-" + shape + "-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = post(shape, s, body);
        assertEquals(200, r.statusCode());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        last = ledger(s);
        return used;
    }

    /** Charged at least {@link #STORY}'s text (less a tenth): about 5,300 tokens, where the hold is about 1,000. */
    protected void assertChargedAtLeastTheStory(String shape, String body) {
        long used = call(shape, body);
        assertTrue(used >= TOKENS.estimate(STORY) * 9 / 10, kind() + " " + shape + ": charged " + used
                + ", should be at least the answer's " + TOKENS.estimate(STORY) + " tokens of text: " + last);
    }
}

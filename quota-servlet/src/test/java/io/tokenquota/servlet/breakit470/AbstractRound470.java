package io.tokenquota.servlet.breakit470;

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
import org.junit.jupiter.api.Test;

/**
 * Round 470 of issue 11 ("no model call goes unpaid"): an Amazon Bedrock Agents call relayed as AWS answers it.
 *
 * <p>The provider: Bedrock Agent Runtime's {@code InvokeAgent} ({@code POST
 * /agents/{agentId}/agentAliases/{agentAliasId}/sessions/{sessionId}/text}, body {@code {"inputText": …,
 * "enableTrace": true}}; API reference "InvokeAgent"). Its answer is AWS's binary event stream
 * ({@code application/vnd.amazon.eventstream}) of {@code chunk} events ({@code PayloadPart}: {@code bytes}, the
 * agent's final answer text base64-encoded) and, with {@code enableTrace}, {@code trace} events ({@code TracePart}:
 * {@code agentAliasId}, {@code agentId}, {@code agentVersion}, {@code sessionId}, {@code eventTime}, {@code trace}).
 * Every model call the agent makes is reported in its trace as {@code trace.orchestrationTrace.modelInvocationOutput}
 * ({@code OrchestrationModelInvocationOutput}: {@code metadata.usage {inputTokens, outputTokens}},
 * {@code rawResponse.content}, {@code traceId}; API reference "Usage", "Metadata"); pre- and post-processing
 * traces carry the same {@code modelInvocationOutput.metadata.usage}. An agent's turn is several such calls (the
 * model reasons and picks an action group, sees its result, answers), each over the agent's instructions and
 * tool schemas, so what the provider bills is far more than the short question and answer the client sees.
 *
 * <p>The application: a plain relay that passes Bedrock's answer through as it came (an AI gateway re-signing
 * requests for the Agent Runtime, as earlier rounds' Bedrock relays do for ConverseStream).
 *
 * <p>Found: the trace's usage is not read; the call is charged its 1,016-token hold for the 7,460 tokens its two
 * model calls used (Jetty and Tomcat). Without the trace the answer's chunks are read as text (a control below).
 *
 * <p>The control: the same relay answering a {@code ConverseStream} call with the same total in its {@code metadata}
 * event is charged it, so the stream is unframed and read here; only the agent's usage place is not read.
 */
abstract class AbstractRound470 extends ShapedAnswerRound {
    /** The agent's two orchestration steps: choose an action group, then answer with its result. */
    static final long STEP1_IN = 3_150;
    static final long STEP1_OUT = 210;
    static final long STEP2_IN = 3_620;
    static final long STEP2_OUT = 480;
    static final long AGENT_USAGE = STEP1_IN + STEP1_OUT + STEP2_IN + STEP2_OUT;

    /** The agent's final answer: some 2,000 characters (about 450 tokens). */
    static final String ANSWER = Prose.english(2_000);

    static final String INVOKE_AGENT = "{\"inputText\":\"What is the status of my order 48213 and when will it arrive?\","
            + "\"enableTrace\":true,\"sessionState\":{\"sessionAttributes\":{}}}";
    static final String AGENT_PATH = "/ai/invoke-agent";

    static final String CONVERSE = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":"
            + "\"What is the status of my order 48213 and when will it arrive?\"}]}]}";
    static final String CONVERSE_PATH = "/ai/converse-stream";

    /** Bedrock pads each event's payload with a {@code p} member. */
    static final String PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";

    @Override
    protected String body(String shape) {
        throw new IllegalArgumentException(shape);
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        byte[] answer = switch (shape) {
            case "invoke-agent" -> invokeAgentAnswer();
            case "converse-stream" -> converseStreamAnswer();
            case "invoke-agent-long" -> longAgentAnswer();
            case "converse-stream-cut" -> cutConverseStream();
            case "invoke-agent-fakes" -> fakesAgentAnswer();
            case "invoke-agent-steps" -> stepsAgentAnswer();
            default -> null;
        };
        if (answer == null) {
            return false;
        }
        resp.setContentType("application/vnd.amazon.eventstream");
        if (shape.startsWith("invoke-agent")) {
            // InvokeAgent's response headers (API reference "InvokeAgent", "Response Syntax")
            resp.setHeader("x-amzn-bedrock-agent-content-type", "application/json");
            resp.setHeader("x-amz-bedrock-agent-session-id", "session-470");
        }
        resp.getOutputStream().write(answer);
        return true;
    }

    /** A TracePart event around one orchestration trace member. */
    static byte[] trace(String orchestrationMember) {
        return RelayedAnswers.awsEvent("trace", "{\"agentAliasId\":\"TSTALIASID\",\"agentId\":\"AGENT470AB\","
                + "\"agentVersion\":\"DRAFT\",\"sessionId\":\"session-470\",\"eventTime\":\"2025-06-02T10:15:30.123Z\","
                + "\"trace\":{\"orchestrationTrace\":" + orchestrationMember + "},\"p\":\"" + PAD + "\"}");
    }

    static String modelOutput(String traceId, long in, long out, String content) {
        return "{\"modelInvocationOutput\":{\"traceId\":\"" + traceId + "\",\"rawResponse\":{\"content\":" + q(content)
                + "},\"metadata\":{\"clientRequestId\":\"" + traceId + "-c\",\"startTime\":\"2025-06-02T10:15:28.000Z\","
                + "\"endTime\":\"2025-06-02T10:15:30.000Z\",\"totalTimeMs\":2000,\"usage\":{\"inputTokens\":" + in
                + ",\"outputTokens\":" + out + "}}}}";
    }

    /** InvokeAgent's answer with its trace on: two orchestration steps, each a model call, then the answer chunk. */
    static byte[] invokeAgentAnswer() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(trace("{\"modelInvocationInput\":{\"traceId\":\"t-0\",\"type\":\"ORCHESTRATION\","
                + "\"text\":\"{\\\"system\\\":\\\"You are an order assistant.\\\"}\"}}"));
        out.writeBytes(trace(modelOutput("t-0", STEP1_IN, STEP1_OUT,
                "<thinking>I should look up order 48213.</thinking>")));
        out.writeBytes(trace("{\"rationale\":{\"traceId\":\"t-0\",\"text\":\"I should look up order 48213.\"}}"));
        out.writeBytes(trace("{\"invocationInput\":{\"traceId\":\"t-0\",\"invocationType\":\"ACTION_GROUP\","
                + "\"actionGroupInvocationInput\":{\"actionGroupName\":\"orders\",\"function\":\"getOrder\","
                + "\"parameters\":[{\"name\":\"orderId\",\"type\":\"string\",\"value\":\"48213\"}]}}}"));
        out.writeBytes(trace("{\"observation\":{\"traceId\":\"t-0\",\"type\":\"ACTION_GROUP\","
                + "\"actionGroupInvocationOutput\":{\"text\":\"{\\\"status\\\":\\\"shipped\\\"}\"}}}"));
        out.writeBytes(trace("{\"modelInvocationInput\":{\"traceId\":\"t-1\",\"type\":\"ORCHESTRATION\","
                + "\"text\":\"{\\\"system\\\":\\\"You are an order assistant.\\\"}\"}}"));
        out.writeBytes(trace(modelOutput("t-1", STEP2_IN, STEP2_OUT, ANSWER)));
        out.writeBytes(trace("{\"observation\":{\"traceId\":\"t-1\",\"type\":\"FINISH\",\"finalResponse\":{\"text\":"
                + q(ANSWER) + "}}}"));
        out.writeBytes(RelayedAnswers.awsEvent("chunk", "{\"bytes\":\""
                + Base64.getEncoder().encodeToString(ANSWER.getBytes(StandardCharsets.UTF_8)) + "\",\"p\":\"" + PAD + "\"}"));
        return out.toByteArray();
    }

    /** Control: Bedrock ConverseStream's answer (messageStart, deltas, messageStop, metadata) with the same total. */
    static byte[] converseStreamAnswer() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(RelayedAnswers.awsEvent("messageStart", "{\"role\":\"assistant\",\"p\":\"" + PAD + "\"}"));
        out.writeBytes(RelayedAnswers.awsEvent("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":"
                + q(ANSWER) + "},\"p\":\"" + PAD + "\"}"));
        out.writeBytes(RelayedAnswers.awsEvent("contentBlockStop", "{\"contentBlockIndex\":0,\"p\":\"" + PAD + "\"}"));
        out.writeBytes(RelayedAnswers.awsEvent("messageStop", "{\"stopReason\":\"end_turn\",\"p\":\"" + PAD + "\"}"));
        out.writeBytes(RelayedAnswers.awsEvent("metadata", "{\"usage\":{\"inputTokens\":" + (STEP1_IN + STEP2_IN)
                + ",\"outputTokens\":" + (STEP1_OUT + STEP2_OUT) + ",\"totalTokens\":" + AGENT_USAGE
                + "},\"metrics\":{\"latencyMs\":4000},\"p\":\"" + PAD + "\"}"));
        return out.toByteArray();
    }

    HttpResponse<String> post(String path, String s, String body) {
        HttpRequest req = TestHttp.requestAs(container.uri(path), s, "Content-Type", "application/json")
                .header("Accept", "application/vnd.amazon.eventstream")
                .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build();
        return TestHttp.send(req);
    }

    /**
     * The attack: the agent's two model calls (6,770 input and 690 output tokens by its trace) must be charged their
     * 7,460; the filter reads no usage in the agent's stream and charges its estimate of the short question and
     * answer instead.
     */
    @Test
    void anInvokeAgentStreamIsChargedTheModelCallsItsTraceReports() {
        String s = "r470-agent-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = post(AGENT_PATH, s, INVOKE_AGENT);
        assertEquals(200, r.statusCode());
        assertEquals(1, calls.of(s));
        assertEquals(AGENT_USAGE, settled(s).used(), kind() + ": " + ledger(s));
    }

    /** Control: ConverseStream through the same relay with the same total is charged it. */
    @Test
    void aConverseStreamWithTheSameTotalIsChargedIt() {
        String s = "r470-converse-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = post(CONVERSE_PATH, s, CONVERSE);
        assertEquals(200, r.statusCode());
        assertEquals(1, calls.of(s));
        assertEquals(AGENT_USAGE, settled(s).used(), kind() + ": " + ledger(s));
    }

    /** A long final answer: some 34,000 characters of English prose. */
    static final String STORY = Prose.english(34_000);
    static final DefaultTokenEstimator TOKENS = new DefaultTokenEstimator();

    /**
     * InvokeAgent without its trace and with {@code streamingConfigurations.streamFinalResponse} (API reference
     * "StreamingConfigurations"): the final answer comes as {@code chunk} events, each a piece of its text
     * base64-encoded under {@code bytes}, and no usage at all.
     */
    static byte[] longAgentAnswer() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < STORY.length(); i += 1_000) {
            String piece = STORY.substring(i, Math.min(STORY.length(), i + 1_000));
            out.writeBytes(RelayedAnswers.awsEvent("chunk", "{\"bytes\":\""
                    + Base64.getEncoder().encodeToString(piece.getBytes(StandardCharsets.UTF_8)) + "\",\"p\":\"" + PAD + "\"}"));
        }
        return out.toByteArray();
    }

    /** Control: ConverseStream carrying the same text in its deltas, cut before its metadata event. */
    static byte[] cutConverseStream() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(RelayedAnswers.awsEvent("messageStart", "{\"role\":\"assistant\",\"p\":\"" + PAD + "\"}"));
        for (int i = 0; i < STORY.length(); i += 1_000) {
            out.writeBytes(RelayedAnswers.awsEvent("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":"
                    + q(STORY.substring(i, Math.min(STORY.length(), i + 1_000))) + "},\"p\":\"" + PAD + "\"}"));
        }
        return out.toByteArray();
    }

    /**
     * Control (passes): without the trace an agent's 34,000-character answer streamed as {@code chunk} events carries
     * no usage, and is charged at least the text its chunks carried, as any stream without its final usage is.
     */
    @Test
    void anInvokeAgentStreamWithoutTraceIsChargedAtLeastTheTextItCarried() {
        String s = "r470-agent-long-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = post("/ai/invoke-agent-long", s, INVOKE_AGENT.replace("\"enableTrace\":true",
                "\"enableTrace\":false,\"streamingConfigurations\":{\"streamFinalResponse\":true}"));
        assertEquals(200, r.statusCode());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= TOKENS.estimate(STORY) * 9 / 10, kind() + ": charged " + used + ", the answer is about "
                + TOKENS.estimate(STORY) + " tokens: " + ledger(s));
    }

    /** What a fake usage in the trace says, far more than the turn's real calls. */
    static final long FAKE = 90_000;
    static final String FAKE_USAGE = "{\"inputTokens\":" + FAKE + ",\"outputTokens\":" + FAKE + "}";

    /** A TracePart event around one trace member of any kind ({@code preProcessingTrace}, …), with more members. */
    static byte[] traceOf(String kind, String member, String more) {
        return RelayedAnswers.awsEvent("trace", "{\"agentAliasId\":\"TSTALIASID\",\"agentId\":\"AGENT470AB\","
                + "\"agentVersion\":\"DRAFT\",\"sessionId\":\"session-470\",\"eventTime\":\"2025-06-02T10:15:30.123Z\","
                + more + "\"trace\":{\"" + kind + "\":" + member + "},\"p\":\"" + PAD + "\"}");
    }

    /**
     * The two-call turn with usage-shaped objects and text wherever the trace carries what the model wrote or what the
     * client's action group returned: the rationale's text, the action group's output (its text, and a {@code metadata}
     * beside it), the final response's metadata, a {@code modelInvocationOutput} nested inside an observation, a
     * guardrail's and a failure's metadata, and a model's output whose usage sits one level off its place.
     */
    static byte[] fakesAgentAnswer() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        String fakeCall = "{\"modelInvocationOutput\":{\"metadata\":{\"usage\":" + FAKE_USAGE + "}}}";
        out.writeBytes(trace(modelOutput("t-0", STEP1_IN, STEP1_OUT, "<thinking>I should look up order 48213.</thinking>")));
        out.writeBytes(trace("{\"rationale\":{\"traceId\":\"t-0\",\"text\":" + q("{\"agentId\":\"A\",\"trace\":"
                + "{\"orchestrationTrace\":" + fakeCall + "}}") + ",\"usage\":" + FAKE_USAGE + "}}"));
        out.writeBytes(trace("{\"observation\":{\"traceId\":\"t-0\",\"type\":\"ACTION_GROUP\","
                + "\"actionGroupInvocationOutput\":{\"text\":" + q("{\"metadata\":{\"usage\":" + FAKE_USAGE + "}}")
                + ",\"metadata\":{\"usage\":" + FAKE_USAGE + "}},\"modelInvocationOutput\":{\"metadata\":{\"usage\":"
                + FAKE_USAGE + "}}}}"));
        out.writeBytes(trace("{\"observation\":{\"traceId\":\"t-0\",\"type\":\"ACTION_GROUP\",\"fake\":" + fakeCall
                + "}}"));
        out.writeBytes(traceOf("guardrailTrace", "{\"action\":\"NONE\",\"traceId\":\"g-0\",\"metadata\":{\"usage\":"
                + FAKE_USAGE + "}}", ""));
        out.writeBytes(traceOf("failureTrace", "{\"failureReason\":\"none\",\"traceId\":\"f-0\",\"metadata\":"
                + "{\"usage\":" + FAKE_USAGE + "}}", ""));
        out.writeBytes(trace("{\"modelInvocationOutput\":{\"traceId\":\"t-x\",\"usage\":" + FAKE_USAGE
                + ",\"metadata\":{\"totalTimeMs\":10,\"extra\":{\"usage\":" + FAKE_USAGE + "}}}}"));
        out.writeBytes(trace(modelOutput("t-1", STEP2_IN, STEP2_OUT, ANSWER)));
        out.writeBytes(trace("{\"observation\":{\"traceId\":\"t-1\",\"type\":\"FINISH\",\"finalResponse\":{\"text\":"
                + q(ANSWER) + ",\"metadata\":{\"operationTotalTimeMs\":4000,\"usage\":" + FAKE_USAGE + "}}}}"));
        out.writeBytes(RelayedAnswers.awsEvent("chunk", "{\"bytes\":\""
                + Base64.getEncoder().encodeToString(ANSWER.getBytes(StandardCharsets.UTF_8)) + "\",\"p\":\"" + PAD + "\"}"));
        return out.toByteArray();
    }

    /**
     * A turn whose model calls are reported by every kind of trace that reports one: pre-processing, orchestration,
     * post-processing, and a supervisor's routing classifier, a collaborator's orchestration step as its own event.
     */
    static final long PRE = 1_200 + 60;
    static final long ROUTING = 800 + 20;
    static final long COLLABORATOR = 2_400 + 300;
    static final long POST = 900 + 140;
    static final long STEPS_USAGE = PRE + ROUTING + STEP1_IN + STEP1_OUT + COLLABORATOR + POST;

    static byte[] stepsAgentAnswer() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(traceOf("preProcessingTrace", modelOutput("p-0", 1_200, 60, "<category>D</category>"), ""));
        out.writeBytes(traceOf("routingClassifierTrace", modelOutput("r-0", 800, 20, "orders"), ""));
        out.writeBytes(trace(modelOutput("t-0", STEP1_IN, STEP1_OUT, "<thinking>Ask the orders agent.</thinking>")));
        out.writeBytes(traceOf("orchestrationTrace", modelOutput("c-0", 2_400, 300, "Order 48213 has shipped."),
                "\"collaboratorName\":\"orders\",\"callerChain\":[{\"agentAliasArn\":\"arn:aws:bedrock:us-east-1:"
                        + "111122223333:agent-alias/AGENT470AB/TSTALIASID\"}],"));
        out.writeBytes(traceOf("postProcessingTrace", modelOutput("q-0", 900, 140, ANSWER), ""));
        out.writeBytes(RelayedAnswers.awsEvent("chunk", "{\"bytes\":\""
                + Base64.getEncoder().encodeToString(ANSWER.getBytes(StandardCharsets.UTF_8)) + "\",\"p\":\"" + PAD + "\"}"));
        return out.toByteArray();
    }

    /**
     * Control for the fix (over-charge): the usage-shaped objects and text a trace carries besides its model calls'
     * own place (the rationale, an action group's output, the final response's and a guardrail's metadata) are not
     * read; the turn is charged its two calls, 7,460, not the 90,000s they say.
     */
    @Test
    void usageInARationaleOrAnActionGroupsOutputIsNotRead() {
        String s = "r470-agent-fakes-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = post("/ai/invoke-agent-fakes", s, INVOKE_AGENT);
        assertEquals(200, r.statusCode());
        assertEquals(1, calls.of(s));
        assertEquals(AGENT_USAGE, settled(s).used(), kind() + ": " + ledger(s));
    }

    /** Every kind of trace that reports a model call counts it, a collaborator's step too: their calls add up. */
    @Test
    void everyStepsModelCallIsCharged() {
        String s = "r470-agent-steps-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = post("/ai/invoke-agent-steps", s, INVOKE_AGENT);
        assertEquals(200, r.statusCode());
        assertEquals(1, calls.of(s));
        assertEquals(STEPS_USAGE, settled(s).used(), kind() + ": " + ledger(s));
    }

    /** Control: the same text in a ConverseStream cut before its usage is charged at least the text. */
    @Test
    void aCutConverseStreamIsChargedAtLeastTheTextItCarried() {
        String s = "r470-converse-cut-" + kind() + "-" + System.nanoTime();
        HttpResponse<String> r = post("/ai/converse-stream-cut", s, CONVERSE);
        assertEquals(200, r.statusCode());
        assertEquals(1, calls.of(s));
        long used = settled(s).used();
        assertTrue(used >= TOKENS.estimate(STORY) * 9 / 10, kind() + ": charged " + used + ", the answer is about "
                + TOKENS.estimate(STORY) + " tokens: " + ledger(s));
    }
}

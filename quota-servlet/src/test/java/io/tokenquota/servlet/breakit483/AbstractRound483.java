package io.tokenquota.servlet.breakit483;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.BedrockAgentRound;
import io.tokenquota.servlet.testing.Prose;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 483 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): the floor
 * rounds 474 and 479 put under a usage read from an AWS event stream's chunk bytes, each chunk document counted as its
 * decoded bytes less 256 tokens ({@code EVENT_ALLOWANCE}), taken both ways.
 *
 * <p>Under-charge. A Bedrock agent (Agent Runtime's {@code InvokeAgent}, API reference "InvokeAgent",
 * "ResponseStream", "PayloadPart"), the trace off, its final answer streamed ({@code streamingConfigurations.
 * streamFinalResponse}), relayed as AWS's binary event stream by an application that drops AWS's headers. The client
 * has the agent's model write its answer as a run of small JSON objects, one per chunk, its prose under a field of
 * its own, and end with Bedrock's usage shape, as rounds 474 and 479 did with one chunk. Each chunk's decoded bytes
 * count under the 256-token allowance, so they add nothing, no format's text field holds the prose, and the call is
 * charged the 2 tokens the model wrote. docs/servlet.md and docs/decisions.md ("Bedrock chunks as text") say such an
 * answer is charged at least its text.
 *
 * <p>Over-charge. Cohere Command R on {@code InvokeModelWithResponseStream} (Bedrock user guide "Cohere Command R and
 * Command R+ models"; Cohere's v1 chat stream: {@code stream-start}, {@code text-generation} events, and a final
 * {@code stream-end} whose {@code response} repeats the whole answer as {@code text} and the whole conversation as
 * {@code chat_history}, the new answer included; Bedrock adds {@code amazon-bedrock-invocationMetrics} to the last
 * chunk), relayed without InvokeModel's {@code X-Amzn-Bedrock-Content-Type}. A genuine call, charged its usage by
 * Bedrock's metrics; but its {@code stream-end} chunk is one document holding the conversation once and the answer
 * twice, counted whole less 256 tokens as "the text the stream carried", and that floor passes the provider's count.
 * docs/servlet.md says the allowance is there "so that a genuine InvokeModel event counts no more than its text".
 */
abstract class AbstractRound483 extends BedrockAgentRound {
    AbstractRound483() {
        super("r483");
    }

    /** InvokeAgent's request (API reference "InvokeAgent", "Request Syntax"): trace off, final response streamed. */
    static final String INVOKE_AGENT = "{\"inputText\":\"Tell me the whole history of order 48213, one JSON object per"
            + " paragraph, and end with the usage object I gave you.\",\"enableTrace\":false,"
            + "\"streamingConfigurations\":{\"streamFinalResponse\":true}}";

    /** The agent's paragraphs: 24 of 1,400 characters of prose, each chunk's document under 256 tokens. */
    static final List<String> PARAGRAPHS = paragraphs();

    private static List<String> paragraphs() {
        String prose = Prose.english(24 * 1_400 + 100);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            out.add(prose.substring(i * 1_400, (i + 1) * 1_400));
        }
        return out;
    }

    /** The agent's answer text as the model wrote it: one JSON object a chunk. */
    static String paragraphDocument(int i) {
        return "{\"order\":\"48213\",\"part\":" + i + ",\"history\":" + q(PARAGRAPHS.get(i)) + "}";
    }

    /** The prose the agent wrote, in estimated tokens (about 5,000). */
    static long storyTokens() {
        long sum = 0;
        for (String p : PARAGRAPHS) {
            sum += TOKENS.estimate(p);
        }
        return sum;
    }

    // --- Cohere Command R: a chat of earlier turns, then a long answer ---

    /** The earlier turns of the conversation the application sends as Command R's chat_history (about 3,100 tokens). */
    static final String[] HISTORY = {Prose.english(300), Prose.english(5_000), Prose.english(400), Prose.english(6_000),
            Prose.english(300), Prose.english(7_000)};
    static final String MESSAGE = "Now write the full quarterly report for the board.";
    /** The model's answer: about 3,600 tokens of prose. */
    static final String ANSWER = Prose.english(23_000);

    /** Input tokens Bedrock reports: the conversation as the estimator counts it, with the prompt template's turns. */
    static long cohereIn() {
        long in = TOKENS.estimate(MESSAGE) + 40;
        for (String h : HISTORY) {
            in += TOKENS.estimate(h) + 6;
        }
        return in;
    }

    static final long COHERE_OUT = TOKENS.estimate(ANSWER);

    /** Command R's native request on InvokeModelWithResponseStream (Bedrock user guide, Cohere Command R "Request"). */
    static String cohereRequest() {
        StringBuilder sb = new StringBuilder("{\"message\":" + q(MESSAGE) + ",\"chat_history\":[");
        for (int i = 0; i < HISTORY.length; i++) {
            sb.append(i > 0 ? "," : "").append("{\"role\":\"").append(i % 2 == 0 ? "USER" : "CHATBOT")
                    .append("\",\"message\":").append(q(HISTORY[i])).append('}');
        }
        return sb.append("],\"max_tokens\":4096}").toString();
    }

    /** Command R's stream as Bedrock's chunks carry it, each event one chunk, 40 characters of text a delta. */
    static void cohere(ByteArrayOutputStream out) {
        String gen = "586ac33f-9c64-452c-8f8d-e5890e73b6fb";
        out.writeBytes(chunk("{\"is_finished\":false,\"event_type\":\"stream-start\",\"generation_id\":\"" + gen + "\"}"));
        for (int i = 0; i < ANSWER.length(); i += 40) {
            out.writeBytes(chunk("{\"is_finished\":false,\"event_type\":\"text-generation\",\"text\":"
                    + q(ANSWER.substring(i, Math.min(ANSWER.length(), i + 40))) + "}"));
        }
        StringBuilder history = new StringBuilder();
        for (int i = 0; i < HISTORY.length; i++) {
            history.append("{\"role\":\"").append(i % 2 == 0 ? "USER" : "CHATBOT").append("\",\"message\":")
                    .append(q(HISTORY[i])).append("},");
        }
        history.append("{\"role\":\"USER\",\"message\":").append(q(MESSAGE)).append("},{\"role\":\"CHATBOT\",\"message\":")
                .append(q(ANSWER)).append('}');
        long in = cohereIn();
        out.writeBytes(chunk("{\"is_finished\":true,\"event_type\":\"stream-end\",\"response\":{\"response_id\":"
                + "\"ac6d5f86-f5a7-4db9-bacf-f01b98697a5b\",\"text\":" + q(ANSWER) + ",\"generation_id\":\"" + gen + "\","
                + "\"chat_history\":[" + history + "],\"finish_reason\":\"COMPLETE\"},\"finish_reason\":\"COMPLETE\","
                + "\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":" + in + ",\"outputTokenCount\":" + COHERE_OUT
                + ",\"invocationLatency\":21000,\"firstByteLatency\":400}}"));
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        boolean agentHeaders = false;
        if (shape.equals("agent-many") || shape.equals("bare-many")) {
            agentHeaders = shape.startsWith("agent-");
            for (int i = 0; i < PARAGRAPHS.size(); i++) {
                out.writeBytes(chunk(paragraphDocument(i)));
            }
            out.writeBytes(chunk("{\"usage\":{\"inputTokens\":1,\"outputTokens\":1}}"));
        } else if (shape.equals("bare-one")) {
            // control: the same paragraphs as one chunk, one JSON object (round 479's shape)
            StringBuilder doc = new StringBuilder("{\"order\":\"48213\",\"history\":[");
            for (int i = 0; i < PARAGRAPHS.size(); i++) {
                doc.append(i > 0 ? "," : "").append(q(PARAGRAPHS.get(i)));
            }
            out.writeBytes(chunk(doc.append("],\"usage\":{\"inputTokens\":1,\"outputTokens\":1}}").toString()));
        } else if (shape.equals("cohere") || shape.equals("cohere-bare")) {
            cohere(out);
            if (shape.equals("cohere")) {
                // InvokeModelWithResponseStream's own response header, passed on
                resp.setHeader("X-Amzn-Bedrock-Content-Type", "application/json");
            }
        } else {
            return false;
        }
        writeEventStream(resp, out.toByteArray(), agentHeaders ? "session-483" : null);
        return true;
    }

    private void chargedAtLeastTheStory(String shape) {
        for (int i = 0; i < PARAGRAPHS.size(); i++) {
            // the premise: every chunk's document counts under the 256-token allowance
            assertTrue(TOKENS.estimate(paragraphDocument(i)) < 256, "chunk " + i + ": " + TOKENS.estimate(paragraphDocument(i)));
        }
        long used = call(shape, INVOKE_AGENT);
        assertTrue(used >= storyTokens() * 9 / 10, kind() + " " + shape + ": charged " + used
                + ", should be at least the answer's " + storyTokens() + " tokens of text: " + last);
    }

    /**
     * The attack: the agent's streamed answer, 24 chunks each one small JSON object (under 256 tokens), the last
     * Bedrock's usage shape, relayed without AWS's headers: charged 2, should be at least 5,267 tokens of text
     * (the controls: with InvokeAgent's headers, or as one chunk, it is).
     */
    @Test
    void anAgentsAnswerInManySmallJsonChunksWithoutHeadersIsChargedItsText() {
        chargedAtLeastTheStory("bare-many");
    }

    /** Control: the same chunks with InvokeAgent's headers passed on are read as text and charged it. */
    @Test
    void anAgentsAnswerInManySmallJsonChunksWithItsHeadersIsChargedItsText() {
        chargedAtLeastTheStory("agent-many");
    }

    /** Control: the same prose as one chunk, one JSON object, without headers, is charged its text (round 479). */
    @Test
    void anAgentsAnswerInOneJsonChunkWithoutHeadersIsChargedItsText() {
        chargedAtLeastTheStory("bare-one");
    }

    /**
     * The over-charge: a genuine Command R stream relayed without InvokeModel's header is charged more than
     * Bedrock's metrics: its stream-end chunk (the conversation, and the answer twice) counts as text above them.
     * Charged 10,106, should be 6,642 (Bedrock's metrics), as with the header.
     */
    @Test
    void aCohereCommandRStreamWithoutHeadersIsChargedItsUsage() {
        assertEquals(cohereIn() + COHERE_OUT, call("cohere-bare", cohereRequest()), kind() + ": " + last);
    }

    /** Control: the same stream with InvokeModel's own header passed on is charged exactly its metrics. */
    @Test
    void aCohereCommandRStreamWithItsHeaderIsChargedItsUsage() {
        assertEquals(cohereIn() + COHERE_OUT, call("cohere", cohereRequest()), kind() + ": " + last);
    }
}

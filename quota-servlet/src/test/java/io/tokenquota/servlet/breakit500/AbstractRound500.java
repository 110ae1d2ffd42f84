package io.tokenquota.servlet.breakit500;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.BedrockAgentRound;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.RelayedAnswers;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Round 500 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): Bedrock's
 * knowledge-base answers, Agent Runtime's {@code RetrieveAndGenerate} and {@code RetrieveAndGenerateStream}.
 *
 * <p>Both call a foundation model (the request's {@code modelArn}) with the user's question and the passages retrieved
 * from the knowledge base, and neither answer carries any usage: AWS documents no token count in either response
 * (Bedrock Agent Runtime API reference, "RetrieveAndGenerate", Response Syntax: {@code output.text},
 * {@code citations[]}, {@code guardrailAction}, {@code sessionId}; "RetrieveAndGenerateStream", Response Syntax: an
 * event stream of {@code output} events {@code {"text": …}}, {@code citation} events and {@code guardrail} events,
 * the header {@code x-amzn-bedrock-knowledge-base-session-id}). The rule for an answer without usage
 * (docs/decisions.md, "Bedrock agents without their trace", and round 270's whole-answer text) is the estimate, or the
 * input plus the answer's text when that is more. The request names no output budget (the model's default applies),
 * so the hold is the fallback, 1,049 here; the answer is 24 paragraphs, 5,237 tokens of text.
 *
 * <p>Found: neither answer's text is read ({@code StreamText} has no {@code output.text}, and a stream's
 * {@code {"text": …}} event of no type is read by no set), so each is charged its hold, 1,049, for 5,237 tokens the
 * model wrote. {@code InvokeFlow}'s answer (API reference "InvokeFlow", Response Syntax: a {@code flowOutputEvent}
 * {@code {"content": {"document": …}, "nodeName", "nodeType"}}, then a {@code flowCompletionEvent}), whose output
 * node passes on what the flow's prompt node (a model call) wrote, is in the same place (charged its hold, 1,014).
 * Controls: the same answer as a Bedrock Converse answer and as a relayed ConverseStream, both without usage, are
 * charged their text.
 *
 * <p>The citations repeat the answer: each {@code generatedResponsePart.textResponsePart.text} is a span of it, and
 * {@code retrievedReferences[].content.text} is a retrieved passage (input to the model, not output). A fix that
 * counted them as output would charge the answer twice: the tests bound the charge above as well.
 */
abstract class AbstractRound500 extends BedrockAgentRound {
    AbstractRound500() {
        super("r500");
    }

    /** RetrieveAndGenerate's request (API reference, Request Syntax), a knowledge base and Claude, no budget named. */
    static final String RETRIEVE_AND_GENERATE = "{\"input\":{\"text\":\"Summarise everything the knowledge base says about"
            + " order 48213.\"},\"retrieveAndGenerateConfiguration\":{\"type\":\"KNOWLEDGE_BASE\","
            + "\"knowledgeBaseConfiguration\":{\"knowledgeBaseId\":\"KB12345678\",\"modelArn\":"
            + "\"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-sonnet-20240620-v1:0\"}}}";

    /** InvokeFlow's request (API reference "InvokeFlow", Request Syntax): the flow input node's document. */
    static final String INVOKE_FLOW = "{\"inputs\":[{\"content\":{\"document\":\"Summarise everything about order"
            + " 48213.\"},\"nodeName\":\"FlowInputNode\",\"nodeOutputName\":\"document\"}]}";

    /** Converse's request (API reference "Converse"), the same question, no inferenceConfig. */
    static final String CONVERSE = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Summarise everything"
            + " you know about order 48213.\"}]}]}";

    static final List<String> PARAGRAPHS = paragraphs();

    private static List<String> paragraphs() {
        String prose = Prose.english(24 * 1_400 + 100);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            out.add(prose.substring(i * 1_400, (i + 1) * 1_400));
        }
        return out;
    }

    static String answer() {
        return String.join("", PARAGRAPHS);
    }

    static long answerTokens() {
        return TOKENS.estimate(answer());
    }

    /** A retrieved passage the model read (input): the same length as a paragraph, other prose. */
    static final String PASSAGE = Prose.english(3_000).substring(1_500, 2_900);

    /** One citation (API reference "Citation"): a span of the answer and the passage it rests on. */
    static String citation(int start, String span) {
        return "{\"generatedResponsePart\":{\"textResponsePart\":{\"span\":{\"start\":" + start + ",\"end\":"
                + (start + span.length() - 1) + "},\"text\":" + q(span) + "}},\"retrievedReferences\":[{\"content\":"
                + "{\"text\":" + q(PASSAGE) + ",\"type\":\"TEXT\"},\"location\":{\"type\":\"S3\",\"s3Location\":"
                + "{\"uri\":\"s3://kb-orders/order-48213.txt\"}},\"metadata\":{\"x-amz-bedrock-kb-source-uri\":"
                + "\"s3://kb-orders/order-48213.txt\"}}]}";
    }

    @Override
    protected String body(String shape) {
        return switch (shape) {
            // RetrieveAndGenerate's Response Syntax: the answer, one citation per paragraph, no usage
            case "retrieve-and-generate" -> {
                StringBuilder cites = new StringBuilder();
                int at = 0;
                for (int i = 0; i < PARAGRAPHS.size(); i += 6) {
                    if (cites.length() > 0) {
                        cites.append(',');
                    }
                    cites.append(citation(at, PARAGRAPHS.get(i)));
                    at += PARAGRAPHS.get(i).length() * 6;
                }
                yield "{\"citations\":[" + cites + "],\"guardrailAction\":\"NONE\",\"output\":{\"text\":" + q(answer())
                        + "},\"sessionId\":\"3f1c9a2e-0b7d-4c55-9e1a-7d2f5b8c6a10\"}";
            }
            // Converse's Response Syntax without its usage (a relay that drops it): the control
            case "converse" -> "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":" + q(answer())
                    + "}]}},\"stopReason\":\"end_turn\"}";
            default -> throw new IllegalArgumentException(shape);
        };
    }

    @Override
    protected boolean answered(String shape, HttpServletResponse resp) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        switch (shape) {
            case "retrieve-and-generate-stream" -> {
                // RetrieveAndGenerateStream: output events of the answer's text, a citation after every sixth
                int at = 0;
                for (int i = 0; i < PARAGRAPHS.size(); i++) {
                    String p = PARAGRAPHS.get(i);
                    out.writeBytes(RelayedAnswers.awsEvent("output", "{\"text\":" + q(p) + "}"));
                    if (i % 6 == 5) {
                        out.writeBytes(RelayedAnswers.awsEvent("citation", "{\"citation\":" + citation(at, p) + ","
                                + citation(at, p).substring(1)));
                    }
                    at += p.length();
                }
                resp.setHeader("x-amzn-bedrock-knowledge-base-session-id", "3f1c9a2e-0b7d-4c55-9e1a-7d2f5b8c6a10");
            }
            case "converse-stream" -> {
                // ConverseStream (API reference "ConverseStream"): its events by :event-type, no metadata event
                out.writeBytes(RelayedAnswers.awsEvent("messageStart", "{\"role\":\"assistant\"}"));
                for (String p : PARAGRAPHS) {
                    out.writeBytes(RelayedAnswers.awsEvent("contentBlockDelta",
                            "{\"contentBlockIndex\":0,\"delta\":{\"text\":" + q(p) + "}}"));
                }
                out.writeBytes(RelayedAnswers.awsEvent("contentBlockStop", "{\"contentBlockIndex\":0}"));
                out.writeBytes(RelayedAnswers.awsEvent("messageStop", "{\"stopReason\":\"end_turn\"}"));
            }
            case "invoke-flow" -> {
                // InvokeFlow: the output node's document (a prompt node's answer), then the flow's completion
                out.writeBytes(RelayedAnswers.awsEvent("flowOutputEvent", "{\"content\":{\"document\":" + q(answer())
                        + "},\"nodeName\":\"FlowOutputNode\",\"nodeType\":\"Output\"}"));
                out.writeBytes(RelayedAnswers.awsEvent("flowCompletionEvent", "{\"completionReason\":\"SUCCESS\"}"));
            }
            default -> {
                return false;
            }
        }
        writeEventStream(resp, out.toByteArray(), null);
        return true;
    }

    /** Charged at least the answer's text (less a tenth), and not the answer twice. */
    private void assertChargedTheAnswerOnce(String shape, String request) {
        long used = call(shape, request);
        long text = answerTokens();
        assertTrue(used >= text * 9 / 10 && used <= text * 3 / 2, kind() + " " + shape + ": charged " + used
                + ", should be the answer's " + text + " tokens of text (with the question), once: " + last);
    }

    /**
     * The finding: a knowledge base's answer (or a flow's), 5,237 tokens of text, whole or streamed, without usage
     * (AWS sends none), is charged its hold (1,049; the flow 1,014); it should be charged at least its text.
     */
    @ParameterizedTest
    @ValueSource(strings = {"retrieve-and-generate", "retrieve-and-generate-stream", "invoke-flow"})
    void aKnowledgeBasesAnswerIsChargedItsText(String shape) {
        assertChargedTheAnswerOnce(shape, shape.equals("invoke-flow") ? INVOKE_FLOW : RETRIEVE_AND_GENERATE);
    }

    /** Control: the same answer from Converse and ConverseStream without usage is charged its text. */
    @ParameterizedTest
    @ValueSource(strings = {"converse", "converse-stream"})
    void theSameAnswerFromConverseIsChargedItsText(String shape) {
        assertChargedTheAnswerOnce(shape, CONVERSE);
    }
}

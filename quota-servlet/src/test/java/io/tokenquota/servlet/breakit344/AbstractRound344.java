package io.tokenquota.servlet.breakit344;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.RelayedAnswers;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import java.io.ByteArrayOutputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import java.net.URLEncoder;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 344 of issue 11 ("no model call goes unpaid"): Bedrock's binary event stream relayed by a Spring MVC
 * controller that returns the upstream's bytes, under the label Spring's content negotiation picks from the
 * client's {@code Accept}.
 *
 * <p>The provider: Amazon Bedrock's {@code ConverseStream} (Bedrock Runtime API reference, "ConverseStream": the
 * request's {@code messages}, {@code inferenceConfig} optional; the response stream's events {@code messageStart
 * {role}}, {@code contentBlockDelta {contentBlockIndex, delta: {text}}}, {@code contentBlockStop},
 * {@code messageStop {stopReason}} and {@code metadata {usage: {inputTokens, outputTokens, totalTokens}, metrics:
 * {latencyMs}}}), framed as AWS's binary event stream ({@code application/vnd.amazon.eventstream}: prelude, headers
 * {@code :event-type}, {@code :content-type}, {@code :message-type}, payload, CRCs; the framing
 * {@link RelayedAnswers#awsEvent} writes, rounds 237 and 276; the {@code p} padding Bedrock adds to each payload).
 * A request without {@code inferenceConfig.maxTokens} lets the model write up to its own maximum.
 *
 * <p>The application: a relay written as the decisions' "byte[] relay" is (docs/decisions.md, "The body decides
 * the format, the label only whether its usage is final"): a {@code @RestController} whose handler returns the
 * upstream's body as a {@code byte[]} (what {@code RestClient...retrieve().body(byte[].class)} gives it), setting
 * no Content-Type. Spring MVC writes it with {@code ByteArrayHttpMessageConverter}, which "supports all media types
 * ({@code *}{@code /*}) and writes with a Content-Type of {@code application/octet-stream}" (Spring Framework
 * reference, "HTTP Message Conversion"): the label is whatever the client's {@code Accept} names, and
 * {@code application/octet-stream} for {@code Accept: *}{@code /*} (curl's default) or none.
 *
 * <p>Found: the filter undid AWS's framing only under the label {@code application/vnd.amazon.eventstream};
 * the body's own first bytes (a binary prelude) start like neither JSON nor events, and
 * hold NUL bytes, so Bedrock's usage is never read. On the decided remedy for a {@code GET} route (answer the
 * provider's whole response) the call is charged the estimate of a body-less GET (1,014 for 7,625); on a POST the raw
 * bytes (frame headers, padding, JSON) are counted as the model's text instead, 16,971 for 7,625. Under the label the
 * AWS SDK asks for, both are charged Bedrock's count (the controls). Fixed: the framing is told by its prelude
 * (lengths and CRC32, {@code AnswerDecoding.startsAsEventStream}) under any label.
 */
abstract class AbstractRound344 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();

    /** Bedrock's counts for the call: a short question, a long story. */
    static final long INPUT = 25;
    static final long OUTPUT = 7_600;
    static final long USAGE = INPUT + OUTPUT;
    /** The story: some 34,000 characters of English prose (about 7,600 tokens). */
    static final String STORY = Prose.english(34_000);
    static final String PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";

    /** A ConverseStream request as the AWS SDK serialises it: the conversation, no inferenceConfig. */
    static final String CONVERSE = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":"
            + "\"Write a long story about a lighthouse keeper and a storm.\"}]}]}";
    static final String PATH = "/ai/spring/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse-stream";

    AbstractRound344() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behindAi(filter, BedrockRelay.class);
    }

    /**
     * The application's Bedrock relay: it calls ConverseStream for the model the path names and returns the bytes
     * Bedrock answered, as its HTTP client read them whole.
     */
    @RestController
    public static class BedrockRelay {
        @PostMapping("/model/{modelId}/converse-stream")
        public byte[] converseStream(@PathVariable("modelId") String modelId, @RequestBody byte[] body,
                                     @RequestHeader("x-user-id") String user) {
            CALLS.count(user);
            return converseStreamAnswer();
        }

        /**
         * The decided remedy for a {@code GET} chat route (docs/decisions.md, "A model's text written raw is counted
         * too": such a route answers the provider's whole response so that the filter reads its usage), as Spring
         * AI's guides write the route ({@code GET /ai/generate?message=…}): it calls ConverseStream with the message
         * and returns Bedrock's answer whole.
         */
        @GetMapping("/generate")
        public byte[] generate(@RequestParam("message") String message, @RequestHeader("x-user-id") String user) {
            CALLS.count(user);
            return converseStreamAnswer();
        }
    }

    /** Bedrock's ConverseStream answer for the story, in AWS's binary event-stream framing. */
    static byte[] converseStreamAnswer() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(RelayedAnswers.awsEvent("messageStart", "{\"role\":\"assistant\",\"p\":\"" + PAD + "\"}"));
        for (int i = 0; i < STORY.length(); i += 200) {
            String piece = STORY.substring(i, Math.min(STORY.length(), i + 200));
            out.writeBytes(RelayedAnswers.awsEvent("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":"
                    + quoted(piece) + "},\"p\":\"" + PAD + "\"}"));
        }
        out.writeBytes(RelayedAnswers.awsEvent("contentBlockStop", "{\"contentBlockIndex\":0,\"p\":\"" + PAD + "\"}"));
        out.writeBytes(RelayedAnswers.awsEvent("messageStop", "{\"stopReason\":\"end_turn\",\"p\":\"" + PAD + "\"}"));
        out.writeBytes(RelayedAnswers.awsEvent("metadata", "{\"usage\":{\"inputTokens\":" + INPUT + ",\"outputTokens\":"
                + OUTPUT + ",\"totalTokens\":" + USAGE + "},\"metrics\":{\"latencyMs\":8123},\"p\":\"" + PAD + "\"}"));
        return out.toByteArray();
    }

    static String quoted(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
    }

    HttpResponse<String> converse(String s, String accept) {
        HttpRequest.Builder b = TestHttp.requestAs(container.uri(PATH), s, "Content-Type", "application/json");
        if (accept != null) {
            b.header("Accept", accept);
        }
        return TestHttp.send(b.POST(HttpRequest.BodyPublishers.ofString(CONVERSE, StandardCharsets.UTF_8)).build());
    }

    /**
     * Control: a client that asks for AWS's event stream (as the AWS SDK's event-stream operations do) gets it under
     * that label, and the call is charged Bedrock's count.
     */
    @Test
    void aStreamAskedForAsAwsEventStreamIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = converse(s, "application/vnd.amazon.eventstream");
        assertCharged(s, r, 200, 1, USAGE, "Bedrock's ConverseStream relayed under its own label");
    }

    /**
     * The attack: the same call with {@code Accept: *}{@code /*} (curl's default): Spring labels the same bytes
     * {@code application/octet-stream}, and the filter reads neither Bedrock's usage nor the story's text.
     */
    @Test
    void theSameStreamUnderAnyAcceptIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = converse(s, "*/*");
        assertCharged(s, r, 200, 1, USAGE, "the same bytes Bedrock answered (" + USAGE
                + " tokens), labelled application/octet-stream by Spring's byte[] converter");
    }

    HttpResponse<String> generate(String s, String accept) {
        String q = URLEncoder.encode("Write a long story about a lighthouse keeper and a storm.", StandardCharsets.UTF_8);
        return TestHttp.send(TestHttp.requestAs(container.uri("/ai/spring/generate?message=" + q), s, "Accept", accept)
                .GET().build());
    }

    /** Control: the GET route asked for AWS's event stream is charged Bedrock's count. */
    @Test
    void aGetAskedForAsAwsEventStreamIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = generate(s, "application/vnd.amazon.eventstream");
        assertCharged(s, r, 200, 1, USAGE, "Bedrock's ConverseStream answered whole on a GET, under its own label");
    }

    /**
     * The attack on the GET route: {@code Accept: *}{@code /*}; the answer is Bedrock's whole, labelled
     * {@code application/octet-stream}, and neither its usage nor (on a GET) its text is read: the estimate of a
     * body-less GET for a 7,625-token call.
     */
    @Test
    void theSameGetUnderAnyAcceptIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = generate(s, "*/*");
        assertCharged(s, r, 200, 1, USAGE, "a GET answered Bedrock's whole ConverseStream (" + USAGE
                + " tokens), labelled application/octet-stream by Spring's byte[] converter");
    }
}

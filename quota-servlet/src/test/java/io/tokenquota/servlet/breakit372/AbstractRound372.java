package io.tokenquota.servlet.breakit372;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.ModelCallRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.RelayedAnswers;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * Round 372 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"): Amazon
 * SageMaker's streaming inference relayed by the application, its binary event stream passed through as is.
 *
 * <p>The provider: SageMaker Runtime's {@code InvokeEndpointWithResponseStream} (API reference, "ResponseStream": "A
 * stream of payload parts. Each part contains a portion of the response for a streaming inference request";
 * "PayloadPart": {@code Bytes}, "A blob that contains part of the response"). The stream is AWS's binary event
 * stream ({@code application/vnd.amazon.eventstream}) as for Bedrock, but a {@code PayloadPart}'s {@code Bytes} is
 * the event's payload itself, raw (the AWS SDK for .NET's generated {@code PayloadPartUnmarshaller}:
 * {@code unmarshalledObject.Bytes = context.Stream}), not Bedrock's {@code {"bytes": "<base64>"}} JSON; a blob
 * payload's {@code :content-type} is {@code application/octet-stream}. Those bytes are whatever the model container
 * streams: the AWS SDK for Ruby's SageMaker gateway runtime documents them as "a chunk of the model server's
 * server-sent event (SSE) stream", and AWS's own reader for them (the {@code LineIterator} of the AWS ML blog
 * "Elevating the generative AI experience: Introducing streaming support in Amazon SageMaker hosting", copied into
 * LangChain's {@code SagemakerEndpoint}) says "While usually each PayloadPart event from the event stream will
 * contain a byte array with a full json, this is not guaranteed and some of the json objects may be split across
 * PayloadPart events", and so joins the parts before splitting lines.
 *
 * <p>The model container: Hugging Face Text Generation Inference (the SageMaker Hugging Face LLM DLC) answering
 * its Messages API (TGI docs, "Messages API": an OpenAI Chat Completions request, {@code stream: true},
 * {@code stream_options.include_usage}); its stream is axum server-sent events ({@code data:} without a space), each
 * a {@code chat.completion.chunk} (platform.openai.com/docs/api-reference/chat-streaming), the last before
 * {@code [DONE]} holding {@code usage} ({@code prompt_tokens}, {@code completion_tokens}, {@code total_tokens}).
 * The answer is a long story (some 34,000 characters), 25 + 7,600 tokens by the model's count; the request sets no
 * {@code max_tokens}.
 *
 * <p>The application: a servlet relay that calls the endpoint and writes SageMaker's event stream to its client
 * unchanged, under SageMaker's own label (what a relay to a browser-side or SDK-side SageMaker reader does).
 *
 * <p>Found: the filter unframes the event stream and hands each payload on as one server-sent event,
 * {@code "data: " + payload} ({@code AnswerDecoding.EventStream.payload}). That fits Bedrock's chunks (one JSON
 * document each) but not SageMaker's parts: a part holding one whole SSE event becomes {@code data: data:{...}},
 * which is no JSON, and a part holding a piece of one is half a document; the usage is never read and the whole
 * stream's bytes are counted as the model's text instead: 21,363 (whole events) or 22,003 (split events) for a
 * 7,625-token call, past the 20,000 allowance. The same stream unframed (the control) is charged 7,625.
 */
abstract class AbstractRound372 extends ModelCallRound {
    static final ModelCalls CALLS = new ModelCalls();
    /** The model's count for the call: a short question, a long story. */
    static final long PROMPT = 25;
    static final long COMPLETION = 7_600;
    static final long USAGE = PROMPT + COMPLETION;
    static final String STORY = Prose.english(34_000);
    /** The TGI Messages API request (TGI docs, "Messages API": {@code model} "tgi", OpenAI's chat fields), no max_tokens. */
    static final String ASK = "{\"model\":\"tgi\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a long story about a lighthouse keeper and a storm.\"}],"
            + "\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
    /** The relay's route, named after SageMaker's own ({@code POST /endpoints/{EndpointName}/invocations-response-stream}). */
    static final String PATH = "/ai/sagemaker/endpoints/tgi-llama/invocations-response-stream";

    AbstractRound372() {
        super(CALLS);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredAi(filter).servlet("sagemaker", new SageMakerRelay(), "/ai/sagemaker/*");
    }

    /** TGI's Messages API stream for the story: a role chunk, the text in 200-character deltas, the finish, the usage. */
    static String sse() {
        StringBuilder b = new StringBuilder();
        b.append(chunk("{\"role\":\"assistant\",\"content\":\"\"}", "null", "null"));
        for (int i = 0; i < STORY.length(); i += 200) {
            b.append(chunk("{\"role\":\"assistant\",\"content\":" + quoted(STORY.substring(i, Math.min(STORY.length(), i + 200))) + "}", "null", "null"));
        }
        b.append(chunk("{\"role\":\"assistant\",\"content\":\"\"}", "\"length\"", "null"));
        b.append("data:{\"object\":\"chat.completion.chunk\",\"id\":\"\",\"created\":1732000000,\"model\":\"meta-llama/Llama-3.1-8B-Instruct\","
                + "\"system_fingerprint\":\"2.4.0-sha-0a655a0\",\"choices\":[],\"usage\":{\"prompt_tokens\":" + PROMPT
                + ",\"completion_tokens\":" + COMPLETION + ",\"total_tokens\":" + USAGE + "}}\n\n");
        b.append("data:[DONE]\n\n");
        return b.toString();
    }

    static String chunk(String delta, String finish, String usage) {
        return "data:{\"object\":\"chat.completion.chunk\",\"id\":\"\",\"created\":1732000000,\"model\":\"meta-llama/Llama-3.1-8B-Instruct\","
                + "\"system_fingerprint\":\"2.4.0-sha-0a655a0\",\"choices\":[{\"index\":0,\"delta\":" + delta
                + ",\"logprobs\":null,\"finish_reason\":" + finish + "}],\"usage\":" + usage + "}\n\n";
    }

    static String quoted(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
    }

    /**
     * One SageMaker {@code PayloadPart} message of AWS's event stream: headers {@code :event-type PayloadPart},
     * {@code :content-type application/octet-stream}, {@code :message-type event}, the raw bytes as payload, prelude
     * and message CRC32s ({@code RelayedAnswers.awsEvent}).
     */
    static byte[] payloadPart(byte[] payload) {
        return RelayedAnswers.awsEvent("PayloadPart", "application/octet-stream", payload);
    }

    /** Each SSE event of the container in a PayloadPart of its own. */
    static byte[] wholeEvents() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (String e : sse().split("(?<=\n\n)")) {
            out.writeBytes(payloadPart(e.getBytes(StandardCharsets.UTF_8)));
        }
        return out.toByteArray();
    }

    /** The stream's bytes in PayloadParts of {@code size} bytes each. */
    static byte[] pieces(int size) {
        byte[] all = sse().getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < all.length; i += size) {
            out.writeBytes(payloadPart(Arrays.copyOfRange(all, i, Math.min(all.length, i + size))));
        }
        return out.toByteArray();
    }

    /**
     * The application's relay: it reads the client's request, calls the endpoint (counted as the model call) and
     * writes the answer; header {@code x-split} (a test knob, not part of any API) picks which of the shapes above.
     */
    public static class SageMakerRelay extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            CALLS.count(req.getHeader("x-user-id"));
            String mode = req.getHeader("x-split");
            if ("sse".equals(mode)) {
                resp.setContentType("text/event-stream");
                resp.getOutputStream().write(sse().getBytes(StandardCharsets.UTF_8));
                return;
            }
            byte[] body = "whole".equals(mode) ? wholeEvents() : pieces(Integer.parseInt(mode));
            // SageMaker's response: the event stream under its label, the model's own type in a header
            // (InvokeEndpointWithResponseStream response syntax: X-Amzn-SageMaker-Content-Type)
            resp.setContentType("application/vnd.amazon.eventstream");
            resp.setHeader("X-Amzn-SageMaker-Content-Type", "text/event-stream");
            resp.getOutputStream().write(body);
        }
    }

    HttpResponse<String> call(String s, String split) {
        HttpRequest.Builder b = TestHttp.requestAs(container.uri(PATH), s, "Content-Type", "application/json");
        b.header("x-split", split);
        return TestHttp.send(b.POST(HttpRequest.BodyPublishers.ofString(ASK, StandardCharsets.UTF_8)).build());
    }

    /**
     * Control: the same TGI stream answered unframed ({@code text/event-stream}, as the container itself answers it;
     * a relay to a TGI it hosts on its own): charged the model's count, 7,625.
     */
    @Test
    void controlTheContainersStreamUnframedIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = call(s, "sse");
        assertCharged(s, r, 200, 1, USAGE, "TGI's chat stream unframed (text/event-stream)");
    }

    /**
     * The attack: SageMaker's stream with each {@code PayloadPart} holding one whole SSE event of the container (the
     * usual case: one part per flush). Rule: an answer whose usage is seen is charged that usage (README,
     * "Settlement"; issue 11 "usage seen -> charge it"). Expected 7,625 charged; the filter reads no usage and counts
     * the whole stream as text.
     */
    @Test
    void oneSseEventPerPayloadPartIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = call(s, "whole");
        assertCharged(s, r, 200, 1, USAGE, "SageMaker's PayloadParts, one TGI SSE event each (" + USAGE + " tokens)");
    }

    /**
     * The same stream with the container's bytes split across {@code PayloadPart}s at 64-byte boundaries, as AWS's
     * LineIterator says may happen ("some of the json objects may be split across PayloadPart events"). Expected
     * 7,625 charged.
     */
    @Test
    void anSseStreamSplitAcrossPayloadPartsIsChargedItsUsage() {
        String s = subject();
        HttpResponse<String> r = call(s, "64");
        assertCharged(s, r, 200, 1, USAGE, "SageMaker's PayloadParts, TGI's SSE split every 64 bytes (" + USAGE
                + " tokens)");
    }
}

package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.testing.RelayedAnswers;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

/**
 * AWS's binary event stream told by its bytes (round 344): a relay's framework labels Bedrock's stream with
 * whatever the client's {@code Accept} names, so the prelude's CRC decides the format and the label only
 * whether the usage is final; ordinary answers are never taken for it.
 */
final class AnswerDecodingTest {

    /** Bedrock ConverseStream: a short story and its usage, 25 + 600 = 625 tokens, in AWS's framing. */
    static byte[] converseStream() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(RelayedAnswers.awsEvent("messageStart", "{\"role\":\"assistant\",\"p\":\"abcdefgh\"}"));
        for (int i = 0; i < 20; i++) {
            out.writeBytes(RelayedAnswers.awsEvent("contentBlockDelta",
                    "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"The keeper climbed the stairs again. \"},\"p\":\"abc\"}"));
        }
        out.writeBytes(RelayedAnswers.awsEvent("contentBlockStop", "{\"contentBlockIndex\":0,\"p\":\"abcd\"}"));
        out.writeBytes(RelayedAnswers.awsEvent("messageStop", "{\"stopReason\":\"end_turn\",\"p\":\"abcdef\"}"));
        out.writeBytes(RelayedAnswers.awsEvent("metadata", "{\"usage\":{\"inputTokens\":25,\"outputTokens\":600,"
                + "\"totalTokens\":625},\"metrics\":{\"latencyMs\":812},\"p\":\"abcdefghij\"}"));
        return out.toByteArray();
    }

    /**
     * Bedrock InvokeModelWithResponseStream with an Anthropic model: each chunk's event base64 under
     * {@code bytes}; the last adds Bedrock's invocation metrics, 7,000 + 300.
     */
    static byte[] invokeWithResponseStream() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(RelayedAnswers.awsEventStreamChunk("{\"type\":\"message_start\",\"message\":{\"id\":\"msg_bdrk_01\","
                + "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\",\"content\":[],"
                + "\"usage\":{\"input_tokens\":7000,\"output_tokens\":1}}}"));
        out.writeBytes(RelayedAnswers.awsEventStreamChunk("{\"type\":\"content_block_delta\",\"index\":0,"
                + "\"delta\":{\"type\":\"text_delta\",\"text\":\"Summary...\"}}"));
        out.writeBytes(RelayedAnswers.awsEventStreamChunk("{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
                + "\"usage\":{\"output_tokens\":300}}"));
        out.writeBytes(RelayedAnswers.awsEventStreamChunk("{\"type\":\"message_stop\",\"amazon-bedrock-invocationMetrics\":"
                + "{\"inputTokenCount\":7000,\"outputTokenCount\":300,\"invocationLatency\":4100,\"firstByteLatency\":350}}"));
        return out.toByteArray();
    }

    /** The bytes read as a servlet writes them, {@code pieceSize} at a time, the first piece shown as the head. */
    private static UsageSniffer read(String contentType, String contentEncoding, byte[] bytes, int pieceSize) {
        UsageSniffer s = new UsageSniffer();
        s.begin(contentType, contentEncoding, java.util.Arrays.copyOf(bytes, Math.min(bytes.length, pieceSize)));
        for (int i = 0; i < bytes.length; i += pieceSize) {
            s.feed(bytes, i, Math.min(pieceSize, bytes.length - i));
        }
        s.finish();
        return s;
    }

    private static byte[] gzip(byte[] bytes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream z = new GZIPOutputStream(out)) {
            z.write(bytes);
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
        return out.toByteArray();
    }

    private static byte[] deflate(byte[] bytes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (java.util.zip.DeflaterOutputStream z = new java.util.zip.DeflaterOutputStream(out)) {
            z.write(bytes);
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
        return out.toByteArray();
    }

    /**
     * Round 383: {@code Content-Encoding} lists the codings in the order they were applied (RFC 9110 section
     * 8.4), its lines joined one list (section 5.3), {@code identity} none: gzip beside identity is gzip,
     * stacked gzip and deflate are undone from the last applied, and a list with a coding the filter cannot
     * decode ({@code br}), or longer than curl's five, is not read.
     */
    @Property(tries = 20)
    void contentCodingsAreReadAsTheListTheyAre(@ForAll @IntRange(min = 1, max = 300) int pieceSize) {
        byte[] json = "{\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15}}"
                .getBytes(StandardCharsets.UTF_8);
        assertEquals(List.of("gzip", "gzip", "deflate"), AnswerDecoding.codings(" identity, GZIP,,x-gzip ,Deflate"));
        assertEquals(15L, read("application/json", "gzip, identity", gzip(json), pieceSize).usage());
        assertEquals(15L, read("application/json", "identity,GZIP", gzip(json), pieceSize).usage());
        assertEquals(15L, read("application/json", "identity", json, pieceSize).usage());
        assertEquals(15L, read("application/json", "gzip, gzip", gzip(gzip(json)), pieceSize).usage());
        assertEquals(15L, read("application/json", "deflate, x-gzip", gzip(deflate(json)), pieceSize).usage());
        assertEquals(15L, read("application/json", "gzip, deflate", deflate(gzip(json)), pieceSize).usage());
        assertNull(read("application/json", "br, gzip", gzip(json), pieceSize).usage());
        byte[] five = json;
        for (int i = 0; i < AnswerDecoding.MAX_CODINGS; i++) {
            five = gzip(five);
        }
        String fiveGzip = String.join(",", java.util.Collections.nCopies(AnswerDecoding.MAX_CODINGS, "gzip"));
        assertEquals(15L, read("application/json", fiveGzip, five, pieceSize).usage());
        assertNull(read("application/json", fiveGzip + ",gzip", gzip(five), pieceSize).usage());
    }

    /**
     * Under AWS's label or none the usage is final; under any other label (Spring's {@code byte[]} converter
     * writes the client's {@code Accept}: octet-stream, JSON, events, text) it is read all the same, provisional.
     * Written whole or a few bytes at a time (fewer than a prelude's 12 first: the choice waits for them).
     */
    @Property(tries = 40)
    void aConverseStreamIsReadUnderAnyLabel(@ForAll @IntRange(min = 1, max = 600) int pieceSize) {
        byte[] stream = converseStream();
        for (String label : new String[] {"application/vnd.amazon.eventstream", null}) {
            UsageSniffer s = read(label, null, stream, pieceSize);
            assertEquals(625L, s.usage(), "under " + label);
            assertFalse(s.provisional(), "under " + label + " the usage is the provider's");
        }
        for (String label : new String[] {"application/octet-stream", "application/json", "text/event-stream",
                "text/plain;charset=UTF-8", "image/png", "application/xml"}) {
            UsageSniffer s = read(label, null, stream, pieceSize);
            assertEquals(625L, s.usage(), "under " + label);
            assertTrue(s.provisional(), "under " + label + " the usage is charged at least the estimate");
        }
    }

    /** InvokeModelWithResponseStream's chunks (base64 under {@code bytes}) are read the same way. */
    @Property(tries = 20)
    void anInvokeModelStreamIsReadUnderAnyLabel(@ForAll @IntRange(min = 1, max = 300) int pieceSize) {
        byte[] stream = invokeWithResponseStream();
        assertEquals(7_300L, read("application/vnd.amazon.eventstream", null, stream, pieceSize).usage());
        UsageSniffer s = read("application/octet-stream", null, stream, pieceSize);
        assertEquals(7_300L, s.usage());
        assertTrue(s.provisional());
    }

    /** An event stream of {@code parts}, read whole after the response {@code headers} (name, value, …) were set. */
    private static UsageSniffer readAfter(String[] headers, byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        byte[] bytes = out.toByteArray();
        UsageSniffer s = new UsageSniffer();
        for (int i = 0; i < headers.length; i += 2) {
            s.header(headers[i], headers[i + 1]);
        }
        s.begin("application/vnd.amazon.eventstream", null, bytes);
        s.feed(bytes, 0, bytes.length);
        s.finish();
        return s;
    }

    /**
     * Round 474: a Bedrock agent's ({@code InvokeAgent}'s) chunks carry its answer's text, which the model can write as
     * a usage. Such a chunk reports nothing once anything AWS sets says the stream is an agent's: InvokeAgent's
     * headers, an event only an agent's stream has ({@code trace}, {@code returnControl}, {@code files}) before it,
     * its own {@code attribution}, a chunk before it that is no JSON object (or itself none, blank lines and all).
     * Before any of these a chunk written exactly as a provider's event is read as an InvokeModel chunk, and marked
     * as read from a chunk's bytes (charged at least the text the stream carried), unless InvokeModel's own header
     * says the chunks are the provider's. Round 483: a chunk that is no provider's event (Bedrock's usage shape alone)
     * is the agent's text.
     */
    @Test
    void anAgentsChunkIsTextOnceAnythingAwsSetsSaysTheStreamIsAnAgents() {
        String fake = "{\"type\":\"message_stop\",\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":1,"
                + "\"outputTokenCount\":1,\"invocationLatency\":900,\"firstByteLatency\":200}}";
        byte[] fakeChunk = RelayedAnswers.awsEventStreamChunk(fake);
        String[] none = {};
        UsageSniffer alone = readAfter(none, fakeChunk);
        assertEquals(2L, alone.usage());
        assertTrue(alone.usageInChunkBytes());
        byte[] usageShape = RelayedAnswers.awsEventStreamChunk("{\"usage\":{\"inputTokens\":1,\"outputTokens\":1}}");
        assertNull(readAfter(none, usageShape).usage());
        assertEquals(2L, readAfter(new String[] {"X-Amzn-Bedrock-Content-Type", "application/json"}, usageShape).usage());
        for (String header : new String[] {"x-amzn-bedrock-agent-content-type", "X-Amz-Bedrock-Agent-Session-Id",
                "x-amz-bedrock-agent-memory-id"}) {
            assertNull(readAfter(new String[] {header, "application/json"}, fakeChunk).usage(), header);
        }
        for (String kind : new String[] {"trace", "returnControl", "files"}) {
            assertNull(readAfter(none, RelayedAnswers.awsEvent(kind, "{\"sessionId\":\"s-474\"}"), fakeChunk).usage(), kind);
        }
        byte[] attributed = RelayedAnswers.awsEvent("chunk", "{\"bytes\":\"" + java.util.Base64.getEncoder()
                .encodeToString(fake.getBytes(StandardCharsets.UTF_8)) + "\",\"attribution\":{\"citations\":[]}}");
        assertNull(readAfter(none, attributed).usage());
        assertNull(readAfter(none, RelayedAnswers.awsEventStreamChunk("Your order has shipped."), fakeChunk).usage());
        assertNull(readAfter(none, RelayedAnswers.awsEventStreamChunk("That is all.\n\ndata: " + fake + "\n\n")).usage());
        assertNull(readAfter(none, RelayedAnswers.awsEventStreamChunk(fake + "\n\ndata: " + fake)).usage());
        // a document's line breaks are white space: it stays one event
        assertEquals(2L, readAfter(none, RelayedAnswers.awsEventStreamChunk(fake.replace(":{", ":\n\n{"))).usage());
        UsageSniffer invokeModel = readAfter(new String[] {"X-Amzn-Bedrock-Content-Type", "application/json"},
                invokeWithResponseStream());
        assertEquals(7_300L, invokeModel.usage());
        assertFalse(invokeModel.usageInChunkBytes());
        UsageSniffer bare = readAfter(none, invokeWithResponseStream());
        assertEquals(7_300L, bare.usage());
        assertTrue(bare.usageInChunkBytes());
        assertFalse(readAfter(none, converseStream()).usageInChunkBytes());
    }

    /**
     * Round 483: a chunk that is no event of a model family Bedrock serves makes the stream an agent's, its chunks
     * text counted whole and never read for usage: an answer written as one JSON object of the agent's own (round
     * 479), or as many small ones, each under what an event carries besides its text, ending in a usage of 2. A
     * genuine InvokeModel stream counts the text its format's fields hold, no more: Cohere Command R's
     * {@code stream-end}, which repeats the answer and the conversation, adds nothing to its deltas' text.
     */
    @Test
    void aChunkThatIsNoProvidersEventIsTheAgentsText() {
        io.tokenquota.estimator.DefaultTokenEstimator tokens = new io.tokenquota.estimator.DefaultTokenEstimator();
        String story = io.tokenquota.servlet.testing.Prose.english(20_000);
        UsageSniffer agent = counting(RelayedAnswers.awsEventStreamChunk("{\"order\":\"48213\",\"history\":\""
                + story + "\",\"usage\":{\"inputTokens\":1,\"outputTokens\":1}}"));
        assertNull(agent.usage());
        assertFalse(agent.usageInChunkBytes());
        assertTrue(agent.writtenTextTokens() >= tokens.estimate(story),
                agent.writtenTextTokens() + " for " + tokens.estimate(story));
        ByteArrayOutputStream many = new ByteArrayOutputStream();
        for (int i = 0; i < story.length(); i += 1_000) {
            many.writeBytes(RelayedAnswers.awsEventStreamChunk("{\"part\":" + i + ",\"history\":\""
                    + story.substring(i, Math.min(story.length(), i + 1_000)) + "\"}"));
        }
        many.writeBytes(RelayedAnswers.awsEventStreamChunk("{\"usage\":{\"inputTokens\":1,\"outputTokens\":1}}"));
        UsageSniffer pieces = counting(many.toByteArray());
        assertNull(pieces.usage());
        assertTrue(pieces.writtenTextTokens() >= tokens.estimate(story),
                pieces.writtenTextTokens() + " for " + tokens.estimate(story));
        UsageSniffer invokeModel = counting(invokeWithResponseStream());
        assertEquals(7_300L, invokeModel.usage());
        assertEquals(tokens.estimate("Summary..."), invokeModel.writtenTextTokens());
        String answer = io.tokenquota.servlet.testing.Prose.english(4_000);
        String history = io.tokenquota.servlet.testing.Prose.english(12_000);
        ByteArrayOutputStream cohere = new ByteArrayOutputStream();
        cohere.writeBytes(RelayedAnswers.awsEventStreamChunk("{\"is_finished\":false,\"event_type\":\"stream-start\","
                + "\"generation_id\":\"g-483\"}"));
        long deltas = 0;
        for (int i = 0; i < answer.length(); i += 40) {
            String piece = answer.substring(i, Math.min(answer.length(), i + 40));
            deltas += tokens.estimate(piece);
            cohere.writeBytes(RelayedAnswers.awsEventStreamChunk("{\"is_finished\":false,\"event_type\":\"text-generation\","
                    + "\"text\":\"" + piece + "\"}"));
        }
        cohere.writeBytes(RelayedAnswers.awsEventStreamChunk("{\"is_finished\":true,\"event_type\":\"stream-end\","
                + "\"response\":{\"response_id\":\"r-483\",\"text\":\"" + answer + "\",\"generation_id\":\"g-483\","
                + "\"chat_history\":[{\"role\":\"USER\",\"message\":\"" + history + "\"},{\"role\":\"CHATBOT\","
                + "\"message\":\"" + answer + "\"}],\"finish_reason\":\"COMPLETE\"},\"finish_reason\":\"COMPLETE\","
                + "\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":3000,\"outputTokenCount\":900,"
                + "\"invocationLatency\":9000,\"firstByteLatency\":300}}"));
        UsageSniffer command = counting(cohere.toByteArray());
        assertEquals(3_900L, command.usage());
        assertTrue(command.usageInChunkBytes());
        assertEquals(deltas, command.writtenTextTokens());
    }

    /** An event stream read whole, its text counted. */
    private static UsageSniffer counting(byte[] bytes) {
        UsageSniffer s = new UsageSniffer();
        s.countText(new io.tokenquota.estimator.DefaultTokenEstimator(), () -> 0, -1, true);
        s.begin("application/vnd.amazon.eventstream", null, bytes);
        s.feed(bytes, 0, bytes.length);
        s.finish();
        return s;
    }

    /** A relay passing Bedrock's gzip-encoded bytes on: inflated, then told by the inflated bytes' prelude. */
    @Test
    void aGzippedEventStreamUnderAnotherLabelIsRead() {
        byte[] z = gzip(converseStream());
        UsageSniffer s = read("application/octet-stream", "gzip", z, 4096);
        assertEquals(625L, s.usage());
        assertTrue(s.provisional());
        assertEquals(625L, read("application/vnd.amazon.eventstream", "gzip", z, 7).usage());
    }

    /** A JSON answer under AWS's label (an error, an InvokeModel answer whole) is read as the JSON it is. */
    @Test
    void jsonUnderTheAwsLabelIsReadAsJson() {
        byte[] json = ("{\"id\":\"x\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}],"
                + "\"usage\":{\"input_tokens\":100,\"output_tokens\":20}}").getBytes(StandardCharsets.UTF_8);
        UsageSniffer s = read("application/vnd.amazon.eventstream", null, json, 4096);
        assertEquals(120L, s.usage());
        assertTrue(s.provisional(), "a label that does not name JSON");
    }

    /** A message whose CRC does not match is no event stream AWS sent: not read under another label. */
    @Test
    void aBrokenCrcIsNoEventStream() {
        byte[] stream = converseStream();
        byte[] preludeBroken = stream.clone();
        preludeBroken[8] ^= 1;
        assertFalse(AnswerDecoding.startsAsEventStream(preludeBroken));
        assertNull(read("application/octet-stream", null, preludeBroken, 4096).usage());
        byte[] messageBroken = stream.clone();
        int first = java.nio.ByteBuffer.wrap(stream).getInt(0);
        messageBroken[first - 1] ^= 1;
        assertFalse(AnswerDecoding.startsAsEventStream(messageBroken));
        assertTrue(AnswerDecoding.startsAsEventStream(stream));
        // the first message longer than the bytes shown: the prelude alone decides
        assertTrue(AnswerDecoding.startsAsEventStream(java.util.Arrays.copyOf(stream, 12)));
    }

    /** Bytes that may start a prelude and end before 12 came are chosen from at the end, as any answer is. */
    @Test
    void aShortBodyThatMayStartAPreludeIsChosenAtTheEnd() {
        for (int n = 1; n < 12; n++) {
            byte[] head = java.util.Arrays.copyOf(converseStream(), n);
            assertTrue(AnswerDecoding.mayStartEventStream(head));
            UsageSniffer s = read("application/octet-stream", null, head, 1);
            assertNull(s.usage());
            assertFalse(s.provisional());
        }
    }

    /** Ordinary answers are never taken for an event stream, and are read as before under octet-stream. */
    @Test
    void ordinaryAnswersAreNoEventStream() throws Exception {
        byte[] json = "{\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15}}".getBytes(StandardCharsets.UTF_8);
        byte[] sse = "data: {\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15}}\n\ndata: [DONE]\n\n"
                .getBytes(StandardCharsets.UTF_8);
        byte[] text = "Once upon a time a lighthouse keeper watched the storm come in.".getBytes(StandardCharsets.UTF_8);
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(3, 2, java.awt.image.BufferedImage.TYPE_INT_RGB);
        ByteArrayOutputStream pngOut = new ByteArrayOutputStream();
        javax.imageio.ImageIO.write(img, "png", pngOut);
        byte[] png = pngOut.toByteArray();
        byte[] gz = gzip(json);
        byte[] mp4 = "\u0000\u0000\u0000\u0020ftypisom\u0000\u0000\u0002\u0000".getBytes(StandardCharsets.ISO_8859_1);
        for (byte[] body : new byte[][] {json, sse, text, png, gz, mp4}) {
            assertFalse(AnswerDecoding.startsAsEventStream(body));
        }
        for (byte[] body : new byte[][] {json, sse, text, png, gz}) {
            // their first byte is none a prelude starts with: the format is chosen at once
            assertFalse(AnswerDecoding.mayStartEventStream(java.util.Arrays.copyOf(body, 5)));
        }
        assertEquals(15L, read("application/octet-stream", null, json, 5).usage());
        assertEquals(15L, read("application/octet-stream", null, sse, 5).usage());
        UsageSniffer image = read("application/octet-stream", null, png, 4096);
        assertNull(image.usage());
        assertNotNull(image.imageSize(), "a picture is still measured");
        assertEquals(3L, image.imageSize()[0]);
        assertEquals(15L, read("application/json", "gzip", gz, 5).usage());
    }

    /** Random bytes, and random bytes after a plausible length, never pass for a prelude. */
    @Property(tries = 2_000)
    void randomBytesAreNoEventStream(@ForAll @Size(min = 12, max = 64) byte[] bytes) {
        assertFalse(AnswerDecoding.startsAsEventStream(bytes));
        byte[] plausible = bytes.clone();
        java.nio.ByteBuffer.wrap(plausible).putInt(0, 40).putInt(4, 8);
        assertFalse(AnswerDecoding.startsAsEventStream(plausible));
    }
}

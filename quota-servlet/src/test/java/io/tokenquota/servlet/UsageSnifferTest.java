package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/** Usage found in responses fed in pieces, as a servlet writes them. */
final class UsageSnifferTest {

    private static Long sniff(String contentType, String body, int pieceSize) {
        UsageSniffer s = new UsageSniffer();
        s.begin(contentType, null, null);
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < bytes.length; i += pieceSize) {
            s.feed(bytes, i, Math.min(pieceSize, bytes.length - i));
        }
        s.finish();
        return s.usage();
    }

    /**
     * Round 504: a Model Studio application's usage counts per model ({@code usage.models[]}), added up; its stream's
     * events (relayed as JSON lines) each count the output so far, and the last is the call's.
     */
    @Test
    void aDashScopeApplicationsPerModelUsageIsAddedUp() {
        String models = "{\"output\":{\"text\":\"Hi\"},\"usage\":{\"models\":[{\"model_id\":\"qwen-plus\","
                + "\"input_tokens\":70,\"output_tokens\":30},{\"input_tokens\":5,\"output_tokens\":2,\"model_id\":\"qwen-max\"}]}}";
        assertEquals(107L, sniff("application/json", models, 5));
        String lines = "{\"output\":{\"text\":\"H\"},\"usage\":{\"models\":[{\"input_tokens\":70,\"output_tokens\":1}]}}\n"
                + "{\"output\":{\"text\":\"Hi\"},\"usage\":{\"models\":[{\"input_tokens\":70,\"output_tokens\":2}]}}\n";
        assertEquals(72L, sniff("application/x-ndjson", lines, 5));
        // models named anywhere but under a usage are no counts
        assertEquals(null, sniff("application/json", "{\"models\":[{\"input_tokens\":70,\"output_tokens\":30}]}", 5));
    }

    /** {@code bytes} as a servlet writes them, {@code head} first shown to the sniffer as the response does. */
    private static Long sniffBytes(String contentType, String contentEncoding, byte[] bytes, int pieceSize) {
        UsageSniffer s = new UsageSniffer();
        s.begin(contentType, contentEncoding, java.util.Arrays.copyOf(bytes, Math.min(bytes.length, pieceSize)));
        for (int i = 0; i < bytes.length; i += pieceSize) {
            s.feed(bytes, i, Math.min(pieceSize, bytes.length - i));
        }
        s.finish();
        return s.usage();
    }

    /**
     * A relay passes UTF-8 under the multi-byte charset a client's {@code Accept} named: read in GBK, the
     * last byte of 写一个 takes the backslash before a quote as its own and ends the string early. The
     * UTF-8 reading beside it finds the usage; a body the server did encode in GBK is read by its label.
     */
    @Property(tries = 30)
    void aMultiByteLabelDoesNotHideTheUsageOfUtf8(@ForAll @IntRange(min = 1, max = 64) int pieceSize) {
        String answer = "{\"choices\":[{\"message\":{\"content\":\"写一个\\\"故事\\\"\"}}],"
                + "\"usage\":{\"prompt_tokens\":17000,\"completion_tokens\":1000,\"total_tokens\":18000}}";
        for (String charset : new String[] {"GBK", "Big5", "Shift_JIS"}) {
            assertEquals(18_000L, sniffBytes("application/json;charset=" + charset, null,
                    answer.getBytes(StandardCharsets.UTF_8), pieceSize), charset + " label on UTF-8");
        }
        assertEquals(18_000L, sniffBytes("application/json;charset=GBK", null,
                answer.getBytes(java.nio.charset.Charset.forName("GBK")), pieceSize), "GBK as labelled");
    }

    /**
     * Raw deflate has no magic number: its first byte (a block header) is often {@code e} or {@code d},
     * as an event stream or a JSON answer may start. Labelled deflate, it is inflated and read.
     */
    @Test
    void aRawDeflatedAnswerIsInflatedWhateverItsFirstByte() {
        byte[] plain = FakeModelServlet.OPENAI_BODY.getBytes(StandardCharsets.UTF_8);
        for (int level : new int[] {1, 6, 9}) {
            java.util.zip.Deflater deflater = new java.util.zip.Deflater(level, true);
            deflater.setInput(plain);
            deflater.finish();
            byte[] out = new byte[plain.length + 64];
            byte[] raw = java.util.Arrays.copyOf(out, deflater.deflate(out));
            deflater.end();
            assertEquals(42L, sniffBytes("application/json", "deflate", raw, 16), "raw deflate at level " + level);
        }
        assertEquals(42L, sniffBytes("application/json", "deflate", plain, 16), "labelled deflate but sent plain");
    }

    @Property(tries = 60)
    void openAiUsageIsFoundWhateverTheChunking(@ForAll @IntRange(min = 1, max = 64) int pieceSize) {
        assertEquals(42L, sniff("application/json", FakeModelServlet.OPENAI_BODY, pieceSize));
    }

    @Property(tries = 60)
    void streamedUsageIsFoundWhateverTheChunking(@ForAll @IntRange(min = 1, max = 64) int pieceSize) {
        String stream = "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\r\n\r\n"
                + "data: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"usage\"}}\n\n"
                + ": a comment line\n"
                + "data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n"
                + "data: [DONE]\n\n";
        assertEquals(40L, sniff("text/event-stream; charset=utf-8", stream, pieceSize));
    }

    @Test
    void anthropicUsageIsProvisionalUntilItsMessageDelta() {
        String start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25,"
                + "\"output_tokens\":1}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                + "\"delta\":{\"type\":\"text_delta\",\"text\":\"word\"}}\n\n";
        String delta = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":15}}\n\n";
        UsageSniffer cut = sniffer("text/event-stream", start);
        assertEquals(26L, cut.usage());
        assertTrue(cut.provisional(), "message_start counts before the answer was written");
        UsageSniffer whole = sniffer("text/event-stream", start + delta);
        assertEquals(40L, whole.usage());
        assertFalse(whole.provisional());
        UsageSniffer emptyDelta = sniffer("text/event-stream", start
                + "data: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{}}\n\n");
        assertTrue(emptyDelta.provisional(), "a usage without counts is no final report");
        // a second message of the stream starts provisional again
        assertTrue(sniffer("text/event-stream", start + delta + start).provisional());
        UsageSniffer message = sniffer("application/json", "{\"type\":\"message\",\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}");
        assertEquals(7L, message.usage());
        assertFalse(message.provisional(), "a whole message carries the final counts");
        assertFalse(sniffer("text/event-stream", "data: {\"usage\":{\"total_tokens\":10}}\n\n").provisional());
        assertFalse(sniffer("text/event-stream", "data: {\"usageMetadata\":{\"promptTokenCount\":4,"
                + "\"candidatesTokenCount\":6,\"totalTokenCount\":10}}\n\n").provisional());
    }

    @Test
    void geminiUsageIsProvisionalUntilAChunkCountsOutputOrEndsTheAnswer() {
        String early = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"word\"}],\"role\":\"model\"}}],"
                + "\"usageMetadata\":{\"promptTokenCount\":10,\"totalTokenCount\":10}}\r\n\r\n";
        String last = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\".\"}],\"role\":\"model\"},"
                + "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":10,\"candidatesTokenCount\":90,"
                + "\"totalTokenCount\":100}}\r\n\r\n";
        UsageSniffer cut = sniffer("text/event-stream", early + early);
        assertEquals(10L, cut.usage());
        assertTrue(cut.provisional(), "an early chunk counts the prompt only");
        UsageSniffer whole = sniffer("text/event-stream", early + early + last);
        assertEquals(100L, whole.usage());
        assertFalse(whole.provisional());
        assertTrue(sniffer("text/event-stream", "data: {\"usageMetadata\":{\"totalTokenCount\":10}}\n\n").provisional(),
                "a count without output that does not end the answer");
        // a running output count (Gemini 2.5) is what was produced so far
        assertFalse(sniffer("text/event-stream", early + "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":"
                + "\"w\"}]}}],\"usageMetadata\":{\"promptTokenCount\":10,\"candidatesTokenCount\":5,"
                + "\"totalTokenCount\":15}}\n\n").provisional());
        assertTrue(sniffer("text/event-stream", "data: {\"usageMetadata\":{\"promptTokenCount\":10,"
                + "\"thoughtsTokenCount\":300,\"totalTokenCount\":310}}\n\n").provisional(),
                "thoughts alone do not count the answer already sent: still provisional");
        assertTrue(sniffer("text/event-stream", "data: {\"usageMetadata\":{\"promptTokenCount\":10,"
                + "\"candidatesTokenCount\":0,\"totalTokenCount\":10}}\n\n").provisional(), "a zero output count");
        // an answer that ended without output: blocked by a safety filter, or its prompt blocked
        assertFalse(sniffer("application/json", "{\"candidates\":[{\"finishReason\":\"SAFETY\",\"index\":0}],"
                + "\"usageMetadata\":{\"promptTokenCount\":10,\"totalTokenCount\":10}}").provisional());
        assertFalse(sniffer("application/json", "{\"promptFeedback\":{\"blockReason\":\"SAFETY\"},"
                + "\"usageMetadata\":{\"promptTokenCount\":10,\"totalTokenCount\":10}}").provisional());
        // the array form (streamGenerateContent without alt=sse), cut before its last chunk
        String chunk = early.substring("data: ".length()).trim();
        UsageSniffer array = sniffer("application/json", "[" + chunk + "," + chunk);
        assertEquals(10L, array.usage());
        assertTrue(array.provisional());
        assertFalse(sniffer("application/json", "[" + chunk + "," + last.substring("data: ".length()).trim() + "]")
                .provisional());
        // a finishReason where the model writes (a function call's arguments) ends nothing
        assertTrue(sniffer("application/json", "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{"
                + "\"name\":\"f\",\"args\":{\"finishReason\":\"STOP\"}}}]}}],\"finishReason\":\"STOP\","
                + "\"usageMetadata\":{\"promptTokenCount\":10,\"totalTokenCount\":10}}").provisional());
    }

    private static UsageSniffer sniffer(String contentType, String body) {
        UsageSniffer s = new UsageSniffer();
        s.begin(contentType, null, null);
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        s.feed(bytes, 0, bytes.length);
        s.finish();
        return s;
    }

    @Test
    void theLastOpenAiStreamUsageWinsAndALastEventWithoutBlankLineCounts() {
        String stream = "data: {\"usage\":null}\n\ndata: {\"usage\":{\"total_tokens\":10}}\n\ndata: {\"usage\":{\"total_tokens\":12}}";
        assertEquals(12L, sniff("text/event-stream", stream, 5));
    }

    @Test
    void multiLineDataIsOneEvent() {
        assertEquals(9L, sniff("text/event-stream", "data: {\"usage\":\ndata: {\"total_tokens\":9}}\n\n", 3));
    }

    @Test
    void nonNumericNumbersAPythonUpstreamWritesDoNotHideTheUsage() {
        // json.dumps (allow_nan=True) writes a log probability of minus infinity as -Infinity
        String body = "{\"object\":\"chat.completion\",\"choices\":[{\"logprobs\":{\"content\":[{\"logprob\":-Infinity},"
                + "{\"logprob\":NaN},{\"logprob\":Infinity}]}}],\"usage\":{\"total_tokens\":12020}}";
        assertEquals(12_020L, sniff("application/json", body, 3));
    }

    @Test
    void geminiUsageMetadata() {
        assertEquals(30L, sniff("application/json", "{\"usageMetadata\":{\"promptTokenCount\":10,\"candidatesTokenCount\":20}}", 4));
    }

    @Test
    void nothingIsFoundInOtherMediaTypesBrokenJsonOrBodiesThatAreNotWhatTheirEncodingSays() {
        assertNull(sniff("text/plain", "{\"usage\":{\"total_tokens\":5}}", 4));
        assertEquals(5L, sniff("application/json", "{\"usage\":{\"total_tokens\":\"5\"}}", 4),
                "a count written as a string (Jackson's WRITE_NUMBERS_AS_STRINGS) is a count");
        assertNull(sniff("application/json", "{\"usage\":{\"total_tokens\":\"5 tokens\"}}", 4));
        assertNull(sniff("application/json", "{\"usage\":{\"total_tokens\":-5}}", 4));
        assertNull(sniff("application/json", "nope {\"usage\":{\"total_tokens\":5}}", 4));
        UsageSniffer gz = new UsageSniffer();
        gz.begin("application/json", "gzip", new byte[] {(byte) 0x1f, (byte) 0x8b});
        byte[] b = "{\"usage\":{\"total_tokens\":5}}".getBytes(StandardCharsets.UTF_8);
        gz.feed(b, 0, b.length);
        gz.finish();
        assertNull(gz.usage(), "labelled gzip, but plain bytes after its magic: not inflated, not read");
    }

    @Test
    void usageBeforeBrokenJsonIsKept() {
        assertEquals(5L, sniff("application/json", "{\"usage\":{\"total_tokens\":5}, oops", 4));
    }

    /**
     * Round 391: CrewAI's {@code token_usage} (all four of its counters) is the run's usage, its cached prompt within
     * the prompt; a Response created again under its id after its final report is another call, unless it reports
     * the very counts again (a replay).
     */
    @Test
    void crewAiTokenUsageAndResponsesCreatedAgainUnderOneId() {
        String crew = "{\"raw\":\"x\",\"token_usage\":{\"total_tokens\":14050,\"prompt_tokens\":12700,"
                + "\"cached_prompt_tokens\":9000,\"completion_tokens\":1350,\"successful_requests\":2}}";
        assertEquals(14_050L, sniff("application/json", crew, 7));
        assertNull(sniff("application/json", crew.replace(",\"successful_requests\":2", ""), 7),
                "without successful_requests it is not CrewAI's");
        java.util.function.BiFunction<Long, Long, String> call = (in, out) ->
                "data: {\"type\":\"response.created\",\"response\":{\"id\":\"__fake_id__\",\"object\":\"response\","
                + "\"usage\":null}}\n\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"__fake_id__\","
                + "\"object\":\"response\",\"usage\":{\"input_tokens\":" + in + ",\"output_tokens\":" + out
                + ",\"total_tokens\":" + (in + out) + "}}}\n\n";
        assertEquals(14_050L, sniff("text/event-stream", call.apply(2_100L, 150L) + call.apply(10_600L, 1_200L), 9));
        assertEquals(2_250L, sniff("text/event-stream", call.apply(2_100L, 150L) + call.apply(2_100L, 150L), 9),
                "the same Response replayed from its start");
    }

    /**
     * Round 412: Letta's streamed {@code usage_statistics} document (its type may come after its counts) is the run's
     * usage, no other document's root counters are; an Agno run's {@code metrics} count in a {@code RunOutput} or a
     * {@code RunCompleted} event only, the cache beside {@code input_tokens} for Anthropic's and Bedrock's adapters
     * (named, or shown by cache writes or reads above the input), within it otherwise.
     */
    @Test
    void lettaUsageStatisticsAndAgnoRunMetrics() {
        String letta = "{\"completion_tokens\":310,\"prompt_tokens\":9640,\"total_tokens\":9950,\"step_count\":1,"
                + "\"message_type\":\"usage_statistics\"}";
        assertEquals(9_950L, sniff("text/event-stream", "data: " + letta + "\n\ndata: [DONE]\n\n", 7));
        assertNull(sniff("application/json", letta.replace("usage_statistics", "assistant_message"), 7),
                "root counters of another message_type");
        assertNull(sniff("application/json", letta.replace(",\"total_tokens\":9950", ""), 7), "without total_tokens");
        String run = "{\"run_id\":\"r1\",\"content\":\"x\",\"content_type\":\"str\",\"model_provider\":\"OpenAI\","
                + "\"status\":\"COMPLETED\",\"metrics\":{\"input_tokens\":11400,\"output_tokens\":950,"
                + "\"total_tokens\":12350,\"cache_read_tokens\":9000,\"duration\":9.4}}";
        assertEquals(12_350L, sniff("application/json", run, 7), "OpenAI's cache reads are within input_tokens");
        assertEquals(21_350L, sniff("application/json", run.replace("OpenAI", "Anthropic"), 7),
                "Anthropic's beside them");
        assertEquals(12_350L + 6_000L, sniff("application/json", run.replace("\"cache_read_tokens\":9000",
                "\"cache_write_tokens\":6000"), 7), "only Anthropic's and Bedrock's adapters count cache writes");
        assertNull(sniff("application/json", run.replace("COMPLETED", "done"), 7), "no RunStatus: not a RunOutput");
        assertNull(sniff("application/json", run.replace("\"content_type\":\"str\",", ""), 7), "no content_type");
        String completed = "{\"created_at\":1759741964,\"event\":\"RunCompleted\",\"agent_id\":\"a\",\"run_id\":\"r1\","
                + "\"content\":\"x\",\"content_type\":\"str\",\"metrics\":{\"input_tokens\":2000,\"output_tokens\":950,"
                + "\"total_tokens\":2950,\"cache_read_tokens\":9400}}";
        assertEquals(12_350L, sniff("text/event-stream", "event: RunCompleted\ndata: " + completed + "\n\n", 7),
                "a RunCompleted event names no provider: cache reads above the input are beside it");
    }

    /**
     * Round 415: an Agno team run counts its leader's calls at its {@code metrics} and each member's run apart, at
     * {@code member_responses[].metrics} (a nested team's members in that member's); streamed, AgentOS yields each
     * member's events ({@code team/_default_tools.py}), its {@code RunCompleted} among them, then the team's
     * {@code TeamRunCompleted} ({@code run/team.py} {@code RunCompletedEvent}, {@code utils/events.py}
     * {@code create_team_run_completed_event}: {@code team_id}, {@code run_id}, {@code content_type},
     * {@code member_responses}, {@code metrics}, no {@code status}, no {@code model_provider}), which holds that run
     * again: one report per {@code run_id}. Gemini's thoughts ({@code reasoning_tokens}) are beside
     * {@code output_tokens} for a run naming Google (its {@code model_provider} or its {@code metrics.details}), or
     * when more than them; Letta's stream's beside {@code completion_tokens} only when more than them.
     */
    @Test
    void agnoTeamRunsAndThinkingTokens() {
        java.util.function.BiFunction<String, String, String> member = (id, counts) -> "{\"run_id\":\"" + id
                + "\",\"agent_id\":\"a\",\"parent_run_id\":\"t1\",\"content\":\"x\",\"content_type\":\"str\","
                + "\"model_provider\":\"OpenAI\",\"metrics\":{" + counts + "},\"status\":\"COMPLETED\"}";
        String m1 = member.apply("m1", "\"input_tokens\":9800,\"output_tokens\":1150,\"total_tokens\":10950");
        String leader = "\"metrics\":{\"input_tokens\":2100,\"output_tokens\":180,\"total_tokens\":2280}";
        String completed = "{\"created_at\":1759741966,\"event\":\"TeamRunCompleted\",\"team_id\":\"legal\","
                + "\"run_id\":\"t1\",\"content\":\"x\",\"content_type\":\"str\",\"member_responses\":[" + m1 + "],"
                + leader + "}";
        String memberEvent = "{\"created_at\":1759741964,\"event\":\"RunCompleted\",\"agent_id\":\"a\",\"run_id\":\"m1\","
                + "\"parent_run_id\":\"t1\",\"content\":\"x\",\"content_type\":\"str\",\"metrics\":{\"input_tokens\":9800,"
                + "\"output_tokens\":1150,\"total_tokens\":10950}}";
        assertEquals(13_230L, sniff("text/event-stream", "event: RunCompleted\ndata: " + memberEvent
                + "\n\nevent: TeamRunCompleted\ndata: " + completed + "\n\n", 9), "the member's run once");
        assertEquals(13_230L, sniff("application/json", completed.replace("\"event\":\"TeamRunCompleted\",", "")
                .replace(leader, leader + ",\"status\":\"COMPLETED\""), 7), "a TeamRunOutput");
        assertEquals(2_280L, sniff("application/json", completed.replace("\"team_id\":\"legal\",", ""), 7),
                "no team_id: no team's members");
        String nested = "{\"run_id\":\"t2\",\"team_id\":\"research\",\"content\":\"x\",\"content_type\":\"str\","
                + "\"member_responses\":[" + member.apply("m2", "\"input_tokens\":3000,\"output_tokens\":400,"
                + "\"total_tokens\":3400") + "],\"metrics\":{\"input_tokens\":500,\"output_tokens\":50,\"total_tokens\":550},"
                + "\"status\":\"COMPLETED\"}";
        assertEquals(13_230L + 550 + 3_400, sniff("text/event-stream", "data: " + completed.replace("[" + m1 + "]",
                "[" + m1 + "," + nested + "]") + "\n\n", 11), "a nested team's leader and member");
        String gemini = "{\"created_at\":1759741964,\"event\":\"RunCompleted\",\"agent_id\":\"a\",\"run_id\":\"g1\","
                + "\"content\":\"x\",\"content_type\":\"str\",\"metrics\":{\"input_tokens\":3200,\"output_tokens\":850,"
                + "\"total_tokens\":4050,\"reasoning_tokens\":500,\"details\":{\"model\":[{\"input_tokens\":3200,"
                + "\"output_tokens\":850,\"total_tokens\":4050,\"reasoning_tokens\":500,\"id\":\"gemini-2.5-pro\","
                + "\"provider\":\"Google\"}]}}}";
        assertEquals(4_550L, sniff("text/event-stream", "data: " + gemini + "\n\n", 7), "details name Google");
        assertEquals(4_050L, sniff("text/event-stream", "data: " + gemini.replace("Google", "OpenAI") + "\n\n", 7),
                "OpenAI's reasoning is within output_tokens");
        assertEquals(11_450L, sniff("text/event-stream", "data: " + gemini.replace("Google", "OpenAI")
                .replace("\"reasoning_tokens\":500", "\"reasoning_tokens\":7400") + "\n\n", 7),
                "more reasoning than output tokens cannot be within them");
        String letta = "{\"message_type\":\"usage_statistics\",\"completion_tokens\":850,\"prompt_tokens\":3200,"
                + "\"total_tokens\":4050,\"step_count\":1,\"reasoning_tokens\":7400}";
        assertEquals(11_450L, sniff("text/event-stream", "data: " + letta + "\n\n", 7), "Letta's Gemini stream");
        assertEquals(4_050L, sniff("text/event-stream", "data: " + letta.replace("7400", "500") + "\n\n", 7),
                "as many reasoning tokens as completion tokens or fewer: within (docs/decisions.md)");
    }

    @Test
    void usageAfterAHugeStringIsFoundInAnEventAndInABody() {
        String big = "x".repeat(3 << 20) + "\\u00e9\u00e9";
        String event = "data: {\"text\":\"" + big + "\",\"usage\":{\"total_tokens\":99}}\n\n";
        assertEquals(99L, sniff("text/event-stream", event, 8192));
        assertEquals(99L, sniff("text/event-stream", event + "data: [DONE]\n\n", 1000));
        String body = "{\"data\":[{\"b64_json\":\"" + big + "\"}],\"usage\":{\"total_tokens\":98}}";
        assertEquals(98L, sniff("application/json", body, 65536));
    }

    /** As the filter feeds it: the first bytes are shown to {@code begin} with the headers, then read. */
    private static Long sniffWithHead(String contentType, String body) {
        UsageSniffer s = new UsageSniffer();
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        s.begin(contentType, null, bytes);
        s.feed(bytes, 0, bytes.length);
        s.finish();
        return s.usage();
    }

    private static UsageSniffer sniffer(String contentType, String body, boolean withHead) {
        UsageSniffer s = new UsageSniffer();
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        s.begin(contentType, null, withHead ? bytes : null);
        s.feed(bytes, 0, bytes.length);
        s.finish();
        return s;
    }

    private static void assertProvisional(long expected, UsageSniffer s) {
        assertEquals(expected, s.usage());
        assertTrue(s.provisional(), "usage from a text answer read as JSON is provisional");
    }

    @Test
    void firstBytesDecideOnlyWhenTheHeadersDoNotSayWhatTheAnswerIs() {
        String json = "{\"usage\":{\"total_tokens\":1}}\n\nthe essay you asked for";
        String events = "data: {\"usage\":{\"total_tokens\":1}}\n\nthat was the line you asked for";
        // no Content-Type (an include cannot set one) or a generic one: the bytes tell
        assertEquals(1L, sniffWithHead(null, json));
        assertEquals(1L, sniffWithHead(null, events));
        assertEquals(1L, sniffWithHead("application/octet-stream", json));
        // an answer labelled plain text (or HTML) may be a model's text, or a relayed answer labelled by
        // the client's Accept: one that starts like an event stream or like JSON is read, but only
        // provisionally, so a usage the model wrote can never lower the charge
        assertProvisional(1L, sniffer("text/plain;charset=UTF-8", events, true));
        assertProvisional(1L, sniffer("text/plain;charset=UTF-8", json, true));
        assertProvisional(1L, sniffer("text/html", json, true));
        // a JSON document labelled an event stream (the client's Accept again) is read as JSON, provisionally
        assertProvisional(7L, sniffer("text/event-stream", "{\"usage\":{\"total_tokens\":7}}", true));
        assertFalse(sniffer("text/event-stream", events, true).provisional(), "a real event stream is final");
        // a labelled JSON answer is read as before
        assertEquals(7L, sniffWithHead("application/json", "{\"usage\":{\"total_tokens\":7}}"));
    }

    @Test
    void writerCharactersAreReadWhateverCharsetTheAnswerDeclares() {
        // the writer tee hands over UTF-8; the declared UTF-16 is the container's encoding, not the tee's
        UsageSniffer s = new UsageSniffer();
        s.fedWriterText();
        byte[] bytes = "{\"usage\":{\"total_tokens\":11000},\"text\":\"h\u00e9\u4e16\"}".getBytes(StandardCharsets.UTF_8);
        s.begin("application/json; charset=UTF-16", null, bytes);
        s.feed(bytes, 0, bytes.length);
        s.finish();
        assertEquals(11_000L, s.usage());
        // the same answer's bytes from the output stream are in the declared charset and are decoded
        byte[] utf16 = "{\"usage\":{\"total_tokens\":12}}".getBytes(StandardCharsets.UTF_16);
        UsageSniffer stream = new UsageSniffer();
        stream.begin("application/json; charset=UTF-16", null, utf16);
        stream.feed(utf16, 0, utf16.length);
        stream.finish();
        assertEquals(12L, stream.usage());
    }

    @Test
    void otherProvidersUsageIsReadWhereTheyPutIt() {
        // Bedrock Converse: totalTokens, or its parts with cache reads and writes when those are more
        assertEquals(52L, sniffWithHead("application/json",
                "{\"output\":{},\"usage\":{\"inputTokens\":40,\"outputTokens\":12,\"totalTokens\":52}}"));
        assertEquals(1_052L, sniffWithHead("application/json", "{\"usage\":{\"inputTokens\":40,\"outputTokens\":12,"
                + "\"cacheReadInputTokens\":1000,\"totalTokens\":52}}"));
        // a relayed ConverseStream's metadata event
        assertEquals(52L, sniffWithHead("text/event-stream",
                "data: {\"contentBlockDelta\":{\"delta\":{\"text\":\"hi\"}}}\n\n"
                        + "data: {\"metadata\":{\"usage\":{\"inputTokens\":40,\"outputTokens\":12,\"totalTokens\":52}}}\n\n"));
        // Ollama: the last object's counts, JSON or NDJSON
        assertEquals(52L, sniffWithHead("application/x-ndjson", "{\"message\":{\"content\":\"a\"},\"done\":false}\n"
                + "{\"done\":true,\"prompt_eval_count\":40,\"eval_count\":12}\n"));
        // llama.cpp: running counts, final with "stop": true
        UsageSniffer cut = sniffer("text/event-stream", "data: {\"content\":\"a\",\"stop\":false,"
                + "\"tokens_predicted\":3,\"tokens_evaluated\":40}\n\n", true);
        assertProvisional(43L, cut);
        UsageSniffer whole = sniffer("application/json", "{\"content\":\"a\",\"stop\":true,"
                + "\"tokens_predicted\":12,\"tokens_evaluated\":40,\"timings\":{\"predicted_n\":12}}", true);
        assertEquals(52L, whole.usage());
        assertFalse(whole.provisional());
        // Meta models on Bedrock InvokeModel
        assertEquals(52L, sniffWithHead("application/json", "{\"generation\":\"x\",\"prompt_token_count\":40,"
                + "\"generation_token_count\":12,\"stop_reason\":\"stop\"}"));
        // Cohere v2: tokens, or billed units when more; its stream's message-end; v1's meta
        assertEquals(60L, sniffWithHead("application/json", "{\"usage\":{\"billed_units\":{\"input_tokens\":48,"
                + "\"output_tokens\":12},\"tokens\":{\"input_tokens\":40,\"output_tokens\":12}}}"));
        assertEquals(52L, sniffWithHead("text/event-stream", "event: message-end\ndata: {\"type\":\"message-end\","
                + "\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":{\"tokens\":{\"input_tokens\":40,\"output_tokens\":12}}}}\n\n"));
        assertEquals(52L, sniffWithHead("application/json", "{\"text\":\"x\",\"meta\":{\"api_version\":{\"version\":\"1\"},"
                + "\"tokens\":{\"input_tokens\":40,\"output_tokens\":12}}}"));
        // Groq's stream without include_usage
        assertEquals(52L, sniffWithHead("text/event-stream", "data: {\"choices\":[],\"x_groq\":{\"id\":\"r\",\"usage\":"
                + "{\"prompt_tokens\":40,\"completion_tokens\":12,\"total_tokens\":52}}}\n\ndata: [DONE]\n\n"));
        // Gemini serialised in snake_case by a Python relay
        UsageSniffer snake = sniffer("application/json", "{\"candidates\":[{\"finish_reason\":\"STOP\"}],"
                + "\"usage_metadata\":{\"prompt_token_count\":40,\"candidates_token_count\":12}}", true);
        assertEquals(52L, snake.usage());
        assertFalse(snake.provisional());
    }

    private static String lcUsage(long in, long out) {
        return "{\"input_tokens\":" + in + ",\"output_tokens\":" + out + ",\"total_tokens\":" + (in + out) + "}";
    }

    private static String lcChunk(String usage) {
        return "{\"content\":\"x\",\"type\":\"AIMessageChunk\",\"tool_calls\":[],\"usage_metadata\":" + usage + "}";
    }

    @Test
    void langChainChunksAddUpAndASummedMessageIsATotal() {
        // LangServe /stream or a route relaying astream(): each chunk's usage_metadata is a delta
        String stream = "event: data\ndata: " + lcChunk(lcUsage(5000, 0)) + "\n\nevent: data\ndata: " + lcChunk("null")
                + "\n\nevent: data\ndata: " + lcChunk(lcUsage(0, 300)) + "\n\nevent: end\n\n";
        UsageSniffer s = sniffer("text/event-stream", stream, true);
        assertEquals(5_300L, s.usage());
        assertFalse(s.provisional());
        // as NDJSON too; a message returned whole is its own sum
        assertEquals(5_300L, sniffWithHead("application/x-ndjson", lcChunk(lcUsage(5000, 0)) + "\n"
                + lcChunk(lcUsage(0, 300)) + "\n"));
        assertEquals(5_300L, sniffWithHead("application/json", "{\"output\":" + lcChunk(lcUsage(5000, 300)) + "}"));
        // astream_events: the chunks' deltas and the model's end (their sum) are counted once
        String tail = ",\"name\":\"ChatAnthropic\",\"run_id\":\"r\",\"metadata\":{\"usage\":{\"total_tokens\":1}}}";
        String events = "data: {\"event\":\"on_chain_start\",\"data\":{}" + tail + "\n\n"
                + "data: {\"event\":\"on_chat_model_stream\",\"data\":{\"chunk\":" + lcChunk(lcUsage(5000, 0)) + "}" + tail
                + "\n\ndata: {\"event\":\"on_chat_model_stream\",\"data\":{\"chunk\":" + lcChunk(lcUsage(0, 300)) + "}"
                + tail + "\n\ndata: {\"event\":\"on_chat_model_end\",\"data\":{\"output\":" + lcChunk(lcUsage(5000, 300))
                + "}" + tail + "\n\n";
        assertEquals(5_300L, sniffWithHead("text/event-stream", events), "the run metadata's usage is the client's");
        // the end alone, and a chain's or parser's output (the model's own JSON) never
        assertEquals(5_300L, sniffWithHead("text/event-stream", "data: {\"event\":\"on_chat_model_end\",\"data\":"
                + "{\"output\":" + lcChunk(lcUsage(5000, 300)) + "}}\n\n"));
        assertNull(sniffWithHead("text/event-stream", "data: {\"event\":\"on_parser_end\",\"data\":{\"output\":"
                + lcChunk(lcUsage(1, 1)) + "}}\n\n"));
        // LangGraph's messages mode sends the message accumulated so far: the last one counts
        assertEquals(5_300L, sniffWithHead("text/event-stream", "event: messages/partial\ndata: ["
                + lcChunk(lcUsage(5000, 0)) + "]\n\nevent: messages/complete\ndata: [" + lcChunk(lcUsage(5000, 300))
                + "]\n\n"));
        // Gemini's own snake_case running totals stay "the last report wins"
        assertEquals(52L, sniffWithHead("text/event-stream", "data: {\"usage_metadata\":{\"prompt_token_count\":40,"
                + "\"candidates_token_count\":2}}\n\ndata: {\"candidates\":[{\"finish_reason\":\"STOP\"}],"
                + "\"usage_metadata\":{\"prompt_token_count\":40,\"candidates_token_count\":12}}\n\n"));
    }

    private static String lcMessage(String id, String usage) {
        return "{\"content\":\"x\",\"type\":\"AIMessageChunk\",\"id\":\"" + id + "\",\"usage_metadata\":" + usage + "}";
    }

    @Test
    void langChainMessagesAreCountedApartAndAddUp() {
        // two model calls of an agent, each message's accumulated total repeated: the last of each counts
        assertEquals(3_300L, sniffWithHead("text/event-stream", "event: messages/partial\ndata: ["
                + lcMessage("a", lcUsage(1200, 300)) + "]\n\nevent: messages/complete\ndata: [" + lcMessage("a", lcUsage(1200, 300))
                + "]\n\nevent: messages/partial\ndata: [" + lcMessage("b", lcUsage(1600, 100)) + "]\n\nevent: messages/complete"
                + "\ndata: [" + lcMessage("b", lcUsage(1600, 200)) + "]\n\n"));
        // astream_events: by the model run's run_id, its deltas and its end counted once
        String events = "";
        for (String run : new String[] {"m1", "m2"}) {
            String tail = ",\"run_id\":\"" + run + "\"}\n\n";
            events += "data: {\"event\":\"on_chat_model_stream\",\"data\":{\"chunk\":" + lcChunk(lcUsage(1000, 0)) + "}" + tail
                    + "data: {\"event\":\"on_chat_model_stream\",\"data\":{\"chunk\":" + lcChunk(lcUsage(0, 100)) + "}" + tail
                    + "data: {\"event\":\"on_chat_model_end\",\"data\":{\"output\":" + lcChunk(lcUsage(1000, 100)) + "}" + tail;
        }
        assertEquals(2_200L, sniffWithHead("text/event-stream", events));
        // a message sent accumulated (the same input in every chunk): its last report; deltas without a
        // name still add up
        assertEquals(3_200L, sniffWithHead("text/event-stream", "data: " + lcMessage("r", lcUsage(3000, 0)) + "\n\ndata: "
                + lcMessage("r", lcUsage(3000, 0)) + "\n\ndata: " + lcMessage("r", lcUsage(3000, 200)) + "\n\n"));
        assertEquals(6_200L, sniffWithHead("text/event-stream", "data: " + lcChunk(lcUsage(3000, 0)) + "\n\ndata: "
                + lcChunk(lcUsage(3000, 200)) + "\n\n"));
        // a total that names no message stands beside the named ones: the larger counts
        assertEquals(5_000L, sniffWithHead("text/event-stream", "event: messages/complete\ndata: ["
                + lcMessage("a", lcUsage(1000, 0)) + "]\n\nevent: messages/complete\ndata: [" + lcChunk(lcUsage(5000, 0)) + "]\n\n"));
        // messages past the limit add up as they come
        StringBuilder many = new StringBuilder();
        int n = UsageSniffer.MAX_MESSAGES + 10;
        for (int i = 0; i < n; i++) {
            many.append("event: messages/complete\ndata: [").append(lcMessage("m" + i, lcUsage(10, 0))).append("]\n\n");
        }
        assertEquals(10L * n, sniffWithHead("text/event-stream", many.toString()));
    }

    @Test
    void aMessagesTupleIsReadAtItsFirstElementOnly() {
        String meta = "{\"langgraph_node\":\"agent\",\"usage_metadata\":" + lcUsage(1, 0) + "}";
        UsageSniffer s = sniffer("text/event-stream", "event: messages\ndata: [" + lcChunk(lcUsage(5000, 0)) + "," + meta
                + "]\n\nevent: messages|agent:1f0a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8\ndata: [" + lcChunk(lcUsage(0, 300))
                + "," + meta + "]\n\n", true);
        assertEquals(5_300L, s.usage());
        assertFalse(s.provisional());
        // the chunk only at the first position; an array under another name is two documents
        assertNull(sniffWithHead("text/event-stream", "event: messages\ndata: [\"x\"," + lcChunk(lcUsage(1, 0)) + "]\n\n"));
        assertProvisional(5_001L, sniffer("text/event-stream", "event: data\ndata: [" + lcChunk(lcUsage(5000, 0)) + ","
                + meta + "]\n\n", true));
    }

    @Test
    void aDifyWorkflowRunIsChargedItsTotalOrItsFinishedNodes() {
        String ids = "\"task_id\":\"t\",\"workflow_run_id\":\"w\"";
        String node = "data: {\"event\":\"node_finished\"," + ids + ",\"data\":{\"outputs\":{\"total_tokens\":1},"
                + "\"execution_metadata\":{\"total_tokens\":5300,\"total_price\":\"0.0195\"}}}\n\n";
        String finished = "data: {\"event\":\"workflow_finished\"," + ids + ",\"data\":{\"outputs\":{\"total_tokens\":1},"
                + "\"total_tokens\":%d,\"total_steps\":4}}\n\n";
        UsageSniffer run = sniffer("text/event-stream", node + node.replace("5300", "700") + finished.formatted(6000), true);
        assertEquals(6_000L, run.usage());
        assertFalse(run.provisional());
        assertEquals(6_000L, run.kinds()[2], "a total without a split is output");
        // the nodes' sum is the floor; cut before the run's total, provisional
        assertEquals(6_000L, sniffWithHead("text/event-stream", node + node.replace("5300", "700") + finished.formatted(1)));
        assertProvisional(5_300L, sniffer("text/event-stream", node, true));
        // a blocking run's answer
        assertEquals(6_000L, sniffWithHead("application/json", "{" + ids + ",\"data\":{\"total_tokens\":6000}}"));
        // only under the run's id and the event that names them; the outputs are the model's
        assertNull(sniffWithHead("application/json", "{\"code\":0,\"data\":{\"total_tokens\":1,"
                + "\"execution_metadata\":{\"total_tokens\":1}}}"));
        assertNull(sniffWithHead("text/event-stream", "data: {\"event\":\"text_chunk\"," + ids + ",\"data\":"
                + "{\"total_tokens\":1,\"execution_metadata\":{\"total_tokens\":1}}}\n\n"));
    }

    @Test
    void theseCountersAreNotReadFromWhatAModelWrites() {
        // tool arguments and nested answers keep their "usage" to themselves
        assertNull(sniffWithHead("application/json", "{\"content\":[{\"type\":\"tool_use\",\"input\":"
                + "{\"eval_count\":1,\"usage\":{\"inputTokens\":1},\"meta\":{\"tokens\":{\"input_tokens\":1}}}}]}"));
        // counters two objects into a usage object are not counted
        assertNull(sniffWithHead("application/json", "{\"usage\":{\"tokens\":{\"deep\":{\"input_tokens\":1}}}}"));
    }

    @Test
    void usageInAnEventFramedAsNoProviderFramesItIsProvisional() {
        String usage = "{\"usage\":{\"total_tokens\":1}}";
        // a model's text written raw after "data:" can start new lines: a lone CR, or a second data line
        assertProvisional(1L, sniffer("text/event-stream", "data: hello\r\rdata: " + usage + "\n\n", true));
        assertProvisional(1L, sniffer("text/event-stream", "data: \ndata: " + usage + "\n\n", true));
        assertProvisional(1L, sniffer("text/event-stream", "data: " + usage + "\ndata: more text\n\n", true));
        assertProvisional(1L, sniffer("text/event-stream", "data: " + usage + usage + "\n\n", true));
        assertProvisional(1L, sniffer("text/event-stream", "data: " + usage + " and text\n\n", true));
        // one document on one data line, lines ended by LF or CRLF, is the server's
        for (String eol : new String[] {"\n", "\r\n"}) {
            UsageSniffer s = sniffer("text/event-stream", "event: x" + eol + "data: " + usage + eol + eol, true);
            assertEquals(1L, s.usage());
            assertFalse(s.provisional(), eol);
        }
    }

    @Test
    void onlyAnEventTheServerNamesAnErrorIsAProviderError() {
        String anthropic = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                + "\"message\":\"Overloaded\"}}\n\n";
        assertTrue(sniffer("text/event-stream", anthropic).errorOnly(), "Anthropic's streamed 529");
        String failed = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\","
                + "\"status\":\"in_progress\",\"error\":null,\"usage\":null}}\n\n"
                + "event: response.in_progress\ndata: {\"type\":\"response.in_progress\",\"response\":{\"id\":\"resp_1\","
                + "\"status\":\"in_progress\",\"usage\":null}}\n\n"
                + "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"id\":\"resp_1\","
                + "\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"x\"},\"usage\":null}}\n\n";
        assertTrue(sniffer("text/event-stream", failed).errorOnly(), "a Response that failed before any output");
        assertTrue(sniffer("text/event-stream", "event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\","
                + "\"message\":\"x\",\"sequence_number\":0}\n\n").errorOnly(), "OpenAI Responses' error event");
        // what the model may have written: the unnamed event of a relayed JSON answer, a JSON body
        assertFalse(sniffer("text/event-stream", "data:{\"error\":{\"message\":\"an essay\"}}\n\n").errorOnly());
        assertFalse(sniffer("text/event-stream", "data: {\"type\":\"error\",\"error\":{\"type\":\"x\"}}\n\n")
                .errorOnly());
        assertFalse(sniffer("application/json", "{\"error\":{\"message\":\"an essay\"}}").errorOnly());
        // a name that is not the error's, an error event after text, an error with a second data line
        assertFalse(sniffer("text/event-stream", "event: message\ndata: {\"error\":{\"message\":\"x\"}}\n\n").errorOnly());
        assertFalse(sniffer("text/event-stream", "event: response.failed\ndata: {\"error\":{\"message\":\"x\"}}\n\n")
                .errorOnly(), "named response.failed but not typed so");
        assertFalse(sniffer("text/event-stream", "data: Hello\n\n" + anthropic).errorOnly());
        assertFalse(sniffer("text/event-stream", "event: error\ndata: {\"type\":\"error\"}\ndata: {}\n\n").errorOnly());
        assertFalse(sniffer("text/event-stream", "event: response.created\ndata: {\"type\":\"response.created\"}\n\n")
                .errorOnly(), "lifecycle events alone are no error");
    }

    @Test
    void anEventNameCountsOnlyBeforeTheEventsData() {
        String error = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}";
        // a relay writing "data: " + the model's text: the model's own "event: error" line follows the data
        assertFalse(sniffer("text/event-stream", "data: " + error + "\nevent: error\n\n").errorOnly());
        assertFalse(sniffer("text/event-stream", "event: error\ndata: " + error + "\nevent: error\n\n").errorOnly(),
                "a name line after the data makes the event's name unknown");
        // a whole event the model wrote after a blank line: the relay's own first event is an answer
        for (String first : new String[] {"", " ", "Sure:", "{\"type\":\"ping\"}", "[DONE]"}) {
            assertFalse(sniffer("text/event-stream", "data: " + first + "\n\nevent: error\ndata: " + error + "\n\n")
                    .errorOnly(), "first event '" + first + "'");
        }
        // what a server sends around its error stays neutral: comments, Anthropic's ping, Responses' lifecycle
        assertTrue(sniffer("text/event-stream", ": keep-alive\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n"
                + "event: error\ndata: " + error + "\n\n").errorOnly(), "a ping before Anthropic's error");
        assertFalse(sniffer("text/event-stream", "event: ping\ndata: {\"type\": \"ping\"}\n\n").errorOnly(),
                "a ping alone is no error");
        assertFalse(sniffer("text/event-stream", "event: ping\ndata: {\"type\": \"message\"}\n\n"
                + "event: error\ndata: " + error + "\n\n").errorOnly(), "named ping, typed otherwise: an answer");
    }

    @Test
    void aCountPast64BitsIsTheLargestCountNotNone() {
        // 2^64 - 1 as a number, a float and digits: past what a long holds, read as Long.MAX_VALUE,
        // which settlement charges as the ledger's largest amount (10^15), never the estimate
        assertEquals(Long.MAX_VALUE, sniffWithHead("application/json",
                "{\"usage\":{\"total_tokens\":18446744073709551615}}"));
        assertEquals(Long.MAX_VALUE, sniffWithHead("application/json",
                "{\"usage\":{\"prompt_tokens\":1e30,\"completion_tokens\":5}}"));
        assertEquals(Long.MAX_VALUE, sniffWithHead("application/json",
                "{\"usage\":{\"total_tokens\":\"18446744073709551615\"}}"));
        assertEquals(Long.MAX_VALUE, sniffWithHead("application/json",
                "{\"usage\":{\"total_tokens\":\"9223372036854775808\"}}"));
        assertEquals(42L, sniffWithHead("application/json",
                "{\"usage\":{\"total_tokens\":\"000000000000000000000042\"}}"), "leading zeros are no size");
        assertNull(sniffWithHead("application/json", "{\"usage\":{\"total_tokens\":-18446744073709551615}}"),
                "a negative count is none");
        assertEquals(io.tokenquota.Limits.MAX_TOKENS, Settlement.decide(null, Long.MAX_VALUE, false, Settlement.End.RETURNED, 200,
                false, true, false, false, false, false, true, 1_000).tokens());
        UsageSniffer headers = new UsageSniffer();
        headers.header(UsageSniffer.BEDROCK_INPUT_HEADER, "18446744073709551615");
        headers.header(UsageSniffer.BEDROCK_OUTPUT_HEADER, "7");
        assertEquals(Long.MAX_VALUE, headers.usage());
    }

    @Test
    void aJsonTextSequenceIsReadRecordByRecord() {
        // RFC 7464 (application/json-seq): each record is RS, a JSON text, LF
        String seq = "\u001E{\"id\":\"a\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n"
                + "\u001E{\"id\":\"a\",\"choices\":[],\"usage\":{\"total_tokens\":812}}\n";
        UsageSniffer s = sniffer("application/json-seq", seq, true);
        assertEquals(812L, s.usage());
        assertFalse(s.provisional(), "the label names JSON");
        for (int piece = 1; piece <= 7; piece++) {
            UsageSniffer chunked = new UsageSniffer();
            byte[] bytes = seq.getBytes(StandardCharsets.UTF_8);
            chunked.begin("application/json-seq", null, java.util.Arrays.copyOf(bytes, piece));
            for (int i = 0; i < bytes.length; i += piece) {
                chunked.feed(bytes, i, Math.min(piece, bytes.length - i));
            }
            chunked.finish();
            assertEquals(812L, chunked.usage(), "in pieces of " + piece);
        }
        byte[] sent = seq.getBytes(StandardCharsets.UTF_8);
        byte[] copy = sent.clone();
        sniffer("application/json-seq", seq, true);
        assertTrue(java.util.Arrays.equals(copy, sent), "the bytes sent are not touched");
    }

    @Test
    void langServeOutputMessagesAddUpAndOnlyMessagesCount() {
        String message = "{\"content\":\"x\",\"type\":\"ai\",\"id\":\"run-%s-0\",\"usage_metadata\":%s}";
        // /batch: a list of messages
        assertEquals(9_000L, sniffWithHead("application/json", "{\"output\":[" + message.formatted("a", lcUsage(1500, 1500))
                + "," + message.formatted("b", lcUsage(1500, 1500)) + "," + message.formatted("c", lcUsage(1500, 1500))
                + "],\"metadata\":{\"run_ids\":[\"a\",\"b\",\"c\"]}}"));
        // a RunnableParallel: a map of them; the usage may come before the type
        assertEquals(5_500L, sniffWithHead("application/json", "{\"output\":{\"story\":"
                + message.formatted("s", lcUsage(1500, 1500)) + ",\"poem\":{\"usage_metadata\":" + lcUsage(1500, 1000)
                + ",\"type\":\"AIMessage\",\"content\":[{\"type\":\"text\",\"text\":\"x\"}]}}}"));
        // the model's own JSON (a JsonOutputParser chain): no message, no usage
        assertNull(sniffWithHead("application/json", "{\"output\":{\"summary\":\"x\",\"usage_metadata\":"
                + lcUsage(0, 1) + "},\"metadata\":{}}"));
        assertNull(sniffWithHead("application/json", "{\"output\":[{\"type\":\"human\",\"content\":\"x\","
                + "\"usage_metadata\":" + lcUsage(0, 1) + "}]}"), "a message of another type");
        assertNull(sniffWithHead("application/json", "{\"output\":{\"type\":\"ai\",\"usage_metadata\":"
                + lcUsage(0, 1) + "}}"), "no content field");
        assertEquals(1L, sniffWithHead("application/json", "{\"output\":{\"a\":{\"b\":" + message.formatted("d", lcUsage(0, 1))
                + "}}}"), "anywhere within the output");
        assertEquals(1L, sniffWithHead("application/json", "{\"output\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":"
                + message.formatted("d", lcUsage(0, 1)) + "}}}}}}"), "six levels below the root");
        // a LangGraph state echoes the thread the client sent: an AI message whose id the request carried
        // is history; every other one counts, whatever human messages stand between them
        String human = "{\"type\":\"human\",\"content\":\"q\"}";
        String state = "{\"output\":{\"messages\":[" + human + "," + message.formatted("e", lcUsage(6000, 3000)) + ","
                + human + "," + message.formatted("f", lcUsage(300, 100)) + ",{\"type\":\"tool\",\"content\":\"r\"},"
                + message.formatted("g", lcUsage(150, 50)) + "]}}";
        String request = "{\"input\":{\"messages\":[" + human + "," + message.formatted("e", lcUsage(6000, 3000)) + ","
                + human + "]}}";
        assertEquals(600L, sniffSentBack(request, state), "the earlier answer sent back is not charged again");
        assertEquals(9_600L, sniffWithHead("application/json", state), "without the request, every AI message counts");
        assertEquals(9_600L, sniffSentBack("{\"input\":{\"messages\":[" + human + "]}}", state),
                "a reflection graph's drafts between human messages it wrote all count");
        assertEquals(9_600L, sniffSentBack("{\"input\":{\"messages\":[" + human + "," + message.formatted("e", lcUsage(1, 1))
                + "]},\"config\":{\"run_id\":\"e\"}}", state), "an id naming a run the request names is not sent back");
        assertEquals(1_000L, sniffSentBack("{\"input\":{\"messages\":[" + human + "]}}",
                "{\"output\":{\"messages\":[{\"type\":\"ai\",\"content\":\"x\",\"usage_metadata\":" + lcUsage(500, 500)
                        + "}]}}"), "a message without an id counts");
    }

    /** An OpenAI-compatible chunk of call {@code id}, its one choice {@code index} as {@code choice} writes it. */
    private static String chunk(String id, String choice, String usage) {
        return "data: {\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":["
                + choice + "]" + (usage == null ? "" : ",\"usage\":" + usage) + "}\n\n";
    }

    private static String chatUsage(long prompt, long completion) {
        return "{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion + ",\"total_tokens\":"
                + (prompt + completion) + "}";
    }

    /** A Mistral-shaped call: a role chunk, text, and the chunk that finishes the choice beside the usage. */
    private static String finishingBesideUsage(String id, long prompt, long completion) {
        return chunk(id, "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}", null)
                + chunk(id, "{\"index\":0,\"delta\":{\"content\":\" word word\"},\"finish_reason\":null}", null)
                + chunk(id, "{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"stop\"}",
                        chatUsage(prompt, completion))
                + "data: [DONE]\n\n";
    }

    /**
     * Calls relayed under one id (a gateway that names every call after its request, vLLM after a forwarded
     * X-Request-Id), each finishing its choice beside its usage as Mistral's, DeepSeek's and Groq's last chunk
     * does: a chunk that begins a finished choice again (its delta names the role, and it reports nothing)
     * begins another call. Before, an agent's three calls were charged the last (8,400 for 15,600).
     */
    @Property(tries = 20)
    void callsUnderOneIdThatFinishBesideTheirUsageAreEachCharged(@ForAll @IntRange(min = 1, max = 97) int pieceSize) {
        String agent = finishingBesideUsage("req-7f3a", 2_000, 100) + finishingBesideUsage("req-7f3a", 5_000, 100)
                + finishingBesideUsage("req-7f3a", 8_000, 400);
        assertEquals(15_600L, sniff("text/event-stream", agent, pieceSize));
        // without the end markers between them (a relay that strips them)
        assertEquals(15_600L, sniff("text/event-stream", agent.replace("data: [DONE]\n\n", ""), pieceSize));
    }

    /**
     * What a chunk after the finishing one may be within the same call, which the rule above must not take for
     * another call: Azure OpenAI's content filter annotations of the finished choice (an empty delta); a
     * gateway that relays Gemini with a finish reason, the role and the running usage on every chunk; vLLM's
     * n = 2 with continuous usage, one choice finishing while the other streams on.
     */
    @Property(tries = 20)
    void chunksAfterAFinishedChoiceOfTheSameCallStayThatCall(@ForAll @IntRange(min = 1, max = 97) int pieceSize) {
        String filtered = finishingBesideUsage("chatcmpl-az", 3_000, 200).replace("data: [DONE]\n\n", "")
                + chunk("chatcmpl-az", "{\"index\":0,\"delta\":{},\"finish_reason\":null,\"content_filter_results\":"
                        + "{\"hate\":{\"filtered\":false,\"severity\":\"safe\"}}}", null)
                + "data: [DONE]\n\n";
        assertEquals(3_200L, sniff("text/event-stream", filtered, pieceSize), "Azure's filter results after the finish");
        StringBuilder gemini = new StringBuilder();
        for (int i = 1; i <= 6; i++) {
            gemini.append(chunk("chatcmpl-g1", "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\" part " + i
                    + "\"},\"finish_reason\":\"stop\"}", chatUsage(1_000, 50L * i)));
        }
        assertEquals(1_300L, sniff("text/event-stream", gemini + "data: [DONE]\n\n", pieceSize),
                "a finish reason, the role and the running usage on every chunk");
        StringBuilder vllm = new StringBuilder();
        for (int step = 1; step <= 4; step++) {
            vllm.append(chunk("chatcmpl-v1", "{\"index\":0,\"delta\":{\"content\":\" a\"},\"finish_reason\":"
                    + (step == 4 ? "\"stop\"" : "null") + "}", chatUsage(2_000, 25L * step)));
            vllm.append(chunk("chatcmpl-v1", "{\"index\":1,\"delta\":{\"content\":\" b\"},\"finish_reason\":null}",
                    chatUsage(2_000, 300L * step / 8)));
        }
        for (int step = 5; step <= 8; step++) {
            vllm.append(chunk("chatcmpl-v1", "{\"index\":1,\"delta\":{\"content\":\" b\"},\"finish_reason\":"
                    + (step == 8 ? "\"stop\"" : "null") + "}", chatUsage(2_000, 300L * step / 8)));
        }
        vllm.append(chunk("chatcmpl-v1", "", chatUsage(2_000, 400))).append("data: [DONE]\n\n");
        assertEquals(2_400L, sniff("text/event-stream", vllm.toString(), pieceSize), "vLLM, n = 2, continuous usage");
    }

    /**
     * A whole chat completion without an id after a streamed call is a call of its own (a judge's answer
     * relayed whole, round 227: charged the judge's 1,050 alone for 3,150), or the streamed call read back
     * whole when it carries the very counts (one call).
     */
    @Property(tries = 20)
    void aWholeCompletionWithoutAnIdAfterACallIsAnotherCallUnlessItRepeatsIt(
            @ForAll @IntRange(min = 1, max = 97) int pieceSize) {
        String streamed = chunk("chatcmpl-a1", "{\"index\":0,\"delta\":{\"content\":\" w\"},\"finish_reason\":null}", null)
                + chunk("chatcmpl-a1", "{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}", null)
                + "data: {\"id\":\"chatcmpl-a1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":"
                + chatUsage(2_000, 100) + "}\n\n";
        String whole = "data: {\"object\":\"chat.completion\",\"model\":\"llama-3.1-8b\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"APPROVED\"},\"finish_reason\":\"stop\"}],\"usage\":%s}\n\n";
        assertEquals(3_150L, sniff("text/event-stream", streamed + whole.formatted(chatUsage(1_000, 50)), pieceSize),
                "a judge's call relayed whole after the call");
        assertEquals(2_100L, sniff("text/event-stream", streamed + whole.formatted(chatUsage(2_000, 100)), pieceSize),
                "the call read back whole without its id");
    }

    /**
     * Perplexity labels its stream's chunks {@code chat.completion}, each with a {@code delta}, the message so
     * far and the running usage: one call, charged its last count (round 250: every chunk's count was added,
     * 18,810 for a 194-token answer). A whole completion has a message and no delta.
     */
    @Property(tries = 20)
    void chunksLabelledAsWholeCompletionsAreOneCall(@ForAll @IntRange(min = 1, max = 97) int pieceSize) {
        StringBuilder body = new StringBuilder();
        for (int i = 1; i <= 30; i++) {
            body.append("data: {\"id\":\"pplx-1\",\"model\":\"sonar\",\"object\":\"chat.completion\",\"usage\":")
                    .append(chatUsage(14, i)).append(",\"citations\":[\"https://example.com\"],\"choices\":[{\"index\":0,")
                    .append("\"finish_reason\":").append(i == 30 ? "\"stop\"" : "null")
                    .append(",\"message\":{\"role\":\"assistant\",\"content\":\"so far\"},")
                    .append("\"delta\":{\"role\":\"assistant\",\"content\":\" w\"}}]}\n\n");
        }
        assertEquals(44L, sniff("text/event-stream", body.toString(), pieceSize));
    }

    /**
     * A server that sends the usage chunk just before the chunk that finishes the choice (round 252: that
     * finish was taken for another call's chunk, and the answer charged its hold): one call. A call under the
     * same id whose first chunk finishes a choice the call before finished is another call still.
     */
    @Property(tries = 20)
    void aUsageChunkBeforeTheFinishIsOneCall(@ForAll @IntRange(min = 1, max = 97) int pieceSize) {
        String text = chunk("c-1", "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\" w\"},\"finish_reason\":null}", null);
        String usage = "data: {\"id\":\"c-1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":%s}\n\n";
        String finish = chunk("c-1", "{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}", null);
        assertEquals(480L, sniff("text/event-stream", text + usage.formatted(chatUsage(420, 60)) + finish
                + "data: [DONE]\n\n", pieceSize), "usage, then the finish");
        String secondCall = chunk("c-1", "{\"index\":0,\"delta\":{\"content\":\" yes\"},\"finish_reason\":\"stop\"}", null)
                + usage.formatted(chatUsage(1_000, 20));
        assertEquals(1_500L, sniff("text/event-stream", text + finish + usage.formatted(chatUsage(420, 60)) + secondCall,
                pieceSize), "a second call under the id, its one chunk finishing its choice");
    }

    /**
     * After {@code data: [DONE]} the SDKs stop reading: a report of the call the marker ended can raise its figure,
     * never lower it (round 539: a usage chunk of 2 under the call's id after the marker replaced its 8,020). A
     * relay's next call after the marker (a new id, or new choices under the same id) counts as before.
     */
    @Property(tries = 20)
    void aReportAfterTheEndMarkerNeverLowersTheCallItEnded(@ForAll @IntRange(min = 1, max = 97) int pieceSize) {
        String text = chunk("c-9", "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\" w\"},\"finish_reason\":null}", null)
                + chunk("c-9", "{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}", null);
        String usage = "data: {\"id\":\"c-9\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":%s}\n\n";
        String call = text + usage.formatted(chatUsage(20, 8_000)) + "data: [DONE]\n\n";
        assertEquals(8_020L, sniff("text/event-stream", call, pieceSize), "the call alone");
        assertEquals(8_020L, sniff("text/event-stream", call + usage.formatted(chatUsage(1, 1)), pieceSize),
                "a smaller report under its id after the marker");
        assertEquals(8_020L, sniff("text/event-stream", call + usage.formatted(chatUsage(1, 1)).replace("\"id\":\"c-9\",", ""),
                pieceSize), "a smaller report naming no call after the marker");
        assertEquals(9_020L, sniff("text/event-stream", call + usage.formatted(chatUsage(20, 9_000)), pieceSize),
                "a larger report under its id after the marker");
        assertEquals(8_022L, sniff("text/event-stream", call + text.replace("c-9", "c-10")
                + usage.formatted(chatUsage(1, 1)).replace("c-9", "c-10") + "data: [DONE]\n\n", pieceSize),
                "another call after the marker");
        assertEquals(8_022L, sniff("text/event-stream", call + text + usage.formatted(chatUsage(1, 1)) + "data: [DONE]\n\n",
                pieceSize), "another call under the same id after the marker");
    }

    /**
     * A JSON array of messages each carrying its model call's id and usage in its metadata (Semantic Kernel's
     * new messages of a tool loop, round 254: the loop's first call was free): each call counts. Elements
     * under one id are that call's reports, its last one counts.
     */
    @Test
    void arrayElementsUnderTheirOwnCallIdsAreEachCharged() {
        String message = "{\"authorRole\":\"ASSISTANT\",\"content\":\"x\",\"metadata\":{\"id\":\"%s\",\"usage\":"
                + "{\"promptTokens\":%d,\"completionTokens\":%d,\"totalTokens\":%d}}}";
        String tool = "{\"authorRole\":\"TOOL\",\"content\":\"17 degrees\",\"metadata\":{\"id\":\"call_1\"}}";
        String loop = "[" + message.formatted("chatcmpl-1", 6_000, 60, 6_060) + "," + tool + ","
                + message.formatted("chatcmpl-2", 6_200, 900, 7_100) + "]";
        assertEquals(13_160L, sniff("application/json", loop, 4096));
        assertEquals(13_160L, sniff("application/json", loop, 7));
        String oneCall = "[" + message.formatted("chatcmpl-1", 6_000, 60, 6_060) + ","
                + message.formatted("chatcmpl-1", 6_000, 900, 6_900) + "]";
        assertEquals(6_900L, sniff("application/json", oneCall, 4096), "one call's reports under its id");
    }

    /**
     * AutoGen Studio's team run ({@code GET /predict/{task}}): each agent message's {@code models_usage} in
     * {@code data.task_result.messages[]} adds up, provisional as an envelope's {@code data} is (round 302); a
     * {@code usage} or {@code models_usage} anywhere else (a tool call's arguments, a nested object) is never read.
     * A 0/0 is a placeholder call, counted once by its message's id (round 309).
     */
    @Test
    void autoGenStudioTeamMessagesAddUpAndPlaceholdersAreCountedOnce() {
        String message = "{\"id\":\"%s\",\"source\":\"%s\",\"models_usage\":%s,\"metadata\":{},"
                + "\"content\":%s,\"type\":\"TextMessage\"}";
        String run = "{\"message\":\"Task successfully completed\",\"status\":true,\"data\":{\"task_result\":"
                + "{\"messages\":[%s],\"stop_reason\":null},\"usage\":\"\",\"duration\":1.5}}";
        String task = message.formatted("t", "user", "null", "\"Write a story\"");
        String writer = message.formatted("w", "writer", "{\"prompt_tokens\":52,\"completion_tokens\":4415}", "\"x\"");
        String critic = message.formatted("c", "critic", "{\"prompt_tokens\":4502,\"completion_tokens\":96}", "\"ok\"");
        UsageSniffer team = sniffer("application/json", run.formatted(task + "," + writer + "," + critic), true);
        assertEquals(9_065L, team.usage());
        assertTrue(team.provisional(), "an envelope's data may be a model's own JSON");
        assertEquals(0L, team.placeholders());
        // usage the model could write: a tool call's arguments as an object, an object within a message
        String tool = "{\"id\":\"r\",\"source\":\"writer\",\"models_usage\":null,\"content\":[{\"arguments\":"
                + "{\"models_usage\":{\"prompt_tokens\":1,\"completion_tokens\":1},\"usage\":{\"total_tokens\":1}}}],"
                + "\"extra\":{\"models_usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}},\"type\":\"ToolCallRequestEvent\"}";
        assertNull(sniffer("application/json", run.formatted(task + "," + tool), true).usage());
        assertNull(sniffer("application/json", "{\"data\":{\"result\":{\"messages\":[" + writer + "]}}}", true).usage(),
                "only Studio's task_result");
        // a streaming agent's 0/0 beside another's counts: one placeholder, repeated or not
        String placeholder = message.formatted("w", "writer", "{\"prompt_tokens\":0,\"completion_tokens\":0}", "\"x\"");
        UsageSniffer streamed = sniffer("application/json", run.formatted(task + "," + placeholder + "," + critic + ","
                + placeholder), true);
        assertEquals(4_598L, streamed.usage());
        assertEquals(1L, streamed.placeholders());
        String events = "data: " + placeholder + "\n\ndata: " + critic + "\n\n";
        assertEquals(1L, sniffer("text/event-stream", events, true).placeholders());
        assertFalse(sniffer("text/event-stream", events, true).provisional());
        assertEquals(0L, sniffer("text/event-stream", events + "data: " + writer + "\n\n", true).placeholders(),
                "a message that reported its counts is no placeholder");
        UsageSniffer alone = sniffer("text/event-stream", "data: " + placeholder + "\n\n", true);
        assertEquals(1L, alone.placeholders());
        assertTrue(alone.provisional());
    }

    /**
     * AgentChat's {@code TaskResult} returned whole ({@code {"messages": […], "stop_reason": …}}): its messages'
     * {@code models_usage} add up, provisional, in either field order, but only in exactly that shape and only of
     * messages with {@code source}, {@code models_usage} and {@code type}; after {@code run_stream}'s messages, the
     * TaskResult repeating them adds nothing (round 406).
     */
    @Test
    void autoGenTaskResultIsReadInItsExactShapeAndRepeatsNothing() {
        String message = "{\"id\":\"%s\",\"source\":\"assistant\",\"models_usage\":%s,\"metadata\":{},"
                + "\"content\":\"x\",\"type\":\"TextMessage\"}";
        String first = message.formatted("a", "{\"prompt_tokens\":1214,\"completion_tokens\":38}");
        String second = message.formatted("b", "{\"prompt_tokens\":1322,\"completion_tokens\":611}");
        String messages = "\"messages\":[" + first + "," + second + "]";
        UsageSniffer whole = sniffer("application/json", "{" + messages + ",\"stop_reason\":null}", true);
        assertEquals(3_185L, whole.usage());
        assertTrue(whole.provisional(), "an application's exact shape may be a model's own JSON");
        assertEquals(3_185L, sniffer("application/json", "{\"stop_reason\":\"done\"," + messages + "}", true).usage());
        assertNull(sniffer("application/json", "{" + messages + ",\"stop_reason\":null,\"thread_id\":\"t\"}", true)
                .usage(), "another field: not a TaskResult");
        assertNull(sniffer("application/json", "{" + messages + "}", true).usage(), "LangGraph's state: not a TaskResult");
        assertNull(sniffer("application/json", "{" + messages + ",\"stop_reason\":1}", true).usage());
        assertEquals(1_252L, sniffer("application/json", "{\"messages\":[" + first + ","
                + second.replace("\"source\":\"assistant\",", "") + "],\"stop_reason\":null}", true).usage(),
                "a message without its source is no AgentChat message");
        String events = "data: " + first + "\n\ndata: " + second + "\n\n";
        UsageSniffer streamed = sniffer("text/event-stream", events + "data: {" + messages + ",\"stop_reason\":null}\n\n",
                true);
        assertEquals(3_185L, streamed.usage());
        assertFalse(streamed.provisional(), "the TaskResult repeats the messages streamed: it adds nothing");
        // a message repeated with smaller counts lowers nothing (round 413)
        assertEquals(3_185L, sniffer("text/event-stream", events + "data: " + second.replace("611", "6") + "\n\n", true)
                .usage());
    }

    /**
     * AgentChat 0.6.1 and before: messages without an {@code id}. Streamed they add up; the TaskResult ending
     * run_stream is the whole run, the larger counting, and so are its 0/0 placeholders (round 413).
     */
    @Test
    void autoGenTaskResultWithoutMessageIdsIsTheWholeRun() {
        String message = "{\"source\":\"assistant\",\"models_usage\":%s,\"metadata\":{},\"content\":\"x\","
                + "\"type\":\"TextMessage\"}";
        String first = message.formatted("{\"prompt_tokens\":1214,\"completion_tokens\":38}");
        String second = message.formatted("{\"prompt_tokens\":1322,\"completion_tokens\":611}");
        String taskResult = "{\"messages\":[" + first + "," + second + "],\"stop_reason\":null}";
        assertEquals(3_185L, sniffer("application/json", taskResult, true).usage(), "returned whole");
        String events = "data: " + first + "\n\ndata: " + second + "\n\n";
        UsageSniffer streamed = sniffer("text/event-stream", events + "data: " + taskResult + "\n\n", true);
        assertEquals(3_185L, streamed.usage(), "run_stream: the TaskResult repeats the messages streamed");
        assertFalse(streamed.provisional());
        assertEquals(3_185L, sniffer("text/event-stream", events, true).usage(), "cut before the TaskResult");
        String placeholder = message.formatted("{\"prompt_tokens\":0,\"completion_tokens\":0}");
        String withPlaceholder = "{\"messages\":[" + placeholder + "," + second + "],\"stop_reason\":null}";
        UsageSniffer placeholders = sniffer("text/event-stream", "data: " + placeholder + "\n\ndata: " + second
                + "\n\ndata: " + withPlaceholder + "\n\n", true);
        assertEquals(1_933L, placeholders.usage());
        assertEquals(1L, placeholders.placeholders(), "the streamed 0/0 and the TaskResult's are one call");
    }

    /**
     * LM Studio's native chat ({@code POST /api/v1/chat}): {@code stats} of its answer, and {@code result.stats} of
     * its stream's {@code chat.end} event, counted as input and output (round 315); a {@code stats} without both
     * counters, or a {@code result.stats} outside a {@code chat.end}, is no usage.
     */
    @Property(tries = 30)
    void lmStudioNativeStatsAreReadOnlyAtItsPlacesAndWithBothCounters(@ForAll @IntRange(min = 1, max = 97) int pieceSize) {
        String stats = "{\"input_tokens\":9000,\"total_output_tokens\":700,\"reasoning_output_tokens\":24,"
                + "\"tokens_per_second\":41.09,\"time_to_first_token_seconds\":1.367}";
        String result = "{\"model_instance_id\":\"openai/gpt-oss-20b\",\"output\":[{\"type\":\"message\",\"content\":\"x\"}],"
                + "\"stats\":" + stats + ",\"thread_id\":\"thread_1\"}";
        assertEquals(9_700L, sniff("application/json", result, pieceSize));
        String stream = "event: chat.start\ndata: {\"type\":\"chat.start\",\"model_instance_id\":\"m\"}\n\n"
                + "event: message.delta\ndata: {\"type\":\"message.delta\",\"content\":\"x\"}\n\n"
                + "event: chat.end\ndata: {\"type\":\"chat.end\",\"result\":" + result + "}\n\n";
        assertEquals(9_700L, sniff("text/event-stream", stream, pieceSize));
        // the type may come after the result
        assertEquals(9_700L, sniff("text/event-stream", "data: {\"result\":" + result + ",\"type\":\"chat.end\"}\n\n", pieceSize));
    }

    @Test
    void statsThatAreNotLmStudiosAreNoUsage() {
        UsageSniffer whole = sniffer("application/json", "{\"stats\":{\"input_tokens\":9000,\"total_output_tokens\":700}}", true);
        assertEquals(9_700L, whole.usage());
        assertFalse(whole.provisional());
        org.junit.jupiter.api.Assertions.assertArrayEquals(new long[] {9_000, 0, 700, 0}, whole.kinds(),
                "input, and output with its reasoning inside");
        // an application's own stats: one counter, or none of LM Studio's
        assertNull(sniffWithHead("application/json", "{\"answer\":\"x\",\"stats\":{\"input_tokens\":9000}}"));
        assertNull(sniffWithHead("application/json", "{\"answer\":\"x\",\"stats\":{\"total_output_tokens\":700}}"));
        assertNull(sniffWithHead("application/json", "{\"answer\":\"x\",\"stats\":{\"latency_ms\":12,\"tokens\":3}}"));
        // result.stats only in a chat.end event; stats deeper than LM Studio puts it never
        String lmStats = "{\"input_tokens\":9000,\"total_output_tokens\":700}";
        assertNull(sniffWithHead("application/json", "{\"result\":{\"stats\":" + lmStats + "}}"));
        assertNull(sniffWithHead("text/event-stream", "data: {\"type\":\"message.delta\",\"result\":{\"stats\":" + lmStats + "}}\n\n"));
        assertNull(sniffWithHead("application/json", "{\"data\":{\"stats\":" + lmStats + "}}"));
        // LM Studio's OpenAI-compatible answer carries an empty stats beside its usage: the usage counts
        assertEquals(9_700L, sniffWithHead("application/json", "{\"object\":\"chat.completion\",\"usage\":{\"prompt_tokens\":9000,"
                + "\"completion_tokens\":700,\"total_tokens\":9700},\"stats\":{}}"));
    }

    /**
     * TGI's {@code generate_stream}: its last event's {@code details} with {@code input_length} is the call's whole
     * usage (round 315); without it ({@code /generate}'s details) the output alone, with the request's estimated
     * input added, provisional.
     */
    @Test
    void tgiDetailsCountTheInputWhenTheyNameItsLength() {
        String stream = "data:{\"index\":1,\"token\":{\"id\":5165,\"text\":\"Clause\",\"special\":false},"
                + "\"generated_text\":null,\"details\":null}\n\n"
                + "data:{\"index\":2,\"token\":{\"id\":2,\"text\":\"</s>\",\"special\":true},\"generated_text\":\"Clause\","
                + "\"details\":{\"finish_reason\":\"eos_token\",\"generated_tokens\":700,\"seed\":null,\"input_length\":9000}}\n\n";
        UsageSniffer s = new UsageSniffer(1_000);
        byte[] bytes = stream.getBytes(StandardCharsets.UTF_8);
        s.begin("text/event-stream", null, bytes);
        s.feed(bytes, 0, bytes.length);
        s.finish();
        assertEquals(9_700L, s.usage());
        assertFalse(s.provisional());
        org.junit.jupiter.api.Assertions.assertArrayEquals(new long[] {9_000, 0, 700, 0}, s.kinds());
        UsageSniffer generate = new UsageSniffer(1_000);
        byte[] whole = "{\"generated_text\":\"Clause\",\"details\":{\"finish_reason\":\"length\",\"generated_tokens\":700,\"seed\":null}}"
                .getBytes(StandardCharsets.UTF_8);
        generate.begin("application/json", null, whole);
        generate.feed(whole, 0, whole.length);
        generate.finish();
        assertEquals(1_700L, generate.usage(), "the output and the estimated input");
        assertTrue(generate.provisional());
        org.junit.jupiter.api.Assertions.assertArrayEquals(new long[] {1_000, 0, 700, 0}, generate.kinds());
    }

    /**
     * Round 394: Pydantic AI's {@code all_messages_json()} repeats the {@code ModelResponse}s the client sent back as
     * its history; one whose id and counts the request carried is not charged again, one under that id with other
     * counts (a client naming this run's call, its id guessed) is.
     */
    @Test
    void aPydanticAiModelResponseSentBackIsChargedOnlyWhenItsCountsDiffer() {
        String turn1 = "{\"parts\":[{\"content\":\"a\",\"part_kind\":\"text\"}],\"usage\":{\"input_tokens\":2100,"
                + "\"output_tokens\":600},\"kind\":\"response\",\"provider_response_id\":\"chatcmpl-1\"}";
        String turn2 = turn1.replace("2100", "3400").replace("600", "900").replace("chatcmpl-1", "chatcmpl-2");
        String answer = "[" + turn1 + "," + turn2 + "]";
        assertEquals(4_300L, sniffSentBack("{\"history\":[" + turn1 + "]}", answer));
        assertEquals(7_000L, sniffSentBack("{\"history\":[" + turn1.replace("600", "601") + "]}", answer),
                "other counts under turn 1's id");
        assertEquals(4_300L, sniffSentBack("{\"history\":[" + turn1 + "," + turn2.replace("900", "1") + "]}", answer),
                "turn 2's id, guessed, with other counts: turn 2's call is still charged");
    }

    private static Long sniffSentBack(String request, String answer) {
        UsageSniffer s = new UsageSniffer();
        s.requestMessages(RequestMessageIds.sentBy(request.getBytes(StandardCharsets.UTF_8)));
        byte[] bytes = answer.getBytes(StandardCharsets.UTF_8);
        s.begin("application/json", null, bytes);
        s.feed(bytes, 0, bytes.length);
        s.finish();
        return s.usage();
    }

    /** A Gemini chunk of {@code id}: the prompt counted, the candidates when {@code candidates} is not null. */
    private static String geminiRun(String id, long prompt, Long candidates) {
        return "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hello there\"}],\"role\":\"model\"}"
                + (candidates == null ? "" : ",\"finishReason\":\"STOP\"") + ",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":"
                + prompt + (candidates == null ? "" : ",\"candidatesTokenCount\":" + candidates) + ",\"totalTokenCount\":"
                + (prompt + (candidates == null ? 0 : candidates)) + "},\"responseId\":\"" + id + "\"}\n\n";
    }

    /**
     * Round 360 beside round 163: two Gemini streams merged in runs of chunks. A call whose id comes again after
     * another began was not cut: it is counted once, by its final report (1,000 + 500 and 2,000 + 200).
     */
    @Test
    void geminiStreamsMergedInRunsAreCountedOnce() {
        String a = geminiRun("A", 1_000, null);
        String b = geminiRun("B", 2_000, null);
        assertEquals(3_700L, sniff("text/event-stream", a + a + b + geminiRun("A", 1_000, 500L)
                + geminiRun("B", 2_000, 200L), 64));
        assertEquals(3_700L, sniff("text/event-stream", a + a + b + b + geminiRun("A", 1_000, 500L)
                + geminiRun("B", 2_000, 200L), 64));
    }

    private static String claudeAssistant(String id, int input, int cacheRead, int output) {
        return "{\"type\":\"assistant\",\"message\":{\"id\":\"" + id + "\",\"type\":\"message\",\"role\":\"assistant\","
                + "\"content\":[{\"type\":\"text\",\"text\":\"ok\"}],\"usage\":{\"input_tokens\":" + input
                + ",\"cache_read_input_tokens\":" + cacheRead + ",\"output_tokens\":" + output + "}},\"session_id\":\"s\"}\n";
    }

    /**
     * Claude Code's stream-json (round 517): each assistant line is one API call's usage, counted once per message id
     * however many lines the CLI splits the message over; the result line's usage is the run's total, which stands
     * beside the calls' sum (never added to it); a run cut before its result is charged its calls.
     */
    @Test
    void claudeCodeStreamJsonCountsEachCallOnceAndTheResultAsTheRunsTotal() {
        String calls = "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\"}\n"
                + claudeAssistant("msg_a", 3000, 1000, 200) + claudeAssistant("msg_a", 3000, 1000, 200)
                + claudeAssistant("msg_b", 3500, 0, 800);
        String result = "{\"type\":\"result\",\"subtype\":\"success\",\"session_id\":\"s\",\"usage\":"
                + "{\"input_tokens\":6500,\"cache_read_input_tokens\":1000,\"output_tokens\":1000}}\n";
        UsageSniffer cut = sniffer("application/x-ndjson", calls, true);
        assertEquals(8_500L, cut.usage());
        assertFalse(cut.provisional());
        assertEquals(8_500L, sniff("application/x-ndjson", calls + result, 7));
        // the result alone, as before: its usage
        assertEquals(8_500L, sniffWithHead("application/x-ndjson", result));
    }
    private static String claudeStreamEvent(String event) {
        return "{\"type\":\"stream_event\",\"event\":" + event + ",\"parent_tool_use_id\":null,\"session_id\":\"s\"}\n";
    }

    /**
     * Claude Code's stream-json with partial messages (round 519): the assistant line, written before the message's
     * message_delta, carries the message_start snapshot (output 1); the wrapped message_delta's cumulative counts,
     * merged over its message_start's and named by that start's message id, are the call's, and the larger report of
     * one id stands, so a run cut before its result is charged its calls' real output, each call once.
     */
    @Test
    void claudeCodePartialMessagesReadTheWrappedMessageDeltaOfEachCall() {
        StringBuilder calls = new StringBuilder("{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\"}\n");
        int[][] counts = {{3000, 200}, {3500, 800}};
        for (int i = 0; i < counts.length; i++) {
            String id = "msg_" + i;
            calls.append(claudeStreamEvent("{\"type\":\"message_start\",\"message\":{\"id\":\"" + id
                    + "\",\"type\":\"message\",\"usage\":{\"input_tokens\":" + counts[i][0] + ",\"output_tokens\":1}}}"))
                    .append(claudeAssistant(id, counts[i][0], 0, 1))
                    .append(claudeStreamEvent("{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
                            + "\"usage\":{\"output_tokens\":" + counts[i][1] + "}}"))
                    .append(claudeStreamEvent("{\"type\":\"message_stop\"}"));
        }
        String result = "{\"type\":\"result\",\"subtype\":\"success\",\"session_id\":\"s\",\"usage\":"
                + "{\"input_tokens\":6500,\"output_tokens\":1000}}\n";
        assertEquals(7_500L, sniffer("application/x-ndjson", calls.toString(), true).usage());
        assertEquals(7_500L, sniff("application/x-ndjson", calls + result, 7));
        // an application's own {"event": {"usage": …}} is not Claude Code's wrapper: not read
        assertNull(sniffer("application/x-ndjson", "{\"type\":\"note\",\"event\":{\"usage\":"
                + "{\"input_tokens\":5000,\"output_tokens\":5000}}}\n", true).usage());
    }

    private static String claudeResult(String session, int input, int output, String models) {
        return "{\"type\":\"result\",\"subtype\":\"success\",\"session_id\":\"" + session + "\",\"usage\":"
                + "{\"input_tokens\":" + input + ",\"output_tokens\":" + output + "}"
                + (models == null ? "" : ",\"modelUsage\":{" + models + "}") + "}\n";
    }

    private static String modelUsage(String model, int input, int output) {
        return "\"" + model + "\":{\"inputTokens\":" + input + ",\"outputTokens\":" + output
                + ",\"cacheReadInputTokens\":0,\"cacheCreationInputTokens\":0,\"webSearchRequests\":0,"
                + "\"costUSD\":0.0345,\"contextWindow\":200000}";
    }

    /**
     * Claude Code's runs (rounds 522-524, ClaudeCodeRuns): a run's total is the largest of its calls (per message id),
     * its result's usage and its result's modelUsage added up over the models (which counts the helper model's calls
     * and never adds to the others); runs, by session_id, add up; a wrapped message_delta is its thread's
     * (parent_tool_use_id) last message_start's.
     */
    @Test
    void claudeCodeRunsAreEachTheirLargestFigureAndAddUp() {
        String sonnet = modelUsage("claude-sonnet-4", 6500, 1000);
        String haiku = modelUsage("claude-haiku", 9000, 400);
        // modelUsage counts the helper model's call beside the main loop, never on top of usage
        assertEquals(16_900L, sniffWithHead("application/json", claudeResult("s", 6500, 1000, sonnet + "," + haiku)));
        assertEquals(7_500L, sniffWithHead("application/json", claudeResult("s", 6500, 1000, sonnet)));
        String lines = claudeAssistant("msg_a", 3000, 0, 1) + claudeAssistant("msg_b", 3500, 0, 1);
        assertEquals(16_900L, sniff("application/x-ndjson", lines + claudeResult("s", 6500, 1000, sonnet + "," + haiku), 7));
        // two runs, each its own session and result: they add up, whichever comes last
        String runA = claudeAssistant("msg_a", 3000, 0, 1).replace("\"s\"", "\"a\"") + claudeResult("a", 3000, 9000, null);
        String runB = claudeAssistant("msg_b", 3500, 0, 1).replace("\"s\"", "\"b\"") + claudeResult("b", 3500, 800, null);
        assertEquals(16_300L, sniff("application/x-ndjson", runA + runB, 7));
        assertEquals(16_300L, sniff("application/x-ndjson", runB + runA, 7));
        // the same run's result repeated counts once
        assertEquals(12_000L, sniff("application/x-ndjson", runA + claudeResult("a", 3000, 9000, null), 7));
    }

    private static String claudeStreamEvent(String event, String parent) {
        return "{\"type\":\"stream_event\",\"event\":" + event + ",\"parent_tool_use_id\":"
                + (parent == null ? "null" : "\"" + parent + "\"") + ",\"session_id\":\"s\"}\n";
    }

    /** Two subagents' interleaved partial messages: each delta goes to the start under its own parent_tool_use_id. */
    @Test
    void claudeCodeConcurrentSubagentsDeltasGoToTheirOwnStart() {
        String startA = claudeStreamEvent("{\"type\":\"message_start\",\"message\":{\"id\":\"msg_a\",\"usage\":"
                + "{\"input_tokens\":2000,\"output_tokens\":1}}}", "toolu_a");
        String startB = claudeStreamEvent("{\"type\":\"message_start\",\"message\":{\"id\":\"msg_b\",\"usage\":"
                + "{\"input_tokens\":2500,\"output_tokens\":1}}}", "toolu_b");
        String deltaA = claudeStreamEvent("{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":6000}}", "toolu_a");
        String deltaB = claudeStreamEvent("{\"type\":\"message_delta\",\"usage\":{\"output_tokens\":5000}}", "toolu_b");
        assertEquals(15_500L, sniffer("application/x-ndjson", startA + startB + deltaA + deltaB, true).usage());
        assertEquals(15_500L, sniffer("application/x-ndjson", startA + startB + deltaB + deltaA, true).usage());
    }
}

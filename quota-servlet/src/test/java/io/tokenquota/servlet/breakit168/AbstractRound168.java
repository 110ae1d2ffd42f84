package io.tokenquota.servlet.breakit168;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.RelayedCalls;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * Round 168 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the text of answers written raw (a model's own JSON, events an application names) and answers that
 * carry one call's report twice or several calls' reports. {@code POST /ai/relay/<scenario>} writes the
 * scenario's pieces as they are, under its status and content type, and counts the model calls it
 * stands for. Every model is charged one unit a token.
 */
abstract class AbstractRound168 extends RelayedCalls {
    @Override
    protected ModelWeights weights() {
        return ONE_UNIT_A_TOKEN;
    }

    // ------------------------------------------------------------------ bodies

    static String esc(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"");
    }

    /** A model's structured answer ("answer in JSON"): a report of 12 sections of about 1,500 characters each. */
    static String report(String lead) {
        StringBuilder b = new StringBuilder("{").append(lead).append("\"title\":\"Vendor contract review\",\"sections\":[");
        String prose = Prose.english(18_000);
        for (int i = 0; i < 12; i++) {
            b.append(i == 0 ? "" : ",").append("{\"heading\":\"Finding ").append(i + 1).append("\",\"body\":\"")
                    .append(esc(prose.substring(i * 1_500, (i + 1) * 1_500))).append("\"}");
        }
        return b.append("]}").toString();
    }

    static List<String> words(int chars) {
        List<String> words = new ArrayList<>();
        for (String w : Prose.english(chars).split(" ")) {
            if (!w.isEmpty()) {
                words.add(w);
            }
        }
        return words;
    }

    // Spring AI's ChatResponse; nativeUsage: it keeps OpenAI's own usage of the same counts
    static String springAi(String id, String text, String finish, long prompt, long completion, boolean nativeUsage) {
        return springAi(id, text, finish, prompt, completion, nativeUsage ? "{\"completion_tokens\":" + completion
                + ",\"prompt_tokens\":" + prompt + ",\"total_tokens\":" + (prompt + completion)
                + ",\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}" : null);
    }

    static String cohereUsage(long in, long out) {
        return "{\"billed_units\":{\"input_tokens\":" + in + ",\"output_tokens\":" + out + "},\"tokens\":{\"input_tokens\":"
                + in + ",\"output_tokens\":" + out + "}}";
    }

    static String responseWhole(String id, String text, long in, long out) {
        return "{\"id\":\"" + id + "\",\"object\":\"response\",\"created_at\":1741476542,\"status\":\"completed\",\"error\":null,"
                + "\"model\":\"gpt-4.1-2025-04-14\",\"output\":[{\"type\":\"message\",\"id\":\"msg_" + id.substring(5)
                + "\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"" + text
                + "\",\"annotations\":[]}]}],\"usage\":{\"input_tokens\":" + in + ",\"input_tokens_details\":{\"cached_tokens\":0},"
                + "\"output_tokens\":" + out + ",\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":" + (in + out) + "}}";
    }

    static String anthropicWhole(String id, String text, long in, long out) {
        return "{\"id\":\"" + id + "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\","
                + "\"content\":[{\"type\":\"text\",\"text\":\"" + text + "\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
                + "\"usage\":{\"input_tokens\":" + in + ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
                + "\"output_tokens\":" + out + "}}";
    }

    // Gemini generateContent, whole, as answers without a responseId came
    static String geminiWhole(String text, long prompt, long candidates) {
        return "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"" + text + "\"}]},"
                + "\"finishReason\":\"STOP\",\"avgLogprobs\":-0.21}],\"usageMetadata\":{\"promptTokenCount\":" + prompt
                + ",\"candidatesTokenCount\":" + candidates + ",\"totalTokenCount\":" + (prompt + candidates)
                + "},\"modelVersion\":\"gemini-1.5-pro-002\"}";
    }

    {
        // --- a model's structured JSON answer, written as it is
        answer("report-plain", 200, "application/json", List.of(report("")), 1);
        // --- the model's words streamed as events: Flux<String> (unnamed, the text) or named events of the app's JSON
        List<String> ws = words(14_000);
        List<String> plain = new ArrayList<>();
        List<String> named = new ArrayList<>();
        List<String> namedText = new ArrayList<>();
        for (String w : ws) {
            plain.add(sse(null, w));
            named.add(sse("token", "{\"content\":\" " + esc(w) + "\"}"));
            namedText.add(sse("message", w));
        }
        answer("words-unnamed-text", 200, "text/event-stream", plain, 1);
        answer("words-named-json", 200, "text/event-stream", named, 1);
        answer("words-named-text", 200, "text/event-stream", namedText, 1);
        // --- no model called
        String echoed = esc(Prose.english(20_000));
        answer("validation-422", 422, "application/json", List.of("{\"detail\":[{\"type\":\"string_too_long\",\"loc\":[\"body\","
                + "\"task\"],\"msg\":\"String should have at most 200 characters\",\"input\":\"" + echoed + "\"}]}"), 0);
        answer("not-found-html", 404, "text/html", List.of("<!doctype html><html><body><h1>No such assistant</h1><pre>"
                + Prose.english(20_000) + "</pre></body></html>"), 0);
        answerReporting("stored-text-reported-zero", 200, "text/plain", List.of(Prose.english(20_000)), 0, 0);
        // --- Spring AI
        answer("spring-ai-native-usage", 200, "text/event-stream",
                List.of(sse(null, springAi("chatcmpl-Sn1", "The plan.", "STOP", 3_000, 400, true))), 1);
        // streamed, include-usage: the stop chunk carries the usage copied from the usage chunk after it
        answer("spring-ai-stream-usage-copied", 200, "text/event-stream", List.of(
                sse(null, springAi("chatcmpl-Ss1", "The", null, 0, 0, false)),
                sse(null, springAi("chatcmpl-Ss1", " plan.", "STOP", 3_000, 400, true)),
                sse(null, springAi("chatcmpl-Ss1", null, null, 3_000, 400, true))), 1);
        // a tool loop streamed: call one's usage chunk (3,000 + 400); call two's chunks carry the running total
        // (3,000 + 400, then 5,000 + 700 in its stop chunk and its usage chunk)
        answer("spring-ai-tool-loop-stream", 200, "text/event-stream", List.of(
                sse(null, springAi("chatcmpl-Tl1", null, null, 3_000, 400, true)),
                sse(null, springAi("chatcmpl-Tl2", "The", null, 3_000, 400, true)),
                sse(null, springAi("chatcmpl-Tl2", " memo.", "STOP", 5_000, 700, false)),
                sse(null, springAi("chatcmpl-Tl2", null, null, 5_000, 700, false))), 2);
        // --- one call read back whole after its stream
        answer("cohere-stream-then-whole", 200, "text/event-stream", List.of(
                sse("message-start", "{\"id\":\"c14c80c3-18eb-4519\",\"type\":\"message-start\",\"delta\":{\"message\":"
                        + "{\"role\":\"assistant\",\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}"),
                sse("content-delta", "{\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"The plan.\"}}}}"),
                sse("message-end", "{\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":"
                        + cohereUsage(3_000, 400) + "}}"),
                sse(null, "{\"id\":\"c14c80c3-18eb-4519\",\"message\":{\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
                        + "\"text\":\"The plan.\"}]},\"finish_reason\":\"COMPLETE\",\"usage\":" + cohereUsage(3_000, 400) + "}")), 1);
        answer("anthropic-stream-then-whole", 200, "text/event-stream", List.of(
                sse("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01Ab\",\"type\":\"message\",\"role\":"
                        + "\"assistant\",\"model\":\"claude-sonnet-4-20250514\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
                        + "\"usage\":{\"input_tokens\":3000,\"output_tokens\":1}}}"),
                sse("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"),
                sse("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"The plan.\"}}"),
                sse("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"),
                sse("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
                        + "\"usage\":{\"output_tokens\":400}}"),
                sse("message_stop", "{\"type\":\"message_stop\"}"),
                sse(null, anthropicWhole("msg_01Ab", "The plan.", 3_000, 400))), 1);
        answer("responses-stream-then-whole", 200, "text/event-stream", List.of(
                sse("response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_0aB1\","
                        + "\"object\":\"response\",\"status\":\"in_progress\",\"model\":\"gpt-4.1-2025-04-14\",\"output\":[],\"usage\":null}}"),
                sse("response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":"
                        + "\"msg_0aB1\",\"output_index\":0,\"content_index\":0,\"delta\":\"The plan.\"}"),
                sse("response.completed", "{\"type\":\"response.completed\",\"sequence_number\":2,\"response\":"
                        + responseWhole("resp_0aB1", "The plan.", 3_000, 400) + "}"),
                sse(null, responseWhole("resp_0aB1", "The plan.", 3_000, 400))), 1);
        // --- two calls, each answered whole
        answer("two-responses-whole", 200, "text/event-stream", List.of(
                sse(null, responseWhole("resp_1aA1", "The plan.", 3_000, 400)),
                sse(null, responseWhole("resp_2bB2", "The memo.", 2_000, 300))), 2);
        answer("one-response-whole", 200, "application/json", List.of(responseWhole("resp_1aA1", "The plan.", 3_000, 400)), 1);
        answer("two-gemini-whole", 200, "text/event-stream", List.of(
                sse(null, geminiWhole("The plan.", 3_000, 400)), sse(null, geminiWhole("The memo.", 2_000, 300))), 2);
        answer("two-responses-whole-ndjson", 200, "application/x-ndjson", List.of(
                responseWhole("resp_1aA1", "The plan.", 3_000, 400) + "\n",
                responseWhole("resp_2bB2", "The memo.", 2_000, 300) + "\n"), 2);
    }

    /** Why some tests are disabled: a model's own JSON answer is not counted as its text (issue 11, open). */
    static final String OPEN_MODEL_JSON = "issue 11, open: a model's own JSON answer without usage (a body, or events"
            + " of an application's JSON) is charged its estimate, not its text (docs/decisions.md, \"A model's own JSON"
            + " answer (open)\")";

    // ------------------------------------------------------------------ a model's JSON answer with a provider-like field

    /** Control: the model's structured report (about 18,000 characters of findings) is charged its text. */
    @Disabled(OPEN_MODEL_JSON)
    @Test
    void controlModelJsonReportIsChargedItsText() {
        long used = post("report-plain");
        assertTrue(used > 2_500, kind() + " report-plain charged " + used);
    }

    // ------------------------------------------------------------------ the model's words as named events

    /** Control: Flux&lt;String&gt;, about 2,300 words each its own unnamed event, is charged its text. */
    @Test
    void controlUnnamedTextEventsAreChargedTheirText() {
        long used = post("words-unnamed-text");
        assertTrue(used > 2_000, kind() + " words-unnamed-text charged " + used);
    }

    /**
     * Attack (under-charge): the same words streamed as Spring's {@code ServerSentEvent} with an event name
     * and the application's JSON ({@code event: token}, {@code data: {"content":" word"}}): a named
     * event's JSON is taken for the application's own, so the model's words are not counted. Expected: at
     * least 90% of the control's charge.
     */
    @Disabled(OPEN_MODEL_JSON)
    @Test
    void namedEventsOfApplicationJsonAreChargedTheirText() {
        long control = post("words-unnamed-text");
        long used = post("words-named-json");
        assertTrue(used * 10 >= control * 9, kind() + " named JSON events: charged " + used + ", same words unnamed " + control);
    }

    /** Control: named events whose data is the plain word ({@code event: message}). */
    @Test
    void namedTextEventsAreChargedTheirText() {
        long control = post("words-unnamed-text");
        long used = post("words-named-text");
        assertTrue(used * 10 >= control * 9, kind() + " named text events: charged " + used + ", unnamed " + control);
    }

    // ------------------------------------------------------------------ nothing reached a model

    /** Over-charge attempt: a 422 whose JSON echoes a 20,000-character input calls no model. Expected 0. */
    @Test
    void validationErrorEchoingInputIsFree() {
        charged("validation-422", 0, "422 validation error echoing the input");
    }

    /** Over-charge attempt: a 404 HTML page of 20,000 characters. Expected 0. */
    @Test
    void notFoundPageIsFree() {
        charged("not-found-html", 0, "404 HTML page");
    }

    /** Over-charge attempt: stored text answered to a POST whose endpoint reports 0 for itself. Expected 0. */
    @Test
    void storedTextReportedZeroIsFree() {
        charged("stored-text-reported-zero", 0, "stored text, endpoint reported 0");
    }

    // ------------------------------------------------------------------ Spring AI

    /**
     * Double count: one Spring AI ChatResponse whose usage keeps the provider's own usage
     * ({@code metadata.usage.nativeUsage}, as Spring AI's DefaultUsage writes it). Expected 3,400.
     */
    @Test
    void springAiResponseWithNativeUsageIsChargedOnce() {
        charged("spring-ai-native-usage", 3_400, "one call 3,000 + 400 with nativeUsage");
    }

    /**
     * Double count: a Spring AI stream (include usage) whose stop chunk carries the usage copied from the
     * usage chunk after it, which carries it again. Expected 3,400.
     */
    @Test
    void springAiStreamWithCopiedUsageIsChargedOnce() {
        charged("spring-ai-stream-usage-copied", 3_400, "one call 3,000 + 400, stop and usage chunk");
    }

    /**
     * Accountant: a Spring AI tool loop streamed; call two's responses carry the running total of both
     * calls (3,000 + 400 then 5,000 + 700). Expected 3,400 + 2,300 = 5,700.
     */
    @Test
    void springAiToolLoopStreamIsChargedItsCalls() {
        charged("spring-ai-tool-loop-stream", 5_700, "two calls 3,000 + 400 and 2,000 + 300 as running totals");
    }

    // ------------------------------------------------------------------ one call read back whole after its stream

    /**
     * Double count: a Cohere v2 stream relayed to the page, then the answer the relay assembled from it
     * (same id, same usage) so the page can store it. The whole answer's usage names no call and comes
     * after the stream's message-end: taken for another call. Expected 3,400.
     */
    @Test
    void cohereStreamThenItsWholeAnswerIsChargedOnce() {
        charged("cohere-stream-then-whole", 3_400, "one Cohere call 3,000 + 400, stream then its accumulation");
    }

    /** Double count: an Anthropic stream then the SDK's accumulated Message (same id). Expected 3,400. */
    @Test
    void anthropicStreamThenItsAccumulatedMessageIsChargedOnce() {
        charged("anthropic-stream-then-whole", 3_400, "one Anthropic call 3,000 + 400, stream then its accumulation");
    }

    /** Double count: an OpenAI Responses stream then the final Response object (same id). Expected 3,400. */
    @Test
    void responsesStreamThenItsFinalResponseIsChargedOnce() {
        charged("responses-stream-then-whole", 3_400, "one Responses call 3,000 + 400, stream then its final object");
    }

    // ------------------------------------------------------------------ two calls answered whole

    /** Attack (unpaid call): two whole OpenAI Responses (different ids) as events. Expected 5,700. */
    @Test
    void twoWholeResponsesAreBothCharged() {
        charged("two-responses-whole", 5_700, "Responses 3,000 + 400 then 2,000 + 300");
    }

    /** Control: one whole OpenAI Response answered as JSON: 3,400. */
    @Test
    void controlOneWholeResponse() {
        charged("one-response-whole", 3_400, "one Responses call 3,000 + 400");
    }

    /**
     * Attack (unpaid call): two whole Gemini generateContent answers (each finished, each with its
     * usageMetadata, no responseId) relayed as events. Expected 5,700.
     */
    @Test
    void twoWholeGeminiAnswersAreBothCharged() {
        charged("two-gemini-whole", 5_700, "Gemini 3,000 + 400 then 2,000 + 300, whole answers");
    }

    /** Attack (unpaid call): the same as NDJSON lines. Expected 5,700. */
    @Test
    void twoWholeResponsesAsNdjsonAreBothCharged() {
        charged("two-responses-whole-ndjson", 5_700, "Responses 3,000 + 400 then 2,000 + 300, NDJSON");
    }
}

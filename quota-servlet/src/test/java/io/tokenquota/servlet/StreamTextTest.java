package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.TokenEstimator;
import java.nio.charset.StandardCharsets;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/** The new text a stream's deltas carry, counted for an answer cut before its usage. */
final class StreamTextTest {
    /** One token per character: the counts below are the characters of the deltas. */
    private static final TokenEstimator CHARS = CharSequence::length;

    private static long text(String contentType, String body, int pieceSize, boolean echoes, long input) {
        UsageSniffer s = new UsageSniffer(input);
        s.countText(CHARS, () -> echoes ? input : 0, -1, true);
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        s.begin(contentType, null, java.util.Arrays.copyOf(bytes, Math.min(bytes.length, pieceSize)));
        for (int i = 0; i < bytes.length; i += pieceSize) {
            s.feed(bytes, i, Math.min(pieceSize, bytes.length - i));
        }
        s.finish();
        return s.textTokens();
    }

    private static long text(String contentType, String body) {
        return text(contentType, body, 7, false, 0);
    }

    /** The text an AWS event stream carries whose chunks' bytes are {@code events} (InvokeModel's, relayed without its header). */
    private static long chunksText(String... events) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (String e : events) {
            out.writeBytes(io.tokenquota.servlet.testing.RelayedAnswers.awsEventStreamChunk(e));
        }
        byte[] bytes = out.toByteArray();
        UsageSniffer s = new UsageSniffer(0);
        s.countText(CHARS, () -> 0, -1, true);
        s.begin("application/vnd.amazon.eventstream", null, java.util.Arrays.copyOf(bytes, Math.min(bytes.length, 7)));
        for (int i = 0; i < bytes.length; i += 7) {
            s.feed(bytes, i, Math.min(7, bytes.length - i));
        }
        s.finish();
        return s.textTokens();
    }

    /**
     * A JSON line {@code {"chunk":{"bytes":…}}} is what AWS's SDKs yield for an agent's answer text and for a genuine
     * InvokeModel stream's event alike: the provider's event is not counted whole as text, the agent's text is.
     */
    @Test
    void aRelayedChunkLineCountsAnAgentsTextButNoProvidersEventWhole() {
        String prose = "Hello there";
        String event = "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
                + "\"text\":\"" + prose + "\"}}";
        java.util.function.Function<String, String> line = bytes -> "{\"chunk\":{\"bytes\":\""
                + java.util.Base64.getEncoder().encodeToString(bytes.getBytes(StandardCharsets.UTF_8)) + "\"}}\n";
        long counted = text("application/json", line.apply(event) + line.apply(event));
        assertTrue(counted <= 2L * prose.length(), "provider events counted " + counted);
        // an agent's plain-text answer in such lines still counts, each chunk whole
        assertEquals(2L * prose.length(), text("application/json", line.apply(prose) + line.apply(prose)));
    }

    @Test
    void linesOfABodyReadAsEventsThatAreNoFieldCountAsText() {
        // the data's text (2), an event name written after the data and a keep-alive are the format's, a line
        // that is no field is text (10 and its line break)
        String body = "data: ab\nevent: token\n\n: ping\nid: 7\nretry: 10\nplain line\n\n";
        assertEquals(2 + 11, text("text/event-stream", body));
        // under a label that is no event stream's, a line opening with a colon is a model's (an emoji shortcode)
        assertEquals(12 + 5, text("text/plain;charset=UTF-8", ":rocket: go\nmore\n"));
    }

    @Test
    void encodedDataAmongRawTextIsNotCounted() {
        // a PNG's base64: its signature, then compressed (high-entropy) data
        byte[] png = new byte[3_750];
        new java.util.Random(5).nextBytes(png);
        System.arraycopy(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}, 0, png, 0, 8);
        String image = java.util.Base64.getEncoder().encodeToString(png);
        assertEquals(4 + 5, text("text/plain;charset=UTF-8", "see " + image + " done"));
        // an image as a data: URL, read as an event's data, past what one event keeps
        assertEquals("image/png;base64,".length(), text("text/plain;charset=UTF-8", "data:image/png;base64," + image));
        // a word of 256 such characters is still a word
        assertEquals(256 + 1, text("text/plain;charset=UTF-8", "x".repeat(256) + "."));
    }

    @Test
    void aWholeAnswersTextCountsOnceWhereItsProviderPutsIt() {
        // a chat completion's message, an Anthropic message's content, Hugging Face's generated_text
        assertEquals(5 + 3, text("application/json", "{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"hello\",\"reasoning_content\":\"hmm\"}}]}"));
        assertEquals(5 + 2, text("application/json", "{\"type\":\"message\",\"role\":\"assistant\",\"content\":["
                + "{\"type\":\"thinking\",\"thinking\":\"hello\"},{\"type\":\"text\",\"text\":\"ok\"}]}"));
        assertEquals(5, text("application/json", "[{\"generated_text\":\"hello\"}]"));
        // an application's own content list (not a message) is not a model's
        assertEquals(0, text("application/json", "{\"type\":\"page\",\"content\":[{\"text\":\"hello\"}]}"));
        // Perplexity's chunks carry the message so far beside the delta: the deltas count, once
        assertEquals(2 + 3, text("text/event-stream", "data: {\"object\":\"chat.completion\",\"choices\":[{\"delta\":"
                + "{\"content\":\"ab\"},\"message\":{\"content\":\"ab\"}}]}\n\ndata: {\"object\":\"chat.completion\","
                + "\"choices\":[{\"delta\":{\"content\":\"cde\"},\"message\":{\"content\":\"abcde\"}}]}\n\n"));
        // a TGI stream's last event repeats the whole text in generated_text beside its token
        assertEquals(2 + 3, text("text/event-stream", "data: {\"token\":{\"text\":\"ab\"}}\n\ndata: {\"token\":"
                + "{\"text\":\"cde\"},\"generated_text\":\"abcde\"}\n\n"));
    }

    /**
     * Round 503: whole answers whose text is where their format puts it, told by their shape: Cohere v1's chat answer
     * (its root {@code generation_id}), a Mistral conversation's ({@code "object": "conversation.response"}), Hugging
     * Face's translation and summary, watsonx.ai's results, an OpenAI Response that only refused.
     */
    @Test
    void wholeAnswersCountTheirTextWhereTheirShapePutsIt() {
        // Cohere v1: the answer's text once, not again as its chat history's CHATBOT turn
        assertEquals(5, text("application/json", "{\"response_id\":\"r\",\"text\":\"hello\",\"generation_id\":\"g\","
                + "\"chat_history\":[{\"role\":\"USER\",\"message\":\"hi\"},{\"role\":\"CHATBOT\",\"message\":"
                + "\"hello\"}],\"finish_reason\":\"COMPLETE\"}"));
        // an application's own document with a root text is no model's answer
        assertEquals(0, text("application/json", "{\"id\":\"note-1\",\"text\":\"hello\"}"));
        // Cohere v1's stream: its stream-start names the generation, its stream-end repeats the text under response
        assertEquals(2 + 3, text("text/event-stream", "data: {\"is_finished\":false,\"event_type\":\"stream-start\","
                + "\"generation_id\":\"g\"}\n\ndata: {\"is_finished\":false,\"event_type\":\"text-generation\",\"text\":\"ab\"}"
                + "\n\ndata: {\"is_finished\":false,\"event_type\":\"text-generation\",\"text\":\"cde\"}\n\ndata: "
                + "{\"is_finished\":true,\"event_type\":\"stream-end\",\"response\":{\"text\":\"abcde\","
                + "\"generation_id\":\"g\"}}\n\n"));
        // Mistral Conversations: a message's content (a string, or text and thinking chunks), a function call's
        // arguments (a string, or an object: its names and values)
        assertEquals(5 + 2, text("application/json", "{\"object\":\"conversation.response\",\"conversation_id\":\"c\","
                + "\"outputs\":[{\"object\":\"entry\",\"type\":\"message.output\",\"role\":\"assistant\",\"content\":"
                + "\"hello\"},{\"type\":\"function.call\",\"name\":\"f\",\"arguments\":\"{}\"}]}"));
        assertEquals(2 + 3 + 2, text("application/json", "{\"object\":\"conversation.response\",\"outputs\":[{\"type\":"
                + "\"message.output\",\"content\":[{\"type\":\"text\",\"text\":\"ab\"},{\"type\":\"thinking\",\"thinking\":"
                + "[{\"type\":\"text\",\"text\":\"cde\"}]}]},{\"type\":\"function.call\",\"arguments\":{\"a\":\"b\"}}]}"));
        // the same outputs in a document of no such object are no conversation's
        assertEquals(0, text("application/json", "{\"outputs\":[{\"content\":\"hello\",\"arguments\":\"{}\"}]}"));
        // Hugging Face's translation and summarization tasks
        assertEquals(5, text("application/json", "[{\"translation_text\":\"hello\"}]"));
        assertEquals(5, text("application/json", "[{\"summary_text\":\"hello\"}]"));
        // watsonx.ai without its counts: a whole answer, and a stream whose events each carry new text
        assertEquals(5, text("application/json", "{\"model_id\":\"m\",\"results\":[{\"generated_text\":\"hello\","
                + "\"stop_reason\":\"eos_token\"}]}"));
        assertEquals(2 + 3, text("text/event-stream", "data: {\"model_id\":\"m\",\"results\":[{\"generated_text\":\"ab\","
                + "\"stop_reason\":\"not_finished\"}]}\n\ndata: {\"model_id\":\"m\",\"results\":[{\"generated_text\":"
                + "\"cde\",\"stop_reason\":\"eos_token\"}]}\n\n"));
        // an OpenAI Response that only refused
        assertEquals(2, text("application/json", "{\"object\":\"response\",\"status\":\"completed\",\"output\":[{"
                + "\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"refusal\",\"refusal\":\"no\"}]}]}"));
    }

    @Test
    void aWholeAnswerCutShortBeforeItsUsageCountsTheTextItCarried() {
        // round 336: a chat completion cut after its message (the endpoint failed, or a stream's write did)
        assertEquals(5, text("application/json", "{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"role\":\"assistant\",\"content\":\"hello\"},\"finish_reason\":\"stop\"}],\"usa"));
        // an application's own content list cut short is still not a model's
        assertEquals(0, text("application/json", "{\"type\":\"page\",\"content\":[{\"text\":\"hello\"}],\"more"));
        // cut with its usage: the usage counts, the text is the document's own as before
        assertEquals(5, text("application/json", "{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
                + "\"message\":{\"content\":\"hello\"}}],\"usage\":{\"total_tokens\":9},\"x"));
    }

    @Test
    void assistantsMessageDeltasCountTheirText() {
        String body = "event: thread.message.delta\ndata: {\"id\":\"msg_1\",\"object\":\"thread.message.delta\",\"delta\":"
                + "{\"content\":[{\"index\":0,\"type\":\"text\",\"text\":{\"value\":\"abcde\",\"annotations\":[]}}]}}\n\n"
                + "event: thread.message.delta\ndata: {\"id\":\"msg_1\",\"object\":\"thread.message.delta\",\"delta\":"
                + "{\"content\":[{\"index\":0,\"type\":\"text\",\"text\":{\"value\":\"fg\"}}]}}\n\n";
        assertEquals(5 + 2, text("text/event-stream", body));
    }

    @Test
    void openAiChatChunksCountTheirContentReasoningAndToolArguments() {
        String body = "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"abcd\"}}]}\n\n"
                + "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"ef\"}}]}\n\n"
                + "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}}]}}]}\n\n"
                + "data: [DONE]\n\n";
        assertEquals(4 + 2 + 7, text("text/event-stream", body));
    }

    /** A delta longer than the scanner keeps of a string counts by its whole length, however it is split. */
    @Property(tries = 40)
    void aLongDeltaCountsWhole(@ForAll @IntRange(min = 1, max = 5000) int length, @ForAll @IntRange(min = 1, max = 900) int piece) {
        String delta = "w".repeat(length);
        String body = "data: {\"choices\":[{\"delta\":{\"content\":\"" + delta + "\"}}]}\n\n"
                + "data: {\"choices\":[{\"delta\":{\"content\":\"xyz\"}}]}\n\n";
        assertEquals(length + 3, text("text/event-stream", body, piece, false, 0));
    }

    /** Mistral's typed content chunks, Bedrock's reasoning and tool input deltas, Cohere's thinking, plan and tool calls. */
    @Test
    void reasoningAndToolDeltasOfMistralBedrockAndCohereCount() {
        assertEquals(3 + 2, text("text/event-stream",
                "data: {\"choices\":[{\"delta\":{\"content\":[{\"type\":\"thinking\",\"thinking\":[{\"type\":\"text\",\"text\":\"abc\"}]}]}}]}\n\n"
                + "data: {\"choices\":[{\"delta\":{\"content\":[{\"type\":\"text\",\"text\":\"de\"}]}}]}\n\n"));
        assertEquals(3 + 2, text("text/event-stream",
                "data: {\"contentBlockDelta\":{\"delta\":{\"reasoningContent\":{\"text\":\"fgh\"}},\"contentBlockIndex\":0}}\n\n"
                + "data: {\"contentBlockDelta\":{\"delta\":{\"toolUse\":{\"input\":\"ij\"}},\"contentBlockIndex\":1}}\n\n"));
        assertEquals(2 + 3 + 2, text("text/event-stream",
                "event: tool-plan-delta\ndata: {\"type\":\"tool-plan-delta\",\"delta\":{\"message\":{\"tool_plan\":\"kl\"}}}\n\n"
                + "event: tool-call-delta\ndata: {\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":"
                + "{\"tool_calls\":{\"function\":{\"arguments\":\"mno\"}}}}}\n\n"
                + "event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":"
                + "{\"content\":{\"thinking\":\"pq\"}}}}\n\n"));
    }

    @Test
    void legacyFunctionCallsAndSpokenTranscriptsCount() {
        String body = "data: {\"choices\":[{\"delta\":{\"function_call\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}}}]}\n\n"
                + "data: {\"choices\":[{\"delta\":{\"audio\":{\"id\":\"a\",\"transcript\":\"spoken\"}}}]}\n\n";
        assertEquals(4 + 6, text("text/event-stream", body));
    }

    /** Streamed speech (base64 of 24 kHz 16-bit PCM) counts its length at the rate audio is held, however long. */
    @Test
    void streamedSpeechCountsItsLength() {
        // ten seconds of PCM: 480,000 bytes, 640,000 base64 characters
        String pcm = java.util.Base64.getEncoder().encodeToString(new byte[480_000]);
        String chat = "data: {\"choices\":[{\"delta\":{\"audio\":{\"id\":\"a\",\"data\":\"" + pcm + "\"}}}]}\n\n";
        String responses = "event: response.audio.delta\ndata: {\"type\":\"response.audio.delta\",\"delta\":\"" + pcm + "\"}\n\n";
        assertEquals(AudioDuration.inputTokens(10_000), text("text/event-stream", chat, 8192, false, 0));
        assertEquals(AudioDuration.inputTokens(10_000), text("text/event-stream", responses, 8192, false, 0));
    }

    @Test
    void toolInputDeltasOfTheAiSdkCount() {
        String ui = "data: {\"type\":\"tool-input-delta\",\"toolCallId\":\"c1\",\"inputTextDelta\":\"abcd\"}\n\n"
                + "data: {\"type\":\"tool-input-available\",\"toolCallId\":\"c1\",\"input\":{\"story\":\"abcd\"}}\n\n";
        assertEquals(4, text("text/event-stream", ui));
        String parts = "f:{\"messageId\":\"m\"}\nc:{\"toolCallId\":\"c1\",\"argsTextDelta\":\"abc\"}\n";
        assertEquals(3, text("text/plain; charset=utf-8", parts));
    }

    /** Tool arguments sent as an object count every name and value, also what is nested past what the scanner keeps. */
    @Test
    void toolArgumentsGivenAsObjectsCountWhole() {
        String deep = "{\"a\":".repeat(6) + "\"" + "x".repeat(400) + "\"" + "}".repeat(6);
        String gemini = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{\"k\":\"vv\",\"d\":"
                + deep + "}}}]}}]}\n\n";
        long counted = text("text/event-stream", gemini);
        // "k", "vv", "d" and at least the 400 characters nested too deep to keep
        assertTrue(counted >= 4 + 400 / StreamText.BYTES_PER_TOKEN, "counted " + counted);
        String ollama = "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":"
                + "{\"name\":\"f\",\"arguments\":{\"story\":\"abcdef\"}}}]},\"done\":false}\n";
        assertEquals(5 + 6, text("application/x-ndjson", ollama));
    }

    @Test
    void responsesCountsDeltasNotTheDoneEventsThatRepeatThem() {
        String body = "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"hello\"}\n\n"
                + "event: response.reasoning_summary_text.delta\ndata: {\"type\":\"response.reasoning_summary_text.delta\",\"delta\":\"hm\"}\n\n"
                + "event: response.audio.delta\ndata: {\"type\":\"response.audio.delta\",\"delta\":\"UklGRgAAAA==\"}\n\n"
                + "event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\",\"text\":\"hello\"}\n\n"
                + "event: response.content_part.done\ndata: {\"type\":\"response.content_part.done\",\"part\":{\"type\":\"output_text\",\"text\":\"hello\"}}\n\n";
        assertEquals(7, text("text/event-stream", body));
    }

    @Test
    void anthropicCountsContentBlockDeltasOnly() {
        String body = "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"zz\"}}\n\n"
                + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"abc\"}}\n\n"
                + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"de\"}}\n\n"
                + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n";
        assertEquals(3 + 2 + 2, text("text/event-stream", body));
    }

    @Test
    void geminiCountsItsPartsText() {
        String body = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"abc\"},{\"text\":\"d\"}],\"role\":\"model\"}}]}\r\n\r\n";
        assertEquals(4, text("text/event-stream", body));
        // without alt=sse: one JSON array of the same chunks
        assertEquals(8, text("application/json", "[" + body.substring(6).strip() + "," + body.substring(6).strip() + "]"));
    }

    @Test
    void ollamaCountsChunksBeforeItsLastNotTheLast() {
        String body = "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"abc\"},\"done\":false}\n"
                + "{\"model\":\"m\",\"response\":\"de\",\"done\":false}\n"
                + "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"whole answer\"},\"done\":true,\"eval_count\":9}\n";
        assertEquals(5, text("application/x-ndjson", body));
        // a whole answer (stream: false) says done at once: its text is all the model wrote
        assertEquals(12, text("application/json", "{\"model\":\"m\",\"message\":{\"role\":\"assistant\","
                + "\"content\":\"whole answer\"},\"done\":true,\"eval_count\":9}"));
    }

    @Test
    void vercelDataStreamCountsTextAndReasoningParts() {
        String body = "f:{\"messageId\":\"m\"}\n0:\"abc\"\ng:\"de\"\n2:[\"not text\"]\n3:\"an error\"\n";
        assertEquals(5, text("text/plain; charset=utf-8", body));
    }

    @Test
    void cumulativeMessagesCountTheirGrowthAndEchoedStateNothing() {
        // LangGraph's messages/partial: the whole message so far, each time (its growth counts, by id; round 276);
        // messages/complete repeats it; values: the whole state
        String partials = "event: messages/partial\ndata: [{\"content\":\"abc\",\"type\":\"ai\",\"id\":\"run-1\"}]\n\n"
                + "event: messages/partial\ndata: [{\"content\":\"abcdef\",\"type\":\"ai\",\"id\":\"run-1\"}]\n\n"
                + "event: messages/complete\ndata: [{\"content\":\"abcdef\",\"type\":\"ai\",\"id\":\"run-1\"}]\n\n"
                + "event: messages/partial\ndata: [{\"content\":\"xy\",\"type\":\"ai\",\"id\":\"run-2\"}]\n\n"
                + "event: values\ndata: {\"messages\":[{\"content\":\"question\",\"type\":\"human\"}]}\n\n";
        assertEquals(6 + 2, text("text/event-stream", partials));
        // messages-tuple chunks counted the text: partials after them add nothing
        String tuples = "event: messages\ndata: [{\"content\":\"abc\",\"type\":\"AIMessageChunk\"},{\"langgraph_node\":\"a\"}]\n\n"
                + "event: messages/partial\ndata: [{\"content\":\"abc\",\"type\":\"ai\",\"id\":\"run-1\"}]\n\n";
        assertEquals(3, text("text/event-stream", tuples));
    }

    @Test
    void anEchoedPromptIsTakenOffWhatTheStreamCarried() {
        String body = "data: {\"object\":\"text_completion\",\"choices\":[{\"text\":\"the prompt \",\"index\":0}]}\n\n"
                + "data: {\"object\":\"text_completion\",\"choices\":[{\"text\":\"answer\",\"index\":0}]}\n\n";
        assertEquals(17, text("text/event-stream", body, 5, false, 11));
        assertEquals(6, text("text/event-stream", body, 5, true, 11));
    }

    @Test
    void aJsonBodyNamesTheEchoedPrompt() {
        RequestEstimator chars = new RequestEstimator(CHARS);
        assertEquals(5, chars.echoedPrompt("{\"prompt\":\"hello\",\"logprobs\":{\"echo\":false},\"echo\":true}".getBytes(StandardCharsets.UTF_8)));
        assertEquals(7, chars.echoedPrompt("{\"echo\":true,\"prompt\":[\"abc\",[1,2],\"defg\"]}".getBytes(StandardCharsets.UTF_8)));
        assertEquals(0, chars.echoedPrompt("{\"prompt\":\"p\",\"options\":{\"echo\":true}}".getBytes(StandardCharsets.UTF_8)));
        assertEquals(0, chars.echoedPrompt("{\"prompt\":\"p\",\"echo\":\"true\"}".getBytes(StandardCharsets.UTF_8)));
    }

    /** Within twice a budget the request named, the text is the model keeping to it (the estimator strays); past it, it counts. */
    @Test
    void aNamedBudgetCountsOnlyTextFarPastIt() {
        byte[] body = "data: {\"choices\":[{\"delta\":{\"content\":\"abcdefghij\"}}]}\n\n".getBytes(StandardCharsets.UTF_8);
        for (long budget : new long[] {4, 5, 10}) {
            UsageSniffer s = new UsageSniffer(0);
            s.countText(CHARS, () -> 0, budget, true);
            s.begin("text/event-stream", null, body);
            s.feed(body, 0, body.length);
            s.finish();
            assertEquals(budget < 5 ? 10 : 0, s.textTokens(), "budget " + budget);
        }
    }

    /** Round 388: a Mastra agent's stream counts its text and reasoning deltas' payload.text, in its exact chunk only. */
    @Test
    void aMastraStreamsDeltasCountInItsExactChunk() {
        String base = "\"runId\":\"r1\",\"from\":\"AGENT\"";
        String body = "data: {\"type\":\"text-delta\"," + base + ",\"payload\":{\"id\":\"t\",\"text\":\"abcd\"}}\n\n"
                + "data: {\"type\":\"reasoning-delta\"," + base + ",\"payload\":{\"id\":\"r\",\"text\":\"ef\"}}\n\n"
                // a tool's result and a chunk of another shape (no runId, a field Mastra's chunk has not) are no output
                + "data: {\"type\":\"tool-result\"," + base + ",\"payload\":{\"text\":\"ghijk\"}}\n\n"
                + "data: {\"type\":\"text-delta\",\"from\":\"AGENT\",\"payload\":{\"text\":\"lmn\"}}\n\n"
                + "data: {\"type\":\"text-delta\"," + base + ",\"user\":\"u\",\"payload\":{\"text\":\"opq\"}}\n\n";
        assertEquals(6, text("text/event-stream", body));
    }

    /**
     * Round 487: every model family whose InvokeModel stream events {@link InvokeModelEvents} recognizes has its text
     * field counted, so a usage read from those events is never believed below the text they held. A family added to
     * {@link InvokeModelEvents#BY_FIELD} fails here until its text event is added and counted.
     */
    @Test
    void everyInvokeModelFamilysStreamTextCounts() {
        java.util.Map<String, String> byField = java.util.Map.of(
                "generation", "{\"generation\":%s,\"prompt_token_count\":null,\"generation_token_count\":1,\"stop_reason\":null}",
                "outputText", "{\"outputText\":%s,\"index\":0,\"totalOutputTextTokenCount\":null,\"completionReason\":null,"
                        + "\"inputTextTokenCount\":null}",
                "outputs", "{\"outputs\":[{\"text\":%s,\"stop_reason\":null}]}",
                "completion", "{\"completion\":%s,\"stop_reason\":null,\"stop\":null}",
                "generations", "{\"generations\":[{\"text\":%s,\"is_finished\":false,\"index\":0}],\"id\":\"g\",\"prompt\":\"p\"}",
                "is_finished", "{\"text\":%s,\"is_finished\":false}",
                "choices", "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
                        + "\"choices\":[{\"index\":0,\"delta\":{\"content\":%s}}]}");
        assertEquals(InvokeModelEvents.BY_FIELD.keySet(), byField.keySet(), "each family's text event, here");
        java.util.List<String> events = new java.util.ArrayList<>(byField.values());
        // the families told by their type, event_type or one field
        events.add("{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":%s}}");
        events.add("{\"is_finished\":false,\"event_type\":\"text-generation\",\"text\":%s}");
        events.add("{\"contentBlockDelta\":{\"delta\":{\"text\":%s},\"contentBlockIndex\":0}}");
        for (String event : events) {
            String e = String.format(event, "\"hello\"");
            assertTrue(InvokeModelEvents.recognized(e), e);
            assertEquals(5, chunksText(e), e);
        }
        // a genuine Cohere generate stream's end repeats the answer under response: counted once, by its deltas
        assertEquals(5 + 2, text("text/event-stream", "data: {\"text\":\"hello\",\"is_finished\":false}\n\n"
                + "data: {\"text\":\"!!\",\"is_finished\":false}\n\n"
                + "data: {\"is_finished\":true,\"finish_reason\":\"COMPLETE\",\"response\":{\"id\":\"x\",\"generations\":"
                + "[{\"id\":\"y\",\"text\":\"hello!!\",\"finish_reason\":\"COMPLETE\"}],\"prompt\":\"hi\"}}\n\n"));
    }

    /**
     * Round 494: the InvokeModel families' own text fields (Titan's top-level {@code outputText}, Claude Text
     * Completions' {@code completion}, Cohere Command's {@code generations[].text}) count in an AWS event stream's
     * chunk documents alone. Anthropic's own Text Completions stream under API version 2023-01-01 sends the
     * completion so far in every event: read as text there, each event counted its whole prefix.
     */
    @Test
    void invokeModelTextFieldsCountInAnEventStreamsChunksAlone() {
        String[] cumulative = {"{\"completion\":\" Hello\",\"stop_reason\":null,\"truncated\":false,\"stop\":null,"
                + "\"model\":\"claude-instant-1.1\",\"log_id\":\"a\",\"exception\":null}",
            "{\"completion\":\" Hello my\",\"stop_reason\":null,\"truncated\":false,\"stop\":null,"
                + "\"model\":\"claude-instant-1.1\",\"log_id\":\"a\",\"exception\":null}"};
        assertEquals(0, text("text/event-stream", "data: " + cumulative[0] + "\n\ndata: " + cumulative[1]
                + "\n\ndata: [DONE]\n\n"));
        // the same families' fields in a server-sent stream or a whole answer of no event stream
        for (String e : new String[] {"{\"completion\":\"hello\",\"stop_reason\":null,\"stop\":null}",
            "{\"outputText\":\"hello\",\"index\":0}", "{\"generations\":[{\"text\":\"hello\"}],\"id\":\"g\"}"}) {
            assertEquals(0, text("text/event-stream", "data: " + e + "\n\n"), e);
            assertEquals(0, text("application/json", e), e);
        }
        // InvokeModel's Text Completions chunks, each the new text: counted once each
        assertEquals(6 + 3, chunksText("{\"completion\":\" Hello\",\"stop_reason\":null,\"stop\":null}",
                "{\"completion\":\" my\",\"stop_reason\":null,\"stop\":null}",
                "{\"completion\":\"\",\"stop_reason\":\"stop_sequence\",\"stop\":null}"));
    }

    /** The text an AWS event stream carries whose events are {@code typeAndBody} pairs, each named by its {@code :event-type}. */
    private static long eventsText(String... typeAndBody) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (int i = 0; i < typeAndBody.length; i += 2) {
            out.writeBytes(io.tokenquota.servlet.testing.RelayedAnswers.awsEvent(typeAndBody[i], typeAndBody[i + 1]));
        }
        byte[] bytes = out.toByteArray();
        UsageSniffer s = new UsageSniffer(0);
        s.countText(CHARS, () -> 0, -1, true);
        s.begin("application/vnd.amazon.eventstream", null, java.util.Arrays.copyOf(bytes, Math.min(bytes.length, 7)));
        for (int i = 0; i < bytes.length; i += 7) {
            s.feed(bytes, i, Math.min(7, bytes.length - i));
        }
        s.finish();
        return s.textTokens();
    }

    /**
     * Round 500: a Bedrock knowledge base's answer and a flow's carry no usage, and their text is the model's output:
     * RetrieveAndGenerate's whole {@code output.text} (not its citations, which repeat the answer and the passages
     * the model read), RetrieveAndGenerateStream's {@code output} events and InvokeFlow's {@code flowOutputEvent}
     * document (a string, or an object's names and values), told by the {@code :event-type} AWS sets. A bare
     * {@code {"text": …}} counts nowhere else, and {@code output.text} not in a text stream's events, where
     * DashScope's native stream writes the answer so far in every event.
     */
    @Test
    void aKnowledgeBasesAndAFlowsAnswerCountTheirTextOnce() {
        String citation = "{\"generatedResponsePart\":{\"textResponsePart\":{\"text\":\"Hello\"}},"
                + "\"retrievedReferences\":[{\"content\":{\"text\":\"a passage\",\"type\":\"TEXT\"}}]}";
        assertEquals(11, text("application/json", "{\"citations\":[" + citation + "],\"guardrailAction\":\"NONE\","
                + "\"output\":{\"text\":\"Hello there\"},\"sessionId\":\"s\"}"));
        assertEquals(5 + 6, eventsText("output", "{\"text\":\"Hello\"}", "citation",
                "{\"citation\":" + citation + "," + citation.substring(1), "output", "{\"text\":\" there\"}",
                "guardrail", "{\"action\":\"NONE\"}"));
        // a flow's document: a string, an object (its names and values), then the completion
        assertEquals(11, eventsText("flowOutputEvent", "{\"content\":{\"document\":\"Hello there\"},"
                + "\"nodeName\":\"FlowOutputNode\",\"nodeType\":\"Output\"}", "flowCompletionEvent",
                "{\"completionReason\":\"SUCCESS\"}"));
        assertEquals(6 + 11, eventsText("flowOutputEvent", "{\"content\":{\"document\":{\"answer\":\"Hello there\"}},"
                + "\"nodeName\":\"FlowOutputNode\",\"nodeType\":\"Output\"}"));
        // a bare {"text": …} of no event AWS named, and output.text in a text stream's events (DashScope's, each the
        // answer so far), count nothing
        assertEquals(0, eventsText("somethingElse", "{\"text\":\"Hello\"}"));
        assertEquals(0, text("text/event-stream", "data: {\"output\":{\"text\":\"Hello\",\"finish_reason\":\"null\"}}\n\n"
                + "data: {\"output\":{\"text\":\"Hello there\",\"finish_reason\":\"stop\"}}\n\n"));
    }

    /**
     * Round 504: {@code output.text} counts in a body that is one JSON document (RetrieveAndGenerate's answer, cut
     * short too), never in a sequence of plain JSON documents, where each may be the answer so far (DashScope's
     * stream relayed as JSON lines, or as a JSON array); an AWS event stream's {@code output} events each count.
     */
    @Test
    void outputTextCountsInOneJsonDocumentNotInASequenceOfThem() {
        String first = "{\"output\":{\"text\":\"Hello\",\"finish_reason\":\"null\"}}";
        String second = "{\"output\":{\"text\":\"Hello there\",\"finish_reason\":\"stop\"}}";
        assertEquals(11, text("application/json", second));
        assertEquals(11, text("application/json", second + "\n"));
        // one document cut short (no usage came): its text so far
        assertEquals(5, text("application/json", first.substring(0, first.length() - 10)));
        // JSON lines, whatever the label; an array of them; a second line cut short
        for (String type : new String[] {"application/x-ndjson", "application/json", ""}) {
            assertEquals(0, text(type, first + "\n" + second + "\n"), type);
        }
        assertEquals(0, text("application/json", "[" + first + "," + second + "]"));
        assertEquals(0, text("application/x-ndjson", first + "\n" + second.substring(0, 20)));
        // AWS's events, each new text
        assertEquals(5 + 6, eventsText("output", "{\"text\":\"Hello\"}", "output", "{\"text\":\" there\"}"));
    }

    /**
     * Round 504: OptimizePrompt's stream carries no usage; its {@code analyzePromptEvent} message and the rewritten
     * prompt of its {@code optimizedPromptEvent} are the model's output, told by the event types AWS sets.
     */
    @Test
    void anOptimizedPromptCountsTheModelsAnalysisAndRewrite() {
        assertEquals(8 + 11, eventsText("analyzePromptEvent", "{\"message\":\"Analysed\"}", "optimizedPromptEvent",
                "{\"optimizedPrompt\":{\"textPrompt\":{\"text\":\"Hello there\"}}}"));
        // a message of no such event counts nothing
        assertEquals(0, eventsText("somethingElse", "{\"message\":\"Analysed\"}"));
    }

    @Test
    void textIsNotCountedUnlessAsked() {
        UsageSniffer s = new UsageSniffer(0);
        byte[] body = "data: {\"choices\":[{\"delta\":{\"content\":\"abc\"}}]}\n\n".getBytes(StandardCharsets.UTF_8);
        s.begin("text/event-stream", null, body);
        s.feed(body, 0, body.length);
        s.finish();
        assertEquals(0, s.textTokens());
    }
    /** The text of a JSON answer to a request whose {@code inputs} is {@code prompt}, fed in pieces of 7 bytes. */
    private static long textAfterPrompt(String prompt, String body) {
        return textAfterPrompt(prompt, "application/json", body);
    }

    private static long textAfterPrompt(String prompt, String contentType, String body) {
        UsageSniffer s = new UsageSniffer(0);
        s.countText(CHARS, () -> 0, -1, true);
        String request = "{\"inputs\":" + quote(prompt) + ",\"parameters\":{\"return_full_text\":true}}";
        s.promptSent(PromptEcho.sentIn(request.getBytes(StandardCharsets.UTF_8)));
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        s.begin(contentType, null, java.util.Arrays.copyOf(bytes, Math.min(bytes.length, 7)));
        for (int i = 0; i < bytes.length; i += 7) {
            s.feed(bytes, i, Math.min(7, bytes.length - i));
        }
        s.finish();
        return s.textTokens();
    }

    /**
     * Round 506: a Hugging Face {@code generated_text} that begins with the request's {@code inputs}
     * ({@code return_full_text}) counts what follows the prompt, told by the text itself: however the answer escapes
     * it, short or past what the scanner keeps of a string. Text that only starts like the prompt counts whole.
     */
    @Test
    void aGeneratedTextThatBeginsWithThePromptCountsWhatFollowsIt() {
        // kept whole: the completion alone, in the list shape and TGI's object
        assertEquals(12, text("application/json", "[{\"generated_text\":\"Hello, world\"}]"));
        assertEquals(6, textAfterPrompt("Hello,", "[{\"generated_text\":\"Hello, world\"}]"));
        assertEquals(6, textAfterPrompt("Hello,", "{\"generated_text\":\"Hello, world\"}"));
        // the same answer relayed as a stream's only event
        assertEquals(6, textAfterPrompt("Hello,", "text/event-stream", "data: {\"generated_text\":\"Hello, world\"}\n\n"));
        // the prompt written with other escapes than the request's (\u00e9, \/, a surrogate pair) is the same text
        assertEquals(4, textAfterPrompt("caf\u00e9/\uD83D\uDE00\n", "[{\"generated_text\":\"caf\\u00e9\\/"
                + "\\ud83d\\ude00\\nwxyz\"}]"));
        // a completion alone, or one that starts as the prompt does, counts whole
        assertEquals(5, textAfterPrompt("Hello,", "[{\"generated_text\":\"world\"}]"));
        assertEquals(5, textAfterPrompt("Hello, there", "[{\"generated_text\":\"Hello\"}]"));
        // past what the scanner keeps of a string (256 bytes): the prompt's 4,000 characters are not counted, a
        // completion of 1,000 is, at the rate of the kept part (one a character here)
        String prompt = "p".repeat(1_999) + "q" + "r".repeat(2_000);
        assertEquals(1_000, textAfterPrompt(prompt, "[{\"generated_text\":" + quote(prompt + "c".repeat(1_000))
                + "}]"));
        // the same first 2,000 characters, then other text: no repeat of the prompt, all of it counts
        String other = "p".repeat(1_999) + "x" + "r".repeat(2_000) + "c".repeat(1_000);
        assertEquals(5_000, textAfterPrompt(prompt, "[{\"generated_text\":" + quote(other) + "}]"));
        // the prompt repeated elsewhere than a generated_text (an application's field) is not told apart
        assertEquals(12, textAfterPrompt("Hello,", "{\"object\":\"chat.completion\",\"choices\":[{\"message\":"
                + "{\"content\":\"Hello, world\"}}]}"));
    }

    /** {@code text} as a JSON string. */
    private static String quote(String text) {
        try {
            return new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(text);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}

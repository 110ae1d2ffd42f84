package io.tokenquota.servlet.breakit184;

import static io.tokenquota.servlet.testing.ProviderStreams.WORDS;
import static io.tokenquota.servlet.testing.ProviderStreams.groq;
import static io.tokenquota.servlet.testing.ProviderStreams.mistral;
import static io.tokenquota.servlet.testing.ProviderStreams.openAi;
import static io.tokenquota.servlet.testing.ProviderStreams.speech;
import static io.tokenquota.servlet.testing.ProviderStreams.transcription;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.testing.RelayedCalls;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 184 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the sniffer's newest rules (rounds 179-182) on answers that relay model calls in the providers' own
 * wire formats ({@code POST /ai/relay/<scenario>}, {@link RelayedCalls}; every model one unit a token).
 *
 * <p>Finding 1 (a call left unpaid): decisions.md says "a call of another provider after a chunk that
 * finished its choice beside the usage" begins another call, and that OpenAI's streamed speech
 * ({@code speech.audio.done}) ends its call. Round 182 made that true only for a follower that names
 * itself (Claude, Gemini, a Response). A follower whose final report names no call (OpenAI's streamed
 * speech, an Ollama answer, a Bedrock Converse answer) after Groq's or Mistral's last chunk (its
 * {@code finish_reason} beside the usage) is not another call: one of the two calls is not charged.
 * A voice assistant on Groq with OpenAI text-to-speech is the common case.
 *
 * <p>Finding 2 (one call charged twice): round 182's rule "a report while a call the answer named has not
 * reported yet" is another call counts every chunk id as a named call. A server that gives the usage-only
 * chunk (or every chunk) an id of its own (decisions.md and round 170 keep such a stream one call) names
 * two calls or more for one; the framework's whole {@code ChatResponse} sent after the stream with the very
 * counts (round 170: "that call's report again") is then charged as a second call.
 */
abstract class AbstractRound184 extends RelayedCalls {
    @Override
    protected ModelWeights weights() {
        return ONE_UNIT_A_TOKEN;
    }

    // ------------------------------------------------------------------ finding 2: one call, chunks under ids of their own

    static String usage(long in, long out) {
        return "{\"prompt_tokens\":" + in + ",\"completion_tokens\":" + out + ",\"total_tokens\":" + (in + out) + "}";
    }

    /** An OpenAI-compatible chunk: {@code text} {@code null} and {@code finish} {@code null}, a usage-only chunk. */
    static String chunk(String id, String model, String text, String finish, String usage) {
        String choices = text == null && finish == null ? "[]" : "[{\"index\":0,\"delta\":{" + (text == null ? "" : "\"content\":\""
                + text + "\"") + "},\"logprobs\":null,\"finish_reason\":" + (finish == null ? "null" : "\"" + finish + "\"") + "}]";
        return "{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1749165718,\"model\":\"" + model + "\","
                + "\"choices\":" + choices + (usage == null ? "" : ",\"usage\":" + usage) + "}";
    }

    /**
     * One streamed call of 3,000 + 400: the text chunks under {@code textIds} (one id each, in turn), the chunk
     * that finishes the choice, then the usage-only chunk under {@code usageId}.
     */
    static List<Event> stream(String model, List<String> textIds, String usageId) {
        List<Event> e = new ArrayList<>();
        for (String id : textIds) {
            e.add(data(chunk(id, model, WORDS, null, null)));
        }
        e.add(data(chunk(textIds.get(textIds.size() - 1), model, "", "stop", null)));
        e.add(data(chunk(usageId, model, null, null, usage(3_000, 400))));
        return e;
    }

    /** LangChain4j's whole {@code ChatResponse} a handler sends when the stream completes ({@code onCompleteResponse}). */
    static Event langChain4jComplete(String id, String model) {
        return new Event("complete", "{\"aiMessage\":{\"text\":\"" + WORDS + "\",\"type\":\"AI\"},\"metadata\":{\"id\":\"" + id
                + "\",\"modelName\":\"" + model + "\",\"tokenUsage\":{\"inputTokenCount\":3000,\"outputTokenCount\":400,"
                + "\"totalTokenCount\":3400},\"finishReason\":\"STOP\"}}");
    }

    static final List<String> ONE_ID = List.of("cmpl-a1", "cmpl-a1", "cmpl-a1", "cmpl-a1", "cmpl-a1");
    /** Foundry Local's chunks: every one an id of its own (microsoft/foundry-local#144). */
    static final List<String> FRESH_IDS = List.of("chat.id.4110", "chat.id.4111", "chat.id.4112", "chat.id.4113", "chat.id.4114");

    {
        // --- finding 1: a call after a chunk that finished its choice beside the usage, its own report naming no call
        // a voice assistant on Groq: the question transcribed (61 + 15), answered by Groq (3,000 + 5,000), spoken by
        // gpt-4o-mini-tts (5,000 text in, 9,000 audio out)
        sse("groq-voice", 3, concat(transcription(61, 15), groq("chatcmpl-5c1a7f0e-2b9d-4c3e-8f6a-1d2e3f4a5b6c", WORDS, 3_000, 5_000),
                speech(5_000, 9_000)));
        // control: the same with the answer from OpenAI's chat stream (round 182)
        sse("gpt-voice", 3, concat(transcription(61, 15), openAi("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", 3_000, 5_000),
                speech(5_000, 9_000)));
        // Mistral's answer read aloud
        sse("mistral-then-speech", 2, concat(mistral("e5cc70bb28c444948073e77776eb30ef", WORDS, 3_000, 5_000), speech(5_000, 9_000)));
        // a Mistral planner (3,000 + 400), then the writer (2,000 + 3,000) on a local Ollama model or on Bedrock Converse
        sse("mistral-then-ollama", 2, concat(mistral("e5cc70bb28c444948073e77776eb30ef", WORDS, 3_000, 400),
                List.of(ollamaWhole("qwen2.5:14b", WORDS, 2_000, 3_000))));
        sse("mistral-then-converse", 2, concat(mistral("e5cc70bb28c444948073e77776eb30ef", WORDS, 3_000, 400),
                List.of(converseWhole(WORDS, 2_000, 3_000))));

        // --- finding 2: one call of 3,000 + 400, its chunks relayed, then LangChain4j's whole ChatResponse
        // control (round 170's chunks-then-langchain4j-complete): every chunk under one id
        sse("one-id-then-langchain4j", 1, concat(stream("gpt-4o-2024-08-06", ONE_ID, "cmpl-a1"),
                List.of(langChain4jComplete("cmpl-a1", "gpt-4o-2024-08-06"))));
        // round 170's fresh-id-usage-chunk: the usage-only chunk under an id of its own
        sse("fresh-usage-id-then-langchain4j", 1, concat(stream("mistral-large-latest", ONE_ID, "cmpl-b2"),
                List.of(langChain4jComplete("cmpl-b2", "mistral-large-latest"))));
        // Foundry Local: every chunk under an id of its own
        sse("foundry-local-then-langchain4j", 1, concat(stream("phi-4-mini", FRESH_IDS, "chat.id.4115"),
                List.of(langChain4jComplete("chat.id.4115", "phi-4-mini"))));
        // the same with Spring AI's aggregated ChatResponse after the stream
        sse("foundry-local-then-spring-ai", 1, concat(stream("phi-4-mini", FRESH_IDS, "chat.id.4115"),
                List.of(data(springAi("chat.id.4115", WORDS, "STOP", 3_000, 400, null)))));
    }

    /** A new subject posts the task to {@code scenario}: it must be charged at least {@code expected}. */
    private void chargedAtLeast(String scenario, long expected, String what) {
        long used = post(scenario);
        assertTrue(used >= expected, kind() + " " + scenario + ": " + what + "; the calls reported " + expected
                + " tokens in the answer, charged " + used);
    }

    // ------------------------------------------------------------------ finding 1

    /** Control: transcription, OpenAI's chat stream, then the speech: all three charged. */
    @Test
    void controlAVoiceAssistantOnOpenAiChatIsChargedEveryCall() {
        chargedAtLeast("gpt-voice", 76 + 8_000 + 14_000, "transcription (76), OpenAI chat (8,000), speech (14,000)");
    }

    /** The attack: the same voice assistant answering with Groq (its last chunk: finish_reason beside x_groq.usage). */
    @Test
    void aSpokenAnswerDoesNotMakeTheGroqCallFree() {
        chargedAtLeast("groq-voice", 76 + 8_000 + 14_000, "transcription (76), Groq (8,000), speech (14,000)");
    }

    /** Mistral's answer, then gpt-4o-mini-tts reading it aloud (speech.audio.done). */
    @Test
    void aSpokenAnswerDoesNotMakeTheMistralCallFree() {
        chargedAtLeast("mistral-then-speech", 8_000 + 14_000, "Mistral (8,000), speech (14,000)");
    }

    /** A Mistral planner's stream, then a local Ollama writer's whole answer ("done": true). */
    @Test
    void aMistralPlannerThenAnOllamaWriterIsChargedBoth() {
        chargedAtLeast("mistral-then-ollama", 3_400 + 5_000, "Mistral (3,400), Ollama (5,000)");
    }

    /** A Mistral planner's stream, then a Bedrock Converse writer's whole answer. */
    @Test
    void aMistralPlannerThenAConverseWriterIsChargedBoth() {
        chargedAtLeast("mistral-then-converse", 3_400 + 5_000, "Mistral (3,400), Bedrock Converse (5,000)");
    }

    // ------------------------------------------------------------------ finding 2

    private void chargedOnce(String scenario, String what) {
        long used = post(scenario);
        assertEquals(3_400, used, kind() + " " + scenario + ": " + what + ": one model call of 3,000 + 400; charged " + used);
    }

    /** Control (round 170): the chunks under one id, then LangChain4j's whole ChatResponse: one call. */
    @Test
    void controlOneIdStreamThenItsChatResponseIsOneCall() {
        chargedOnce("one-id-then-langchain4j", "chunks under one id, then LangChain4j's ChatResponse");
    }

    /** The usage-only chunk under an id of its own (round 170's fresh-id-usage-chunk), then LangChain4j's ChatResponse. */
    @Test
    void aUsageChunkUnderItsOwnIdThenTheChatResponseIsOneCall() {
        chargedOnce("fresh-usage-id-then-langchain4j", "usage-only chunk under its own id, then LangChain4j's ChatResponse");
    }

    /** Foundry Local (every chunk its own id), then LangChain4j's ChatResponse. */
    @Test
    void aStreamOfFreshIdsThenTheChatResponseIsOneCall() {
        chargedOnce("foundry-local-then-langchain4j", "every chunk its own id, then LangChain4j's ChatResponse");
    }

    /** Foundry Local (every chunk its own id), then Spring AI's aggregated ChatResponse. */
    @Test
    void aStreamOfFreshIdsThenSpringAisAggregateIsOneCall() {
        chargedOnce("foundry-local-then-spring-ai", "every chunk its own id, then Spring AI's aggregated ChatResponse");
    }
}

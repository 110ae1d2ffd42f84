package io.tokenquota.servlet.breakit182;

import static io.tokenquota.servlet.testing.ProviderStreams.claude;
import static io.tokenquota.servlet.testing.ProviderStreams.cohereContentEnd;
import static io.tokenquota.servlet.testing.ProviderStreams.cohereContentStart;
import static io.tokenquota.servlet.testing.ProviderStreams.cohereDelta;
import static io.tokenquota.servlet.testing.ProviderStreams.cohereEnd;
import static io.tokenquota.servlet.testing.ProviderStreams.cohereStart;
import static io.tokenquota.servlet.testing.ProviderStreams.gemini;
import static io.tokenquota.servlet.testing.ProviderStreams.groq;
import static io.tokenquota.servlet.testing.ProviderStreams.mistral;
import static io.tokenquota.servlet.testing.ProviderStreams.openAi;
import static io.tokenquota.servlet.testing.ProviderStreams.response;
import static io.tokenquota.servlet.testing.ProviderStreams.responses;
import static io.tokenquota.servlet.testing.ProviderStreams.speech;
import static io.tokenquota.servlet.testing.ProviderStreams.transcription;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.testing.RelayedCalls;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 182 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * answers that carry several model calls, relayed one after another or side by side in one HTTP answer,
 * each in its provider's own wire format. The relay ({@code POST /ai/relay/<scenario>}, {@link RelayedCalls})
 * makes the scenario's calls and writes each provider's events as they come. Every model is charged one
 * unit a token, so the figures are the providers' usage.
 *
 * <p>Three findings, each a real call left unpaid:
 * <ol>
 * <li>A call whose stream ends with the chunk that finishes its choice beside the usage (Mistral's
 * La Plateforme always does; Groq's {@code x_groq.usage} too) followed by a call in any other provider's
 * format (Anthropic Messages, Gemini, OpenAI Responses): one of the two is not charged. decisions.md ends
 * such a call only "once another id's chunk with choices follows", and the filter ignores a report in
 * another format while the first call is open.</li>
 * <li>OpenAI's streamed text-to-speech ({@code gpt-4o-mini-tts}, {@code stream_format: "sse"}) ends with
 * {@code {"type": "speech.audio.done", "usage": {…}}}: no id, a type. Relayed after the answer a voice
 * assistant spoke (the chat call's stream), it replaces that call's usage or is dropped.</li>
 * <li>Two Cohere v2 chat streams relayed side by side (an A/B endpoint running two variants at once), each
 * named by its {@code message-start} {@code id}, both cut at {@code max_tokens} (the same counts): charged
 * as one, although decisions.md charges calls alike as one only when they have "no ids of their own".</li>
 * </ol>
 */
abstract class AbstractRound182 extends RelayedCalls {
    @Override
    protected ModelWeights weights() {
        return ONE_UNIT_A_TOKEN;
    }

    {
        // --- finding 1: a planner on Mistral (3,000 + 400), then the writer (2,000 + 3,000): 8,400
        sse("mistral-then-mistral", 2, concat(mistral("e5cc70bb28c444948073e77776eb30ef", "contracts ", 3_000, 400),
                mistral("0a1b2c3d4e5f46a7b8c9d0e1f2a3b4c5", "contracts ", 2_000, 3_000)));
        sse("mistral-then-claude", 2, concat(mistral("e5cc70bb28c444948073e77776eb30ef", "contracts ", 3_000, 400),
                claude("msg_01XFDUDYJgAACzvnptvVoYEL", 2_000, 3_000)));
        sse("mistral-then-gemini", 2, concat(mistral("e5cc70bb28c444948073e77776eb30ef", "contracts ", 3_000, 400),
                gemini("mZ3aaMXcB4-Ez7IP0pSZmAw", 2_000, 3_000)));
        sse("mistral-then-responses", 2, concat(mistral("e5cc70bb28c444948073e77776eb30ef", "contracts ", 3_000, 400),
                responses("resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b", 2_000, 3_000)));
        sse("groq-then-claude", 2, concat(groq("chatcmpl-5c1a7f0e-2b9d-4c3e-8f6a-1d2e3f4a5b6c", "contracts ", 3_000, 400),
                claude("msg_01XFDUDYJgAACzvnptvVoYEL", 2_000, 3_000)));
        // --- finding 2: a voice assistant: the question transcribed (61 + 15), answered (3,000 + 5,000), spoken
        // (5,000 text in, 9,000 audio out)
        sse("voice-gpt", 3, concat(transcription(61, 15),
                openAi("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", 3_000, 5_000), speech(5_000, 9_000)));
        sse("voice-claude", 3, concat(transcription(61, 15),
                claude("msg_01XFDUDYJgAACzvnptvVoYEL", 3_000, 5_000), speech(5_000, 9_000)));
        // --- finding 3: two Cohere v2 variants side by side, each 3,000 + 2,000 (cut at max_tokens): 10,000
        sse("cohere-side-by-side", 2, List.of(
                cohereStart("29f14a5a-11de-4cae-9800-25e4747408ea"), cohereStart("6a1b5c0e-3f2d-4e8a-9b7c-0d1e2f3a4b5c"),
                cohereContentStart(), cohereContentStart(), cohereDelta("Variant A writes "), cohereDelta("Variant B writes "),
                cohereContentEnd(), cohereEnd(3_000, 2_000), cohereContentEnd(), cohereEnd(3_000, 2_000)));
        // control: the same two variants one after the other are charged both
        sse("cohere-one-after-the-other", 2, List.of(
                cohereStart("29f14a5a-11de-4cae-9800-25e4747408ea"), cohereContentStart(), cohereDelta("Variant A writes "),
                cohereContentEnd(), cohereEnd(3_000, 2_000),
                cohereStart("6a1b5c0e-3f2d-4e8a-9b7c-0d1e2f3a4b5c"), cohereContentStart(), cohereDelta("Variant B writes "),
                cohereContentEnd(), cohereEnd(3_000, 2_000)));
    }

    /** A new subject posts the task to {@code scenario}: it must be charged at least {@code expected}. */
    private void chargedAtLeast(String scenario, long expected, String what) {
        long used = post(scenario);
        assertTrue(used >= expected, kind() + " " + scenario + ": " + what + "; the calls reported " + expected
                + " tokens in the answer, charged " + used);
    }

    // ------------------------------------------------------------------ finding 1

    /** Control: a Mistral planner then a Mistral writer (another id's chunk with choices follows) is charged both. */
    @Test
    void controlMistralPlannerThenMistralWriterIsChargedBoth() {
        chargedAtLeast("mistral-then-mistral", 8_400, "Mistral (3,400) then Mistral (5,000)");
    }

    /** The attack: a Mistral planner's stream, then Claude writes the memo (Anthropic's message_start / message_delta). */
    @Test
    void aMistralPlannerDoesNotMakeClaudesMemoFree() {
        chargedAtLeast("mistral-then-claude", 8_400, "Mistral (3,400) then Claude (5,000)");
    }

    /** The same with Gemini writing (streamGenerateContent?alt=sse, its final chunk's finishReason and counts). */
    @Test
    void aMistralPlannerDoesNotMakeGeminisMemoFree() {
        chargedAtLeast("mistral-then-gemini", 8_400, "Mistral (3,400) then Gemini (5,000)");
    }

    /** The same with the OpenAI Responses API writing (response.completed's response.usage). */
    @Test
    void aMistralPlannerFollowedByAResponseIsChargedBoth() {
        chargedAtLeast("mistral-then-responses", 8_400, "Mistral (3,400) then a Response (5,000)");
    }

    /** Groq's stream ends the same way (finish_reason and x_groq.usage in one chunk): a Groq router before Claude. */
    @Test
    void aGroqRouterDoesNotMakeClaudesMemoFree() {
        chargedAtLeast("groq-then-claude", 8_400, "Groq (3,400) then Claude (5,000)");
    }

    // ------------------------------------------------------------------ finding 2

    /** A voice assistant on OpenAI: transcript.text.done, the chat stream's usage chunk, then speech.audio.done. */
    @Test
    void aSpokenAnswerDoesNotMakeTheChatCallFree() {
        chargedAtLeast("voice-gpt", 76 + 8_000 + 14_000, "transcription (76), chat (8,000), speech (14,000)");
    }

    /** The same with Claude answering between the transcription and the speech. */
    @Test
    void aSpokenClaudeAnswerIsChargedItsSpeech() {
        chargedAtLeast("voice-claude", 76 + 8_000 + 14_000, "transcription (76), Claude (8,000), speech (14,000)");
    }

    // ------------------------------------------------------------------ finding 3

    /** Control: the two Cohere variants one after the other are charged both. */
    @Test
    void controlTwoCohereVariantsOneAfterTheOtherAreChargedBoth() {
        chargedAtLeast("cohere-one-after-the-other", 10_000, "two Cohere calls of 5,000, each its own message-start id");
    }

    /** The attack: the same two variants relayed side by side, their message-end events last. */
    @Test
    void twoCohereVariantsSideBySideAreChargedBoth() {
        chargedAtLeast("cohere-side-by-side", 10_000, "two Cohere calls of 5,000, each its own message-start id");
    }
}

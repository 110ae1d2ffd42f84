package io.tokenquota.servlet.breakit328;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.SupportChatRound;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * Round 328 of issue 11 ("no model call goes unpaid"): the input an application adds to its client's question,
 * on an OpenAI stream the client stops.
 *
 * <p>The application is the most common shape of an AI endpoint: a support chat whose client posts only its
 * question ({@code {"question": …}}, about 20 tokens), and whose handler puts its own instructions and the
 * product manual in front of it as the system message (6,000 tokens the client never sends), then relays
 * OpenAI's stream to the browser as it comes. It asks for the usage ({@code stream_options.include_usage}), as
 * docs/decisions.md ("A stream whose client asked for no usage") tells such an endpoint to, and stops relaying
 * (cancelling its provider call) when a write to its client fails, as any relay does.
 *
 * <p>The user presses "Stop generating" after reading 1,000 tokens of the answer. OpenAI has billed the whole
 * prompt by then (the model read all 6,020 input tokens before it wrote its first word) and the output up to the
 * cancel. The rule (docs/servlet.md, rule 5 and "The estimate"): hanging up never makes a call free; a stream cut
 * before its usage is charged "at least its input plus the new text the answer's stream deltas carried". Round 231
 * holds that for Anthropic's stream, whose {@code message_start} counts the input (the README: that input "stands
 * for the input when it is more ... when the application adds retrieved documents, a system prompt or a cached
 * prefix"). OpenAI's Chat Completions and Responses streams count nothing before their last event, and the filter
 * charges the client's 20-token question as the input: the 6,000 tokens the application added are free on every
 * stopped call, although the filter saw the same endpoint's previous call read them (its final usage).
 *
 * <p>Shapes: OpenAI API reference, "The chat completion chunk object" (first chunk {@code delta.role}, content
 * deltas, a chunk with {@code finish_reason}, then with {@code include_usage} a last chunk with {@code "choices":
 * []} and {@code usage}), and "Streaming events" of the Responses API ({@code response.created} with {@code "usage":
 * null}, {@code response.output_text.delta}, {@code response.completed} with the usage).
 */
abstract class AbstractRound328 extends SupportChatRound {
    /** The application's system message: its instructions and the product manual, in tokens. */
    static final long SYSTEM = 6_000;
    /** What OpenAI reports as the prompt: the system message and the client's question. */
    static final long PROMPT = SYSTEM + 20;

    AbstractRound328() {
        super("328", PROMPT, false);
    }

    /**
     * The support chat: adds its system message to the question, calls OpenAI with {@code stream: true} and
     * {@code stream_options.include_usage} (Chat Completions), or the Responses API with {@code stream: true}, and
     * relays each event as it comes. When the client stops, the model writes on until the relay's next write fails.
     */
    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter)
                .servlet("support", chat(), "/ai/support/*")
                .servlet("supportResponses", responses(), "/ai/support-responses/*");
    }

    /** A question read to its end: 200, one model call, charged its usage (prompt and answer); what {@code s} has used in all. */
    long readToItsEnd(String s, String path) {
        readToItsEnd(s, path, QUESTION);
        return settled(s).used();
    }

    /** A question whose answer the client stops after {@link #READ} tokens: what it was charged for that call. */
    long stopped(String s, String path) throws IOException {
        return stopped(s, path, QUESTION);
    }

    void assertStoppedCallPaysItsPrompt(String path, String what) throws IOException {
        String s = subject();
        long first = readToItsEnd(s, path);
        long cut = stopped(s, path);
        assertAll(() -> assertEquals(PROMPT + READ, first, "the call read to its end: " + ledger(s)),
                () -> assertEquals(2, calls.of(s), "two model calls"),
                () -> assertEquals(Boolean.TRUE, writeFailed.get(s), "the relay noticed the hang-up"),
                () -> assertTrue(cut >= PROMPT + READ, kind() + ": " + what + ": the model read the application's "
                        + PROMPT + "-token prompt (as the same endpoint's previous call reported) and the client read "
                        + READ + " tokens of its answer before it stopped; the stopped call was charged " + cut
                        + ": " + ledger(s)));
    }

    // ------------------------------------------------------------------ findings

    /**
     * Finding: a Chat Completions stream stopped by the user is charged the client's question and the text it
     * carried; the 6,000 tokens of system message the model read (and OpenAI billed) are free on every stop.
     */
    @Test
    void aStoppedChatCompletionsStreamPaysThePromptTheApplicationAdded() throws IOException {
        assertStoppedCallPaysItsPrompt("/ai/support/chat", "Chat Completions stream stopped");
    }

    /** Finding: the same with the Responses API's stream ({@code response.created} reports {@code usage: null}). */
    @Test
    void aStoppedResponsesStreamPaysThePromptTheApplicationAdded() throws IOException {
        assertStoppedCallPaysItsPrompt("/ai/support-responses/chat", "Responses stream stopped");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the Chat Completions stream read to its end is charged exactly its usage, twice for two calls. */
    @Test
    void controlChatCompletionsStreamsReadToTheirEndAreChargedTheirUsage() {
        String s = subject();
        long first = readToItsEnd(s, "/ai/support/chat");
        long both = readToItsEnd(s, "/ai/support/chat");
        assertAll(() -> assertEquals(PROMPT + READ, first, ledger(s)),
                () -> assertEquals(2 * (PROMPT + READ), both, ledger(s)),
                () -> assertEquals(2, calls.of(s)));
    }

    /** Control: the Responses stream read to its end is charged exactly its usage. */
    @Test
    void controlAResponsesStreamReadToItsEndIsChargedItsUsage() {
        String s = subject();
        assertEquals(PROMPT + READ, readToItsEnd(s, "/ai/support-responses/chat"), ledger(s));
        assertEquals(1, calls.of(s));
    }

    /**
     * Control: a stopped stream is charged at least the text the client read (the documented floor holds: the
     * question and the 1,000 tokens read), so only the application's prompt is missing from the finding's charge.
     */
    @Test
    void controlAStoppedStreamPaysAtLeastTheTextItCarried() throws IOException {
        String s = subject();
        long cut = stopped(s, "/ai/support/chat");
        assertAll(() -> assertEquals(1, calls.of(s)),
                () -> assertEquals(Boolean.TRUE, writeFailed.get(s), "the relay noticed the hang-up"),
                () -> assertTrue(cut >= READ, kind() + ": charged " + cut + ": " + ledger(s)));
    }
}

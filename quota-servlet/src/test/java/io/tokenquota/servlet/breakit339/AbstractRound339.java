package io.tokenquota.servlet.breakit339;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.SupportChatRound;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * Round 339 of issue 11 ("no model call goes unpaid"): the floor of a stopped stream (rounds 328 and 331) for a
 * subject that never lets a call finish.
 *
 * <p>The rule (docs/servlet.md, "The estimate"; ProviderState.inputAdded, Settlement.inputFloor): an OpenAI stream
 * cut before its last event (which alone counts the usage) is charged at least its input plus the text it carried,
 * and "the input of a call ... counts what the most the subject's calls to the same route and model whose final
 * usage was seen read above their own estimate": the system prompt the application adds to its client's question.
 * The figure is learnt per subject, and only from calls of that subject read to their end.
 *
 * <p>The application is round 328's support chat, as a new user writes it: its client posts {@code {"question": …}};
 * the handler adds its 4,000-token system message, calls OpenAI's Chat Completions with {@code stream: true} and
 * {@code stream_options.include_usage}, relays each chunk, and cancels its provider call when a write to its client
 * fails. OpenAI reports (and bills) the prompt as 4,020 tokens for every call. The attack: a client that stops
 * every one of its streams once the text has arrived (before the usage chunk, which OpenAI sends last) never has a
 * call "whose final usage was seen", so nothing is ever learnt for it and every call skips the 4,000 tokens;
 * and its first call skips them although the filter has learnt, from other subjects' calls to the same route and
 * model, exactly what the application adds there.
 *
 * <p>Shapes: OpenAI API reference, "The chat completion chunk object" (first chunk {@code delta.role}, content
 * deltas, a chunk with {@code finish_reason}, then with {@code stream_options.include_usage} a last chunk with
 * {@code "choices": []} and {@code usage}, then {@code data: [DONE]}).
 */
abstract class AbstractRound339 extends SupportChatRound {
    /** The application's system message: its instructions and the product manual, in tokens. */
    static final long SYSTEM = 4_000;
    /** What OpenAI reports (and bills) as the prompt: the system message and the client's question. */
    static final long PROMPT = SYSTEM + 20;
    static final String CHAT = "/ai/support/chat";

    AbstractRound339() {
        super("339", PROMPT, true);
    }

    /**
     * The support chat: binds the question alone, adds its system message, calls OpenAI with {@code stream: true}
     * and {@code stream_options.include_usage}, and relays each chunk as it comes. When the client stops after the
     * text, the model's last chunks (finish reason, usage) meet a closed connection.
     */
    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter).servlet("support", chat(), "/ai/support/*");
    }

    void assertStoppedCallsPayTheirPrompt(String s, int calls, long[] stopped, String what) {
        assertAll(() -> assertEquals(calls, this.calls.of(s), "model calls"),
                () -> assertEquals(Boolean.TRUE, writeFailed.get(s), "the relay noticed the hang-up"),
                () -> {
                    for (int i = 0; i < stopped.length; i++) {
                        long cut = stopped[i];
                        assertTrue(cut >= PROMPT + READ, kind() + ": " + what + ": stopped call " + (i + 1) + " of "
                                + stopped.length + ": the model read the application's " + PROMPT + "-token prompt "
                                + "(OpenAI bills it whether or not the client reads the usage chunk) and the client "
                                + "read " + READ + " tokens of its answer before it stopped; it was charged " + cut
                                + ": " + ledger(s));
                    }
                });
    }

    // ------------------------------------------------------------------ findings

    /**
     * Finding: a client that stops each of its streams after the text, before OpenAI's usage chunk, never has a call
     * whose final usage was seen, so its subject never learns the application's 4,000-token system prompt: each of its
     * three calls was charged the question and the text it carried, about 1,020 for the 5,020 OpenAI bills. Fixed:
     * the figure another subject's complete call on the route showed applies (a route no call was ever read to its
     * end on shows nothing: docs/decisions.md, "Input an application adds, before any call shows it").
     */
    @Test
    void aClientThatStopsEveryStreamBeforeItsUsageNeverPaysThePromptTheApplicationAdds() throws IOException {
        String other = subject();
        assertEquals(PROMPT + READ, readToItsEnd(other, CHAT, QUESTION), "a call read to its end: " + ledger(other));
        String s = subject();
        long[] cut = {stopped(s, CHAT, QUESTION), stopped(s, CHAT, QUESTION), stopped(s, CHAT, QUESTION)};
        assertStoppedCallsPayTheirPrompt(s, 3, cut, "every call stopped before its usage");
    }

    /**
     * Finding: the filter has learnt from other subjects' calls to the same route and model, each read to its end and
     * charged 5,020, that this endpoint adds 4,000 tokens to its client's question; a new subject's first call,
     * stopped the same way, is still charged about 1,020: the figure is kept per subject.
     */
    @Test
    void aNewSubjectsFirstStoppedCallSkipsThePromptOtherSubjectsCallsShowTheEndpointAdds() throws IOException {
        for (int i = 0; i < 3; i++) {
            String other = subject();
            assertEquals(PROMPT + READ, readToItsEnd(other, CHAT, QUESTION), "a call read to its end: " + ledger(other));
        }
        String s = subject();
        long cut = stopped(s, CHAT, QUESTION);
        assertStoppedCallsPayTheirPrompt(s, 1, new long[] {cut}, "a new subject's first call, stopped");
    }

    // ------------------------------------------------------------------ controls

    /** Control: a subject that read one call to its end, then stops the next: it pays the prompt (round 328's fix). */
    @Test
    void controlAStoppedCallAfterTheSubjectsCompleteOnePaysThePrompt() throws IOException {
        String s = subject();
        assertEquals(PROMPT + READ, readToItsEnd(s, CHAT, QUESTION), "a call read to its end: " + ledger(s));
        long cut = stopped(s, CHAT, QUESTION);
        assertStoppedCallsPayTheirPrompt(s, 2, new long[] {cut}, "stopped after a complete call");
    }

    /** Control: the same calls read to their end are each charged exactly OpenAI's usage. */
    @Test
    void controlCallsReadToTheirEndAreChargedTheirUsage() {
        String s = subject();
        for (int i = 0; i < 3; i++) {
            assertEquals(PROMPT + READ, readToItsEnd(s, CHAT, QUESTION), "a call read to its end: " + ledger(s));
        }
        assertEquals(3 * (PROMPT + READ), settled(s).used(), ledger(s));
        assertEquals(3, calls.of(s), "model calls");
    }
}

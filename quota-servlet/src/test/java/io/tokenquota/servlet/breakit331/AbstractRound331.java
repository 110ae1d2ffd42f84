package io.tokenquota.servlet.breakit331;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.Prose;
import io.tokenquota.servlet.testing.SupportChatRound;
import java.io.IOException;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Round 331 of issue 11 ("no model call goes unpaid"): round 328's new floor, attacked.
 *
 * <p>The rule (docs/servlet.md, "The estimate"; ProviderState.inputAdded, Settlement.inputFloor): an OpenAI stream
 * cut before its last event (which alone counts the usage) is charged at least its input plus the text it carried,
 * and on a call "the input ... counts what the subject's last call to the same path and model whose final usage was
 * seen read above its own estimate": the system prompt the application adds to its client's question. It is
 * "neither learnt nor added beside a stored prompt or the provider's tools", and "it follows the last such call, so
 * a call reported in full sets it".
 *
 * <p>The application is round 328's support chat: its client posts {@code {"question": …}}; the handler binds that
 * one field (Spring Boot's Jackson, like most JSON binders, ignores unknown properties: Spring Boot reference,
 * "Customize the Jackson ObjectMapper": {@code DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES} is disabled),
 * puts its 4,000-token system message in front of it, calls OpenAI's Chat Completions with {@code stream: true}
 * and {@code stream_options.include_usage}, relays each chunk, and cancels its provider call when a write to its
 * client fails. OpenAI reports the prompt as 4,020 tokens whatever else the client's body held, since the
 * application never sends it on. A client that stops after reading 1,000 tokens was billed at least 5,020.
 *
 * <p>The attacks: the filter reads the client's body, not what the application sends on, to decide whether the
 * floor applies (a {@code prompt} or {@code tools} member turns it off) and to learn it (a member the application
 * ignores counts in the request's own estimate, so a call charged in full teaches 0); and it keys the figure by the
 * request's concrete path, so an endpoint with a path variable per conversation learns nothing for a new one.
 *
 * <p>Shapes: OpenAI API reference, "The chat completion chunk object" (first chunk {@code delta.role}, content
 * deltas, a chunk with {@code finish_reason}, then with {@code include_usage} a last chunk with {@code "choices":
 * []} and {@code usage}); the Responses API reference, "Create a model response": {@code prompt} ("Reference to a
 * prompt template and its variables": {@code {"id": "pmpt_…", "version": "2"}}) and {@code tools} (the web search
 * tool {@code {"type": "web_search"}}, platform.openai.com/docs/guides/tools-web-search), the members a client
 * adds here (they mean nothing to this application, which reads neither).
 */
abstract class AbstractRound331 extends SupportChatRound {
    /** The application's system message: its instructions and the product manual, in tokens. */
    static final long SYSTEM = 4_000;
    /** What OpenAI reports as the prompt: the system message and the client's question. */
    static final long PROMPT = SYSTEM + 20;
    static final String Q = "\"question\":\"How do I reset the router to its factory settings?\"";
    /** The question with an OpenAI stored prompt reference (Responses API's {@code prompt}) the application ignores. */
    static final String WITH_PROMPT = "{" + Q + ",\"prompt\":{\"id\":\"pmpt_68ab31c0d2e4819096b2f1a7c3e5d9f1\",\"version\":\"2\"}}";
    /** The question with OpenAI's web search tool (Responses API's {@code tools}) the application ignores. */
    static final String WITH_TOOL = "{" + Q + ",\"tools\":[{\"type\":\"web_search\"}]}";
    /** The question with 27,000 characters of prose (about 4,200 tokens by the estimate: its hold was 5,221) in a member the application ignores. */
    static final String WITH_NOTES = "{" + Q + ",\"notes\":\"" + Prose.english(27_000) + "\"}";
    static final String CHAT = "/ai/support/chat";

    AbstractRound331() {
        super("331", PROMPT, true);
    }

    /**
     * The support chat: binds the question alone, adds its system message, calls OpenAI with {@code stream: true}
     * and {@code stream_options.include_usage}, and relays each chunk as it comes. When the client stops, the model
     * writes on until the relay's next write fails.
     */
    @Override
    protected Deployment deploy(QuotaFilter filter) {
        // one servlet for the chat and for the per-conversation route (a Spring @PostMapping("/conversations/{id}/messages")
        // beside @PostMapping("/chat"): both run the same handler code)
        return filteredByServletName(filter).servlet("support", chat(), "/ai/support/*");
    }

    static String conversation() {
        return "/ai/support/conversations/conv_" + UUID.randomUUID().toString().replace("-", "") + "/messages";
    }

    /**
     * {@code s} made {@code complete} calls, each read to its end and charged exactly {@link #PROMPT} + {@link #READ},
     * then one stopped ({@code cut}): that one must pay at least the prompt OpenAI billed and the text read.
     */
    void assertStoppedCallPaysItsPrompt(String s, long[] complete, long cut, String what) {
        assertAll(() -> {
                    for (long c : complete) {
                        assertEquals(PROMPT + READ, c, "a call read to its end is charged its usage: " + ledger(s));
                    }
                },
                () -> assertEquals(complete.length + 1, calls.of(s), "model calls"),
                () -> assertEquals(Boolean.TRUE, writeFailed.get(s), "the relay noticed the hang-up"),
                () -> assertTrue(cut >= PROMPT + READ, kind() + ": " + what + ": the model read the application's "
                        + PROMPT + "-token prompt (as the same endpoint's calls read to their end reported) and the "
                        + "client read " + READ + " tokens of its answer before it stopped; the stopped call was charged "
                        + cut + ": " + ledger(s)));
    }

    // ------------------------------------------------------------------ findings

    /**
     * Finding: the stopped request names a stored prompt ({@code "prompt": {"id": "pmpt_…"}}) that the application
     * never sends on; the floor is "not added beside a stored prompt", and the prompt's own figure was never learnt,
     * so the 4,000 tokens of system message the model read are free again.
     */
    @Test
    void aStoppedCallNamingAStoredPromptTheApplicationIgnoresPaysThePromptItAdded() throws IOException {
        String s = subject();
        long first = readToItsEnd(s, CHAT, QUESTION);
        long cut = stopped(s, CHAT, WITH_PROMPT);
        assertStoppedCallPaysItsPrompt(s, new long[] {first}, cut, "stopped, naming a stored prompt the application ignores");
    }

    /** Finding: the same with OpenAI's web search tool ({@code "tools": [{"type": "web_search"}]}) in the body. */
    @Test
    void aStoppedCallNamingAWebSearchToolTheApplicationIgnoresPaysThePromptItAdded() throws IOException {
        String s = subject();
        long first = readToItsEnd(s, CHAT, QUESTION);
        long cut = stopped(s, CHAT, WITH_TOOL);
        assertStoppedCallPaysItsPrompt(s, new long[] {first}, cut, "stopped, naming a tool the application ignores");
    }

    /**
     * Finding: a call read to its end and charged in full (4,020 + 1,000), whose body carries about 4,200 tokens of text in
     * a member the application ignores, teaches the endpoint's added input as 0 (4,020 read, less the 4,220 or so
     * estimated), and the next stopped call (an ordinary question) pays the question and the text it carried.
     */
    @Test
    void aCallChargedInFullWithAMemberTheApplicationIgnoresZeroesTheNextStoppedCallsPrompt() throws IOException {
        String s = subject();
        long first = readToItsEnd(s, CHAT, QUESTION);
        long padded = readToItsEnd(s, CHAT, WITH_NOTES);
        long cut = stopped(s, CHAT, QUESTION);
        assertStoppedCallPaysItsPrompt(s, new long[] {first, padded}, cut,
                "stopped after a call charged in full whose body carried text the application ignores");
    }

    /**
     * Finding: an endpoint with a path per conversation ({@code /conversations/{id}/messages}) learns the figure per
     * conversation: the first call of a new one, stopped, pays the question and its text, whatever the same handler's
     * calls for the same subject and model reported the moment before.
     */
    @Test
    void aStoppedCallInANewConversationPaysThePromptTheSameEndpointAdded() throws IOException {
        String s = subject();
        long first = readToItsEnd(s, conversation(), QUESTION);
        long cut = stopped(s, conversation(), QUESTION);
        assertStoppedCallPaysItsPrompt(s, new long[] {first}, cut, "stopped, in a new conversation of the same endpoint");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same stopped call without the members the application ignores pays the prompt (round 328's fix). */
    @Test
    void controlAStoppedCallAfterACompleteOnePaysThePrompt() throws IOException {
        String s = subject();
        long first = readToItsEnd(s, CHAT, QUESTION);
        long cut = stopped(s, CHAT, QUESTION);
        assertStoppedCallPaysItsPrompt(s, new long[] {first}, cut, "stopped");
    }

    /** Control: two ordinary calls read to their end, then a stopped one: it pays the prompt. */
    @Test
    void controlTwoCompleteCallsThenAStoppedOnePayThePrompt() throws IOException {
        String s = subject();
        long first = readToItsEnd(s, CHAT, QUESTION);
        long second = readToItsEnd(s, CHAT, QUESTION);
        long cut = stopped(s, CHAT, QUESTION);
        assertStoppedCallPaysItsPrompt(s, new long[] {first, second}, cut, "stopped after two complete calls");
    }

    /** Control: the stopped call in the conversation the complete call was made in pays the prompt. */
    @Test
    void controlAStoppedCallInTheSameConversationPaysThePrompt() throws IOException {
        String s = subject();
        String path = conversation();
        long first = readToItsEnd(s, path, QUESTION);
        long cut = stopped(s, path, QUESTION);
        assertStoppedCallPaysItsPrompt(s, new long[] {first}, cut, "stopped in the same conversation");
    }
}

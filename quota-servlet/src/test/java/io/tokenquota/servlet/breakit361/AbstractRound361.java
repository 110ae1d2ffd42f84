package io.tokenquota.servlet.breakit361;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.SupportChatRound;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;

/**
 * Round 361 of issue 11 ("nothing that never reached a model is charged"), a new hostile user with the docs: round
 * 339's route figure, the input a stopped stream pays for what "other subjects' complete calls there showed".
 *
 * <p>The rule (docs/servlet.md, "Settlement rules", and {@code ProviderState.routeAdded}'s javadoc): an OpenAI stream
 * cut before its usage pays its input plus the text it carried, the input counting what the application adds, as
 * the largest the subject's own complete calls to the route and model showed "or, when more, the median of what the
 * last 15 subjects' complete calls there showed (each its largest ...; a median, so <b>one subject's long context is
 * not charged to others' stopped calls</b> ...)"; the javadoc: "A median, not the largest, because what an
 * application adds varies between users (retrieved documents, a user's own instructions): one subject's long context
 * is not charged to every other's stopped call".
 *
 * <p>The attack: the median is the upper one of an even count ({@code values[values.length / 2]}), so on a route
 * where one other subject's complete call is on record (a new route, a new model, any route after a restart: the
 * figures live in memory), a second subject's figure is the median whatever it is: one user whose own context is
 * long (a 15,000-token project knowledge base the application puts in each of that user's calls) sets what every
 * other user's stopped call pays, and a victim who stops a stream (a chat UI's "stop generating") pays 15,000 tokens
 * of another user's documents its model never read. Nothing the victim sends, and nothing the victim's own complete
 * calls showed (400 tokens of system prompt), is asked.
 *
 * <p>The application: a project chat in the manner of Claude's Projects (Anthropic, "What are projects?": a
 * project's knowledge is "used as context" in every chat of the project) and ChatGPT's projects and custom
 * instructions: its client posts {@code {"question": …}}; the handler puts its 400-token system message and the
 * user's own project knowledge in front of it and calls OpenAI's Chat Completions with {@code stream: true} and
 * {@code stream_options.include_usage}, relaying each chunk, and cancelling its provider call when a write to its
 * client fails. OpenAI reports the prompt the handler sent.
 *
 * <p>Shapes: OpenAI API reference, "The chat completion chunk object" (first chunk {@code delta.role}, content
 * deltas, a chunk with {@code finish_reason}, then with {@code include_usage} a last chunk with {@code "choices": []}
 * and {@code usage}, then {@code data: [DONE]}), as the shared SupportChatRound writes them.
 */
abstract class AbstractRound361 extends SupportChatRound {
    /** The application's own system message, in tokens: in every user's calls. */
    static final long SYSTEM = 400;
    /** The client's question, as OpenAI counts it. */
    static final long QUESTION_TOKENS = 20;
    /** The project knowledge of the user whose documents are long. */
    static final long LONG_KNOWLEDGE = 15_000;
    /** Each user's project knowledge, in tokens (the application's store of it); none for a user not named. */
    final Map<String, Long> knowledge = new ConcurrentHashMap<>();

    AbstractRound361() {
        super("361", SYSTEM + QUESTION_TOKENS, true);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return filteredByServletName(filter).servlet("projects", chat(), "/ai/projects/*");
    }

    /**
     * A route of its own for each test (the filter, and its figures by route, are the class's): letters only, so
     * that no segment is taken for an id.
     */
    static String route() {
        StringBuilder name = new StringBuilder();
        for (int i = 0; i < 12; i++) {
            name.append((char) ('a' + ThreadLocalRandom.current().nextInt(26)));
        }
        return "/ai/projects/" + name + "/chat";
    }

    /** What OpenAI reports as the prompt of {@code s}'s call: the system message, its knowledge and the question. */
    @Override
    protected long prompt(String s) {
        return SYSTEM + knowledge.getOrDefault(s, 0L) + QUESTION_TOKENS;
    }

    /** {@code s}'s question posted to {@code path} and read to its end: what {@code s} was charged for it. */
    long readToItsEnd(String s, String path) {
        long used = readToItsEnd(s, path, QUESTION);
        assertEquals(prompt(s) + READ, used, kind() + ": a call read to its end is charged its usage: " + ledger(s));
        return used;
    }

    /** {@code s}'s question posted to {@code path}, its answer stopped after {@link #READ} tokens: what {@code s} was charged. */
    long stopped(String s, String path) throws IOException {
        long used = stopped(s, path, QUESTION);
        assertEquals(Boolean.TRUE, writeFailed.get(s), "the relay noticed the hang-up");
        return used;
    }

    /**
     * {@code victim}'s stopped call was charged {@code after} once another user's call was on record, {@code before}
     * when it was not: the same question, the same answer read, the same prompt read by the model.
     */
    void assertSameCharge(String victim, long before, long after, String what) {
        assertAll(() -> assertTrue(before >= prompt(victim) + READ, kind() + ": the stopped call pays at least its own "
                        + "prompt (" + prompt(victim) + ") and the text read (" + READ + "): " + before),
                () -> assertEquals(before, after, kind() + ": " + what + ": the victim's model read its "
                        + prompt(victim) + "-token prompt (its system message and question, as its own complete call"
                        + " reported) and the client read " + READ + " tokens; the same stopped call was charged "
                        + before + " before and " + after + " after: " + ledger(victim)));
    }

    // ------------------------------------------------------------------ findings

    /**
     * Found and fixed: a victim whose own complete call showed the application's 400-token system message stops a stream
     * (charged as much, before); then one other user, whose project knowledge is 15,000 tokens, completes a call on
     * the same route: the two figures on record are 400 and 15,400, their "median" is 15,400, and the victim's next
     * stopped call pays 15,000 tokens of the other user's documents.
     */
    @Test
    void aStoppedCallDoesNotPayAnotherUsersLongContext() throws IOException {
        String path = route();
        String victim = subject();
        String other = subject();
        knowledge.put(other, LONG_KNOWLEDGE);
        readToItsEnd(victim, path);
        long before = stopped(victim, path);
        readToItsEnd(other, path);
        long after = stopped(victim, path);
        assertSameCharge(victim, before, after, "one other user with a long project knowledge completed a call there");
    }

    /**
     * Found and fixed: a new user (no complete call of its own) stops a stream on a route where honest users' calls
     * showed the 400-token system message: charged that (round 339's fix); a second new user stops the same stream
     * once a user with a 15,000-token knowledge base has also completed a call there: of two figures on record the
     * larger was taken, and the second new user paid the other user's 15,000 tokens. A route's figure now needs
     * three subjects (one subject's figure is no route's: it may be its own long context) and is their lower
     * median, so the honest users here are three, and with the long context beside them still show 400.
     */
    @Test
    void aNewUsersStoppedCallDoesNotPayAnotherUsersLongContext() throws IOException {
        String path = route();
        String other = subject();
        knowledge.put(other, LONG_KNOWLEDGE);
        String first = subject();
        String second = subject();
        for (int i = 0; i < 3; i++) {
            readToItsEnd(subject(), path);
        }
        long before = stopped(first, path);
        readToItsEnd(other, path);
        long after = stopped(second, path);
        assertSameCharge(second, before, after, "a new user's stopped call, once a user with a long project knowledge"
                + " completed a call there beside one honest user");
    }

    // ------------------------------------------------------------------ controls

    /** Control: the same sequence when the other user's context is as short as the victim's: the same charge. */
    @Test
    void controlAnotherUsersShortContextLeavesTheStoppedCallsCharge() throws IOException {
        String path = route();
        String victim = subject();
        String other = subject();
        readToItsEnd(victim, path);
        long before = stopped(victim, path);
        readToItsEnd(other, path);
        long after = stopped(victim, path);
        assertSameCharge(victim, before, after, "another user with the same short context completed a call there");
    }

    /** Control: the user with the long knowledge pays it on its own stopped call (the rule round 328 made). */
    @Test
    void controlTheLongContextsOwnStoppedCallPaysIt() throws IOException {
        String path = route();
        String other = subject();
        knowledge.put(other, LONG_KNOWLEDGE);
        readToItsEnd(other, path);
        long cut = stopped(other, path);
        assertTrue(cut >= prompt(other) + READ, kind() + ": the stopped call of the user whose knowledge the model read"
                + " pays it: " + cut + " for " + (prompt(other) + READ) + ": " + ledger(other));
    }
}

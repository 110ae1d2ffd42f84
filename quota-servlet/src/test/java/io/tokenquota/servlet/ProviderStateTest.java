package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What state kept at the provider costs, remembered by its id. */
final class ProviderStateTest {
    private static ProviderState.Refs refs(String json) {
        return ProviderState.Refs.of(json.getBytes(StandardCharsets.UTF_8), List.of(StandardCharsets.UTF_8), TOKENS);
    }

    /** Four characters a token. */
    private static final java.util.function.ToLongFunction<CharSequence> TOKENS = text -> text.length() / 4;

    /** An OpenAI Responses usage split by kind: {input, cachedInput, output, reasoning}. */
    private static long[] kinds(long input, long output) {
        return new long[] {input, 0, output, 0};
    }

    @Test
    void aRequestNamesItsStoredResponseConversationAndPrompt() {
        assertEquals(new ProviderState.Refs("resp_1", "conv_1", "pmpt_1@2", null, null, true, 0, 0, null, null, null, null, java.util.List.of()), refs("""
                {"previous_response_id":"resp_1","conversation":"conv_1","prompt":{"id":"pmpt_1","version":"2",
                 "variables":{"a":{"id":"x"}}},"input":"hi"}"""));
        assertEquals(new ProviderState.Refs(null, "conv_2", "pmpt_1", null, null, false, 0, 0, null, null, null, null, java.util.List.of()),
                refs("{\"conversation\":{\"id\":\"conv_2\"},\"prompt\":{\"id\":\"pmpt_1\"},\"store\":false}"));
        assertEquals(ProviderState.Refs.NONE, refs("{\"prompt\":\"a legacy completion\",\"max_tokens\":5}"));
        assertEquals(ProviderState.Refs.NONE, refs("not json, names a conversation"));
        assertEquals(ProviderState.Refs.NONE, ProviderState.Refs.of(null, List.of(), TOKENS));
    }

    @Test
    void whatACallReadAndWroteIsHeldForTheNextCallNamingItByIdAlone() {
        ProviderState state = new ProviderState(16);
        ProviderState.Reading first = state.read(refs("{\"conversation\":\"conv_1\",\"input\":\"notes\"}"), true);
        assertEquals(0, first.held());
        assertFalse(first.historyKnown(), "a conversation the filter never saw");
        state.answered(first, 2_000, false, "resp_1", null, kinds(8_000, 40), 8_040);
        ProviderState.Reading next = state.read(refs("{\"conversation\":{\"id\":\"conv_1\"},\"input\":\"more\"}"), true);
        assertEquals(8_040, next.held());
        assertTrue(next.historyKnown());
        assertEquals(8_040, state.read(refs("{\"previous_response_id\":\"resp_1\"}"), true).held(),
                "whoever names the stored Response reads it again");
    }

    /**
     * Mistral's Conversations API names the conversation a start made only in its answer
     * ({@code conversation_id}) and an append or a restart names it only in its path
     * ({@code POST /v1/conversations/{id}}, {@code /v1/conversations/{id}/restart}): each is held at what
     * the conversation's calls read and wrote; a restart's answer names the new conversation it made.
     */
    @Test
    void aMistralConversationIsHeldAtItsCallsForTheAppendThatNamesItInItsPath() {
        ProviderState state = new ProviderState(16);
        ProviderState.Reading start = state.read(refs("{\"model\":\"mistral-medium-latest\",\"inputs\":\"notes\"}")
                .calledBy("/v1/conversations", "u1"), true);
        assertNull(start.refs().conversation());
        state.answered(start, 2_000, false, null, "conv_m1", kinds(8_000, 40), 8_040);
        ProviderState.Reading append = state.read(refs("{\"inputs\":\"more\",\"stream\":true}")
                .calledBy("/v1/conversations/conv_m1", "u1"), true);
        assertEquals(8_040, append.held());
        assertTrue(append.historyKnown());
        state.answered(append, 8_050, false, null, "conv_m1", kinds(8_100, 60), 8_160);
        assertEquals(8_160, state.read(refs("{\"inputs\":\"again\"}").calledBy("/v1/conversations/conv_m1/restart", "u1"),
                true).held());
        assertEquals(0, state.read(refs("{}").calledBy("/v1/conversations/conv_m1/history", "u1"), true).held(),
                "a read of its history names no conversation a model reads");
    }

    /**
     * Gemini's cached context is created apart (no model runs) and named by each call that reads it: the
     * first call's usage says how much of its input came from the cache, and later calls naming the same
     * cache are held at that. A handler's own figure, or a usage not split by kind, teaches nothing.
     */
    @Test
    void aGeminiCachedContextIsHeldAtWhatTheModelReadFromIt() {
        ProviderState state = new ProviderState(16);
        String ask = "{\"cachedContent\":\"cachedContents/abc\",\"contents\":[{\"parts\":[{\"text\":\"why?\"}]}]}";
        assertEquals("cachedContents/abc", refs(ask).cachedContent());
        assertEquals("cachedContents/abc", refs("{\"cached_content\":\"cachedContents/abc\"}").cachedContent());
        ProviderState.Reading first = state.read(refs(ask), true);
        assertFalse(first.historyKnown(), "a cache the filter never saw");
        assertEquals(0, first.held());
        state.answered(first, 10, true, null, null, new long[] {12_025, 12_015, 300, 0}, 12_325);
        assertEquals(0, state.read(refs(ask), true).held(), "a handler's figure is not the model's report");
        state.answered(first, 10, false, null, null, null, 12_325);
        assertEquals(0, state.read(refs(ask), true).held(), "a usage not split by kind does not say the cache's part");
        state.answered(first, 10, false, null, null, new long[] {12_025, 12_015, 300, 0}, 12_325);
        ProviderState.Reading next = state.read(refs(ask), true);
        assertTrue(next.historyKnown());
        assertEquals(12_015, next.held(), "held at what the model read from the cache");
        state.answered(next, 12_025, false, null, null, new long[] {12_025, 0, 300, 0}, 12_325);
        assertEquals(12_015, state.read(refs(ask), true).held(), "an answer that read less cannot lower it");
    }

    /** An Assistants run reads its thread, named only in the path; the next run reads it and the answer. */
    @Test
    void anAssistantsRunIsHeldAtWhatTheLastRunOnItsThreadRead() {
        ProviderState state = new ProviderState(16);
        ProviderState.Refs run = refs("{\"assistant_id\":\"asst_1\",\"stream\":true}").calledBy("/v1/threads/thread_9/runs", "u1");
        assertEquals("thread_9", run.thread());
        assertNull(refs("{}").calledBy("/v1/threads/runs", "u1").thread(), "a run with its thread in the body");
        ProviderState.Reading first = state.read(run, true);
        assertFalse(first.historyKnown());
        state.answered(first, 5, false, null, null, new long[] {12_000, 0, 424, 0}, 12_424);
        assertEquals(12_424, state.read(run, true).held());
        assertEquals(0, state.read(refs("{}").calledBy("/v1/threads/thread_8/runs", "u1"), true).held(), "another thread");
    }

    /**
     * The provider's own tools read in what they find: file search over the same vector stores, web
     * search. What the input came to above the request's own is held for the next call naming the same
     * tools; a function the client runs names nothing.
     */
    @Test
    void whatTheProvidersToolsReadInIsHeldForTheNextCallNamingThem() {
        ProviderState state = new ProviderState(16);
        ProviderState.Refs search = refs("""
                {"model":"gpt-4.1","input":"what does the manual say?","tools":[{"type":"file_search",
                 "vector_store_ids":["vs_2","vs_1"]},{"type":"function","name":"lookup","parameters":{}}]}""");
        assertEquals("file_search[vs_1, vs_2]", search.lookups());
        assertEquals("web_search_20250305", refs("{\"tools\":[{\"type\":\"web_search_20250305\",\"max_uses\":5}]}").lookups());
        assertEquals("googleSearch", refs("{\"tools\":[{\"googleSearch\":{}}]}").lookups());
        assertNull(refs("{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}").lookups());
        ProviderState.Reading first = state.read(search, true);
        assertEquals(0, first.held());
        state.answered(first, 40, false, null, null, new long[] {12_040, 0, 300, 0}, 12_340);
        assertEquals(12_000, state.read(search, true).held(), "the chunks the search read in");
        assertEquals(0, state.read(refs("{\"tools\":[{\"type\":\"file_search\",\"vector_store_ids\":[\"vs_3\"]}]}"),
                true).held(), "other stores");
    }

    /**
     * Round 339: a subject's stopped call pays at least the median of what the route's last 15 subjects' complete
     * calls showed the application adds (each subject's largest; the lower of an even count; none before three
     * subjects, round 361), so one subject's padded call (teaching 0) does not lower it and one subject's long
     * context does not raise it for the others.
     */
    @Test
    void whatTheRoutesSubjectsShowedIsTheirMedian() {
        ProviderState state = new ProviderState(16);
        String chat = "/ai/support/chat\u0000gpt-4o-mini";
        ProviderState.Reading question = state.read(refs("{\"question\":\"how do I reset it?\"}").calledBy("/ai/support/chat", "u1"), true);
        state.answered(question, 20, false, null, null, kinds(4_020, 1_000), 5_020, "a", chat);
        state.answered(question, 900, false, null, null, kinds(520, 10), 530, "padded", chat);
        assertEquals(0, state.inputAdded("new", chat), "two subjects make no route figure (round 361): neither the padded"
                + " call's 0 nor one long context sets what others pay");
        state.answered(question, 20, false, null, null, kinds(30_020, 1_000), 31_020, "long", chat);
        assertEquals(4_000, state.inputAdded("new", chat), "the median of three: one long context is not everyone's");
        assertEquals(30_000, state.inputAdded("long", chat), "a subject's own figure when more");
        for (int i = 0; i < 15; i++) {
            state.answered(question, 20, false, null, null, kinds(1_020, 10), 1_030, "s" + i, chat);
        }
        assertEquals(1_000, state.inputAdded("new", chat), "the last 15 subjects only");
        assertEquals(0, state.inputAdded("new", "/ai/other\u0000gpt-4o-mini"), "another route's");
    }

    /**
     * Rounds 328 and 331: what an endpoint's application adds to its client's request (a system prompt) is learnt
     * from calls whose final usage was seen, by subject and endpoint, the largest seen (no call lowers it), from no
     * handler's figure and no unmeasured or unknown input, and not from a request naming a stored prompt or the
     * provider's tools (whose own figures hold the same difference); it is added beside those too.
     */
    @Test
    void whatAnApplicationAddsToItsClientsInputIsTheLargestItWasSeenToAdd() {
        ProviderState state = new ProviderState(16);
        String chat = "/ai/support/chat\u0000gpt-4o-mini";
        ProviderState.Reading question = state.read(refs("{\"question\":\"how do I reset it?\"}").calledBy("/ai/support/chat", "u1"), true);
        assertEquals(0, state.inputAdded("u1", chat), "nothing learnt yet");
        state.answered(question, 20, false, null, null, kinds(6_020, 1_000), 7_020, "u1", chat);
        assertEquals(6_000, state.inputAdded("u1", chat));
        // round 339: another subject's stopped call pays what the route's subjects showed (their median), once three
        // subjects showed it (round 361): one subject's figure is not the route's
        assertEquals(0, state.inputAdded("u2", chat), "one subject's figure is not the route's");
        assertEquals(0, state.inputAdded("u1", "/ai/other\u0000gpt-4o-mini"), "another endpoint's");
        state.answered(question, 20, true, null, null, kinds(20, 10), 30, "u1", chat);
        state.answered(question, 20, false, null, null, null, 30, "u1", chat);
        state.answered(state.read(question.refs(), false), 20, false, null, null, kinds(20, 10), 30, "u1", chat);
        assertEquals(6_000, state.inputAdded("u1", chat), "a handler's figure, no kinds, an unmeasured input: kept");
        state.answered(question, 900, false, null, null, kinds(520, 10), 530, "u1", chat);
        assertEquals(6_000, state.inputAdded("u1", chat), "a padded call that read less than its estimate lowers nothing");
        state.answered(question, 20, false, null, null, kinds(2_020, 10), 2_030, "u1", chat);
        assertEquals(6_000, state.inputAdded("u1", chat), "nor a call that read less");
        state.answered(question, 20, false, null, null, kinds(8_020, 10), 8_030, "u1", chat);
        assertEquals(8_000, state.inputAdded("u1", chat), "one that read more raises it");
        ProviderState.Reading prompt = state.read(refs("{\"prompt\":{\"id\":\"pmpt_1\"}}").calledBy("/ai/support/chat", "u1"), true);
        state.answered(prompt, 20, false, null, null, kinds(19_020, 10), 19_030, "u1", chat);
        assertEquals(8_000, state.inputAdded("u1", chat), "not learnt beside a stored prompt, whose figure holds it");
    }

    /** Round 329: the finished result a job was charged for is kept beside its figure until a start begins it afresh. */
    @Test
    void aJobsChargedResultIsKeptPerSubjectUntilItsFigureStartsAfresh() {
        ProviderState state = new ProviderState(16);
        assertNull(state.jobResult("u1", "job:/summaries/1"));
        state.jobCharged("u1", "job:/summaries/1", 5_000, true);
        state.jobResult("u1", "job:/summaries/1", "draft 1");
        assertEquals("draft 1", state.jobResult("u1", "job:/summaries/1"));
        assertNull(state.jobResult("u2", "job:/summaries/1"), "another subject's");
        state.jobStarted("u1", "job:/summaries/1", 1_001);
        assertNull(state.jobResult("u1", "job:/summaries/1"), "a run this instance saw start");
        assertEquals(1_001, state.jobCharged("u1", "job:/summaries/1"));
    }

    /** A reasoning effort named without a budget writes what the model decides: what it wrote is kept. */
    @Test
    void whatAReasoningEffortWroteWithoutABudgetIsKeptByModelAndEffort() {
        ProviderState state = new ProviderState(16);
        ProviderState.Refs high = refs("{\"model\":\"o3\",\"reasoning_effort\":\"high\",\"messages\":[]}");
        assertEquals("o3:high", high.reasoning());
        assertEquals("o3:low", refs("{\"model\":\"o3\",\"reasoning\":{\"effort\":\"low\"}}").reasoning());
        assertNull(state.read(high, true).reasoning());
        state.answered(state.read(high, true), 17, false, null, null, new long[] {17, 0, 1_000, 11_000}, 12_017);
        assertEquals(12_000, state.read(high, true).reasoning());
        assertEquals(0, state.read(high, true).held(), "output, not input");
        assertNull(state.read(refs("{\"model\":\"o3\",\"reasoning_effort\":\"low\"}"), true).reasoning());
    }

    /**
     * A request without a budget that names no effort runs at the model's default: its figure is learnt
     * only from an answer that reports reasoning, apart from the named efforts', and follows the last call.
     */
    @Test
    void whatTheDefaultEffortWroteIsKeptOnlyForAModelThatReasons() {
        ProviderState state = new ProviderState(16);
        ProviderState.Refs o3 = refs("{\"model\":\"o3\",\"messages\":[]}");
        assertNull(o3.reasoning(), "no effort named");
        ProviderState.Refs unbounded = o3.unbounded("/ai/v1/chat/completions");
        assertTrue(unbounded.atDefaultEffort());
        assertEquals(unbounded, unbounded.unbounded("/ai/v1/chat/completions"));
        assertEquals("o3:high", refs("{\"model\":\"o3\",\"reasoning_effort\":\"high\"}").unbounded("/ai/v1/chat/completions").reasoning(),
                "a named effort is kept");
        state.answered(state.read(unbounded, true), 17, false, null, null, new long[] {17, 0, 1_000, 11_000}, 12_017);
        assertEquals(12_000, state.read(unbounded, true).reasoning());
        assertNull(state.read(o3, true).reasoning(), "a call naming a budget holds none");
        assertNull(state.read(refs("{\"model\":\"o3\",\"reasoning_effort\":\"medium\"}"), true).reasoning());
        // the subject's last such call wrote less: the figure follows it
        state.answered(state.read(unbounded, true), 17, false, null, null, new long[] {17, 0, 300, 0}, 317);
        assertEquals(300, state.read(unbounded, true).reasoning());

        // a model that does not reason: however long its answer, no figure
        ProviderState.Refs mini = refs("{\"model\":\"gpt-4o-mini\",\"messages\":[]}").unbounded("/ai/v1/chat/completions");
        state.answered(state.read(mini, true), 17, false, null, null, new long[] {17, 0, 9_000, 0}, 9_017);
        assertNull(state.read(mini, true).reasoning());
        // nor from a call that named a budget (its refs are not unbounded)
        state.answered(state.read(o3, true), 17, false, null, null, new long[] {17, 0, 1_000, 5_000}, 6_017);
        assertEquals(300, state.read(unbounded, true).reasoning());
    }

    @Test
    void aFigureNeverShrinksWhenCallsCompleteOutOfOrder() {
        ProviderState state = new ProviderState(16);
        String conv = "{\"conversation\":\"conv_1\",\"input\":\"x\"}";
        state.answered(state.read(refs(conv), true), 10, false, "resp_1", null, kinds(10, 40), 50);
        // a slow turn starts on the short conversation; a report's turn completes first
        ProviderState.Reading slow = state.read(refs(conv), true);
        state.answered(state.read(refs(conv), true), 8_050, false, "resp_2", null, kinds(8_050, 40), 8_090);
        state.answered(slow, 60, false, "resp_3", null, kinds(60, 40), 100);
        assertEquals(8_090, state.read(refs(conv), true).held(), "the late turn does not shrink the conversation");
        // an answer repeating a stored Response's id cannot lower it
        state.answered(state.read(ProviderState.Refs.NONE, true), 1, false, "resp_2", null, kinds(1, 0), 1);
        assertEquals(8_090, state.read(refs("{\"previous_response_id\":\"resp_2\"}"), true).held());
        // a prompt named without a version (its newest): a slow call begun under a shorter one cannot lower it
        String prompt = "{\"prompt\":{\"id\":\"pmpt_1\"},\"input\":\"go\"}";
        ProviderState.Reading older = state.read(refs(prompt), true);
        state.answered(state.read(refs(prompt), true), 10, false, "resp_4", null, kinds(9_010, 40), 9_050);
        state.answered(older, 10, false, "resp_5", null, kinds(4_010, 40), 4_050);
        assertEquals(9_000, state.read(refs(prompt), true).held());
    }

    @Test
    void aStoredPromptCostsWhatTheModelReadAboveTheRequestsOwnInputAndHistory() {
        ProviderState state = new ProviderState(16);
        ProviderState.Reading first = state.read(refs("{\"prompt\":{\"id\":\"pmpt_1\",\"version\":\"2\"},\"input\":\"go\"}"), true);
        state.answered(first, 10, false, "resp_1", null, kinds(9_010, 40), 9_050);
        ProviderState.Reading again = state.read(refs("{\"prompt\":{\"id\":\"pmpt_1\",\"version\":\"2\"},\"input\":\"go\"}"), true);
        assertEquals(9_000, again.held());
        assertNull(state.read(refs("{\"prompt\":{\"id\":\"pmpt_1\",\"version\":\"3\"}}"), true).prompt(), "another version");
        assertEquals(50, state.read(refs("{\"previous_response_id\":\"resp_1\"}"), true).held(),
                "a stored Response does not carry the template");
        // held with the prompt, the next answer says the same: the figure stays
        state.answered(again, 10 + 9_000, false, "resp_2", null, kinds(9_010, 40), 9_050);
        assertEquals(9_000, state.read(refs("{\"prompt\":{\"id\":\"pmpt_1\",\"version\":\"2\"}}"), true).held());
        // a continuation the filter does not know: the difference holds that history too, so it is not taken
        ProviderState.Reading unknown = state.read(refs(
                "{\"previous_response_id\":\"resp_elsewhere\",\"prompt\":{\"id\":\"pmpt_1\",\"version\":\"2\"}}"), true);
        state.answered(unknown, 10 + 9_000, false, "resp_3", null, kinds(50_000, 40), 50_040);
        assertEquals(9_000, state.read(refs("{\"prompt\":{\"id\":\"pmpt_1\",\"version\":\"2\"}}"), true).held());
        assertEquals(41_040, state.read(refs("{\"previous_response_id\":\"resp_3\"}"), true).held());
    }

    @Test
    void anAnswerNotStoredIsNotRememberedAndTheMemoryIsBounded() {
        ProviderState state = new ProviderState(2);
        state.answered(state.read(refs("{\"store\":false,\"input\":\"x\"}"), true), 1, false, "resp_0", null, kinds(1, 1), 2);
        assertEquals(0, state.read(refs("{\"previous_response_id\":\"resp_0\"}"), true).held(), "store: false");
        for (int i = 1; i <= 3; i++) {
            state.answered(state.read(ProviderState.Refs.NONE, true), 1, false, "resp_" + i, null, kinds(i, 0), i);
        }
        assertEquals(0, state.read(refs("{\"previous_response_id\":\"resp_1\"}"), true).held(), "the least recently used goes");
        assertEquals(3, state.read(refs("{\"previous_response_id\":\"resp_3\"}"), true).held());
        String longId = "resp_" + "x".repeat(ProviderState.MAX_ID_LENGTH);
        state.answered(state.read(ProviderState.Refs.NONE, true), 1, false, longId, null, kinds(5, 0), 5);
        assertEquals(0, state.read(refs("{\"previous_response_id\":\"" + longId + "\"}"), true).held(), "an oversized id");
    }

    /**
     * What uploads' parts leave unfinished for their next part is kept up to a bound in bytes, not in
     * entries (round 275: 1,024 cut lines of 64 KB each could stay across requests): 200 uploads each
     * cut inside a 60 KB line keep the latest lines only, the first upload's pushed out.
     */
    @Test
    void whatUploadsLeaveUnfinishedIsBoundedInBytes() {
        ProviderState state = new ProviderState(1_000);
        byte[] line = "x".repeat(60 * 1024).getBytes(StandardCharsets.US_ASCII);
        int uploads = 200;
        assertTrue((long) uploads * line.length > ProviderState.MAX_CARRIED_BYTES, "more than is kept");
        for (int i = 0; i < uploads; i++) {
            state.uploadStarted("upload_" + i);
            state.uploadPart("upload_" + i, line, b -> 0);
        }
        List<Integer> carried = new java.util.ArrayList<>();
        state.uploadCompleted("upload_0", "file-0", b -> carried.add(b.length) ? 0 : 0);
        assertEquals(List.of(), carried, "the first upload's cut line was pushed out");
        state.uploadCompleted("upload_" + (uploads - 1), "file-last", b -> carried.add(b.length) ? 0 : 0);
        assertEquals(List.of(line.length), carried, "the last upload's cut line is kept");
    }

    @Test
    void refsAreReadAsTheEndpointParsesTheBody() {
        assertEquals("resp_1", refs("{\"previous\\u005fresponse_id\":\"resp_1\"}").previousResponse(), "an escaped name");
        assertEquals("resp_1", refs("{\"input\":\"x\",\"previous_response_id\":\"resp_1\",}").previousResponse(),
                "a trailing comma, read leniently");
        assertEquals("resp_1", ProviderState.Refs.of("{\"previous_response_id\":\"resp_1\"}".getBytes(StandardCharsets.UTF_16),
                List.of(StandardCharsets.UTF_8), TOKENS).previousResponse(), "UTF-16");
        assertTrue(refs("{\"store\":false,\"store\":true}").stores(), "the last of a repeated member");
        assertFalse(refs("{\"store\":true,\"store\":false}").stores());
        assertNull(refs("{\"previous_response_id\":\"resp_1\",\"previous_response_id\":null}").previousResponse());
        assertEquals(25, refs("{\"instructions\":\"" + "x".repeat(100) + "\"}").instructions());
    }

    @Test
    void aStoredResponseHoldsWhatItsContinuationReadsAgain() {
        ProviderState state = new ProviderState(16);
        ProviderState.Reading first = state.read(refs("{\"instructions\":\"" + "x".repeat(4_000) + "\",\"input\":\"q\"}"), true);
        // 1,010 read (1,000 of them instructions), 12,000 written of which 11,800 reasoning
        state.answered(first, 1_010, false, "resp_1", null, new long[] {1_010, 0, 200, 11_800}, 13_010);
        assertEquals(210, state.read(refs("{\"previous_response_id\":\"resp_1\"}"), true).held(),
                "neither the reasoning nor the instructions are read again");
    }

    @Test
    void aStoredResponseDoesNotHoldTheToolsItsContinuationSendsAgain() {
        // each name and string of the tools, as the request's estimate counts them (four characters a
        // token): type 1, function 2, description 2, its text 1,000, parameters 2, type 1, object 1, n 0
        String tools = "[{\"type\":\"function\",\"description\":\"" + "x".repeat(4_000)
                + "\",\"parameters\":{\"type\":\"object\",\"n\":5}}]";
        assertEquals(1_009, refs("{\"tools\":" + tools + ",\"input\":\"q\"}").tools());
        ProviderState state = new ProviderState(16);
        ProviderState.Reading first = state.read(refs("{\"tools\":" + tools + ",\"input\":\"q\"}"), true);
        state.answered(first, 1_010, false, "resp_1", null, new long[] {1_010, 0, 200, 0}, 1_210);
        assertEquals(201, state.read(refs("{\"previous_response_id\":\"resp_1\",\"tools\":" + tools + "}"), true).held(),
                "the tools are sent again, not carried over");
    }

    @Test
    void aPromptIsLearntOnlyFromAMeasuredCallsUsage() {
        ProviderState state = new ProviderState(16);
        String named = "{\"prompt\":{\"id\":\"pmpt_1\"},\"input\":\"go\"}";
        state.answered(state.read(refs(named), true), 10, false, "resp_1", null, kinds(4_010, 40), 4_050);
        assertEquals(4_000, state.read(refs(named), true).held());
        // four images by URL held at 1,600 each, billed 255: the difference would say 0
        state.answered(state.read(refs(named), false), 4_000 + 6_410, false, "resp_2", null, kinds(5_030, 40), 5_070);
        assertEquals(4_000, state.read(refs(named), true).held(), "an unmeasured call does not lower it");
        // a file by id held at the least an item costs, billed 24,000: the difference would say 24,000
        state.answered(state.read(refs(named), false), 4_000 + 268, false, "resp_3", null, kinds(28_010, 40), 28_050);
        assertEquals(4_000, state.read(refs(named), true).held(), "nor raise it");
        state.answered(state.read(refs(named), true), 4_010, true, "resp_4", null, kinds(15_000, 40), 15_040);
        assertEquals(4_000, state.read(refs(named), true).held(), "nor a handler's own figure");
    }

    // ------------------------------------------------------------------ round 327: state put there by no model

    /**
     * A Gemini cache created through the filter is held at the size its creation's answer gave
     * ({@code usageMetadata.totalTokenCount}); a later, smaller figure (another creation's answer, a call
     * that read less of it) does not lower it.
     */
    @Test
    void aCacheCreatedIsHeldAtItsSizeAndNeverLowered() {
        ProviderState state = new ProviderState(16);
        String ask = "{\"cachedContent\":\"cachedContents/c327\",\"contents\":[]}";
        state.cacheCreated("cachedContents/c327", 6_000);
        assertEquals(6_000, state.read(refs(ask), true).held());
        assertTrue(state.read(refs(ask), true).historyKnown(), "the provider's count");
        state.cacheCreated("cachedContents/c327", 10);
        state.answered(state.read(refs(ask), true), 8, false, null, null, new long[] {108, 100, 60, 0}, 168);
        assertEquals(6_000, state.read(refs(ask), true).held());
        state.cacheCreated("cachedContents/" + "x".repeat(ProviderState.MAX_ID_LENGTH), 6_000);
        assertEquals(0, state.read(refs("{\"cachedContent\":\"cachedContents/" + "x".repeat(ProviderState.MAX_ID_LENGTH)
                + "\"}"), true).held(), "an oversized name");
    }

    /**
     * Items a subject's requests that ran no model put into a conversation add to what is known of it, for
     * that subject's calls alone, as estimated; a call's usage then counts them, as far as the figure it
     * teaches grew past the one known when the call was held.
     */
    @Test
    void itemsPutThereWithoutAModelAreHeldForTheirSubjectUntilAUsageCountsThem() {
        ProviderState state = new ProviderState(16);
        String named = "{\"conversation\":\"conv_1\",\"input\":\"q\"}";
        state.answered(state.read(refs(named).calledBy("/v1/responses", "u1"), true), 5, false, "resp_1", null, kinds(8, 60), 68);
        state.filled("u1", ProviderState.CONVERSATION, "conv_1", 4_000);
        state.filled("u1", ProviderState.CONVERSATION, "conv_1", 2_000);
        ProviderState.Reading mine = state.read(refs(named).calledBy("/v1/responses", "u1"), true);
        assertEquals(6_068, mine.held(), "added to the known figure, not the larger of the two");
        assertFalse(mine.historyKnown(), "an estimate is not the model's count");
        assertEquals(68, state.read(refs(named).calledBy("/v1/responses", "u2"), true).held(), "another subject's hold");
        // an answer that read less than the items (an endpoint that does not read the conversation) leaves them
        state.answered(mine, 5, false, "resp_2", null, kinds(5, 5), 10);
        assertEquals(6_068, state.read(refs(named).calledBy("/v1/responses", "u1"), true).held());
        // one that read 1,000 of them counts those
        state.answered(mine, 5, false, "resp_3", null, kinds(1_008, 60), 1_068);
        assertEquals(1_068 + 5_000, state.read(refs(named).calledBy("/v1/responses", "u1"), true).held());
        // the turn that read them all: its figure holds them, and they are no longer added
        ProviderState.Reading next = state.read(refs(named).calledBy("/v1/responses", "u1"), true);
        state.answered(next, 5, false, "resp_4", null, kinds(6_076, 60), 6_136);
        ProviderState.Reading after = state.read(refs(named).calledBy("/v1/responses", "u1"), true);
        assertEquals(6_136, after.held());
        assertTrue(after.historyKnown());
    }

    /** An Assistants thread given messages by requests that ran no model: its run is held them. */
    @Test
    void messagesPutIntoAThreadAreHeldForItsSubjectsRun() {
        ProviderState state = new ProviderState(16);
        ProviderState.Refs run = refs("{\"assistant_id\":\"asst_1\"}").calledBy("/v1/threads/thread_1/runs", "u1");
        state.filled("u1", ProviderState.THREAD, "thread_1", 6_000);
        assertEquals(6_000, state.read(run, true).held());
        assertEquals(0, state.read(refs("{}").calledBy("/v1/threads/thread_1/runs", "u2"), true).held());
        state.answered(state.read(run, true), 10, false, null, null, new long[] {6_010, 0, 60, 0}, 6_070);
        assertEquals(6_070, state.read(run, true).held(), "the run's usage counts them");
    }

    /**
     * A stored prompt is not learnt beside items held as estimated: an estimate below OpenAI's count would make
     * the difference, and so the shared template's figure, larger for every subject.
     */
    @Test
    void aPromptIsNotLearntBesideItemsHeldAsEstimated() {
        ProviderState state = new ProviderState(16);
        state.filled("u1", ProviderState.CONVERSATION, "conv_1", 4_200);
        String both = "{\"conversation\":\"conv_1\",\"prompt\":{\"id\":\"pmpt_1\"},\"input\":\"q\"}";
        state.answered(state.read(refs(both).calledBy("/v1/responses", "u1"), true), 4_210, false, "resp_1", null,
                kinds(14_008, 60), 14_068);
        assertNull(state.read(refs("{\"prompt\":{\"id\":\"pmpt_1\"}}"), true).prompt());
    }

    /**
     * What free requests put there is kept apart from the figures learnt from usage and bounded: full, the
     * smallest goes, and no learnt figure is pushed out.
     */
    @Test
    void whatFreeRequestsPutThereIsBoundedAndPushesOutNoLearntFigure() {
        ProviderState state = new ProviderState(2);
        state.answered(state.read(ProviderState.Refs.NONE, true), 1, false, "resp_1", null, kinds(500, 0), 500);
        state.answered(state.read(ProviderState.Refs.NONE, true), 1, false, "resp_2", null, kinds(700, 0), 700);
        state.filled("u1", ProviderState.CONVERSATION, "conv_big", 9_000);
        for (int i = 0; i < 100; i++) {
            state.filled("u2", ProviderState.CONVERSATION, "conv_" + i, 10 + i);
        }
        assertEquals(500, state.read(refs("{\"previous_response_id\":\"resp_1\"}"), true).held());
        assertEquals(700, state.read(refs("{\"previous_response_id\":\"resp_2\"}"), true).held());
        assertEquals(9_000, state.read(refs("{\"conversation\":\"conv_big\"}").calledBy("/v1/responses", "u1"), true).held(),
                "smaller additions cannot push out a larger one");
        assertEquals(109, state.read(refs("{\"conversation\":\"conv_99\"}").calledBy("/v1/responses", "u2"), true).held());
        assertEquals(0, state.read(refs("{\"conversation\":\"conv_98\"}").calledBy("/v1/responses", "u2"), true).held(),
                "the smallest went");
        state.filled("u1", ProviderState.CONVERSATION, "conv_" + "x".repeat(ProviderState.MAX_ID_LENGTH), 99_000);
        assertEquals(9_000, state.read(refs("{\"conversation\":\"conv_big\"}").calledBy("/v1/responses", "u1"), true).held(),
                "an oversized id is not kept");
    }

    /**
     * A Mistral agent ({@code agent_id}, with a conversation's {@code agent_version}) is a stored template named
     * by id, learnt as a stored prompt is; a conversation an agent started keeps it (its appends name no agent).
     */
    @Test
    void aMistralAgentIsAStoredTemplateNamedById() {
        String agent = "{\"agent_id\":\"ag_1\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}";
        assertEquals(ProviderState.Refs.AGENT + "ag_1", refs(agent).prompt());
        assertEquals(ProviderState.Refs.AGENT + "ag_1@3", refs("{\"agent_id\":\"ag_1\",\"agent_version\":3}").prompt());
        assertEquals("pmpt_1", refs("{\"agent_id\":\"ag_1\",\"prompt\":{\"id\":\"pmpt_1\"}}").prompt(), "OpenAI's prompt");
        assertTrue(refs(agent).templateCarried());
        assertFalse(refs("{\"prompt\":{\"id\":\"pmpt_1\"}}").templateCarried());
        ProviderState state = new ProviderState(16);
        state.answered(state.read(refs(agent), true), 8, false, null, null, kinds(8_008, 60), 8_068);
        assertEquals(8_000, state.read(refs(agent), true).held());
        assertNull(state.read(refs("{\"prompt\":{\"id\":\"ag_1\"}}"), true).prompt(), "apart from OpenAI's prompts");
        // a conversation started with the agent: its appends read the agent's instructions again
        ProviderState.Reading start = state.read(refs("{\"agent_id\":\"ag_1\",\"inputs\":\"q\"}")
                .calledBy("/v1/conversations", "u1"), true);
        state.answered(start, 8 + 8_000, false, null, "conv_m1", kinds(8_008, 60), 8_068);
        assertEquals(8_068, state.read(refs("{\"inputs\":\"more\"}").calledBy("/v1/conversations/conv_m1", "u1"), true).held());
    }
}

package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** What state kept at the provider costs, remembered by its id. */
final class ProviderStateTest {
    private static ProviderState.Refs refs(String json) {
        return ProviderState.Refs.of(json.getBytes(StandardCharsets.UTF_8));
    }

    /** An OpenAI Responses usage split by kind: {input, cachedInput, output, reasoning}. */
    private static long[] kinds(long input, long output) {
        return new long[] {input, 0, output, 0};
    }

    @Test
    void aRequestNamesItsStoredResponseConversationAndPrompt() {
        assertEquals(new ProviderState.Refs("resp_1", "conv_1", "pmpt_1@2", true), refs("""
                {"previous_response_id":"resp_1","conversation":"conv_1","prompt":{"id":"pmpt_1","version":"2",
                 "variables":{"a":{"id":"x"}}},"input":"hi"}"""));
        assertEquals(new ProviderState.Refs(null, "conv_2", "pmpt_1", false),
                refs("{\"conversation\":{\"id\":\"conv_2\"},\"prompt\":{\"id\":\"pmpt_1\"},\"store\":false}"));
        assertEquals(ProviderState.Refs.NONE, refs("{\"prompt\":\"a legacy completion\",\"max_tokens\":5}"));
        assertEquals(ProviderState.Refs.NONE, refs("not json, names a conversation"));
        assertEquals(ProviderState.Refs.NONE, ProviderState.Refs.of(null));
    }

    @Test
    void whatACallReadAndWroteIsHeldForTheNextCallNamingItByIdAlone() {
        ProviderState state = new ProviderState(16);
        ProviderState.Reading first = state.read(refs("{\"conversation\":\"conv_1\",\"input\":\"notes\"}"));
        assertEquals(0, first.held());
        assertFalse(first.historyKnown(), "a conversation the filter never saw");
        state.answered(first, 2_000, "resp_1", kinds(8_000, 40), 8_040);
        ProviderState.Reading next = state.read(refs("{\"conversation\":{\"id\":\"conv_1\"},\"input\":\"more\"}"));
        assertEquals(8_040, next.held());
        assertTrue(next.historyKnown());
        assertEquals(8_040, state.read(refs("{\"previous_response_id\":\"resp_1\"}")).held(),
                "whoever names the stored Response reads it again");
    }

    @Test
    void aStoredPromptCostsWhatTheModelReadAboveTheRequestsOwnInputAndHistory() {
        ProviderState state = new ProviderState(16);
        ProviderState.Reading first = state.read(refs("{\"prompt\":{\"id\":\"pmpt_1\",\"version\":\"2\"},\"input\":\"go\"}"));
        state.answered(first, 10, "resp_1", kinds(9_010, 40), 9_050);
        ProviderState.Reading again = state.read(refs("{\"prompt\":{\"id\":\"pmpt_1\",\"version\":\"2\"},\"input\":\"go\"}"));
        assertEquals(9_000, again.held());
        assertNull(state.read(refs("{\"prompt\":{\"id\":\"pmpt_1\",\"version\":\"3\"}}")).prompt(), "another version");
        assertEquals(50, state.read(refs("{\"previous_response_id\":\"resp_1\"}")).held(),
                "a stored Response does not carry the template");
        // held with the prompt, the next answer says the same: the figure stays
        state.answered(again, 10 + 9_000, "resp_2", kinds(9_010, 40), 9_050);
        assertEquals(9_000, state.read(refs("{\"prompt\":{\"id\":\"pmpt_1\",\"version\":\"2\"}}")).held());
        // a continuation the filter does not know: the difference holds that history too, so it is not taken
        ProviderState.Reading unknown = state.read(refs(
                "{\"previous_response_id\":\"resp_elsewhere\",\"prompt\":{\"id\":\"pmpt_1\",\"version\":\"2\"}}"));
        state.answered(unknown, 10 + 9_000, "resp_3", kinds(50_000, 40), 50_040);
        assertEquals(9_000, state.read(refs("{\"prompt\":{\"id\":\"pmpt_1\",\"version\":\"2\"}}")).held());
        assertEquals(41_040, state.read(refs("{\"previous_response_id\":\"resp_3\"}")).held());
    }

    @Test
    void anAnswerNotStoredIsNotRememberedAndTheMemoryIsBounded() {
        ProviderState state = new ProviderState(2);
        state.answered(state.read(refs("{\"store\":false,\"input\":\"x\"}")), 1, "resp_0", kinds(1, 1), 2);
        assertEquals(0, state.read(refs("{\"previous_response_id\":\"resp_0\"}")).held(), "store: false");
        for (int i = 1; i <= 3; i++) {
            state.answered(state.read(ProviderState.Refs.NONE), 1, "resp_" + i, kinds(i, 0), i);
        }
        assertEquals(0, state.read(refs("{\"previous_response_id\":\"resp_1\"}")).held(), "the least recently used goes");
        assertEquals(3, state.read(refs("{\"previous_response_id\":\"resp_3\"}")).held());
        String longId = "resp_" + "x".repeat(ProviderState.MAX_ID_LENGTH);
        state.answered(state.read(ProviderState.Refs.NONE), 1, longId, kinds(5, 0), 5);
        assertEquals(0, state.read(refs("{\"previous_response_id\":\"" + longId + "\"}")).held(), "an oversized id");
    }
}

package io.tokenquota.servlet.breakit175;

import io.tokenquota.ModelWeights;
import io.tokenquota.servlet.testing.RelayedCalls;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Round 175 of issue 11, the relayed-calls half: "a final report naming no call with the very counts of
 * the call just ended is that call's report again" (round 170), kept to reports "with no ids of their
 * own" (round 171). Spring AI's {@code ChatResponse} carries its call's id in {@code metadata.id} (the
 * provider's {@code chatcmpl-…} / {@code msg_…}), not at the top level. An application that makes two
 * calls with the same prompt and returns both {@code ChatResponse}s (an A/B "two variants" endpoint,
 * self-consistency sampling) answers two calls with ids of their own; when both hit the application's
 * {@code maxTokens} (a hostile client asks for something endless) every count is alike. Every model is
 * charged one unit a token.
 */
abstract class AbstractRelays175 extends RelayedCalls {
    @Override
    protected ModelWeights weights() {
        return ONE_UNIT_A_TOKEN;
    }

    static final String TEXT = "Ship faster with fewer meetings and the same team, every single quarter of the year";
    static final String OTHER = "One workspace for plans, reviews and releases, so your team stops chasing status";

    {
        // List<ChatResponse> of two calls, as Jackson writes it: a JSON array
        answer("two-variants", 200, "application/json", List.of("[" + springAi("chatcmpl-AV1", TEXT, "LENGTH", 1_500, 2_000, null)
                + "," + springAi("chatcmpl-BV2", OTHER, "LENGTH", 1_500, 2_000, null) + "]"), 2);
        // the same, the second variant stopping one token short of the limit (control)
        answer("two-variants-apart", 200, "application/json", List.of("[" + springAi("chatcmpl-AV3", TEXT, "LENGTH", 1_500, 2_000, null)
                + "," + springAi("chatcmpl-BV4", OTHER, "STOP", 1_500, 1_999, null) + "]"), 2);
        // Flux<ChatResponse> of both calls as Spring writes it for Accept: application/x-ndjson
        answer("two-variants-ndjson", 200, "application/x-ndjson", List.of(
                springAi("chatcmpl-AV5", TEXT, "LENGTH", 1_500, 2_000, null) + "\n",
                springAi("chatcmpl-BV6", OTHER, "LENGTH", 1_500, 2_000, null) + "\n"), 2);
    }

    /** Control: two calls of 3,500 and 3,499 tokens, each its own ChatResponse, are charged 6,999. */
    @Test
    void twoVariantsWithCountsApartAreChargedBoth() {
        charged("two-variants-apart", 6_999, "two calls, chatcmpl-AV3 (1,500 + 2,000) and chatcmpl-BV4 (1,500 + 1,999)");
    }

    /**
     * The attack: both variants hit {@code maxTokens} (1,500 + 2,000 each). Two model calls, each with its
     * own provider id: 7,000 tokens, not 3,500.
     */
    @Test
    void twoVariantsWithEqualCountsAreChargedBoth() {
        charged("two-variants", 7_000, "two calls, chatcmpl-AV1 and chatcmpl-BV2, 1,500 + 2,000 each");
    }

    /** The attack, streamed as NDJSON ({@code Flux<ChatResponse>}): 7,000 tokens, not 3,500. */
    @Test
    void twoVariantsWithEqualCountsAsNdjsonAreChargedBoth() {
        charged("two-variants-ndjson", 7_000, "two calls, chatcmpl-AV5 and chatcmpl-BV6, 1,500 + 2,000 each");
    }
}

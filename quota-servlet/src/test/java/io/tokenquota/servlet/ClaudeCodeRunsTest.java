package io.tokenquota.servlet;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link ClaudeCodeRuns}: the processes of one session (round 542) and the calls of a run past
 * {@link ClaudeCodeRuns#MAX_NAMED}.
 */
class ClaudeCodeRunsTest {
    private static Map<String, Long> usage(long input, long output) {
        return Map.of("input_tokens", input, "output_tokens", output);
    }

    /**
     * A result after the session's last one is the same process's running total only when it adds at least the
     * calls read since; else (a resumed process's, counting its own calls) it is added. A json object repeated is
     * one; json objects that differ are each their process's.
     */
    @Test
    void aSessionsResultsAreRunningTotalsOnlyWhenTheyCanBe() {
        ClaudeCodeRuns resumed = new ClaudeCodeRuns();
        resumed.call("s", "msg_a", usage(3000, 1));
        resumed.result("s", usage(3000, 9000), null);
        resumed.call("s", "msg_b", usage(12600, 1));
        resumed.result("s", usage(12600, 800), null);
        assertEquals(25_400L, resumed.total()[0]);

        ClaudeCodeRuns turns = new ClaudeCodeRuns();
        turns.call("s", "msg_a", usage(3000, 1));
        turns.result("s", usage(3000, 9000), null);
        turns.call("s", "msg_b", usage(12600, 1));
        turns.result("s", usage(15600, 9800), null);
        assertEquals(25_400L, turns.total()[0]);

        ClaudeCodeRuns json = new ClaudeCodeRuns();
        json.result("s", usage(3000, 9000), null);
        json.result("s", usage(3000, 9000), null);
        assertEquals(12_000L, json.total()[0]);
        json.result("s", usage(12600, 800), null);
        assertEquals(25_400L, json.total()[0]);

        // a next turn cut before its result: its calls are added to the result that does not count them
        ClaudeCodeRuns cut = new ClaudeCodeRuns();
        cut.call("s", "msg_a", usage(3000, 1));
        cut.result("s", usage(3000, 9000), null);
        cut.call("s", "msg_b", usage(12600, 1));
        assertEquals(24_601L, cut.total()[0]);
    }

    /**
     * A compact boundary is a call read, of counts unknown (at least 0): the result after a {@code /compact} turn,
     * the running total plus the summary, is the same process's (round 545); without the boundary it would be taken
     * for a new process's. A resumed process's {@code /compact}, counting its summary alone, still adds.
     */
    @Test
    void aCompactBoundaryIsACallRead() {
        ClaudeCodeRuns compact = new ClaudeCodeRuns();
        compact.call("s", "msg_a", usage(3000, 1));
        compact.result("s", usage(3000, 9000), null);
        compact.compacted("s", 0);
        compact.result("s", usage(0, 0), Map.of("inputTokens", 15000L, "outputTokens", 9600L));
        compact.call("s", "msg_c", usage(2500, 1));
        compact.result("s", usage(2500, 700), Map.of("inputTokens", 17500L, "outputTokens", 10300L));
        assertEquals(27_800L, compact.total()[0]);

        ClaudeCodeRuns resumed = new ClaudeCodeRuns();
        resumed.call("s", "msg_a", usage(3000, 1));
        resumed.result("s", usage(3000, 9000), null);
        resumed.compacted("s", 0);
        resumed.result("s", usage(12000, 600), null);
        assertEquals(24_600L, resumed.total()[0]);
    }

    /**
     * A boundary's {@code pre_tokens} is what its summary read, a call of that input at least (round 549): a stream
     * cut after it pays it, a boundary repeated counts once, the result of the same process (its summary read from
     * the cache) still counts it, and a resumed process that compacts before its call adds less input than its
     * boundary states, so it is a process of its own.
     */
    @Test
    void aCompactBoundaryReadItsPreTokens() {
        ClaudeCodeRuns cut = new ClaudeCodeRuns();
        cut.call("s", "msg_a", usage(3000, 1));
        cut.result("s", usage(3000, 9000), null);
        cut.compacted("s", 12000);
        cut.compacted("s", 12000);
        assertEquals(24_000L, cut.total()[0]);
        cut.result("s", usage(0, 0), Map.of("inputTokens", 15000L, "outputTokens", 9600L));
        assertEquals(24_600L, cut.total()[0]);

        ClaudeCodeRuns cached = new ClaudeCodeRuns();
        cached.call("s", "msg_a", usage(3000, 1));
        cached.result("s", usage(3000, 9000), null);
        cached.compacted("s", 12000);
        cached.result("s", usage(0, 0), Map.of("inputTokens", 3400L, "cacheReadInputTokens", 11600L,
                "outputTokens", 9600L));
        assertEquals(24_600L, cached.total()[0]);

        ClaudeCodeRuns resumed = new ClaudeCodeRuns();
        resumed.call("s", "msg_p", usage(170000, 1));
        resumed.result("s", usage(170000, 500), null);
        resumed.compacted("s", 170600);
        resumed.call("s", "msg_q", usage(3000, 1));
        resumed.result("s", usage(3000, 800), Map.of("inputTokens", 173600L, "outputTokens", 2800L));
        assertEquals(346_900L, resumed.total()[0]);
    }

    /** Calls past the names kept count toward their run's calls, one message split over lines once. */
    @Test
    void callsPastTheNamesKeptAreTheirRunsCalls() {
        ClaudeCodeRuns runs = new ClaudeCodeRuns();
        int calls = ClaudeCodeRuns.MAX_NAMED + 10;
        for (int i = 0; i < calls; i++) {
            runs.call("s", "msg_" + i, usage(100, 1));
            runs.call("s", "msg_" + i, usage(100, 1));
        }
        assertEquals(101L * calls, runs.total()[0]);
        runs.result("s", usage(100L * calls, 20L * calls), null);
        assertEquals(120L * calls, runs.total()[0]);
    }
}

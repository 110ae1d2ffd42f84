package io.tokenquota.servlet;

import java.time.Duration;

/**
 * Test support: the package-private {@link QuotaFilter.Builder} hooks, public so that the rounds' packages reach
 * them. Each shrinks a bound the tests would otherwise wait out or fill with tens of thousands of calls; what the
 * filter does within it stays the same.
 */
public final class FilterTestHooks {
    /** Background pauses: the first, then the one that repeats (as 0.1 s, then 1, 2 and 5 s). */
    static final long[] PAUSES_MS = {10, 20, 20, 30};
    /** Inline attempts after 10 ms, then every 20 ms, for up to 60 ms. */
    static final long INLINE_MAX_PAUSE_MS = 20;
    static final Duration INLINE = Duration.ofMillis(60);

    private FilterTestHooks() {
    }

    /**
     * {@code builder} with a settlement retry schedule of milliseconds instead of the production one (0.1, 1, 2,
     * 5 s in the background, up to 5 s inline: {@link Settlement#RETRIES}), for tests whose store refuses a
     * settlement and that wait until it is retried, counted or landed. The retries run in the same order and are
     * counted and given up by the same rules (four failed retries, the hold's keeping time); only the pauses
     * between them shrink.
     */
    public static QuotaFilter.Builder fastSettlementRetries(QuotaFilter.Builder builder) {
        return builder.settlementRetries(PAUSES_MS, INLINE_MAX_PAUSE_MS, INLINE);
    }

    /**
     * {@code builder} whose memory of answers' usage (by ETag, results files' calls, streams sent) keeps
     * {@code entries} instead of {@link QuotaFilter#ANSWER_MEMORY}.
     */
    public static QuotaFilter.Builder answerMemory(QuotaFilter.Builder builder, int entries) {
        return builder.answerMemory(entries);
    }

    /** The entries the memory of answers' usage keeps by default ({@link QuotaFilter#ANSWER_MEMORY}). */
    public static int defaultAnswerMemory() {
        return QuotaFilter.ANSWER_MEMORY;
    }
}

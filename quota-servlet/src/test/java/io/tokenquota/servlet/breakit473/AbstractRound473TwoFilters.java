package io.tokenquota.servlet.breakit473;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.IncludeFigures;
import org.junit.jupiter.api.Test;

/**
 * Round 473 (added with the fix): round 473's async fragments, whose worker reports after the include returned,
 * under two quota filters (round 459's rig: the user's outside, on every path; its team's inside, on {@code /ai/*},
 * protecting {@code /ai/team/}). The cycle's request is made once, by the filter the page sees, and each filter
 * counts what the worker reports as the include's: both subjects are charged the same.
 */
abstract class AbstractRound473TwoFilters extends H2FilterRound {
    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return IncludeFigures.twoFilters(this, filter)
                .servlet("v1-async-late", new AbstractRound473.AsyncSummary(true), "/ai/team/v1/async-late")
                .servlet("v1-async-status", new AbstractRound473.AsyncSummary(true, 0L), "/ai/team/v1/async-status")
                .servlet("v1-async-revised", new AbstractRound473.RevisedSummary(), "/ai/team/v1/async-revised")
                .servlet("async-late", new AbstractRound473.Page("/ai/team/v1/async-late", AbstractRound473.HEADLINE,
                        false), "/ai/team/pages/async-late")
                .servlet("async-status", new AbstractRound473.Page("/ai/team/v1/async-status",
                        AbstractRound473.HEADLINE, false), "/ai/team/pages/async-status")
                .servlet("async-revised", new AbstractRound473.Page("/ai/team/v1/async-revised",
                        AbstractRound473.HEADLINE, false), "/ai/team/pages/async-revised");
    }

    /** Posts to {@code path} as a new user of a new team: both must be charged {@code used} for {@code modelCalls}. */
    void assertUserAndTeamCharged(String path, int modelCalls, long used, String what) {
        IncludeFigures.assertUserAndTeamCharged(this, AbstractRound473.CALLS, AbstractRound473.subject(), path, 200,
                modelCalls, used, what);
    }

    @Test
    void aFragmentReportingFromItsWorkerAfterTheIncludeReturnedIsChargedBesideThePageUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/pages/async-late", 2, AbstractRound473.HEADLINE + AbstractRound473.FRAGMENT,
                "the page's own 1,000, then an async fragment whose worker reports 4,000 after the include returned");
    }

    @Test
    void anAsyncStatusFragmentReportingZeroAfterTheIncludeReturnedLeavesThePageChargedUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/pages/async-status", 1, AbstractRound473.HEADLINE,
                "the page's own 1,000, then an async status fragment whose worker reports 0 after the include returned");
    }

    /** Control the other way: the worker's final figure replaces the fragment's preliminary one in both filters. */
    @Test
    void controlAnAsyncFragmentRevisingItsFigureAfterTheIncludeReturnedIsOneCallUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/pages/async-revised", 2,
                AbstractRound473.HEADLINE + AbstractRound473.FRAGMENT,
                "the page's own 1,000, then an async fragment reporting 3,000 before the include returned, 4,000 after");
    }
}

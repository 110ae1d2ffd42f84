package io.tokenquota.servlet.breakit512;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.IncludeFigures;
import org.junit.jupiter.api.Test;

/**
 * Round 512 (added with the fix) under two quota filters (round 459's rig: the user's outside, on every path; its
 * team's inside, on {@code /ai/*}, protecting {@code /ai/team/}): a v2 shim's async v1 calls no model on its first
 * cycle, reports 0 (or nothing) and dispatches back; the dispatch includes v1 again, which starts a second cycle
 * making the one model call and writing usage 4,000. Each filter reads the second cycle's writes as a call of its
 * own after the first's 0: both subjects are charged 4,000.
 */
abstract class AbstractRound512TwoFilters extends H2FilterRound {
    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return AbstractRound512.servlets(IncludeFigures.twoFilters(this, filter), "/ai/team");
    }

    /** Posts to {@code path} as a new user of a new team: both must be charged {@code used} for one model call. */
    void assertUserAndTeamCharged(String path, long used, String what) {
        IncludeFigures.assertUserAndTeamCharged(this, AbstractRound512.CALLS, AbstractRound512.subject(), path, 200,
                1, used, what);
    }

    @Test
    void theContinuingCyclesOneModelCallIsChargedAfterTheFirstCycleReportedZeroUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/zero-read", AbstractRound512.CALL,
                "v2 shim including v1 (worker calls no model, reports 0, dispatches back), the second cycle's"
                        + " worker calling the model and writing usage 4,000");
    }

    @Test
    void controlTheContinuingCyclesCallIsChargedWhenTheFirstReportedNothingUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/nothing-read", AbstractRound512.CALL,
                "v2 shim including v1 (worker reports nothing, dispatches back), the second cycle's worker writing"
                        + " usage 4,000");
    }

    @Test
    void controlTheContinuingCyclesReportedCallIsChargedAfterTheFirstReportedZeroUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/zero-reported", AbstractRound512.CALL,
                "v2 shim including v1 (worker reports 0, dispatches back), the second cycle's worker reporting 4,000"
                        + " and writing usage 4,000");
    }
}

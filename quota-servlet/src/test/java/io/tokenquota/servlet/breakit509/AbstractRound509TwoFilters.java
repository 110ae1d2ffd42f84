package io.tokenquota.servlet.breakit509;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.IncludeFigures;
import org.junit.jupiter.api.Test;

/**
 * Round 509 (added with the fix) under two quota filters (round 459's rig: the user's outside, on every path; its
 * team's inside, on {@code /ai/*}, protecting {@code /ai/team/}): a v2 shim's async v1 reports its call's figure and
 * dispatches back; the dispatch includes v1 again, which starts a second cycle to write that call's answer (usage
 * 4,000). Each filter files the second cycle as going on with the first's call: both subjects are charged the
 * figure once, and a second cycle that reports a call of its own is charged that figure beside the first's.
 */
abstract class AbstractRound509TwoFilters extends H2FilterRound {
    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return AbstractRound509.servlets(IncludeFigures.twoFilters(this, filter), "/ai/team");
    }

    /** Posts to {@code path} as a new user of a new team: both must be charged {@code used} for {@code modelCalls}. */
    void assertUserAndTeamCharged(String path, int modelCalls, long used, String what) {
        IncludeFigures.assertUserAndTeamCharged(this, AbstractRound509.CALLS, AbstractRound509.subject(), path, 200,
                modelCalls, used, what);
    }

    @Test
    void aSecondPlainCycleWritingTheReportedCallsAnswerIsChargedOnceUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/plain-cycle", 1, AbstractRound509.CALL,
                "v2 shim including v1 (worker reports 4,000, dispatches back), the dispatch's startAsync() worker"
                        + " writing that call's answer, usage 4,000");
    }

    @Test
    void aSecondSpringCycleWritingTheReportedCallsAnswerIsChargedOnceUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/spring-cycle", 1, AbstractRound509.CALL,
                "v2 shim including v1 (worker reports 4,000, dispatches back), the dispatch's startAsync(req, resp)"
                        + " worker writing that call's answer, usage 4,000");
    }

    @Test
    void controlTheDispatchBackWritesTheAnswerOfTheReportedCallUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/in-dispatch", 1, AbstractRound509.CALL,
                "v2 shim including v1 (worker reports 4,000, dispatches back), the dispatch writing usage 4,000");
    }

    @Test
    void controlASecondPlainCyclesOwnReportedCallIsChargedBesideTheFirstsFigureUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/two-plain-cycle", 2, AbstractRound509.SMALL + AbstractRound509.CALL,
                "v2 shim including v1 (worker reports 1,500, dispatches back), the dispatch's startAsync() worker"
                        + " calling the model again, reporting 4,000 and writing usage 4,000");
    }

    @Test
    void controlASecondSpringCyclesOwnReportedCallIsChargedBesideTheFirstsFigureUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/two-spring-cycle", 2, AbstractRound509.SMALL + AbstractRound509.CALL,
                "v2 shim including v1 (worker reports 1,500, dispatches back), the dispatch's startAsync(req, resp)"
                        + " worker calling the model again, reporting 4,000 and writing usage 4,000");
    }
}

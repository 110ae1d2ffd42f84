package io.tokenquota.servlet.breakit489;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.IncludeFigures;
import org.junit.jupiter.api.Test;

/**
 * Round 489 (added with the fix): a v2 shim's async v1, whose worker reports 4,000 after the include returned and
 * dispatches the cycle to a layout view that includes the body writing the answer, under two quota filters (round
 * 459's rig: the user's outside, on every path; its team's inside, on {@code /ai/*}, protecting {@code /ai/team/}).
 * Each filter meets the body's include made on the dispatch, and each reads its bytes as the cycle's call, covered by
 * the include's figure: both subjects are charged the same 4,000.
 */
abstract class AbstractRound489TwoFilters extends H2FilterRound {
    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter team = IncludeFigures.teamFilter(this);
        return Deployment.create()
                .filter("quota", filter, "/*")
                .filter("quota-team", team, "/ai/*")
                .servlet("body", new AbstractRound489.Body(), "/ai/team/v1/body")
                .servlet("layout", new AbstractRound489.Layout("/ai/team/v1/body"), "/ai/team/v1/layout")
                .servlet("v1-layout", new AbstractRound489.V1Chat("/ai/team/v1/layout", true), "/ai/team/v1/chat-layout")
                .servlet("v1-body", new AbstractRound489.V1Chat("/ai/team/v1/body", true), "/ai/team/v1/chat-body")
                .servlet("v1-silent-layout", new AbstractRound489.V1Chat("/ai/team/v1/layout", false),
                        "/ai/team/v1/chat-silent-layout")
                .servlet("v2-layout", new AbstractRound489.Shim("/ai/team/v1/chat-layout"), "/ai/team/v2/chat-layout")
                .servlet("v2-body", new AbstractRound489.Shim("/ai/team/v1/chat-body"), "/ai/team/v2/chat-body")
                .servlet("v2-silent-layout", new AbstractRound489.Shim("/ai/team/v1/chat-silent-layout"),
                        "/ai/team/v2/chat-silent-layout");
    }

    /** Posts to {@code path} as a new user of a new team: both must be charged 4,000 for one model call. */
    void assertUserAndTeamCharged(String path, String what) {
        IncludeFigures.assertUserAndTeamCharged(this, AbstractRound489.CALLS, AbstractRound489.subject(), path, 200, 1,
                AbstractRound489.FRAGMENT, what);
    }

    @Test
    void aShimsAsyncV1DispatchingToALayoutThatIncludesItsAnswerIsChargedOnceUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/chat-layout",
                "a v2 shim including v1, whose worker reports 4,000 after the include returned and dispatches to a"
                        + " layout whose included body writes usage 4,000");
    }

    @Test
    void controlAShimsAsyncV1DispatchingToTheBodyIsChargedOnceUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/chat-body",
                "a v2 shim including v1, whose worker reports 4,000 and dispatches to the body writing usage 4,000");
    }

    @Test
    void controlAShimsAsyncV1ReportingNothingAndDispatchingToTheLayoutIsChargedTheUsageUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/chat-silent-layout",
                "a v2 shim including v1, whose worker reports nothing and dispatches to the layout writing usage 4,000");
    }
}

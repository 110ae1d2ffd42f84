package io.tokenquota.servlet.breakit499;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.IncludeFigures;
import org.junit.jupiter.api.Test;

/**
 * Round 499 (added with the fix) under two quota filters (round 459's rig: the user's outside, on every path; its
 * team's inside, on {@code /ai/*}, protecting {@code /ai/team/}): a v2 shim's async v1 reports its figure and
 * dispatches to a view that includes a related fragment, whose own async cycle, started as Spring MVC starts one or
 * with {@code startAsync()}, writes usage 4,000 after the include returned. The app-facing filter makes the
 * fragment's cycle request and response, the other keeps them; each files the fragment's bytes under the fragment's
 * cycle, not v1's: both subjects are charged v1's figure plus 4,000.
 */
abstract class AbstractRound499TwoFilters extends H2FilterRound {
    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return IncludeFigures.twoFilters(this, filter)
                .servlet("related-spring", AbstractRound499.related(true), "/ai/team/v1/related-spring")
                .servlet("related-plain", AbstractRound499.related(false), "/ai/team/v1/related-plain")
                .servlet("view-spring", AbstractRound499.view("/ai/team/v1/related-spring"), "/ai/team/v1/view-spring")
                .servlet("view-plain", AbstractRound499.view("/ai/team/v1/related-plain"), "/ai/team/v1/view-plain")
                .servlet("v1-spring", AbstractRound499.v1Chat("/ai/team/v1/view-spring"), "/ai/team/v1/chat-spring")
                .servlet("v1-plain", AbstractRound499.v1Chat("/ai/team/v1/view-plain"), "/ai/team/v1/chat-plain")
                .servlet("v1-spring-small", AbstractRound499.v1Chat("/ai/team/v1/view-spring", AbstractRound499.SMALL),
                        "/ai/team/v1/chat-spring-small")
                .servlet("v2-spring", AbstractRound499.PAGES.shim("/ai/team/v1/chat-spring", null),
                        "/ai/team/v2/chat-spring")
                .servlet("v2-plain", AbstractRound499.PAGES.shim("/ai/team/v1/chat-plain", null),
                        "/ai/team/v2/chat-plain")
                .servlet("v2-spring-small", AbstractRound499.PAGES.shim("/ai/team/v1/chat-spring-small", null),
                        "/ai/team/v2/chat-spring-small");
    }

    /** Posts to {@code path} as a new user of a new team: both must be charged {@code used} for two model calls. */
    void assertUserAndTeamCharged(String path, long used, String what) {
        IncludeFigures.assertUserAndTeamCharged(this, AbstractRound499.CALLS, AbstractRound499.subject(), path, 200, 2,
                used, what);
    }

    @Test
    void aSpringFragmentsCycleInsideTheDispatchOfAnIncludesCycleIsChargedUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/chat-spring", 2 * AbstractRound499.CALL,
                "v2 shim including v1 (reports 4,000, dispatches to a view), the view including a fragment whose"
                        + " startAsync(req, resp) worker writes usage 4,000 and reports nothing");
    }

    @Test
    void aSpringFragmentsCycleIsChargedItsOwnUsageBesideAnUnequalFigureUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/chat-spring-small", AbstractRound499.SMALL + AbstractRound499.CALL,
                "v2 shim including v1 (reports 1,500, dispatches to a view), the view including a fragment whose"
                        + " startAsync(req, resp) worker writes usage 4,000 and reports nothing");
    }

    @Test
    void controlAPlainFragmentsCycleInsideTheDispatchOfAnIncludesCycleIsChargedUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/chat-plain", 2 * AbstractRound499.CALL,
                "v2 shim including v1 (reports 4,000, dispatches to a view), the view including a fragment whose"
                        + " startAsync() worker writes usage 4,000 and reports nothing");
    }
}

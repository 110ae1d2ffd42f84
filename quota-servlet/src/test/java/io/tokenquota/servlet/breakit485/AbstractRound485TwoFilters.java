package io.tokenquota.servlet.breakit485;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.IncludeFigures;
import org.junit.jupiter.api.Test;

/**
 * Round 485 (added with the fix): a v2 shim's async v1, whose worker reports 4,000 after the include returned and
 * dispatches the cycle to write the answer, under two quota filters (round 459's rig: the user's outside, on every
 * path; its team's inside, on {@code /ai/*}, protecting {@code /ai/team/}). The dispatch writes through the cycle's
 * response, made once by the filter the page sees; each filter covers that answer by the include's figure: both
 * subjects are charged the same 4,000.
 */
abstract class AbstractRound485TwoFilters extends H2FilterRound {
    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return IncludeFigures.twoFilters(this, filter)
                .servlet("render", AbstractRound485.render(), "/ai/v1/render")
                .servlet("v1-dispatch", AbstractRound485.v1Chat(AbstractRound485.Then.DISPATCH_TO_VIEW),
                        "/ai/team/v1/chat-dispatch")
                .servlet("v1-redispatch", AbstractRound485.v1Chat(AbstractRound485.Then.DISPATCH_BACK),
                        "/ai/team/v1/chat-redispatch")
                .servlet("v1-write", AbstractRound485.v1Chat(AbstractRound485.Then.WRITE), "/ai/team/v1/chat-write")
                .servlet("v2-dispatch", AbstractRound485.shim("/ai/team/v1/chat-dispatch"), "/ai/team/v2/chat-dispatch")
                .servlet("v2-redispatch", AbstractRound485.shim("/ai/team/v1/chat-redispatch"),
                        "/ai/team/v2/chat-redispatch")
                .servlet("v2-write", AbstractRound485.shim("/ai/team/v1/chat-write"), "/ai/team/v2/chat-write");
    }

    /** Posts to {@code path} as a new user of a new team: both must be charged 4,000 for one model call. */
    void assertUserAndTeamCharged(String path, String what) {
        IncludeFigures.assertUserAndTeamCharged(this, AbstractRound485.CALLS, AbstractRound485.subject(), path, 200, 1,
                AbstractRound485.FRAGMENT, what);
    }

    @Test
    void aShimsAsyncV1DispatchingToItsViewIsChargedOnceUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/chat-dispatch",
                "a v2 shim including v1, whose worker reports 4,000 after the include returned and dispatches to a"
                        + " view writing usage 4,000");
    }

    @Test
    void aShimsAsyncV1DispatchingBackIsChargedOnceUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/chat-redispatch",
                "a v2 shim including v1, whose worker reports 4,000 after the include returned and dispatches back");
    }

    @Test
    void controlAShimsAsyncV1WritingAfterTheIncludeReturnedIsChargedOnceUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/chat-write",
                "a v2 shim including v1, whose worker reports 4,000 and writes usage 4,000 after the include returned");
    }
}

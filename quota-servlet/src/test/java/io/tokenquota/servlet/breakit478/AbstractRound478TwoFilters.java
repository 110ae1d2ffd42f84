package io.tokenquota.servlet.breakit478;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.IncludeFigures;
import org.junit.jupiter.api.Test;

/**
 * Round 478 (added with the fix): round 478's async fragments, whose worker writes after the include returned,
 * under two quota filters (round 459's rig: the user's outside, on every path; its team's inside, on {@code /ai/*},
 * protecting {@code /ai/team/}). The cycle's response is made once, by the filter the page sees, and each filter
 * judges what the worker writes through it as the include's: both subjects are charged the same.
 */
abstract class AbstractRound478TwoFilters extends H2FilterRound {
    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return IncludeFigures.twoFilters(this, filter)
                .servlet("suggest-sync", AbstractRound478.suggestions(AbstractRound478.When.SYNC),
                        "/ai/team/v1/suggest-sync")
                .servlet("suggest-late", AbstractRound478.suggestions(AbstractRound478.When.WORKER_AFTER_RETURN),
                        "/ai/team/v1/suggest-late")
                .servlet("nf-sync", AbstractRound478.notFoundPage("/ai/team/v1/suggest-sync"), "/ai/team/articles/sync")
                .servlet("nf-late", AbstractRound478.notFoundPage("/ai/team/v1/suggest-late"), "/ai/team/articles/late")
                .servlet("v1-sync", AbstractRound478.v1Chat(AbstractRound478.When.SYNC), "/ai/team/v1/chat-sync")
                .servlet("v1-late", AbstractRound478.v1Chat(AbstractRound478.When.WORKER_AFTER_RETURN),
                        "/ai/team/v1/chat-late")
                .servlet("v2-sync", AbstractRound478.INCLUDES.shim("/ai/team/v1/chat-sync", null),
                        "/ai/team/v2/chat-sync")
                .servlet("v2-late", AbstractRound478.INCLUDES.shim("/ai/team/v1/chat-late", null),
                        "/ai/team/v2/chat-late");
    }

    /** Posts to {@code path} as a new user of a new team: both must be charged {@code used} for one model call. */
    void assertUserAndTeamCharged(String path, int status, long used, String what) {
        IncludeFigures.assertUserAndTeamCharged(this, AbstractRound478.CALLS, AbstractRound478.subject(), path, status,
                1, used, what);
    }

    @Test
    void suggestionsAnAsyncFragmentWritesAfterItsIncludeReturnedIntoANotFoundPageAreChargedUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/articles/late", 404, AbstractRound478.ESTIMATE,
                "a 404 page whose included suggestions fragment's worker writes after the include returned");
    }

    @Test
    void controlSuggestionsWrittenInsideTheIncludeAreChargedUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/articles/sync", 404, AbstractRound478.ESTIMATE,
                "a 404 page whose included fragment writes suggestions");
    }

    @Test
    void aShimsAsyncV1ReportingAndAnsweringAfterTheIncludeReturnedIsChargedOnceUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/chat-late", 200, AbstractRound478.FRAGMENT,
                "a v2 shim including v1, whose worker reports 4,000 and writes usage 4,000 after the include returned");
    }

    @Test
    void controlAShimsV1ReportingAndAnsweringInsideTheIncludeIsChargedOnceUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/v2/chat-sync", 200, AbstractRound478.FRAGMENT,
                "a v2 shim including v1, which reports and answers");
    }
}

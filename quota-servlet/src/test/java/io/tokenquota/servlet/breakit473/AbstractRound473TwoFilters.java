package io.tokenquota.servlet.breakit473;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.TestHttp;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/**
 * Round 473 (added with the fix): round 473's async fragments, whose worker reports after the include returned,
 * under two quota filters (round 459's rig: the user's outside, on every path; its team's inside, on {@code /ai/*},
 * protecting {@code /ai/team/}). The cycle's request is made once, by the filter the page sees, and each filter
 * counts what the worker reports as the include's: both subjects are charged the same.
 */
abstract class AbstractRound473TwoFilters extends H2FilterRound {
    static final String TEAM_HEADER = "x-team-id";

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter team = filterFor("/ai/team/")
                .subjectResolver(SubjectResolver.trustedHeader(TEAM_HEADER, "127.0.0.1", "::1")).build();
        return Deployment.create()
                .filter("quota", filter, "/*")
                .filter("quota-team", team, "/ai/*")
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
        String s = AbstractRound473.subject();
        String team = "team-" + s;
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, AbstractRound473.CHAT, TEAM_HEADER, team);
        QuotaAccount u = settled(s);
        QuotaAccount t = settled(team);
        String figures = kind() + ": " + what + ": answer " + r.statusCode() + "; model calls "
                + AbstractRound473.CALLS.of(s) + "; user used " + u.used() + " reserved " + u.reserved()
                + ", team used " + t.used() + " reserved " + t.reserved() + "; user " + ledger(s) + "; team "
                + ledger(team) + "; body " + r.body();
        assertAll(() -> assertEquals(200, r.statusCode(), figures),
                () -> assertEquals(modelCalls, AbstractRound473.CALLS.of(s), figures),
                () -> assertEquals(used, u.used(), "user (outer filter): " + figures),
                () -> assertEquals(used, t.used(), "team (inner filter): " + figures),
                () -> assertEquals(0, u.reserved(), figures),
                () -> assertEquals(0, t.reserved(), figures));
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

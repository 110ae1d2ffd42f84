package io.tokenquota.servlet.breakit467;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.IncludeFigures;
import io.tokenquota.servlet.testing.IncludeFigures.AgainPage;
import io.tokenquota.servlet.testing.RunsAgain;
import io.tokenquota.servlet.testing.SpringMvc;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Round 467 (added with the fix): round 467's pages, each reporting its own figure before it includes Spring MVC
 * fragments, under two quota filters (round 459's rig: the user's outside, on every path; its team's inside, on
 * {@code /ai/*}, protecting {@code /ai/team/}), and a page the container runs again between the two (Jetty). Each
 * filter takes the attribute off before the include and puts it back after it, neither a report to the other's
 * request; both subjects are charged the same.
 */
abstract class AbstractRound467TwoFilters extends H2FilterRound {
    static final long FRAGMENT = AbstractRound467.FRAGMENT;
    static final long HEADLINE = AbstractRound467.HEADLINE;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter team = IncludeFigures.teamFilter(this);
        return SpringMvc.behind(filter, AbstractRound467.Fragments.class)
                // the container's run again (Jetty) between the two filters, on its own paths only
                .filter("again", new RunsAgain(), "/ai/team/again/*")
                // the team's inside the user's, on every protected path: it meets the Spring includes too
                .filter("quota-team", team, "/ai/*")
                .servlet("team-own-first", AbstractRound467.page("/ai/spring/summary", 1, HEADLINE, true),
                        "/ai/team/own-first")
                .servlet("team-zero-first", AbstractRound467.page("/ai/spring/summary", 3, 0, true),
                        "/ai/team/zero-first")
                .servlet("team-own-then-status", AbstractRound467.page("/ai/spring/status", 1, HEADLINE, true),
                        "/ai/team/own-then-status")
                .servlet("team-own-then-silent", AbstractRound467.page("/ai/spring/silent", 1, HEADLINE, true),
                        "/ai/team/own-then-silent")
                .servlet("team-own-then-removing",
                        AbstractRound467.page("/ai/spring/removing", 1, HEADLINE, true), "/ai/team/own-then-removing")
                .servlet("team-again-own-first",
                        new AgainPage(AbstractRound467.CALLS, "/ai/spring/summary", "round467-worker"),
                        "/ai/team/again/own-first");
    }

    /** Posts to {@code path} as a new user of a new team: both must be charged {@code used} for {@code modelCalls}. */
    void assertUserAndTeamCharged(String path, int modelCalls, long used, String what) {
        IncludeFigures.assertUserAndTeamCharged(this, AbstractRound467.CALLS, AbstractRound467.subject(), path, 200,
                modelCalls, used, what);
    }

    @Test
    void aPageReportingItsOwnFigureBeforeASpringFragmentIsChargedBothUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/own-first", 2, HEADLINE + FRAGMENT,
                "the page's own 1,000 reported first, then a Spring fragment's 4,000");
    }

    @Test
    void aDigestReportingZeroBeforeItsSpringFragmentsIsChargedThemUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/zero-first", 3, 3 * FRAGMENT,
                "the page's 0 reported first, then three Spring fragments of 4,000");
    }

    /** The other way: a status fragment's 0 after the page's 1,000 makes neither free nor counts the 1,000 twice. */
    @Test
    void aPageReportingItsOwnFigureBeforeASpringZeroFragmentIsChargedItsOwnOnceUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/own-then-status", 1, HEADLINE,
                "the page's own 1,000 reported first, then a Spring status fragment's 0");
    }

    /** Control the other way: a fragment that reports nothing adds nothing, and the page's 1,000 stays its own. */
    @Test
    void aPageReportingItsOwnFigureBeforeASilentSpringFragmentIsChargedItsOwnOnceUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/own-then-silent", 1, HEADLINE,
                "the page's own 1,000 reported first, then a Spring fragment that reports nothing");
    }

    @Test
    void aPageReportingItsOwnFigureBeforeASpringFragmentRemovingItsReportIsChargedBothUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/own-then-removing", 2, HEADLINE + FRAGMENT,
                "the page's own 1,000 reported first, then a Spring fragment's 4,000, removed by the fragment");
    }

    /**
     * The container runs the page again between the two filters (Jetty) while its call is under way: the first
     * pass's 5,000, then the pass's own 1,000 reported first and its Spring fragment's 4,000: 10,000 for both.
     */
    @Test
    void aPassRunAgainReportingItsOwnFigureBeforeASpringFragmentIsChargedBoth() {
        Assumptions.assumeTrue(kind() == ContainerKind.JETTY, "Tomcat's filter chain runs each filter once per chain");
        assertUserAndTeamCharged("/ai/team/again/own-first", 3, AgainPage.FIRST + HEADLINE + FRAGMENT,
                "run again between the filters: 5,000, then the pass's own 1,000 first and its Spring fragment's 4,000");
    }
}

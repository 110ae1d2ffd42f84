package io.tokenquota.servlet.breakit467;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.RunsAgain;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
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
    static final String TEAM_HEADER = "x-team-id";
    static final long FRAGMENT = AbstractRound467.FRAGMENT;
    static final long HEADLINE = AbstractRound467.HEADLINE;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter team = filterFor("/ai/team/")
                .subjectResolver(SubjectResolver.trustedHeader(TEAM_HEADER, "127.0.0.1", "::1")).build();
        return SpringMvc.behind(filter, AbstractRound467.Fragments.class)
                // the container's run again (Jetty) between the two filters, on its own paths only
                .filter("again", new RunsAgain(), "/ai/team/again/*")
                // the team's inside the user's, on every protected path: it meets the Spring includes too
                .filter("quota-team", team, "/ai/*")
                .servlet("team-own-first", new AbstractRound467.Page("/ai/spring/summary", 1, HEADLINE, true),
                        "/ai/team/own-first")
                .servlet("team-zero-first", new AbstractRound467.Page("/ai/spring/summary", 3, 0, true),
                        "/ai/team/zero-first")
                .servlet("team-own-then-status", new AbstractRound467.Page("/ai/spring/status", 1, HEADLINE, true),
                        "/ai/team/own-then-status")
                .servlet("team-own-then-silent", new AbstractRound467.Page("/ai/spring/silent", 1, HEADLINE, true),
                        "/ai/team/own-then-silent")
                .servlet("team-own-then-removing",
                        new AbstractRound467.Page("/ai/spring/removing", 1, HEADLINE, true), "/ai/team/own-then-removing")
                .servlet("team-again-own-first", new AgainPage(), "/ai/team/again/own-first");
    }

    /**
     * A page the container runs again (Jetty, {@link RunsAgain}) while its call is under way. First pass: its own
     * model call (5,000, by the attribute), then the async cycle, completed by a worker once the second pass is
     * over. The second pass: the page's 1,000 reported first, then the Spring summary (4,000) included.
     */
    static class AgainPage extends HttpServlet {
        static final long FIRST = 5_000;
        private static final String FIRST_PASS = AgainPage.class.getName() + ".first";

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String s = req.getHeader("x-user-id");
            if (req.getAttribute(FIRST_PASS) instanceof CountDownLatch secondDone) {
                try {
                    AbstractRound467.CALLS.count(s);
                    req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, HEADLINE);
                    req.getRequestDispatcher("/ai/spring/summary").include(req, resp);
                } finally {
                    secondDone.countDown();
                }
                return;
            }
            req.getInputStream().readAllBytes();
            resp.setContentType("text/html");
            AbstractRound467.CALLS.count(s);
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FIRST);
            CountDownLatch secondDone = new CountDownLatch(1);
            req.setAttribute(FIRST_PASS, secondDone);
            AsyncContext cycle = req.startAsync();
            Thread worker = new Thread(() -> {
                try {
                    secondDone.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                cycle.complete();
            }, "round467-worker");
            worker.setDaemon(true);
            worker.start();
        }
    }

    /** Posts to {@code path} as a new user of a new team: both must be charged {@code used} for {@code modelCalls}. */
    void assertUserAndTeamCharged(String path, int modelCalls, long used, String what) {
        String s = AbstractRound467.subject();
        String team = "team-" + s;
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, AbstractRound467.CHAT, TEAM_HEADER, team);
        QuotaAccount u = settled(s);
        QuotaAccount t = settled(team);
        String figures = kind() + ": " + what + ": answer " + r.statusCode() + "; model calls "
                + AbstractRound467.CALLS.of(s) + "; user used " + u.used() + " reserved " + u.reserved()
                + ", team used " + t.used() + " reserved " + t.reserved() + "; user " + ledger(s) + "; team "
                + ledger(team) + "; body " + r.body();
        assertAll(() -> assertEquals(200, r.statusCode(), figures),
                () -> assertEquals(modelCalls, AbstractRound467.CALLS.of(s), figures),
                () -> assertEquals(used, u.used(), "user (outer filter): " + figures),
                () -> assertEquals(used, t.used(), "team (inner filter): " + figures),
                () -> assertEquals(0, u.reserved(), figures),
                () -> assertEquals(0, t.reserved(), figures));
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

package io.tokenquota.servlet.breakit459;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.IncludeFigures;
import io.tokenquota.servlet.testing.IncludeFigures.AgainPage;
import io.tokenquota.servlet.testing.IncludeFigures.Page;
import io.tokenquota.servlet.testing.IncludeFigures.Summary;
import io.tokenquota.servlet.testing.ContainerKind;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.RunsAgain;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Round 459 of issue 11: a protected page that includes protected fragments under two quota filters, the user's
 * (outer, on {@code /*}) and its team's (inner, on {@code /ai/team/*}), when the page reports its own figure
 * through {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE} <em>before</em> it includes its fragments (round 104 tried
 * only a page reporting after its include).
 *
 * <p>The rules (docs/servlet.md, includes): the page is charged its own figure plus every figure its includes
 * reported, each a model call of its own; "a digest page reporting 0 whose three fragments report 4,000 each is
 * charged 12,000". Two filters each charge their own subject the same (docs/decisions.md: each holds and charges
 * its own subject).
 *
 * <p>What goes wrong: the inner filter's {@code QuotaFilter.nested} puts the attribute back as it was before the
 * include ({@code req.setAttribute(ACTUAL_TOKENS_ATTRIBUTE, before)}). That write passes down through the inner
 * filter's {@code EndpointRequest} into the outer filter's, whose {@code setAttribute} takes it as a figure just
 * set: the outer filter's {@code nested} then reads the page's own figure where the fragment's should be, and
 * records it as the fragment's. The page's own figure is counted once per include, the fragments' never.
 *
 * <p>On Jetty the include meets both filters by path, then both again by the servlet names they map themselves by:
 * the user's second meeting runs inside the team's first, and its put-back passed through the team's endpoint
 * request too, which counted the page's own figure once more (the team's extra 1,000).
 *
 * <p>The includes are servlet API 6.0 {@code RequestDispatcher.include} by path (a JSP's {@code <jsp:include>});
 * the figures are reported by the attribute (settlement rule 1). Both containers. Added with the fix: the same
 * page before a status fragment's 0 (charged the page's figure twice before), rendered in an async dispatch, as a
 * protected 404's error page, and (a control, Jetty) as a pass the container runs again between the two filters.
 */
abstract class AbstractRound459 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static final String CHAT = IncludeFigures.CHAT;
    static final long FRAGMENT = IncludeFigures.FRAGMENT;
    static final long HEADLINE = IncludeFigures.HEADLINE;

    static String subject() {
        return "u459-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter team = IncludeFigures.teamFilter(this);
        return Deployment.create()
                // as the README registers it: every path; the user's filter outside, the team's inside
                .filter("quota", filter, "/*")
                // the container's run again (Jetty) between the two filters, on its own paths only
                .filter("again", new RunsAgain(), "/ai/team/again/*")
                .filter("quota-team", team, "/ai/team/*")
                .errorPage(404, "/ai/team/error-own-first")
                .servlet("team-summary", new Summary(calls), "/ai/team/summary")
                .servlet("team-status", new Status(), "/ai/team/status")
                .servlet("team-own-then-status", page("/ai/team/status", 1, HEADLINE, true),
                        "/ai/team/own-then-status")
                .servlet("team-async-own-first", new AsyncPage(1, HEADLINE), "/ai/team/async-own-first")
                .servlet("team-async-zero-first", new AsyncPage(3, 0), "/ai/team/async-zero-first")
                .servlet("team-missing", new Missing(), "/ai/team/missing")
                .servlet("team-error-own-first", page("/ai/team/summary", 1, HEADLINE, true),
                        "/ai/team/error-own-first")
                .servlet("team-again-own-first", new AgainPage(calls, "/ai/team/summary", "round459-worker"),
                        "/ai/team/again/own-first")
                .servlet("solo-summary", new Summary(calls), "/ai/solo/summary")
                .servlet("team-own-first", page("/ai/team/summary", 1, HEADLINE, true), "/ai/team/own-first")
                .servlet("team-own-last", page("/ai/team/summary", 1, HEADLINE, false), "/ai/team/own-last")
                .servlet("team-zero-first", page("/ai/team/summary", 3, 0, true), "/ai/team/zero-first")
                .servlet("team-zero-last", page("/ai/team/summary", 3, 0, false), "/ai/team/zero-last")
                .servlet("solo-zero-first", page("/ai/solo/summary", 3, 0, true), "/ai/solo/zero-first");
    }

    /** A protected digest page of round 459 ({@link Page}), its answer text/html. */
    Page page(String fragment, int includes, long own, boolean ownFirst) {
        return new Page(calls, "text/html", fragment, includes, own, ownFirst);
    }

    /** A protected status fragment: calls no model, says so by reporting 0. */
    static class Status extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0L);
            resp.getOutputStream().write("<p>All systems normal.</p>".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A protected endpoint that finds nothing: answers 404 through the container's error page, no model call. */
    static class Missing extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            resp.sendError(404);
        }
    }

    /**
     * The digest page of {@link Page}, rendered in an async dispatch: the REQUEST dispatch starts the cycle and
     * dispatches at once; the ASYNC dispatch reports the page's own figure first, then includes the summary.
     */
    class AsyncPage extends HttpServlet {
        private final Page page;

        AsyncPage(int includes, long own) {
            this.page = page("/ai/team/summary", includes, own, true);
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            if (req.getDispatcherType() == DispatcherType.ASYNC) {
                page.service(req, resp);
                return;
            }
            req.getInputStream().readAllBytes();
            req.startAsync().dispatch();
        }
    }

    /** Posts to {@code path} as a new user of a new team: both must be charged {@code used} for {@code modelCalls}. */
    void assertUserAndTeamCharged(String path, int modelCalls, long used, String what) {
        assertUserAndTeamCharged(path, 200, modelCalls, used, what);
    }

    /** As above, the answer's status {@code status}. */
    void assertUserAndTeamCharged(String path, int status, int modelCalls, long used, String what) {
        IncludeFigures.assertUserAndTeamCharged(this, calls, subject(), path, status, modelCalls, used, what);
    }

    /**
     * The page reports its headline's 1,000 first, then includes the summary (4,000): 5,000 of model calls, for
     * the user as for the team. Before round 459's fix the user was charged 2,000: its own 1,000, and the same 1,000
     * again where the fragment's 4,000 belongs.
     */
    @Test
    void aPageReportingItsOwnFigureBeforeItsIncludeIsChargedBothUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/own-first", 2, HEADLINE + FRAGMENT,
                "the page's own 1,000 reported first, then its fragment's 4,000");
    }

    /** Control: the same page reporting its 1,000 after the include (round 104's digest): 5,000 for both. */
    @Test
    void controlAPageReportingItsOwnFigureAfterItsIncludeIsChargedBoth() {
        assertUserAndTeamCharged("/ai/team/own-last", 2, HEADLINE + FRAGMENT,
                "the fragment's 4,000, then the page's own 1,000");
    }

    /**
     * The docs' own example: a digest page that calls no model reports 0 for itself, then includes three summaries
     * of 4,000 each: 12,000. Before round 459's fix the user was charged 0: three model calls free on the user's account.
     */
    @Test
    void aDigestReportingZeroBeforeItsFragmentsIsChargedThemUnderTwoFilters() {
        assertUserAndTeamCharged("/ai/team/zero-first", 3, 3 * FRAGMENT,
                "the page's 0 reported first, then three fragments of 4,000");
    }

    /** Control: the same digest reporting its 0 after its fragments: 12,000 for both. */
    @Test
    void controlADigestReportingZeroAfterItsFragmentsIsChargedThem() {
        assertUserAndTeamCharged("/ai/team/zero-last", 3, 3 * FRAGMENT,
                "three fragments of 4,000, then the page's 0");
    }

    /** Control: the digest reporting 0 first under one filter (the user's alone): 12,000. */
    @Test
    void controlADigestReportingZeroFirstUnderOneFilterIsChargedItsFragments() {
        IncludeFigures.assertCharged(this, calls, subject(), "/ai/solo/zero-first", 3, 3 * FRAGMENT,
                "the page's 0 reported first, then three fragments of 4,000, under the user's filter alone");
    }

    // ------------------------------------------------------------------ the fix's neighbours and controls

    /**
     * The other way: the page reports its 1,000 first, then includes a status fragment that says by 0 it called no
     * model. 1,000 for both, never more: the put-back of the page's figure is no figure of its own (it was: the user
     * 2,000 on Tomcat, 3,000 on Jetty, the team 2,000 on Jetty), and the fragment's 0 does not make the page free.
     */
    @Test
    void aPageReportingItsOwnFigureBeforeAZeroFragmentIsChargedItsOwnOnce() {
        assertUserAndTeamCharged("/ai/team/own-then-status", 1, HEADLINE,
                "the page's own 1,000 reported first, then a status fragment's 0");
    }

    /** The page rendered in an async dispatch, its 1,000 reported first, then its fragment's 4,000: 5,000 for both. */
    @Test
    void anAsyncDispatchReportingItsOwnFigureBeforeItsIncludeIsChargedBoth() {
        assertUserAndTeamCharged("/ai/team/async-own-first", 2, HEADLINE + FRAGMENT,
                "async dispatch: the page's own 1,000 reported first, then its fragment's 4,000");
    }

    /** The digest rendered in an async dispatch, its 0 reported first, then three fragments: 12,000 for both. */
    @Test
    void anAsyncDispatchReportingZeroBeforeItsFragmentsIsChargedThem() {
        assertUserAndTeamCharged("/ai/team/async-zero-first", 3, 3 * FRAGMENT,
                "async dispatch: the page's 0 reported first, then three fragments of 4,000");
    }

    /**
     * A protected 404 whose error page (a call of its own) reports its 1,000 first, then includes the summary
     * (4,000): the 404 is released, the error page charged 5,000 to both.
     */
    @Test
    void anErrorPageReportingItsOwnFigureBeforeItsIncludeIsChargedBoth() {
        assertUserAndTeamCharged("/ai/team/missing", 404, 2, HEADLINE + FRAGMENT,
                "error page: its own 1,000 reported first, then its fragment's 4,000");
    }

    /**
     * Control: the container runs the page again between the two filters (Jetty) while its call is under way: the
     * first pass's 5,000, then the pass run again's 1,000 reported first and its fragment's 4,000: 10,000 for both.
     * The pass keeps its own figure ({@code QuotaFilter.PassAgain}) and is both filters' holder of the include's,
     * so no put-back reached another filter's request here; it passes with and without round 459's fix.
     */
    @Test
    void controlAPassRunAgainBetweenTheFiltersReportingItsOwnFigureBeforeItsIncludeIsChargedBoth() {
        Assumptions.assumeTrue(kind() == ContainerKind.JETTY, "Tomcat's filter chain runs each filter once per chain");
        assertUserAndTeamCharged("/ai/team/again/own-first", 3, AgainPage.FIRST + HEADLINE + FRAGMENT,
                "run again between the filters: 5,000, then the pass's own 1,000 reported first and its fragment's 4,000");
    }
}

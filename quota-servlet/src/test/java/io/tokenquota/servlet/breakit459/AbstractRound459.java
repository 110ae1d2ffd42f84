package io.tokenquota.servlet.breakit459;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
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
 * <p>The includes are servlet API 6.0 {@code RequestDispatcher.include} by path (a JSP's {@code <jsp:include>});
 * the figures are reported by the attribute (settlement rule 1). Both containers.
 */
abstract class AbstractRound459 extends H2FilterRound {
    final ModelCalls calls = new ModelCalls();

    static final String TEAM_HEADER = "x-team-id";
    static final String CHAT = "{\"model\":\"gpt-4o\",\"max_tokens\":100,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Summarise my week\"}]}";
    /** A fragment's own model call, by its own figure. */
    static final long FRAGMENT = 4_000;
    /** The page's own headline call, by its own figure. */
    static final long HEADLINE = 1_000;

    static String subject() {
        return "u459-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        QuotaFilter team = filterFor("/ai/team/")
                .subjectResolver(SubjectResolver.trustedHeader(TEAM_HEADER, "127.0.0.1", "::1")).build();
        return Deployment.create()
                // as the README registers it: every path; the user's filter outside, the team's inside
                .filter("quota", filter, "/*")
                .filter("quota-team", team, "/ai/team/*")
                .servlet("team-summary", new Summary(), "/ai/team/summary")
                .servlet("solo-summary", new Summary(), "/ai/solo/summary")
                .servlet("team-own-first", new Page("/ai/team/summary", 1, HEADLINE, true), "/ai/team/own-first")
                .servlet("team-own-last", new Page("/ai/team/summary", 1, HEADLINE, false), "/ai/team/own-last")
                .servlet("team-zero-first", new Page("/ai/team/summary", 3, 0, true), "/ai/team/zero-first")
                .servlet("team-zero-last", new Page("/ai/team/summary", 3, 0, false), "/ai/team/zero-last")
                .servlet("solo-zero-first", new Page("/ai/solo/summary", 3, 0, true), "/ai/solo/zero-first");
    }

    /** A protected summary fragment: one model call, its 4,000 reported through the attribute. */
    class Summary extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
            resp.getOutputStream().write("<p>Three meetings, two decisions.</p>".getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A protected digest page: reports its own figure ({@code own}: a headline call's 1,000, or 0 for a page that
     * calls no model itself) before or after it includes the fragment {@code includes} times.
     */
    class Page extends HttpServlet {
        private final String fragment;
        private final int includes;
        private final long own;
        private final boolean ownFirst;

        Page(String fragment, int includes, long own, boolean ownFirst) {
            this.fragment = fragment;
            this.includes = includes;
            this.own = own;
            this.ownFirst = ownFirst;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getInputStream().readAllBytes();
            resp.setContentType("text/html");
            if (own > 0) {
                calls.count(req.getHeader("x-user-id"));
            }
            if (ownFirst) {
                req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, own);
            }
            resp.getOutputStream().write("<html><body><h1>Your week</h1>".getBytes(StandardCharsets.UTF_8));
            for (int i = 0; i < includes; i++) {
                req.getRequestDispatcher(fragment).include(req, resp);
            }
            resp.getOutputStream().write("</body></html>".getBytes(StandardCharsets.UTF_8));
            if (!ownFirst) {
                req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, own);
            }
        }
    }

    /** Posts to {@code path} as a new user of a new team: both must be charged {@code used} for {@code modelCalls}. */
    void assertUserAndTeamCharged(String path, int modelCalls, long used, String what) {
        String s = subject();
        String team = "team-" + s;
        HttpResponse<String> r = TestHttp.postJson(container.uri(path), s, CHAT, TEAM_HEADER, team);
        QuotaAccount u = settled(s);
        QuotaAccount t = settled(team);
        String figures = kind() + ": " + what + ": answer " + r.statusCode() + "; model calls " + calls.of(s)
                + "; user used " + u.used() + " reserved " + u.reserved() + ", team used " + t.used() + " reserved "
                + t.reserved() + "; user " + ledger(s) + "; team " + ledger(team);
        assertAll(() -> assertEquals(200, r.statusCode(), figures),
                () -> assertEquals(modelCalls, calls.of(s), figures),
                () -> assertEquals(used, u.used(), "user (outer filter): " + figures),
                () -> assertEquals(used, t.used(), "team (inner filter): " + figures),
                () -> assertEquals(0, u.reserved(), figures),
                () -> assertEquals(0, t.reserved(), figures));
    }

    /**
     * The page reports its headline's 1,000 first, then includes the summary (4,000): 5,000 of model calls, for
     * the user as for the team. Today the user is charged 2,000: its own 1,000, and the same 1,000 again where the
     * fragment's 4,000 belongs.
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
     * of 4,000 each: 12,000. Today the user is charged 0: three model calls free on the user's account.
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
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/solo/zero-first"), s, CHAT);
        QuotaAccount u = settled(s);
        String figures = kind() + ": answer " + r.statusCode() + "; model calls " + calls.of(s) + "; used " + u.used()
                + " reserved " + u.reserved() + "; " + ledger(s);
        assertAll(() -> assertEquals(200, r.statusCode(), figures),
                () -> assertEquals(3, calls.of(s), figures),
                () -> assertEquals(3 * FRAGMENT, u.used(), figures),
                () -> assertEquals(0, u.reserved(), figures));
    }
}

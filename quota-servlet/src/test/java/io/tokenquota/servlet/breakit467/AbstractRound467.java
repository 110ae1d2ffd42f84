package io.tokenquota.servlet.breakit467;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.IncludeFigures;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
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
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 467 of issue 11: a protected page that includes protected fragments served by Spring MVC's
 * {@code DispatcherServlet} (a JSP's {@code <jsp:include page="/ai/spring/summary"/>} into a Spring application
 * under the same filter), when the page reports its own figure through {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE}
 * <em>before</em> it includes (round 459 tried this with plain servlet fragments only).
 *
 * <p>The rules (docs/servlet.md, includes): the page is charged its own figure plus every figure its includes
 * reported, each a model call of its own; "a digest page reporting 0 whose three fragments report 4,000 each is
 * charged 12,000"; and "a framework that removes the attributes an include added before the filter settles
 * (Spring's {@code DispatcherServlet} restores the request's attributes after every include) does not lose it".
 *
 * <p>What goes wrong: {@code DispatcherServlet.doService} snapshots the request's attributes when it serves an
 * include ({@code cleanupAfterInclude}, true by default) and, in {@code restoreAttributesAfterInclude}, puts every
 * attribute the include changed back with {@code request.setAttribute(name, snapshotValue)} — inside the include,
 * before the filter's {@code QuotaFilter.nested} reads what the include reported. The fragment's 4,000 is replaced
 * by the page's own figure written back through the filter's {@code EndpointRequest}, which takes that write for
 * the include's report: the page's own figure is counted once per include, the fragments' never. When the page set
 * no figure first, Spring removes the attribute instead, and the kept figure survives (the controls).
 *
 * <p>One quota filter (the README's: every path, protecting {@code /ai/}); both containers. Added with the fix (the
 * filter now takes the attribute off, as no report, before an include, and puts the page's back after it): the page's
 * 1,000 first, then a Spring fragment that reports nothing, or reports 4,000 and removes the attribute itself; and
 * the page finding its own figure on the request after its Spring include. Two filters and a pass run again:
 * {@link AbstractRound467TwoFilters}.
 */
abstract class AbstractRound467 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();

    static final String CHAT = IncludeFigures.CHAT;
    static final long FRAGMENT = IncludeFigures.FRAGMENT;
    static final long HEADLINE = IncludeFigures.HEADLINE;

    static String subject() {
        return "u467-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return SpringMvc.behind(filter, Fragments.class)
                .servlet("v1-summary", new IncludeFigures.Summary(CALLS), "/ai/v1/summary")
                .servlet("spring-own-first", page("/ai/spring/summary", 1, HEADLINE, true), "/ai/pages/spring-own-first")
                .servlet("spring-own-last", page("/ai/spring/summary", 1, HEADLINE, false), "/ai/pages/spring-own-last")
                .servlet("spring-zero-first", page("/ai/spring/summary", 3, 0, true), "/ai/pages/spring-zero-first")
                .servlet("spring-zero-last", page("/ai/spring/summary", 3, 0, false), "/ai/pages/spring-zero-last")
                .servlet("spring-own-then-status", page("/ai/spring/status", 1, HEADLINE, true),
                        "/ai/pages/spring-own-then-status")
                .servlet("spring-own-then-silent", page("/ai/spring/silent", 1, HEADLINE, true),
                        "/ai/pages/spring-own-then-silent")
                .servlet("spring-own-then-removing", page("/ai/spring/removing", 1, HEADLINE, true),
                        "/ai/pages/spring-own-then-removing")
                .servlet("spring-own-first-reads", new ReadingPage(), "/ai/pages/spring-own-first-reads")
                .servlet("plain-own-first", page("/ai/v1/summary", 1, HEADLINE, true), "/ai/pages/plain-own-first")
                .servlet("plain-zero-first", page("/ai/v1/summary", 3, 0, true), "/ai/pages/plain-zero-first");
    }

    /**
     * The summary fragment as a Spring MVC controller: one model call, its 4,000 reported through the attribute on
     * the request Spring hands it (as docs/servlet.md tells an endpoint to report its own figure).
     */
    @RestController
    public static class Fragments {
        @PostMapping(value = "/summary", produces = "text/html")
        public String summary(HttpServletRequest req) {
            CALLS.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
            return "<p>Three meetings, two decisions.</p>";
        }

        /** A status fragment: calls no model, says so by reporting 0. */
        @PostMapping(value = "/status", produces = "text/html")
        public String status(HttpServletRequest req) {
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0L);
            return "<p>All systems normal.</p>";
        }

        /** A fragment that calls no model and reports nothing (added with the fix). */
        @PostMapping(value = "/silent", produces = "text/html")
        public String silent(HttpServletRequest req) {
            return "<p>No news.</p>";
        }

        /**
         * The summary, which removes the attribute once it has reported its 4,000 (as a framework's own clean-up
         * would): the figure set counts (added with the fix).
         */
        @PostMapping(value = "/removing", produces = "text/html")
        public String removing(HttpServletRequest req) {
            CALLS.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
            req.removeAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE);
            return "<p>Three meetings, two decisions.</p>";
        }
    }

    /**
     * A protected digest page ({@link IncludeFigures.Page}): reports its own figure ({@code own}: a headline call's
     * 1,000, or 0 for a page that calls no model itself) before or after it includes the fragment {@code includes} times.
     */
    static IncludeFigures.Page page(String fragment, int includes, long own, boolean ownFirst) {
        return new IncludeFigures.Page(CALLS, "text/html;charset=utf-8", fragment, includes, own, ownFirst);
    }

    /**
     * The page's 1,000 first, then the Spring summary; it writes what it finds as the attribute afterwards into its
     * answer (added with the fix: the attribute is taken off for the include and put back after it).
     */
    static class ReadingPage extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getInputStream().readAllBytes();
            resp.setContentType("text/html;charset=utf-8");
            CALLS.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, HEADLINE);
            resp.getOutputStream().write("<html><body>".getBytes(StandardCharsets.UTF_8));
            req.getRequestDispatcher("/ai/spring/summary").include(req, resp);
            Object after = req.getAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE);
            resp.getOutputStream().write(("<p>figure after: " + after + "</p></body></html>")
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    void assertCharged(String path, int modelCalls, long used, String what) {
        IncludeFigures.assertCharged(this, CALLS, subject(), path, modelCalls, used, what);
    }

    /**
     * The page reports its headline's 1,000 first, then includes the Spring summary (4,000): 5,000. Spring writes
     * the page's 1,000 back over the fragment's 4,000 inside the include, and the filter counts it as the include's:
     * charged 2,000.
     */
    @Test
    void aPageReportingItsOwnFigureBeforeASpringFragmentIsChargedBoth() {
        assertCharged("/ai/pages/spring-own-first", 2, HEADLINE + FRAGMENT,
                "the page's own 1,000 reported first, then a Spring fragment's 4,000");
    }

    /**
     * The docs' own digest: 0 reported for the page first, then three Spring summaries of 4,000: 12,000. Spring
     * writes the page's 0 back after each, and the three model calls are charged 0.
     */
    @Test
    void aDigestReportingZeroBeforeItsSpringFragmentsIsChargedThem() {
        assertCharged("/ai/pages/spring-zero-first", 3, 3 * FRAGMENT,
                "the page's 0 reported first, then three Spring fragments of 4,000");
    }

    /**
     * The other way, a call that never happened charged: the page's 1,000 first, then a Spring status fragment
     * that reports 0 (no model call): 1,000. Spring writes the page's 1,000 back over the 0, and the filter charges
     * it again as the fragment's: 2,000.
     */
    @Test
    void aPageReportingItsOwnFigureBeforeASpringZeroFragmentIsChargedItsOwnOnce() {
        assertCharged("/ai/pages/spring-own-then-status", 1, HEADLINE,
                "the page's own 1,000 reported first, then a Spring status fragment's 0");
    }

    /** Control: the page reporting its 1,000 after the Spring include (Spring removes the attribute): 5,000. */
    @Test
    void controlAPageReportingItsOwnFigureAfterASpringFragmentIsChargedBoth() {
        assertCharged("/ai/pages/spring-own-last", 2, HEADLINE + FRAGMENT,
                "a Spring fragment's 4,000, then the page's own 1,000");
    }

    /** Control: the digest reporting its 0 after three Spring fragments: 12,000. */
    @Test
    void controlADigestReportingZeroAfterItsSpringFragmentsIsChargedThem() {
        assertCharged("/ai/pages/spring-zero-last", 3, 3 * FRAGMENT,
                "three Spring fragments of 4,000, then the page's 0");
    }

    /** Control: the page's 1,000 first, then the same fragment as a plain servlet: 5,000. */
    @Test
    void controlAPageReportingItsOwnFigureBeforeAPlainFragmentIsChargedBoth() {
        assertCharged("/ai/pages/plain-own-first", 2, HEADLINE + FRAGMENT,
                "the page's own 1,000 reported first, then a plain servlet fragment's 4,000");
    }

    /** Control: the digest's 0 first, then three plain servlet fragments: 12,000. */
    @Test
    void controlADigestReportingZeroBeforePlainFragmentsIsChargedThem() {
        assertCharged("/ai/pages/plain-zero-first", 3, 3 * FRAGMENT,
                "the page's 0 reported first, then three plain servlet fragments of 4,000");
    }

    // ------------------------------------------------------------------ added with the fix: neighbours and controls

    /**
     * Control the other way: the page's 1,000 first, then a Spring fragment that calls no model and reports nothing:
     * 1,000. Taking the attribute off for the include neither loses the page's figure (charged less) nor lets it
     * count as the fragment's (charged 2,000).
     */
    @Test
    void aPageReportingItsOwnFigureBeforeASilentSpringFragmentIsChargedItsOwnOnce() {
        assertCharged("/ai/pages/spring-own-then-silent", 1, HEADLINE,
                "the page's own 1,000 reported first, then a Spring fragment that reports nothing");
    }

    /** The page's 1,000 first, then a Spring fragment that reports 4,000 and removes the attribute: 5,000. */
    @Test
    void aPageReportingItsOwnFigureBeforeASpringFragmentRemovingItsReportIsChargedBoth() {
        assertCharged("/ai/pages/spring-own-then-removing", 2, HEADLINE + FRAGMENT,
                "the page's own 1,000 reported first, then a Spring fragment's 4,000, removed by the fragment");
    }

    /** The page finds its own 1,000 on the request after its Spring include, and is charged 5,000. */
    @Test
    void aPageFindsItsOwnFigureAfterItsSpringInclude() {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(container.uri("/ai/pages/spring-own-first-reads"), s, CHAT);
        QuotaAccount u = settled(s);
        String figures = kind() + ": answer " + r.statusCode() + "; used " + u.used() + "; " + ledger(s) + "; body "
                + r.body();
        assertAll(() -> assertEquals(200, r.statusCode(), figures),
                () -> assertTrue(r.body().contains("figure after: " + HEADLINE + "<"), figures),
                () -> assertEquals(HEADLINE + FRAGMENT, u.used(), figures),
                () -> assertEquals(0, u.reserved(), figures));
    }
}

package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.QuotaAccount;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.SubjectResolver;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The rig of the rounds on pages that report a figure through {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE} and include
 * fragments that report their own (docs/servlet.md, includes: a page is charged its own figure plus every figure its
 * includes reported), under one quota filter or two: the user's outside, its team's inside, each charging its own
 * subject the same.
 */
public final class IncludeFigures {
    public static final String TEAM_HEADER = "x-team-id";
    public static final String CHAT = "{\"model\":\"gpt-4o\",\"max_tokens\":100,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Summarise my week\"}]}";
    /** A fragment's own model call, by its own figure. */
    public static final long FRAGMENT = 4_000;
    /** The page's own headline call, by its own figure. */
    public static final long HEADLINE = 1_000;

    private IncludeFigures() {
    }

    /** The team's filter: the subject by {@value #TEAM_HEADER} from loopback, protecting {@code /ai/team/}. */
    public static QuotaFilter teamFilter(H2FilterRound round) {
        return round.filterFor("/ai/team/")
                .subjectResolver(SubjectResolver.trustedHeader(TEAM_HEADER, "127.0.0.1", "::1")).build();
    }

    /**
     * A deployment under two quota filters (round 459's rig): {@code filter}, the user's, outside on every path; the
     * team's ({@link #teamFilter}) inside on {@code /ai/*}, protecting {@code /ai/team/}. The round adds its servlets.
     */
    public static Deployment twoFilters(H2FilterRound round, QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .filter("quota-team", teamFilter(round), "/ai/*");
    }

    /** A protected summary fragment: one model call, its 4,000 reported through the attribute. */
    public static final class Summary extends HttpServlet {
        private final ModelCalls calls;

        public Summary(ModelCalls calls) {
            this.calls = calls;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            calls.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
            resp.getOutputStream().write("<p>Three meetings, two decisions.</p>".getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A protected digest page of type {@code contentType}: reports its own figure ({@code own}: a headline call's
     * 1,000, or 0 for a page that calls no model itself) before or after it includes the fragment {@code includes}
     * times.
     */
    public static final class Page extends HttpServlet {
        private final ModelCalls calls;
        private final String contentType;
        private final String fragment;
        private final int includes;
        private final long own;
        private final boolean ownFirst;

        public Page(ModelCalls calls, String contentType, String fragment, int includes, long own, boolean ownFirst) {
            this.calls = calls;
            this.contentType = contentType;
            this.fragment = fragment;
            this.includes = includes;
            this.own = own;
            this.ownFirst = ownFirst;
        }

        /** Public: a page of its own renders it in its async dispatch. */
        @Override
        public void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            req.getInputStream().readAllBytes();
            resp.setContentType(contentType);
            if (own > 0) {
                calls.count(req.getHeader("x-user-id"));
            }
            if (ownFirst) {
                req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, own);
            }
            // bytes, as Spring's converters write the included answer (Tomcat refuses a writer and a stream)
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

    /**
     * A page the container runs again (Jetty, {@link RunsAgain}) while its call is under way. First pass: its own
     * model call (5,000, by the attribute), then the async cycle, completed by a worker (named {@code worker}) once
     * the second pass is over. The second pass: the page's 1,000 reported first, then {@code fragment} (4,000)
     * included.
     */
    public static final class AgainPage extends HttpServlet {
        public static final long FIRST = 5_000;
        private static final String FIRST_PASS = AgainPage.class.getName() + ".first";
        private final ModelCalls calls;
        private final String fragment;
        private final String worker;

        public AgainPage(ModelCalls calls, String fragment, String worker) {
            this.calls = calls;
            this.fragment = fragment;
            this.worker = worker;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String s = req.getHeader("x-user-id");
            if (req.getAttribute(FIRST_PASS) instanceof CountDownLatch secondDone) {
                try {
                    calls.count(s);
                    req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, HEADLINE);
                    req.getRequestDispatcher(fragment).include(req, resp);
                } finally {
                    secondDone.countDown();
                }
                return;
            }
            req.getInputStream().readAllBytes();
            resp.setContentType("text/html");
            calls.count(s);
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FIRST);
            CountDownLatch secondDone = new CountDownLatch(1);
            req.setAttribute(FIRST_PASS, secondDone);
            AsyncContext cycle = req.startAsync();
            Thread t = new Thread(() -> {
                try {
                    secondDone.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                cycle.complete();
            }, worker);
            t.setDaemon(true);
            t.start();
        }
    }

    /** Posts to {@code path} of {@code round}'s container as {@code s}: charged {@code used} for {@code modelCalls}. */
    public static void assertCharged(H2FilterRound round, ModelCalls calls, String s, String path, int modelCalls,
            long used, String what) {
        assertCharged(round, calls, s, path, 200, modelCalls, used, what);
    }

    /** As above, answered {@code status} (a protected not-found page including the model's suggestions: 404). */
    public static void assertCharged(H2FilterRound round, ModelCalls calls, String s, String path, int status,
            int modelCalls, long used, String what) {
        HttpResponse<String> r = TestHttp.postJson(round.container.uri(path), s, CHAT);
        QuotaAccount u = round.settled(s);
        String figures = round.kind() + ": " + what + ": answer " + r.statusCode() + "; model calls " + calls.of(s)
                + "; used " + u.used() + " reserved " + u.reserved() + "; " + round.ledger(s) + "; body " + r.body();
        assertAll(() -> assertEquals(status, r.statusCode(), figures),
                () -> assertEquals(modelCalls, calls.of(s), figures),
                () -> assertEquals(used, u.used(), figures),
                () -> assertEquals(0, u.reserved(), figures));
    }

    /**
     * Posts to {@code path} of {@code round}'s container as user {@code s} of a new team: answered {@code status}, and
     * both charged {@code used} for {@code modelCalls}.
     */
    public static void assertUserAndTeamCharged(H2FilterRound round, ModelCalls calls, String s, String path,
            int status, int modelCalls, long used, String what) {
        String team = "team-" + s;
        HttpResponse<String> r = TestHttp.postJson(round.container.uri(path), s, CHAT, TEAM_HEADER, team);
        QuotaAccount u = round.settled(s);
        QuotaAccount t = round.settled(team);
        String figures = round.kind() + ": " + what + ": answer " + r.statusCode() + "; model calls " + calls.of(s)
                + "; user used " + u.used() + " reserved " + u.reserved() + ", team used " + t.used() + " reserved "
                + t.reserved() + "; user " + round.ledger(s) + "; team " + round.ledger(team) + "; body " + r.body();
        assertAll(() -> assertEquals(status, r.statusCode(), figures),
                () -> assertEquals(modelCalls, calls.of(s), figures),
                () -> assertEquals(used, u.used(), "user (outer filter): " + figures),
                () -> assertEquals(used, t.used(), "team (inner filter): " + figures),
                () -> assertEquals(0, u.reserved(), figures),
                () -> assertEquals(0, t.reserved(), figures));
    }
}

package io.tokenquota.servlet.breakit441;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.DeferredResultRound;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.RunsAgain;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Round 441 of issue 11: the pass the container runs again while the call that held the request is under way
 * ({@code QuotaFilter.dispatch}, {@code QuotaFilter.PassAgain}, {@code PassAgain.Answer}, {@code handOver}), in the
 * shapes rounds 426, 428, 429 and 436 left untested: a pass that reports its figure only as an HTTP trailer field;
 * a pass whose own model call runs on a worker and reports after the pass's dispatch returned (after
 * {@code handOver}), by the attribute, the header or a trailer field whose supplier was set up front; and two quota
 * filters (a user's and a team's) with the container's run again between them, so that the inner filter sees a pass
 * run again and the outer one sees only its one dispatch.
 *
 * <p>Shapes: OpenAI Chat Completions (platform.openai.com/docs/api-reference/chat/create, "The chat completion
 * object"), written by {@link ChatCompletions} / {@link DeferredResultRound}. The endpoints are {@code DeferredResult}
 * style (Spring MVC reference, "Asynchronous Requests", "DeferredResult"; servlet API 6.0 {@code AsyncContext.dispatch}).
 * The figure is reported as README / docs/servlet.md settlement rule 1 says: {@link QuotaFilter#ACTUAL_TOKENS_ATTRIBUTE},
 * else the {@link QuotaFilter#ACTUAL_TOKENS_HEADER} header, else the same as a trailer field (servlet API 6.0
 * {@code HttpServletResponse.setTrailerFields(Supplier)}: the supplier is set before the response is committed and
 * asked for the fields when the body is complete, RFC 9110 section 6.5: fields "known only after the content").
 * docs/servlet.md: a pass run again while the call is under way "is part of that call ... a figure it reports ... is
 * added to that call's ... and with two quota filters to both calls". The container's run again is {@link RunsAgain}
 * (Jetty only: Tomcat's filter chain runs each filter once per chain); those tests are skipped on Tomcat.
 */
abstract class AbstractRound441 extends DeferredResultRound {
    /** What the pass run again does. */
    enum Again {
        /** Round 429's: calls the model at once, reports its 3,000 by the attribute, writes its text. */
        ATTRIBUTE,
        /** Calls the model at once, reports its 3,000 only as a trailer field, writes its text. */
        TRAILER,
        /** Hands its model call to its own worker and returns; the worker reports 3,000 by the attribute. */
        LATE_ATTRIBUTE,
        /** As LATE_ATTRIBUTE, the worker reporting 3,000 by the response header. */
        LATE_HEADER,
        /** Sets its trailer supplier up front, hands its model call to its worker, which fills in the 3,000. */
        LATE_TRAILER,
        /** Control of the LATE ones: hands its call to its worker and waits for it before returning. */
        WAITED_ATTRIBUTE
    }

    private final Map<String, CountDownLatch> passCalled = new ConcurrentHashMap<>();

    /** Counted down once the pass run again's own model call has answered and reported. */
    private CountDownLatch passCalled(String s) {
        return passCalled.computeIfAbsent(s, k -> new CountDownLatch(1));
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        // the team's budget beside the user's (round 33, 325, 436: the trusted x-team-id header): the team's filter
        // outermost, the container's run again between it and the user's filter on /ai/between/*
        QuotaFilter team = teamFilter("/ai/between/", "/ai/once/team/");
        Deployment d = Deployment.create()
                .filter("quota-team", team, "/ai/between/*", "/ai/once/team/*")
                .filter("again", new RunsAgain(), "/ai/again/*", "/ai/between/*")
                .filter("quota", filter, "/ai/*");
        for (Again a : Again.values()) {
            String name = a.name().toLowerCase(Locale.ROOT).replace('_', '-');
            d.servlet("h-" + name, new Deferred(a), "/ai/again/" + name + "/*", "/ai/once/" + name + "/*",
                    "/ai/between/" + name + "/*", "/ai/once/team/" + name + "/*");
        }
        return d;
    }

    /**
     * A {@code DeferredResult} handler. First pass: starts the cycle; a worker calls the model once (5,000, reported
     * through the attribute on the request the handler was given) and, when the container runs the request again,
     * dispatches only once the pass's own model call has answered; the ASYNC dispatch writes the text. The pass run
     * again calls the model again (3,000) as {@link Again} says.
     */
    class Deferred extends HttpServlet {
        private final Again again;

        Deferred(Again again) {
            this.again = again;
        }

        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String s = req.getHeader("x-user-id");
            if (req.getDispatcherType() == DispatcherType.ASYNC) {
                writeResult(req, resp, s, false);
                return;
            }
            if (firstPass(req)) {
                if (req.getRequestURI().contains("/once/")) {
                    startCall(req, resp, s, true);
                } else {
                    startCallDispatchingAfter(req, resp, s, passCalled(s));
                }
                return;
            }
            if (!awaitWorkerAnswered(s)) {
                return;
            }
            switch (again) {
                case ATTRIBUTE -> {
                    callModelAgain(req, resp, s, false);
                    passCalled(s).countDown();
                }
                case TRAILER -> {
                    // servlet API 6.0 setTrailerFields, before the body; the figure as a trailer field (rule 1)
                    resp.setTrailerFields(() -> Map.of(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(AGAIN)));
                    calls.count(s);
                    resp.setContentType("text/plain;charset=UTF-8");
                    resp.getOutputStream().write(TEXT_AGAIN.getBytes(StandardCharsets.UTF_8));
                    noted(s).add("REQUEST pass run again: model called again, " + AGAIN + " as a trailer field");
                    passCalled(s).countDown();
                }
                case LATE_ATTRIBUTE, LATE_HEADER, LATE_TRAILER -> {
                    AtomicReference<String> figure = new AtomicReference<>();
                    if (again == Again.LATE_TRAILER) {
                        // set up front, read when the body is complete (servlet API 6.0, RFC 9110 6.5)
                        resp.setTrailerFields(() -> figure.get() == null ? Map.of()
                                : Map.of(QuotaFilter.ACTUAL_TOKENS_HEADER, figure.get()));
                    }
                    workers.submit(() -> {
                        passWorker(req, resp, s, figure);
                        return null;
                    });
                    noted(s).add("REQUEST pass run again: model call handed to its worker, returning");
                }
                case WAITED_ATTRIBUTE -> {
                    Future<Void> f = workers.submit(() -> {
                        passWorker(req, resp, s, new AtomicReference<>());
                        return null;
                    });
                    try {
                        f.get(10, TimeUnit.SECONDS);
                    } catch (Exception e) {
                        throw new ServletException(e);
                    }
                    noted(s).add("REQUEST pass run again: waited for its worker, returning");
                }
            }
        }

        /** The pass run again's own model call on its worker: counted, its 3,000 reported as {@link #again} says. */
        private void passWorker(HttpServletRequest req, HttpServletResponse resp, String s,
                                AtomicReference<String> figure) throws IOException {
            try {
                calls.count(s);
                switch (again) {
                    case LATE_HEADER -> resp.setHeader(QuotaFilter.ACTUAL_TOKENS_HEADER, Long.toString(AGAIN));
                    case LATE_TRAILER -> figure.set(Long.toString(AGAIN));
                    default -> req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, AGAIN);
                }
                resp.setContentType("text/plain;charset=UTF-8");
                resp.getOutputStream().write(TEXT_AGAIN.getBytes(StandardCharsets.UTF_8));
                noted(s).add("pass's worker: model answered, " + AGAIN + " reported (" + again + "), text written");
            } finally {
                passCalled(s).countDown();
            }
        }
    }

    // ------------------------------------------------------------------ A. the pass's figure as a trailer field

    /** The pass run again reports its own model call only as a trailer field: 5,000 + 3,000. */
    @Test
    void aPassRunAgainReportingOnlyByATrailerFieldIsCharged() throws Exception {
        assumeRunsAgain();
        assertChatCharged("/ai/again/trailer/chat", 2, USAGE + AGAIN,
                "the worker's 5,000 (attribute), the pass run again's 3,000 as a trailer field");
    }

    /** Control: the trailer handler run once: the worker's 5,000. */
    @Test
    void controlTheTrailerHandlerRunOnceIsCharged() throws Exception {
        assertChatCharged("/ai/once/trailer/chat", 1, USAGE, "the trailer handler run once");
    }

    // ------------------------------------------------------------------ B. the pass reports after handOver

    /**
     * The pass run again hands its model call to its own worker and returns; the worker reports 3,000 by the
     * attribute on the request the pass was given and writes its text, all before the earlier call's cycle ends
     * (its worker dispatches only afterwards). Two model calls while the call is open: 8,000.
     */
    @Test
    void aPassRunAgainsWorkerReportingByTheAttributeAfterThePassReturnedIsCharged() throws Exception {
        assumeRunsAgain();
        assertChatCharged("/ai/again/late-attribute/chat", 2, USAGE + AGAIN,
                "the worker's 5,000, the pass run again's own worker reporting 3,000 by the attribute after it returned");
    }

    /** As above, the pass's worker reporting 3,000 by the response header: 8,000. */
    @Test
    void aPassRunAgainsWorkerReportingByTheHeaderAfterThePassReturnedIsCharged() throws Exception {
        assumeRunsAgain();
        assertChatCharged("/ai/again/late-header/chat", 2, USAGE + AGAIN,
                "the worker's 5,000, the pass run again's own worker reporting 3,000 by the header after it returned");
    }

    /**
     * As above, the pass set its trailer supplier before its body (as the servlet API asks) and its worker fills in
     * the 3,000 once its model answered: the fields are asked for when the body is complete, not when the pass's
     * dispatch returned. 8,000.
     */
    @Test
    void aPassRunAgainsTrailerFieldFilledInByItsWorkerIsCharged() throws Exception {
        assumeRunsAgain();
        assertChatCharged("/ai/again/late-trailer/chat", 2, USAGE + AGAIN,
                "the worker's 5,000, the pass run again's trailer field filled in with 3,000 by its worker");
    }

    /** Control: the pass waits for its worker before returning (the well-behaved form): 8,000. */
    @Test
    void controlAPassRunAgainWaitingForItsWorkerIsCharged() throws Exception {
        assumeRunsAgain();
        assertChatCharged("/ai/again/waited-attribute/chat", 2, USAGE + AGAIN,
                "the worker's 5,000, the pass run again waiting for its worker's 3,000");
    }

    /** Control: the late-attribute handler run once: the worker's 5,000. */
    @Test
    void controlTheLateAttributeHandlerRunOnceIsCharged() throws Exception {
        assertChatCharged("/ai/once/late-attribute/chat", 1, USAGE, "the late-attribute handler run once");
    }

    // ------------------------------------------------------------------ C. two filters, the run again between them

    /**
     * The team's filter outermost, the container's run again between it and the user's filter: the user's filter
     * sees a pass run again (PassAgain) and adds its 3,000 to its call; the team's filter sees its one dispatch, in
     * which the endpoint ran twice and reported 5,000 and 3,000 through the attribute. Both charged 8,000.
     */
    @Test
    void withTheRunAgainBetweenTwoFiltersThePassRunAgainIsChargedToTheTeamToo() throws Exception {
        assumeRunsAgain();
        assertUserAndTeamCharged("/ai/between/attribute/chat", 2, USAGE + AGAIN,
                "team filter, run again, user filter: the worker's 5,000 and the pass run again's 3,000 (attribute)");
    }

    /** As above, the pass reporting its 3,000 as a trailer field: both charged 8,000. */
    @Test
    void withTheRunAgainBetweenTwoFiltersAPassRunAgainsTrailerFieldIsChargedToTheTeamToo() throws Exception {
        assumeRunsAgain();
        assertUserAndTeamCharged("/ai/between/trailer/chat", 2, USAGE + AGAIN,
                "team filter, run again, user filter: the worker's 5,000 and the pass run again's 3,000 (trailer)");
    }

    /** Control: two filters, the handler run once: user and team each charged 5,000. */
    @Test
    void controlUnderTwoFiltersTheCallRunOnceIsChargedToUserAndTeam() throws Exception {
        assertUserAndTeamCharged("/ai/once/team/attribute/chat", 1, USAGE, "two filters, run once");
    }
}

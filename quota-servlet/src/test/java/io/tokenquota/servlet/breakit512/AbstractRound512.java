package io.tokenquota.servlet.breakit512;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.IncludeFigures;
import io.tokenquota.servlet.testing.LateIncludes;
import io.tokenquota.servlet.testing.ModelCalls;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletResponse;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 512 of issue 11, on round 509's rule (a cycle the same include starts in the dispatch back of its cycle goes
 * on with that cycle's call, and what it writes is covered by the first cycle's figure when it reports none).
 *
 * <p>A v2 JSON shim includes v1. v1 starts an async cycle inside the include (a Spring {@code DeferredResult}); its
 * worker does the call's preparation, which calls no model (a cache lookup, a queue slot), reports it as the docs
 * say a pass that calls no model does, 0, and dispatches back. The dispatch back runs the shim again, which includes
 * v1 again; v1 now starts a second cycle (a {@code StreamingResponseBody} as the {@code DeferredResult}'s value)
 * whose worker makes the request's one model call and writes OpenAI's chat completion with its usage
 * (1,000 + 3,000), leaving the filter to read it, as it reads any answer's usage.
 *
 * <p>The one model call is 4,000. The first cycle's 0 stands for no call; round 509's rule takes it for the figure
 * of the call the second cycle writes and covers that call's usage with it.
 */
abstract class AbstractRound512 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    /** The one model call's usage: 1,000 in, 3,000 out (LateIncludes.completion). */
    static final long CALL = LateIncludes.FRAGMENT;
    static final String GO = AbstractRound512.class.getName() + ".go";

    static final LateIncludes PAGES = new LateIncludes();

    static String subject() {
        return "u512-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** What the first cycle's worker (no model call) reports before dispatching back. */
    enum First {
        /** 0: the documented figure of a pass that calls no model. */
        ZERO,
        /** Nothing. */
        NOTHING
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return servlets(Deployment.create().filter("quota", filter, "/*"), "/ai");
    }

    /**
     * Adds, under {@code base}, each case's v1 ({@code base/v1/<case>}) and the shim including it
     * ({@code base/v2/<case>}).
     */
    static Deployment servlets(Deployment d, String base) {
        for (First first : First.values()) {
            for (boolean reports : new boolean[] {false, true}) {
                String name = first.name().toLowerCase() + (reports ? "-reported" : "-read");
                d.servlet("v1-" + name, v1(first, reports), base + "/v1/" + name)
                        .servlet("v2-" + name, PAGES.shim(base + "/v1/" + name, null), base + "/v2/" + name);
            }
        }
        return d;
    }

    /**
     * v1: the first pass (inside the shim's include) starts a cycle whose worker, once the include returned, calls no
     * model, reports {@code first} and dispatches back. The pass the dispatch runs (the shim includes v1 again)
     * starts a second cycle, {@code startAsync()}, whose worker makes the model call and writes its answer;
     * {@code reports}: it also reports the call's 4,000 through the second cycle's request.
     */
    static HttpServlet v1(First first, boolean reports) {
        return LateIncludes.servlet((req, resp) -> {
            String s = req.getHeader("x-user-id");
            if (req.getAttribute(GO) != null) {
                resp.setContentType("application/json");
                AsyncContext again = req.startAsync();
                LateIncludes.startWorker("round512-second-worker", () -> {
                    try {
                        CALLS.count(s);
                        if (reports) {
                            again.getRequest().setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, CALL);
                        }
                        LateIncludes.write((HttpServletResponse) again.getResponse(),
                                LateIncludes.completion("chatcmpl-512"));
                    } finally {
                        again.complete();
                    }
                });
                return;
            }
            AsyncContext cycle = req.startAsync();
            CountDownLatch includeReturned = PAGES.returned(s);
            LateIncludes.startWorker("round512-v1-worker", () -> {
                includeReturned.await(10, TimeUnit.SECONDS);
                if (first == First.ZERO) {
                    cycle.getRequest().setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0L);
                }
                cycle.getRequest().setAttribute(GO, Boolean.TRUE);
                cycle.dispatch();
            });
        });
    }

    void assertCharged(String path, long used, String what) {
        IncludeFigures.assertCharged(this, CALLS, subject(), path, 1, used, what);
    }

    /**
     * The first cycle reports 0 (no model call on its pass); the second cycle's worker makes the one model call and
     * writes usage 4,000: charged 4,000.
     */
    @Test
    void theContinuingCyclesOneModelCallIsChargedAfterTheFirstCycleReportedZero() {
        assertCharged("/ai/v2/zero-read", CALL,
                "v2 shim including v1 (worker calls no model, reports 0, dispatches back), the dispatch's include"
                        + " starting a second cycle whose worker calls the model and writes usage 4,000");
    }

    /** Control: the first cycle reports nothing: the second cycle's written usage is charged, 4,000. */
    @Test
    void controlTheContinuingCyclesCallIsChargedItsUsageWhenTheFirstReportedNothing() {
        assertCharged("/ai/v2/nothing-read", CALL,
                "v2 shim including v1 (worker calls no model, reports nothing, dispatches back), the second cycle's"
                        + " worker writing usage 4,000");
    }

    /** Control: the first cycle reports 0 and the second reports its call's 4,000: 4,000. */
    @Test
    void controlTheContinuingCyclesReportedCallIsChargedAfterTheFirstReportedZero() {
        assertCharged("/ai/v2/zero-reported", CALL,
                "v2 shim including v1 (worker reports 0, dispatches back), the second cycle's worker reporting"
                        + " 4,000 and writing usage 4,000");
    }

    /** Control: the first cycle reports nothing and the second reports its call's 4,000: 4,000. */
    @Test
    void controlTheContinuingCyclesReportedCallIsChargedAfterTheFirstReportedNothing() {
        assertCharged("/ai/v2/nothing-reported", CALL,
                "v2 shim including v1 (worker reports nothing, dispatches back), the second cycle's worker reporting"
                        + " 4,000 and writing usage 4,000");
    }
}

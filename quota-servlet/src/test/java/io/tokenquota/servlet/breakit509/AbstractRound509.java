package io.tokenquota.servlet.breakit509;

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
 * Round 509 of issue 11: the second async cycle of one include's request. A v2 JSON shim includes v1. v1 starts an
 * async cycle inside the include (as a Spring handler returning a {@code DeferredResult} does); once the include
 * returned, its worker calls the model, reports the call's figure through the cycle's request (the documented way),
 * keeps the model's answer in a request attribute and dispatches the cycle back to v1. The dispatch finds the answer
 * and, instead of writing it on the container's thread, starts a second async cycle on the same request (Spring does
 * this when a {@code DeferredResult}'s value is itself async: a {@code ResponseBodyEmitter}, a
 * {@code StreamingResponseBody}), whose worker writes OpenAI's chat completion with its usage and completes.
 *
 * <p>The same call, reported once by its figure and written once with its usage, is one call: its figure. The
 * control writes the answer in the dispatch itself (round 485's shape), which is charged right.
 */
abstract class AbstractRound509 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();
    /** The model's answer: 1,000 tokens in, 3,000 out (LateIncludes.completion). */
    static final long CALL = LateIncludes.FRAGMENT;
    /** A second, smaller call's reported figure, when the two cycles are two calls. */
    static final long SMALL = 1_500;
    static final String ANSWER = AbstractRound509.class.getName() + ".answer";

    static final LateIncludes PAGES = new LateIncludes();

    static String subject() {
        return "u509-" + UUID.randomUUID().toString().substring(0, 12);
    }

    /** How the dispatch back writes the answer the first cycle's worker kept. */
    enum Second {
        /** On the dispatch's own thread, as it is handed the response (round 485: charged right). */
        IN_DISPATCH,
        /** On a second cycle started with {@code startAsync()}. */
        PLAIN_CYCLE,
        /** On a second cycle started as Spring does, {@code startAsync(request, response)}. */
        SPRING_CYCLE
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return servlets(Deployment.create().filter("quota", filter, "/*"), "/ai");
    }

    /**
     * Adds, under {@code base}, each shape's v1 ({@code base/v1/<shape>}) and the shim including it
     * ({@code base/v2/<shape>}), and for the second cycles the two-call controls ({@code base/v2/two-<shape>}).
     */
    static Deployment servlets(Deployment d, String base) {
        for (Second second : Second.values()) {
            String name = second.name().toLowerCase().replace('_', '-');
            d.servlet("v1-" + name, v1Chat(second, CALL, false), base + "/v1/" + name)
                    .servlet("v2-" + name, PAGES.shim(base + "/v1/" + name, null), base + "/v2/" + name);
            if (second != Second.IN_DISPATCH) {
                d.servlet("v1-two-" + name, v1Chat(second, SMALL, true), base + "/v1/two-" + name)
                        .servlet("v2-two-" + name, PAGES.shim(base + "/v1/two-" + name, null), base + "/v2/two-" + name);
            }
        }
        return d;
    }

    /**
     * v1: first pass (inside the shim's include) starts a cycle whose worker, once the include returned, calls the
     * model, reports {@code figure} through the cycle's request and dispatches back with the answer kept. The pass
     * the dispatch runs writes it as {@code second} says. {@code secondCall}: the second cycle's worker makes a
     * model call of its own, reports its 4,000 through the second cycle's request and writes its answer (usage
     * 4,000), so the two cycles are two calls, each reported once (a figure the dispatch reports is the call's own,
     * beside the include's: docs/servlet.md).
     */
    static HttpServlet v1Chat(Second second, long figure, boolean secondCall) {
        return LateIncludes.servlet((req, resp) -> {
            String s = req.getHeader("x-user-id");
            if (req.getAttribute(ANSWER) instanceof String answer) {
                resp.setContentType("application/json");
                if (second == Second.IN_DISPATCH) {
                    if (secondCall) {
                        CALLS.count(s);
                    }
                    LateIncludes.write(resp, answer);
                    return;
                }
                AsyncContext again = second == Second.SPRING_CYCLE ? req.startAsync(req, resp) : req.startAsync();
                LateIncludes.startWorker("round509-second-worker", () -> {
                    try {
                        if (secondCall) {
                            CALLS.count(s);
                            again.getRequest().setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, CALL);
                        }
                        LateIncludes.write((HttpServletResponse) again.getResponse(), answer);
                    } finally {
                        again.complete();
                    }
                });
                return;
            }
            AsyncContext cycle = req.startAsync();
            CountDownLatch includeReturned = PAGES.returned(s);
            LateIncludes.startWorker("round509-v1-worker", () -> {
                includeReturned.await(10, TimeUnit.SECONDS);
                CALLS.count(s);
                cycle.getRequest().setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, figure);
                cycle.getRequest().setAttribute(ANSWER, LateIncludes.completion("chatcmpl-509"));
                cycle.dispatch();
            });
        });
    }

    void assertCharged(String path, int modelCalls, long used, String what) {
        IncludeFigures.assertCharged(this, CALLS, subject(), path, modelCalls, used, what);
    }

    /** Control (round 485's shape): the dispatch back writes the answer itself: one call, its figure, 4,000. */
    @Test
    void controlTheDispatchBackWritesTheAnswerOfTheReportedCall() {
        assertCharged("/ai/v2/in-dispatch", 1, CALL,
                "v2 shim including v1 (worker reports 4,000, dispatches back), the dispatch writing usage 4,000");
    }

    /** The dispatch back starts a second cycle ({@code startAsync()}) whose worker writes that same answer: 4,000. */
    @Test
    void aSecondPlainCycleWritingTheReportedCallsAnswerIsChargedOnce() {
        assertCharged("/ai/v2/plain-cycle", 1, CALL,
                "v2 shim including v1 (worker reports 4,000, dispatches back), the dispatch's startAsync() worker"
                        + " writing that call's answer, usage 4,000");
    }

    /** The same with the second cycle started as Spring does: 4,000. */
    @Test
    void aSecondSpringCycleWritingTheReportedCallsAnswerIsChargedOnce() {
        assertCharged("/ai/v2/spring-cycle", 1, CALL,
                "v2 shim including v1 (worker reports 4,000, dispatches back), the dispatch's startAsync(req, resp)"
                        + " worker writing that call's answer, usage 4,000");
    }

    /**
     * Control, two calls with unequal figures: the first cycle's worker reports 1,500; the second cycle's worker
     * makes a call of its own, reports 4,000 through the second cycle's request and writes that answer: 5,500.
     * A fix must keep the second cycle's own figure beside the first's.
     */
    @Test
    void controlASecondPlainCyclesOwnReportedCallIsChargedBesideTheFirstsFigure() {
        assertCharged("/ai/v2/two-plain-cycle", 2, SMALL + CALL,
                "v2 shim including v1 (worker reports 1,500, dispatches back), the dispatch's startAsync() worker"
                        + " calling the model again, reporting 4,000 and writing usage 4,000");
    }

    /** Control: the same, the second cycle started as Spring does: 5,500. */
    @Test
    void controlASecondSpringCyclesOwnReportedCallIsChargedBesideTheFirstsFigure() {
        assertCharged("/ai/v2/two-spring-cycle", 2, SMALL + CALL,
                "v2 shim including v1 (worker reports 1,500, dispatches back), the dispatch's startAsync(req, resp)"
                        + " worker calling the model again, reporting 4,000 and writing usage 4,000");
    }
}

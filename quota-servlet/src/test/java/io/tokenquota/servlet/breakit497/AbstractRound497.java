package io.tokenquota.servlet.breakit497;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.IncludeFigures;
import io.tokenquota.servlet.testing.LateIncludes;
import io.tokenquota.servlet.testing.ModelCalls;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Round 497 of issue 11: an include's async worker that <em>writes</em> its answer while the include is still running
 * and <em>reports</em> its figure only after the include returned (through the cycle's request, the documented way,
 * round 473). Whether the include's figure covers its own bytes was decided when the include returned, when it had
 * none: the usage read from those bytes was charged beside the late figure, one model call twice.
 *
 * <p>A v2 shim includes v1; v1 starts an async cycle inside the include; its worker writes OpenAI's chat completion
 * (1,000 in, 3,000 out) through the cycle's response while the include waits for it (a latch the worker counts down
 * after writing), then, once the include returned (the page's latch), sets 4,000 through the cycle's request and
 * completes. The control is the same worker reporting before it lets the include return.
 *
 * <p>One quota filter (the README's: every path, protecting {@code /ai/}); both containers.
 */
abstract class AbstractRound497 extends H2FilterRound {
    static final ModelCalls CALLS = new ModelCalls();

    /** The v1 model's answer: 1,000 tokens in, 3,000 out, reported as 4,000. */
    static final long FRAGMENT = LateIncludes.FRAGMENT;

    /** The pages' include-returned signals (the worker waits for its page's before it reports late). */
    static final LateIncludes INCLUDES = new LateIncludes();

    static String subject() {
        return "u497-" + UUID.randomUUID().toString().substring(0, 12);
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        return Deployment.create()
                .filter("quota", filter, "/*")
                .servlet("v1-reports-late", v1Chat(true), "/ai/v1/chat-reports-late")
                .servlet("v1-reports-early", v1Chat(false), "/ai/v1/chat-reports-early")
                .servlet("v2-reports-late", INCLUDES.shim("/ai/v1/chat-reports-late", null), "/ai/v2/chat-reports-late")
                .servlet("v2-reports-early", INCLUDES.shim("/ai/v1/chat-reports-early", null),
                        "/ai/v2/chat-reports-early");
    }

    /**
     * The v1 chat endpoint: starts an async cycle inside the include; its worker makes the model call and writes
     * OpenAI's chat completion with its usage through the cycle's response while the include waits for it, and
     * reports its 4,000 through the cycle's request: {@code late}, once the include returned; else before it lets
     * the include return.
     */
    static HttpServlet v1Chat(boolean late) {
        return LateIncludes.servlet((req, resp) -> {
            String s = req.getHeader("x-user-id");
            AsyncContext cycle = req.startAsync();
            CountDownLatch written = new CountDownLatch(1);
            CountDownLatch includeReturned = INCLUDES.returned(s);
            LateIncludes.startWorker("round497-fragment-worker", () -> {
                HttpServletRequest rq = (HttpServletRequest) cycle.getRequest();
                HttpServletResponse rs = (HttpServletResponse) cycle.getResponse();
                try {
                    CALLS.count(s);
                    LateIncludes.write(rs, LateIncludes.completion("chatcmpl-497"));
                    if (!late) {
                        rq.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
                    }
                    written.countDown();
                    if (late) {
                        includeReturned.await(10, TimeUnit.SECONDS);
                        rq.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
                    }
                } finally {
                    written.countDown();
                    cycle.complete();
                }
            });
            try {
                written.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    void assertCharged(String path, int modelCalls, long used, String what) {
        IncludeFigures.assertCharged(this, CALLS, subject(), path, modelCalls, used, what);
    }

    /**
     * The v1 worker writes its answer (usage 1,000 + 3,000) while the include runs and reports 4,000 after the
     * include returned: one model call, 4,000. Predicted: the usage read from its bytes was left as the page's when
     * the include returned without a figure, and charged beside the late figure: 8,000.
     */
    @Test
    void aWorkerWritingBeforeTheIncludeReturnsAndReportingAfterIsChargedOnce() {
        assertCharged("/ai/v2/chat-reports-late", 1, FRAGMENT,
                "v2 shim including v1, whose worker writes usage 4,000 during the include and reports 4,000 after it");
    }

    /** Control: the same worker reporting its 4,000 before the include returns: 4,000. */
    @Test
    void controlAWorkerWritingAndReportingBeforeTheIncludeReturnsIsChargedOnce() {
        assertCharged("/ai/v2/chat-reports-early", 1, FRAGMENT,
                "v2 shim including v1, whose worker writes usage 4,000 and reports 4,000 during the include");
    }
}

package io.tokenquota.servlet.breakit535;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.IncludeCycleRound;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Beside round 535's fix: the call an include left to its async cycle is taken off the page's request when the
 * include returns (the page's next include is a call of its own), and is that call again for the cycle's own
 * dispatch. The page includes an async summary fragment, then the model (1,500); once the page is done, the
 * fragment's worker reports its 4,000 and dispatches its cycle to a protected view that renders the summary (no
 * model call): in the page's own application, and in another application with its own filter over the same store.
 * The view is part of the fragment's call, neither held nor charged again: 4,000 + 1,500.
 */
abstract class AbstractKeptCycle535 extends IncludeCycleRound {
    AbstractKeptCycle535() {
        super("k535");
    }

    /** A summary fragment whose worker reports 4,000 once the page is done and dispatches its cycle to the view. */
    final class Summary extends HttpServlet {
        private final String viewAt;

        Summary(String viewAt) {
            this.viewAt = viewAt;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) {
            String s = req.getHeader("x-user-id");
            calls.count(s);
            AsyncContext cycle = req.startAsync();
            CountDownLatch page = done(s);
            Thread worker = new Thread(() -> {
                try {
                    page.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                cycle.getRequest().setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, FRAGMENT);
                if (viewAt == null) {
                    cycle.dispatch("/ai/view");
                } else {
                    cycle.dispatch(req.getServletContext().getContext(viewAt), "/ai/view");
                }
            }, "kept535-summary-worker");
            worker.setDaemon(true);
            worker.start();
        }
    }

    /** An unprotected page: its async summary fragment, then its own model endpoint. */
    final class Page extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            String s = req.getHeader("x-user-id");
            try {
                resp.setContentType("application/json");
                req.getRequestDispatcher("/ai/summary").include(req, resp);
                req.getRequestDispatcher("/ai/chat/completions").include(req, resp);
            } finally {
                done(s).countDown();
            }
        }
    }

    @Test
    void theCyclesDispatchIsTheFragmentsCallAfterThePageIncludedTheModel() throws Exception {
        try (Host host = two(filter(), servlets("/page", new Page(), "/ai/summary", new Summary(null),
                "/ai/view", new View(), "/ai/chat/completions", model()), null, servlets())) {
            long used = page(host);
            assertEquals(FRAGMENT + USAGE, used, kind() + ": charged " + used + ", should be " + (FRAGMENT + USAGE));
        }
    }

    @Test
    void theCyclesDispatchIntoAnotherApplicationIsTheFragmentsCallThere() throws Exception {
        try (Host host = two(filter(), servlets("/page", new Page(), "/ai/summary", new Summary("/b"),
                "/ai/chat/completions", model()), filter(), servlets("/ai/view", new View()))) {
            long used = page(host);
            assertEquals(FRAGMENT + USAGE, used, kind() + ": charged " + used + ", should be " + (FRAGMENT + USAGE));
        }
    }
}

package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaException;
import io.tokenquota.Reserved;
import io.tokenquota.servlet.QuotaFilter;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The rig of the cross-context rounds on calls let through under fail-open and on includes that start the request's
 * async cycle (rounds 520, 525, 535, 544): a failover that refuses a subject's next reserve once ({@link #downOnce}),
 * per-subject latches that order a page against its fragment's worker, a relay that calls the model and hands the
 * rendering of its answer to /b, and a protected view that calls no model.
 */
public abstract class IncludeCycleRound extends CrossContextRound {
    /** What a summary fragment reports for its own model call. */
    public static final long FRAGMENT = 4_000;

    /** Subjects whose next reserve, by any failing filter, finds the store away, once: the failover ends right after. */
    protected final Set<String> downOnce = ConcurrentHashMap.newKeySet();
    /** Per subject: counted down once the page is done (a fragment's worker waits for it). */
    protected final Map<String, CountDownLatch> pageDone = new ConcurrentHashMap<>();

    private final String answer;
    /** The one ledger every {@link #failingOnce()} filter is built on: the store behind the failover. */
    private FailingLedger failover;

    protected IncludeCycleRound(String round) {
        super(round);
        this.answer = round + ".answer";
    }

    /** A new ledger over the round's store that refuses the reserve of a subject in {@link #downOnce}, once. */
    protected FailingLedger failover() {
        return new FailingLedger(store) {
            @Override
            public Reserved reserve(HoldRequest request) {
                if (downOnce.remove(request.subject())) {
                    throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection reset during failover (test)");
                }
                return super.reserve(request);
            }
        };
    }

    /**
     * A fail-open filter on /ai/ over the one ledger behind the failover (one {@link FailingLedger}, so every such
     * filter knows it as the same store: {@code QuotaLedger#underlying}).
     */
    protected QuotaFilter failingOnce() {
        if (failover == null) {
            failover = failover();
        }
        return failingOnce(failover);
    }

    /** A fail-open filter on /ai/ over {@code ledger}. */
    protected QuotaFilter failingOnce(FailingLedger ledger) {
        return filterFor(ledger, "/ai/").failOpen(true).build();
    }

    /** A filter on /ai/ over the round's store. */
    protected QuotaFilter filter() {
        return filterFor(store, "/ai/").build();
    }

    /** {@code s}'s latch in {@code m}, made on first use. */
    public static CountDownLatch latch(Map<String, CountDownLatch> m, String s) {
        return m.computeIfAbsent(s, k -> new CountDownLatch(1));
    }

    /** {@code s}'s {@link #pageDone} latch. */
    protected CountDownLatch done(String s) {
        return latch(pageDone, s);
    }

    /** Waits up to 10 s for {@code l}; not reached in time, or interrupted: an {@link IllegalStateException}. */
    public static void await(CountDownLatch l) {
        try {
            if (!l.await(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException("latch not reached in 10 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /**
     * Posts the chat request (with {@code headers}) to /a/ai/relay as a new subject, the store refusing its first
     * reserve when {@code down}; checks the answer is a 200 and the model ran once ({@code ran} tells where): the
     * subject.
     */
    protected String relayed(Host host, boolean down, String ran, String... headers) {
        String s = subject();
        if (down) {
            downOnce.add(s);
        }
        HttpResponse<String> r = TestHttp.postJson(host.uri("/a/ai/relay"), s, ASK, headers);
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, calls.of(s), ran);
        return s;
    }

    /**
     * Posts the chat request to /a/page as a new subject, then (after {@link #answered}) checks both model calls
     * ran once each (the fragment's and the chat model's): what the subject was charged.
     */
    protected long page(Host host) throws Exception {
        String s = subject();
        HttpResponse<String> r = TestHttp.postJson(host.uri("/a/page"), s, ASK);
        assertEquals(200, r.statusCode(), r.body());
        answered(s);
        assertEquals(2, calls.of(s), "the fragment's model and the chat model ran once each");
        return settled(s).used();
    }

    /** What {@link #page} waits for once {@code s}'s page answered: nothing here. */
    protected void answered(String s) {
    }

    /** The view a fragment's cycle renders the summary with: calls no model. */
    public static final class View extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.getOutputStream().write("<aside>summary ready</aside>".getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A relay that calls the model itself (counted) while its request is let through, then hands the rendering of
     * the answer to /b by an async dispatch: the hop writes the answer's text, no model call in it, no usage.
     */
    public final class CallsThenHops extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            calls.count(req.getHeader("x-user-id"));
            req.setAttribute(answer, "Day one: Alfama and the castle.");
            req.startAsync().dispatch(req.getServletContext().getContext("/b"), "/ai/render");
        }
    }

    /** /b's page: writes the answer the relay's model call left on the request, as text. */
    public final class Render extends HttpServlet {
        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setContentType("text/plain;charset=utf-8");
            resp.getOutputStream().write(String.valueOf(req.getAttribute(answer)).getBytes(StandardCharsets.UTF_8));
        }
    }
}

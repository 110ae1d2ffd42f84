package io.tokenquota.servlet.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaLedger;
import io.tokenquota.Reservation;
import io.tokenquota.jdbi.JdbiQuotaStore;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.testkit.MutableClock;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.time.Instant;
import java.time.YearMonth;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;

/**
 * A round on a charge that cannot land. An agent call (an {@code SseEmitter}-style async stream at
 * {@code /tc/.../agent}) holds 4,006 tokens ({@code max_tokens} 4,000) and reports usage of
 * {@link #PROMPT} + {@link #COMPLETION} = 9,000, while the ledger the {@code /tc/} filter writes through
 * refuses commits and hold extensions for the subjects in {@link #down} ({@code STORE_UNAVAILABLE}: a
 * failover, a circuit breaker open), so its settlement is tried again in the background. {@code /tb/} is
 * another filter of the service on the same store, through no wrapper; the store runs on a movable
 * {@link #clock}. A call to {@code .../chat} on either prefix answers {@link #chatAnswer}.
 */
public abstract class StoreOutageRound extends H2FilterRound {
    protected static final long PROMPT = 1_500;
    protected static final long COMPLETION = 7_500;
    protected static final String AGENT = "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
            + "\"max_tokens\":4000,\"messages\":[{\"role\":\"user\",\"content\":\"Research lithium carbonate suppliers.\"}]}";

    protected final ModelCalls calls = new ModelCalls();
    protected final MutableClock clock;
    protected ClockedStore clocked;
    /** Subjects whose commits and extensions through the troubled ledger fail. */
    protected final Set<String> down = ConcurrentHashMap.newKeySet();
    /** Counted down by each failed commit attempt of a subject. */
    private final Map<String, CountDownLatch> refused = new ConcurrentHashMap<>();

    protected StoreOutageRound(Instant start) {
        this.clock = new MutableClock(start);
    }

    /** The JSON completion a {@code .../chat} call of {@code s} answers (it may bring the store back). */
    protected abstract String chatAnswer(String s);

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        clocked = new ClockedStore(clock, ALLOWANCE);
        JdbiQuotaStore c = clocked.store();
        QuotaLedger troubled = new FailingLedger(c) {
            private String subjectOf(String id) {
                return c.reservation(id).map(Reservation::subject).orElse("?");
            }

            @Override
            protected void beforeCommit(String reservationId) {
                String s = subjectOf(reservationId);
                if (down.contains(s)) {
                    CountDownLatch l = refused.get(s);
                    if (l != null) l.countDown();
                    throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection refused (test)");
                }
            }

            @Override
            protected void beforeExtend(String reservationId) {
                if (down.contains(subjectOf(reservationId))) {
                    throw new QuotaException(ErrorCode.STORE_UNAVAILABLE, "connection refused (test)");
                }
            }
        };
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                // the agent and chat prefixes, through the troubled ledger
                .filter("quota-c", filterFor(troubled, "/tc/").build(), "/tc/*")
                // another prefix of the same service, on the same store through another wrapper
                .filter("quota-b", filterFor(c, "/tb/").build(), "/tb/*")
                .servlet("ai", new Model(), "/ai/*")
                .servlet("tc", new Model(), "/tc/*")
                .servlet("tb", new Model(), "/tb/*");
    }

    @AfterAll
    void stopClocked() {
        if (clocked != null) clocked.close();
    }

    /**
     * {@code .../agent}: async event stream with a usage chunk of 9,000 tokens, then [DONE] and complete().
     * {@code .../chat}: {@link #chatAnswer}.
     */
    private final class Model extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            calls.count(s);
            if (req.getRequestURI().endsWith("/agent")) {
                ChatCompletions.streamAsync(req, resp, "chatcmpl-agent-" + s, 30, PROMPT, COMPLETION);
                return;
            }
            resp.setContentType("application/json");
            resp.getWriter().write(chatAnswer(s));
        }
    }

    /** Runs the agent call through /tc/ with the troubled ledger down for {@code s}; returns once its commit was refused twice. */
    protected void agentCallWhoseCommitCannotLand(String s) throws InterruptedException {
        down.add(s);
        refused.put(s, new CountDownLatch(2));
        HttpResponse<String> r = TestHttp.send(TestHttp.jsonPost(container.uri("/tc/v1/agent"), s, AGENT));
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"total_tokens\":" + (PROMPT + COMPLETION)), "the client got the usage chunk");
        // the first attempt and the first background retry were refused: the settlement is being tried again
        assertTrue(refused.get(s).await(15, TimeUnit.SECONDS), "the commit was tried");
    }

    /** The events of {@code s} in month {@code m}, for a failure's message. */
    protected String events(String s, YearMonth m) {
        return Ledgers.events(clocked.store(), s, m).toString();
    }
}

package io.tokenquota.servlet.testing;

import io.tokenquota.ErrorCode;
import io.tokenquota.HoldRequest;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.QuotaLedger;
import io.tokenquota.Reservation;
import io.tokenquota.Reserved;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.testkit.MutableClock;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.YearMonth;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;

/**
 * A round on the record of keys a fail-open filter keeps while the store fails. The {@code /tr/} filter runs
 * fail-open on a store on a {@link #clock} the test moves (hold TTL: the policy's default); the store's reserves
 * throw {@code STORE_UNAVAILABLE} for the subjects in {@link #down} (a failover, a pool timeout, a circuit breaker
 * that opened), a subject's next reserve can be stalled before it reaches the store until the test lets it go
 * ({@link #stallNextReserve}; it fails then if the subject is in {@link #stallFails}), and a subject in
 * {@link #releaseFails} has its next release refused, once.
 *
 * <p>The model answers {@link #PROMPT} + {@link #COMPLETION} = 9,000 tokens of usage, as OpenAI's Chat
 * Completions {@code chat.completion} (platform.openai.com/docs/api-reference/chat/object, written by
 * {@link ChatCompletions}): synchronously ({@code /tr/v1/chat/completions}), or computed on a worker whose result
 * an async dispatch writes ({@code /tr/v1/deferred/chat/completions}: the shape of Spring MVC's
 * {@code DeferredResult} and {@code Callable}); {@code /tr/v1/missing} is a route no handler serves (404, no
 * model call). A test may hold a subject's next model call until it lets it go ({@link #hold}). The rounds on
 * {@code SeenKeys} share this rig so each keeps only its interleavings.
 */
public abstract class FailOpenKeyRound extends H2FilterRound {
    protected static final long PROMPT = 1_500;
    protected static final long COMPLETION = 7_500;
    protected static final long USAGE = PROMPT + COMPLETION;
    protected static final YearMonth MONTH = YearMonth.of(2031, 3);
    protected static final String ASK =
            "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Plan a three-day trip to Lisbon.\"}]}";

    private final int round;
    protected final ModelCalls calls = new ModelCalls();
    protected final MutableClock clock = new MutableClock(Instant.parse("2031-03-10T12:00:00Z"));
    protected ClockedStore clocked;
    /** Subjects whose reserves find the store away, until removed. */
    protected final Set<String> down = ConcurrentHashMap.newKeySet();
    /** Subjects whose next reserve waits before it reaches the store, once: arrival latch and release latch. */
    protected final Map<String, CountDownLatch[]> stall = new ConcurrentHashMap<>();
    /** Subjects whose stalled reserve fails once let go (the store's connection broke under it). */
    protected final Set<String> stallFails = ConcurrentHashMap.newKeySet();
    /** Subjects whose next release is refused by the store, once. */
    protected final Set<String> releaseFails = ConcurrentHashMap.newKeySet();
    /** Subjects whose next model call waits, once: arrival latch and release latch. */
    protected final Map<String, CountDownLatch[]> held = new ConcurrentHashMap<>();

    /** {@code round}: the round's number, in its subjects, keys and completion ids. */
    protected FailOpenKeyRound(int round) {
        this.round = round;
    }

    protected String subject() {
        return "u" + round + "-" + UUID.randomUUID().toString().substring(0, 12);
    }

    protected String key() {
        return "k" + round + "-" + UUID.randomUUID();
    }

    /** The {@code /tr/} filter past fail-open, for a round that needs more of it. */
    protected QuotaFilter.Builder troubledFilter(QuotaFilter.Builder builder) {
        return builder;
    }

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        clocked = new ClockedStore(clock, ALLOWANCE);
        QuotaLedger troubled = new FailingLedger(clocked.store()) {
            @Override
            public Reserved reserve(HoldRequest request) {
                CountDownLatch[] wait = stall.remove(request.subject());
                if (wait != null) {
                    wait[0].countDown();
                    await(wait[1]);
                    if (stallFails.contains(request.subject())) {
                        throw unavailable("connection reset (test)");
                    }
                }
                if (down.contains(request.subject())) {
                    throw unavailable("connection refused (test)");
                }
                return super.reserve(request);
            }

            @Override
            protected void beforeRelease(String reservationId) {
                String s = clocked.store().reservation(reservationId).map(Reservation::subject).orElse("");
                if (releaseFails.remove(s)) {
                    throw unavailable("connection reset on release (test)");
                }
            }
        };
        return Deployment.create()
                .filter("quota", filter, "/ai/*")
                .filter("quota-tr", troubledFilter(filterFor(troubled, "/tr/").failOpen(true)).build(), "/tr/*")
                .servlet("model", new Chat(), "/tr/*");
    }

    private static QuotaException unavailable(String message) {
        return new QuotaException(ErrorCode.STORE_UNAVAILABLE, message);
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(20, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @AfterAll
    void closeClocked() {
        if (clocked != null) clocked.close();
    }

    /** Stalls the subject's next reserve before the store until the second latch is counted down. */
    protected CountDownLatch[] stallNextReserve(String s) {
        CountDownLatch[] latches = {new CountDownLatch(1), new CountDownLatch(1)};
        stall.put(s, latches);
        return latches;
    }

    /** Holds the subject's next model call (once it is counted) until the second latch is counted down. */
    protected CountDownLatch[] hold(String s) {
        CountDownLatch[] latches = {new CountDownLatch(1), new CountDownLatch(1)};
        held.put(s, latches);
        return latches;
    }

    private final class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            String s = req.getHeader("x-user-id");
            if (req.getDispatcherType() == DispatcherType.ASYNC) {
                // the second dispatch: write the result the worker computed, as Spring's handler adapter does
                resp.setContentType("application/json");
                Object answer = req.getAttribute("failopen.answer");
                resp.getOutputStream().write(String.valueOf(answer).getBytes(StandardCharsets.UTF_8));
                return;
            }
            req.getInputStream().readAllBytes();
            if (req.getRequestURI().endsWith("/missing")) {
                resp.sendError(404);
                return;
            }
            if (req.getRequestURI().contains("/deferred/")) {
                AsyncContext async = req.startAsync();
                async.setTimeout(0);
                async.start(() -> {
                    req.setAttribute("failopen.answer", model(s));
                    async.dispatch();
                });
                return;
            }
            resp.setContentType("application/json");
            resp.getOutputStream().write(model(s).getBytes(StandardCharsets.UTF_8));
        }

        private String model(String s) {
            calls.count(s);
            CountDownLatch[] wait = held.remove(s);
            if (wait != null) {
                wait[0].countDown();
                await(wait[1]);
            }
            return ChatCompletions.completion("chatcmpl-" + round, "gpt-4o", "Here is the plan.", PROMPT, COMPLETION);
        }
    }

    /** {@code body} posted as {@code s} to {@code /tr/v1/path}. */
    protected HttpResponse<String> post(String s, String path, String body, String... headers) throws Exception {
        return TestHttp.client().send(TestHttp.jsonPost(container.uri("/tr/v1/" + path), s, body, headers),
                HttpResponse.BodyHandlers.ofString());
    }

    /** As {@link #post}, not waiting for the answer. */
    protected CompletableFuture<HttpResponse<String>> postAsync(String s, String path, String body, String... headers) {
        return TestHttp.client().sendAsync(TestHttp.jsonPost(container.uri("/tr/v1/" + path), s, body, headers),
                HttpResponse.BodyHandlers.ofString());
    }

    protected QuotaAccount account(String s) {
        return clocked.store().account(s, MONTH).orElse(null);
    }

    protected String events(String s) {
        return Ledgers.events(clocked.store(), s, MONTH).toString();
    }

    /** The subject's account once it holds nothing and 9,000 is charged, or 15 s passed (bounded poll). */
    protected QuotaAccount settledOn(String s) throws InterruptedException {
        return Ledgers.chargedAtLeast(clocked.store(), s, USAGE);
    }
}

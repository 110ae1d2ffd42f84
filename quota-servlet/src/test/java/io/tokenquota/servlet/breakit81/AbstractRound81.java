package io.tokenquota.servlet.breakit81;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tokenquota.ErrorCode;
import io.tokenquota.QuotaAccount;
import io.tokenquota.QuotaException;
import io.tokenquota.Reservation;
import io.tokenquota.servlet.QuotaFilter;
import io.tokenquota.servlet.testing.AsyncAgent;
import io.tokenquota.servlet.testing.ChatCompletions;
import io.tokenquota.servlet.testing.Deployment;
import io.tokenquota.servlet.testing.FailingLedger;
import io.tokenquota.servlet.testing.H2FilterRound;
import io.tokenquota.servlet.testing.ModelCalls;
import io.tokenquota.servlet.testing.SpringMvc;
import io.tokenquota.servlet.testing.TestHttp;
import jakarta.servlet.AsyncContext;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.FilterConfig;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

/**
 * Round 81 of issue 11 ("no model call goes unpaid, nothing that never reached a model is charged"):
 * the settlement of calls that run long or end oddly. The hold keeper ({@code HoldKeeper}) with
 * one-second holds when the store goes away for a few seconds, when the filter is destroyed and
 * initialised again while a call runs, when an {@code Error} escapes one extension, and when one user's
 * extension stalls while other users' calls run; an async call whose container timeout fires after the
 * answer was written but before it was flushed, and a Spring exception handler that answers 500 in place
 * of a written answer; and includes: a not-found page that includes the model's suggestions, and a
 * protected page whose included fragments report their model calls' usage.
 */
abstract class AbstractRound81 extends H2FilterRound {

    /** What the chat endpoints' model reports for one call: 5,000 prompt + 10,000 completion tokens. */
    static final long USAGE = 15_000;
    /** How long the store is away once an outage starts (a database restart or failover). */
    static final Duration OUTAGE = Duration.ofSeconds(3);
    /** What each summary fragment's model call reports through the request attribute. */
    static final long SUMMARY_USAGE = 4_000;
    static final int SUMMARIES = 3;

    static final ModelCalls CALLS = new ModelCalls();

    static String subject() {
        return "u81-" + UUID.randomUUID().toString().substring(0, 12);
    }

    static String chatAnswer(String id) {
        return ChatCompletions.completion(id, "gpt-4o", "Done.", 5_000, 10_000);
    }

    // ------------------------------------------------------------------ a store that goes away, or stalls

    /** Subjects whose store goes away {@link #OUTAGE} long from the first commit of their call: the start, in nanos (0: not yet). */
    static final Map<String, long[]> OUTAGES = new ConcurrentHashMap<>();
    /** Subjects whose hold's first extension meets an {@code OutOfMemoryError} (a heap spike); counted down when it did. */
    static final Map<String, CountDownLatch> OUT_OF_MEMORY = new ConcurrentHashMap<>();
    /** Subjects whose hold's extension waits (a row lock another transaction holds) until the latch opens. */
    static final Map<String, CountDownLatch> STALLED = new ConcurrentHashMap<>();
    /** Counted down once such an extension is waiting. */
    static final Map<String, CountDownLatch> STALLING = new ConcurrentHashMap<>();

    /** The round's store as a service sees it, with the outages, errors and stalls armed above. */
    final class TroubledLedger extends FailingLedger {
        TroubledLedger() {
            super(store);
        }

        private String subjectOf(String id) {
            Optional<Reservation> r = store.reservation(id);
            return r.map(Reservation::subject).orElse("");
        }

        private void outage(String id, boolean starts) {
            long[] start = OUTAGES.get(subjectOf(id));
            if (start == null) {
                return;
            }
            synchronized (start) {
                if (start[0] == 0) {
                    if (!starts) {
                        return;
                    }
                    start[0] = System.nanoTime();
                }
            }
            if (System.nanoTime() - start[0] < OUTAGE.toNanos()) {
                throw new QuotaException(ErrorCode.STORE_UNAVAILABLE,
                        "extend/commit failed: cannot reach the database: Connection refused");
            }
        }

        @Override
        protected void beforeExtend(String id) {
            String s = subjectOf(id);
            CountDownLatch oom = OUT_OF_MEMORY.get(s);
            if (oom != null && oom.getCount() > 0) {
                oom.countDown();
                throw new OutOfMemoryError("Java heap space");
            }
            CountDownLatch stalled = STALLED.get(s);
            if (stalled != null) {
                STALLING.get(s).countDown();
                try {
                    stalled.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            outage(id, false);
        }

        @Override
        protected void beforeCommit(String id) {
            outage(id, true);
        }

        @Override
        protected void beforeRelease(String id) {
            outage(id, true);
        }
    }

    /**
     * A filter the container destroys and initialises again on the same instance (a context restarted in
     * place: Jetty's {@code FilterHolder} keeps an instance it was given) while requests still run.
     */
    public static final class Restartable implements Filter {
        final QuotaFilter quota;
        private volatile FilterConfig config;

        Restartable(QuotaFilter quota) {
            this.quota = quota;
        }

        @Override
        public void init(FilterConfig filterConfig) {
            config = filterConfig;
            quota.init(filterConfig);
        }

        @Override
        public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain) throws IOException, ServletException {
            quota.doFilter(req, res, chain);
        }

        @Override
        public void destroy() {
            quota.destroy();
        }

        void restart() {
            quota.destroy();
            quota.init(config);
        }
    }

    // ------------------------------------------------------------------ endpoints

    /** An OpenAI chat endpoint: every call answers with 15,000 tokens of usage. */
    public static class Chat extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            CALLS.count(req.getHeader("x-user-id"));
            resp.setStatus(200);
            resp.setContentType("application/json");
            resp.getOutputStream().write(chatAnswer("chatcmpl-81").getBytes(StandardCharsets.UTF_8));
        }
    }

    static final Map<String, AsyncContext> PENDING = new ConcurrentHashMap<>();
    static final Map<String, CountDownLatch> STARTED = new ConcurrentHashMap<>();

    static void answerAndComplete(AsyncContext ctx) throws IOException {
        if (ctx == null) {
            return;
        }
        HttpServletResponse resp = (HttpServletResponse) ctx.getResponse();
        resp.setStatus(200);
        resp.setContentType("application/json");
        resp.getOutputStream().write(chatAnswer("chatcmpl-81-agent").getBytes(StandardCharsets.UTF_8));
        ctx.complete();
    }

    /** Released by the test once the client has its answer. */
    static final Map<String, CountDownLatch> SAVED = new ConcurrentHashMap<>();
    /** Counted down once the model's answer is written. */
    static final Map<String, CountDownLatch> WRITTEN = new ConcurrentHashMap<>();

    /**
     * An async relay with a one-second container timeout: its worker writes the model's answer (text, no
     * usage) to the response and then saves the conversation before completing; the save hangs past the
     * timeout, so the answer is still in the response's buffer when the container's timeout fires.
     */
    public static class SlowSaver extends HttpServlet {
        @Override
        protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            req.getInputStream().readAllBytes();
            String s = req.getHeader("x-user-id");
            CALLS.count(s);
            AsyncContext ctx = req.startAsync();
            ctx.setTimeout(1_000);
            ctx.start(() -> {
                try {
                    HttpServletResponse r = (HttpServletResponse) ctx.getResponse();
                    r.setStatus(200);
                    r.setContentType("text/plain;charset=UTF-8");
                    r.getOutputStream().write(("The capital of Australia is Canberra, chosen in 1908 as a"
                            + " compromise between Sydney and Melbourne.").getBytes(StandardCharsets.UTF_8));
                    WRITTEN.get(s).countDown();
                    // saving the conversation: the database is slow today
                    SAVED.get(s).await(30, TimeUnit.SECONDS);
                    ctx.complete();
                } catch (IOException | RuntimeException e) {
                    // the container timed the cycle out meanwhile
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
        }
    }

    /**
     * A documentation site's pages outside the protected prefix: a page that does not exist answers 404
     * and, as many sites now do, includes the model's suggestions of what the reader may have meant.
     */
    public static class DocsPages extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            boolean missing = req.getPathInfo() != null && req.getPathInfo().startsWith("/missing");
            resp.setStatus(missing ? 404 : 200);
            resp.setContentType("text/html;charset=utf-8");
            resp.getOutputStream().write(("<html><body><h1>" + (missing ? "Page not found" : "Getting started")
                    + "</h1><p>You may be looking for:</p>").getBytes(StandardCharsets.UTF_8));
            req.getRequestDispatcher("/ai/suggest").include(req, resp);
            resp.getOutputStream().write("</body></html>".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The model's suggestions, rendered as an HTML fragment (no usage); it sets no status of its own. */
    public static class Suggest extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            CALLS.count(req.getHeader("x-user-id"));
            resp.getOutputStream().write(("<ul><li>Quotas and holds</li><li>Settlement rules</li>"
                    + "<li>Running the filter behind a proxy</li></ul>").getBytes(StandardCharsets.UTF_8));
        }
    }

    /**
     * A protected digest page: it includes one summary fragment per article (a JSP's {@code <jsp:include>}).
     * It calls no model itself and says so, reporting 0 for itself; {@code /ai/digest/unreported} does not.
     */
    public static class Digest extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException, ServletException {
            if (!"/unreported".equals(req.getPathInfo())) {
                req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, 0L);
            }
            resp.setContentType("text/html;charset=utf-8");
            resp.getOutputStream().write("<html><body><h1>Today's digest</h1>".getBytes(StandardCharsets.UTF_8));
            for (int i = 1; i <= SUMMARIES; i++) {
                req.getRequestDispatcher("/ai/summarize/" + i).include(req, resp);
            }
            resp.getOutputStream().write("</body></html>".getBytes(StandardCharsets.UTF_8));
        }
    }

    /** A summary fragment: its model call's usage is reported through the request attribute, as the README advises. */
    public static class Summarize extends HttpServlet {
        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            CALLS.count(req.getHeader("x-user-id"));
            req.setAttribute(QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE, SUMMARY_USAGE);
            resp.getOutputStream().write("<article><p>The model's summary of an article.</p></article>"
                    .getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Thrown when the conversation could not be saved after the model answered. */
    public static class ConversationNotSaved extends RuntimeException {
        public ConversationNotSaved() {
            super("conversation store unavailable");
        }
    }

    static final String ANSWER_TEXT = "Canberra is the capital of Australia. It was chosen as a compromise between"
            + " Sydney and Melbourne and has been the seat of government since 1927.";

    /**
     * A Spring controller that relays the model's answer as text to the response, then saves the
     * conversation, which fails; its {@code @ExceptionHandler} answers 500 (Spring's DispatcherServlet
     * resets the uncommitted buffer first).
     */
    @RestController
    public static class HandledAssistant {
        @PostMapping("/answer")
        public void answer(@RequestBody String body, HttpServletRequest req, HttpServletResponse resp) throws IOException {
            CALLS.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getOutputStream().write(ANSWER_TEXT.getBytes(StandardCharsets.UTF_8));
            throw new ConversationNotSaved();
        }

        @ExceptionHandler(ConversationNotSaved.class)
        public ResponseEntity<Map<String, Object>> notSaved(ConversationNotSaved e) {
            return ResponseEntity.status(HttpStatus.INTERNAL_SERVER_ERROR).body(Map.of("error", e.getMessage()));
        }
    }

    /** The same controller without an exception handler: the exception reaches the container. */
    @RestController
    public static class BareAssistant {
        @PostMapping("/bare-answer")
        public void answer(@RequestBody String body, HttpServletRequest req, HttpServletResponse resp) throws IOException {
            CALLS.count(req.getHeader("x-user-id"));
            resp.setContentType("text/plain;charset=UTF-8");
            resp.getOutputStream().write(ANSWER_TEXT.getBytes(StandardCharsets.UTF_8));
            throw new ConversationNotSaved();
        }
    }

    // ------------------------------------------------------------------ deployment

    QuotaFilter outageQuota;
    Restartable restartable;

    @Override
    protected Deployment deploy(QuotaFilter filter) {
        Duration oneSecond = Duration.ofSeconds(1);
        outageQuota = QuotaFilter.builder(new TroubledLedger()).protect("/outage/")
                .subjectResolver(io.tokenquota.servlet.SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                .holdTtl(oneSecond).build();
        QuotaFilter oomQuota = QuotaFilter.builder(new TroubledLedger()).protect("/oom/")
                .subjectResolver(io.tokenquota.servlet.SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                .holdTtl(oneSecond).build();
        QuotaFilter stallQuota = QuotaFilter.builder(new TroubledLedger()).protect("/stall/")
                .subjectResolver(io.tokenquota.servlet.SubjectResolver.trustedHeader("x-user-id", "127.0.0.1", "::1"))
                .holdTtl(oneSecond).build();
        restartable = new Restartable(filterFor("/svc/").holdTtl(oneSecond).build());
        return Deployment.create()
                .filter("quota", filter, "/*")
                .filter("outage-quota", outageQuota, "/outage/*")
                .filter("oom-quota", oomQuota, "/oom/*")
                .filter("stall-quota", stallQuota, "/stall/*")
                .filter("svc-quota", restartable, "/svc/*")
                .servlet("chat", new Chat(), "/ai/v1/*", "/outage/*", "/svc/v1/*")
                .servlet("agent", new AsyncAgent(CALLS::count, PENDING, STARTED), "/oom/*", "/stall/*", "/svc/agent/*")
                .servlet("slow-saver", new SlowSaver(), "/ai/slow-saver/*")
                .servlet("docs", new DocsPages(), "/docs/*")
                .servlet("suggest", new Suggest(), "/ai/suggest")
                .servlet("digest", new Digest(), "/ai/digest/*")
                .servlet("summarize", new Summarize(), "/ai/summarize/*")
                .servlet("spring", SpringMvc.dispatcher(HandledAssistant.class, BareAssistant.class), "/ai/spring/*");
    }

    static HttpRequest call(URI uri, String subject) {
        return TestHttp.jsonPost(uri, subject, "{\"model\":\"gpt-4o\",\"max_tokens\":12000,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Plan the migration.\"}]}");
    }

    CompletableFuture<HttpResponse<String>> startAgent(String path, String subject) throws InterruptedException {
        STARTED.put(subject, new CountDownLatch(1));
        CompletableFuture<HttpResponse<String>> running = TestHttp.client().sendAsync(
                call(container.uri(path), subject), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        assertTrue(STARTED.get(subject).await(20, TimeUnit.SECONDS), "the agent call of " + subject + " started");
        return running;
    }

    /**
     * The store's stale-hold sweep and balance reads, for up to three seconds, while {@code subject}'s call
     * runs: whether its hold was expired under it (what another service's reserve, or the subject's next
     * reserve, also does).
     */
    boolean sweptWhileRunning(String subject) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(3).toNanos();
        while (System.nanoTime() < deadline) {
            store.expireStale();
            if (store.account(subject).reserved() == 0) {
                return true;
            }
            TimeUnit.MILLISECONDS.sleep(20);
        }
        return false;
    }

    /**
     * Once {@code s}'s running call has ended: the second call it raced was refused (429), the model ran
     * once, and that call's {@link #USAGE} is charged; {@code under} names the call whose hold {@code expired}.
     */
    void assertSecondCallRefused(String s, String under, boolean expired, HttpResponse<String> second)
            throws InterruptedException {
        QuotaAccount account = chargedAtLeast(s, USAGE * CALLS.of(s));
        String what = kind() + ": hold expired under " + under + " " + expired + ", second call "
                + second.statusCode() + ", model calls " + CALLS.of(s) + ", account " + account + ", events " + ledger(s);
        assertEquals(429, second.statusCode(), what);
        assertEquals(1, CALLS.of(s), what);
        assertEquals(USAGE, account.used(), what);
    }

    // ------------------------------------------------------------------ the hold keeper and the store

    /**
     * The store goes away for three seconds (a database restart or failover, during which every
     * connection is refused) just as a call's answer is settled: 200 with 15,000 tokens of usage. The
     * settlement is tried three times, at 0, 0.1 and 1.1 s, all inside the outage, then given up
     * ({@code Settlement.RETRY_PAUSES_MS}); its hold (one-second TTL, extensions refused too) is left to
     * expire. Expected once the store is back: the call charged 15,000, and the user's next call (held
     * about 12,000 on 20,000) refused.
     */
    @Test
    void aCallSettledDuringAThreeSecondDatabaseOutageIsChargedOnceTheStoreIsBack() throws Exception {
        String s = subject();
        long[] outage = {0};
        OUTAGES.put(s, outage);
        long failuresBefore = outageQuota.settleFailureCount();
        URI uri = container.uri("/outage/v1/chat/completions");
        HttpResponse<String> first = TestHttp.send(call(uri, s));
        assertEquals(200, first.statusCode(), first.body());
        // until the charge lands, or the filter has given up and the store is back
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        long usedAfterOutage = 0;
        while (System.nanoTime() < deadline) {
            usedAfterOutage = store.account(s).used();
            boolean over;
            synchronized (outage) {
                over = outage[0] != 0 && System.nanoTime() - outage[0] > OUTAGE.toNanos() + Duration.ofMillis(500).toNanos();
            }
            if (usedAfterOutage >= USAGE || over && outageQuota.settleFailureCount() > failuresBefore) {
                break;
            }
            TimeUnit.MILLISECONDS.sleep(20);
        }
        HttpResponse<String> second = TestHttp.send(call(uri, s));
        QuotaAccount account = chargedAtLeast(s, USAGE);
        String what = kind() + ": used once the store was back " + usedAfterOutage + " (expected " + USAGE
                + "), settlements given up " + (outageQuota.settleFailureCount() - failuresBefore) + ", second call "
                + second.statusCode() + ", model calls " + CALLS.of(s) + ", account " + account + ", events " + ledger(s);
        assertEquals(USAGE, usedAfterOutage, what);
        assertEquals(429, second.statusCode(), what);
        assertEquals(1, CALLS.of(s), what);
    }

    /**
     * The service's filter is destroyed and initialised again on the same instance (its context restarted
     * in place) while a user's long agent call (one-second holds, about 12,000 held of 20,000) is still
     * running; the call ends after the restart. {@code destroy()} closes the hold keeper and forgets the
     * running holds, and the keeper started again knows nothing of them: the hold expires under the call.
     * Expected: the user's next call through the restarted filter refused (429), one model call, 15,000 used.
     */
    @Test
    void aCallRunningThroughARestartOfTheFilterKeepsItsHold() throws Exception {
        String s = subject();
        CompletableFuture<HttpResponse<String>> running = startAgent("/svc/agent/run", s);
        HttpResponse<String> second;
        boolean expired;
        try {
            restartable.restart();
            expired = sweptWhileRunning(s);
            second = TestHttp.send(call(container.uri("/svc/v1/chat/completions"), s));
        } finally {
            answerAndComplete(PENDING.remove(s));
        }
        HttpResponse<String> first = running.get(30, TimeUnit.SECONDS);
        assertEquals(200, first.statusCode(), first.body());
        assertSecondCallRefused(s, "the running call", expired, second);
    }

    /**
     * During a heap spike one extension of a hold meets an {@code OutOfMemoryError}; the JVM recovers and
     * goes on serving. The keeper's periodic task ({@code scheduleWithFixedDelay}) is cancelled for good by
     * the error, silently, and no hold of that filter is extended again. A later call of another user (one
     * second holds, about 12,000 held of 20,000) loses its hold while it runs, and that user's next call
     * through another service on the same store is granted. Expected: 429, one model call, 15,000 used.
     */
    @Test
    void anErrorInOneExtensionDoesNotStopTheKeepingOfLaterCalls() throws Exception {
        String spiked = subject();
        OUT_OF_MEMORY.put(spiked, new CountDownLatch(1));
        CompletableFuture<HttpResponse<String>> first = startAgent("/oom/agent", spiked);
        try {
            assertTrue(OUT_OF_MEMORY.get(spiked).await(10, TimeUnit.SECONDS), "the extension met the error");
        } finally {
            answerAndComplete(PENDING.remove(spiked));
        }
        assertEquals(200, first.get(30, TimeUnit.SECONDS).statusCode());

        String s = subject();
        CompletableFuture<HttpResponse<String>> running = startAgent("/oom/agent", s);
        HttpResponse<String> second;
        boolean expired;
        try {
            expired = sweptWhileRunning(s);
            second = TestHttp.send(call(container.uri("/ai/v1/chat/completions"), s));
        } finally {
            answerAndComplete(PENDING.remove(s));
        }
        assertEquals(200, running.get(30, TimeUnit.SECONDS).statusCode());
        assertSecondCallRefused(s, "the later call", expired, second);
    }

    /**
     * Two users' long calls overlap in one service (one-second holds). The database makes one user's
     * extension wait (a lock on that user's hold held by another transaction, or a stalled connection);
     * the keeper extends every hold on one thread, one after the other, so the other user's hold is not
     * extended either and expires under its call; that user's next call through another service on the
     * same store is granted. Expected: 429, one model call, 15,000 used.
     */
    @Test
    void oneUsersStalledExtensionDoesNotExpireAnotherUsersRunningCall() throws Exception {
        String slow = subject();
        STALLED.put(slow, new CountDownLatch(1));
        STALLING.put(slow, new CountDownLatch(1));
        String s = subject();
        CompletableFuture<HttpResponse<String>> slowCall = null;
        CompletableFuture<HttpResponse<String>> running = null;
        HttpResponse<String> second;
        boolean expired;
        try {
            slowCall = startAgent("/stall/agent", slow);
            assertTrue(STALLING.get(slow).await(10, TimeUnit.SECONDS), "the slow user's extension is waiting");
            running = startAgent("/stall/agent", s);
            expired = sweptWhileRunning(s);
            second = TestHttp.send(call(container.uri("/ai/v1/chat/completions"), s));
        } finally {
            STALLED.get(slow).countDown();
            answerAndComplete(PENDING.remove(s));
            answerAndComplete(PENDING.remove(slow));
        }
        assertEquals(200, running.get(30, TimeUnit.SECONDS).statusCode());
        assertEquals(200, slowCall.get(30, TimeUnit.SECONDS).statusCode());
        assertSecondCallRefused(s, "the call while another user's extension waited", expired, second);
    }

    // ------------------------------------------------------------------ answers that end oddly

    /**
     * An async relay's worker writes the model's answer (text, no usage) under 200 and, before completing,
     * saves the conversation; the save outlasts the one-second async timeout, so the container times the
     * cycle out with the answer still in its buffer and sends a 500. docs/servlet.md rule 6: "The endpoint
     * was answering once it wrote content under a 2xx, sent or not ... a container discards an uncommitted
     * buffer and sends a 500 ... either way the model answered": the estimate. The filter settles on the
     * container's 500 (rule 3) and releases.
     */
    @Test
    void anAnswerWrittenBeforeTheAsyncTimeoutIsChargedAlthoughTheContainerSent500() throws Exception {
        String s = subject();
        WRITTEN.put(s, new CountDownLatch(1));
        SAVED.put(s, new CountDownLatch(1));
        HttpResponse<String> r;
        try {
            r = TestHttp.send(call(container.uri("/ai/slow-saver/chat"), s));
        } finally {
            SAVED.get(s).countDown();
        }
        assertTrue(WRITTEN.get(s).await(10, TimeUnit.SECONDS), "the answer was written");
        QuotaAccount account = settled(s);
        String what = kind() + ": status " + r.statusCode() + ", model calls " + CALLS.of(s) + ", account " + account
                + ", events " + ledger(s);
        assertEquals(1, CALLS.of(s), what);
        assertTrue(account.used() >= 12_000, "the model's answer was written under 200 before the timeout: the"
                + " estimate (about 12,000) is charged; " + what);
    }

    /**
     * A Spring controller writes the model's answer (text, no usage) to the response, then saving the
     * conversation fails. With the exception reaching the container (control) the filter charges the
     * estimate: the model answered. With an {@code @ExceptionHandler} answering 500 for it, Spring's
     * DispatcherServlet resets the uncommitted buffer and the handler writes its error: the same model
     * call, answered the same way, is released. Expected: both charged the same estimate.
     */
    @Test
    void anAnswerReplacedByAnExceptionHandlers500IsChargedAsWhenTheContainerAnswers500() {
        String body = "{\"model\":\"gpt-4o\",\"max_tokens\":2000,\"messages\":[{\"role\":\"user\","
                + "\"content\":\"What is the capital of Australia?\"}]}";
        String control = subject();
        HttpResponse<String> bare = TestHttp.postJson(container.uri("/ai/spring/bare-answer"), control, body);
        assertEquals(500, bare.statusCode(), bare.body());
        long controlUsed = settled(control).used();
        assertTrue(controlUsed >= 2_000, "control: the exception reaching the container is charged the estimate, "
                + controlUsed + " " + ledger(control));

        String s = subject();
        HttpResponse<String> handled = TestHttp.postJson(container.uri("/ai/spring/answer"), s, body);
        assertEquals(500, handled.statusCode(), handled.body());
        long used = settled(s).used();
        assertEquals(controlUsed, used, kind() + ": the model answered " + CALLS.of(s) + " time(s) and its answer was"
                + " written before the failure; the container's 500 is charged " + controlUsed
                + ", the exception handler's 500 " + used + " " + ledger(s));
    }

    // ------------------------------------------------------------------ includes

    /**
     * A documentation page that does not exist answers 404 and includes the model's suggestions
     * ({@code /ai/suggest}, protected; the fragment sets no status of its own and writes HTML). The same
     * page that exists (200) is charged the include's estimate (control). docs/servlet.md: "An included
     * endpoint's own status decides its settlement"; the fragment answered (an implicit 200), but the
     * filter reads the page's 404 as "the model was not called" and releases: any reader gets the
     * model's suggestions free by asking for a page that does not exist.
     */
    @Test
    void suggestionsIncludedIntoANotFoundPageAreCharged() {
        String control = subject();
        HttpResponse<String> found = TestHttp.get(container.uri("/docs/getting-started"), "x-user-id", control);
        assertEquals(200, found.statusCode(), found.body());
        long controlUsed = settled(control).used();
        assertTrue(controlUsed > 0, "control: the suggestions included into a page that exists are charged, "
                + controlUsed + " " + ledger(control));

        String s = subject();
        HttpResponse<String> missing = TestHttp.get(container.uri("/docs/missing-page"), "x-user-id", s);
        assertEquals(404, missing.statusCode(), missing.body());
        assertTrue(missing.body().contains("Settlement rules"), missing.body());
        long used = settled(s).used();
        assertEquals(controlUsed, used, kind() + ": the model wrote the suggestions (" + CALLS.of(s) + " call) into"
                + " the 404 page; charged " + used + ", the same include into a 200 page " + controlUsed + " "
                + ledger(s));
    }

    /**
     * A protected digest page includes one summary fragment per article (three); each fragment's model
     * call reports its 4,000 tokens through {@code QuotaFilter.ACTUAL_TOKENS_ATTRIBUTE}, as the README
     * advises. A fragment included inside a held dispatch takes no hold of its own and the filter puts its
     * figure back ({@code QuotaFilter.nested}), so no hold charges it: the page is charged its own
     * estimate. The page calls no model itself and reports 0 for itself, the documented way to say so:
     * expected 12,000 (three calls of 4,000). The same page reporting nothing for itself is charged its
     * own estimate (1,000) beside them, 13,000: the filter cannot tell that it called no model, and where
     * unsure it charges.
     */
    @Test
    void summaryFragmentsIncludedIntoAProtectedPageAreChargedTheirReportedUsage() {
        String s = subject();
        HttpResponse<String> page = TestHttp.get(container.uri("/ai/digest/today"), "x-user-id", s);
        assertEquals(200, page.statusCode(), page.body());
        long used = settled(s).used();
        assertEquals(SUMMARIES, CALLS.of(s), page.body());
        assertEquals(SUMMARIES * SUMMARY_USAGE, used, kind() + ": " + SUMMARIES + " summaries reported "
                + SUMMARY_USAGE + " tokens each; charged " + used + " " + ledger(s));

        String unreported = subject();
        page = TestHttp.get(container.uri("/ai/digest/unreported"), "x-user-id", unreported);
        assertEquals(200, page.statusCode(), page.body());
        used = settled(unreported).used();
        assertEquals(SUMMARIES * SUMMARY_USAGE + 1_000, used, kind() + ": a page reporting nothing for itself is"
                + " charged its estimate beside its summaries; charged " + used + " " + ledger(unreported));
    }
}
